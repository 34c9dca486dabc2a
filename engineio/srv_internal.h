/*
 * What the files of the Engine.IO session layer share (server.c, session.c,
 * handshake.c, poll_transport.c, ws_transport.c, route.c): helpers that were
 * static when they lived in one server.c. Each keeps its short name inside
 * the code through the #define below, which gives the linker a prefixed one
 * (eio_sess_* session.c, eio_hs_* handshake.c, eio_route_* route.c, eio_pt_*
 * poll_transport.c, eio_wt_* ws_transport.c). Not a public interface: the
 * layer below (conn.c) never includes it.
 */
#ifndef EIO_SRV_INTERNAL_H
#define EIO_SRV_INTERNAL_H

#include "internal.h"
#include "packet.h"

#define DEFAULT_MAX_OUTPUT (64u * 1024 * 1024)
#define POLL_CLOSE_TIMEOUT_MS 30000
#define UPGRADE_CHECK_MS 100
#define ALONE_PING 'a' /* payload of the ping sent after an ALONE frame */

/* ---- session.c: the session table */
#define table_get eio_sess_table_get
#define table_put eio_sess_table_put
#define table_del eio_sess_table_del
eio_socket *table_get(eio_server *srv, const char *id);
int table_put(eio_server *srv, eio_socket *s);
void table_del(eio_server *srv, eio_socket *s);

/* ---- session.c: references. A session is freed when its last reference
 * goes (sock_unref). */
static inline void sock_ref(eio_socket *s) { s->refs++; }
#define sock_unref eio_sess_unref
void sock_unref(eio_socket *s);

/* ---- session.c: timers on srv->timers, and their callbacks (set up by
 * handshake.c's sock_new) */
#define arm eio_sess_arm
#define disarm eio_sess_disarm
#define v3_timeout_ms eio_sess_v3_timeout_ms
#define hold_cb eio_sess_hold_cb
#define hb_cb eio_sess_hb_cb
#define arm_aux eio_sess_arm_aux
#define disarm_aux eio_sess_disarm_aux
#define trim_aux eio_sess_trim_aux
#define upgrade_timeout_cb eio_sess_upgrade_timeout_cb
#define check_cb eio_sess_check_cb
#define close_timer_cb eio_sess_close_timer_cb
void arm(eio_socket *s, eio_timer *t, uint64_t ms);
void disarm(eio_socket *s, eio_timer *t);
uint64_t v3_timeout_ms(const eio_server *srv);
void hold_cb(eio_timer *t);
/* The heartbeat: the ping interval (arm_ping) or the wait for an answer
 * (arm_wait: v4's ping timeout, v3's ping interval + timeout). */
void hb_cb(eio_timer *t);
static inline void arm_ping(eio_socket *s, uint64_t ms) {
  s->hb_wait = 0;
  arm(s, &s->hb_timer, ms);
}
static inline void arm_wait(eio_socket *s, uint64_t ms) {
  s->hb_wait = 1;
  arm(s, &s->hb_timer, ms);
}
/* The timers of s->aux (made on first arm; nothing when out of memory),
 * by member: ARM_AUX(s, upgrade_timer, ms). */
void arm_aux(eio_socket *s, size_t off, uint64_t ms);
void disarm_aux(eio_socket *s, size_t off);
void trim_aux(eio_socket *s);
#define ARM_AUX(s, m, ms) arm_aux((s), offsetof(eio_sock_aux, m), (ms))
#define DISARM_AUX(s, m) disarm_aux((s), offsetof(eio_sock_aux, m))
void upgrade_timeout_cb(eio_timer *t);
void check_cb(eio_timer *t);
void close_timer_cb(eio_timer *t);

/* ---- session.c: transports attached to a session, the queue, closing */
#define attach eio_sess_attach
#define detach eio_sess_detach
#define send_text_flags eio_sess_send_text_flags
#define poll_answer_single eio_sess_poll_answer_single
#define fire_drain eio_sess_fire_drain
#define sock_flush eio_sess_flush
#define abort_upgrade eio_sess_abort_upgrade
#define upgrade_check eio_sess_upgrade_check
#define sock_on_close eio_sess_on_close
#define close_transport eio_sess_close_transport
#define sock_on_packet eio_sess_on_packet
void attach(eio_conn *c, eio_socket *s);
void detach(eio_conn *c);
int send_text_flags(eio_socket *s, int type, const char *text,
                    unsigned flags);
void poll_answer_single(eio_socket *s, char type);
void fire_drain(eio_socket *s);
void sock_flush(eio_socket *s);
void abort_upgrade(eio_socket *s);
void upgrade_check(eio_socket *s);
void sock_on_close(eio_socket *s, const char *reason, const char *desc);
void close_transport(eio_socket *s);
void sock_on_packet(eio_socket *s, const eio_packet *p);

/* ---- the connection events (struct eio_conn_events in internal.h): the
 * table is route.c's; request is there, the WebSocket ones in
 * ws_transport.c, ws_pong, closed, drained and ws_deflater in session.c,
 * gone in allow.c. arg is the eio_server. */
extern const struct eio_conn_events eio_srv_conn_events;
void eio_srv_request(void *arg, eio_conn *c);
void eio_srv_ws_message(void *arg, eio_conn *c, int opcode, uint8_t *data,
                        size_t len);
void eio_srv_ws_error(void *arg, eio_conn *c, const char *reason);
void eio_srv_ws_closed(void *arg, eio_conn *c, int code);
void eio_srv_ws_pong(void *arg, eio_conn *c, const uint8_t *data,
                     size_t len);
void eio_srv_conn_closed(void *arg, eio_conn *c);
void eio_srv_conn_drained(void *arg, eio_conn *c);
eio_deflater *eio_srv_ws_deflater(void *arg);

/* ---- route.c: HTTP helpers */
#define evbuf_to_string eio_route_evbuf_to_string
/* The contents of b as a NUL-terminated string (malloc'd), or NULL. */
char *evbuf_to_string(struct evbuffer *b);

/* ---- handshake.c */
#define copy_request eio_hs_copy_request
#define handshake eio_hs_handshake
int copy_request(eio_socket *s, eio_conn *c);
#define free_request eio_srv_free_request
void handshake(eio_server *srv, eio_conn *c, int transport, int proto);

/* ---- poll_transport.c: a polling GET or POST for session s */
#define on_poll_request eio_pt_on_poll_request
void on_poll_request(eio_conn *c, eio_socket *s);

/* ---- ws_transport.c: a WebSocket request for session s */
#define on_ws_with_sid eio_wt_on_ws_with_sid
void on_ws_with_sid(eio_conn *c, eio_socket *s, int transport);

#endif
