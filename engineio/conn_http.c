/*
 * HTTP/1.1 on a connection: request heads (parsed, bounded, handed up as
 * events.request), request bodies (Content-Length or chunked, bounded),
 * and the responses (status line, headers, keep-alive or close).
 */
#include "conn_internal.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* ---- request heads ---- */

int parse_head(eio_conn *c) {
  eio_server *srv = c->srv;
  struct evbuffer *in = input(c);
  size_t avail = evbuffer_get_length(in);
  size_t max_head = srv->o.max_header_bytes;
  size_t n = avail < max_head ? avail : max_head;
  const char *p = (const char *)evbuffer_pullup(in, (ev_ssize_t)n);
  /* Parsed into a scratch array; the headers found are kept behind the
   * head's copy (one allocation per request, sized to it). */
  eio_http_header stack_hdrs[128];
  eio_http_header *hdrs = srv->o.max_headers <= 128
                              ? stack_hdrs
                              : malloc(srv->o.max_headers * sizeof *hdrs);
  if (!hdrs) {
    conn_die(c, 1);
    return 0;
  }
  eio_http_request req;
  req.headers = hdrs;
  int r = eio_http_parse_request(p, n, max_head, &req, srv->o.max_headers);
  if (r < 0 && hdrs != stack_hdrs) free(hdrs);
  if (r == EIO_HTTP_INCOMPLETE) {
    if (X(c)->tm == TM_KEEPALIVE) set_timer(c, TM_REQUEST);
    return 0;
  }
  if (r == EIO_HTTP_TOO_LARGE) {
    static const char r431[] = "HTTP/1.1 431 Request Header Fields Too Large\r\n"
                               "Connection: close\r\n\r\n";
    eio_conn_write_raw_close(c, r431, sizeof r431 - 1);
    return 0;
  }
  if (r < 0) {
    static const char r400[] =
        "HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n";
    eio_conn_write_raw_close(c, r400, sizeof r400 - 1);
    return 0;
  }
  /* Keep a private copy of the head: the input buffer moves on. */
  size_t hoff = ((size_t)r + 1 + 7) & ~(size_t)7;
  char *copy = malloc(hoff + req.num_headers * sizeof *hdrs);
  if (!copy) {
    if (hdrs != stack_hdrs) free(hdrs);
    conn_die(c, 1);
    return 0;
  }
  memcpy(copy, p, (size_t)r);
  copy[r] = '\0';
  if (req.num_headers)
    memcpy(copy + hoff, hdrs, req.num_headers * sizeof *hdrs);
  if (hdrs != stack_hdrs) free(hdrs);
  req.headers = (eio_http_header *)(void *)(copy + hoff);
  /* The parse above, moved onto the copy (not parsed a second time). */
#define REBASE(ptr) ((ptr) = copy + ((ptr) - p))
  REBASE(req.method);
  REBASE(req.target);
  for (size_t i = 0; i < req.num_headers; i++) {
    REBASE(req.headers[i].name);
    REBASE(req.headers[i].value);
  }
#undef REBASE
  evbuffer_drain(in, (size_t)r);
  free(c->head);
  c->head = copy;
  c->head_len = (size_t)r;
  c->req = req;

  const eio_http_header *conn_h = eio_http_find(&c->req, "connection");
  if (c->req.minor_version >= 1)
    c->keep_alive = !(conn_h && eio_http_has_token(conn_h->value,
                                                   conn_h->value_len, "close"));
  else
    c->keep_alive = conn_h && eio_http_has_token(conn_h->value,
                                                 conn_h->value_len, "keep-alive");
  c->is_upgrade = eio_http_find(&c->req, "upgrade") && conn_h &&
                  eio_http_has_token(conn_h->value, conn_h->value_len, "upgrade");
  uint64_t cl = 0;
  int chunked = 0;
  int fr = eio_http_body_framing(&c->req, &chunked, &cl);
  if (fr == EIO_HTTP_UNSUPPORTED) {
    static const char r501[] =
        "HTTP/1.1 501 Not Implemented\r\nConnection: close\r\n\r\n";
    eio_conn_write_raw_close(c, r501, sizeof r501 - 1);
    return 0;
  }
  if (fr < 0) {
    static const char r400[] =
        "HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n";
    eio_conn_write_raw_close(c, r400, sizeof r400 - 1);
    return 0;
  }
  c->chunked = chunked;
  c->body_left = cl;
  memset(&c->chunk, 0, sizeof c->chunk);
  X(c)->body_pending = !c->is_upgrade && (chunked || cl > 0);
  X(c)->responded = 0;
  c->body_discard = 0;
  c->state = CONN_WAIT;
  set_timer(c, TM_NONE);
  eio_guard_fresh_del(srv, c);
  c->srv->conn_ev->request(c->srv->conn_ev_arg, c);
  return 1;
}

/* ---- request bodies ---- */

