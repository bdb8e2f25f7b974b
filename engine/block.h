/* block.h - blocks: the nodes of a model, PyTorch's nn.Module.
 *
 * A block has a type (a static bd_block_type: its interface), ordered named
 * children, named parameters and buffers, and type-private state (impl).
 * Blocks are refcounted: a block used twice (tying, {"ref": id}) is one
 * object with two holders, so its parameters are shared, listed once by
 * named_parameters and under every path by state_dict.
 *
 * Forward and backward:
 *   forward(b, ex, x, &y, &saved): x is borrowed, *y is a new reference.
 *     When ex->record is set the block stores what its backward needs in
 *     *saved (arena memory from bd_exec_alloc; tensors kept with
 *     bd_exec_keep). Containers keep their children's saved pointers in
 *     their own saved state, so a tied block used twice has two records.
 *   backward(b, ex, saved, dy, &dx): dy borrowed, *dx a new reference
 *     (may be NULL when the caller passes dx == NULL: no input gradient
 *     wanted). Parameter gradients are accumulated with bd_param_accum.
 *     A NULL backward slot means "no backward": BD_ENOGRAD, unless the
 *     caller wants no input gradient and the block's parameters are all
 *     frozen (then bd_block_backward succeeds without calling anything). */
#ifndef BD_BLOCK_H
#define BD_BLOCK_H

#include <stdbool.h>
#include <stdint.h>

#include "exec.h"
#include "spec.h"
#include "tensor.h"

typedef struct bd_block bd_block;
typedef struct bd_block_type bd_block_type;
typedef struct bd_build_ctx bd_build_ctx;

/* A parameter or buffer: value, gradient (NULL until a backward pass),
 * requires_grad, optimiser state. Refcounted. */
typedef struct bd_param {
  int refcnt;
  bool is_buffer;
  bool requires_grad;
  bd_tensor *value;
  bd_tensor *grad;     /* NULL = None */
  bd_tensor *momentum; /* SGD momentum buffer, NULL until used */
} bd_param;

bd_param *bd_param_retain(bd_param *p);
void bd_param_release(bd_param *p);
/* grad += g (creating grad on first use). g must have value's shape. */
bd_status bd_param_accum(bd_param *p, const bd_tensor *g);

struct bd_block {
  const bd_block_type *type;
  int refcnt;
  char *id; /* tie id from the spec, or NULL */
  int nchildren;
  bd_block **children;
  char **child_names;
  int nparams; /* parameters first, then buffers, registration order */
  bd_param **params;
  char **param_names;
  void *impl;
};

/* The interface of a block type. Optional slots may be NULL.
 *
 * Building a block from a bd_spec: the engine allocates impl (impl_size
 * zeroed bytes) and copies the configuration the field table describes
 * into it, builds the children of the BLOCK and BLOCKS fields in table
 * order (a BLOCK child is named after its field; a BLOCKS child goes
 * through adopt), then calls init. Releasing: free_impl, then the engine
 * frees impl. The canonical spec is read back from impl through the same
 * table, so a type with a table needs no printing code. */
struct bd_block_type {
  const char *name;
  const char *doc;        /* one line, for the JSON Schema */
  const bd_field *fields; /* the configuration; may be NULL */
  int nfields;
  size_t impl_size; /* the impl struct the field offsets point
                       into; 0 = the engine allocates none (init
                       may set impl, free_impl then frees it) */
  /* Optional: cross-field checks and parameters (bd_block_add_param)
   * once the configuration is in impl and the children are built. Errors
   * name the JSON path through bd_build_path(ctx). */
  bd_status (*init)(bd_block *b, bd_build_ctx *ctx);
  /* Optional: takes child i of the BLOCKS field built from item (default:
   * bd_block_add_child under item->name or "i"). Owns child also on
   * failure. Sequential uses it to reuse a child named by a ref. */
  bd_status (*adopt)(bd_block *b, int i, const bd_spec *item, bd_block *child);
  /* Optional: the child indexes the canonical BLOCKS list shows, in order
   * (default: every child once). Returns the count; *idx borrowed. */
  int (*steps)(const bd_block *b, const int **idx);
  bd_status (*forward)(bd_block *b, bd_exec *ex, bd_tensor *x, bd_tensor **y,
                       void **saved);
  bd_status (*backward)(bd_block *b, bd_exec *ex, void *saved, bd_tensor *dy,
                        bd_tensor **dx);
  /* PyTorch's reset_parameters for this block's own parameters and
   * buffers (children are reset by the caller). */
  bd_status (*reset)(bd_block *b, uint64_t seed, uint64_t *rng_offset);
  /* Optional: frees what impl points to (not impl itself when impl_size
   * is set). */
  void (*free_impl)(bd_block *b);
  /* Optional, for dynamic batching: whether row i of the output depends
   * on row i of the input alone (dim 0 is the batch) when the input has
   * *ndim dims, in train mode when training. Returns BD_OK and sets *ndim
   * to the output's dim count, or bd_rows_mixed(...) saying why not.
   * Containers check their children with bd_block_rows. A type without
   * the slot (every plugin layer) is taken to mix rows: batching must
   * never change a request's answer. */
  bd_status (*rows)(const bd_block *b, const char *path, bool training,
                    int *ndim);
};

