/*
 * WebSocket on a connection: the switch after the 101, frames out (with
 * permessage-deflate), the close handshake, and frames in: control frames,
 * fragments gathered into messages (inflated) handed up as
 * events.ws_message.
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

/* ---- WebSocket ---- */

int eio_conn_upgrade_ws(eio_conn *c, const char *accept_key,
                        const char *extra) {
  struct evbuffer *out = output(c);
  if (!out) return -1;
  /* The 101 from fixed pieces: one evbuffer_add when it fits. */
  static const char h1[] = "HTTP/1.1 101 Switching Protocols\r\n"
                           "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                           "Sec-WebSocket-Accept: ";
  char buf[512];
  size_t kl = strlen(accept_key), el = extra ? strlen(extra) : 0;
  size_t n = sizeof h1 - 1 + kl + 2 + el + 2;
  char *p = n <= sizeof buf ? buf : malloc(n);
  if (!p) return -1;
  size_t o = 0;
  memcpy(p, h1, sizeof h1 - 1);
  o += sizeof h1 - 1;
  memcpy(p + o, accept_key, kl);
  o += kl;
  memcpy(p + o, "\r\n", 2);
  o += 2;
  if (el) memcpy(p + o, extra, el);
  o += el;
  memcpy(p + o, "\r\n", 2);
  int r = evbuffer_add(out, p, n);
  if (p != buf) free(p);
  if (r != 0) return -1;
  out_kick(c);
  c->state = CONN_WS;
  c->keep_alive = 0;
  /* Plain connections are raw from the start (no bufferevent to leave). */
  set_timer(c, TM_NONE);
  /* The head and header array are not needed any more: keep idle
   * WebSocket connections small. */
  free(c->head);
  c->head = NULL;
  free(c->headers);
  c->headers = NULL;
  memset(&c->req, 0, sizeof c->req);
  return 0;
}

static void unref_cleanup(const void *data, size_t len, void *arg) {
  (void)data;
  (void)len;
  sio_buf_unref(arg);
}

int eio_conn_ws_send(eio_conn *c, int opcode, uint8_t type_char,
                     sio_buf *payload) {
  if (c->state != CONN_WS || c->ws_close_sent) return -1;
  struct evbuffer *out = output(c);
  if (!out) return -1;
  size_t plen = payload ? sio_buf_len(payload) : 0;
  if (c->pmd_on && plen &&
      plen + (type_char ? 1 : 0) >= c->srv->pmd_opts.threshold) {
    /* One compressed form per message and window, shared by every
     * recipient (no context takeover); uncompressed if zlib fails. */
    eio_deflater *d = c->srv->conn_ev->ws_deflater(c->srv->conn_ev_arg);
    sio_buf *z = d ? eio_deflate_ws(d, payload, type_char,
                                    c->pmd.server_window_bits)
                   : NULL;
    if (z) {
      uint8_t zh[EIO_WS_MAX_HEADER];
      size_t zl = eio_ws_write_header(zh, 1, opcode, sio_buf_len(z));
      zh[0] |= 0x40; /* RSV1: compressed */
      if (evbuffer_add(out, zh, zl) != 0 ||
          evbuffer_add_reference(out, sio_buf_data(z), sio_buf_len(z),
                                 unref_cleanup, z) != 0) {
        sio_buf_unref(z);
        return -1;
      }
      out_kick(c);
      return 0;
    }
  }
  /* A small payload is copied behind its header: one evbuffer_add into
   * the output's last chain, where a reference would cost a chain (and a
   * cleanup call) per frame. */
  uint8_t hdr[EIO_WS_MAX_HEADER + 1 + WS_INLINE_PAYLOAD];
  size_t h = eio_ws_write_header(hdr, 1, opcode, plen + (type_char ? 1 : 0));
  if (type_char) hdr[h++] = type_char;
  int inline_payload = plen && plen <= WS_INLINE_PAYLOAD;
  if (inline_payload) {
    memcpy(hdr + h, sio_buf_data(payload), plen);
    h += plen;
  }
  if (evbuffer_add(out, hdr, h) != 0) return -1;
  if (plen && !inline_payload) {
    sio_buf_ref(payload);
    if (evbuffer_add_reference(out, sio_buf_data(payload), plen,
                               unref_cleanup, payload) != 0) {
      sio_buf_unref(payload);
      return -1;
    }
  }
  out_kick(c);
  return 0;
}

