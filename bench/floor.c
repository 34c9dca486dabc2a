/*
 * floor: the least work a Socket.IO server can do for bench/loadgen's
 * scenarios, to measure libsio against. No library of ours, no libevent:
 * one epoll loop, fixed replies.
 *   - WebSocket: parse the upgrade, answer 101 with the accept key and the
 *     Engine.IO open packet; answer "40" with a fixed CONNECT; echo
 *     42N["echo",X] as 43N[X]; for 42["bcast",X] write 42["tick",X] to every
 *     other connected client (one write per recipient). No heartbeats.
 *   - Polling: handshake GET, POST (answers "ok"), long-poll GET that
 *     answers with the queued packets joined by \x1e, or waits.
 * Everything else closes the connection. Bounded: a request head is at most
 * 8 KiB, a body or a WebSocket message at most 64 KiB.
 * Usage: floor [port]; prints "listening <port>" once listening.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <mbedtls/base64.h>
#include <mbedtls/sha1.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_IN (64 * 1024 + 16)
#define MAX_HEAD 8192
#define MAX_FD 65536
#define MAX_SESS 65536

typedef struct { char *p; size_t len, cap; int borrowed; } buf;

enum { C_HTTP, C_WS };

typedef struct conn {
  int fd, mode, connected;   /* connected: a WS client that sent "40" */
  int parked_sess;           /* polling: session whose GET waits here, or -1 */
  buf in, out;
  int wants_out;
} conn;

typedef struct { int used; int parked_fd; buf q; } session;

static conn *conns[MAX_FD];
static session sess[MAX_SESS];
static int nsess;
static int ep;
/* connected WebSocket fds, for broadcasts */
static int *ws_list;
static size_t ws_n, ws_cap;

static int buf_add(buf *b, const void *p, size_t n) {
  if (b->len + n > b->cap) {
    size_t cap = b->cap ? b->cap * 2 : 256;
    while (cap < b->len + n) cap *= 2;
    char *q = realloc(b->p, cap);
    if (!q) return -1;
    b->p = q; b->cap = cap;
  }
  memcpy(b->p + b->len, p, n);
  b->len += n;
  return 0;
}
static void buf_drop(buf *b, size_t n) {
  memmove(b->p, b->p + n, b->len - n);
  b->len -= n;
}

static void ws_list_del(int fd) {
  for (size_t i = 0; i < ws_n; i++)
    if (ws_list[i] == fd) { ws_list[i] = ws_list[--ws_n]; return; }
}

static void conn_close(conn *c) {
  if (c->mode == C_WS && c->connected) ws_list_del(c->fd);
  if (c->parked_sess >= 0) sess[c->parked_sess].parked_fd = -1;
  close(c->fd);
  conns[c->fd] = NULL;
  if (!c->in.borrowed) free(c->in.p);
  free(c->out.p);
  free(c);
}

/* One write; what the kernel does not take waits for EPOLLOUT. */
static int conn_write(conn *c, const void *p, size_t n) {
  if (c->out.len == 0) {
    ssize_t w = write(c->fd, p, n);
    if (w < 0) {
      if (errno != EAGAIN) return -1;
      w = 0;
    }
    p = (const char *)p + w;
    n -= (size_t)w;
    if (n == 0) return 0;
  }
  if (buf_add(&c->out, p, n) < 0) return -1;
  if (!c->wants_out) {
    struct epoll_event ev = { .events = EPOLLIN | EPOLLOUT, .data.fd = c->fd };
    epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
    c->wants_out = 1;
  }
  return 0;
}

static size_t ws_header(uint8_t *h, size_t len) {
  h[0] = 0x81;
  if (len < 126) { h[1] = (uint8_t)len; return 2; }
  if (len < 65536) { h[1] = 126; h[2] = (uint8_t)(len >> 8); h[3] = (uint8_t)len; return 4; }
  h[1] = 127;
  for (int i = 0; i < 8; i++) h[2 + i] = (uint8_t)((uint64_t)len >> (56 - 8 * i));
  return 10;
}

static int ws_send(conn *c, const char *p, size_t n) {
  uint8_t frame[16 + 256];
  size_t hl = ws_header(frame, n);
  if (n <= 256) {   /* the usual case: one write of header and payload */
    memcpy(frame + hl, p, n);
    return conn_write(c, frame, hl + n);
  }
  if (conn_write(c, frame, hl) < 0) return -1;
  return conn_write(c, p, n);
}

static void sid_of(int i, char out[21]) { snprintf(out, 21, "floor%015d", i); }

