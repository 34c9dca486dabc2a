#include "redis_cluster.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "map.h"
#include "sio/redis.h" /* SIO_REDIS_MODE_* */
#include "redis_place.h"
#include "redis_slot.h"
#include "redis_topology.h"
#include "sio/log.h"

#define QUEUE_MAX (8u * 1024 * 1024)
#define MAX_REDIRECTS 5
#define REFRESH_MIN_GAP_MS 100
#define RETRY_MS 500
#define TICK_MS 500
#define PING_EVERY_MS 1000
/* After slots change owner, queued publishes wait this long before going
 * out, so that the other servers (which refresh every RETRY_MS while a
 * subscription is homeless) are subscribed at the new owner: none is lost. */
#define RESUB_GRACE_MS 1000
/* A node that pushed an unsolicited sunsubscribe for a channel is not
 * taken as the owner of its slot again for this long: a topology that
 * still says so was read from a node that had not heard of the change. */
#define LEFT_MS 3000
/* the subscription state machine, step by step: DEBUG=sio:cluster */
#define TRACE(...) sio_log(SIO_LOG_DEBUG, "sio:cluster", __VA_ARGS__)

enum { K_SUB, K_PSUB, K_SSUB };
static const char *const sub_cmd[3] = {"SUBSCRIBE", "PSUBSCRIBE", "SSUBSCRIBE"};

typedef struct rc_node rc_node;

/* user_data of a node's two sio_redis connections */
typedef struct rc_link {
  rc_node *node;
  int is_sub;
} rc_link;

/* A command with a reply timeout. Sent: owned by the connection's pending
 * list (its reply callback frees it). Waiting for the connection: owned by
 * the node's wait list. */
typedef struct rc_cmd {
  struct rc_cmd *next;
  rc_node *node;
  struct event *timer;
  sio_redis_reply_cb cb;
  void *ud;
  int done;
  int argc;
  char **argv;
  size_t *lens;
} rc_cmd;

struct rc_node {
  rc_node *next;
  sio_rc *c;
  char host[256];
  int port;
  int listed;     /* in the last topology (or a seed / a MOVED target) */
  int master;
  int down;       /* its last connection or attempt failed or timed out */
  int drop_cmd, drop_sub; /* close at the next reconcile (timeouts) */
  sio_redis *cmd, *sub;
  rc_link cmd_link, sub_link;
  rc_cmd *wait;   /* commands waiting for cmd to connect */
  sio_map unsub_pending; /* channel -> outstanding SUNSUBSCRIBE count */
  size_t nsubs;
  uint64_t ping_sent, cmd_ping_sent;
  int ping_out, cmd_ping_out;
  unsigned asked; /* refresh generation that asked it */
};

typedef struct rc_sub {
  int kind;
  char *channel;
  unsigned slot;
  rc_node *node; /* where it is subscribed; NULL: homeless */
  int was_placed;
  int confirmed;     /* the node answered the subscribe */
  uint64_t retry_at; /* refused (CLUSTERDOWN, TRYAGAIN...): not before then */
  rc_node *left;     /* pushed an unsolicited sunsubscribe for it (LEFT_MS)... */
  uint64_t left_until; /* ...until then */
} rc_sub;

typedef struct rc_pub {
  struct rc_pub *next;
  char cmd[12];
  char *channel;
  char *payload;
  size_t len;
  unsigned slot;
  int sharded;
  int redirects;
  uint64_t deadline; /* 0: none */
  sio_rc *c;
  int asking; /* send ASKING first on node */
  rc_node *ask_node;
  rc_node *sent_to; /* SPUBLISH written there, waiting for the reply */
  int resent;       /* sent again once already (lost_on_demoted) */
} rc_pub;

struct sio_rc {
  struct event_base *base;
  int mode;
  int closing;
  sio_redis_url *seeds;
  size_t n_seeds;
  unsigned node_timeout_ms, refresh_interval_ms, deadline_ms;
  sio_redis_message_cb on_message;
  void *ud;
  /* single node */
  sio_redis *pub, *subc;
  /* cluster */
  rc_node *nodes;
  rc_node *owner[SIO_REDIS_SLOTS];
  rc_node *home; /* classic subscriptions */
  sio_map subs;  /* kind letter + channel -> rc_sub */
  rc_pub *q_head, *q_tail;
  size_t q_bytes;
  int refreshing, refresh_again, have_topology;
  uint64_t last_refresh;
  rc_node *refresh_node;
  rc_node *refresh_prefer; /* ask it first: it just told of a change */
  unsigned refresh_gen;
  struct event *reconcile_ev, *refresh_ev, *tick_ev;
  sio_rc_stats stats;
  uint64_t last_periodic;
  int dropped_logged;
  int resent_logged; /* since the queue was last empty */
  char topo_err[512]; /* why the last refresh found no usable topology */
  int topo_warned;
  size_t episode_queued, episode_dropped; /* since the queue was last empty */
  uint64_t hold_until; /* queued publishes wait until then (RESUB_GRACE_MS) */
};

static uint64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void schedule_reconcile(sio_rc *c) {
  if (!c->closing) event_active(c->reconcile_ev, EV_TIMEOUT, 0);
}

static void refresh_soon(sio_rc *c, unsigned ms) {
  if (c->closing) return;
  if (c->refreshing) {
    c->refresh_again = 1;
    return;
  }
  struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
  /* an earlier pending refresh stays */
  if (evtimer_pending(c->refresh_ev, NULL) && ms) return;
  evtimer_add(c->refresh_ev, &tv);
}

/* --------------------------------------------------------------- nodes */

static rc_node *find_node(sio_rc *c, const char *host, int port) {
  for (rc_node *n = c->nodes; n; n = n->next)
    if (n->port == port && !strcmp(n->host, host)) return n;
  return NULL;
}

static void on_node_state(void *ud, int connected);
static void on_sub_push(void *ud, redisReply *rep);

static sio_redis_url node_url(sio_rc *c, const rc_node *n) {
  sio_redis_url u = c->seeds[0];
  snprintf(u.host, sizeof u.host, "%s", n->host);
  u.port = n->port;
  u.db = 0; /* a cluster has database 0 only */
  return u;
}

static void ensure_cmd(rc_node *n) {
  if (n->cmd) return;
  sio_redis_url u = node_url(n->c, n);
  n->cmd = sio_redis_new(n->c->base, &u, 0, NULL, on_node_state, &n->cmd_link);
}

static void node_message(void *ud, const char *pattern, const char *channel, size_t chlen,
                         const char *payload, size_t len) {
  sio_rc *c = ((rc_link *)ud)->node->c;
  c->on_message(c->ud, pattern, channel, chlen, payload, len);
}

static void ensure_sub(rc_node *n) {
  if (n->sub) return;
  sio_redis_url u = node_url(n->c, n);
  n->sub = sio_redis_new(n->c->base, &u, 1, node_message, on_node_state, &n->sub_link);
  if (n->sub) sio_redis_on_push(n->sub, on_sub_push);
}

static rc_node *add_node(sio_rc *c, const char *host, int port) {
  rc_node *n = find_node(c, host, port);
  if (n) return n;
  n = calloc(1, sizeof *n);
  if (!n) return NULL;
  n->c = c;
  snprintf(n->host, sizeof n->host, "%s", host);
  n->port = port;
  n->cmd_link.node = n;
  n->sub_link.node = n;
  n->sub_link.is_sub = 1;
  sio_map_init(&n->unsub_pending);
  n->next = c->nodes;
  c->nodes = n;
  return n;
}

