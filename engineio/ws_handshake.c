/*
 * The WebSocket handshake of the HTTP front door, with the ws package's
 * checks, order and refusals: method, Upgrade, Sec-WebSocket-Key and
 * -Version, permessage-deflate negotiation, then the 101.
 */
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The ws package's handshake refusal. */
static void ws_abort(eio_conn *c, int status, const char *message,
                     const char *extra) {
  char raw[512];
  int n = snprintf(raw, sizeof raw,
                   "HTTP/1.1 %d %s\r\nConnection: close\r\n"
                   "Content-Type: text/html\r\nContent-Length: %zu\r\n%s\r\n%s",
                   status, status == 405 ? "Method Not Allowed" : "Bad Request",
                   strlen(message), extra ? extra : "", message);
  if (n < 0 || (size_t)n >= sizeof raw) n = (int)sizeof raw - 1;
  eio_conn_write_raw_close(c, raw, (size_t)n);
}

/* permessage-deflate from Sec-WebSocket-Extensions (all its lines, joined
 * as Node joins them); on success the 101 will carry the answer. Returns
 * -1 when the header is invalid or no offer is acceptable. */
#define EXT_NAME "sec-websocket-extensions"
static int ws_negotiate_deflate(eio_conn *c) {
  size_t total = 0, count = 0;
  for (size_t i = 0; i < c->req.num_headers; i++) {
    const eio_http_header *h = &c->req.headers[i];
    if (h->name_len == sizeof EXT_NAME - 1 && eio_http_ieq(h->name, h->name_len, EXT_NAME)) {
      total += h->value_len + 2;
      count++;
    }
  }
  if (!count) return 0;
  char *v = malloc(total);
  if (!v) return -1;
  size_t k = 0;
  for (size_t i = 0; i < c->req.num_headers; i++) {
    const eio_http_header *h = &c->req.headers[i];
    if (h->name_len != sizeof EXT_NAME - 1 || !eio_http_ieq(h->name, h->name_len, EXT_NAME))
      continue;
    if (k) v[k++] = ',', v[k++] = ' ';
    memcpy(v + k, h->value, h->value_len);
    k += h->value_len;
  }
  eio_pmd_params p;
  int r = eio_pmd_negotiate(v, k, &c->srv->pmd_opts, &p);
  free(v);
  if (r == EIO_PMD_INVALID) return -1;
  if (r == EIO_PMD_NONE) return 0;
  char line[160];
  size_t n = eio_pmd_format(&p, line, sizeof line);
  size_t old = c->resp_headers ? strlen(c->resp_headers) : 0;
  char *h = realloc(c->resp_headers, old + n + 1);
  if (!h) return -1;
  memcpy(h + old, line, n + 1);
  c->resp_headers = h;
  c->pmd = p;
  c->pmd_on = 1;
  return 0;
}

/* Validates the WebSocket handshake headers in the ws package's order and
 * computes the accept key. Returns 0 on success; on failure it has
 * answered. */
int eio_wsh_check(eio_conn *c, char accept[29]) {
  if (!eio_http_ieq(c->req.method, c->req.method_len, "GET")) {
    ws_abort(c, 405, "Invalid HTTP method", NULL);
    return -1;
  }
  const eio_http_header *up = eio_http_find(&c->req, "upgrade");
  if (!up || !eio_http_ieq(up->value, up->value_len, "websocket")) {
    ws_abort(c, 400, "Invalid Upgrade header", NULL);
    return -1;
  }
  const eio_http_header *key = eio_http_find(&c->req, "sec-websocket-key");
  if (!key || !eio_ws_key_valid(key->value, key->value_len)) {
    ws_abort(c, 400, "Missing or invalid Sec-WebSocket-Key header", NULL);
    return -1;
  }
  const eio_http_header *ver = eio_http_find(&c->req, "sec-websocket-version");
  if (!ver || !(eio_http_ieq(ver->value, ver->value_len, "13") ||
                eio_http_ieq(ver->value, ver->value_len, "8"))) {
    ws_abort(c, 400, "Missing or invalid Sec-WebSocket-Version header",
             "Sec-WebSocket-Version: 13, 8\r\n");
    return -1;
  }
  if (c->srv->o.per_message_deflate && ws_negotiate_deflate(c) != 0) {
    ws_abort(c, 400, "Invalid or unacceptable Sec-WebSocket-Extensions header",
             NULL);
    return -1;
  }
  if (eio_ws_accept_key(key->value, key->value_len, accept) != 0) {
    eio_conn_abort(c);
    return -1;
  }
  return 0;
}

/* Writes the 101; the request head is gone afterwards. */
int eio_wsh_switch(eio_conn *c, const char accept[29]) {
  if (eio_conn_upgrade_ws(c, accept, c->resp_headers) != 0) {
    eio_conn_abort(c);
    return -1;
  }
  return 0;
}

int eio_wsh_accept(eio_conn *c) {
  char accept[29];
  return eio_wsh_check(c, accept) == 0 ? eio_wsh_switch(c, accept) : -1;
}