static int http_reply(conn *c, const char *body, size_t n) {
  char head[160];
  int hl = snprintf(head, sizeof head,
                    "HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=UTF-8\r\n"
                    "Content-Length: %zu\r\n\r\n", n);
  char stackbuf[1024];
  if ((size_t)hl + n <= sizeof stackbuf) {
    memcpy(stackbuf, head, (size_t)hl);
    memcpy(stackbuf + hl, body, n);
    return conn_write(c, stackbuf, (size_t)hl + n);
  }
  if (conn_write(c, head, (size_t)hl) < 0) return -1;
  return conn_write(c, body, n);
}

/* A packet for polling session i: answered now if a GET waits. */
static int sess_push(int i, const char *p, size_t n) {
  session *s = &sess[i];
  if (s->q.len && buf_add(&s->q, "\x1e", 1) < 0) return -1;
  if (buf_add(&s->q, p, n) < 0) return -1;
  if (s->parked_fd >= 0 && conns[s->parked_fd]) {
    conn *c = conns[s->parked_fd];
    s->parked_fd = -1;
    c->parked_sess = -1;
    if (http_reply(c, s->q.p, s->q.len) < 0) { conn_close(c); return 0; }
    s->q.len = 0;
  }
  return 0;
}

/* A Socket.IO packet from a client (WS: from conn c; polling: session si). */
static int on_packet(conn *c, int si, const char *p, size_t n) {
  static const char echo[] = "[\"echo\",";
  static const char bcast[] = "42[\"bcast\",";
  if (n == 1 && p[0] == '3') return 0;                     /* pong */
  if (n == 2 && p[0] == '4' && p[1] == '0') {              /* CONNECT */
    char r[64], sid[21];
    sid_of(c ? c->fd : si, sid);
    int rl = snprintf(r, sizeof r, "40{\"sid\":\"%s\"}", sid);
    if (c) {
      if (!c->connected) {
        if (ws_n == ws_cap) {
          ws_cap = ws_cap ? ws_cap * 2 : 1024;
          int *q = realloc(ws_list, ws_cap * sizeof *q);
          if (!q) return -1;
          ws_list = q;
        }
        ws_list[ws_n++] = c->fd;
        c->connected = 1;
      }
      return ws_send(c, r, (size_t)rl);
    }
    return sess_push(si, r, (size_t)rl);
  }
  if (n > sizeof bcast && memcmp(p, bcast, sizeof bcast - 1) == 0) {
    /* 42["tick", + the rest */
    char out[16 + 256 + 16];
    size_t rest = n - (sizeof bcast - 1);
    size_t pl = 9 + rest;
    if (pl > 256) return -1;
    memcpy(out, "42[\"tick\",", 10);
    memcpy(out + 10, p + sizeof bcast - 1, rest);
    pl = 10 + rest;
    uint8_t frame[16 + 300];
    size_t hl = ws_header(frame, pl);
    memcpy(frame + hl, out, pl);
    for (size_t i = 0; i < ws_n; i++) {
      conn *d = conns[ws_list[i]];
      if (d == c) continue;
      if (conn_write(d, frame, hl + pl) < 0) { conn_close(d); i--; }
    }
    for (int i = 0; i < nsess; i++)
      if (sess[i].used && i != si) sess_push(i, out, pl);
    return 0;
  }
  if (n > 2 && p[0] == '4' && p[1] == '2') {               /* 42N["echo",X] */
    size_t i = 2;
    while (i < n && p[i] >= '0' && p[i] <= '9') i++;
    if (i == 2 || n - i < sizeof echo || memcmp(p + i, echo, sizeof echo - 1))
      return -1;
    char out[512];
    size_t idl = i - 2, rest = n - i - (sizeof echo - 1);
    if (4 + idl + rest > sizeof out) return -1;
    out[0] = '4'; out[1] = '3';
    memcpy(out + 2, p + 2, idl);
    out[2 + idl] = '[';
    memcpy(out + 3 + idl, p + i + sizeof echo - 1, rest);
    size_t ol = 3 + idl + rest;
    return c ? ws_send(c, out, ol) : sess_push(si, out, ol);
  }
  return -1;
}

static int ws_input(conn *c) {
  for (;;) {
    uint8_t *b = (uint8_t *)c->in.p;
    size_t n = c->in.len;
    if (n < 2) return 0;
    if (!(b[1] & 0x80)) return -1;                /* clients must mask */
    uint64_t len = b[1] & 0x7f;
    size_t hl = 2;
    if (len == 126) { if (n < 4) return 0; len = (uint64_t)b[2] << 8 | b[3]; hl = 4; }
    else if (len == 127) return -1;               /* > 64 KiB: refused */
    if (n < hl + 4 + len) return 0;
    uint8_t *mask = b + hl, *pl = b + hl + 4;
    for (uint64_t i = 0; i < len; i++) pl[i] ^= mask[i & 3];
    int op = b[0] & 0x0f;
    if (op == 8) return -1;
    if (op == 1 && on_packet(c, -1, (char *)pl, (size_t)len) < 0) return -1;
    if (!conns[c->fd]) return -2;                 /* closed meanwhile */
    buf_drop(&c->in, hl + 4 + (size_t)len);
  }
}

