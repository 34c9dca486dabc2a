/* Operability hooks: where server.c tells the metrics counters
 * (metrics.c) and the admin namespace (admin.c) what happened. Each is a
 * few integer increments, plus a call when the admin UI is on. */
#ifndef SIO_HOOKS_H
#define SIO_HOOKS_H
#include "admin.h"
#include "internal.h"
#include "metrics.h"
#include "replica.h"

static inline void sio_hook_eio_open(sio_client *c) {
  SIO_M_ADD(sio_m.engine_opens, 1);
  c->opened_us = sio_m_now_us();
  if (c->srv->admin) sio_admin_eio_open(c);
}
static inline void sio_hook_eio_close(sio_client *c, const char *reason, const char *desc) {
  sio_m_close(reason, desc);
  if (c->srv->admin) sio_admin_eio_close(c, reason);
}
static inline void sio_hook_eio_upgrade(sio_client *c) {
  if (c->srv->admin) sio_admin_eio_upgrade(c);
}
static inline void sio_hook_packet_in(sio_client *c, size_t len) {
  int t = sio_m_transport(c->conn);
  SIO_M_ADD(sio_m.packets_in[t], 1);
  SIO_M_ADD(sio_m.bytes_in[t], len);
  if (c->srv->admin) sio_admin_traffic(c->srv->admin, 0, len);
}
static inline void sio_hook_packet_out(sio_client *c, size_t len) {
  int t = sio_m_transport(c->conn);
  SIO_M_ADD(sio_m.packets_out[t], 1);
  SIO_M_ADD(sio_m.bytes_out[t], len);
  if (c->srv->admin) sio_admin_traffic(c->srv->admin, 1, len);
}
static inline void sio_hook_connected(sio_socket *s) {
  SIO_M_ADD(sio_m.connects, 1);
  if (s->client) sio_m_observe(&sio_m.handshake, s->client->opened_us);
  if (s->nsp->srv->group) sio_group_gauge(s->nsp->srv, s->nsp->name, 1);
  if (s->nsp->srv->admin) sio_admin_connected(s);
}
static inline void sio_hook_disconnected(sio_socket *s, const char *reason) {
  sio_m_disconnect(reason);
  if (s->nsp->srv->group) sio_group_gauge(s->nsp->srv, s->nsp->name, -1);
  if (s->nsp->srv->admin) sio_admin_disconnected(s, reason);
}
static inline void sio_hook_data_set(sio_socket *s, json_t *old) {
  if (s->nsp->srv->admin) sio_admin_data_set(s, old);
}
#endif
