/* philox.h - Philox4x32-10, the counter-based generator behind every random
 * number blockd draws. Header-only so that the CUDA backend computes the
 * very same streams: element i of a draw depends only on (seed, counter
 * offset, i), never on the device or the order of evaluation. */
#ifndef BD_PHILOX_H
#define BD_PHILOX_H

#include <stdint.h>

#include "hd.h"

typedef struct bd_philox4 {
  uint32_t v[4];
} bd_philox4;

BD_HD uint32_t bd__mulhilo(uint32_t a, uint32_t b, uint32_t *hi) {
  uint64_t p = (uint64_t)a * (uint64_t)b;
  *hi = (uint32_t)(p >> 32);
  return (uint32_t)p;
}

/* One 128-bit block of Philox4x32-10 output for counter ctr and key seed. */
BD_HD bd_philox4 bd_philox(uint64_t seed, uint64_t ctr) {
  uint32_t c0 = (uint32_t)ctr, c1 = (uint32_t)(ctr >> 32), c2 = 0, c3 = 0;
  uint32_t k0 = (uint32_t)seed, k1 = (uint32_t)(seed >> 32);
  for (int r = 0; r < 10; r++) {
    uint32_t hi0, hi1;
    uint32_t lo0 = bd__mulhilo(0xD2511F53u, c0, &hi0);
    uint32_t lo1 = bd__mulhilo(0xCD9E8D57u, c2, &hi1);
    uint32_t n0 = hi1 ^ c1 ^ k0, n1 = lo1, n2 = hi0 ^ c3 ^ k1, n3 = lo0;
    c0 = n0;
    c1 = n1;
    c2 = n2;
    c3 = n3;
    k0 += 0x9E3779B9u;
    k1 += 0xBB67AE85u;
  }
  bd_philox4 out = {{c0, c1, c2, c3}};
  return out;
}

/* The i-th 32-bit word of the stream starting at block offset off. */
BD_HD uint32_t bd_philox_u32(uint64_t seed, uint64_t off, uint64_t i) {
  bd_philox4 b = bd_philox(seed, off + i / 4);
  return b.v[i % 4];
}

/* Uniform in [0, 1) with 24 random bits: exact in float32 on every device. */
BD_HD float bd_u32_to_unit(uint32_t x) {
  return (float)(x >> 8) * (1.0f / 16777216.0f);
}

/* Uniform in (0, 1]: for logarithms. */
BD_HD float bd_u32_to_unit_open0(uint32_t x) {
  return (float)((x >> 8) + 1u) * (1.0f / 16777216.0f);
}

/* Number of 128-bit counter blocks a draw of n elements consumes. */
BD_HD uint64_t bd_philox_blocks(uint64_t n) { return (n + 3) / 4; }

#endif