static const char *header(const char *head, const char *name, size_t *len) {
  size_t nl = strlen(name);
  for (const char *p = strstr(head, "\r\n"); p; p = strstr(p + 2, "\r\n")) {
    const char *l = p + 2;
    if (strncasecmp(l, name, nl) == 0 && l[nl] == ':') {
      l += nl + 1;
      while (*l == ' ') l++;
      const char *e = strstr(l, "\r\n");
      *len = e ? (size_t)(e - l) : strlen(l);
      return l;
    }
  }
  return NULL;
}

static int http_input(conn *c) {
  for (;;) {
    char *end = memmem(c->in.p, c->in.len, "\r\n\r\n", 4);
    if (!end) return c->in.len > MAX_HEAD ? -1 : 0;
    size_t headlen = (size_t)(end - c->in.p) + 4;
    if (headlen > MAX_HEAD) return -1;
    char head[MAX_HEAD + 1];
    memcpy(head, c->in.p, headlen);
    head[headlen] = 0;
    size_t vl;
    const char *v = header(head, "Content-Length", &vl);
    size_t body = v ? (size_t)strtoul(v, NULL, 10) : 0;
    if (body > MAX_IN - MAX_HEAD) return -1;
    if (c->in.len < headlen + body) return 0;
    const char *q = strstr(head, "sid=");
    int si = q ? atoi(q + 4 + 5) : -1;       /* "floor" + digits */
    if (si >= nsess || (si >= 0 && !sess[si].used)) return -1;
    if (strncmp(head, "GET ", 4) == 0 && (v = header(head, "Sec-WebSocket-Key", &vl))) {
      char key[128], acc[64];
      unsigned char sha[20];
      size_t al;
      if (vl > 64) return -1;
      memcpy(key, v, vl);
      memcpy(key + vl, "258EAFA5-E914-47DA-95CA-C5AB0DC85B11", 36);
      if (mbedtls_sha1_ret((unsigned char *)key, vl + 36, sha) != 0) return -1;
      mbedtls_base64_encode((unsigned char *)acc, sizeof acc, &al, sha, 20);
      char sid[21], open[160], out[512];
      sid_of(c->fd, sid);
      int ol = snprintf(open, sizeof open,
                        "0{\"sid\":\"%s\",\"upgrades\":[],\"pingInterval\":25000,"
                        "\"pingTimeout\":20000,\"maxPayload\":1000000}", sid);
      int hl = snprintf(out, sizeof out,
                        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                        "Connection: Upgrade\r\nSec-WebSocket-Accept: %.*s\r\n\r\n",
                        (int)al, acc);
      size_t fl = ws_header((uint8_t *)out + hl, (size_t)ol);
      memcpy(out + hl + fl, open, (size_t)ol);
      buf_drop(&c->in, headlen);
      c->mode = C_WS;
      if (conn_write(c, out, (size_t)hl + fl + (size_t)ol) < 0) return -1;
      return ws_input(c);
    }
    if (strncmp(head, "GET ", 4) == 0 && si < 0) {    /* handshake */
      if (nsess == MAX_SESS) return -1;
      si = nsess++;
      sess[si].used = 1;
      sess[si].parked_fd = -1;
      char sid[21], open[160];
      sid_of(si, sid);
      int ol = snprintf(open, sizeof open,
                        "0{\"sid\":\"%s\",\"upgrades\":[],\"pingInterval\":25000,"
                        "\"pingTimeout\":20000,\"maxPayload\":1000000}", sid);
      if (http_reply(c, open, (size_t)ol) < 0) return -1;
    } else if (strncmp(head, "GET ", 4) == 0) {        /* long poll */
      session *s = &sess[si];
      if (s->q.len) {
        if (http_reply(c, s->q.p, s->q.len) < 0) return -1;
        s->q.len = 0;
      } else {
        s->parked_fd = c->fd;
        c->parked_sess = si;
      }
    } else if (strncmp(head, "POST ", 5) == 0 && si >= 0) {
      const char *p = c->in.p + headlen, *e = p + body;
      while (p < e) {
        const char *sep = memchr(p, 0x1e, (size_t)(e - p));
        if (!sep) sep = e;
        if (on_packet(NULL, si, p, (size_t)(sep - p)) < 0) return -1;
        p = sep + 1;
      }
      if (http_reply(c, "ok", 2) < 0) return -1;
    } else {
      return -1;
    }
    buf_drop(&c->in, headlen + body);
  }
}

