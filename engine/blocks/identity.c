/* identity.c - nn.Identity: y = x, dx = dy. The output shares the input
 * tensor (blocks never write into their inputs). */
#include "../block.h"
#include "blocks.h"

static bd_status identity_forward(bd_block *b, bd_exec *ex, bd_tensor *x,
                                  bd_tensor **y, void **saved) {
  (void)b;
  (void)ex;
  (void)saved;
  *y = bd_tensor_retain(x);
  return BD_OK;
}

static bd_status identity_backward(bd_block *b, bd_exec *ex, void *saved,
                                   bd_tensor *dy, bd_tensor **dx) {
  (void)b;
  (void)ex;
  (void)saved;
  if (dx) *dx = bd_tensor_retain(dy);
  return BD_OK;
}

const bd_block_type bd_block_identity = {
    .name = "identity",
    .doc = "nn.Identity.",
    .forward = identity_forward,
    .backward = identity_backward,
    .rows = bd_rows_same,
};

BD_BLOCKS_FILE_TYPES(identity, &bd_block_identity);