static void cmd_free(rc_cmd *x) {
  if (x->timer) event_free(x->timer);
  for (int i = 0; i < x->argc; i++) free(x->argv[i]);
  free(x->argv);
  free(x->lens);
  free(x);
}

static void fail_waiting(rc_node *n) {
  while (n->wait) {
    rc_cmd *x = n->wait;
    n->wait = x->next;
    if (!x->done && x->cb) x->cb(NULL, x->ud);
    cmd_free(x);
  }
}

static void node_free(sio_rc *c, rc_node *n) {
  for (rc_node **pp = &c->nodes; *pp; pp = &(*pp)->next)
    if (*pp == n) {
      *pp = n->next;
      break;
    }
  for (size_t s = 0; s < SIO_REDIS_SLOTS; s++)
    if (c->owner[s] == n) c->owner[s] = NULL;
  if (c->home == n) c->home = NULL;
  if (c->refresh_node == n) c->refresh_node = NULL;
  if (c->refresh_prefer == n) c->refresh_prefer = NULL;
  size_t it;
  for (sio_map_entry *e = sio_map_first(&c->subs, &it); e; e = sio_map_next(&c->subs, e, &it))
    if (((rc_sub *)e->value)->left == n) ((rc_sub *)e->value)->left = NULL;
  for (rc_pub *p = c->q_head; p; p = p->next) {
    if (p->ask_node == n) p->ask_node = NULL;
    if (p->sent_to == n) p->sent_to = NULL;
  }
  fail_waiting(n);
  sio_redis_free(n->cmd);
  sio_redis_free(n->sub);
  sio_map_clear(&n->unsub_pending);
  free(n);
}

/* A connection of a node changed state (inside sio_redis: only marks). */
static void on_node_state(void *ud, int connected) {
  rc_link *l = ud;
  rc_node *n = l->node;
  sio_rc *c = n->c;
  TRACE("%s:%d %s connection %s (down %d)", n->host, n->port, l->is_sub ? "pub/sub" : "command",
        connected ? "up" : "lost", n->down);
  if (connected) {
    if (!c->have_topology) refresh_soon(c, 0);
    if (n->down)
      sio_log(SIO_LOG_INFO, "sio:redis", "cluster node %s:%d is reachable again", n->host,
              n->port);
    n->down = 0;
  } else {
    if (!n->down)
      sio_log(SIO_LOG_WARN, "sio:redis", "cluster node %s:%d: %s connection lost or refused",
              n->host, n->port, l->is_sub ? "pub/sub" : "command");
    n->down = 1;
    snprintf(c->topo_err, sizeof c->topo_err, "%s:%d: connection refused or lost", n->host,
             n->port);
    if (l->is_sub) {
      n->ping_out = 0;
      /* the answers to SUNSUBSCRIBEs written on it will never come: left
       * counted, they would swallow a later push for the same channel */
      sio_map_clear(&n->unsub_pending);
    } else {
      n->cmd_ping_out = 0;
    }
    refresh_soon(c, 0);
  }
  schedule_reconcile(c);
}

/* ------------------------------------------------------------ commands */

static void cmd_reply(redisReply *rep, void *ud) {
  rc_cmd *x = ud;
  if (!x->done) {
    x->done = 1;
    if (x->cb) x->cb(rep, x->ud);
  }
  cmd_free(x);
}

static void cmd_timeout(evutil_socket_t fd, short w, void *arg) {
  (void)fd;
  (void)w;
  rc_cmd *x = arg;
  rc_node *n = x->node;
  if (x->done) return;
  x->done = 1;
  sio_log(SIO_LOG_WARN, "sio:redis", "cluster node %s:%d did not answer %s within %u ms",
          n->host, n->port, x->argc ? x->argv[0] : "a command", n->c->node_timeout_ms);
  if (x->cb) x->cb(NULL, x->ud);
  /* freed later: waiting ones by the wait list, sent ones when the
   * connection lets go of them (never inside this timer's callback) */
  int waiting = 0;
  for (rc_cmd *q = n->wait; q; q = q->next) waiting |= q == x;
  if (!waiting) {
    n->drop_cmd = 1;
    n->down = 1;
    refresh_soon(n->c, 0);
  }
  schedule_reconcile(n->c);
}

/* Sends argv to node n with the reply timeout; cb gets NULL when n is
 * down, does not answer in time, or the connection goes. */
static void node_command(rc_node *n, sio_redis_reply_cb cb, void *ud, int argc,
                         const char **argv, const size_t *lens) {
  sio_rc *c = n->c;
  if (n->down || c->closing) {
    if (cb) cb(NULL, ud);
    return;
  }
  ensure_cmd(n);
  rc_cmd *x = calloc(1, sizeof *x);
  if (!x) {
    if (cb) cb(NULL, ud);
    return;
  }
  x->node = n;
  x->cb = cb;
  x->ud = ud;
  x->timer = evtimer_new(c->base, cmd_timeout, x);
  struct timeval tv = {c->node_timeout_ms / 1000, (c->node_timeout_ms % 1000) * 1000};
  if (!x->timer) {
    free(x);
    if (cb) cb(NULL, ud);
    return;
  }
  if (sio_redis_connected(n->cmd)) {
    evtimer_add(x->timer, &tv);
    sio_redis_command(n->cmd, cmd_reply, x, argc, argv, lens);
    return;
  }
  /* connecting: wait for it (with the same timeout) */
  x->argc = argc;
  x->argv = calloc((size_t)argc, sizeof *x->argv);
  x->lens = calloc((size_t)argc, sizeof *x->lens);
  for (int i = 0; x->argv && x->lens && i < argc; i++) {
    x->lens[i] = lens ? lens[i] : strlen(argv[i]);
    x->argv[i] = malloc(x->lens[i] + 1);
    if (x->argv[i]) {
      memcpy(x->argv[i], argv[i], x->lens[i]);
      x->argv[i][x->lens[i]] = '\0';
    }
  }
  evtimer_add(x->timer, &tv);
  x->next = n->wait;
  n->wait = x;
}

static void flush_waiting(rc_node *n) {
  if (!sio_redis_connected(n->cmd)) return;
  rc_cmd *list = NULL;
  while (n->wait) { /* reverse into sending order */
    rc_cmd *x = n->wait;
    n->wait = x->next;
    x->next = list;
    list = x;
  }
  while (list) {
    rc_cmd *x = list;
    list = x->next;
    x->next = NULL;
    if (x->done) { /* timed out while waiting */
      cmd_free(x);
      continue;
    }
    int ok = x->argv && x->lens;
    for (int i = 0; ok && i < x->argc; i++) ok = x->argv[i] != NULL;
    if (!ok) {
      x->done = 1;
      if (x->cb) x->cb(NULL, x->ud);
      cmd_free(x);
      continue;
    }
    sio_redis_command(n->cmd, cmd_reply, x, x->argc, (const char **)x->argv, x->lens);
  }
}

/* ------------------------------------------------------------ topology */

