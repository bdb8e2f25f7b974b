/* builtin.c - registers every built-in block type: the types of each
 * engine/blocks/<stem>.c file, from the list CMake writes at configure
 * time (blocks_list.h, one BD_BLOCKS_FILE(stem) per file, sorted). */
#include <pthread.h>

#include "blocks.h"

#define BD_BLOCKS_FILE(stem) \
  extern const bd_block_type *const bd_blocks_##stem[];
#include "blocks_list.h"
#undef BD_BLOCKS_FILE

static const bd_block_type *const *const bd__builtin_files[] = {
#define BD_BLOCKS_FILE(stem) bd_blocks_##stem,
#include "blocks_list.h"
#undef BD_BLOCKS_FILE
};

static pthread_once_t bd__blocks_once = PTHREAD_ONCE_INIT;
static int bd__nbuiltin;

static void bd__blocks_register(void) {
  size_t nfiles = sizeof bd__builtin_files / sizeof bd__builtin_files[0];
  for (size_t i = 0; i < nfiles; i++)
    for (const bd_block_type *const *t = bd__builtin_files[i]; *t; t++)
      if (bd_block_type_register(*t) == BD_OK) bd__nbuiltin++;
}

void bd_blocks_init(void) {
  pthread_once(&bd__blocks_once, bd__blocks_register);
}

int bd_blocks_builtin_count(void) {
  bd_blocks_init();
  return bd__nbuiltin;
}
