/* rng.h - drawing tensors from a model's Philox stream.
 *
 * A stream is (seed, offset): offset counts 128-bit Philox blocks already
 * consumed. Every draw of n elements consumes ceil(n/4) blocks, whatever
 * the distribution, so streams stay aligned. Values are generated on the
 * host and copied to the tensor's device, which makes parameters
 * bit-identical on every device for the same seed. */
#ifndef BD_RNG_H
#define BD_RNG_H

#include <stdint.h>

#include "backend.h"

/* Fills t (float32, any device) from the stream and advances *offset.
 * kind: BD_RNG_UNIFORM (U[p0, p1)), BD_RNG_NORMAL (mean p0, std p1),
 * BD_RNG_BERNOULLI (1 with probability p0). */
bd_status bd_rng_fill(bd_tensor *t, bd_rng_kind kind, double p0, double p1,
                      uint64_t seed, uint64_t *offset);

#endif