/* Runs b's rows check (above) with path naming b in messages ("" = the
 * root). EINVAL "layer P (type) mixes the rows of a batch: why" when b or
 * a block inside it does, or when no batch dimension is left. */
bd_status bd_block_rows(const bd_block *b, const char *path, bool training,
                        int *ndim);
/* The rows slot of the types that work row by row and keep the number of
 * dims (element-wise ops, linear maps over the last dim). */
bd_status bd_rows_same(const bd_block *b, const char *path, bool training,
                       int *ndim);
/* The EINVAL a rows slot returns: names the layer, its type and why. */
bd_status bd_rows_mixed(const bd_block *b, const char *path, const char *why);
/* child's path under parent path ("0", "net.0"): writes into buf. */
const char *bd_rows_child_path(const char *path, const char *name, char *buf,
                               size_t n);

/* Type registry: built-ins are registered by bd_blocks_init; plugins add
 * theirs. BD_EEXIST when the name is taken. */
bd_status bd_block_type_register(const bd_block_type *t);
const bd_block_type *bd_block_type_find(const char *name);
/* The i-th registered type in registration order (built-ins first), or
 * NULL past the end. */
const bd_block_type *bd_block_type_at(int i);
/* Registers every built-in block type; idempotent. */
void bd_blocks_init(void);
/* How many of the registered types are built-ins (they come first). */
int bd_blocks_builtin_count(void);

/* Limits and state while building a tree from a spec. */
typedef struct bd_build_limits {
  int max_depth; /* nesting limit (default 64) */
  /* Parameter+buffer bytes (0 = unlimited); also bounds the state_dict
   * once measured with tied tensors at each of their paths (their data,
   * path and header each time, as a checkpoint stores them). */
  int64_t max_bytes;
  int64_t max_blocks; /* block count (0 = unlimited) */
  /* Blocks of the tree with every ref expanded at each use and every
   * repeated sequential step counted again: the block executions one
   * forward performs (a while body counts once) and a bound on the
   * state_dict's entries (0 = unlimited). */
  int64_t max_nodes;
} bd_build_limits;

/* Builds a block tree from spec on dev. *out is a new reference. On
 * failure nothing is left allocated and the message names the JSON path
 * the spec came from ("block.layers[2].in_features"); root_path is the
 * name of spec's place in the request ("block"). Refs are resolved here:
 * an id must be defined before it is used, and a ref inside the block
 * carrying that id is a cycle. Errors: EINVAL (bad spec), ELIMIT (depth,
 * also once refs are expanded; block count; expanded size max_nodes;
 * element count), ETOOLARGE (max_bytes, of the parameters or of the
 * state_dict), ENOMEM. */
bd_status bd_block_build_tree(const bd_spec *spec, bd_device dev,
                              const bd_build_limits *lim, const char *root_path,
                              bd_block **out);

/* The JSON path being built, for messages: "block.layers[2]". */
const char *bd_build_path(const bd_build_ctx *ctx);
bd_device bd_build_device(const bd_build_ctx *ctx);
/* Adds a child with a name (copied). Takes ownership of child. EINVAL for
 * an empty name, one with a '.', or a duplicate. */
