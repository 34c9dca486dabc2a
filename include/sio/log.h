/*
 * Structured logs with levels, one line each on stderr:
 *   2026-11-22T04:50:00.123Z INFO  sio:socket connected id=... nsp=/
 * Debug lines are off unless asked for, in the spirit of Node's
 * DEBUG=socket.io:* : DEBUG (or SIO_DEBUG) holds comma- or space-separated
 * patterns with '*' wildcards, e.g. DEBUG=sio:* or DEBUG=sio:engine,chat.
 * Not thread-safe beyond what stdio gives: log from the loop thread.
 */
#ifndef SIO_LOG_H
#define SIO_LOG_H

#ifdef __cplusplus
extern "C" {
#endif

enum { SIO_LOG_ERROR = 0, SIO_LOG_WARN = 1, SIO_LOG_INFO = 2, SIO_LOG_DEBUG = 3 };

/* Messages above level are dropped (default SIO_LOG_INFO; debug lines
 * also need a DEBUG pattern matching their component). */
void sio_log_set_level(int level);
/* Replaces the DEBUG patterns (NULL: read DEBUG / SIO_DEBUG again).
 * Both setters are for start-up: call them before a server with several
 * loops listens (sio_log itself may be called from any thread). */
void sio_log_set_debug(const char *patterns);
int sio_log_enabled(int level, const char *component);
void sio_log(int level, const char *component, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#ifdef __cplusplus
}
#endif
#endif
