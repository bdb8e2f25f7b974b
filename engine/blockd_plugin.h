/* blockd_plugin.h - the public header for writing custom layers (block
 * types) in C and loading them into blockd with --plugin lib.so.
 *
 * A plugin is a shared library that exports ONE function,
 *
 *   const bd_plugin_info *blockd_plugin(void);
 *
 * returning a static description: the ABI version it was compiled against
 * (always BLOCKD_PLUGIN_ABI_VERSION), a name, and a register_types
 * callback. blockd checks the ABI version before calling anything else,
 * then calls register_types, which calls bd_plugin_add_layer once per
 * layer type. A layer is a bd_plugin_layer: the same slots as a built-in
 * block type (engine/block.h: create parses the JSON config and declares
 * parameters and buffers with bd_block_add_param, to_spec writes the
 * canonical config, forward, backward, reset = default init, free_impl)
 * plus an optional CUDA forward. Layers compute with the engine's device
 * ops (bd_op_run: GEMM, element-wise, reductions, ...), which run on
 * whatever device the model lives on, so a plugin written only with
 * bd_op_run needs no CUDA code at all.
 *
 * Plugin code calls engine functions (bd_block_add_param, bd_op_run,
 * bd_tensor_new, bd_rng_fill, bd_fail, ...) directly: the blockd
 * executable exports them. Build a plugin with
 *   cc -shared -fPIC -I<blockd source root> mylayer.c -o libmylayer.so
 * See engine/plugins/mylinear.c for a complete example (the seed's
 * MyLinear) and the README section "Writing a custom layer (plugin)".
 *
 * ABI history: 1 = first version. The version changes whenever a struct in
 * this header or in the engine headers it includes changes layout. */
#ifndef BLOCKD_PLUGIN_H
#define BLOCKD_PLUGIN_H

#include <stdint.h>

#include "backend.h"
#include "block.h"
#include "exec.h"
#include "rng.h"
#include "status.h"
#include "tensor.h"

#define BLOCKD_PLUGIN_ABI_VERSION 1u

/* The name of the one symbol a plugin exports. */
#define BLOCKD_PLUGIN_ENTRY "blockd_plugin"

typedef struct bd_plugin_host bd_plugin_host;

/* One layer type. Strings and the struct itself must outlive the process
 * (use static storage). */
typedef struct bd_plugin_layer {
  /* The type name used in specs ({"type": name}); must not be taken by a
   * built-in or another plugin. */
  const char *name;
  /* Required: parse the config, declare parameters (bd_block_add_param),
   * set b->impl. Errors name the JSON path (bd_build_path(ctx)). */
  bd_status (*create)(bd_block *b, const cJSON *spec, bd_build_ctx *ctx);
  /* Optional: add the canonical config fields (defaults filled in). */
  bd_status (*to_spec)(const bd_block *b, cJSON *out, void *spec_ctx);
  /* Required: y = f(x); see engine/block.h for the ownership rules. */
  bd_status (*forward)(bd_block *b, bd_exec *ex, bd_tensor *x, bd_tensor **y,
                       void **saved);
  /* Optional (NULL: the layer cannot be trained, BD_ENOGRAD). */
  bd_status (*backward)(bd_block *b, bd_exec *ex, void *saved, bd_tensor *dy,
                        bd_tensor **dx);
  /* Optional: default initialisation of the layer's own parameters from
   * the model's RNG stream (bd_rng_fill(t, kind, p0, p1, seed, offset)). */
  bd_status (*reset)(bd_block *b, uint64_t seed, uint64_t *rng_offset);
  /* Optional: frees b->impl. */
  void (*free_impl)(bd_block *b);
  /* Optional: a hand-written CUDA forward, used instead of forward when
   * the model lives on a CUDA device. Same contract as forward; tensors
   * are device tensors (bd_plugin_tensor_ptr gives the device pointer)
   * and kernels run on the default stream. */
  bd_status (*forward_cuda)(bd_block *b, bd_exec *ex, bd_tensor *x,
                            bd_tensor **y, void **saved);
} bd_plugin_layer;

/* What blockd_plugin() returns. */
typedef struct bd_plugin_info {
  uint32_t abi_version; /* BLOCKD_PLUGIN_ABI_VERSION */
  const char *name;     /* for messages: "mylinear" */
  const char *version;  /* the plugin's own version, free-form */
  /* Registers the plugin's layers with bd_plugin_add_layer. */
  bd_status (*register_types)(bd_plugin_host *host);
} bd_plugin_info;

/* Declares one layer type (the struct is borrowed for the life of the
 * process). Fails with BD_EEXIST when the name is taken (nothing of this
 * plugin is registered then), BD_EINVAL when a required slot is NULL. */
bd_status bd_plugin_add_layer(bd_plugin_host *host,
                              const bd_plugin_layer *layer);

/* The device (or host) address of t's first element, for CUDA kernels. */
static inline void *bd_plugin_tensor_ptr(const bd_tensor *t) {
  return (char *)t->st->data + t->offset;
}

/* ---- host side (blockd itself) ---------------------------------------- */

/* Loads the plugin at path: dlopen, looks up blockd_plugin, checks the ABI
 * version, registers its layers (all or none). Errors: EIO (cannot open
 * or no entry symbol), EUNSUPPORTED (ABI mismatch), EEXIST (a layer name
 * is taken), EINVAL (a malformed layer); the message names the path. */
bd_status bd_plugin_load(const char *path);

#endif
