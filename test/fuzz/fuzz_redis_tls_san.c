/* libFuzzer target: the subjectAltName iPAddress check of
 * adapter/redis_tls.c over arbitrary extension bytes (as a server's
 * certificate brings them). It answers 0 or 1 and reads only the input. */
#include <stdint.h>
#include <stdlib.h>

#include "redis_tls.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static const unsigned char v4[4] = {127, 0, 0, 1};
  static const unsigned char v6[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
  int a = sio_redis_tls_san_has_ip(data, size, v4, sizeof v4);
  int b = sio_redis_tls_san_has_ip(data, size, v6, sizeof v6);
  if ((a != 0 && a != 1) || (b != 0 && b != 1)) abort();
  return 0;
}
