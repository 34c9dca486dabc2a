#include "sio/log.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

static int max_level = SIO_LOG_INFO;
static char patterns[512];
static int patterns_loaded;

void sio_log_set_level(int level) { max_level = level; }

void sio_log_set_debug(const char *p) {
  if (!p) {
    p = getenv("SIO_DEBUG");
    if (!p) p = getenv("DEBUG");
  }
  snprintf(patterns, sizeof patterns, "%s", p ? p : "");
  patterns_loaded = 1;
}

/* '*' matches any run of characters. */
static int glob(const char *pat, size_t pn, const char *s) {
  if (pn == 0) return *s == '\0';
  if (*pat == '*') {
    for (;;) {
      if (glob(pat + 1, pn - 1, s)) return 1;
      if (!*s) return 0;
      s++;
    }
  }
  return *s && *s == *pat && glob(pat + 1, pn - 1, s + 1);
}

/* The environment is read once, whichever loop thread logs first; an
 * explicit sio_log_set_debug (made before loops start) takes precedence. */
static pthread_once_t env_once = PTHREAD_ONCE_INIT;
static void load_env(void) {
  if (!patterns_loaded) sio_log_set_debug(NULL);
}

static int debug_on(const char *component) {
  pthread_once(&env_once, load_env);
  const char *p = patterns;
  while (*p) {
    while (*p == ',' || *p == ' ') p++;
    size_t n = strcspn(p, ", ");
    if (n && glob(p, n, component)) return 1;
    p += n;
  }
  return 0;
}

int sio_log_enabled(int level, const char *component) {
  if (level == SIO_LOG_DEBUG) return debug_on(component);
  return level <= max_level;
}

void sio_log(int level, const char *component, const char *fmt, ...) {
  if (!sio_log_enabled(level, component)) return;
  static const char *const names[] = {"ERROR", "WARN ", "INFO ", "DEBUG"};
  struct timeval tv;
  gettimeofday(&tv, NULL);
  struct tm tm;
  gmtime_r(&tv.tv_sec, &tm);
  char when[32];
  strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%S", &tm);
  char msg[2048];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  fprintf(stderr, "%s.%03dZ %s %s %s\n", when, (int)(tv.tv_usec / 1000),
          names[level < 0 ? 0 : level > 3 ? 3 : level], component, msg);
}
