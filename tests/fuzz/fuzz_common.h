/* fuzz_common.h - helpers shared by the libFuzzer targets. */
#ifndef BD_FUZZ_COMMON_H
#define BD_FUZZ_COMMON_H

#include <stdint.h>

#include "engine/tensor.h"

/* Reads every byte of a CPU tensor so ASan flags views that reach past
 * their storage, and checks the view lies inside it. */
static inline void fuzz_touch(const bd_tensor *t) {
  if (!t) __builtin_trap();
  size_t nb = bd_tensor_nbytes(t);
  if (t->offset > t->st->nbytes || nb > t->st->nbytes - t->offset)
    __builtin_trap();
  const volatile uint8_t *p = (const volatile uint8_t *)bd_tensor_data(t);
  uint8_t acc = 0;
  for (size_t k = 0; k < nb; k++) acc ^= p[k];
  (void)acc;
}

#endif