static void apply_topology(sio_rc *c, sio_rtopo *t) {
  size_t changed = 0, added = 0;
  for (rc_node *n = c->nodes; n; n = n->next) n->listed = 0;
  rc_node **idx = calloc(t->n + 1, sizeof *idx);
  if (!idx) return;
  for (size_t i = 0; i < t->n; i++) {
    rc_node *n = find_node(c, t->nodes[i].host, t->nodes[i].port);
    if (!n) {
      n = add_node(c, t->nodes[i].host, t->nodes[i].port);
      if (n) added++;
    }
    if (!n) continue;
    if (c->have_topology && n->master != t->nodes[i].master)
      sio_log(SIO_LOG_INFO, "sio:redis", "cluster node %s:%d is now a %s", n->host, n->port,
              t->nodes[i].master ? "master" : "replica");
    n->listed = 1;
    n->master = t->nodes[i].master;
    idx[i] = n;
    ensure_cmd(n); /* counts ask every node */
  }
  for (size_t s = 0; s < SIO_REDIS_SLOTS; s++) {
    rc_node *o = t->owner[s] >= 0 ? idx[t->owner[s]] : NULL;
    if (o != c->owner[s]) {
      changed++;
      if (c->have_topology) c->hold_until = now_ms() + RESUB_GRACE_MS;
    }
    c->owner[s] = o;
  }
  free(idx);
  for (rc_node *n = c->nodes; n; n = n->next)
    TRACE("topology from %s:%d: %s:%d %s%s%s", c->refresh_node ? c->refresh_node->host : "?",
          c->refresh_node ? c->refresh_node->port : 0, n->host, n->port,
          n->listed ? (n->master ? "master" : "replica") : "not listed", n->down ? " down" : "",
          n->sub ? " (pub/sub)" : "");
  if (c->topo_warned)
    sio_log(SIO_LOG_INFO, "sio:redis", "cluster topology complete again");
  c->topo_warned = 0;
  c->topo_err[0] = '\0';
  if (!c->have_topology || changed || added)
    sio_log(c->have_topology ? SIO_LOG_INFO : SIO_LOG_DEBUG, "sio:redis",
            "cluster topology: %zu nodes (%zu new), %zu slots changed owner", t->n, added,
            changed);
  c->have_topology = 1;
  if (c->mode == SIO_RC_DETECT) c->mode = SIO_RC_CLUSTER;
}

static void refresh_next(sio_rc *c);

static void refused(sio_rc *c, const rc_node *n, const char *why) {
  snprintf(c->topo_err, sizeof c->topo_err, "%s:%d: %s", n->host, n->port, why);
  sio_log(SIO_LOG_DEBUG, "sio:redis", "cluster topology from %s", c->topo_err);
}

static void refresh_done(sio_rc *c, int ok) {
  c->refreshing = 0;
  c->refresh_node = NULL;
  c->last_refresh = now_ms();
  if (!ok) {
    /* (at startup the seeds are still connecting: nothing to say yet) */
    if (c->topo_err[0] && !c->topo_warned++)
      sio_log(SIO_LOG_WARN, "sio:redis", "no usable cluster topology (%s): asking again every "
              "%d ms", c->topo_err, RETRY_MS);
    refresh_soon(c, RETRY_MS);
  } else if (c->refresh_again) {
    c->refresh_again = 0;
    refresh_soon(c, REFRESH_MIN_GAP_MS);
  }
  schedule_reconcile(c);
}

static void topo_reply(redisReply *rep, void *ud);

/* The end of a CLUSTER SHARDS or SLOTS reply from n: parsed into t (ok),
 * it is applied; else (err says why) the next node is asked. */
static void topo_parsed(sio_rc *c, rc_node *n, int ok, sio_rtopo *t, const redisReply *rep,
                        const char *err) {
  if (ok) {
    apply_topology(c, t);
    sio_rtopo_clear(t);
    refresh_done(c, 1);
    return;
  }
  if (n) refused(c, n, rep ? err : "no answer");
  refresh_next(c);
}

static void slots_reply(redisReply *rep, void *ud) {
  sio_rc *c = ud;
  rc_node *n = c->refresh_node;
  static sio_rtopo t; /* 32 KiB; the loop is single-threaded */
  char err[160] = "";
  if (c->closing) return;
  topo_parsed(c, n, n && sio_rtopo_from_slots(rep, n->host, &t, err, sizeof err) == 0, &t,
              rep, err);
}

static void topo_reply(redisReply *rep, void *ud) {
  sio_rc *c = ud;
  rc_node *n = c->refresh_node;
  static sio_rtopo t;
  char err[160] = "";
  if (c->closing) return;
  if (rep && rep->type == REDIS_REPLY_ERROR && strstr(rep->str, "cluster support disabled")) {
    if (c->mode == SIO_RC_DETECT) {
      sio_log(SIO_LOG_INFO, "sio:redis", "%s:%d is not a cluster: single-node mode",
              n ? n->host : "?", n ? n->port : 0);
      c->mode = SIO_RC_SINGLE;
      c->refreshing = 0;
      schedule_reconcile(c);
      return;
    }
    sio_log(SIO_LOG_ERROR, "sio:redis", "%s:%d: %s (configured as a cluster)",
            n ? n->host : "?", n ? n->port : 0, rep->str);
    refresh_next(c);
    return;
  }
  if (rep && rep->type == REDIS_REPLY_ERROR && n) { /* before 7.0: CLUSTER SLOTS */
    const char *argv[2] = {"CLUSTER", "SLOTS"};
    node_command(n, slots_reply, c, 2, argv, NULL);
    return;
  }
  topo_parsed(c, n, n && sio_rtopo_from_shards(rep, n->host, c->seeds[0].tls, &t, err,
                                               sizeof err) == 0,
              &t, rep, err);
}

/* Asks the next usable node that has not been asked in this refresh. */
static void refresh_next(sio_rc *c) {
  rc_node *pick = NULL;
  size_t seen = 0;
  unsigned r = 0;
  if (getrandom(&r, sizeof r, 0) != (ssize_t)sizeof r) r = 0;
  for (rc_node *n = c->nodes; n; n = n->next) {
    if (n->down || !n->listed || n->asked == c->refresh_gen || !sio_redis_connected(n->cmd))
      continue;
    if (n == c->refresh_prefer) { /* it knows of the change it pushed */
      pick = n;
      break;
    }
    if (r % ++seen == 0) pick = n; /* reservoir: a random one */
  }
  c->refresh_prefer = NULL;
  if (!pick) {
    /* nothing connected: (re)connect the seeds and every listed node */
    for (size_t i = 0; i < c->n_seeds; i++) {
      rc_node *n = add_node(c, c->seeds[i].host, c->seeds[i].port);
      if (n && !n->listed) n->listed = 1;
    }
    for (rc_node *n = c->nodes; n; n = n->next)
      if (n->listed) ensure_cmd(n);
    refresh_done(c, 0);
    return;
  }
  c->refresh_node = pick;
  pick->asked = c->refresh_gen;
  TRACE("refresh %u asks %s:%d", c->refresh_gen, pick->host, pick->port);
  const char *argv[2] = {"CLUSTER", "SHARDS"};
  node_command(pick, topo_reply, c, 2, argv, NULL);
}

static void refresh_cb(evutil_socket_t fd, short w, void *arg) {
  (void)fd;
  (void)w;
  sio_rc *c = arg;
  if (c->closing || c->mode == SIO_RC_SINGLE) return;
  if (c->refreshing) {
    c->refresh_again = 1;
    return;
  }
  uint64_t t = now_ms();
  if (c->last_refresh && t - c->last_refresh < REFRESH_MIN_GAP_MS) {
    struct timeval tv = {0, REFRESH_MIN_GAP_MS * 1000};
    evtimer_add(c->refresh_ev, &tv);
    return;
  }
  c->refreshing = 1;
  c->refresh_node = NULL;
  if (++c->refresh_gen == 0) c->refresh_gen = 1;
  c->stats.refreshes++;
  refresh_next(c);
}

/* ----------------------------------------------------------- publishes */

static void pub_free(rc_pub *p) {
  free(p->channel);
  free(p->payload);
  free(p);
}

