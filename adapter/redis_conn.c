#include "redis_conn.h"

#include <arpa/inet.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/dns.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "map.h"
#include "redis_reader.h"
#include "metrics.h" /* sio_m counters (socketio/metrics.c) */
#include "redis_tls.h"
#include "sio/log.h"

/* Publishes made while the connection is down wait for it (as node-redis's
 * offline queue does), up to this many bytes; past it they are dropped
 * and the log says so. Commands that want a reply fail at once instead. */
#define OFFLINE_QUEUE_MAX (8u * 1024 * 1024)
#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 5000
#define CONNECT_TIMEOUT_S 5

typedef struct pending {
  struct pending *next;
  sio_redis_reply_cb cb;
  void *ud;
} pending;

struct sio_redis {
  struct event_base *base;
  struct evdns_base *dns;
  sio_redis_url url;
  int subscriber;
  sio_redis_message_cb on_message;
  sio_redis_state_cb on_state;
  sio_redis_push_cb on_push;
  void *ud;
  struct bufferevent *bev;
  redisReader *reader;
  int connected;
  pending *head, *tail;
  sio_map subs[3];        /* SUBSCRIBE, PSUBSCRIBE, SSUBSCRIBE: channel sets */
  struct event *retry;
  unsigned backoff_ms;
  int logged_down;
  struct evbuffer *offline;  /* formatted commands waiting for a connection */
  size_t offline_count;
  size_t dropped;
  int tls_up;              /* the bufferevent is the TLS filter */
  char tls_err[256];       /* why the TLS handshake failed */
  char last_err[256];      /* the last reason given to on_error */
};

static const char *const sub_kinds[3] = {"SUBSCRIBE", "PSUBSCRIBE", "SSUBSCRIBE"};

int sio_redis_parse_url(const char *url, sio_redis_url *u) {
  memset(u, 0, sizeof *u);
  u->port = 6379;
  const char *p = url;
  if (!strncmp(p, "redis://", 8)) p += 8;
  else if (!strncmp(p, "rediss://", 9)) p += 9, u->tls = 1;
  else return -1;
  const char *at = strrchr(p, '@');
  if (at) {
    const char *colon = memchr(p, ':', (size_t)(at - p));
    if (colon) {
      snprintf(u->user, sizeof u->user, "%.*s", (int)(colon - p), p);
      snprintf(u->password, sizeof u->password, "%.*s", (int)(at - colon - 1), colon + 1);
    } else {
      snprintf(u->password, sizeof u->password, "%.*s", (int)(at - p), p);
    }
    p = at + 1;
  }
  const char *slash = strchr(p, '/');
  size_t hl = slash ? (size_t)(slash - p) : strlen(p);
  const char *colon = memrchr(p, ':', hl);
  if (p[0] == '[') { /* [ipv6]:port */
    const char *close = memchr(p, ']', hl);
    if (!close) return -1;
    snprintf(u->host, sizeof u->host, "%.*s", (int)(close - p - 1), p + 1);
    colon = close[1] == ':' ? close + 1 : NULL;
  } else {
    snprintf(u->host, sizeof u->host, "%.*s", (int)(colon ? (size_t)(colon - p) : hl), p);
  }
  if (colon) {
    char *end;
    long port = strtol(colon + 1, &end, 10);
    if (port <= 0 || port > 65535) return -1;
    u->port = (int)port;
  }
  if (slash && slash[1]) u->db = atoi(slash + 1);
  return u->host[0] ? 0 : -1;
}

static void connect_now(sio_redis *r);

static void fail_pending(sio_redis *r) {
  while (r->head) {
    pending *p = r->head;
    r->head = p->next;
    if (!r->head) r->tail = NULL;
    if (p->cb) p->cb(NULL, p->ud);
    free(p);
  }
}

static void schedule_retry(sio_redis *r) {
  struct timeval tv = {r->backoff_ms / 1000, (r->backoff_ms % 1000) * 1000};
  evtimer_add(r->retry, &tv);
  r->backoff_ms = r->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : r->backoff_ms * 2;
}

