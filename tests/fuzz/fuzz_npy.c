/* fuzz_npy.c - libFuzzer target for the .npy reader (proto/npy.h): any
 * input must give BD_OK or a clean failure, and a tensor read back must
 * re-encode and decode to the same bytes. */
#include <stdint.h>
#include <string.h>

#include "fuzz_common.h"
#include "proto/npy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  bd_tensor *t = NULL;
  if (proto_npy_read(data, size, 1 << 24, &t) != BD_OK) return 0;
  fuzz_touch(t);
  proto_buf b;
  memset(&b, 0, sizeof b);
  if (proto_npy_write(&b, t) == BD_OK) {
    bd_tensor *u = NULL;
    if (proto_npy_read(b.data, b.len, 0, &u) != BD_OK) __builtin_trap();
    if (u->dtype != t->dtype || u->ndim != t->ndim ||
        memcmp(u->shape, t->shape, sizeof(int64_t) * (size_t)t->ndim) ||
        memcmp(bd_tensor_data(u), bd_tensor_data(t), bd_tensor_nbytes(t)))
      __builtin_trap();
    bd_tensor_release(u);
  }
  proto_buf_free(&b);
  bd_tensor_release(t);
  return 0;
}
