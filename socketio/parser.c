#include "parser.h"

#include <stdlib.h>
#include <string.h>

static const char *const reserved[] = {"connect", "connect_error", "disconnect",
                                       "disconnecting", "newListener",
                                       "removeListener"};

int sio_reserved_event(const char *name) {
  for (size_t i = 0; i < sizeof reserved / sizeof *reserved; i++)
    if (strcmp(name, reserved[i]) == 0) return 1;
  return 0;
}

char sio_root_nsp[] = "/";

static int is_digit(char c) { return c >= '0' && c <= '9'; }

/* isPayloadValid of socket.io-parser. */
static int payload_valid(int type, const json_t *d) {
  switch (type) {
  case SIO_PACKET_CONNECT:
    return json_is_object(d);
  case SIO_PACKET_DISCONNECT:
    return d == NULL;
  case SIO_PACKET_CONNECT_ERROR:
    return json_is_string(d) || json_is_object(d);
  case SIO_PACKET_EVENT:
  case SIO_PACKET_BINARY_EVENT: {
    if (!json_is_array(d) || json_array_size(d) == 0) return 0;
    const json_t *n = json_array_get(d, 0);
    if (json_is_number(n)) return 1;
    return json_is_string(n) && !sio_reserved_event(json_string_value(n)) &&
           strlen(json_string_value(n)) == json_string_length(n);
  }
  case SIO_PACKET_ACK:
  case SIO_PACKET_BINARY_ACK:
    return json_is_array(d);
  }
  return 0;
}

int sio_packet_decode(const char *s, size_t len, const sio_parser_limits *lim,
                      sio_packet *p, const char **err) {
  memset(p, 0, sizeof *p);
  p->id = SIO_NO_ACK;
  size_t i = 0;
  if (len == 0 || s[0] < '0' || s[0] > '6') {
    *err = "unknown packet type";
    return -1;
  }
  p->type = s[0] - '0';
  if (p->type == SIO_PACKET_BINARY_EVENT || p->type == SIO_PACKET_BINARY_ACK) {
    size_t start = 1, j = 1;
    while (j < len && s[j] != '-') j++;
    if (j >= len || j == start || j - start > 9) {
      *err = "Illegal attachments";
      return -1;
    }
    size_t n = 0;
    for (size_t k = start; k < j; k++) {
      if (!is_digit(s[k])) {
        *err = "Illegal attachments";
        return -1;
      }
      n = n * 10 + (size_t)(s[k] - '0');
    }
    if (n < 1) {
      *err = "Illegal attachments";
      return -1;
    }
    if (n > lim->max_attachments) {
      *err = "too many attachments";
      return -1;
    }
    p->attachments = n;
    i = j; /* at '-' */
  } else {
    i = 0;
  }
  /* i is the index of the last character consumed. The namespace runs
   * from '/' up to ',' or the end of the string. */
  if (i + 1 < len && s[i + 1] == '/') {
    size_t start = i + 1, j = start;
    while (j < len && s[j] != ',') j++;
    if (j - start > lim->max_nsp_len) {
      *err = "namespace too long";
      return -1;
    }
    p->nsp = strndup(s + start, j - start);
    if (!p->nsp || strlen(p->nsp) != j - start) {
      *err = p->nsp ? "invalid namespace" : "out of memory";
      sio_packet_clear(p);
      return -1;
    }
    i = j; /* the ',' or len */
  } else {
    p->nsp = sio_root_nsp; /* not allocated: sio_packet_clear knows it */
  }
  size_t pos = i + 1; /* may be len + 1 when the namespace ran to the end */
  if (pos < len && is_digit(s[pos])) {
    long long id = 0;
    while (pos < len && is_digit(s[pos])) {
      if (id > (SIO_MAX_ACK_ID - (s[pos] - '0')) / 10) {
        *err = "ack id too large";
        sio_packet_clear(p);
        return -1;
      }
      id = id * 10 + (s[pos] - '0');
      pos++;
    }
    p->id = id;
  }
  /* A missing payload is not validated (Node: "42" is an event with no
   * arguments). */
  if (pos < len) {
    p->data = sio_json_parse(s + pos, len - pos);
    if (!p->data || !payload_valid(p->type, p->data)) {
      *err = "invalid payload";
      sio_packet_clear(p);
      return -1;
    }
  }
  return 0;
}