static void enqueue(sio_rc *c, rc_pub *p) {
  if (c->q_bytes + p->len > QUEUE_MAX) {
    c->stats.dropped++;
    if (!c->dropped_logged++)
      sio_log(SIO_LOG_WARN, "sio:redis", "%u bytes of publishes wait for the cluster: "
              "dropping further publishes", QUEUE_MAX);
    pub_free(p);
    return;
  }
  if (!c->q_head && !c->dropped_logged)
    sio_log(SIO_LOG_INFO, "sio:redis", "publishes wait for %s", p->sharded
            ? "the owner of their slot" : "a reachable node");
  p->next = NULL;
  if (c->q_tail) c->q_tail->next = p;
  else c->q_head = p;
  c->q_tail = p;
  c->q_bytes += p->len;
  c->stats.queued++;
  if (!p->redirects) c->episode_queued++;
}

static rc_node *classic_pub_node(sio_rc *c) {
  if (c->home && !c->home->down && sio_redis_connected(c->home->cmd)) return c->home;
  rc_node *any = NULL;
  for (rc_node *n = c->nodes; n; n = n->next) {
    if (n->down || !n->listed || !sio_redis_connected(n->cmd)) continue;
    if (n->master) return n;
    if (!any) any = n;
  }
  return any;
}

static rc_node *pub_target(sio_rc *c, rc_pub *p) {
  if (!p->sharded) return classic_pub_node(c);
  rc_node *n = p->ask_node ? p->ask_node : c->owner[p->slot];
  return n && !n->down && sio_redis_connected(n->cmd) ? n : NULL;
}

static void send_pub(sio_rc *c, rc_node *n, rc_pub *p);

/* "MOVED 3999 127.0.0.1:6381": slot and the node (added when new). */
static rc_node *redirect_node(sio_rc *c, const char *err, unsigned *slot) {
  const char *sp = strchr(err, ' ');
  if (!sp) return NULL;
  char *end;
  long s = strtol(sp + 1, &end, 10);
  if (s < 0 || s >= SIO_REDIS_SLOTS || *end != ' ') return NULL;
  const char *addr = end + 1, *colon = strrchr(addr, ':');
  if (!colon || colon == addr || (size_t)(colon - addr) >= 256) return NULL;
  long port = strtol(colon + 1, &end, 10);
  if (port <= 0 || port > 65535) return NULL;
  char host[256];
  snprintf(host, sizeof host, "%.*s", (int)(colon - addr), addr);
  if (!host[0] && c->nodes) snprintf(host, sizeof host, "%s", c->seeds[0].host);
  *slot = (unsigned)s;
  rc_node *n = add_node(c, host, (int)port);
  if (n && !n->listed) {
    n->listed = 1;
    n->master = 1;
  }
  return n;
}

static rc_sub *find_sub(sio_rc *c, int kind, const char *ch, size_t len);

/* A SPUBLISH that its node answered with 0 local receivers: did the node
 * run it after it had stopped serving the slot? A master demoted by a
 * graceful failover drops its shard subscribers (the sunsubscribe push)
 * and then still runs, as a replica of the same shard, the publishes it
 * held during the failover's pause or that were on their way: they reach
 * the shard's nodes while every subscriber is moving to the new master,
 * and nobody gets them (captured with MONITOR: the SPUBLISH ran on the
 * demoted node 2 ms before the subscribers got the push). Signs: the node
 * no longer owns the slot in the map, or the channel's own subscription
 * was on it, confirmed (it would have counted it), or was dropped by it.
 * 0 receivers there means nobody on it got the message, so sending it
 * again to the new owner duplicates nothing on that node. */
static int lost_on_demoted(sio_rc *c, const rc_pub *p) {
  const rc_node *n = p->sent_to;
  if (!n) return 0;
  if (c->owner[p->slot] != n) return 1;
  rc_sub *s = find_sub(c, K_SSUB, p->channel, strlen(p->channel));
  return s && ((s->node == n && s->confirmed) || s->left == n);
}

static void pub_reply(redisReply *rep, void *ud) {
  rc_pub *p = ud;
  sio_rc *c = p->c;
  if (rep && !c->closing && rep->type == REDIS_REPLY_INTEGER && rep->integer == 0 &&
      !p->resent && lost_on_demoted(c, p)) {
    /* once, to the new owner, after the others have resubscribed there */
    TRACE("%s to %s reached nobody on %s:%d, which no longer serves slot %u: sent again",
          p->cmd, p->channel, p->sent_to->host, p->sent_to->port, p->slot);
    if (!c->resent_logged++)
      sio_log(SIO_LOG_INFO, "sio:redis", "cluster node %s:%d ran publishes after it stopped "
              "serving their slot (demoted): they go again to the new owner",
              p->sent_to->host, p->sent_to->port);
    p->resent = 1;
    p->sent_to = NULL;
    uint64_t t = now_ms() + RESUB_GRACE_MS;
    if (c->hold_until < t) c->hold_until = t;
    enqueue(c, p);
    schedule_reconcile(c);
    return;
  }
  if (!rep || rep->type != REDIS_REPLY_ERROR || c->closing) {
    pub_free(p); /* sent (or written and lost: at most once) */
    return;
  }
  unsigned slot;
  if (!strncmp(rep->str, "MOVED ", 6) || !strncmp(rep->str, "ASK ", 4)) {
    rc_node *n = redirect_node(c, rep->str, &slot);
    c->stats.redirects++;
    if (!n || ++p->redirects > MAX_REDIRECTS) {
      sio_log(SIO_LOG_WARN, "sio:redis", "%s to %s dropped after %d redirects (%s)", p->cmd,
              p->channel, p->redirects, rep->str);
      c->stats.dropped++;
      pub_free(p);
      return;
    }
    if (rep->str[0] == 'M') {
      /* the slot changed owner (a graceful failover, a migration): the
       * other servers' subscriptions move too, give them the grace */
      if (c->owner[slot] != n) c->hold_until = now_ms() + RESUB_GRACE_MS;
      c->owner[slot] = n;
      p->ask_node = NULL;
      p->asking = 0;
      refresh_soon(c, 0);
    } else {
      p->ask_node = n;
      p->asking = 1;
    }
    rc_node *to = pub_target(c, p);
    if (to && !c->q_head && now_ms() >= c->hold_until) send_pub(c, to, p);
    else {
      if (!to) ensure_cmd(n);
      enqueue(c, p);
      schedule_reconcile(c);
    }
    return;
  }
  if (!strncmp(rep->str, "CLUSTERDOWN", 11) || !strncmp(rep->str, "TRYAGAIN", 8)) {
    if (!p->deadline) p->deadline = now_ms() + c->deadline_ms;
    enqueue(c, p);
    refresh_soon(c, 200);
    return;
  }
  sio_log(SIO_LOG_WARN, "sio:redis", "%s to %s refused: %s", p->cmd, p->channel, rep->str);
  pub_free(p);
}

static void send_pub(sio_rc *c, rc_node *n, rc_pub *p) {
  const char *argv[3] = {p->cmd, p->channel, p->payload};
  size_t lens[3] = {strlen(p->cmd), strlen(p->channel), p->len};
  if (!p->sharded) { /* no redirects for classic: fire and forget */
    sio_redis_command(n->cmd, NULL, NULL, 3, argv, lens);
    pub_free(p);
    return;
  }
  if (p->asking) {
    const char *ask[1] = {"ASKING"};
    sio_redis_command(n->cmd, NULL, NULL, 1, ask, NULL);
    p->asking = 0;
    p->ask_node = NULL;
  }
  p->sent_to = n;
  sio_redis_command(n->cmd, pub_reply, p, 3, argv, lens);
}

