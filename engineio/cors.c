/*
 * CORS for the HTTP front door, with the semantics of the npm `cors`
 * package as Node's engine.io applies it (eio_options.cors).
 */
#include "internal.h"

#include <stdlib.h>
#include <string.h>

static void hdr_add(struct evbuffer *b, const char *name, const char *v,
                    size_t vlen) {
  evbuffer_add_printf(b, "%s: ", name);
  evbuffer_add(b, v, vlen);
  evbuffer_add(b, "\r\n", 2);
}

/* The CORS headers for a request (npm `cors` semantics); preflight adds
 * the method/header/max-age ones. */
void eio_cors_headers(eio_server *srv, eio_conn *c, struct evbuffer *b,
                      int preflight) {
  const eio_cors *k = &srv->cors;
  const eio_http_header *oh = eio_http_find(&c->req, "origin");
  char vary[64] = "";
  if (k->origin_fn) {
    char *origin = NULL;
    if (oh) {
      origin = malloc(oh->value_len + 1);
      if (origin) {
        memcpy(origin, oh->value, oh->value_len);
        origin[oh->value_len] = '\0';
      }
    }
    if (k->origin_fn(origin, k->origin_user_data) && oh)
      hdr_add(b, "Access-Control-Allow-Origin", oh->value, oh->value_len);
    free(origin);
    strcpy(vary, "Origin");
  } else if (k->num_origins == 1 && strcmp(k->origins[0], "*") == 0) {
    hdr_add(b, "Access-Control-Allow-Origin", "*", 1);
  } else if (k->num_origins == 1) {
    hdr_add(b, "Access-Control-Allow-Origin", k->origins[0],
            strlen(k->origins[0]));
    strcpy(vary, "Origin");
  } else if (k->num_origins > 1) {
    if (oh) {
      for (size_t i = 0; i < k->num_origins; i++) {
        if (strcmp(k->origins[i], "*") == 0 ||
            (strlen(k->origins[i]) == oh->value_len &&
             memcmp(k->origins[i], oh->value, oh->value_len) == 0)) {
          hdr_add(b, "Access-Control-Allow-Origin", oh->value, oh->value_len);
          break;
        }
      }
    }
    strcpy(vary, "Origin");
  }
  if (k->credentials)
    hdr_add(b, "Access-Control-Allow-Credentials", "true", 4);
  if (preflight) {
    const char *m = k->methods ? k->methods : "GET,HEAD,PUT,PATCH,POST,DELETE";
    hdr_add(b, "Access-Control-Allow-Methods", m, strlen(m));
    if (k->allowed_headers) {
      hdr_add(b, "Access-Control-Allow-Headers", k->allowed_headers,
              strlen(k->allowed_headers));
    } else {
      const eio_http_header *rh =
          eio_http_find(&c->req, "access-control-request-headers");
      if (rh)
        hdr_add(b, "Access-Control-Allow-Headers", rh->value, rh->value_len);
      strcat(vary, vary[0] ? ", Access-Control-Request-Headers"
                           : "Access-Control-Request-Headers");
    }
    if (k->max_age >= 0 && k->max_age) evbuffer_add_printf(b, "Access-Control-Max-Age: %d\r\n", k->max_age);
  }
  if (k->exposed_headers)
    hdr_add(b, "Access-Control-Expose-Headers", k->exposed_headers,
            strlen(k->exposed_headers));
  if (vary[0]) hdr_add(b, "Vary", vary, strlen(vary));
}
