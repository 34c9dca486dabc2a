/*
 * What the C test servers (eio_test_server, sio_test_server,
 * abuse_test_server) share: their options JSON (argv[1], Node's option
 * names, as the Node twins read theirs) and their stop signals. Test
 * programs only; not part of libsio.
 */
#ifndef SIO_TEST_OPTS_H
#define SIO_TEST_OPTS_H
#include <event2/event.h>
#include <jansson.h>
#include <stddef.h>

#include "sio/engineio.h"
#include "sio/socketio.h"

/* argv[1] (or "{}") as a JSON object; NULL, with the reason on stderr,
 * when it is not one. The caller owns the result. */
json_t *topt_load(int argc, char **argv);

/* A numeric option copied into *dst when cfg has key (an absent key
 * leaves *dst alone; a non-integer reads as 0, as before). */
enum { TOPT_UINT, TOPT_SIZE, TOPT_INT };
typedef struct topt_num {
  const char *key;
  int kind;   /* TOPT_UINT: unsigned, TOPT_SIZE: size_t, TOPT_INT: int */
  void *dst;
} topt_num;
void topt_nums(const json_t *cfg, const topt_num *t, size_t n);

/* cfg[key] copied into buf ("" when absent or not a string); returns buf. */
char *topt_str(const json_t *cfg, const char *key, char *buf, size_t size);

/* tls: {cert, key, passphrase} (file names) into *tls, copied into storage
 * of this module (valid for the program's life); 1 when cfg has tls. */
int topt_tls(const json_t *cfg, eio_tls_options *tls);

/* o as one compact JSON line on stdout (the events the tests read);
 * o is stolen. */
void topt_line(json_t *o);

/* SIO_WORKERS=N in the environment sets o->workers (every C test server). */
void topt_workers(eio_options *o);

/* SIGPIPE ignored, a new event base, a Socket.IO server with o listening
 * on 127.0.0.1 (a free port): 0, or the exit status with the reason on
 * stderr. */
int topt_sio_start(struct event_base **base, sio_server **srv, const sio_options *o);

/* SIGTERM and SIGINT on base: the first one removes both (so the loop can
 * end once the server is closed) and calls stop(arg). topt_signals_free
 * after the loop. -1 when they cannot be set up. */
int topt_signals(struct event_base *base, void (*stop)(void *arg), void *arg);
void topt_signals_free(void);
#endif
