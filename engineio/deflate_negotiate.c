/*
 * Compression negotiation: the HTTP Accept-Encoding choice (as Node
 * engine.io picks) and the permessage-deflate offer/response of a WebSocket
 * handshake (as ws does). Pure functions over header values; the
 * compressor and the bounded inflater are deflate.c.
 */
#include "deflate.h"
#include "buf.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

/* ================================================== Accept-Encoding */

static int is_ws(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' ||
         c == '\f';
}

static int lower(int c) { return c >= 'A' && c <= 'Z' ? c + 32 : c; }

static int ieq(const char *s, size_t n, const char *lit) {
  size_t k = strlen(lit);
  if (n != k) return 0;
  for (size_t i = 0; i < n; i++)
    if (lower((unsigned char)s[i]) != lit[i]) return 0;
  return 1;
}

/* JavaScript's parseFloat over s[0..n): leading white space, then the
 * longest decimal literal (or Infinity); NaN when there is none. */
static double js_parse_float(const char *s, size_t n) {
  size_t i = 0;
  while (i < n && is_ws(s[i])) i++;
  double sign = 1;
  if (i < n && (s[i] == '+' || s[i] == '-')) {
    if (s[i] == '-') sign = -1;
    i++;
  }
  if (n - i >= 8 && memcmp(s + i, "Infinity", 8) == 0) return sign * INFINITY;
  char buf[64];
  size_t k = 0, digits = 0;
  while (i < n && s[i] >= '0' && s[i] <= '9') {
    if (k < 40) buf[k++] = s[i];
    i++, digits++;
  }
  if (i < n && s[i] == '.') {
    size_t j = i + 1, fd = 0;
    while (j < n && s[j] >= '0' && s[j] <= '9') j++, fd++;
    if (digits || fd) {
      if (k < 41) buf[k++] = '.';
      for (size_t t = i + 1; t < j; t++)
        if (k < 50) buf[k++] = s[t];
      digits += fd;
      i = j;
    }
  }
  if (!digits) return NAN;
  if (i < n && (s[i] == 'e' || s[i] == 'E')) {
    size_t j = i + 1;
    char e[8];
    size_t ek = 0;
    if (j < n && (s[j] == '+' || s[j] == '-')) e[ek++] = s[j++];
    size_t ed = 0;
    int big = 0;
    while (j < n && s[j] >= '0' && s[j] <= '9') {
      if (ek < 6) e[ek++] = s[j];
      else big = 1;
      j++, ed++;
    }
    if (ed) {
      buf[k++] = 'e';
      if (big) { /* a huge exponent: 0 or infinity, as JS gives */
        memcpy(buf + k, e[0] == '-' ? "-9999" : "9999", e[0] == '-' ? 5 : 4);
        k += e[0] == '-' ? 5 : 4;
      } else {
        memcpy(buf + k, e, ek);
        k += ek;
      }
    }
  }
  buf[k] = '\0';
  return sign * strtod(buf, NULL);
}

/* The first operand of a JavaScript a || b || c that is truthy (non-zero,
 * not NaN), else the last. */
static double js_or3(double a, double b, double c) {
  if (a != 0 && !isnan(a)) return a;
  if (b != 0 && !isnan(b)) return b;
  return c;
}

typedef struct enc_prio {
  double o, q, s;
  double i;
} enc_prio;

int eio_accept_encoding(const char *v, size_t len) {
  static const char *const names[2] = {"gzip", "deflate"};
  enc_prio pr[2] = {{-1, 0, 0, 0}, {-1, 0, 0, 1}};
  if (!v) v = "", len = 0;
  /* One pass over the comma-separated entries, updating the best entry of
   * each candidate as negotiator's getEncodingPriority does. */
  size_t start = 0, idx = 0;
  while (start <= len) {
    size_t end = start;
    while (end < len && v[end] != ',') end++;
    const char *e = v + start;
    size_t n = end - start;
    while (n && is_ws(*e)) e++, n--;
    while (n && is_ws(e[n - 1])) n--;
    /* ^\s*([^\s;]+)\s*(?:;(.*))?$ */
    size_t t = 0;
    while (t < n && !is_ws(e[t]) && e[t] != ';') t++;
    int ok = t > 0;
    size_t r = t;
    while (r < n && is_ws(e[r])) r++;
    if (ok && r < n && e[r] != ';') ok = 0;
    if (ok) {
      double q = 1;
      if (r < n) { /* parameters after ';': the first named exactly q */
        size_t p = r + 1;
        while (p <= n) {
          size_t pe = p;
          while (pe < n && e[pe] != ';') pe++;
          const char *a = e + p;
          size_t an = pe - p;
          while (an && is_ws(*a)) a++, an--;
          while (an && is_ws(a[an - 1])) an--;
          size_t eq = 0;
          while (eq < an && a[eq] != '=') eq++;
          if (eq == 1 && a[0] == 'q') {
            if (eq < an) {
              size_t ve = eq + 1;
              while (ve < an && a[ve] != '=') ve++;
              q = js_parse_float(a + eq + 1, ve - eq - 1);
            } else {
              q = NAN;
            }
            break;
          }
          p = pe + 1;
        }
      }
      for (int c = 0; c < 2; c++) {
        double s;
        if (ieq(e, t, names[c])) s = 1;
        else if (t == 1 && e[0] == '*') s = 0;
        else continue;
        double cmp = js_or3(pr[c].s - s, pr[c].q - q, pr[c].o - (double)idx);
        if (cmp < 0) {
          pr[c].s = s;
          pr[c].q = q;
          pr[c].o = (double)idx;
        }
      }
    }
    idx++;
    start = end + 1;
  }
  int ok0 = pr[0].q > 0, ok1 = pr[1].q > 0;
  if (ok0 && ok1) {
    /* compareSpecs(gzip, deflate) > 0 puts deflate first. */
    double c = js_or3(pr[1].q - pr[0].q, pr[1].s - pr[0].s,
                      js_or3(pr[0].o - pr[1].o, pr[0].i - pr[1].i, 0));
    return c > 0 ? EIO_ENC_DEFLATE : EIO_ENC_GZIP;
  }
  if (ok0) return EIO_ENC_GZIP;
  if (ok1) return EIO_ENC_DEFLATE;
  return EIO_ENC_IDENTITY;
}

