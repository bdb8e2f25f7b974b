/* blocks.h - the built-in block types (one kind per file).
 *
 * Adding a built-in is one file here: define the bd_block_type (with its
 * field table) and end the file with
 *   BD_BLOCKS_FILE_TYPES(<file name without .c>, &my_type, ...);
 * CMake lists the .c files of engine/blocks at configure time into
 * blocks_list.h (one BD_BLOCKS_FILE(stem) line per file) and builtin.c
 * registers every file's types from it, so no central list needs
 * editing. */
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

/* The NULL-terminated list of the types a file defines, under a name
 * derived from the file's name (bd_blocks_<stem>). */
#define BD_BLOCKS_FILE_TYPES(stem, ...) \
  const bd_block_type *const bd_blocks_##stem[] = {__VA_ARGS__, NULL}

#endif