/* Sends what can go, in order; drops what has passed its deadline. */
static void flush_queue(sio_rc *c) {
  uint64_t t = now_ms();
  rc_pub *keep = NULL, *keep_tail = NULL;
  size_t dropped = 0;
  while (c->q_head) {
    rc_pub *p = c->q_head;
    c->q_head = p->next;
    c->q_bytes -= p->len;
    p->next = NULL;
    rc_node *n = t >= c->hold_until ? pub_target(c, p) : NULL;
    if (n) {
      send_pub(c, n, p);
    } else if (p->deadline && t > p->deadline) {
      dropped++;
      pub_free(p);
    } else {
      if (keep_tail) keep_tail->next = p;
      else keep = p;
      keep_tail = p;
      c->q_bytes += p->len;
    }
  }
  c->q_head = keep;
  c->q_tail = keep_tail;
  if (dropped) {
    c->stats.dropped += dropped;
    if (!c->episode_dropped)
      sio_log(SIO_LOG_WARN, "sio:redis", "dropping publishes whose slot has had no reachable "
              "owner for %u ms", c->deadline_ms);
    c->episode_dropped += dropped;
  }
  if (!c->q_head) {
    if (c->episode_dropped || c->episode_queued)
      sio_log(SIO_LOG_INFO, "sio:redis", "publish queue empty again: %zu publishes waited and "
              "went out, %zu were dropped", c->episode_queued - c->episode_dropped,
              c->episode_dropped);
    c->episode_dropped = c->episode_queued = 0;
    c->dropped_logged = 0;
    c->resent_logged = 0;
  }
}

void sio_rc_publish(sio_rc *c, const char *cmd, const char *channel, const char *payload,
                    size_t len) {
  if (!c || c->closing) return;
  if (c->mode == SIO_RC_SINGLE && c->pub) {
    const char *argv[3] = {cmd, channel, payload};
    size_t lens[3] = {strlen(cmd), strlen(channel), len};
    sio_redis_command(c->pub, NULL, NULL, 3, argv, lens);
    return;
  }
  rc_pub *p = calloc(1, sizeof *p);
  if (!p) return;
  p->c = c;
  snprintf(p->cmd, sizeof p->cmd, "%s", cmd);
  p->channel = strdup(channel);
  p->payload = malloc(len ? len : 1);
  if (!p->channel || !p->payload) {
    pub_free(p);
    return;
  }
  memcpy(p->payload, payload, len);
  p->len = len;
  p->sharded = cmd[0] == 'S';
  p->slot = sio_redis_keyslot(channel, strlen(channel));
  if (p->sharded) p->deadline = now_ms() + c->deadline_ms;
  rc_node *n = c->mode == SIO_RC_CLUSTER ? pub_target(c, p) : NULL;
  if (n && !c->q_head) {
    send_pub(c, n, p);
  } else {
    enqueue(c, p);
    if (n) flush_queue(c);
  }
}

/* ------------------------------------------------------- subscriptions */

static int kind_of(const char *kind) {
  const char *k = !strncmp(kind, "UN", 2) ? kind + 2 : kind;
  if (!strcmp(kind, "SUNSUBSCRIBE")) return K_SSUB;
  if (!strcmp(k, "PSUBSCRIBE") || !strcmp(kind, "PUNSUBSCRIBE")) return K_PSUB;
  if (!strcmp(k, "SSUBSCRIBE")) return K_SSUB;
  if (!strcmp(k, "SUBSCRIBE")) return K_SUB;
  return -1;
}

/* The key of a subscription in c->subs: kind digit + channel (malloc'd). */
static char *sub_key(int kind, const char *channel, size_t len) {
  char *k = malloc(len + 2);
  if (!k) return NULL;
  k[0] = (char)('0' + kind);
  memcpy(k + 1, channel, len);
  k[len + 1] = '\0';
  return k;
}

/* What sio_rc_subscribe and sio_rc_unsubscribe share: in single mode kind
 * and channel go to the one subscriber connection (single is
 * sio_redis_subscribe or sio_redis_unsubscribe) and NULL comes back; in
 * cluster mode the key of the subscription (malloc'd), *k its kind. NULL
 * also for an unknown kind or out of memory. */
static char *sub_entry(sio_rc *c, const char *kind, const char *channel, int *k,
                       void (*single)(sio_redis *, const char *, const char *)) {
  if (!c || (*k = kind_of(kind)) < 0) return NULL;
  if (c->mode == SIO_RC_SINGLE && c->subc) {
    single(c->subc, kind, channel);
    return NULL;
  }
  return sub_key(*k, channel, strlen(channel));
}

static void detach(sio_rc *c, rc_sub *s) {
  rc_node *n = s->node;
  if (!n) return;
  s->node = NULL;
  if (n->nsubs) n->nsubs--;
  if (!n->sub) return;
  if (s->kind == K_SSUB && sio_redis_connected(n->sub)) {
    intptr_t k = (intptr_t)sio_map_get(&n->unsub_pending, s->channel);
    sio_map_put(&n->unsub_pending, s->channel, (void *)(k + 1));
  }
  TRACE("%s detached from %s:%d (%s; unsub pending %d)", s->channel, n->host, n->port,
        sio_redis_connected(n->sub) ? "connected" : "not connected",
        (int)(intptr_t)sio_map_get(&n->unsub_pending, s->channel));
  sio_redis_unsubscribe(n->sub, sub_cmd[s->kind], s->channel);
  (void)c;
}

static void attach(sio_rc *c, rc_sub *s, rc_node *n) {
  ensure_sub(n);
  if (!n->sub) return;
  s->node = n;
  s->confirmed = 0;
  n->nsubs++;
  if (s->was_placed) c->stats.resubscribes++;
  s->was_placed = 1;
  TRACE("%s attached to %s:%d (%s %s, pub/sub %s)", s->channel, n->host, n->port,
        n->master ? "master" : "replica", n->down ? "down" : "up",
        sio_redis_connected(n->sub) ? "connected" : "connecting");
  sio_redis_subscribe(n->sub, sub_cmd[s->kind], s->channel);
}

void sio_rc_subscribe(sio_rc *c, const char *kind, const char *channel) {
  int k;
  char *key = sub_entry(c, kind, channel, &k, sio_redis_subscribe);
  if (!key) return;
  if (!sio_map_has(&c->subs, key)) {
    rc_sub *s = calloc(1, sizeof *s);
    if (s && (s->channel = strdup(channel))) {
      s->kind = k;
      s->slot = sio_redis_keyslot(channel, strlen(channel));
      sio_map_put(&c->subs, key, s);
      /* at once when its node is known (a room's channel should be there
       * before the next broadcast to it); else the reconciler places it */
      rc_node *target = k == K_SSUB ? c->owner[s->slot] : c->home;
      if (c->mode == SIO_RC_CLUSTER && target && !target->down && target->listed)
        attach(c, s, target);
      else
        schedule_reconcile(c);
    } else {
      free(s);
    }
  }
  free(key);
}

void sio_rc_unsubscribe(sio_rc *c, const char *kind, const char *channel) {
  int k;
  char *key = sub_entry(c, kind, channel, &k, sio_redis_unsubscribe);
  if (!key) return;
  rc_sub *s = sio_map_del(&c->subs, key);
  free(key);
  if (!s) return;
  detach(c, s);
  free(s->channel);
  free(s);
}

