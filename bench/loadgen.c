/*
 * loadgen: a load generator for Socket.IO servers (bench/run.sh drives it).
 * Its own minimal Engine.IO v4 / Socket.IO v5 clients on libevent: a
 * WebSocket client (upgrade, masked frames, Engine.IO and WebSocket pongs) and a long-polling client
 * (one keep-alive HTTP connection: handshake GET, POST "40", GET loop,
 * POST "3" after a ping). The server must have the bench handlers ("echo"
 * acks its arguments; "bcast" does socket.broadcast.emit("tick", ...)).
 *
 * Usage: loadgen <port> <server pid> [scenario ...]
 *   scenarios: idle connect fanout echo poll (default: all, in that order)
 * Sizes from the environment: LG_IDLE (10000 sockets), LG_CONNECT (2000
 * connects), LG_FANOUT (1000 receivers), LG_BCASTS (300 broadcasts,
 * LG_INFLIGHT of them in flight, default 16), LG_ECHO_CLIENTS (100), LG_ECHO_ROUNDS (200 each), LG_POLL (1000
 * polling receivers), LG_POLL_BCASTS (100); LG_HOLD (0): seconds the idle
 * sockets stay open after the RSS is read (to inspect the server).
 * Prints "key value" lines. Server CPU is the sum over the server's threads
 * of /proc/<pid>/task/<tid>/schedstat (ns), cross-checked with utime+stime of
 * /proc/<pid>/stat (10 ms ticks); RSS is VmRSS of /proc/<pid>/status.
 * Needs about LG_IDLE + 100 file descriptors; it raises its soft limit to
 * the hard one.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dirent.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

static struct event_base *base;
static struct sockaddr_in addr;
static int server_pid;
static char portstr[8];

/* ------------------------------------------------------------ /proc */

/* The number after the line starting with key in a /proc file (key NULL:
 * the first number of the first line), or -1. */
static double proc_value(const char *path, const char *key) {
  char line[256];
  FILE *f = fopen(path, "r");
  double v = -1;
  if (!f) return -1;
  size_t k = key ? strlen(key) : 0;
  while (fgets(line, sizeof line, f)) {
    if (!key || strncmp(line, key, k) == 0) {
      v = strtod(line + k, NULL);
      break;
    }
  }
  fclose(f);
  return v;
}

/* proc_value of /proc/<pid>/task/<tid>/<file> summed over the server's
 * threads (a thread without it counts nothing), or -1. */
static double server_task_sum(const char *file, const char *key) {
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/task", server_pid);
  DIR *d = opendir(path);
  double sum = 0;
  if (!d) return -1;
  struct dirent *e;
  while ((e = readdir(d))) {
    if (e->d_name[0] == '.') continue;
    char p[300];
    snprintf(p, sizeof p, "/proc/%d/task/%s/%s", server_pid, e->d_name, file);
    double v = proc_value(p, key);
    if (v > 0) sum += v;
  }
  closedir(d);
  return sum;
}

static double server_cpu_ns(void) { return server_task_sum("schedstat", NULL); }

/* Minor page faults of the whole process (field 10 of /proc/<pid>/stat):
 * the allocator giving pages back and taking them again costs a fault
 * (and a zeroed page) each. */
static double server_minflt(void) {
  char path[64], buf[2048];
  snprintf(path, sizeof path, "/proc/%d/stat", server_pid);
  FILE *f = fopen(path, "r");
  if (!f) return -1;
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = 0;
  char *p = strrchr(buf, ')');
  if (!p) return -1;
  int field = 3;
  for (char *t = p + 2; *t; t++)
    if (*t == ' ' && ++field == 10) return strtod(t + 1, NULL);
  return -1;
}