static void drop(sio_redis *r, const char *why) {
  int was = r->connected;
  char reason[256];
  snprintf(reason, sizeof reason, "%s", r->tls_err[0] ? r->tls_err : why);
  r->tls_err[0] = 0;
  why = reason;
  if (r->url.on_error && strcmp(why, r->last_err)) {
    snprintf(r->last_err, sizeof r->last_err, "%s", why);
    r->url.on_error(r->url.error_user_data, why);
  }
  r->tls_up = 0;
  if (r->bev) {
    bufferevent_free(r->bev);
    r->bev = NULL;
  }
  if (r->reader) {
    sio_rreader_free(r->reader);
    r->reader = NULL;
  }
  r->connected = 0;
  if (was || !r->logged_down) {
    sio_log(SIO_LOG_WARN, "sio:redis", "%s:%d %s: %s; reconnecting with backoff",
            r->url.host, r->url.port, r->subscriber ? "(subscriber)" : "", why);
    r->logged_down = 1;
  }
  fail_pending(r);
  if (was) SIO_M_ADD(sio_m.redis_reconnects, 1);
  schedule_retry(r);
  if (r->on_state) r->on_state(r->ud, 0);
}

static void send_argv(sio_redis *r, int argc, const char **argv, const size_t *lens) {
  char *cmd;
  int n = redisFormatCommandArgv(&cmd, argc, argv, lens);
  if (n < 0) return;
  bufferevent_write(r->bev, cmd, (size_t)n);
  redisFreeCommand(cmd);
}

static void push_pending(sio_redis *r, sio_redis_reply_cb cb, void *ud) {
  pending *p = calloc(1, sizeof *p);
  if (!p) return;
  p->cb = cb;
  p->ud = ud;
  if (r->tail) r->tail->next = p;
  else r->head = p;
  r->tail = p;
}

void sio_redis_command(sio_redis *r, sio_redis_reply_cb cb, void *ud, int argc,
                       const char **argv, const size_t *lens) {
  if (r && !r->connected && !cb && r->offline) {
    char *cmd;
    int n = redisFormatCommandArgv(&cmd, argc, argv, lens);
    if (n < 0) return;
    if (evbuffer_get_length(r->offline) + (size_t)n <= OFFLINE_QUEUE_MAX) {
      evbuffer_add(r->offline, cmd, (size_t)n);
      r->offline_count++;
    } else if (r->dropped++ == 0) {
      sio_log(SIO_LOG_WARN, "sio:redis", "%s:%d is away and %u bytes are queued: dropping "
              "further publishes until it is back", r->url.host, r->url.port, OFFLINE_QUEUE_MAX);
    }
    redisFreeCommand(cmd);
    return;
  }
  if (!r || !r->connected) {
    if (cb) cb(NULL, ud);
    return;
  }
  push_pending(r, cb, ud);
  send_argv(r, argc, argv, lens);
}

static int kind_index(const char *kind) {
  const char *k = !strncmp(kind, "UN", 2) ? kind + 2 : kind;
  for (int i = 0; i < 3; i++)
    if (!strcmp(k, sub_kinds[i]) ||
        (i == 2 && !strcmp(kind, "SUNSUBSCRIBE")))
      return i;
  return -1;
}

void sio_redis_subscribe(sio_redis *r, const char *kind, const char *channel) {
  if (!r) return;
  int k = kind_index(kind);
  if (k < 0 || sio_map_put(&r->subs[k], channel, NULL) != 1) return;
  if (r->connected) {
    const char *argv[2] = {kind, channel};
    send_argv(r, 2, argv, NULL);
  }
}

void sio_redis_unsubscribe(sio_redis *r, const char *kind, const char *channel) {
  static const char *const un[3] = {"UNSUBSCRIBE", "PUNSUBSCRIBE", "SUNSUBSCRIBE"};
  if (!r) return;
  int k = kind_index(kind);
  if (k < 0 || !sio_map_has(&r->subs[k], channel)) return;
  sio_map_del(&r->subs[k], channel);
  if (r->connected) {
    const char *argv[2] = {un[k], channel};
    send_argv(r, 2, argv, NULL);
  }
}

/* A reply on a subscriber connection: a message or a confirmation. */
static void sub_reply(sio_redis *r, redisReply *rep) {
  if (r->on_push && (rep->type != REDIS_REPLY_ARRAY || rep->elements < 1 ||
                     rep->element[0]->type != REDIS_REPLY_STRING ||
                     (strcmp(rep->element[0]->str, "message") &&
                      strcmp(rep->element[0]->str, "smessage") &&
                      strcmp(rep->element[0]->str, "pmessage")))) {
    r->on_push(r->ud, rep);
    return;
  }
  if (rep->type != REDIS_REPLY_ARRAY || rep->elements < 3) return;
  redisReply **e = rep->element;
  if (e[0]->type != REDIS_REPLY_STRING) return;
  const char *kind = e[0]->str;
  if ((!strcmp(kind, "message") || !strcmp(kind, "smessage")) && rep->elements == 3 &&
      e[1]->type == REDIS_REPLY_STRING && e[2]->type == REDIS_REPLY_STRING) {
    r->on_message(r->ud, NULL, e[1]->str, e[1]->len, e[2]->str, e[2]->len);
  } else if (!strcmp(kind, "pmessage") && rep->elements == 4 &&
             e[1]->type == REDIS_REPLY_STRING && e[2]->type == REDIS_REPLY_STRING &&
             e[3]->type == REDIS_REPLY_STRING) {
    r->on_message(r->ud, e[1]->str, e[2]->str, e[2]->len, e[3]->str, e[3]->len);
  }
}