/* ================================================ permessage-deflate */

/* RFC 7230 tchar. */
static int tchar(unsigned char c) {
  if (c >= '0' && c <= '9') return 1;
  if ((c | 32) >= 'a' && (c | 32) <= 'z') return 1;
  return c && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

enum { P_CMWB, P_SMWB, P_CNCT, P_SNCT, P_COUNT };

typedef struct pmd_offer {
  int seen[P_COUNT];
  int cmwb; /* 0: present without a value */
  int smwb;
} pmd_offer;

/* JavaScript's +value for a token, requiring an integer in 8..15. */
static int window_bits_value(const char *s, size_t n) {
  if (n == 0 || n > 32) return -1;
  char buf[40];
  memcpy(buf, s, n);
  buf[n] = '\0';
  double d;
  if (n > 2 && buf[0] == '0' && strchr("xXoObB", buf[1])) {
    int base = (buf[1] | 32) == 'x' ? 16 : (buf[1] | 32) == 'o' ? 8 : 2;
    d = 0;
    for (size_t i = 2; i < n; i++) {
      int c = lower((unsigned char)buf[i]), dv;
      if (c >= '0' && c <= '9') dv = c - '0';
      else if (c >= 'a' && c <= 'f') dv = c - 'a' + 10;
      else return -1;
      if (dv >= base) return -1;
      d = d * base + dv;
    }
  } else {
    /* A whole decimal literal: parseFloat's grammar, nothing after it. */
    size_t i = 0;
    if (buf[i] == '+' || buf[i] == '-') i++;
    if (strcmp(buf + i, "Infinity") == 0) return -1;
    size_t digits = 0;
    while (buf[i] >= '0' && buf[i] <= '9') i++, digits++;
    if (buf[i] == '.') {
      i++;
      while (buf[i] >= '0' && buf[i] <= '9') i++, digits++;
    }
    if (!digits) return -1;
    if ((buf[i] | 32) == 'e') {
      i++;
      if (buf[i] == '+' || buf[i] == '-') i++;
      if (!(buf[i] >= '0' && buf[i] <= '9')) return -1;
      while (buf[i] >= '0' && buf[i] <= '9') i++;
    }
    if (buf[i]) return -1;
    d = strtod(buf, NULL);
  }
  if (d != floor(d) || d < 8 || d > 15) return -1;
  return (int)d;
}

/* Records one parameter of a permessage-deflate offer; -1 when invalid.
 * val is NULL for a parameter without a value. */
static int offer_param(pmd_offer *o, const char *name, size_t nl,
                       const char *val, size_t vl) {
  static const char *const known[P_COUNT] = {
      "client_max_window_bits", "server_max_window_bits",
      "client_no_context_takeover", "server_no_context_takeover"};
  int k = -1;
  for (int i = 0; i < P_COUNT; i++)
    if (strlen(known[i]) == nl && memcmp(known[i], name, nl) == 0) k = i;
  if (k < 0 || o->seen[k]) return -1;
  o->seen[k] = 1;
  switch (k) {
  case P_CMWB:
    if (!val) return 0;
    return (o->cmwb = window_bits_value(val, vl)) < 0 ? -1 : 0;
  case P_SMWB:
    if (!val) return -1;
    return (o->smwb = window_bits_value(val, vl)) < 0 ? -1 : 0;
  default:
    return val ? -1 : 0;
  }
}

static int acceptable(const pmd_offer *o, const eio_per_message_deflate *opts) {
  if (o->seen[P_SMWB] && opts->server_max_window_bits &&
      opts->server_max_window_bits > o->smwb)
    return 0;
  if (opts->client_max_window_bits && !o->seen[P_CMWB]) return 0;
  return 1;
}

int eio_pmd_negotiate(const char *v, size_t len,
                      const eio_per_message_deflate *opts,
                      eio_pmd_params *out) {
  size_t i = 0;
  int found = 0, offered = 0;
  pmd_offer chosen;
  memset(&chosen, 0, sizeof chosen);
#define SKIP_WS() while (i < len && (v[i] == ' ' || v[i] == '\t')) i++
  for (;;) {
    if (i > 0) SKIP_WS(); /* after a ',' */
    size_t ns = i;
    while (i < len && tchar((unsigned char)v[i])) i++;
    if (i == ns) return EIO_PMD_INVALID;
    int is_pmd = i - ns == 18 && memcmp(v + ns, "permessage-deflate", 18) == 0;
    pmd_offer o;
    memset(&o, 0, sizeof o);
    SKIP_WS();
    while (i < len && v[i] == ';') {
      i++;
      SKIP_WS();
      size_t ps = i;
      while (i < len && tchar((unsigned char)v[i])) i++;
      size_t pe = i;
      if (pe == ps) return EIO_PMD_INVALID;
      const char *val = NULL;
      size_t vl = 0;
      char unq[256];
      if (i < len && v[i] == '=') {
        i++;
        if (i < len && v[i] == '"') {
          /* quoted-string whose content, unescaped, is a token */
          i++;
          for (;;) {
            if (i >= len) return EIO_PMD_INVALID;
            unsigned char ch = (unsigned char)v[i];
            if (ch == '"') {
              if (vl == 0) return EIO_PMD_INVALID;
              i++;
              break;
            }
            if (ch == '\\') {
              i++;
              if (i >= len) return EIO_PMD_INVALID;
              ch = (unsigned char)v[i];
            }
            if (!tchar(ch)) return EIO_PMD_INVALID;
            if (vl < sizeof unq) unq[vl] = (char)ch;
            vl++;
            i++;
          }
          val = unq;
          if (vl > sizeof unq) vl = sizeof unq; /* too long: invalid below */
        } else {
          size_t vs = i;
          while (i < len && tchar((unsigned char)v[i])) i++;
          if (i == vs) return EIO_PMD_INVALID;
          val = v + vs;
          vl = i - vs;
        }
      }
      SKIP_WS();
      if (is_pmd && offer_param(&o, v + ps, pe - ps, val, vl) < 0)
        return EIO_PMD_INVALID;
    }
    /* Every offer is checked, the first acceptable one is kept. */
    if (is_pmd) {
      offered = 1;
      if (!found && acceptable(&o, opts)) {
        chosen = o;
        found = 1;
      }
    }
    if (i == len) break;
    if (v[i] != ',') return EIO_PMD_INVALID;
    i++;
    if (i == len) return EIO_PMD_INVALID;
  }
#undef SKIP_WS
  if (!offered) return EIO_PMD_NONE;
  if (!found) return EIO_PMD_INVALID; /* ws: none can be accepted */
  memset(out, 0, sizeof *out);
  out->client_no_context_takeover =
      opts->client_no_context_takeover || chosen.seen[P_CNCT] ? 1 : 0;
  if (opts->server_max_window_bits) {
    out->server_window_bits = (uint8_t)opts->server_max_window_bits;
    out->announce_server_bits = 1;
  } else if (chosen.seen[P_SMWB]) {
    out->server_window_bits = (uint8_t)chosen.smwb;
    out->announce_server_bits = 1;
  } else {
    out->server_window_bits = 15;
  }
  if (opts->client_max_window_bits) {
    int b = opts->client_max_window_bits;
    if (chosen.cmwb && chosen.cmwb < b) b = chosen.cmwb; /* never above the offer */
    out->client_window_bits = (uint8_t)b;
  } else if (chosen.cmwb) {
    out->client_window_bits = (uint8_t)chosen.cmwb;
  }
  return EIO_PMD_ACCEPTED;
}

size_t eio_pmd_format(const eio_pmd_params *p, char *out, size_t n) {
  char sb[32] = "", cb[32] = "";
  if (p->announce_server_bits)
    snprintf(sb, sizeof sb, "; server_max_window_bits=%d", p->server_window_bits);
  if (p->client_window_bits)
    snprintf(cb, sizeof cb, "; client_max_window_bits=%d", p->client_window_bits);
  int r = snprintf(out, n,
                   "Sec-WebSocket-Extensions: permessage-deflate; "
                   "server_no_context_takeover%s%s%s\r\n",
                   p->client_no_context_takeover ? "; client_no_context_takeover"
                                                 : "",
                   sb, cb);
  return r < 0 || (size_t)r >= n ? 0 : (size_t)r;
}

void eio_per_message_deflate_init(eio_per_message_deflate *p) {
  memset(p, 0, sizeof *p);
  p->threshold = 1024;
  p->level = -1;
}
