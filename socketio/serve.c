#include "serve.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NFILES 12

struct sio_serve {
  char *dir;
  char *path;      /* the Socket.IO path, with its trailing '/' */
  char etag[80];   /* "\"<client version>\"" */
  sio_buf *cache[NFILES];
  int missing[NFILES];
};

/* The names Node's clientPathRegex accepts, in a fixed order. */
static int file_index(const char *name, size_t n) {
  static const char *const variants[] = {"", ".msgpack", ".esm"};
  static const char *const mins[] = {"", ".min"};
  static const char *const maps[] = {"", ".map"};
  int k = 0;
  char want[64];
  for (int v = 0; v < 3; v++)
    for (int m = 0; m < 2; m++)
      for (int p = 0; p < 2; p++, k++) {
        snprintf(want, sizeof want, "socket.io%s%s.js%s", variants[v], mins[m], maps[p]);
        if (strlen(want) == n && memcmp(want, name, n) == 0) return k;
      }
  return -1;
}

static sio_buf *read_file(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  sio_buf *b = NULL;
  if (fseek(f, 0, SEEK_END) == 0) {
    long n = ftell(f);
    if (n >= 0 && fseek(f, 0, SEEK_SET) == 0 && (b = sio_buf_alloc((size_t)n)) &&
        fread(sio_buf_mutable(b), 1, (size_t)n, f) != (size_t)n) {
      sio_buf_unref(b);
      b = NULL;
    }
  }
  fclose(f);
  return b;
}

sio_serve *sio_serve_new(const char *dir, const char *path) {
  char pkg[4096];
  snprintf(pkg, sizeof pkg, "%s/../package.json", dir);
  json_t *j = json_load_file(pkg, 0, NULL);
  const char *version = json_string_value(json_object_get(j, "version"));
  if (!version) {
    json_decref(j);
    return NULL;
  }
  sio_serve *sv = calloc(1, sizeof *sv);
  if (sv) {
    snprintf(sv->etag, sizeof sv->etag, "\"%s\"", version);
    sv->dir = strdup(dir);
    size_t n = strlen(path);
    sv->path = malloc(n + 2);
    if (sv->path) {
      memcpy(sv->path, path, n + 1);
      if (!n || path[n - 1] != '/') strcpy(sv->path + n, "/");
    }
    if (!sv->dir || !sv->path) {
      sio_serve_free(sv);
      sv = NULL;
    }
  }
  json_decref(j);
  return sv;
}

void sio_serve_free(sio_serve *sv) {
  if (!sv) return;
  for (int i = 0; i < NFILES; i++) sio_buf_unref(sv->cache[i]);
  free(sv->dir);
  free(sv->path);
  free(sv);
}

int sio_serve_handle(sio_serve *sv, const eio_request *req, eio_http_response *res) {
  size_t pl = strlen(sv->path);
  if (strncmp(req->path, sv->path, pl) != 0) return 0;
  const char *name = req->path + pl;
  int k = file_index(name, strlen(name));
  if (k < 0) return 0;
  if (strcmp(req->method, "GET") != 0 && strcmp(req->method, "HEAD") != 0) return 0;
  const char *inm = eio_request_header(req, "if-none-match");
  char weak[90];
  snprintf(weak, sizeof weak, "W/%s", sv->etag);
  if (inm && (!strcmp(inm, sv->etag) || !strcmp(inm, weak))) {
    eio_response_status(res, 304);
    return 1;
  }
  if (!sv->cache[k] && !sv->missing[k]) {
    char file[4096];
    snprintf(file, sizeof file, "%s/%s", sv->dir, name);
    sv->cache[k] = read_file(file);
    sv->missing[k] = sv->cache[k] == NULL;
  }
  if (!sv->cache[k]) return 0; /* not in this bundle: 404 */
  int map = k % 2 == 1;
  eio_response_status(res, 200);
  eio_response_header(res, "Cache-Control", "public, max-age=0");
  eio_response_header(res, "Content-Type", map ? "application/json; charset=utf-8"
                                               : "application/javascript; charset=utf-8");
  eio_response_header(res, "ETag", sv->etag);
  eio_response_body(res, sv->cache[k]);
  return 1;
}