static rc_sub *find_sub(sio_rc *c, int kind, const char *ch, size_t len) {
  char *key = sub_key(kind, ch, len);
  if (!key) return NULL;
  rc_sub *s = sio_map_get(&c->subs, key);
  free(key);
  return s;
}

/* A non-message reply on a node's pub/sub connection. */
static void on_sub_push(void *ud, redisReply *rep) {
  rc_link *l = ud;
  rc_node *n = l->node;
  sio_rc *c = n->c;
  if (rep->type == REDIS_REPLY_STATUS && !strcmp(rep->str, "PONG")) {
    n->ping_out = 0;
    return;
  }
  if (rep->type == REDIS_REPLY_ERROR) {
    unsigned slot;
    TRACE("%s:%d pub/sub error: %s", n->host, n->port, rep->str);
    if (!strncmp(rep->str, "MOVED ", 6)) {
      rc_node *to = redirect_node(c, rep->str, &slot);
      c->stats.redirects++;
      if (to) c->owner[slot] = to;
      sio_log(SIO_LOG_INFO, "sio:redis", "cluster node %s:%d: %s", n->host, n->port, rep->str);
    } else {
      sio_log(SIO_LOG_WARN, "sio:redis", "cluster node %s:%d refused a subscription: %s",
              n->host, n->port, rep->str);
    }
    /* which channel it was is not said: re-place every channel of n that
     * moved (MOVED) or was not confirmed (other errors: retried later) */
    int moved = !strncmp(rep->str, "MOVED ", 6);
    uint64_t t = now_ms();
    size_t it;
    for (sio_map_entry *e = sio_map_first(&c->subs, &it); e; e = sio_map_next(&c->subs, e, &it)) {
      rc_sub *s = e->value;
      if (s->node != n || s->kind != K_SSUB) continue;
      if (moved && c->owner[s->slot] != n) {
        detach(c, s);
      } else if (!moved && !s->confirmed) {
        detach(c, s);
        s->retry_at = t + 200;
      }
    }
    refresh_soon(c, !strncmp(rep->str, "MOVED ", 6) ? 0 : 200);
    schedule_reconcile(c);
    return;
  }
  if (rep->type != REDIS_REPLY_ARRAY || rep->elements < 1 ||
      rep->element[0]->type != REDIS_REPLY_STRING)
    return;
  const char *kind = rep->element[0]->str;
  if (!strcmp(kind, "pong")) {
    n->ping_out = 0;
  } else if ((!strcmp(kind, "ssubscribe") || !strcmp(kind, "subscribe") ||
              !strcmp(kind, "psubscribe")) && rep->elements >= 2 &&
             rep->element[1]->type == REDIS_REPLY_STRING) {
    rc_sub *s = find_sub(c, kind[0] == 's' && kind[1] == 's' ? K_SSUB
                            : kind[0] == 'p' ? K_PSUB : K_SUB,
                         rep->element[1]->str, rep->element[1]->len);
    TRACE("%s:%d confirms %s %s (%s)", n->host, n->port, kind, rep->element[1]->str,
          !s ? "unknown" : s->node == n ? "here" : "placed elsewhere");
    if (s && s->node == n) s->confirmed = 1;
  } else if (!strcmp(kind, "sunsubscribe") && rep->elements >= 2 &&
             rep->element[1]->type == REDIS_REPLY_STRING) {
    const char *ch = rep->element[1]->str;
    intptr_t k = (intptr_t)sio_map_get(&n->unsub_pending, ch);
    TRACE("%s:%d: sunsubscribe %s (own pending %d)", n->host, n->port, ch, (int)k);
    if (k > 1) {
      sio_map_put(&n->unsub_pending, ch, (void *)(k - 1));
      return;
    }
    if (k == 1) {
      sio_map_del(&n->unsub_pending, ch);
      return;
    }
    /* pushed by the server: the slot moved (migration, failover) */
    rc_sub *s = find_sub(c, K_SSUB, ch, rep->element[1]->len);
    sio_log(SIO_LOG_INFO, "sio:redis", "cluster node %s:%d dropped the subscription to %s "
            "(slot %u moved): resubscribing at the new owner", n->host, n->port, ch,
            sio_redis_keyslot(ch, rep->element[1]->len));
    if (s && s->node == n) {
      detach(c, s);
      c->stats.rehomes++;
    }
    if (s) {
      s->left = n;
      s->left_until = now_ms() + LEFT_MS;
    }
    c->refresh_prefer = n;
    if (c->owner[sio_redis_keyslot(ch, rep->element[1]->len)] == n)
      c->owner[sio_redis_keyslot(ch, rep->element[1]->len)] = NULL;
    refresh_soon(c, 0);
    schedule_reconcile(c);
  }
}

/* --------------------------------------------------------- reconciling */

static int usable(const rc_node *n) { return n && !n->down && n->listed; }

static rc_node *pick_home(sio_rc *c) {
  rc_node *pick = NULL;
  size_t seen = 0;
  unsigned r;
  if (getrandom(&r, sizeof r, 0) != (ssize_t)sizeof r) r = 0;
  for (int masters_only = 1; masters_only >= 0 && !pick; masters_only--)
    for (rc_node *n = c->nodes; n; n = n->next)
      if (usable(n) && (n->master || !masters_only) && sio_redis_connected(n->cmd) &&
          r % ++seen == 0)
        pick = n;
  return pick;
}

/* Empties the cluster's subscriptions and publish queue, handing each to
 * the single-node connections subc and pub when given (else dropped). */
static void drain(sio_rc *c, sio_redis *subc, sio_redis *pub) {
  size_t it;
  for (sio_map_entry *e = sio_map_first(&c->subs, &it); e; e = sio_map_next(&c->subs, e, &it)) {
    rc_sub *s = e->value;
    if (subc) sio_redis_subscribe(subc, sub_cmd[s->kind], s->channel);
    free(s->channel);
    free(s);
  }
  sio_map_clear(&c->subs);
  while (c->q_head) {
    rc_pub *p = c->q_head;
    c->q_head = p->next;
    const char *argv[3] = {p->cmd, p->channel, p->payload};
    size_t lens[3] = {strlen(p->cmd), strlen(p->channel), p->len};
    if (pub) sio_redis_command(pub, NULL, NULL, 3, argv, lens);
    pub_free(p);
  }
  c->q_tail = NULL;
  c->q_bytes = 0;
}

static void go_single(sio_rc *c) {
  while (c->nodes) node_free(c, c->nodes);
  c->pub = sio_redis_new(c->base, &c->seeds[0], 0, NULL, NULL, c);
  c->subc = sio_redis_new(c->base, &c->seeds[0], 1, c->on_message, NULL, c->ud);
  drain(c, c->subc, c->pub);
}

