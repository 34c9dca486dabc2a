#include "redis_reader.h"

#include <stdlib.h>
#include <string.h>

typedef struct budget {
  size_t slots; /* element slots allocated for the reply being read */
} budget;

static void *link_reply(const redisReadTask *task, redisReply *r) {
  if (task->parent) {
    redisReply *p = task->parent->obj;
    p->element[task->idx] = r;
  }
  return r;
}

static redisReply *new_reply(int type) {
  redisReply *r = calloc(1, sizeof *r);
  if (r) r->type = type;
  return r;
}

static void *create_string(const redisReadTask *task, char *str, size_t len) {
  redisReply *r = new_reply(task->type);
  if (!r) return NULL;
  r->str = malloc(len + 1);
  if (!r->str) {
    free(r);
    return NULL;
  }
  memcpy(r->str, str, len);
  r->str[len] = '\0';
  r->len = len;
  return link_reply(task, r);
}

static void *create_array(const redisReadTask *task, int elements) {
  /* The root task carries the reader's privdata (hiredis copies it there
   * at the start of every reply); nested tasks reach it through their
   * parents. */
  const redisReadTask *root = task;
  while (root->parent) root = root->parent;
  budget *b = root->privdata;
  if (!task->parent) b->slots = 0;
  size_t n = elements > 0 ? (size_t)elements : 0;
  if (n > SIO_RREADER_MAX_ELEMENTS || b->slots + n > SIO_RREADER_MAX_ELEMENTS)
    return NULL;
  redisReply *r = new_reply(REDIS_REPLY_ARRAY);
  if (!r) return NULL;
  if (n) {
    r->element = calloc(n, sizeof *r->element);
    if (!r->element) {
      free(r);
      return NULL;
    }
  }
  r->elements = n;
  b->slots += n;
  return link_reply(task, r);
}

static void *create_integer(const redisReadTask *task, long long value) {
  redisReply *r = new_reply(REDIS_REPLY_INTEGER);
  if (!r) return NULL;
  r->integer = value;
  return link_reply(task, r);
}

static void *create_nil(const redisReadTask *task) {
  redisReply *r = new_reply(REDIS_REPLY_NIL);
  return r ? link_reply(task, r) : NULL;
}

static void free_object(void *obj) { freeReplyObject(obj); }

static redisReplyObjectFunctions fns = {create_string, create_array,
                                        create_integer, create_nil,
                                        free_object};

redisReader *sio_rreader_new(void) {
  budget *b = calloc(1, sizeof *b);
  redisReader *rd = b ? redisReaderCreateWithFunctions(&fns) : NULL;
  if (!rd) {
    free(b);
    return NULL;
  }
  rd->privdata = b;
  return rd;
}

void sio_rreader_free(redisReader *rd) {
  if (!rd) return;
  free(rd->privdata);
  redisReaderFree(rd);
}