/* Checks that every placeholder in v has num in [0, n). */
static int placeholders_ok(const json_t *v, size_t n) {
  long long k;
  if (sio_json_is_placeholder(v, &k)) return k >= 0 && (size_t)k < n;
  if (json_is_array(v)) {
    for (size_t i = 0; i < json_array_size(v); i++)
      if (!placeholders_ok(json_array_get(v, i), n)) return 0;
  } else if (json_is_object(v)) {
    const char *key;
    json_t *val;
    json_object_foreach((json_t *)v, key, val) if (!placeholders_ok(val, n)) return 0;
  }
  return 1;
}

int sio_packet_add_binary(sio_packet *p, sio_buf *b, const char **err) {
  if (!p->bins) {
    p->bins = calloc(p->attachments, sizeof *p->bins);
    if (!p->bins) {
      *err = "out of memory";
      return -1;
    }
  }
  p->bins[p->nbins++] = sio_buf_ref(b);
  if (p->nbins < p->attachments) return 0;
  if (p->data && !placeholders_ok(p->data, p->nbins)) {
    *err = "illegal attachments";
    return -1;
  }
  return 1;
}

void sio_packet_clear(sio_packet *p) {
  if (p->nsp != sio_root_nsp) free(p->nsp);
  json_decref(p->data);
  for (size_t i = 0; i < p->nbins; i++) sio_buf_unref(p->bins[i]);
  free(p->bins);
  memset(p, 0, sizeof *p);
  p->id = SIO_NO_ACK;
}

/* The packet head: type, attachment count, namespace, ack id. */
static int encode_head(int type, size_t n_bin, const char *nsp, long long id,
                       sio_jbuf *out) {
  sio_jbuf_putc(out, (char)('0' + type));
  if (n_bin) {
    sio_jbuf_int(out, (long long)n_bin);
    sio_jbuf_putc(out, '-');
  }
  if (nsp && !(nsp[0] == '/' && nsp[1] == '\0')) {
    sio_jbuf_put(out, nsp, strlen(nsp));
    sio_jbuf_putc(out, ',');
  }
  if (id >= 0) sio_jbuf_int(out, id);
  return out->err ? -1 : 0;
}

/* sio_packet_encode into a byte buffer. */
static int encode_text(int type, const char *nsp, long long id,
                       const json_t *data, sio_buf *const *bins, size_t nbins,
                       sio_jbuf *out, sio_buf ***att, size_t *n_att) {
  *att = NULL;
  *n_att = 0;
  if (!nbins || !data) { /* no placeholder can count: the head is known */
    if (encode_head(type, 0, nsp, id, out)) return -1;
    return data && sio_json_write(data, out, NULL) ? -1 : 0;
  }
  char stack[512];
  sio_jbuf body = SIO_JBUF_INIT(stack);
  sio_bin_list bl = {bins, nbins, NULL, 0, 0};
  int rc = sio_json_write(data, &body, &bl);
  if (!rc && bl.n_out) {
    if (type == SIO_PACKET_EVENT) type = SIO_PACKET_BINARY_EVENT;
    else if (type == SIO_PACKET_ACK) type = SIO_PACKET_BINARY_ACK;
  }
  if (!rc) rc = encode_head(type, bl.n_out, nsp, id, out);
  if (!rc) rc = sio_jbuf_put(out, body.p, body.len);
  sio_jbuf_release(&body);
  if (rc) {
    for (size_t i = 0; i < bl.n_out; i++) sio_buf_unref(bl.out[i]);
    free(bl.out);
    return -1;
  }
  *att = bl.out;
  *n_att = bl.n_out;
  return 0;
}