static void reconcile_cb(evutil_socket_t fd, short w, void *arg) {
  (void)fd;
  (void)w;
  sio_rc *c = arg;
  if (c->closing) return;
  if (c->mode == SIO_RC_SINGLE) {
    if (!c->pub) go_single(c);
    return;
  }
  /* timeouts decided elsewhere take effect here, outside the callbacks */
  for (rc_node *n = c->nodes; n; n = n->next) {
    if (n->drop_cmd && n->cmd) sio_redis_drop(n->cmd, "reply timeout");
    if (n->drop_sub && n->sub) sio_redis_drop(n->sub, "PING timeout");
    n->drop_cmd = n->drop_sub = 0;
    if (n->down) fail_waiting(n);
    else flush_waiting(n);
  }
  if (!c->have_topology) return;
  int homeless = 0, stale = 0;
  size_t restored = 0;
  rc_sub *first_restored = NULL;
  /* classic: one home master; moved only when its connection fails */
  int has_classic = 0;
  size_t it;
  for (sio_map_entry *e = sio_map_first(&c->subs, &it); e; e = sio_map_next(&c->subs, e, &it))
    if (((rc_sub *)e->value)->kind != K_SSUB) has_classic = 1;
  if (has_classic && (!c->home || c->home->down || !c->home->listed)) {
    rc_node *old = c->home;
    c->home = pick_home(c);
    if (c->home && old) {
      c->stats.rehomes++;
      sio_log(SIO_LOG_WARN, "sio:redis", "classic subscriptions move from %s:%d to %s:%d",
              old->host, old->port, c->home->host, c->home->port);
    } else if (c->home) {
      sio_log(SIO_LOG_INFO, "sio:redis", "classic subscriptions on %s:%d", c->home->host,
              c->home->port);
    }
  }
  uint64_t t = now_ms();
  for (sio_map_entry *e = sio_map_first(&c->subs, &it); e; e = sio_map_next(&c->subs, e, &it)) {
    rc_sub *s = e->value;
    rc_node *target = s->kind == K_SSUB ? c->owner[s->slot] : c->home;
    /* another owner named, or long enough: the node's word is forgotten */
    if (s->left && ((target && target != s->left) || t >= s->left_until)) s->left = NULL;
    sio_rplace_in in = {
        .placed = s->node != NULL,
        .placed_up = usable(s->node),
        .on_target = s->node == target && target && !target->down,
        .target_up = usable(target),
        .target_left = s->left && s->left == target,
        .retry_wait = s->retry_at > t,
    };
    if (in.target_left) {
      /* a stale topology: ask again (the node that pushed, first) */
      TRACE("%s: the topology names %s:%d, which dropped it: asking again", s->channel,
            target->host, target->port);
      stale = 1;
    }
    switch (sio_rplace_decide(&in)) {
    case SIO_RPLACE_KEEP:
      break;
    case SIO_RPLACE_DROP:
      detach(c, s);
      homeless = 1;
      break;
    case SIO_RPLACE_WAIT:
      homeless = 1;
      break;
    case SIO_RPLACE_MOVE:
      if (s->kind == K_SSUB)
        sio_log(SIO_LOG_INFO, "sio:redis", "%s moves from %s:%d to %s:%d", s->channel,
                s->node->host, s->node->port, target->host, target->port);
      detach(c, s);
      attach(c, s, target);
      break;
    case SIO_RPLACE_PLACE:
      if (s->was_placed && restored++ == 0) first_restored = s;
      attach(c, s, target);
      break;
    }
  }
  if (restored)
    sio_log(SIO_LOG_INFO, "sio:redis", "%zu subscriptions restored (%s on %s:%d%s)", restored,
            first_restored->channel, first_restored->node ? first_restored->node->host : "?",
            first_restored->node ? first_restored->node->port : 0, restored > 1 ? ", ..." : "");
  /* connections nobody needs any more */
  for (rc_node *n = c->nodes, *next; n; n = next) {
    next = n->next;
    if (!n->listed && !n->nsubs && n != c->home && n != c->refresh_node) {
      node_free(c, n);
      continue;
    }
    if (n->sub && !n->nsubs && n != c->home) {
      sio_redis_free(n->sub);
      n->sub = NULL;
      sio_map_clear(&n->unsub_pending);
      n->ping_out = 0;
    }
  }
  flush_queue(c);
  int owner_down = 0;
  for (size_t s = 0; s < SIO_REDIS_SLOTS && !owner_down; s++)
    owner_down = !usable(c->owner[s]);
  if (stale) refresh_soon(c, REFRESH_MIN_GAP_MS);
  else if (homeless || owner_down || c->q_head) refresh_soon(c, RETRY_MS);
}

/* Every TICK_MS: PINGs, timeouts, the periodic refresh, queue deadlines. */
static void ping_reply(redisReply *rep, void *ud) {
  rc_node *n = ud;
  (void)rep;
  n->cmd_ping_out = 0;
}

static void tick_cb(evutil_socket_t fd, short w, void *arg) {
  (void)fd;
  (void)w;
  sio_rc *c = arg;
  if (c->closing || c->mode == SIO_RC_SINGLE) return;
  uint64_t t = now_ms();
  unsigned limit = c->node_timeout_ms * 2 + PING_EVERY_MS;
  int again = 0;
  for (rc_node *n = c->nodes; n; n = n->next) {
    if (n->sub && sio_redis_connected(n->sub)) {
      if (n->ping_out && t - n->ping_sent > limit) {
        sio_log(SIO_LOG_WARN, "sio:redis", "cluster node %s:%d: no PING answer on the pub/sub "
                "connection for %u ms", n->host, n->port, limit);
        n->drop_sub = 1;
        n->down = 1;
        again = 1;
      } else if (!n->ping_out && t - n->ping_sent >= PING_EVERY_MS) {
        const char *argv[1] = {"PING"};
        sio_redis_send_nowait(n->sub, 1, argv);
        n->ping_out = 1;
        n->ping_sent = t;
      }
    }
    if (!n->down && n->cmd && sio_redis_connected(n->cmd) && !n->cmd_ping_out &&
        t - n->cmd_ping_sent >= PING_EVERY_MS) {
      /* the command connection: a reply timeout marks the node down */
      n->cmd_ping_out = 1;
      n->cmd_ping_sent = t;
      const char *argv[1] = {"PING"};
      node_command(n, ping_reply, n, 1, argv, NULL);
    }
  }
  if (c->refresh_interval_ms && t - c->last_periodic >= c->refresh_interval_ms) {
    c->last_periodic = t;
    refresh_soon(c, 0);
  }
  if (again || c->q_head) schedule_reconcile(c);
}

/* ----------------------------------------------------------- counting */

typedef struct count_ctx {
  sio_rc_count_cb cb;
  void *ud;
  size_t remaining, sum;
} count_ctx;

static void count_step(count_ctx *x) {
  if (--x->remaining) return;
  x->cb(x->ud, x->sum);
  free(x);
}

static void count_reply(redisReply *rep, void *ud) {
  count_ctx *x = ud;
  if (rep && rep->type == REDIS_REPLY_ARRAY && rep->elements == 2 &&
      rep->element[1]->type == REDIS_REPLY_INTEGER && rep->element[1]->integer > 0)
    x->sum += (size_t)rep->element[1]->integer;
  count_step(x);
}

void sio_rc_count(sio_rc *c, const char *what, const char *channel, sio_rc_count_cb cb,
                  void *ud) {
  count_ctx *x = c && !c->closing ? calloc(1, sizeof *x) : NULL;
  if (!x) {
    cb(ud, 0);
    return;
  }
  x->cb = cb;
  x->ud = ud;
  x->remaining = 1;
  const char *argv[3] = {"PUBSUB", what, channel};
  if (c->mode == SIO_RC_SINGLE && c->pub) {
    x->remaining++;
    sio_redis_command(c->pub, count_reply, x, 3, argv, NULL);
  } else if (c->mode != SIO_RC_SINGLE) {
    /* masters and replicas: each counts its own connections */
    for (rc_node *n = c->nodes; n; n = n->next)
      if (n->listed && !n->down) x->remaining++;
    for (rc_node *n = c->nodes, *next; n; n = next) {
      next = n->next;
      if (n->listed && !n->down) node_command(n, count_reply, x, 3, argv, NULL);
    }
  }
  count_step(x);
}

/* ---------------------------------------------------------- lifecycle */