/* Reads go to one shared buffer; a connection keeps its own input buffer
 * only while it holds the start of an incomplete request or frame, so an
 * idle socket owns nothing but its conn. */
static char rbuf[MAX_IN + 4096];

static void on_readable(conn *c) {
  int fd = c->fd;
  if (c->in.len == 0) {
    free(c->in.p);
    c->in.p = rbuf; c->in.cap = sizeof rbuf; c->in.borrowed = 1;
  }
  for (;;) {
    if (c->in.cap - c->in.len < 4096) {
      if (c->in.len > MAX_IN) { conn_close(c); return; }
      size_t cap = c->in.cap ? c->in.cap * 2 : 4096;
      char *p = realloc(c->in.p, cap);
      if (!p) { conn_close(c); return; }
      c->in.p = p; c->in.cap = cap;
    }
    ssize_t r = read(c->fd, c->in.p + c->in.len, c->in.cap - c->in.len);
    if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR)) { conn_close(c); return; }
    if (r < 0) break;
    c->in.len += (size_t)r;
    int rc = c->mode == C_WS ? ws_input(c) : http_input(c);
    if (rc == -2) return;
    if (rc < 0) { if (conns[fd] == c) conn_close(c); return; }
    if ((size_t)r < c->in.cap - (c->in.len - (size_t)r)) break;   /* drained */
  }
  if (c->in.borrowed) {   /* keep only a partial request or frame */
    c->in.borrowed = 0;
    char *keep = NULL;
    if (c->in.len && (keep = malloc(c->in.len)) == NULL) { c->in.p = NULL; conn_close(c); return; }
    if (keep) memcpy(keep, c->in.p, c->in.len);
    c->in.p = keep;
    c->in.cap = c->in.len;
  }
}

static void on_writable(conn *c) {
  ssize_t w = write(c->fd, c->out.p, c->out.len);
  if (w < 0) { if (errno != EAGAIN) conn_close(c); return; }
  buf_drop(&c->out, (size_t)w);
  if (c->out.len == 0) {
    struct epoll_event ev = { .events = EPOLLIN, .data.fd = c->fd };
    epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
    c->wants_out = 0;
  }
}

static volatile sig_atomic_t stop;
static void on_sig(int s) { (void)s; stop = 1; }

int main(int argc, char **argv) {
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0) { rl.rlim_cur = rl.rlim_max; setrlimit(RLIMIT_NOFILE, &rl); }
  signal(SIGPIPE, SIG_IGN);
  struct sigaction sa = { .sa_handler = on_sig };
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  int ls = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  int one = 1;
  setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)(argc > 1 ? atoi(argv[1]) : 0)) };
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(ls, (struct sockaddr *)&a, sizeof a) < 0 || listen(ls, 4096) < 0) { perror("floor"); return 1; }
  socklen_t al = sizeof a;
  getsockname(ls, (struct sockaddr *)&a, &al);
  ep = epoll_create1(0);
  struct epoll_event ev = { .events = EPOLLIN, .data.fd = ls };
  epoll_ctl(ep, EPOLL_CTL_ADD, ls, &ev);
  printf("listening %u\n", ntohs(a.sin_port));
  fflush(stdout);
  struct epoll_event evs[256];
  while (!stop) {
    int n = epoll_wait(ep, evs, 256, 500);
    for (int i = 0; i < n; i++) {
      int fd = evs[i].data.fd;
      if (fd == ls) {
        for (;;) {
          int cfd = accept4(ls, NULL, NULL, SOCK_NONBLOCK);
          if (cfd < 0) break;
          if (cfd >= MAX_FD) { close(cfd); continue; }
          setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
          conn *c = calloc(1, sizeof *c);
          if (!c) { close(cfd); continue; }
          c->fd = cfd;
          c->parked_sess = -1;
          conns[cfd] = c;
          struct epoll_event cev = { .events = EPOLLIN, .data.fd = cfd };
          epoll_ctl(ep, EPOLL_CTL_ADD, cfd, &cev);
        }
        continue;
      }
      conn *c = conns[fd];
      if (c && (evs[i].events & EPOLLOUT)) on_writable(c);
      c = conns[fd];
      if (c && (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR))) on_readable(c);
    }
  }
  for (int fd = 0; fd < MAX_FD; fd++) if (conns[fd]) conn_close(conns[fd]);
  for (int i = 0; i < nsess; i++) free(sess[i].q.p);
  free(ws_list);
  close(ep);
  close(ls);
  return 0;
}