static void read_cb(struct bufferevent *bev, void *arg) {
  sio_redis *r = arg;
  struct evbuffer *in = bufferevent_get_input(bev);
  size_t n = evbuffer_get_length(in);
  const char *p = (const char *)evbuffer_pullup(in, (ev_ssize_t)n);
  if (redisReaderFeed(r->reader, p, n) != REDIS_OK) {
    drop(r, "reader error");
    return;
  }
  evbuffer_drain(in, n);
  for (;;) {
    void *reply = NULL;
    if (redisReaderGetReply(r->reader, &reply) != REDIS_OK) {
      drop(r, "protocol error");
      return;
    }
    if (!reply) return;
    redisReply *rep = reply;
    if (r->head) {
      /* a command's reply (AUTH/SELECT on subscriber connections too) */
      pending *pd = r->head;
      r->head = pd->next;
      if (!r->head) r->tail = NULL;
      if (pd->cb) pd->cb(rep, pd->ud);
      free(pd);
    } else if (r->subscriber) {
      sub_reply(r, rep);
    }
    freeReplyObject(rep);
    if (!r->bev) return; /* dropped inside a callback */
  }
}

static void ready(sio_redis *r) {
  r->connected = 1;
  r->backoff_ms = BACKOFF_MIN_MS;
  if (r->offline && r->offline_count) {
    /* fire-and-forget commands queued while away: one reply each, no
     * callback, ahead of anything sent from now on */
    sio_log(SIO_LOG_INFO, "sio:redis", "%s:%d: sending %zu queued publishes", r->url.host,
            r->url.port, r->offline_count);
    for (size_t i = 0; i < r->offline_count; i++) push_pending(r, NULL, NULL);
    bufferevent_write_buffer(r->bev, r->offline);
    r->offline_count = 0;
    r->dropped = 0;
  }
  if (r->logged_down)
    sio_log(SIO_LOG_INFO, "sio:redis", "%s:%d connected%s", r->url.host, r->url.port,
            r->subscriber ? " (subscriber)" : "");
  r->logged_down = 0;
  for (int k = 0; k < 3; k++) {
    size_t it;
    for (sio_map_entry *e = sio_map_first(&r->subs[k], &it); e;
         e = sio_map_next(&r->subs[k], e, &it)) {
      const char *argv[2] = {sub_kinds[k], e->key};
      send_argv(r, 2, argv, NULL);
    }
  }
  if (r->on_state) r->on_state(r->ud, 1);
}

static void auth_reply(redisReply *rep, void *ud) {
  sio_redis *r = ud;
  if (!rep && !r->bev) return; /* closed or freed meanwhile: said elsewhere */
  if (!rep || rep->type == REDIS_REPLY_ERROR) {
    sio_log(SIO_LOG_ERROR, "sio:redis", "%s:%d refused AUTH/SELECT: %s", r->url.host,
            r->url.port, rep ? rep->str : "connection lost");
    if (r->bev) drop(r, "authentication failed");
  }
}

static void select_done(redisReply *rep, void *ud) {
  sio_redis *r = ud;
  auth_reply(rep, ud);
  if (rep && rep->type != REDIS_REPLY_ERROR && r->bev) ready(r);
}

