#include "http.h"

#include <string.h>

/* RFC 9110 tchar */
static int is_tchar(unsigned char c) {
  if (c >= 'a' && c <= 'z') return 1;
  if (c >= 'A' && c <= 'Z') return 1;
  if (c >= '0' && c <= '9') return 1;
  return c && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

/* Finds the CRLF that ends the line starting at p; returns the offset of
 * '\r', EIO_HTTP_INCOMPLETE, or EIO_HTTP_BAD for a bare CR or LF. */
static long line_end(const char *buf, size_t pos, size_t len) {
  for (size_t i = pos; i < len; i++) {
    if (buf[i] == '\r') {
      if (i + 1 >= len) return EIO_HTTP_INCOMPLETE;
      if (buf[i + 1] != '\n') return EIO_HTTP_BAD;
      return (long)i;
    }
    if (buf[i] == '\n') return EIO_HTTP_BAD;
  }
  return EIO_HTTP_INCOMPLETE;
}

static int parse_request_line(const char *s, size_t n, eio_http_request *req) {
  size_t i = 0;
  while (i < n && is_tchar((unsigned char)s[i])) i++;
  if (i == 0 || i >= n || s[i] != ' ') return EIO_HTTP_BAD;
  req->method = s;
  req->method_len = i;
  size_t t0 = ++i;
  while (i < n && s[i] != ' ') {
    unsigned char c = (unsigned char)s[i];
    if (c <= 0x20 || c == 0x7f) return EIO_HTTP_BAD;
    i++;
  }
  if (i == t0 || i >= n) return EIO_HTTP_BAD;
  req->target = s + t0;
  req->target_len = i - t0;
  i++;
  if (n - i != 8 || memcmp(s + i, "HTTP/1.", 7) != 0) return EIO_HTTP_BAD;
  char minor = s[i + 7];
  if (minor != '0' && minor != '1') return EIO_HTTP_BAD;
  req->minor_version = minor - '0';
  return 0;
}

int eio_http_parse_request(const char *buf, size_t len, size_t max_head,
                           eio_http_request *req, size_t max_headers) {
  size_t lim = len < max_head ? len : max_head;
  size_t pos = 0;
  req->num_headers = 0;
  /* Tolerate empty lines before the request line (RFC 9112 2.2). */
  while (pos + 1 < lim && buf[pos] == '\r' && buf[pos + 1] == '\n') pos += 2;
  long e = line_end(buf, pos, lim);
  if (e == EIO_HTTP_INCOMPLETE)
    return len >= max_head ? EIO_HTTP_TOO_LARGE : EIO_HTTP_INCOMPLETE;
  if (e < 0) return EIO_HTTP_BAD;
  if (parse_request_line(buf + pos, (size_t)e - pos, req) != 0)
    return EIO_HTTP_BAD;
  pos = (size_t)e + 2;
  for (;;) {
    e = line_end(buf, pos, lim);
    if (e == EIO_HTTP_INCOMPLETE)
      return len >= max_head ? EIO_HTTP_TOO_LARGE : EIO_HTTP_INCOMPLETE;
    if (e < 0) return EIO_HTTP_BAD;
    size_t end = (size_t)e;
    if (end == pos) return (int)(end + 2); /* empty line: head complete */
    const char *s = buf + pos;
    size_t n = end - pos;
    size_t i = 0;
    while (i < n && is_tchar((unsigned char)s[i])) i++;
    if (i == 0 || i >= n || s[i] != ':') return EIO_HTTP_BAD; /* incl. folding */
    if (req->num_headers >= max_headers) return EIO_HTTP_TOO_LARGE;
    eio_http_header *h = &req->headers[req->num_headers++];
    h->name = s;
    h->name_len = i;
    i++;
    for (size_t k = i; k < n; k++) {
      unsigned char c = (unsigned char)s[k];
      if ((c < 0x20 && c != '\t') || c == 0x7f) return EIO_HTTP_BAD;
    }
    while (i < n && (s[i] == ' ' || s[i] == '\t')) i++;
    size_t vend = n;
    while (vend > i && (s[vend - 1] == ' ' || s[vend - 1] == '\t')) vend--;
    h->value = s + i;
    h->value_len = vend - i;
    pos = end + 2;
  }
}

static unsigned char lower(unsigned char c) {
  return (c >= 'A' && c <= 'Z') ? (unsigned char)(c + 32) : c;
}

int eio_http_ieq(const char *s, size_t len, const char *lit) {
  size_t n = strlen(lit);
  if (n != len) return 0;
  for (size_t i = 0; i < n; i++)
    if (lower((unsigned char)s[i]) != lower((unsigned char)lit[i])) return 0;
  return 1;
}

const eio_http_header *eio_http_find(const eio_http_request *req,
                                     const char *name) {
  size_t n = strlen(name); /* once, and lengths compared before letters */
  for (size_t i = 0; i < req->num_headers; i++)
    if (req->headers[i].name_len == n &&
        eio_http_ieq(req->headers[i].name, n, name))
      return &req->headers[i];
  return NULL;
}

int eio_http_has_token(const char *v, size_t len, const char *token) {
  size_t i = 0;
  while (i < len) {
    while (i < len && (v[i] == ' ' || v[i] == '\t' || v[i] == ',')) i++;
    size_t s = i;
    while (i < len && v[i] != ',') i++;
    size_t e = i;
    while (e > s && (v[e - 1] == ' ' || v[e - 1] == '\t')) e--;
    if (e > s && eio_http_ieq(v + s, e - s, token)) return 1;
  }
  return 0;
}

static int parse_u64(const char *s, size_t n, uint64_t *out) {
  if (n == 0 || n > 15) return -1; /* 15 digits: far past any body limit */
  uint64_t v = 0;
  for (size_t i = 0; i < n; i++) {
    if (s[i] < '0' || s[i] > '9') return -1;
    v = v * 10 + (uint64_t)(s[i] - '0');
  }
  *out = v;
  return 0;
}

int eio_http_body_framing(const eio_http_request *req, int *chunked,
                          uint64_t *content_length) {
  int have_cl = 0, have_te = 0;
  uint64_t cl = 0;
  *chunked = 0;
  for (size_t i = 0; i < req->num_headers; i++) {
    const eio_http_header *h = &req->headers[i];
    if (eio_http_ieq(h->name, h->name_len, "content-length")) {
      uint64_t v;
      if (parse_u64(h->value, h->value_len, &v) != 0) return EIO_HTTP_BAD;
      if (have_cl && v != cl) return EIO_HTTP_BAD;
      have_cl = 1;
      cl = v;
    } else if (eio_http_ieq(h->name, h->name_len, "transfer-encoding")) {
      if (have_te) return EIO_HTTP_BAD;
      have_te = 1;
      if (!eio_http_ieq(h->value, h->value_len, "chunked"))
        return EIO_HTTP_UNSUPPORTED;
    }
  }
  if (have_te && have_cl) return EIO_HTTP_BAD; /* request smuggling shape */
  if (have_te && req->minor_version == 0) return EIO_HTTP_BAD;
  *chunked = have_te;
  *content_length = cl;
  return 0;
}

enum { CH_SIZE, CH_EXT, CH_SIZE_LF, CH_DATA, CH_DATA_CR, CH_DATA_LF,
       CH_TRAILER, CH_TRAILER_LF, CH_TRAILER_LINE, CH_TRAILER_LINE_LF };

static int hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

long eio_http_chunked_decode(eio_http_chunked *st, const char *buf, size_t len,
                             uint64_t max_body, size_t max_line,
                             eio_http_data_cb cb, void *arg, int *done) {
  size_t i = 0;
  *done = 0;
  while (i < len) {
    char c = buf[i];
    switch (st->state) {
    case CH_SIZE: {
      int h = hexval(c);
      if (++st->line > max_line) return EIO_HTTP_TOO_LARGE;
      if (h >= 0) {
        if (st->remaining > (max_body >> 4) + 1) return EIO_HTTP_TOO_LARGE;
        st->remaining = st->remaining * 16 + (uint64_t)h;
        if (st->total + st->remaining > max_body) return EIO_HTTP_TOO_LARGE;
        i++;
      } else if (st->line == 1) {
        return EIO_HTTP_BAD; /* no size digits */
      } else if (c == ';') {
        st->state = CH_EXT;
        i++;
      } else if (c == '\r') {
        st->state = CH_SIZE_LF;
        i++;
      } else {
        return EIO_HTTP_BAD;
      }
      break;
    }
    case CH_EXT: /* extensions ignored, bounded by max_line */
      if (c == '\r') st->state = CH_SIZE_LF;
      else if ((unsigned char)c < 0x20 && c != '\t') return EIO_HTTP_BAD;
      if (++st->line > max_line) return EIO_HTTP_TOO_LARGE;
      i++;
      break;
    case CH_SIZE_LF:
      if (c != '\n') return EIO_HTTP_BAD;
      i++;
      st->line = 0;
      st->state = st->remaining ? CH_DATA : CH_TRAILER;
      break;
    case CH_DATA: {
      size_t n = len - i;
      if (n > st->remaining) n = (size_t)st->remaining;
      cb(arg, buf + i, n);
      st->remaining -= n;
      st->total += n;
      i += n;
      if (!st->remaining) st->state = CH_DATA_CR;
      break;
    }
    case CH_DATA_CR:
      if (c != '\r') return EIO_HTTP_BAD;
      st->state = CH_DATA_LF;
      i++;
      break;
    case CH_DATA_LF:
      if (c != '\n') return EIO_HTTP_BAD;
      st->state = CH_SIZE;
      st->line = 0;
      i++;
      break;
    case CH_TRAILER: /* start of a trailer line, or the final CRLF */
      if (c == '\r') {
        st->state = CH_TRAILER_LF;
      } else {
        st->state = CH_TRAILER_LINE;
      }
      i++;
      break;
    case CH_TRAILER_LF:
      if (c != '\n') return EIO_HTTP_BAD;
      i++;
      *done = 1;
      return (long)i;
    case CH_TRAILER_LINE:
      if (c == '\r') st->state = CH_TRAILER_LINE_LF;
      if (++st->line > max_line) return EIO_HTTP_TOO_LARGE;
      i++;
      break;
    case CH_TRAILER_LINE_LF:
      if (c != '\n') return EIO_HTTP_BAD;
      st->state = CH_TRAILER;
      st->line = 0;
      i++;
      break;
    default:
      return EIO_HTTP_BAD;
    }
  }
  return (long)i;
}

void eio_http_split_target(const char *t, size_t len, const char **path,
                           size_t *path_len, const char **query,
                           size_t *query_len) {
  const char *q = memchr(t, '?', len);
  *path = t;
  if (q) {
    *path_len = (size_t)(q - t);
    *query = q + 1;
    *query_len = len - *path_len - 1;
  } else {
    *path_len = len;
    *query = t + len;
    *query_len = 0;
  }
}

long eio_http_pct_decode(const char *in, size_t len, char *out,
                         int plus_space) {
  /* Like Node's querystring: an invalid escape is kept literally. */
  size_t o = 0;
  for (size_t i = 0; i < len; i++) {
    char c = in[i];
    if (c == '%' && i + 2 < len && hexval(in[i + 1]) >= 0 &&
        hexval(in[i + 2]) >= 0) {
      out[o++] = (char)(hexval(in[i + 1]) << 4 | hexval(in[i + 2]));
      i += 2;
    } else if (c == '+' && plus_space) {
      out[o++] = ' ';
    } else {
      out[o++] = c;
    }
  }
  return (long)o;
}

long eio_http_query_get(const char *q, size_t len, const char *name,
                        char *out, size_t out_size) {
  size_t nlen = strlen(name);
  size_t i = 0;
  while (i <= len) {
    size_t s = i;
    while (i < len && q[i] != '&') i++;
    size_t e = i; /* [s, e) is one name=value pair */
    const char *eq = memchr(q + s, '=', e - s);
    size_t kend = eq ? (size_t)(eq - q) : e;
    if (kend - s == nlen && memcmp(q + s, name, nlen) == 0) {
      size_t vs = eq ? kend + 1 : e;
      if (e - vs >= out_size) return -2;
      long n = eio_http_pct_decode(q + vs, e - vs, out, 1);
      out[n] = '\0';
      return n;
    }
    i++;
  }
  return -1;
}
