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
 * layer type.
 *
 * A layer declares its configuration as a field table (engine/spec.h), the
 * same kind of table the built-in block types use: for each JSON field
 * its name, kind (integer, number, boolean, string choice, ...), whether
 * it is required, its default and range, and where its value lands in the
 * layer's own struct (offsetof). blockd parses specs, fills defaults,
 * checks ranges, names the JSON path of every error and prints the
 * canonical spec from that table; the plugin never sees JSON. Then init
 * declares the parameters (bd_block_add_param) from the configuration,
 * which is already in b->impl. Layers compute with the engine's device ops
 * (bd_op_run: GEMM, element-wise, reductions, ...), which run on whatever
 * device the model lives on, so a plugin written only with bd_op_run
 * needs no CUDA code at all.
 *
 * Plugin code calls engine functions (bd_block_add_param, bd_op_run,
 * bd_tensor_new, bd_rng_fill, bd_fail, ...) directly: the blockd
 * executable exports them. Build a plugin against an installed blockd
 * (cmake --install) with
 *   cc -shared -fPIC $(pkg-config --cflags blockd-plugin) mylayer.c \
 *      -o libmylayer.so
 * or find_package(blockd) and the CMake target blockd::plugin; inside the
 * source tree, -I<blockd source root> does the same.
 * See engine/plugins/mylinear.c for a complete example (the seed's
 * MyLinear) and the README section "Writing a custom layer (plugin)".
 *
 * This header and the engine headers it includes use no third-party
 * header, so a plugin depends on blockd's ABI alone.
 *
 * ABI history (the version changes whenever a struct in this header or in
 * the engine headers it includes changes layout):
 *   1 = first version: create/to_spec slots took JSON parser trees.
 *   2 = configuration through a field table (fields, impl_size, init);
 *       no JSON library types; bd_plugin_cuda_stream. A version-1 plugin is
 * refused at start-up. */
#ifndef BLOCKD_PLUGIN_H
#define BLOCKD_PLUGIN_H

#include <stdint.h>

#include "backend.h"
#include "block.h"
#include "exec.h"
#include "rng.h"
#include "spec.h"
#include "status.h"
#include "tensor.h"

#define BLOCKD_PLUGIN_ABI_VERSION 2u

/* The name of the one symbol a plugin exports. */
#define BLOCKD_PLUGIN_ENTRY "blockd_plugin"

typedef struct bd_plugin_host bd_plugin_host;

/* One layer type. Strings, tables and the struct itself must outlive the
 * process (use static storage). */
typedef struct bd_plugin_layer {
  /* The type name used in specs ({"type": name}); must not be taken by a
   * built-in or another plugin. */
  const char *name;
  /* One line describing the layer (optional). */
  const char *doc;
  /* The configuration: fields[nfields] land in an impl_size struct that
   * blockd allocates (zeroed, then defaults and the spec's values) as
   * b->impl before init runs, and frees after free_impl. A layer without
   * configuration leaves all three 0. */
  const bd_field *fields;
  int nfields;
  size_t impl_size;
  /* Optional: cross-field checks and parameters (bd_block_add_param).
   * Errors name the JSON path: bd_build_path(ctx) is the layer's path
   * ("block.layers[2]"). */
  bd_status (*init)(bd_block *b, bd_build_ctx *ctx);
  /* Required: y = f(x); see engine/block.h for the ownership rules. */
  bd_status (*forward)(bd_block *b, bd_exec *ex, bd_tensor *x, bd_tensor **y,
                       void **saved);
  /* Optional (NULL: the layer cannot be trained, BD_ENOGRAD). */
  bd_status (*backward)(bd_block *b, bd_exec *ex, void *saved, bd_tensor *dy,
                        bd_tensor **dx);
  /* Optional: default initialisation of the layer's own parameters from
   * the model's RNG stream (bd_rng_fill(t, kind, p0, p1, seed, offset)). */
  bd_status (*reset)(bd_block *b, uint64_t seed, uint64_t *rng_offset);
  /* Optional: frees what b->impl points to (b->impl itself is blockd's). */
  void (*free_impl)(bd_block *b);
  /* Optional: a hand-written CUDA forward, used instead of forward when
   * the model lives on a CUDA device. Same contract as forward; tensors
   * are device tensors (bd_plugin_tensor_ptr gives the device pointer).
   * Kernels MUST be launched on bd_plugin_cuda_stream(ex): blockd queues
   * every op of a device on one non-blocking stream and frees memory in
   * stream order, so work on any other stream (the legacy default stream
   * included) is ordered neither after the ops that produced x nor before
   * the frees of its inputs. Do not synchronise the device; blockd does
   * when results leave it. */
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
 * plugin is registered then), BD_EINVAL when a required slot is NULL or
 * the field table is malformed (a value landing outside impl_size, an
 * enum without choices, ...). */
bd_status bd_plugin_add_layer(bd_plugin_host *host,
                              const bd_plugin_layer *layer);

/* The device (or host) address of t's first element, for CUDA kernels. */
static inline void *bd_plugin_tensor_ptr(const bd_tensor *t) {
  return (char *)t->st->data + t->offset;
}

/* The stream forward_cuda must launch its kernels on: the cudaStream_t of
 * the model's device, as a void * (cast it: (cudaStream_t)p). NULL when
 * the model is not on a CUDA device. */
static inline void *bd_plugin_cuda_stream(const bd_exec *ex) {
  return bd_backend_native_stream(ex->dev);
}

/* ---- host side (blockd itself) ---------------------------------------- */

/* Loads the plugin at path: dlopen, looks up blockd_plugin, checks the ABI
 * version, registers its layers (all or none). Errors: EIO (cannot open
 * or no entry symbol), EUNSUPPORTED (ABI mismatch: "plugin P: built for
 * plugin ABI version 1, this blockd speaks ABI version 2; rebuild it
 * against blockd_plugin.h"), EEXIST (a layer name is taken), EINVAL (a
 * malformed layer); the message names the path. */
bd_status bd_plugin_load(const char *path);

#endif
