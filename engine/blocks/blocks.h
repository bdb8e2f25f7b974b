/* blocks.h - the built-in block types (one kind per file). */
#ifndef BD_BLOCKS_H
#define BD_BLOCKS_H

#include "../block.h"

extern const bd_block_type bd_block_linear;
extern const bd_block_type bd_block_sequential;
extern const bd_block_type bd_block_relu;
extern const bd_block_type bd_block_sigmoid;
extern const bd_block_type bd_block_tanh;
extern const bd_block_type bd_block_gelu;
/* The block catalog (issue 3), one kind per file. */
extern const bd_block_type bd_block_residual;
extern const bd_block_type bd_block_parallel;
extern const bd_block_type bd_block_softmax;
extern const bd_block_type bd_block_dropout;
extern const bd_block_type bd_block_flatten;
extern const bd_block_type bd_block_identity;
extern const bd_block_type bd_block_centered;
extern const bd_block_type bd_block_matmul;
extern const bd_block_type bd_block_add;
extern const bd_block_type bd_block_scale;
extern const bd_block_type bd_block_sum;
extern const bd_block_type bd_block_mean;
extern const bd_block_type bd_block_while;

#endif