static void body_data(void *arg, const char *data, size_t len) {
  eio_conn *c = arg;
  if (c->body_discard) return;
  if (evbuffer_get_length(c->body) + len > c->srv->o.max_http_buffer_size) {
    c->body_discard = 1;
    evbuffer_drain(c->body, evbuffer_get_length(c->body));
    conn_body_cb cb = c->body_cb;
    c->body_cb = NULL;
    if (cb) cb(c, BODY_TOO_LARGE);
    return;
  }
  evbuffer_add(c->body, data, len);
}

static void body_complete(eio_conn *c) {
  X(c)->body_pending = 0;
  if (c->body_discard) { /* the 413 went out already */
    c->body_discard = 0;
    if (X(c)->responded) next_request(c);
    else c->state = CONN_WAIT;
    return;
  }
  c->state = CONN_WAIT;
  set_timer(c, TM_NONE);
  conn_body_cb cb = c->body_cb;
  c->body_cb = NULL;
  if (cb) cb(c, BODY_OK);
}

static void body_fail(eio_conn *c) {
  static const char r400[] =
      "HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n";
  /* A session waiting on this body learns of it as a dropped request. */
  if (c->sock) c->srv->conn_ev->closed(c->srv->conn_ev_arg, c);
  c->body_cb = NULL;
  eio_conn_write_raw_close(c, r400, sizeof r400 - 1);
}

int read_body(eio_conn *c) {
  struct evbuffer *in = input(c);
  size_t avail = evbuffer_get_length(in);
  if (!c->chunked) {
    size_t n = avail < c->body_left ? avail : (size_t)c->body_left;
    if (c->body_discard) {
      evbuffer_drain(in, n);
    } else if (c->bev) {
      evbuffer_remove_buffer(in, c->body, n);
    } else {
      /* Raw input may refer to the server's shared read buffer: copy. */
      evbuffer_add(c->body, evbuffer_pullup(in, (ev_ssize_t)n), n);
      evbuffer_drain(in, n);
    }
    c->body_left -= n;
    if (c->body_left == 0) body_complete(c);
    return n > 0;
  }
  const char *p = (const char *)evbuffer_pullup(in, (ev_ssize_t)avail);
  int done = 0;
  long used = eio_http_chunked_decode(&c->chunk, p, avail, UINT64_MAX / 4,
                                      c->srv->o.max_header_bytes, body_data, c,
                                      &done);
  if (used < 0) {
    body_fail(c);
    return 0;
  }
  evbuffer_drain(in, (size_t)used);
  if (c->state != CONN_BODY) return 0; /* answered early (413) */
  if (done) body_complete(c);
  return used > 0;
}

void eio_conn_read_body(eio_conn *c, conn_body_cb cb) {
  if (!X(c)->body_pending) {
    cb(c, BODY_OK);
    return;
  }
  if (!c->body) c->body = evbuffer_new();
  if (!c->body) {
    conn_die(c, 1);
    return;
  }
  evbuffer_drain(c->body, evbuffer_get_length(c->body));
  c->state = CONN_BODY;
  set_timer(c, TM_REQUEST);
  c->body_cb = cb;
  if (!c->chunked && c->body_left > c->srv->o.max_http_buffer_size) {
    c->body_discard = 1;
    c->body_cb = NULL;
    cb(c, BODY_TOO_LARGE);
  }
}

/* ---- responses ---- */

static const char *status_text(int s) {
  switch (s) {
  case 101: return "Switching Protocols";
  case 200: return "OK";
  case 204: return "No Content";
  case 304: return "Not Modified";
  case 400: return "Bad Request";
  case 403: return "Forbidden";
  case 404: return "Not Found";
  case 405: return "Method Not Allowed";
  case 408: return "Request Timeout";
  case 413: return "Payload Too Large";
  case 431: return "Request Header Fields Too Large";
  case 500: return "Internal Server Error";
  case 501: return "Not Implemented";
  case 503: return "Service Unavailable";
  default: return "Unknown";
  }
}

void next_request(eio_conn *c) {
  if (c->state == CONN_DEAD) return;
  if (!c->keep_alive) {
    close_after_write(c);
    return;
  }
  c->state = CONN_HEAD;
  set_timer(c, TM_KEEPALIVE);
  /* Pipelined input may already be here: process it from the loop, not
   * from inside whatever called us. */
  in_kick(c);
}

/* The Date header's value for now, as Node writes it (IMF-fixdate, always
 * in English); formatted once per second per thread. */
