/* Unit test of adapter/redis_tls.c: the iPAddress check of a server
 * certificate's subjectAltName (mbedtls 2.28 checks DNS names only), on
 * the extensions of real certificates (made with openssl req -x509), each
 * placed right before a guard page, and on every truncation of them. */
#include <arpa/inet.h>
#include <mbedtls/x509_crt.h>

#include "redis_tls.h"
#include "test.h"

/* SAN: DNS:localhost, IP:127.0.0.1, IP:::1 */
static const char with_san[] =
    "-----BEGIN CERTIFICATE-----\n"
    "MIIBqzCCAVKgAwIBAgIUT+EbH/NXErBInTc7WJjLon6D96QwCgYIKoZIzj0EAwIw\n"
    "EzERMA8GA1UEAwwIc2FuIHRlc3QwIBcNMjYxMTI3MjI0NzUyWhgPMjEyNjExMDMy\n"
    "MjQ3NTJaMBMxETAPBgNVBAMMCHNhbiB0ZXN0MFkwEwYHKoZIzj0CAQYIKoZIzj0D\n"
    "AQcDQgAE+PXN5pB9eTtnh0HdgcE+Oe4bVKiliqqcUZ9a+cBs97I2Y66lLDAvjHjf\n"
    "5Q20mUCFpdW4UrwBZ+RAyenEofdC4KOBgTB/MB0GA1UdDgQWBBTZiRdCCg50XqSq\n"
    "ehcxYStno+2Z9DAfBgNVHSMEGDAWgBTZiRdCCg50XqSqehcxYStno+2Z9DAPBgNV\n"
    "HRMBAf8EBTADAQH/MCwGA1UdEQQlMCOCCWxvY2FsaG9zdIcEfwAAAYcQAAAAAAAA\n"
    "AAAAAAAAAAAAATAKBggqhkjOPQQDAgNHADBEAiB5Zk51+Osdz+jSoPDtzgVXkZVP\n"
    "7HE/ZHDvmMaYHT5J+wIgcZEWPRduGYF3ENgQiXLNA150MtC0LOrSo8jdNFvu9P8=\n"
    "-----END CERTIFICATE-----\n";
/* no subjectAltName (basicConstraints critical, key identifiers) */
static const char without_san[] =
    "-----BEGIN CERTIFICATE-----\n"
    "MIIBeTCCAR+gAwIBAgIUZ9bviY3IYVarSPlysYVtvFZ630cwCgYIKoZIzj0EAwIw\n"
    "ETEPMA0GA1UEAwwGbm8gc2FuMCAXDTI2MTEyNzIyNDc1M1oYDzIxMjYxMTAzMjI0\n"
    "NzUzWjARMQ8wDQYDVQQDDAZubyBzYW4wWTATBgcqhkjOPQIBBggqhkjOPQMBBwNC\n"
    "AAQHQiY3N/CU7YD6y1cbm8vcYEZf3VcVB6v+7lXTIDwx8s1hRlmj5kbgB79BwjDU\n"
    "HNicKuOIFBLfS18H7D3OHKz5o1MwUTAdBgNVHQ4EFgQU2qSFpdxWSQpGa9n3VZPY\n"
    "yOhBN5swHwYDVR0jBBgwFoAU2qSFpdxWSQpGa9n3VZPYyOhBN5swDwYDVR0TAQH/\n"
    "BAUwAwEB/zAKBggqhkjOPQQDAgNIADBFAiAOL6VoevOsFz0zwJuByFxGVP2fTzyF\n"
    "J7Cd+hhy7UqZ9gIhAIwq9QSetbOfP9NWvm2H84bBTldtFdmyuyldwUjGeO3V\n"
    "-----END CERTIFICATE-----\n";

static int has_ip(const unsigned char *ext, size_t len, const char *addr) {
  unsigned char ip[16];
  int v6 = strchr(addr, ':') != NULL;
  if (inet_pton(v6 ? AF_INET6 : AF_INET, addr, ip) != 1) return -1;
  guard_buf g;
  unsigned char *p = guard_put(&g, ext, len);
  int r = sio_redis_tls_san_has_ip(p, len, ip, v6 ? 16 : 4);
  guard_free(&g);
  return r;
}

int main(void) {
  mbedtls_x509_crt a, b;
  mbedtls_x509_crt_init(&a);
  mbedtls_x509_crt_init(&b);
  CHECK_EQ_INT(mbedtls_x509_crt_parse(&a, (const unsigned char *)with_san, sizeof with_san), 0);
  CHECK_EQ_INT(mbedtls_x509_crt_parse(&b, (const unsigned char *)without_san, sizeof without_san), 0);
  const unsigned char *ea = a.v3_ext.p, *eb = b.v3_ext.p;
  size_t la = a.v3_ext.len, lb = b.v3_ext.len;
  CHECK(ea && la > 0 && eb && lb > 0);

  CHECK_EQ_INT(has_ip(ea, la, "127.0.0.1"), 1);
  CHECK_EQ_INT(has_ip(ea, la, "::1"), 1);
  CHECK_EQ_INT(has_ip(ea, la, "127.0.0.2"), 0);
  CHECK_EQ_INT(has_ip(ea, la, "10.0.0.1"), 0);
  CHECK_EQ_INT(has_ip(ea, la, "::2"), 0);
  /* the 4 bytes of 127.0.0.1 are not the 16 of ::ffff:127.0.0.1 */
  CHECK_EQ_INT(has_ip(ea, la, "::ffff:127.0.0.1"), 0);
  CHECK_EQ_INT(has_ip(eb, lb, "127.0.0.1"), 0);
  CHECK_EQ_INT(sio_redis_tls_san_has_ip(NULL, 0, (const unsigned char *)"\x7f\0\0\1", 4), 0);

  /* every truncation (the outer length then lies): never a read past the
   * end, never a false match of a name that is not in it */
  for (size_t n = 0; n < la; n++) CHECK(has_ip(ea, n, "127.0.0.1") <= 1);
  for (size_t n = 0; n < la; n++) CHECK_EQ_INT(has_ip(ea, n, "10.0.0.1"), 0);
  for (size_t n = 0; n < lb; n++) CHECK_EQ_INT(has_ip(eb, n, "127.0.0.1"), 0);
  /* every single-byte corruption of the SAN certificate's extensions */
  unsigned char *copy = malloc(la);
  for (size_t i = 0; copy && i < la; i++) {
    memcpy(copy, ea, la);
    copy[i] ^= 0xff;
    CHECK(has_ip(copy, la, "127.0.0.1") >= 0);
  }
  free(copy);

  mbedtls_x509_crt_free(&a);
  mbedtls_x509_crt_free(&b);
  TEST_END();
}
