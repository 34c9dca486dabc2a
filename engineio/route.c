/*
 * HTTP routing of the Engine.IO server: every request head a connection
 * reads comes here (srv_request), is verified with Node's answers and
 * error bodies, and goes to the handshake, a session's transport, or the
 * application's own handler (user_request). Also the connection events
 * table conn.c calls (eio_srv_conn_events) and the allowRequest resume.
 */
#include "srv_internal.h"

#include "base64.h"
#include "buf.h"
#include "packet.h"
#include "packet_v3.h"
#include "polling_v3.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum {
  ERR_UNKNOWN_TRANSPORT = 0,
  ERR_UNKNOWN_SID = 1,
  ERR_BAD_HANDSHAKE_METHOD = 2,
  ERR_BAD_REQUEST = 3,
  ERR_FORBIDDEN = 4,
  ERR_UNSUPPORTED_PROTOCOL_VERSION = 5,
};

static const char *const error_messages[] = {
    "Transport unknown", "Session ID unknown", "Bad handshake method",
    "Bad request",       "Forbidden",          "Unsupported protocol version",
};

/* --------------------------------------------------------- HTTP helpers */

/* An evbuffer-backed string builder for header lines. */
char *evbuf_to_string(struct evbuffer *b) {
  size_t n = evbuffer_get_length(b);
  char *s = malloc(n + 1);
  if (!s) return NULL;
  evbuffer_remove(b, s, n);
  s[n] = '\0';
  return s;
}

/* Node's abortRequest: status + {"code":N,"message":"..."}. */
static void abort_request(eio_conn *c, int code, const char *message) {
  char body[512];
  int n;
  if (!message) message = error_messages[code];
  /* Messages are ours or the allowRequest hook's; escape for JSON. */
  char esc[300];
  size_t k = 0;
  for (const char *p = message; *p && k < sizeof esc - 8; p++) {
    unsigned char ch = (unsigned char)*p;
    if (ch == '"' || ch == '\\') {
      esc[k++] = '\\';
      esc[k++] = (char)ch;
    } else if (ch < 0x20) {
      k += (size_t)snprintf(esc + k, sizeof esc - k, "\\u%04x", ch);
    } else {
      esc[k++] = (char)ch;
    }
  }
  esc[k] = '\0';
  n = snprintf(body, sizeof body, "{\"code\":%d,\"message\":\"%s\"}", code, esc);
  const char *cors = c->resp_headers ? c->resp_headers : "";
  char hdr[2048];
  struct evbuffer *hb = evbuffer_new();
  if (!hb) {
    eio_conn_abort(c);
    return;
  }
  evbuffer_add_printf(hb, "Content-Type: application/json\r\n%s", cors);
  size_t hl = evbuffer_get_length(hb);
  char *h = hl < sizeof hdr ? hdr : malloc(hl + 1);
  if (!h) {
    evbuffer_free(hb);
    eio_conn_abort(c);
    return;
  }
  evbuffer_remove(hb, h, hl);
  h[hl] = '\0';
  evbuffer_free(hb);
  eio_conn_respond(c, code == ERR_FORBIDDEN ? 403 : 400, h, body, (size_t)n);
  if (h != hdr) free(h);
}

/* Node's abortUpgrade: a raw 400 before any protocol switch, then close. */
static void abort_upgrade_req(eio_conn *c, int code, const char *message) {
  if (!message) message = error_messages[code];
  char raw[512];
  int n = snprintf(raw, sizeof raw,
                   "HTTP/1.1 400 Bad Request\r\nConnection: close\r\n"
                   "Content-type: text/html\r\nContent-Length: %zu\r\n\r\n%s",
                   strlen(message), message);
  if (n < 0 || (size_t)n >= sizeof raw) n = (int)sizeof raw - 1;
  eio_conn_write_raw_close(c, raw, (size_t)n);
}

static void fail(eio_conn *c, int code, const char *message) {
  if (c->is_upgrade) abort_upgrade_req(c, code, message);
  else abort_request(c, code, message);
}

/* ------------------------------------------------------------- routing */

