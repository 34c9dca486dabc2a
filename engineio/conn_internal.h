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
                  TM_FLUSH };
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
  unsigned read_stalled : 1; /* raw: read event off, rin full (CONN_WAIT) */
  unsigned flush_polls;
  evutil_socket_t fd;       /* (see raw below; here: no padding) */
  eio_ws_frame wsf;
  uint64_t wsf_left;
  size_t wsf_off;
  size_t ws_msg_cap;
  /* A plain (non-TLS) connection, HTTP and WebSocket, has no bufferevent
   * ("raw"): one read event; input is read into the server's shared
   * raw_in and only what is left unprocessed is kept (rin: an incomplete
   * head or frame header, pipelined requests); output is an evbuffer of
   * shared chunks written with writev (rout; an idle WebSocket frees it,
   * an HTTP connection keeps it empty), and a write event only while
   * something is unsent; an HTTP response with nothing unsent before it
   * is written at once (out_writev). fd (above): the socket of a plain
   * connection (closed by destroy; -1 under TLS, where the bufferevent
   * owns it). */
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
#define out_direct eio_cio_out_direct
#define out_writev eio_cio_out_writev
#define input eio_cio_input
#define unsent eio_cio_unsent
/* function-like: eio_conn has a close_after_write field */
#define close_after_write(c) eio_cio_close_after_write(c)
#define raw_open eio_cio_raw_open
#define raw_input eio_cio_raw_input
#define in_kick eio_cio_in_kick
#define in_avail eio_cio_in_avail
#define timer_cb eio_cio_timer_cb
#define read_cb eio_cio_read_cb
#define write_cb eio_cio_write_cb
#define event_cb eio_cio_event_cb
struct evbuffer *output(eio_conn *c);
void out_kick(eio_conn *c);
int out_add(eio_conn *c, const void *data, size_t len);
/* out_direct: a raw connection with nothing unsent, where out_writev
 * writes head, then body bytes or the evbuffer ebody (its chains), at
 * once with one writev; what the socket does not take is queued as
 * out_add would (ebody's chains move). -1: out of memory. */
int out_direct(eio_conn *c);
int out_writev(eio_conn *c, const char *head, size_t hn, const void *body,
               size_t blen, struct evbuffer *ebody);
struct evbuffer *input(eio_conn *c);
size_t unsent(eio_conn *c);
void close_after_write(eio_conn *c);
/* A plain connection is raw from the start (HTTP too): raw_open makes and
 * adds its read event (-1 on failure); raw_input processes bytes that did
 * not come from the socket (a hand-over) as if just read; in_kick
 * processes held input from the loop (pipelined requests once a response
 * is out) and resumes a stalled read; in_avail: input held, either way. */
int raw_open(eio_conn *c);
void raw_input(eio_conn *c, const void *p, size_t n);
void in_kick(eio_conn *c);
size_t in_avail(eio_conn *c);
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