static void ws_send_close_frame(eio_conn *c, int code) {
  uint8_t f[4];
  size_t n;
  if (code && code != 1005) {
    f[0] = 0x88;
    f[1] = 2;
    f[2] = (uint8_t)(code >> 8);
    f[3] = (uint8_t)code;
    n = 4;
  } else {
    f[0] = 0x88;
    f[1] = 0;
    n = 2;
  }
  out_add(c, f, n);
  c->ws_close_sent = 1;
}

void eio_conn_ws_close(eio_conn *c, int code) {
  if (c->state != CONN_WS || c->ws_close_sent) return;
  ws_send_close_frame(c, code);
  set_timer(c, TM_WS_CLOSE);
}

/* A protocol violation: close frame with the code (no reason, as the ws
 * package does), then drop the connection. */
static void ws_fail(eio_conn *c, int code, const char *reason) {
  if (!c->ws_close_sent) ws_send_close_frame(c, code);
  if (c->sock) c->srv->conn_ev->ws_error(c->srv->conn_ev_arg, c, reason);
  close_after_write(c);
}

static void ws_control(eio_conn *c, int opcode, uint8_t *p, size_t len) {
  if (opcode == EIO_WS_PING) {
    if (c->ws_close_sent) return;
    uint8_t hdr[2] = {0x8A, (uint8_t)len};
    out_add(c, hdr, 2);
    if (len) out_add(c, p, len);
  } else if (opcode == EIO_WS_CLOSE) {
    int code = 0;
    int bad = eio_ws_check_close_payload(p, len, &code);
    if (bad) {
      ws_fail(c, bad, "invalid close frame");
      return;
    }
    if (!c->ws_close_sent) ws_send_close_frame(c, code);
    if (c->sock) c->srv->conn_ev->ws_closed(c->srv->conn_ev_arg, c, code);
    close_after_write(c);
  } else if (opcode == EIO_WS_PONG && c->sock) {
    c->srv->conn_ev->ws_pong(c->srv->conn_ev_arg, c, p, len);
  }
}

