/*
 * The packed handshake request (see req_pack.h).
 * Block: uint16 port, uint8 secure, uint8 unused, uint32 header count,
 * then "method\0target\0address\0" and "name\0value\0" per header.
 */
#include "req_pack.h"

#include <stdlib.h>
#include <string.h>

#define RQP_HEAD 8

static size_t clen(const char *s, size_t n) {
  const char *z = memchr(s, '\0', n);
  return z ? (size_t)(z - s) : n;
}

static char *put(char *p, const char *s, size_t n) {
  n = clen(s, n);
  memcpy(p, s, n);
  p[n] = '\0';
  return p + n + 1;
}

char *eio_rqp_pack(const eio_http_request *r, const char *remote_addr,
                   uint16_t remote_port, int secure) {
  size_t nh = r->num_headers;
  if (nh > UINT32_MAX) return NULL;
  size_t al = strlen(remote_addr);
  size_t sz = RQP_HEAD + clen(r->method, r->method_len) + 1 +
              clen(r->target, r->target_len) + 1 + al + 1;
  for (size_t i = 0; i < nh; i++)
    sz += clen(r->headers[i].name, r->headers[i].name_len) + 1 +
          clen(r->headers[i].value, r->headers[i].value_len) + 1;
  char *blk = malloc(sz);
  if (!blk) return NULL;
  uint32_t n32 = (uint32_t)nh;
  memcpy(blk, &remote_port, 2);
  blk[2] = (char)(secure ? 1 : 0);
  blk[3] = 0;
  memcpy(blk + 4, &n32, 4);
  char *p = blk + RQP_HEAD;
  p = put(p, r->method, r->method_len);
  p = put(p, r->target, r->target_len);
  p = put(p, remote_addr, al);
  for (size_t i = 0; i < nh; i++) {
    p = put(p, r->headers[i].name, r->headers[i].name_len);
    p = put(p, r->headers[i].value, r->headers[i].value_len);
  }
  return blk;
}

static const char *skip(const char *s) { return s + strlen(s) + 1; }

const char *eio_rqp_remote_address(const char *blk) {
  return skip(skip(blk + RQP_HEAD));
}

eio_request *eio_rqp_expand(const char *blk) {
  uint16_t port;
  uint32_t nh;
  memcpy(&port, blk, 2);
  memcpy(&nh, blk + 4, 4);
  const char *method = blk + RQP_HEAD;
  const char *url = skip(method);
  const char *addr = skip(url);
  size_t ul = strlen(url);
  const char *path, *query;
  size_t pl, ql;
  eio_http_split_target(url, ul, &path, &pl, &query, &ql);
  (void)ql; /* the query is the target's tail, NUL-terminated already */
  /* the view, the two pointer arrays, then the path's copy */
  size_t sz = sizeof(eio_request) + 2 * (size_t)nh * sizeof(char *) + pl + 1;
  char *m = malloc(sz);
  if (!m) return NULL;
  eio_request *v = (eio_request *)(void *)m;
  const char **names = (const char **)(void *)(m + sizeof *v);
  const char **values = names + nh;
  char *p = (char *)(values + nh);
  const char *h = skip(addr);
  for (uint32_t i = 0; i < nh; i++) {
    names[i] = h;
    h = skip(h);
    values[i] = h;
    h = skip(h);
  }
  v->method = method;
  v->url = url;
  v->path = p;
  put(p, path, pl);
  v->query = query;
  v->remote_address = addr;
  v->remote_port = port;
  v->secure = blk[2];
  v->num_headers = nh;
  v->header_names = names;
  v->header_values = values;
  return v;
}