static int has_ctl(const char *v, size_t n) {
  for (size_t i = 0; i < n; i++) {
    unsigned char ch = (unsigned char)v[i];
    if ((ch < 0x20 && ch != '\t') || ch == 0x7f) return 1;
  }
  return 0;
}

static void user_request(eio_server *srv, eio_conn *c) {
  if (c->is_upgrade) {
    static const char r400[] =
        "HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n";
    eio_conn_write_raw_close(c, r400, sizeof r400 - 1);
    return;
  }
  struct eio_http_response res = {404, NULL, NULL};
  int handled = 0;
  eio_socket tmp; /* borrow the request copier for a transient view */
  memset(&tmp, 0, sizeof tmp);
  if (srv->on_request && copy_request(&tmp, c) == 0) {
    res.headers = evbuffer_new();
    if (res.headers) {
      res.status = 200;
      handled = srv->on_request(eio_socket_request(&tmp), &res, srv->on_request_ud);
    }
  }
  free_request(&tmp);
  if (!handled) {
    static const char nf[] = "Not Found";
    eio_conn_respond(c, 404, "Content-Type: text/plain\r\n", nf, sizeof nf - 1);
  } else {
    char *h = evbuf_to_string(res.headers);
    size_t len = res.body ? sio_buf_len(res.body) : 0;
    eio_conn_respond(c, res.status, h, res.body ? sio_buf_data(res.body) : NULL,
                     len);
    free(h);
  }
  if (res.headers) evbuffer_free(res.headers);
  sio_buf_unref(res.body);
}

void eio_response_status(eio_http_response *res, int status) {
  res->status = status;
}
int eio_response_header(eio_http_response *res, const char *name,
                        const char *value) {
  return evbuffer_add_printf(res->headers, "%s: %s\r\n", name, value) < 0
             ? EIO_ERR_NOMEM
             : EIO_OK;
}
void eio_response_body(eio_http_response *res, sio_buf *body) {
  sio_buf_unref(res->body);
  res->body = body ? sio_buf_ref(body) : NULL;
}