int sio_packet_encode(int type, const char *nsp, long long id,
                      const json_t *data, sio_buf *const *bins, size_t nbins,
                      struct evbuffer *out, sio_buf ***att, size_t *n_att) {
  char stack[512];
  sio_jbuf b = SIO_JBUF_INIT(stack);
  int rc = encode_text(type, nsp, id, data, bins, nbins, &b, att, n_att);
  if (!rc && evbuffer_add(out, b.p, b.len) != 0) {
    for (size_t i = 0; i < *n_att; i++) sio_buf_unref((*att)[i]);
    free(*att);
    *att = NULL;
    *n_att = 0;
    rc = -1;
  }
  sio_jbuf_release(&b);
  return rc;
}

void sio_encoded_clear(sio_encoded *e) {
  sio_buf_unref(e->head);
  for (size_t i = 0; i < e->natt; i++) sio_buf_unref(e->att[i]);
  free(e->att);
  memset(e, 0, sizeof *e);
}

/* ------------------------------------------ the default parser object */

static int default_encode(const sio_parser *self, const sio_packet *p,
                          sio_encoded *out) {
  (void)self;
  char stack[1024];
  sio_jbuf b = SIO_JBUF_INIT(stack);
  int rc = encode_text(p->type, p->nsp, p->id, p->data, p->bins, p->nbins, &b,
                       &out->att, &out->natt);
  if (rc == 0) {
    out->head = sio_buf_new(b.p, b.len);
    if (!out->head) rc = -1;
  }
  sio_jbuf_release(&b);
  if (rc) sio_encoded_clear(out);
  return rc;
}

/* socket.io-parser's Decoder: a text packet, then the binary attachments
 * it announced, each in its own message. */
typedef struct default_decoder {
  sio_parser_limits lim;
  sio_packet partial; /* binary packet awaiting attachments */
  int partial_active;
} default_decoder;

static void *default_decoder_new(const sio_parser *self,
                                 const sio_parser_limits *lim) {
  (void)self;
  default_decoder *d = calloc(1, sizeof *d);
  if (d) d->lim = *lim;
  return d;
}

static void default_decoder_free(void *dec) {
  default_decoder *d = dec;
  if (!d) return;
  if (d->partial_active) sio_packet_clear(&d->partial);
  free(d);
}

static int default_decode(void *dec, const uint8_t *data, size_t len, int binary,
                          sio_packet *out, const char **err) {
  default_decoder *d = dec;
  if (binary) {
    if (!d->partial_active) {
      *err = "got binary data when not reconstructing a packet";
      return -1;
    }
    sio_buf *b = sio_buf_new(data, len);
    int r = b ? sio_packet_add_binary(&d->partial, b, err) : -1;
    if (!b) *err = "out of memory";
    sio_buf_unref(b);
    if (r == 0) return 0;
    /* Complete or failed: the partial packet leaves the decoder. */
    d->partial_active = 0;
    if (r < 0) {
      sio_packet_clear(&d->partial);
      return -1;
    }
    *out = d->partial;
    memset(&d->partial, 0, sizeof d->partial);
    return 1;
  }
  if (d->partial_active) {
    *err = "got plaintext data when reconstructing a packet";
    sio_packet_clear(&d->partial);
    d->partial_active = 0;
    return -1;
  }
  sio_packet p;
  if (sio_packet_decode((const char *)data, len, &d->lim, &p, err) != 0) return -1;
  if (p.type == SIO_PACKET_BINARY_EVENT || p.type == SIO_PACKET_BINARY_ACK) {
    d->partial = p;
    d->partial_active = 1;
    return 0;
  }
  *out = p;
  return 1;
}

const sio_parser sio_parser_default = {"socket.io-parser", default_encode,
                                       default_decoder_new, default_decode,
                                       default_decoder_free, NULL};
