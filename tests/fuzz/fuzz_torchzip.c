/* fuzz_torchzip.c - libFuzzer target for the torch.save zip reader
 * (engine/torchzip.h, engine/torch_pickle.h): any input must give BD_OK
 * or a clean failure - no crash, leak, UB or unbounded allocation. */
#include <stdint.h>
#include <string.h>

#include "fuzz_common.h"
#include "proto/torchzip.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  proto_tfile_limits lim = {.max_tensors = 4096,
                            .max_elems = 1 << 24,
                            .max_total_bytes = 256u << 20,
                            .borrow = false};
  (void)proto_torchzip_sniff(data, size);
  for (int borrow = 0; borrow < 2; borrow++) {
    lim.borrow = borrow;
    proto_tfile f;
    memset(&f, 0, sizeof f);
    if (proto_torchzip_read(data, size, &lim, &f) == BD_OK)
      for (size_t i = 0; i < f.list.n; i++) fuzz_touch(f.list.tensors[i]);
    proto_tfile_clear(&f);
  }
  return 0;
}
