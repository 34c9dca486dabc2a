/* Unit tests of socketio/json.c's parser: every input is read both by
 * sio_json_parse (placed right before a PROT_NONE page, so a one-byte
 * over-read crashes) and by jansson's json_loadb with the flags the parser
 * replaced (JSON_DECODE_ANY | JSON_ALLOW_NUL, read again with every number
 * as a real when an integer is beyond 64 bits); both must fail, or give
 * equal values written identically. */
#include "json.h"
#include "test.h"

static json_t *ref_parse(const char *s, size_t len) {
  json_error_t err;
  size_t flags = JSON_DECODE_ANY | JSON_ALLOW_NUL;
  json_t *v = json_loadb(s, len, flags, &err);
  if (!v && strstr(err.text, "too big")) /* positive or negative */
    v = json_loadb(s, len, flags | JSON_DECODE_INT_AS_REAL, &err);
  return v;
}

static char *dump(const json_t *v) {
  struct evbuffer *b = evbuffer_new();
  sio_json_dump(v, b, NULL);
  size_t n = evbuffer_get_length(b);
  char *s = malloc(n + 1);
  evbuffer_remove(b, s, n);
  s[n] = '\0';
  evbuffer_free(b);
  return s;
}

static int same(const char *in, size_t len) {
  guard_buf g;
  const char *q = (const char *)guard_put(&g, in, len);
  json_t *a = sio_json_parse(q, len);
  guard_free(&g);
  json_t *b = ref_parse(in, len);
  int ok;
  if (!a || !b) {
    ok = !a && !b;
  } else {
    char *da = dump(a), *db = dump(b);
    ok = json_equal(a, b) && strcmp(da, db) == 0 &&
         json_typeof(a) == json_typeof(b);
    free(da);
    free(db);
  }
  if (!ok)
    fprintf(stderr, "differs from jansson (%s vs %s): %.*s\n", a ? "ok" : "fail",
            b ? "ok" : "fail", (int)(len > 200 ? 200 : len), in);
  json_decref(a);
  json_decref(b);
  return ok;
}

#define SAME(lit) CHECK(same(lit, sizeof(lit) - 1))

static void test_like_jansson(void) {
  /* values */
  SAME("[\"echo\",\"payload-payload-payload\"]");
  SAME("{\"a\":1,\"b\":[true,false,null],\"c\":{\"d\":\"e\"}}");
  SAME("  [ 1 , 2 ,\t3\r\n]  ");
  SAME("\"x\"");
  SAME("0");
  SAME("-0");
  SAME("-0.0");
  SAME("1.5e3");
  SAME("1E+2");
  SAME("1e-400");
  SAME("123456789012345678");
  SAME("9223372036854775807");
  SAME("-9223372036854775808");
  SAME("9223372036854775808");
  SAME("-9223372036854775809");
  SAME("[1,99999999999999999999,3]");
  SAME("[9007199254740993,99999999999999999999]");
  SAME("[-99999999999999999999]");
  SAME("{\"k\":1,\"k\":2,\"j\":3}");
  SAME("{}");
  SAME("[]");
  SAME("[[[]]]");
  SAME("\"\\u0000\"");
  SAME("\"a\\\"b\\\\c\\/d\\be\\ff\\ng\\rh\\ti\"");
  SAME("\"\\u00e9\\u20AC\\ud83d\\ude00\"");
  SAME("\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\"");
  SAME("{\"\\u00e9\":\"\\n\",\"k2\":\"v\\u0041\"}");
  SAME("{\"long key with an escape \\n that goes past the stack buffer of the parser ......\":1}");
  SAME("[1.7976931348623157e308,5e-324,0.1,100,1e21]");
  /* failures */
  SAME("");
  SAME("   ");
  SAME("[");
  SAME("[1,]");
  SAME("[,1]");
  SAME("{\"a\"}");
  SAME("{\"a\":}");
  SAME("{\"a\":1,}");
  SAME("{1:2}");
  SAME("{\"a\\u0000b\":1}");
  SAME("01");
  SAME("-01");
  SAME("-");
  SAME("1.");
  SAME(".5");
  SAME("1e");
  SAME("1e+");
  SAME("+1");
  SAME("1e400");
  SAME("-1e400");
  SAME("tru");
  SAME("truex");
  SAME("True");
  SAME("nul");
  SAME("[true false]");
  SAME("\"abc");
  SAME("\"a\nb\"");
  SAME("\"a\\x\"");
  SAME("\"\\u12\"");
  SAME("\"\\u12g4\"");
  SAME("\"\\ud800\"");
  SAME("\"\\ud800x\"");
  SAME("\"\\ud800\\u0041\"");
  SAME("\"\\udc00\"");
  SAME("\"\xc0\x80\"");
  SAME("\"\xc3\"");
  SAME("\"\xe0\x80\x80\"");
  SAME("\"\xed\xa0\x80\"");
  SAME("\"\xf4\x90\x80\x80\"");
  SAME("\"\xf5\x80\x80\x80\"");
  SAME("\"\x80\"");
  SAME("[1] x");
  SAME("[1]]");
  SAME("\xc3\xa9");
  CHECK(same("[1,\0]", 5));
  CHECK(same("\"a\0b\"", 5));
  CHECK(same("[1]\0", 4));
  /* jansson skips a raw NUL after a number or a literal; JSON.parse
   * rejects it, and so does sio_json_parse */
  CHECK(sio_json_parse("[5\0]", 4) == NULL);
  CHECK(sio_json_parse("[true\0,1]", 9) == NULL);
}

static void test_depth(void) {
  size_t n = 2100;
  char *s = malloc(2 * n + 1);
  for (size_t depth = 2046; depth <= 2050; depth++) {
    /* depth arrays around nothing, then around a scalar */
    memset(s, '[', depth);
    memset(s + depth, ']', depth);
    CHECK(same(s, 2 * depth));
    memset(s, '[', depth);
    s[depth] = '1';
    memset(s + depth + 1, ']', depth);
    CHECK(same(s, 2 * depth + 1));
  }
  free(s);
}

/* Every prefix of some valid texts: each stops before its end. */
static void test_prefixes(void) {
  static const char *const texts[] = {
      "{\"a\":[1,-2.5e-3,\"x\\u00e9\\ud83d\\ude00\"],\"b\":{\"c\":null,\"d\":true}}",
      "[\"\xf0\x9f\x98\x80\",false,0,\"\\\\\\\"\"]",
  };
  for (size_t t = 0; t < sizeof texts / sizeof *texts; t++)
    for (size_t i = 0; i <= strlen(texts[t]); i++) CHECK(same(texts[t], i));
}

int main(void) {
  test_like_jansson();
  test_depth();
  test_prefixes();
  TEST_END();
}