bd_status bd_block_add_child(bd_block *b, const char *name, bd_block *child);
/* Allocates and registers a parameter (or buffer) of the given shape on
 * the build device, counting it against the byte limit. *out borrowed. */
bd_status bd_block_add_param(bd_block *b, bd_build_ctx *ctx, const char *name,
                             int ndim, const int64_t *shape, bool is_buffer,
                             bd_param **out);

/* The canonical spec of a tree: types, every field (defaults included),
 * BLOCKS children carrying their names; the first use of a shared block
 * carries its id, later uses are refs. *out: caller frees with
 * bd_spec_free. ENOMEM only. */
bd_status bd_block_to_spec(const bd_block *root, bd_spec **out);

bd_block *bd_block_retain(bd_block *b);
/* Engine-internal: a fresh block of type t (refcount 1, nothing else),
 * NULL on ENOMEM. */
bd_block *bd__block_new(const bd_block_type *t);
/* Engine-internal: bd_block_add_child for a caller that already knows
 * name is not taken in b (it keeps its own index of the names), so a
 * block of n children is built in O(n), not O(n^2). Same name checks
 * otherwise; takes ownership of child. */
bd_status bd__block_add_child_unique(bd_block *b, const char *name,
                                     bd_block *child);
void bd_block_release(bd_block *b);

/* Runs forward/backward with error context (the child's path pushed on
 * ex->path by the caller through bd_exec_push). */
bd_status bd_block_forward(bd_block *b, bd_exec *ex, bd_tensor *x,
                           bd_tensor **y, void **saved);
bd_status bd_block_backward(bd_block *b, bd_exec *ex, void *saved,
                            bd_tensor *dy, bd_tensor **dx);
/* Whether a parameter (not a buffer) of b's subtree requires grad: only
 * then does a backward pass need to reach b's parameters. */
bool bd_block_needs_grad(const bd_block *b);
/* Runs the i-th child's forward with its name pushed on the path and the
 * producer bookkeeping (ex->prev_*) updated. Both check the compute
 * deadline first (bd_exec_check_deadline): ETIMEOUT naming the child once
 * the call has run past --max-compute-seconds. */
bd_status bd_block_forward_child(bd_block *b, int i, bd_exec *ex, bd_tensor *x,
                                 bd_tensor **y, void **saved);
bd_status bd_block_backward_child(bd_block *b, int i, bd_exec *ex, void *saved,
                                  bd_tensor *dy, bd_tensor **dx);

/* Resets every parameter of the tree once (shared blocks once), in
 * construction order, from the stream (seed, *rng_offset). */
bd_status bd_block_reset_all(bd_block *root, uint64_t seed,
                             uint64_t *rng_offset);

/* One state_dict entry. */
typedef struct bd_state_entry {
  char *path;        /* "0.weight" (owned by the list) */
  bd_param *param;   /* borrowed */
  bd_block *owner;   /* block holding it (borrowed) */
  const char *local; /* its name in the owner ("weight") */
} bd_state_entry;

typedef struct bd_state_list {
  bd_state_entry *v;
  size_t n, cap;
} bd_state_list;

/* state_dict() order: each block's parameters and buffers, then its
 * children, recursively; tied tensors repeated under every path. prefix
 * may be "" . */
bd_status bd_block_state_dict(bd_block *b, const char *prefix,
                              bd_state_list *out);
void bd_state_list_free(bd_state_list *l);
/* Index of the first entry with that path, or -1. */
long bd_state_list_find(const bd_state_list *l, const char *path);
/* Whether entry i is the first occurrence of its parameter (the one
 * named_parameters lists). */
bool bd_state_list_is_first(const bd_state_list *l, size_t i);
/* bd_state_list_is_first for every entry at once, in O(n) (the one-entry
 * form scans the entries before i): *first a malloc'd array of l->n
 * flags (at least one byte; the caller frees it). ENOMEM. */
bd_status bd_state_list_firsts(const bd_state_list *l, bool **first);

/* Parameter (non-buffer) element count and parameter+buffer bytes, each
 * shared tensor counted once. Errors: ENOMEM (listing the state); the
 * counts are 0 then. */
bd_status bd_block_count(bd_block *root, int64_t *param_count, int64_t *bytes);

#endif