static void event_cb(struct bufferevent *bev, short what, void *arg) {
  (void)bev;
  sio_redis *r = arg;
  if (what & BEV_EVENT_CONNECTED) {
    bufferevent_set_timeouts(r->bev, NULL, NULL);
    if (r->url.tls_ctx && !r->tls_up) { /* TCP is up: TLS next, then this again */
      r->tls_up = 1;
      r->bev = sio_redis_tls_wrap(r->url.tls_ctx, r->bev, r->url.host, r->tls_err,
                                  sizeof r->tls_err);
      if (!r->bev) {
        drop(r, "out of memory");
        return;
      }
      bufferevent_setcb(r->bev, read_cb, NULL, event_cb, r);
      bufferevent_enable(r->bev, EV_READ | EV_WRITE);
      struct timeval tv = {CONNECT_TIMEOUT_S, 0};
      bufferevent_set_timeouts(r->bev, &tv, NULL);
      return;
    }
    r->last_err[0] = 0;
    /* AUTH (when a password is given) and SELECT go first; the
     * connection is ready once SELECT has answered. */
    if (r->url.password[0]) {
      const char *argv[3] = {"AUTH", r->url.user[0] ? r->url.user : r->url.password,
                             r->url.password};
      push_pending(r, auth_reply, r);
      send_argv(r, r->url.user[0] ? 3 : 2, argv, NULL);
    }
    char db[16];
    snprintf(db, sizeof db, "%d", r->url.db);
    const char *sel[2] = {"SELECT", db};
    push_pending(r, select_done, r);
    send_argv(r, 2, sel, NULL);
    return;
  }
  if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR | BEV_EVENT_TIMEOUT))
    drop(r, (what & BEV_EVENT_TIMEOUT) ? "connect timeout"
            : (what & BEV_EVENT_EOF)   ? "connection closed"
                                       : "connection error");
}

static void connect_now(sio_redis *r) {
  r->reader = sio_rreader_new();
  r->bev = bufferevent_socket_new(r->base, -1, BEV_OPT_CLOSE_ON_FREE);
  if (!r->reader || !r->bev) {
    drop(r, "out of memory");
    return;
  }
  bufferevent_setcb(r->bev, read_cb, NULL, event_cb, r);
  bufferevent_enable(r->bev, EV_READ | EV_WRITE);
  struct timeval tv = {CONNECT_TIMEOUT_S, 0};
  bufferevent_set_timeouts(r->bev, NULL, &tv);
  if (bufferevent_socket_connect_hostname(r->bev, r->dns, AF_UNSPEC, r->url.host,
                                          r->url.port) != 0)
    drop(r, "cannot start connecting");
}

static void retry_cb(evutil_socket_t fd, short w, void *arg) {
  (void)fd;
  (void)w;
  connect_now(arg);
}

sio_redis *sio_redis_new(struct event_base *base, const sio_redis_url *url,
                         int subscriber, sio_redis_message_cb on_message,
                         sio_redis_state_cb on_state, void *ud) {
  sio_redis *r = calloc(1, sizeof *r);
  if (!r) return NULL;
  r->base = base;
  r->url = *url;
  r->subscriber = subscriber;
  r->on_message = on_message;
  r->on_state = on_state;
  r->ud = ud;
  r->backoff_ms = BACKOFF_MIN_MS;
  if (r->url.tls_ctx) sio_redis_tls_ref(r->url.tls_ctx);
  for (int k = 0; k < 3; k++) sio_map_init(&r->subs[k]);
  r->dns = evdns_base_new(base, EVDNS_BASE_INITIALIZE_NAMESERVERS |
                                    EVDNS_BASE_DISABLE_WHEN_INACTIVE);
  if (!r->dns) r->dns = evdns_base_new(base, EVDNS_BASE_DISABLE_WHEN_INACTIVE);
  r->retry = evtimer_new(base, retry_cb, r);
  if (!subscriber) r->offline = evbuffer_new();
  if (!r->dns || !r->retry || (!subscriber && !r->offline)) {
    sio_redis_free(r);
    return NULL;
  }
  connect_now(r);
  return r;
}

void sio_redis_on_push(sio_redis *r, sio_redis_push_cb cb) { r->on_push = cb; }

void sio_redis_send_nowait(sio_redis *r, int argc, const char **argv) {
  if (r && r->connected && r->bev) send_argv(r, argc, argv, NULL);
}

void sio_redis_drop(sio_redis *r, const char *why) {
  if (r && r->bev) drop(r, why);
}

int sio_redis_connected(const sio_redis *r) { return r && r->connected && r->bev; }

void sio_redis_free(sio_redis *r) {
  if (!r) return;
  if (r->bev) bufferevent_free(r->bev);
  r->bev = NULL;
  if (r->reader) sio_rreader_free(r->reader);
  r->connected = 0;
  fail_pending(r);
  if (r->retry) event_free(r->retry);
  if (r->dns) evdns_base_free(r->dns, 0);
  if (r->offline) evbuffer_free(r->offline);
  sio_redis_tls_unref(r->url.tls_ctx);
  for (int k = 0; k < 3; k++) sio_map_clear(&r->subs[k]);
  free(r);
}
