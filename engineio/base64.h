/* Standard base64 (RFC 4648 section 4, with padding): pure functions. */
#ifndef EIO_BASE64_H
#define EIO_BASE64_H
#include <stddef.h>
#include <stdint.h>

size_t eio_base64_encoded_len(size_t n);
/* Writes exactly eio_base64_encoded_len(n) chars to out (no NUL). */
void eio_base64_encode(const uint8_t *in, size_t n, char *out);
/* Upper bound of the decoded size of n base64 chars. */
size_t eio_base64_decoded_max(size_t n);
/* Decodes n chars into out (at least eio_base64_decoded_max(n) bytes).
 * Accepts padded and unpadded input, as Node's Buffer.from(s, "base64")
 * does for well-formed data; rejects any char outside the alphabet, a
 * length of 1 mod 4 and misplaced padding. Returns the decoded length or
 * -1 on malformed input. */
long eio_base64_decode(const char *in, size_t n, uint8_t *out);
#endif
