/* fuzz_safetensors.c - libFuzzer target for the safetensors reader
 * (engine/safetensors.h): any input must give BD_OK or a clean failure,
 * with no crash, leak, UB or unbounded allocation. Both the copying and
 * the borrowing mode run, with limits small enough to keep memory bounded. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "proto/safetensors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  proto_tfile_limits lim = {.max_tensors = 4096,
                            .max_elems = 1 << 24,
                            .max_total_bytes = 256u << 20,
                            .borrow = false};
  (void)proto_safetensors_sniff(data, size);
  for (int borrow = 0; borrow < 2; borrow++) {
    lim.borrow = borrow;
    proto_tfile f;
    memset(&f, 0, sizeof f);
    cJSON *meta = NULL;
    bd_status s = proto_safetensors_read(data, size, &lim, &f, &meta);
    if (s == BD_OK) {
      for (size_t i = 0; i < f.list.n; i++) fuzz_touch(f.list.tensors[i]);
    }
    cJSON_Delete(meta);
    proto_tfile_clear(&f);
  }
  return 0;
}