int ws_read(eio_conn *c) {
  conn_ext *x = X(c);
  struct evbuffer *in = input(c);
  size_t avail = evbuffer_get_length(in);
  if (!x->wsf_active) {
    size_t n = avail < EIO_WS_MAX_HEADER ? avail : EIO_WS_MAX_HEADER;
    const uint8_t *p = evbuffer_pullup(in, (ev_ssize_t)n);
    int r = eio_ws_parse_header(p, n, &x->wsf);
    if (r == 0) return 0;
    const char *reason = "invalid payload length";
    /* With permessage-deflate, RSV1 marks the first frame of a compressed
     * data message; anywhere else it stays a protocol error. */
    eio_ws_frame chk = x->wsf;
    int deflated = c->pmd_on && r > 0 && (chk.rsv & 4) &&
                   (chk.opcode == EIO_WS_TEXT || chk.opcode == EIO_WS_BINARY);
    if (deflated) chk.rsv &= ~4;
    int code = r < 0 ? EIO_WS_PROTOCOL_ERROR
                     : eio_ws_check_client_frame(
                           &chk, c->ws_msg_opcode != 0, c->ws_msg_len,
                           c->srv->o.max_http_buffer_size, &reason);
    if (code) {
      ws_fail(c, code, reason);
      return 0;
    }
    if (x->wsf.opcode >= EIO_WS_CLOSE) {
      /* A control frame (at most 125 bytes, checked above) is taken whole
       * from the input, so no connection keeps a buffer for one. */
      size_t pl = (size_t)x->wsf.payload_len;
      if (avail < x->wsf.header_len + pl) return 0;
      uint8_t ctl[125];
      evbuffer_drain(in, x->wsf.header_len);
      if (pl) {
        evbuffer_remove(in, ctl, pl);
        eio_ws_unmask(ctl, pl, x->wsf.mask, 0);
      }
      ws_control(c, x->wsf.opcode, ctl, pl);
      return 1;
    }
    evbuffer_drain(in, x->wsf.header_len);
    avail -= x->wsf.header_len;
    x->wsf_active = 1;
    x->wsf_left = x->wsf.payload_len;
    x->wsf_off = 0;
    if (x->wsf.opcode < EIO_WS_CLOSE) {
      size_t need = c->ws_msg_len + (size_t)x->wsf.payload_len;
      if (need > x->ws_msg_cap) {
        uint8_t *m = realloc(c->ws_msg, need);
        if (!m) {
          ws_fail(c, 1011, "out of memory");
          return 0;
        }
        c->ws_msg = m;
        x->ws_msg_cap = need;
      }
      if (x->wsf.opcode != EIO_WS_CONT) {
        c->ws_msg_opcode = x->wsf.opcode;
        c->ws_msg_deflated = deflated;
      }
    }
  }
  size_t n = avail < x->wsf_left ? avail : (size_t)x->wsf_left;
  uint8_t *dst = c->ws_msg + c->ws_msg_len;
  if (n) {
    evbuffer_remove(in, dst, n);
    eio_ws_unmask(dst, n, x->wsf.mask, x->wsf_off);
    x->wsf_off += n;
    x->wsf_left -= n;
    c->ws_msg_len += n;
  }
  if (x->wsf_left) return n > 0;
  x->wsf_active = 0;
  if (!x->wsf.fin) return 1;
  int op = c->ws_msg_opcode;
  size_t len = c->ws_msg_len;
  c->ws_msg_opcode = 0;
  c->ws_msg_len = 0;
  static uint8_t empty[1];
  uint8_t *msg = c->ws_msg, *inflated = NULL;
  if (c->ws_msg_deflated) {
    c->ws_msg_deflated = 0;
    if (!c->inflater)
      c->inflater = eio_inflater_new(c->pmd.client_no_context_takeover);
    int ir = c->inflater
                 ? eio_inflate_message(c->inflater, c->ws_msg, len,
                                       c->srv->o.max_http_buffer_size,
                                       &inflated, &len)
                 : EIO_INFLATE_NOMEM;
    if (ir != EIO_INFLATE_OK) {
      /* Codes and texts of the ws package. */
      if (ir == EIO_INFLATE_TOO_BIG)
        ws_fail(c, EIO_WS_TOO_BIG, "Max payload size exceeded");
      else if (ir == EIO_INFLATE_BAD)
        ws_fail(c, EIO_WS_INVALID_DATA, "invalid compressed data");
      else
        ws_fail(c, 1011, "out of memory");
      return 0;
    }
    msg = inflated;
  }
  if (op == EIO_WS_TEXT && !eio_ws_utf8_valid(msg, len)) {
    free(inflated);
    ws_fail(c, EIO_WS_INVALID_DATA, "invalid UTF-8 sequence");
    return 0;
  }
  if (!c->ws_close_sent && c->sock)
    c->srv->conn_ev->ws_message(c->srv->conn_ev_arg, c, op, msg ? msg : empty,
                                len);
  free(inflated);
  if (c->state != CONN_DEAD && x->ws_msg_cap > WS_KEEP_BUFFER &&
      c->ws_msg_len == 0) {
    free(c->ws_msg);
    c->ws_msg = NULL;
    x->ws_msg_cap = 0;
  }
  return 1;
}