static const char *http_date(void) {
  static _Thread_local time_t last = (time_t)-1;
  static _Thread_local char date[32];
  time_t now = time(NULL);
  if (now != last) {
    static const char wd[7][4] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static const char mo[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                   "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    struct tm tm;
    gmtime_r(&now, &tm);
    snprintf(date, sizeof date, "%s, %02d %s %04d %02d:%02d:%02d GMT",
             wd[tm.tm_wday % 7], tm.tm_mday, mo[tm.tm_mon % 12],
             tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
    last = now;
  }
  return date;
}

/* Decimal digits of v at the end of t[24]; returns where they start. */
static char *utoa_end(char *t, unsigned long long v) {
  char *p = t + 24;
  do {
    *--p = (char)('0' + v % 10);
    v /= 10;
  } while (v);
  return p;
}

#define HEAD_BUF 1024

/* The response head into buf[HEAD_BUF] (the extra headers are the only
 * part of unbounded size). With out: written to out, with one evbuffer_add
 * when it fits, and 0 returned. Without: its length, or -1 when it does not
 * fit. */
static long write_head(eio_conn *c, int status, const char *extra,
                       size_t body_len, struct evbuffer *out, char *buf) {
  char num[24], *d;
  size_t extra_len = extra ? strlen(extra) : 0, n = 0;
#define HPUT(s, l)                                                            \
  do {                                                                        \
    size_t l_ = (l);                                                          \
    if (n + l_ > HEAD_BUF) {                                                  \
      if (!out) return -1;                                                    \
      evbuffer_add(out, buf, n);                                              \
      n = 0;                                                                  \
      if (l_ > HEAD_BUF) {                                                    \
        evbuffer_add(out, (s), l_);                                           \
        break;                                                                \
      }                                                                       \
    }                                                                         \
    memcpy(buf + n, (s), l_);                                                 \
    n += l_;                                                                  \
  } while (0)
#define HLIT(lit) HPUT(lit, sizeof(lit) - 1)
  const char *text = status_text(status);
  HLIT("HTTP/1.1 ");
  d = utoa_end(num, (unsigned)status);
  HPUT(d, (size_t)(num + sizeof num - d));
  HLIT(" ");
  HPUT(text, strlen(text));
  HLIT("\r\n");
  if (extra_len) HPUT(extra, extra_len);
  HLIT("Date: ");
  const char *date = http_date();
  HPUT(date, strlen(date));
  HLIT("\r\n");
  if (status != 204 && status != 304) {
    HLIT("Content-Length: ");
    d = utoa_end(num, body_len);
    HPUT(d, (size_t)(num + sizeof num - d));
    HLIT("\r\n");
  }
  if (c->keep_alive && !X(c)->body_pending) {
    HLIT("Connection: keep-alive\r\nKeep-Alive: timeout=");
    d = utoa_end(num, c->srv->o.http_keepalive_timeout_ms / 1000);
    HPUT(d, (size_t)(num + sizeof num - d));
    HLIT("\r\n\r\n");
  } else {
    HLIT("Connection: close\r\n\r\n");
  }
#undef HLIT
#undef HPUT
  if (!out) return (long)n;
  if (n) evbuffer_add(out, buf, n);
  return 0;
}

static int is_head(const eio_conn *c) {
  return eio_http_ieq(c->req.method, c->req.method_len, "HEAD");
}

static void after_response(eio_conn *c) {
  X(c)->responded = 1;
  if (X(c)->body_pending) {
    /* Answered before the body was read (an error, or 413): the response
     * said "Connection: close"; the rest of the body is drained while the
     * connection lingers. */
    c->keep_alive = 0;
    c->body_discard = 1;
    c->body_cb = NULL;
    close_after_write(c);
    return;
  }
  next_request(c);
}

/* A response: head and body (bytes, or the evbuffer ebody, whose chains
 * move). A raw connection with nothing else unsent writes it at once with
 * one writev from here (head on the stack, no buffer allocated); what the
 * socket does not take waits in its output. Otherwise it is queued. */
static void respond(eio_conn *c, int status, const char *extra,
                    const void *body, size_t len, struct evbuffer *ebody) {
  if (c->state == CONN_DEAD) return;
  char buf[HEAD_BUF];
  if (is_head(c)) { /* HEAD: the length of what GET would send, no body */
    body = NULL;
    ebody = NULL;
  }
  long hn = out_direct(c) ? write_head(c, status, extra, len, NULL, buf) : -1;
  if (hn >= 0) {
    if (out_writev(c, buf, (size_t)hn, body, body ? len : 0, ebody) != 0) {
      conn_die(c, 1);
      return;
    }
  } else {
    struct evbuffer *out = output(c);
    if (!out) {
      conn_die(c, 1);
      return;
    }
    write_head(c, status, extra, len, out, buf);
    if (ebody) evbuffer_add_buffer(out, ebody);
    else if (body && len) evbuffer_add(out, body, len);
    out_kick(c);
  }
  after_response(c);
}

void eio_conn_respond(eio_conn *c, int status, const char *extra,
                      const void *body, size_t len) {
  respond(c, status, extra, body, len, NULL);
}

void eio_conn_respond_evbuf(eio_conn *c, int status, const char *extra,
                            struct evbuffer *body) {
  respond(c, status, extra, NULL, evbuffer_get_length(body), body);
}
