#include "recovery.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "replica.h"

#define PURGE_INTERVAL_S 60

typedef struct stored_pkt {
  struct stored_pkt *next;
  char id[40];
  long long emitted_ms;
  sio_args *data;     /* [event, ...args, offset] */
  char **rooms, **except;
  size_t nrooms, nexcept;
  unsigned channel;   /* several loops: its place between loops (adapter.h) */
  unsigned long long seq;
} stored_pkt;

typedef struct session {
  char sid[24], pid[24];
  json_t *data;
  char **rooms;
  size_t nrooms;
  long long disconnected_ms;
} session;

struct nsp_recovery {
  sio_namespace *nsp;
  stored_pkt *head, *tail;
  sio_map sessions; /* pid -> session */
  struct event *purge;
  long long last_ms;
  unsigned seq;
  /* Several loops: the last sequence number kept per channel. */
  unsigned long long *last;
  size_t nlast;
};

static long long now_ms(void) {
  struct timeval tv;
  gettimeofday(&tv, NULL);
  return (long long)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

static char **copy_names(const char *const *v, size_t n) {
  char **out = calloc(n + 1, sizeof *out);
  for (size_t i = 0; out && i < n; i++) out[i] = strdup(v[i]);
  return out;
}

static void free_names(char **v, size_t n) {
  for (size_t i = 0; v && i < n; i++) free(v[i]);
  free(v);
}

static void pkt_free(stored_pkt *p) {
  sio_args_unref(p->data);
  free_names(p->rooms, p->nrooms);
  free_names(p->except, p->nexcept);
  free(p);
}

static void session_free(session *s) {
  json_decref(s->data);
  free_names(s->rooms, s->nrooms);
  free(s);
}

static void purge_cb(evutil_socket_t fd, short w, void *arg) {
  (void)fd;
  (void)w;
  struct nsp_recovery *r = arg;
  long long threshold = now_ms() - r->nsp->srv->o.recovery_max_disconnection_ms;
  size_t it;
  sio_map_entry *e = sio_map_first(&r->sessions, &it);
  while (e) {
    sio_map_entry *next = sio_map_next(&r->sessions, e, &it);
    session *s = e->value;
    if (s->disconnected_ms < threshold) session_free(sio_map_del(&r->sessions, s->pid));
    e = next;
  }
  while (r->head && r->head->emitted_ms < threshold) {
    stored_pkt *p = r->head;
    r->head = p->next;
    pkt_free(p);
  }
  if (!r->head) r->tail = NULL;
}

struct nsp_recovery *sio_nsp_recovery_new(sio_namespace *nsp) {
  struct nsp_recovery *r = calloc(1, sizeof *r);
  if (!r) return NULL;
  r->nsp = nsp;
  sio_map_init(&r->sessions);
  r->purge = event_new(nsp->srv->base, -1, EV_PERSIST, purge_cb, r);
  struct timeval tv = {PURGE_INTERVAL_S, 0};
  if (!r->purge || event_add(r->purge, &tv) != 0) {
    if (r->purge) event_free(r->purge);
    free(r);
    return NULL;
  }
  return r;
}

void sio_nsp_recovery_stop(struct nsp_recovery *r) {
  if (r) event_del(r->purge);
}

void sio_nsp_recovery_free(struct nsp_recovery *r) {
  if (!r) return;
  event_free(r->purge);
  while (r->head) {
    stored_pkt *p = r->head;
    r->head = p->next;
    pkt_free(p);
  }
  size_t it;
  for (sio_map_entry *e = sio_map_first(&r->sessions, &it); e;
       e = sio_map_next(&r->sessions, e, &it))
    session_free(e->value);
  sio_map_clear(&r->sessions);
  free(r->last);
  free(r);
}

/* A unique offset per server, in the spirit of Node's yeast ids: the
 * millisecond time in a 64-letter alphabet, ".N" for repeats. */
static void make_offset(struct nsp_recovery *r, char out[40]) {
  static const char abc[] =
      "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz-_";
  long long ms = now_ms();
  char tmp[16];
  int n = 0;
  long long v = ms;
  do {
    tmp[n++] = abc[v % 64];
    v /= 64;
  } while (v && n < 15);
  int k = 0;
  while (n) out[k++] = tmp[--n];
  out[k] = '\0';
  /* Several loops make offsets at once: each names its own loop. */
  if (sio_server_workers(r->nsp->srv) > 1)
    k += snprintf(out + k, 40 - (size_t)k, "~%zu", r->nsp->srv->index);
  if (ms == r->last_ms) snprintf(out + k, 40 - (size_t)k, ".%u", r->seq++);
  else {
    r->last_ms = ms;
    r->seq = 0;
  }
}

/* Appends a kept packet (msg->data already ends with its offset `id`). */
static void keep(struct nsp_recovery *r, const char *id, const sio_msg *msg,
                 const sio_bcast_opts *o) {
  stored_pkt *p = calloc(1, sizeof *p);
  if (!p) return;
  snprintf(p->id, sizeof p->id, "%s", id);
  p->emitted_ms = now_ms();
  p->data = sio_args_wrap(json_incref(msg->data), msg->bins, msg->nbins);
  p->rooms = copy_names(o->rooms, o->nrooms);
  p->nrooms = o->nrooms;
  p->except = copy_names(o->except, o->nexcept);
  p->nexcept = o->nexcept;
  p->channel = o->rec_channel;
  p->seq = o->rec_seq;
  if (!p->data) {
    pkt_free(p);
    return;
  }
  if (r->tail) r->tail->next = p;
  else r->head = p;
  r->tail = p;
  if (p->seq) {
    if (p->channel >= r->nlast) {
      size_t n = (size_t)p->channel + 1;
      unsigned long long *v = realloc(r->last, n * sizeof *v);
      if (!v) return;
      memset(v + r->nlast, 0, (n - r->nlast) * sizeof *v);
      r->last = v;
      r->nlast = n;
    }
    r->last[p->channel] = p->seq;
  }
}

void sio_recovery_broadcast(sio_namespace *nsp, sio_msg *msg,
                            const sio_bcast_opts *o) {
  struct nsp_recovery *r = nsp->rec;
  /* an adapter that keeps sessions appends its own offsets */
  if (!nsp->adapter->ops->restore_session && msg->type == SIO_PACKET_EVENT && msg->id < 0 &&
      !(o->flags & SIO_BC_VOLATILE)) {
    char id[40];
    make_offset(r, id);
    json_array_append_new(msg->data, json_string(id));
    if (sio_server_workers(nsp->srv) > 1) {
      /* Every loop keeps it where it is delivered (sio_recovery_record),
       * in the order its own sockets see it. */
      sio_bcast_opts ro = *o;
      ro.flags |= SIO_BC_RECOVERY;
      nsp->adapter->ops->broadcast(nsp->adapter, msg, &ro);
      return;
    }
    keep(r, id, msg, o);
  }
  nsp->adapter->ops->broadcast(nsp->adapter, msg, o);
}

void sio_recovery_record(sio_namespace *nsp, const sio_msg *msg, const sio_bcast_opts *o) {
  size_t n = json_array_size(msg->data);
  const char *id = n ? json_string_value(json_array_get(msg->data, n - 1)) : NULL;
  if (nsp->rec && id) keep(nsp->rec, id, msg, o);
}

int sio_recovery_emit_to_socket(sio_socket *s, sio_msg *msg) {
  const char *rooms[1] = {s->id};
  sio_bcast_opts o = {rooms, 1, NULL, 0, 0, 0, 0, 0};
  sio_recovery_broadcast(s->nsp, msg, &o);
  return 1;
}

/* The session handed to an adapter that keeps sessions (in Redis). */
static void persist_in_adapter(sio_socket *s) {
  sio_adapter *a = s->nsp->adapter;
  const sio_map *rooms = a->ops->socket_rooms(a, s->id);
  size_t n = 0, it;
  const char **v = calloc((rooms ? rooms->count : 0) + 1, sizeof *v);
  if (!v) return;
  if (rooms)
    for (sio_map_entry *e = sio_map_first(rooms, &it); e; e = sio_map_next(rooms, e, &it))
      v[n++] = e->key;
  sio_session x = {s->id, s->pid, sio_socket_data(s), v, n};
  a->ops->persist_session(a, &x);
  free(v);
}

void sio_recovery_persist(sio_socket *s) {
  struct nsp_recovery *r = s->nsp->rec;
  if (s->nsp->adapter->ops->persist_session) {
    persist_in_adapter(s);
    return;
  }
  session *x = calloc(1, sizeof *x);
  if (!x) return;
  snprintf(x->sid, sizeof x->sid, "%s", s->id);
  snprintf(x->pid, sizeof x->pid, "%s", s->pid);
  x->data = json_incref(sio_socket_data(s));
  const sio_map *rooms = s->nsp->adapter->ops->socket_rooms(s->nsp->adapter, s->id);
  x->rooms = calloc((rooms ? rooms->count : 0) + 1, sizeof *x->rooms);
  size_t it;
  if (rooms && x->rooms)
    for (sio_map_entry *e = sio_map_first(rooms, &it); e; e = sio_map_next(rooms, e, &it))
      if ((x->rooms[x->nrooms] = strdup(e->key))) x->nrooms++;
  x->disconnected_ms = now_ms();
  session *old = sio_map_get(&r->sessions, x->pid);
  if (sio_map_put(&r->sessions, x->pid, x) < 0) {
    session_free(x);
    return;
  }
  if (old) session_free(old);
}

static int has_name(char **v, size_t n, const char *name) {
  for (size_t i = 0; i < n; i++)
    if (strcmp(v[i], name) == 0) return 1;
  return 0;
}

/* Node's shouldIncludePacket, for a session in rooms. */
static int include_in(char *const *rooms, size_t nrooms, const stored_pkt *p) {
  int included = p->nrooms == 0;
  for (size_t i = 0; i < nrooms && !included; i++)
    included = has_name(p->rooms, p->nrooms, rooms[i]);
  for (size_t i = 0; i < nrooms; i++)
    if (has_name(p->except, p->nexcept, rooms[i])) return 0;
  return included;
}

static int include(const session *s, const stored_pkt *p) {
  return include_in(s->rooms, s->nrooms, p);
}

/* The live session pid whose offset is kept here, or NULL (an expired
 * one is dropped); *at: the packet of that offset. */
static session *find_session(struct nsp_recovery *r, const char *pid, const char *offset,
                             stored_pkt **at) {
  session *s = sio_map_get(&r->sessions, pid);
  if (!s) return NULL;
  if (s->disconnected_ms + (long long)r->nsp->srv->o.recovery_max_disconnection_ms <
      now_ms()) {
    session_free(sio_map_del(&r->sessions, pid));
    return NULL;
  }
  stored_pkt *p = r->head;
  while (p && strcmp(p->id, offset) != 0) p = p->next;
  *at = p;
  return p ? s : NULL;
}

int sio_recovery_restore(sio_namespace *nsp, const json_t *auth,
                         sio_recovered *out) {
  struct nsp_recovery *r = nsp->rec;
  memset(out, 0, sizeof *out);
  const char *pid = json_string_value(json_object_get(auth, "pid"));
  const char *offset = json_string_value(json_object_get(auth, "offset"));
  if (!pid || !offset) return -1;
  stored_pkt *p;
  session *s = find_session(r, pid, offset, &p);
  if (!s) return -1;
  size_t n = 0;
  for (stored_pkt *q = p->next; q; q = q->next) n++;
  out->packets = calloc(n + 1, sizeof *out->packets);
  if (!out->packets) return -1;
  for (stored_pkt *q = p->next; q; q = q->next)
    if (include(s, q)) out->packets[out->npackets++] = sio_args_ref(q->data);
  sio_map_del(&r->sessions, pid);
  snprintf(out->sid, sizeof out->sid, "%s", s->sid);
  snprintf(out->pid, sizeof out->pid, "%s", s->pid);
  out->data = s->data;
  s->data = NULL;
  out->rooms = s->rooms;
  out->nrooms = s->nrooms;
  s->rooms = NULL;
  s->nrooms = 0;
  session_free(s);
  return 0;
}

sio_restored *sio_recovery_take(sio_namespace *nsp, const char *pid, const char *offset) {
  struct nsp_recovery *r = nsp->rec;
  stored_pkt *at;
  session *s = find_session(r, pid, offset, &at);
  size_t nchan = sio_group_channels(nsp->srv);
  sio_restored *out = s && nchan ? calloc(1, sizeof *out) : NULL;
  if (!out) return NULL;
  out->seen = calloc(nchan, sizeof *out->seen);
  unsigned char *found = calloc(nchan, 1);
  if (!out->seen || !found) {
    free(out->seen);
    free(out);
    free(found);
    return NULL;
  }
  out->nseen = nchan;
  /* What the client saw of each channel (FIFO between loops): up to the
   * first packet after its offset, or all this loop kept. */
  for (size_t c = 0; c < nchan; c++) out->seen[c] = c < r->nlast ? r->last[c] : 0;
  for (stored_pkt *q = at->next; q; q = q->next)
    if (q->seq && q->channel < nchan && !found[q->channel]) {
      found[q->channel] = 1;
      out->seen[q->channel] = q->seq - 1;
    }
  free(found);
  sio_map_del(&r->sessions, pid);
  snprintf(out->sid, sizeof out->sid, "%s", s->sid);
  snprintf(out->pid, sizeof out->pid, "%s", s->pid);
  out->data = s->data;
  out->rooms = s->rooms;
  out->nrooms = s->nrooms;
  s->data = NULL;
  s->rooms = NULL;
  s->nrooms = 0;
  session_free(s);
  return out;
}

void sio_recovered_clear(sio_recovered *r) {
  json_decref(r->data);
  free_names(r->rooms, r->nrooms);
  for (size_t i = 0; i < r->npackets; i++) sio_args_unref(r->packets[i]);
  free(r->packets);
  memset(r, 0, sizeof *r);
}

typedef struct async_restore {
  sio_namespace *nsp;
  json_t *auth;
  sio_recovery_cb cb;
  void *ctx;
} async_restore;

/* A session taken over from another loop: the packets of this loop's own
 * history its client had not seen (per channel, after r->seen), in the
 * order this loop delivered them, so that none is missed or doubled
 * against what this loop delivers from now on. */
static int from_history(struct nsp_recovery *rec, const sio_restored *r,
                        sio_recovered *out) {
  size_t n = 0;
  for (stored_pkt *q = rec ? rec->head : NULL; q; q = q->next) n++;
  sio_args **v = realloc(out->packets, (out->npackets + n + 1) * sizeof *v);
  if (!v) return -1;
  out->packets = v;
  for (stored_pkt *q = rec ? rec->head : NULL; q; q = q->next) {
    int unseen = q->channel < r->nseen ? q->seq > r->seen[q->channel] : 1;
    if (unseen && include_in(out->rooms, out->nrooms, q))
      out->packets[out->npackets++] = sio_args_ref(q->data);
  }
  return 0;
}

/* The adapter's restored session -> the form client_connect replays. */
static int from_adapter(sio_namespace *nsp, const sio_restored *r, sio_recovered *out) {
  memset(out, 0, sizeof *out);
  if (strlen(r->sid) >= sizeof out->sid || strlen(r->pid) >= sizeof out->pid) return -1;
  snprintf(out->sid, sizeof out->sid, "%s", r->sid);
  snprintf(out->pid, sizeof out->pid, "%s", r->pid);
  out->data = json_incref(r->data);
  out->rooms = copy_names((const char *const *)r->rooms, r->nrooms);
  out->packets = calloc(r->npackets + 1, sizeof *out->packets);
  if (!out->rooms || !out->packets) goto fail;
  out->nrooms = r->nrooms;
  for (size_t i = 0; i < r->nrooms; i++)
    if (!out->rooms[i]) goto fail;
  for (size_t i = 0; i < r->npackets; i++) {
    const sio_restored_packet *p = &r->packets[i];
    sio_args *a = sio_args_wrap(json_incref(p->data), p->bins, p->nbins);
    if (!a) goto fail;
    out->packets[out->npackets++] = a;
  }
  if (r->seen && from_history(nsp->rec, r, out) != 0) goto fail;
  return 0;
fail:
  sio_recovered_clear(out);
  return -1;
}

static void restored_cb(void *ctx, const sio_restored *r) {
  async_restore *x = ctx;
  sio_recovered prev;
  int ok = r && from_adapter(x->nsp, r, &prev) == 0;
  x->cb(x->ctx, x->nsp, x->auth, ok ? &prev : NULL);
  free(x);
}

int sio_recovery_restore_async(sio_namespace *nsp, json_t *auth, sio_recovery_cb cb,
                               void *ctx) {
  sio_adapter *a = nsp->adapter;
  const char *pid = json_string_value(json_object_get(auth, "pid"));
  const char *offset = json_string_value(json_object_get(auth, "offset"));
  if (!pid || !offset) return 0;
  if (!a->ops->restore_session && sio_server_workers(nsp->srv) < 2) return 0;
  async_restore *x = calloc(1, sizeof *x);
  if (!x) return 0;
  x->nsp = nsp;
  x->auth = json_incref(auth);
  x->cb = cb;
  x->ctx = ctx;
  if (a->ops->restore_session) a->ops->restore_session(a, pid, offset, restored_cb, x);
  else if (sio_group_restore(nsp, pid, offset, restored_cb, x) != 0) {
    json_decref(x->auth);
    free(x);
    return 0;
  }
  return 1;
}