sio_rc *sio_rc_new(struct event_base *base, const sio_rc_config *cfg,
                   sio_redis_message_cb on_message, void *ud) {
  if (!cfg->n_seeds) return NULL;
  sio_rc *c = calloc(1, sizeof *c);
  if (!c) return NULL;
  c->base = base;
  c->mode = cfg->mode;
  c->on_message = on_message;
  c->ud = ud;
  c->node_timeout_ms = cfg->node_timeout_ms ? cfg->node_timeout_ms : 1000;
  c->refresh_interval_ms = cfg->refresh_interval_ms ? cfg->refresh_interval_ms : 30000;
  c->deadline_ms = cfg->deadline_ms ? cfg->deadline_ms : 30000;
  c->seeds = calloc(cfg->n_seeds, sizeof *c->seeds);
  sio_map_init(&c->subs);
  c->reconcile_ev = event_new(base, -1, 0, reconcile_cb, c);
  c->refresh_ev = evtimer_new(base, refresh_cb, c);
  c->tick_ev = event_new(base, -1, EV_PERSIST, tick_cb, c);
  if (!c->seeds || !c->reconcile_ev || !c->refresh_ev || !c->tick_ev) {
    sio_rc_free(c);
    return NULL;
  }
  memcpy(c->seeds, cfg->seeds, cfg->n_seeds * sizeof *c->seeds);
  c->n_seeds = cfg->n_seeds;
  if (c->mode == SIO_RC_SINGLE) {
    c->pub = sio_redis_new(base, &c->seeds[0], 0, NULL, NULL, c);
    c->subc = sio_redis_new(base, &c->seeds[0], 1, on_message, NULL, ud);
    if (!c->pub || !c->subc) {
      sio_rc_free(c);
      return NULL;
    }
    return c;
  }
  for (size_t i = 0; i < c->n_seeds; i++) {
    rc_node *n = add_node(c, c->seeds[i].host, c->seeds[i].port);
    if (n) {
      n->listed = 1;
      ensure_cmd(n);
    }
  }
  struct timeval tick = {0, TICK_MS * 1000};
  event_add(c->tick_ev, &tick);
  c->last_periodic = now_ms();
  /* the first refresh once a seed is connected (each connect schedules one) */
  refresh_soon(c, 0);
  return c;
}

sio_rc_stats sio_rc_get_stats(const sio_rc *c) { return c->stats; }

int sio_rc_mode_from_option(int cluster_mode, int have_cluster_nodes,
                            char *err, size_t errlen) {
  switch (cluster_mode) {
  case SIO_REDIS_MODE_DEFAULT: return have_cluster_nodes ? SIO_RC_CLUSTER : SIO_RC_SINGLE;
  case SIO_REDIS_MODE_SINGLE: return SIO_RC_SINGLE;
  case SIO_REDIS_MODE_CLUSTER: return SIO_RC_CLUSTER;
  case SIO_REDIS_MODE_DETECT: return SIO_RC_DETECT;
  default:
    snprintf(err, errlen, "unknown cluster_mode %d", cluster_mode);
    return -1;
  }
}

void sio_rc_free(sio_rc *c) {
  if (!c) return;
  c->closing = 1;
  sio_redis_free(c->pub);
  sio_redis_free(c->subc);
  while (c->nodes) node_free(c, c->nodes);
  drain(c, NULL, NULL);
  if (c->reconcile_ev) event_free(c->reconcile_ev);
  if (c->refresh_ev) event_free(c->refresh_ev);
  if (c->tick_ev) event_free(c->tick_ev);
  free(c->seeds);
  free(c);
}

/* ------------------------------------------------------ keyed commands */

int sio_rc_owner(const sio_rc *c, const char *key, sio_redis_url *out) {
  if (!c || c->closing) return -1;
  if (c->mode == SIO_RC_SINGLE) {
    *out = c->seeds[0];
    return 0;
  }
  const rc_node *n = c->owner[sio_redis_keyslot(key, strlen(key))];
  if (!n || n->down || !n->listed) return -1;
  *out = node_url((sio_rc *)c, n);
  return 0;
}

/* A keyed command that follows redirects: its own copy of argv. */
typedef struct rc_kcmd {
  sio_rc *c;
  sio_redis_reply_cb cb;
  void *ud;
  int redirects;
  int argc;
  char **argv;
  size_t *lens;
} rc_kcmd;

static void kcmd_free(rc_kcmd *k) {
  for (int i = 0; k->argv && i < k->argc; i++) free(k->argv[i]);
  free(k->argv);
  free(k->lens);
  free(k);
}

static void kcmd_reply(redisReply *rep, void *ud) {
  rc_kcmd *k = ud;
  sio_rc *c = k->c;
  unsigned slot;
  rc_node *n;
  if (rep && rep->type == REDIS_REPLY_ERROR && !c->closing &&
      (!strncmp(rep->str, "MOVED ", 6) || !strncmp(rep->str, "ASK ", 4)) &&
      k->redirects++ < MAX_REDIRECTS && (n = redirect_node(c, rep->str, &slot))) {
    c->stats.redirects++;
    if (rep->str[0] == 'M') {
      c->owner[slot] = n;
      refresh_soon(c, 0);
    } else {
      const char *ask[1] = {"ASKING"};
      node_command(n, NULL, NULL, 1, ask, NULL);
    }
    node_command(n, kcmd_reply, k, k->argc, (const char **)k->argv, k->lens);
    return;
  }
  if (k->cb) k->cb(rep, k->ud);
  kcmd_free(k);
}

void sio_rc_key_command(sio_rc *c, const char *key, int follow, sio_redis_reply_cb cb,
                        void *ud, int argc, const char **argv, const size_t *lens) {
  if (!c || c->closing) {
    if (cb) cb(NULL, ud);
    return;
  }
  if (c->mode == SIO_RC_SINGLE) {
    if (c->pub) sio_redis_command(c->pub, cb, ud, argc, argv, lens);
    else if (cb) cb(NULL, ud);
    return;
  }
  rc_node *n = c->owner[sio_redis_keyslot(key, strlen(key))];
  if (!n) {
    if (cb) cb(NULL, ud);
    refresh_soon(c, 0);
    return;
  }
  if (!follow) {
    node_command(n, cb, ud, argc, argv, lens);
    return;
  }
  rc_kcmd *k = calloc(1, sizeof *k);
  if (k) {
    k->argv = calloc((size_t)argc, sizeof *k->argv);
    k->lens = calloc((size_t)argc, sizeof *k->lens);
  }
  int ok = k && k->argv && k->lens;
  if (k) k->argc = argc;
  for (int i = 0; ok && i < argc; i++) {
    k->lens[i] = lens ? lens[i] : strlen(argv[i]);
    ok = (k->argv[i] = malloc(k->lens[i] + 1)) != NULL;
    if (ok) {
      memcpy(k->argv[i], argv[i], k->lens[i]);
      k->argv[i][k->lens[i]] = '\0';
    }
  }
  if (!ok) {
    if (k) kcmd_free(k);
    if (cb) cb(NULL, ud);
    return;
  }
  k->c = c;
  k->cb = cb;
  k->ud = ud;
  node_command(n, kcmd_reply, k, argc, argv, lens);
}

void sio_rc_redirected(sio_rc *c, const char *err) {
  if (!c || c->closing || c->mode == SIO_RC_SINGLE) return;
  unsigned slot;
  rc_node *n;
  if (!strncmp(err, "MOVED ", 6) && (n = redirect_node(c, err, &slot))) {
    c->stats.redirects++;
    c->owner[slot] = n;
  }
  refresh_soon(c, 0);
}
