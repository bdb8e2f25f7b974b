/* builtin.c - registers every built-in block type. */
#include <pthread.h>

#include "blocks.h"

static const bd_block_type *const bd__builtin[] = {
    &bd_block_linear, &bd_block_sequential, &bd_block_relu,
    &bd_block_sigmoid, &bd_block_tanh, &bd_block_gelu,
};

static pthread_once_t bd__blocks_once = PTHREAD_ONCE_INIT;

static void bd__blocks_register(void) {
  for (size_t i = 0; i < sizeof bd__builtin / sizeof bd__builtin[0]; i++)
    (void)bd_block_type_register(bd__builtin[i]);
}

void bd_blocks_init(void) { pthread_once(&bd__blocks_once, bd__blocks_register); }
