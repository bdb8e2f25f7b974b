/* builtin.c - registers every built-in block type. */
#include <pthread.h>

#include "blocks.h"

static const bd_block_type *const bd__builtin[] = {
    &bd_block_linear, &bd_block_sequential, &bd_block_relu,
    &bd_block_sigmoid, &bd_block_tanh, &bd_block_gelu,
    &bd_block_residual, &bd_block_parallel, &bd_block_softmax,
    &bd_block_dropout, &bd_block_flatten, &bd_block_identity,
    &bd_block_centered, &bd_block_matmul, &bd_block_add, &bd_block_scale,
    &bd_block_sum, &bd_block_mean, &bd_block_while,
};

static pthread_once_t bd__blocks_once = PTHREAD_ONCE_INIT;

static void bd__blocks_register(void) {
  for (size_t i = 0; i < sizeof bd__builtin / sizeof bd__builtin[0]; i++)
    (void)bd_block_type_register(bd__builtin[i]);
}

void bd_blocks_init(void) { pthread_once(&bd__blocks_once, bd__blocks_register); }
