/*
 * What the files of the connection layer share (conn.c: life, the read
 * loop, hand-over; conn_io.c: bytes in and out; conn_http.c: requests and
 * responses; conn_ws.c: WebSocket frames): the per-connection state only
 * they touch, and helpers that were static when they lived in one conn.c.
 * Each keeps its short name inside the code through the #define below,
 * which gives the linker a prefixed one (eio_cn_*, eio_cio_*, eio_chttp_*,
 * eio_cws_*). The session layer never includes this.
 */
#ifndef EIO_CONN_INTERNAL_H
#define EIO_CONN_INTERNAL_H

#include "internal.h"

/* Input held while a request waits (pipelined bytes) before we give up. */
#define WAIT_INPUT_LIMIT (256 * 1024)
/* Libevent stops reading past this much unprocessed input. */
#define READ_HIGH_WATER (256 * 1024)
/* A gathered WebSocket message buffer larger than this is not kept for
 * reuse after delivery, so idle connections stay small. */
#define WS_KEEP_BUFFER 16384
#define LINGER_MS 2000
/* Frames whose payload is at most this are written as one copy. */
#define WS_INLINE_PAYLOAD 256
#define WS_CLOSE_WAIT_MS 10000

enum timer_mode { TM_NONE, TM_REQUEST, TM_KEEPALIVE, TM_LINGER, TM_WS_CLOSE,
                  TM_FLUSH, TM_RAW };
/* Bytes read per readable event of a raw WebSocket. */
#define RAW_READ 16384
#define FLUSH_POLL_MS 20

/* Extra per-connection state kept here, not in internal.h, because only
 * the connection layer (conn*.c) touches it. */
typedef struct conn_ext {
  enum timer_mode tm;
  unsigned body_pending : 1;
  unsigned responded : 1;
  unsigned wsf_active : 1;
  unsigned flush_queued : 1; /* on srv->flush_list (holds an enter()) */
  unsigned flush_polls;
  eio_ws_frame wsf;
  uint64_t wsf_left;
  size_t wsf_off;
  size_t ws_msg_cap;
  /* A plain (non-TLS) WebSocket leaves its bufferevent once the 101 is
   * out ("raw"): one read event; input is read into the server's shared
   * raw_in and only an incomplete frame header is kept (rin); output is
   * an evbuffer of shared chunks written with writev (rout), and a write
   * event, both only while something is unsent. fd: the socket of a
   * plain connection (closed by destroy; -1 under TLS, where the
   * bufferevent owns it). */
  evutil_socket_t fd;
  struct event *raw, *wev;
  struct evbuffer *rin, *rout;
  struct evbuffer *cur_in;  /* the input being processed in raw mode */
  eio_conn *flush_next;     /* srv->flush_list link */
  eio_tls_state *tls;       /* TLS: the session, for a hand-over */
} conn_ext;

typedef struct conn_full {
  eio_conn c;
  conn_ext x;
} conn_full;

#define X(c) (&((conn_full *)(c))->x)

/* ---- conn.c: life. enter/leave bracket every callback; leave frees a
 * dead connection when the outermost one returns. */
static inline void enter(eio_conn *c) { c->in_cb++; }
#define leave eio_cn_leave
#define conn_die eio_cn_die
#define set_timer eio_cn_set_timer
#define conn_process eio_cn_process
void leave(eio_conn *c);
/* Ends the connection; notify: tell the layer above (events.closed). */
void conn_die(eio_conn *c, int notify);
void set_timer(eio_conn *c, enum timer_mode m);
/* Reads what input holds: request heads, bodies, or WebSocket frames. */
void conn_process(eio_conn *c);

/* ---- conn_io.c: output and input, over the bufferevent or raw */
#define output eio_cio_output
#define out_kick eio_cio_out_kick
#define out_add eio_cio_out_add
#define input eio_cio_input
#define unsent eio_cio_unsent
/* function-like: eio_conn has a close_after_write field */
#define close_after_write(c) eio_cio_close_after_write(c)
#define go_raw eio_cio_go_raw
#define raw_read_cb eio_cio_raw_read_cb
#define promote eio_cio_promote
#define input_len eio_cio_input_len
#define timer_cb eio_cio_timer_cb
#define read_cb eio_cio_read_cb
#define write_cb eio_cio_write_cb
#define event_cb eio_cio_event_cb
struct evbuffer *output(eio_conn *c);
void out_kick(eio_conn *c);
int out_add(eio_conn *c, const void *data, size_t len);
struct evbuffer *input(eio_conn *c);
size_t unsent(eio_conn *c);
void close_after_write(eio_conn *c);
void go_raw(eio_conn *c);
/* A raw connection's read event (a plain connection starts with it). */
void raw_read_cb(evutil_socket_t fd, short what, void *arg);
/* A raw connection takes a bufferevent (an HTTP request on a plain
 * connection): the input not yet processed and any output move into it.
 * 0 (or already one), -1 when out of memory (the connection is unchanged). */
int promote(eio_conn *c);
/* Input held and not yet processed, raw or not, in a callback or not. */
size_t input_len(eio_conn *c);
void timer_cb(eio_timer *t);
void read_cb(struct bufferevent *bev, void *arg);
void write_cb(struct bufferevent *bev, void *arg);
void event_cb(struct bufferevent *bev, short what, void *arg);

/* ---- conn_http.c */
#define parse_head eio_chttp_parse_head
#define read_body eio_chttp_read_body
#define next_request eio_chttp_next_request
int parse_head(eio_conn *c);
int read_body(eio_conn *c);
void next_request(eio_conn *c);

/* ---- conn_ws.c */
#define ws_read eio_cws_read
int ws_read(eio_conn *c);

#endif
