/*
 * The WebSocket transport of a session: a WebSocket joining a session,
 * the upgrade probe ("2probe"/"5"), and the frames, errors and close of
 * a bound WebSocket.
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

/* ----------------------------------------------------- WebSocket upgrade */

void on_ws_with_sid(eio_conn *c, eio_socket *s, int transport) {
  if (eio_wsh_accept(c) != 0) return;
  if (transport != EIO_TRANSPORT_WEBSOCKET || s->ready != SOCK_OPEN ||
      s->upgrading || s->upgraded || s->transport != EIO_TRANSPORT_POLLING ||
      !s->srv->o.allow_upgrades) {
    eio_conn_ws_close(c, 0);
    return;
  }
  s->upgrading = 1;
  attach(c, s);
  c->ws_probe = 1;
  s->probe = c;
  ARM_AUX(s, upgrade_timer, s->srv->o.upgrade_timeout_ms);
}

static void probe_message(eio_conn *c, eio_socket *s, int opcode,
                          const uint8_t *data, size_t len) {
  if (opcode == EIO_WS_TEXT && len == 6 && memcmp(data, "2probe", 6) == 0) {
    sio_buf *b = sio_buf_new("probe", 5);
    if (b) eio_conn_ws_send(c, EIO_WS_TEXT, '0' + EIO_PONG, b);
    sio_buf_unref(b);
    ARM_AUX(s, check_timer, UPGRADE_CHECK_MS);
    upgrade_check(s);
    return;
  }
  if (opcode == EIO_WS_TEXT && len == 1 && data[0] == '0' + EIO_UPGRADE &&
      s->ready != SOCK_CLOSED) {
    DISARM_AUX(s, upgrade_timer);
    DISARM_AUX(s, check_timer);
    trim_aux(s);
    if (s->poll_get) poll_answer_single(s, '0' + EIO_NOOP);
    s->probe = NULL;
    c->ws_probe = 0;
    s->ws = c; /* the probe's reference moves to the transport */
    s->transport = EIO_TRANSPORT_WEBSOCKET;
    s->upgrading = 0;
    s->upgraded = 1;
    if (s->h.on_upgrade) s->h.on_upgrade(s, s->ud);
    sock_flush(s);
    if (s->ready == SOCK_CLOSING && !s->q_head) close_transport(s);
    else if (s->should_close) close_transport(s);
    return;
  }
  abort_upgrade(s);
}

/* ------------------------- the WebSocket connection events (conn_ws.c) */

void eio_srv_ws_message(void *arg, eio_conn *c,
                        int opcode, uint8_t *data, size_t len) {
  (void)arg;
  eio_socket *s = c->sock;
  sock_ref(s);
  if (c->ws_probe) {
    probe_message(c, s, opcode, data, len);
  } else if (opcode == EIO_WS_BINARY) {
    eio_packet p = {EIO_MESSAGE, 1, data, len};
    if (s->protocol == 3) eio_v3_packet_decode_binary(data, len, &p);
    sock_on_packet(s, &p);
  } else if (s->protocol == 3) {
    uint8_t *scratch = len > 1 && data[0] == 'b'
                           ? malloc(eio_base64_decoded_max(len) + 1)
                           : NULL;
    eio_packet p;
    if (eio_v3_packet_decode_text(data, len, scratch, &p) != 0)
      sock_on_close(s, "parse error", NULL);
    else
      sock_on_packet(s, &p);
    free(scratch);
  } else {
    eio_packet p;
    if (eio_packet_decode_text(data, len, NULL, &p) != 0)
      sock_on_close(s, "parse error", NULL);
    else
      sock_on_packet(s, &p);
  }
  sock_unref(s);
}

void eio_srv_ws_error(void *arg, eio_conn *c, const char *reason) {
  (void)arg;
  eio_socket *s = c->sock;
  sock_ref(s);
  if (c->ws_probe) abort_upgrade(s);
  else {
    detach(c); /* the connection is failing already: no close frame */
    sock_on_close(s, "transport error", reason);
  }
  sock_unref(s);
}

void eio_srv_ws_closed(void *arg, eio_conn *c, int code) {
  (void)arg;
  (void)code;
  eio_socket *s = c->sock;
  sock_ref(s);
  if (c->ws_probe) abort_upgrade(s);
  else {
    detach(c);
    sock_on_close(s, "transport close", NULL);
  }
  sock_unref(s);
}
