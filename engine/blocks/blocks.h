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

#endif