void eio_srv_request(void *arg, eio_conn *c) {
  (void)arg;
  eio_server *srv = c->srv;
  const char *path, *query;
  size_t pl, ql;
  eio_http_split_target(c->req.target, c->req.target_len, &path, &pl, &query,
                        &ql);
  size_t mp = strlen(srv->path);
  free(c->resp_headers);
  c->resp_headers = NULL;
  /* Outside the Engine.IO path, and below it but not the endpoint itself
   * (e.g. /socket.io/socket.io.min.js, which Node's serveClient answers
   * before engine.io sees it), requests go to the application's handler. */
  if (pl < mp || memcmp(path, srv->path, mp) != 0 ||
      (pl > mp && srv->on_request && !c->is_upgrade)) {
    user_request(srv, c);
    return;
  }
  if (eio_handover(c, query, ql)) return; /* a session of another loop */
  /* CORS runs first, like the cors middleware in Node. */
  int preflight = srv->cors_on && !c->is_upgrade &&
                  eio_http_ieq(c->req.method, c->req.method_len, "OPTIONS");
  if (srv->cors_on) {
    struct evbuffer *b = evbuffer_new();
    if (!b) {
      eio_conn_abort(c);
      return;
    }
    eio_cors_headers(srv, c, b, preflight);
    c->resp_headers = evbuf_to_string(b);
    evbuffer_free(b);
  }
  if (preflight) {
    eio_conn_respond(c, 204, c->resp_headers, NULL, 0);
    return;
  }
  char transport[16], sid[64], eio[8];
  long tl = eio_http_query_get(query, ql, "transport", transport, sizeof transport);
  long sl = eio_http_query_get(query, ql, "sid", sid, sizeof sid);
  long el = eio_http_query_get(query, ql, "EIO", eio, sizeof eio);
  int t = 0;
  if (tl > 0 && strcmp(transport, "polling") == 0) t = EIO_TRANSPORT_POLLING;
  else if (tl > 0 && strcmp(transport, "websocket") == 0)
    t = EIO_TRANSPORT_WEBSOCKET;
  if (!(t & srv->o.transports)) {
    fail(c, ERR_UNKNOWN_TRANSPORT, NULL);
    return;
  }
  const eio_http_header *origin = eio_http_find(&c->req, "origin");
  if (origin && has_ctl(origin->value, origin->value_len)) {
    fail(c, ERR_BAD_REQUEST, NULL);
    return;
  }
  /* Node: EIO "4" is v4, anything else v3 (allowed with allowEIO3). */
  int proto = el == 1 && eio[0] == '4' ? 4 : srv->o.allow_eio3 ? 3 : 0;
  if (sl > 0 || sl == -2) {
    eio_socket *s = sl > 0 ? table_get(srv, sid) : NULL;
    if (!s || s->ready == SOCK_CLOSED) {
      fail(c, ERR_UNKNOWN_SID, NULL);
      return;
    }
    if (!c->is_upgrade && s->transport != t) {
      fail(c, ERR_BAD_REQUEST, NULL);
      return;
    }
    if (proto != (int)s->protocol) {
      fail(c, ERR_BAD_REQUEST, NULL);
      return;
    }
    sock_ref(s);
    if (c->is_upgrade) on_ws_with_sid(c, s, t);
    else on_poll_request(c, s);
    sock_unref(s);
    return;
  }
  if (!eio_http_ieq(c->req.method, c->req.method_len, "GET")) {
    fail(c, ERR_BAD_HANDSHAKE_METHOD, NULL);
    return;
  }
  if (t == EIO_TRANSPORT_WEBSOCKET && !c->is_upgrade) {
    fail(c, ERR_BAD_REQUEST, NULL);
    return;
  }
  if (srv->o.allow_request_async) {
    if (eio_allow_start(c, t, el == 1 ? eio : "") != 0) eio_conn_abort(c);
    return;
  }
  if (srv->o.allow_request) {
    eio_socket tmp;
    memset(&tmp, 0, sizeof tmp);
    if (copy_request(&tmp, c) != 0) {
      eio_conn_abort(c);
      return;
    }
    const char *msg = NULL;
    int ok = srv->o.allow_request(eio_socket_request(&tmp), &msg, srv->o.allow_request_user_data);
    if (!ok) {
      fail(c, ERR_FORBIDDEN, msg);
      free_request(&tmp);
      return;
    }
    free_request(&tmp);
  }
  eio_srv_allowed(c, t, el == 1 ? eio : "");
}

int eio_srv_copy_request(eio_socket *s, eio_conn *c) { return copy_request(s, c); }

void eio_srv_refused(eio_conn *c, const char *message) {
  fail(c, ERR_FORBIDDEN, message);
}

/* The handshake request passed allowRequest. Node: EIO "4" is v4, anything
 * else v3 (allowed with allowEIO3). */
void eio_srv_allowed(eio_conn *c, int t, const char *eio) {
  eio_server *srv = c->srv;
  int proto = !strcmp(eio, "4") ? 4 : srv->o.allow_eio3 ? 3 : 0;
  if (!proto) {
    fail(c, ERR_UNSUPPORTED_PROTOCOL_VERSION, NULL);
    return;
  }
  if (c->is_upgrade && t != EIO_TRANSPORT_WEBSOCKET) {
    /* An upgrade request for the polling transport: ws accepts, then the
     * socket is closed (Node: transport does not handle upgrades). */
    if (eio_wsh_accept(c) == 0) eio_conn_ws_close(c, 0);
    return;
  }
  handshake(srv, c, t, proto);
}

/* ------------------------------------------------ the connection events */

const struct eio_conn_events eio_srv_conn_events = {
    .request = eio_srv_request,
    .ws_message = eio_srv_ws_message,
    .ws_error = eio_srv_ws_error,
    .ws_closed = eio_srv_ws_closed,
    .ws_pong = eio_srv_ws_pong,
    .closed = eio_srv_conn_closed,
    .drained = eio_srv_conn_drained,
    .gone = eio_allow_conn_gone,
    .ws_deflater = eio_srv_ws_deflater,
};