static double server_cpu_ticks_s(void) {
  char path[64], buf[2048];
  snprintf(path, sizeof path, "/proc/%d/stat", server_pid);
  FILE *f = fopen(path, "r");
  if (!f) return -1;
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = 0;
  char *p = strrchr(buf, ')');
  if (!p) return -1;
  unsigned long ut = 0, st = 0;
  /* fields after ") ": state(3) ... utime(14) stime(15) */
  int field = 3;   /* the state, just after ") " */
  for (char *t = p + 2; *t && field < 15; t++) {
    if (*t == ' ') {
      field++;
      if (field == 14) ut = strtoul(t + 1, NULL, 10);
      if (field == 15) st = strtoul(t + 1, NULL, 10);
    }
  }
  return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

static long server_rss_kib(void) {
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/status", server_pid);
  return (long)proc_value(path, "VmRSS:");
}

/* Write syscalls (write, writev) of the whole process: /proc/<pid>/io's
 * syscw. With the wake-ups below they show how much a fan-out batched
 * (several broadcasts per write to a receiver), which CPU per delivery
 * depends on more than on anything else. */
static double server_syscw(void) {
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/io", server_pid);
  return proc_value(path, "syscw:");
}

/* Voluntary context switches over the server's threads: a loop going to
 * sleep in epoll_wait, then woken. */
static double server_wakeups(void) {
  return server_task_sum("status", "voluntary_ctxt_switches:");
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

typedef struct { double cpu_ns, cpu_ticks, wall, syscw, wakeups, minflt; } meter;
static void meter_start(meter *m) {
  m->cpu_ns = server_cpu_ns();
  m->cpu_ticks = server_cpu_ticks_s();
  m->syscw = server_syscw();
  m->wakeups = server_wakeups();
  m->minflt = server_minflt();
  m->wall = now_s();
}
static void meter_stop(meter *m) {
  m->cpu_ns = server_cpu_ns() - m->cpu_ns;
  m->cpu_ticks = server_cpu_ticks_s() - m->cpu_ticks;
  m->syscw = server_syscw() - m->syscw;
  m->wakeups = server_wakeups() - m->wakeups;
  m->minflt = server_minflt() - m->minflt;
  m->wall = now_s() - m->wall;
}

/* ---------------------------------------------------------- clients */

enum { K_WS, K_POLL };
enum { S_CONNECTING, S_UPGRADE, S_OPEN, S_CONNECTED,          /* ws */
       P_HANDSHAKE, P_POST40, P_GET, P_POSTPONG };           /* polling */

typedef struct client {
  struct bufferevent *bev;
  int kind, state, idx;
  int need_pong;     /* polling: a ping came in the last GET */
  char sid[64];
  double sent_at;    /* echo */
  int rounds;
} client;

static client *clients;
static int nclients, nconnected;
static int connect_target, connect_inflight, connect_next, connect_conc;
static void (*on_all_connected)(void);
static void (*on_tick)(client *c, long k);
static void (*on_ack)(client *c);
static int stopping;

static void die(const char *m) __attribute__((noreturn));
static void die(const char *m) { fprintf(stderr, "loadgen: %s\n", m); exit(1); }

static void ws_frame(client *c, uint8_t op, const char *p, size_t n) {
  uint8_t h[14];
  size_t hl;
  h[0] = (uint8_t)(0x80 | op);
  if (n < 126) { h[1] = 0x80 | (uint8_t)n; hl = 2; }
  else if (n < 65536) { h[1] = 0x80 | 126; h[2] = (uint8_t)(n >> 8); h[3] = (uint8_t)n; hl = 4; }
  else die("message too large");
  memset(h + hl, 0, 4);   /* mask key 0: the payload goes as is */
  hl += 4;
  struct evbuffer *out = bufferevent_get_output(c->bev);
  evbuffer_add(out, h, hl);
  evbuffer_add(out, p, n);
}
static void ws_send(client *c, const char *p, size_t n) { ws_frame(c, 1, p, n); }

static void http_send(client *c, const char *method, const char *body) {
  char req[512];
  int n;
  if (c->sid[0])
    n = snprintf(req, sizeof req, "%s /socket.io/?EIO=4&transport=polling&sid=%s HTTP/1.1\r\n"
                 "Host: 127.0.0.1:%s\r\n", method, c->sid, portstr);
  else
    n = snprintf(req, sizeof req, "%s /socket.io/?EIO=4&transport=polling HTTP/1.1\r\n"
                 "Host: 127.0.0.1:%s\r\n", method, portstr);
  if (body)
    n += snprintf(req + n, sizeof req - (size_t)n,
                  "Content-Type: text/plain;charset=UTF-8\r\nContent-Length: %zu\r\n\r\n%s",
                  strlen(body), body);
  else
    n += snprintf(req + n, sizeof req - (size_t)n, "\r\n");
  bufferevent_write(c->bev, req, (size_t)n);
}

static void connected_one(client *c) {
  c->state = S_CONNECTED;
  nconnected++;
  connect_inflight--;
}

static void start_more(void);

/* A Socket.IO-level packet (an Engine.IO packet's text). */
static void on_eio_packet(client *c, const char *p, size_t n) {
  if (n == 0) return;
  switch (p[0]) {
  case '0':
    if (c->kind == K_WS) { c->state = S_OPEN; ws_send(c, "40", 2); }
    else {
      const char *s = memmem(p, n, "\"sid\":\"", 7);
      if (!s) die("no sid in the open packet");
      s += 7;
      const char *e = memchr(s, '"', n - (size_t)(s - p));
      if (!e || e - s >= (long)sizeof c->sid) die("bad sid");
      memcpy(c->sid, s, (size_t)(e - s));
      c->sid[e - s] = 0;
    }
    return;
  case '2':
    if (c->kind == K_WS) ws_send(c, "3", 1);
    else c->need_pong = 1;
    return;
  case '4':
    if (n >= 2 && p[1] == '0') {
      if (c->state != S_CONNECTED) {
        connected_one(c);
        start_more();
      }
    } else if (n >= 2 && p[1] == '2') {
      static const char tick[] = "42[\"tick\",";
      if (n > sizeof tick && memcmp(p, tick, sizeof tick - 1) == 0 && on_tick)
        on_tick(c, strtol(p + sizeof tick - 1, NULL, 10));
    } else if (n >= 2 && p[1] == '3') {
      if (on_ack) on_ack(c);
    } else if (n >= 2 && p[1] == '4') {
      die("connect_error from the server");
    }
    return;
  case '1':
    if (!stopping) die("the server closed a session");
    return;
  default:
    return;
  }
}

static void ws_read(client *c, struct evbuffer *in) {
  for (;;) {
    size_t n = evbuffer_get_length(in);
    if (n < 2) return;
    uint8_t h[10];
    evbuffer_copyout(in, h, n < 10 ? n : 10);
    size_t len = h[1] & 0x7f, hl = 2;
    if (len == 126) { if (n < 4) return; len = (size_t)h[2] << 8 | h[3]; hl = 4; }
    else if (len == 127) {
      if (n < 10) return;
      len = 0;
      for (int i = 0; i < 8; i++) len = len << 8 | h[2 + i];
      hl = 10;
      if (len > (1u << 24)) die("huge frame");
    }
    if (n < hl + len) return;
    evbuffer_drain(in, hl);
    char *p = (char *)evbuffer_pullup(in, (ssize_t)len);
    int op = h[0] & 0x0f;
    if (op == 1) on_eio_packet(c, p, len);
    else if (op == 9) ws_frame(c, 10, p, len); /* RFC 6455 5.5.2: a ping gets a pong */
    else if (op == 8 && !stopping) die("the server closed a WebSocket");
    evbuffer_drain(in, len);
  }
}

static void poll_next(client *c) {
  if (c->need_pong) {
    c->need_pong = 0;
    c->state = P_POSTPONG;
    http_send(c, "POST", "3");
  } else {
    c->state = P_GET;
    http_send(c, "GET", NULL);
  }
}

static void poll_read(client *c, struct evbuffer *in) {
  for (;;) {
    struct evbuffer_ptr e = evbuffer_search(in, "\r\n\r\n", 4, NULL);
    if (e.pos < 0) return;
    size_t hl = (size_t)e.pos + 4;
    char *h = (char *)evbuffer_pullup(in, (ssize_t)hl);
    if (strncmp(h, "HTTP/1.1 200", 12) != 0) {
      fprintf(stderr, "loadgen: %.*s\n", (int)(hl < 200 ? hl : 200), h);
      die("a polling request failed");
    }
    char *cl = strcasestr(h, "\r\ncontent-length:");
    if (!cl || cl > h + hl) die("no Content-Length in a polling response");
    size_t blen = strtoul(cl + 17, NULL, 10);
    if (evbuffer_get_length(in) < hl + blen) return;
    evbuffer_drain(in, hl);
    char *b = (char *)evbuffer_pullup(in, (ssize_t)blen);
    int st = c->state;
    if (st == P_HANDSHAKE || st == P_GET) {
      const char *p = b, *end = b + blen;
      while (p < end) {
        const char *sep = memchr(p, 0x1e, (size_t)(end - p));
        if (!sep) sep = end;
        on_eio_packet(c, p, (size_t)(sep - p));
        p = sep + 1;
      }
    }
    evbuffer_drain(in, blen);
    if (st == P_HANDSHAKE) { c->state = P_POST40; http_send(c, "POST", "40"); }
    else poll_next(c);
  }
}

static void on_read(struct bufferevent *bev, void *arg) {
  client *c = arg;
  struct evbuffer *in = bufferevent_get_input(bev);
  if (c->kind == K_WS && c->state == S_UPGRADE) {
    struct evbuffer_ptr e = evbuffer_search(in, "\r\n\r\n", 4, NULL);
    if (e.pos < 0) return;
    char *h = (char *)evbuffer_pullup(in, e.pos + 4);
    if (strncmp(h, "HTTP/1.1 101", 12) != 0) die("the upgrade was refused");
    evbuffer_drain(in, (size_t)e.pos + 4);
    c->state = S_OPEN;
  }
  if (c->kind == K_WS) ws_read(c, in);
  else poll_read(c, in);
}

static void on_event(struct bufferevent *bev, short what, void *arg) {
  client *c = arg;
  if (what & BEV_EVENT_CONNECTED) {
    int one = 1;
    setsockopt(bufferevent_getfd(bev), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (c->kind == K_WS) {
      char req[400];
      int n = snprintf(req, sizeof req,
                       "GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\n"
                       "Host: 127.0.0.1:%s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                       "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                       "Sec-WebSocket-Version: 13\r\n\r\n", portstr);
      c->state = S_UPGRADE;
      bufferevent_write(bev, req, (size_t)n);
    } else {
      c->state = P_HANDSHAKE;
      http_send(c, "GET", NULL);
    }
    return;
  }
  if (!stopping) {
    fprintf(stderr, "loadgen: client %d: connection %s (state %d)\n", c->idx,
            (what & BEV_EVENT_EOF) ? "closed by the server" : "error", c->state);
    exit(1);
  }
}

static void client_open(client *c) {
  c->bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
  if (!c->bev) die("bufferevent_socket_new");
  bufferevent_setcb(c->bev, on_read, NULL, on_event, c);
  bufferevent_enable(c->bev, EV_READ | EV_WRITE);
  c->state = S_CONNECTING;
  if (bufferevent_socket_connect(c->bev, (struct sockaddr *)&addr, sizeof addr) < 0)
    die("connect (out of file descriptors or ports?)");
}

static void start_more(void) {
  while (connect_next < connect_target && connect_inflight < connect_conc) {
    client_open(&clients[connect_next++]);
    connect_inflight++;
  }
  if (nconnected == connect_target && on_all_connected) {
    void (*cb)(void) = on_all_connected;
    on_all_connected = NULL;
    cb();
  }
}

/* Opens n clients of kind, conc at a time; then calls done. */
static void open_clients(int n, int kind, int conc, void (*done)(void)) {
  clients = calloc((size_t)n, sizeof *clients);
  if (!clients) die("out of memory");
  for (int i = 0; i < n; i++) { clients[i].kind = kind; clients[i].idx = i; }
  nclients = n; nconnected = 0; connect_target = n; connect_next = 0;
  connect_inflight = 0; connect_conc = conc; on_all_connected = done;
  start_more();
  event_base_dispatch(base);
}

static void close_clients(void) {
  stopping = 1;
  for (int i = 0; i < nclients; i++)
    if (clients[i].bev) bufferevent_free(clients[i].bev);
  free(clients);
  clients = NULL;
  nclients = 0;
  stopping = 0;
  on_tick = NULL;
  on_ack = NULL;
  /* Let the server finish closing them outside the next measurement: wait
   * until its CPU time stops growing (under 2 ms per 250 ms; at most 30 s). */
  usleep(250 * 1000);
  for (int i = 0; i < 120; i++) {
    double a = server_cpu_ns();
    usleep(250 * 1000);
    if (server_cpu_ns() - a < 2e6) break;
  }
}

static int env_int(const char *name, int def) {
  const char *v = getenv(name);
  return v && *v ? atoi(v) : def;
}

static void loopexit(void) { event_base_loopbreak(base); }

/* ---------------------------------------------------------- scenarios */

static void settle(double seconds) {
  struct timeval tv = { (long)seconds, (long)((seconds - (long)seconds) * 1e6) };
  event_base_loopexit(base, &tv);
  event_base_dispatch(base);
}

static void scenario_idle(void) {
  int n = env_int("LG_IDLE", 10000);
  /* warm-up: the server loads what its first connections need */
  open_clients(200, K_WS, 50, loopexit);
  close_clients();
  long rss0 = server_rss_kib();
  meter m;
  meter_start(&m);
  open_clients(n, K_WS, 200, loopexit);
  meter_stop(&m);
  settle(2.0);
  long rss1 = server_rss_kib();
  if (env_int("LG_HOLD", 0) > 0) {   /* time to inspect the idle server */
    fprintf(stderr, "loadgen: holding %d idle sockets for %d s\n", n, env_int("LG_HOLD", 0));
    settle(env_int("LG_HOLD", 0));
  }
  printf("idle_sockets %d\n", n);
  printf("idle_connect_per_s %.0f\n", n / m.wall);
  printf("idle_cpu_us_per_connect %.2f\n", m.cpu_ns / 1e3 / n);
  printf("idle_rss_kib_before %ld\nidle_rss_kib_after %ld\n", rss0, rss1);
  printf("idle_rss_bytes_per_socket %.0f\n", (double)(rss1 - rss0) * 1024.0 / n);
  fflush(stdout);
  close_clients();
}

static void scenario_connect(void) {
  int n = env_int("LG_CONNECT", 2000);
  meter m;
  meter_start(&m);
  open_clients(n, K_WS, 100, loopexit);
  meter_stop(&m);
  printf("connect_count %d\n", n);
  printf("connect_per_s %.0f\n", n / m.wall);
  printf("connect_cpu_us %.2f\n", m.cpu_ns / 1e3 / n);
  printf("connect_cpu_us_stat %.2f\n", m.cpu_ticks * 1e6 / n);
  fflush(stdout);
  close_clients();
}

/* fan-out: clients[0] sends, the others receive; 16 in flight */
static int fo_total, fo_sent, fo_done, fo_receivers;
static int *fo_count;
static meter fo_meter;
static void fo_send(void) {
  char msg[96];
  int n = snprintf(msg, sizeof msg, "42[\"bcast\",%d,\"payload-payload-payload\"]", fo_sent++);
  client *s = &clients[0];
  if (s->kind == K_WS) ws_send(s, msg, (size_t)n);
}
static void fo_tick(client *c, long k) {
  (void)c;
  if (k < 0 || k >= fo_total) die("bad tick");
  if (++fo_count[k] == fo_receivers) {
    fo_done++;
    if (fo_sent < fo_total) fo_send();
    else if (fo_done == fo_total) { meter_stop(&fo_meter); event_base_loopbreak(base); }
  }
}
static void fo_start(void) {
  event_base_loopbreak(base);
}
static void run_fanout(int total) {
  fo_total = total; fo_sent = 0; fo_done = 0;
  fo_count = calloc((size_t)total, sizeof *fo_count);
  on_tick = fo_tick;
  settle(0.5);
  meter_start(&fo_meter);
  int inflight = env_int("LG_INFLIGHT", 16);
  for (int i = 0; i < inflight && fo_sent < fo_total; i++) fo_send();
  event_base_dispatch(base);
  free(fo_count);
}

static void scenario_fanout(void) {
  int n = env_int("LG_FANOUT", 1000), b = env_int("LG_BCASTS", 300);
  open_clients(n + 1, K_WS, 200, fo_start);
  fo_receivers = n;
  run_fanout(b);
  double d = (double)n * b;
  printf("fanout_receivers %d\nfanout_broadcasts %d\n", n, b);
  printf("fanout_deliveries_per_s %.0f\n", d / fo_meter.wall);
  printf("fanout_cpu_us_per_delivery %.3f\n", fo_meter.cpu_ns / 1e3 / d);
  printf("fanout_cpu_us_per_delivery_stat %.3f\n", fo_meter.cpu_ticks * 1e6 / d);
  printf("fanout_writes_per_delivery %.3f\n", fo_meter.syscw / d);
  printf("fanout_wakeups_per_broadcast %.2f\n", fo_meter.wakeups / b);
  printf("fanout_faults_per_broadcast %.2f\n", fo_meter.minflt / b);
  fflush(stdout);
  close_clients();
}

/* polling fan-out: one WebSocket sender, n polling receivers */
static void scenario_poll(void) {
  int n = env_int("LG_POLL", 1000), b = env_int("LG_POLL_BCASTS", 100);
  open_clients(n + 1, K_POLL, 200, loopexit);
  /* the sender: clients[0] reopened as a WebSocket client */
  client *s = &clients[0];
  stopping = 1;
  bufferevent_free(s->bev);
  stopping = 0;
  memset(s, 0, sizeof *s);
  s->kind = K_WS;
  nconnected--; connect_target = nconnected + 1; connect_next = connect_target;
  connect_inflight = 1; on_all_connected = loopexit;
  client_open(s);
  event_base_dispatch(base);
  fo_receivers = n;
  run_fanout(b);
  double d = (double)n * b;
  printf("poll_receivers %d\npoll_broadcasts %d\n", n, b);
  printf("poll_deliveries_per_s %.0f\n", d / fo_meter.wall);
  printf("poll_cpu_us_per_delivery %.3f\n", fo_meter.cpu_ns / 1e3 / d);
  printf("poll_cpu_us_per_delivery_stat %.3f\n", fo_meter.cpu_ticks * 1e6 / d);
  printf("poll_writes_per_delivery %.3f\n", fo_meter.syscw / d);
  printf("poll_wakeups_per_broadcast %.2f\n", fo_meter.wakeups / b);
  fflush(stdout);
  close_clients();
}

/* echo with ack: every client keeps one request outstanding */
static int echo_rounds, echo_left;
static double *echo_lat;
static size_t echo_nlat;
static void echo_send(client *c) {
  char msg[96];
  int n = snprintf(msg, sizeof msg, "42%d[\"echo\",\"payload-payload-payload\"]", c->rounds);
  c->sent_at = now_s();
  ws_send(c, msg, (size_t)n);
}
static void echo_ack(client *c) {
  echo_lat[echo_nlat++] = now_s() - c->sent_at;
  if (++c->rounds < echo_rounds) echo_send(c);
  if (--echo_left == 0) event_base_loopbreak(base);
}
static int cmp_d(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}
static void scenario_echo(void) {
  int n = env_int("LG_ECHO_CLIENTS", 100);
  echo_rounds = env_int("LG_ECHO_ROUNDS", 200);
  open_clients(n, K_WS, 100, loopexit);
  settle(0.5);
  echo_left = n * echo_rounds;
  echo_lat = malloc(sizeof *echo_lat * (size_t)echo_left);
  echo_nlat = 0;
  on_ack = echo_ack;
  meter m;
  meter_start(&m);
  for (int i = 0; i < n; i++) echo_send(&clients[i]);
  event_base_dispatch(base);
  meter_stop(&m);
  qsort(echo_lat, echo_nlat, sizeof *echo_lat, cmp_d);
  double rt = (double)echo_nlat;
  printf("echo_clients %d\necho_round_trips %zu\n", n, echo_nlat);
  printf("echo_per_s %.0f\n", rt / m.wall);
  printf("echo_cpu_us %.2f\n", m.cpu_ns / 1e3 / rt);
  printf("echo_cpu_us_stat %.2f\n", m.cpu_ticks * 1e6 / rt);
  printf("echo_p50_ms %.3f\n", echo_lat[echo_nlat / 2] * 1e3);
  printf("echo_p99_ms %.3f\n", echo_lat[echo_nlat * 99 / 100] * 1e3);
  printf("echo_p999_ms %.3f\n", echo_lat[echo_nlat * 999 / 1000] * 1e3);
  printf("echo_max_ms %.3f\n", echo_lat[echo_nlat - 1] * 1e3);
  fflush(stdout);
  free(echo_lat);
  close_clients();
}

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: loadgen <port> <server pid> [idle|connect|fanout|echo|poll ...]\n");
    return 2;
  }
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
  signal(SIGPIPE, SIG_IGN);
  snprintf(portstr, sizeof portstr, "%d", atoi(argv[1]));
  server_pid = atoi(argv[2]);
  memset(&addr, 0, sizeof addr);
  addr.sin_family = AF_INET;
  addr.sin_port = htons((uint16_t)atoi(argv[1]));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  base = event_base_new();
  static const char *all[] = { "idle", "connect", "fanout", "echo", "poll" };
  const char **list = argc > 3 ? (const char **)argv + 3 : all;
  int nlist = argc > 3 ? argc - 3 : 5;
  for (int i = 0; i < nlist; i++) {
    if (!strcmp(list[i], "idle")) scenario_idle();
    else if (!strcmp(list[i], "connect")) scenario_connect();
    else if (!strcmp(list[i], "fanout")) scenario_fanout();
    else if (!strcmp(list[i], "echo")) scenario_echo();
    else if (!strcmp(list[i], "poll")) scenario_poll();
    else { fprintf(stderr, "loadgen: unknown scenario %s\n", list[i]); return 2; }
  }
  event_base_free(base);
  return 0;
}
