/* block_build.c - block trees from typed specs (engine/spec.h) and the
 * canonical spec of a tree.
 *
 * Building walks the bd_spec: per node it resolves refs against the ids
 * seen so far, lands the configuration in the block's impl (checked
 * against the type's field table), builds the children of the block
 * fields in table order, then lets the type's init declare parameters.
 * Every message names the JSON path the node came from, built from field
 * names ("block.layers[2].in_features"), so the engine speaks in the
 * client's terms without knowing JSON. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "block.h"
#include "hmap.h"

typedef struct bd__idrec {
  const char *id;
  bd_block *block; /* NULL while its spec is being built */
  int64_t nodes;   /* its expanded size (see bd_build_limits.max_nodes) */
  int height;      /* its nesting height, refs expanded (1 = a leaf) */
} bd__idrec;

struct bd_build_ctx {
  bd_device dev;
  bd_build_limits lim;
  int depth;
  int64_t bytes, blocks;
  char path[1024];
  bd__idrec *ids;
  size_t nids, capids;
  bd_hmap idx; /* id -> index into ids */
  /* The state_dict each finished block lists (bd__measure). */
  bd_hmap measured; /* block -> index into sizes */
  struct bd__state_size *sizes;
  size_t nsizes, capsizes;
};

/* A block's state_dict: entries, and bytes a checkpoint of it takes
 * (tensor data, plus its path and a header, at every path). */
typedef struct bd__state_size {
  int64_t entries, bytes;
} bd__state_size;

/* Per-entry header bytes counted besides the path (dtype, shape and
 * offsets in a safetensors header). */
#define BD__ENTRY_OVERHEAD 64

static int64_t bd__sat_add(int64_t a, int64_t b) {
  return a > INT64_MAX - b ? INT64_MAX : a + b;
}

static int64_t bd__sat_mul(int64_t a, int64_t b) {
  return b && a > INT64_MAX / b ? INT64_MAX : a * b;
}

/* Measures b's state_dict from its parameters and its children's
 * (measured once each, refs included) and remembers it: O(children).
 * Entries are keyed by block address: sound because any failure ends the
 * whole build, so no measured block is freed while the map is in use. */
static bd_status bd__measure(bd_build_ctx *ctx, const bd_block *b,
                             bd__state_size *out) {
  int64_t *at = bd_hmap_get(&ctx->measured, b);
  if (at) {
    *out = ctx->sizes[*at];
    return BD_OK;
  }
  bd__state_size sz = {0, 0};
  for (int i = 0; i < b->nparams; i++) {
    sz.entries++;
    sz.bytes =
        bd__sat_add(sz.bytes, (int64_t)(bd_tensor_nbytes(b->params[i]->value) +
                                        strlen(b->param_names[i])) +
                                  BD__ENTRY_OVERHEAD);
  }
  for (int i = 0; i < b->nchildren; i++) {
    bd__state_size c;
    bd_status s = bd__measure(ctx, b->children[i], &c);
    if (s) return s;
    sz.entries = bd__sat_add(sz.entries, c.entries);
    sz.bytes = bd__sat_add(
        bd__sat_add(sz.bytes, c.bytes),
        bd__sat_mul(c.entries, (int64_t)strlen(b->child_names[i]) + 1));
  }
  if (ctx->nsizes == ctx->capsizes) {
    size_t cap = ctx->capsizes ? ctx->capsizes * 2 : 16;
    bd__state_size *v = realloc(ctx->sizes, cap * sizeof *v);
    if (!v) return bd_fail(BD_ENOMEM, "out of host memory");
    ctx->sizes = v;
    ctx->capsizes = cap;
  }
  bd_status s = bd_hmap_put(&ctx->measured, b, (int64_t)ctx->nsizes);
  if (s) return s;
  ctx->sizes[ctx->nsizes++] = sz;
  *out = sz;
  return BD_OK;
}

/* Refuses a finished block whose state_dict (tied tensors listed, and
 * saved, under each of their paths) passes the byte limit: repetition
 * must not make the checkpoint larger than --max-model-bytes allows. */
static bd_status bd__check_state(bd_build_ctx *ctx, const bd_block *b) {
  bd__state_size sz;
  bd_status s = bd__measure(ctx, b, &sz);
  if (s || ctx->lim.max_bytes <= 0 || sz.bytes <= ctx->lim.max_bytes) return s;
  return bd_fail(BD_ETOOLARGE,
                 "%s: its state_dict, tied tensors listed under each of "
                 "their paths, would take %lld bytes in a checkpoint, more "
                 "than the limit of %lld (--max-model-bytes)",
                 ctx->path, (long long)sz.bytes, (long long)ctx->lim.max_bytes);
}

const char *bd_build_path(const bd_build_ctx *ctx) { return ctx->path; }
bd_device bd_build_device(const bd_build_ctx *ctx) { return ctx->dev; }

/* Inserts p into b's list: parameters before buffers, as PyTorch's
 * state_dict lists them. Takes ownership of p. */
static bd_status bd__param_insert(bd_block *b, const char *name, bd_param *p) {
  bd_param **ps = realloc(b->params, (size_t)(b->nparams + 1) * sizeof *ps);
  if (ps) b->params = ps;
  char **nm = realloc(b->param_names, (size_t)(b->nparams + 1) * sizeof *nm);
  if (nm) b->param_names = nm;
  char *dup = strdup(name);
  if (!ps || !nm || !dup) {
    free(dup);
    bd_param_release(p);
    return bd_fail(BD_ENOMEM, "out of host memory");
  }
  int at = b->nparams;
  if (!p->is_buffer)
    while (at > 0 && b->params[at - 1]->is_buffer) at--;
  memmove(b->params + at + 1, b->params + at,
          (size_t)(b->nparams - at) * sizeof *ps);
  memmove(b->param_names + at + 1, b->param_names + at,
          (size_t)(b->nparams - at) * sizeof *nm);
  b->params[at] = p;
  b->param_names[at] = dup;
  b->nparams++;
  return BD_OK;
}

bd_status bd_block_add_param(bd_block *b, bd_build_ctx *ctx, const char *name,
                             int ndim, const int64_t *shape, bool is_buffer,
                             bd_param **out) {
  int64_t numel;
  bd_status s = bd_shape_numel(ndim, shape, &numel);
  if (s) return bd_fail_prefix(s, "%s: ", ctx->path);
  int64_t bytes = numel * 4;
  if (ctx->lim.max_bytes > 0 && ctx->bytes + bytes > ctx->lim.max_bytes)
    return bd_fail(BD_ETOOLARGE,
                   "%s: parameters would take %lld bytes, more than the "
                   "limit of %lld (--max-model-bytes)",
                   ctx->path, (long long)(ctx->bytes + bytes),
                   (long long)ctx->lim.max_bytes);
  bd_param *p = calloc(1, sizeof *p);
  if (!p) return bd_fail(BD_ENOMEM, "out of host memory");
  p->refcnt = 1;
  p->is_buffer = is_buffer;
  p->requires_grad = !is_buffer;
  s = bd_tensor_zeros(ctx->dev, BD_F32, ndim, shape, &p->value);
  if (s) {
    free(p);
    return s;
  }
  s = bd__param_insert(b, name, p);
  if (s) return s;
  ctx->bytes += bytes;
  if (out) *out = p;
  return BD_OK;
}

static bd__idrec *bd__id_find(bd_build_ctx *ctx, const char *id) {
  int64_t *i = bd_hmap_get(&ctx->idx, id);
  return i ? &ctx->ids[*i] : NULL;
}

/* Drops the ids registered from index n on (they point into a failed
 * subtree) and rebuilds the index without them. */
static bd_status bd__id_truncate(bd_build_ctx *ctx, size_t n) {
  ctx->nids = n;
  bd_hmap_free(&ctx->idx);
  for (size_t i = 0; i < n; i++) {
    bd_status s = bd_hmap_put(&ctx->idx, ctx->ids[i].id, (int64_t)i);
    if (s) return s;
  }
  return BD_OK;
}

/* Registers b's id (b->id set) as being built; *idx its record. */
static bd_status bd__id_add(bd_build_ctx *ctx, bd_block *b, size_t *idx) {
  if (!b->id[0])
    return bd_fail(BD_EINVAL, "%s.id: must be a non-empty string", ctx->path);
  if (bd__id_find(ctx, b->id))
    return bd_fail(BD_EINVAL, "%s.id: duplicate id '%s'", ctx->path, b->id);
  if (ctx->nids == ctx->capids) {
    size_t cap = ctx->capids ? ctx->capids * 2 : 8;
    bd__idrec *n = realloc(ctx->ids, cap * sizeof *n);
    if (!n) return bd_fail(BD_ENOMEM, "out of host memory");
    ctx->ids = n;
    ctx->capids = cap;
  }
  bd_status s = bd_hmap_put(&ctx->idx, b->id, (int64_t)ctx->nids);
  if (s) return s;
  *idx = ctx->nids;
  ctx->ids[ctx->nids++] = (bd__idrec){b->id, NULL, 0, 0};
  return BD_OK;
}

/* Refuses a node whose expanded size or nesting passes the limits: nodes
 * blocks once every ref is expanded, height levels below the current
 * depth. */
static bd_status bd__check_expanded(bd_build_ctx *ctx, int64_t nodes,
                                    int height) {
  if (ctx->lim.max_nodes > 0 && nodes > ctx->lim.max_nodes)
    return bd_fail(BD_ELIMIT,
                   "%s: the spec expands to more than %lld blocks, each "
                   "{\"ref\"} counted at every use (--max-spec-nodes)",
                   ctx->path, (long long)ctx->lim.max_nodes);
  if (ctx->depth - 1 + height > ctx->lim.max_depth)
    return bd_fail(BD_ELIMIT,
                   "%s: blocks nested deeper than %d once refs are expanded",
                   ctx->path, ctx->lim.max_depth);
  return BD_OK;
}

/* A {"ref": id} node: a new reference to the block carrying id. */
static bd_status bd__build_ref(bd_build_ctx *ctx, const bd_spec *spec,
                               bd_block **out, int64_t *nodes, int *height) {
  bd__idrec *r = bd__id_find(ctx, spec->ref);
  if (!r)
    return bd_fail(BD_EINVAL,
                   "%s.ref: undefined ref '%s' (an id must be "
                   "defined before it is referenced)",
                   ctx->path, spec->ref);
  if (!r->block)
    return bd_fail(BD_EINVAL,
                   "%s.ref: ref cycle: '%s' refers to a block "
                   "that contains it",
                   ctx->path, spec->ref);
  bd_status s = bd__check_expanded(ctx, r->nodes, r->height);
  if (s) return s;
  *nodes = r->nodes;
  *height = r->height;
  *out = bd_block_retain(r->block);
  return BD_OK;
}

static bd_status bd__build(bd_build_ctx *ctx, const bd_spec *spec,
                           const char *key, bd_block **out, int64_t *nodes,
                           int *height);

/* What a node's children add up to: expanded size and height. */
typedef struct bd__size {
  int64_t nodes;
  int height;
} bd__size;

/* Builds one child spec under key, adding its size to *sz. */
static bd_status bd__build_kid(bd_build_ctx *ctx, const bd_spec *spec,
                               const char *key, bd_block **child,
                               bd__size *sz) {
  int64_t n = 0;
  int h = 0;
  bd_status s = bd__build(ctx, spec, key, child, &n, &h);
  if (s) return s;
  sz->nodes += n;
  if (h > sz->height) sz->height = h;
  return BD_OK;
}

/* The children of block field i: one named after the field (BLOCK) or a
 * list handed to the type's adopt (BLOCKS); without an adopt the names
 * are checked against an index of b's children, so n children take O(n). */
static bd_status bd__build_kids(bd_build_ctx *ctx, bd_block *b,
                                const bd_spec *spec, int i, bd__size *sz) {
  const bd_field *f = &b->type->fields[i];
  bd_spec_list none = {0};
  const bd_spec_list *l = spec->kids ? &spec->kids[i] : &none;
  char key[96];
  if (f->kind == BD_FIELD_BLOCK) {
    if (l->n == 0 && !f->required) return BD_OK;
    if (l->n != 1)
      return bd_fail(BD_EINVAL, "%s.%s: %s", ctx->path, f->name,
                     l->n ? "must be one block" : "missing");
    bd_block *child;
    snprintf(key, sizeof key, ".%s", f->name);
    bd_status s = bd__build_kid(ctx, l->v[0], key, &child, sz);
    return s ? s : bd_block_add_child(b, f->name, child);
  }
  if (l->n < f->count)
    return bd_fail(BD_EINVAL, "%s.%s: must be a non-empty array", ctx->path,
                   f->name);
  bd_hmap names;
  bd_hmap_init(&names, true);
  bd_status s = BD_OK;
  for (int j = 0; !b->type->adopt && !s && j < b->nchildren; j++)
    s = bd_hmap_put(&names, b->child_names[j], j);
  for (int k = 0; k < l->n && !s; k++) {
    bd_block *child;
    snprintf(key, sizeof key, ".%s[%d]", f->name, k);
    s = bd__build_kid(ctx, l->v[k], key, &child, sz);
    if (s) break;
    if (b->type->adopt) {
      s = b->type->adopt(b, k, l->v[k], child);
    } else {
      char defname[24];
      snprintf(defname, sizeof defname, "%d", k);
      const char *nm = l->v[k]->name ? l->v[k]->name : defname;
      if (bd_hmap_get(&names, nm)) {
        bd_block_release(child);
        s = bd_fail(BD_EINVAL, "duplicate child name '%s'", nm);
      } else {
        s = bd__block_add_child_unique(b, nm, child);
        if (!s)
          s = bd_hmap_put(&names, b->child_names[b->nchildren - 1],
                          b->nchildren - 1);
      }
    }
    if (s) s = bd_fail_prefix(s, "%s.%s[%d].name: ", ctx->path, f->name, k);
  }
  bd_hmap_free(&names);
  return s;
}

/* Configuration, children and init of a new block b of spec's type. */
static bd_status bd__build_body(bd_build_ctx *ctx, bd_block *b,
                                const bd_spec *spec, bd__size *sz) {
  const bd_block_type *t = b->type;
  if (t->impl_size) {
    b->impl = calloc(1, t->impl_size);
    if (!b->impl) return bd_fail(BD_ENOMEM, "out of host memory");
    if (spec->config) memcpy(b->impl, spec->config, t->impl_size);
    bd_status s =
        bd_field_check_config(t->fields, t->nfields, b->impl, ctx->path);
    if (s) return s;
  }
  for (int i = 0; i < t->nfields; i++) {
    if (t->fields[i].kind != BD_FIELD_BLOCK &&
        t->fields[i].kind != BD_FIELD_BLOCKS)
      continue;
    bd_status s = bd__build_kids(ctx, b, spec, i, sz);
    if (s) return s;
  }
  /* This node and its children, refs expanded: checked before init
   * allocates anything. */
  sz->nodes += 1;
  sz->height += 1;
  bd_status s = bd__check_expanded(ctx, sz->nodes, sz->height);
  if (!s && t->init) s = t->init(b, ctx);
  return s ? s : bd__check_state(ctx, b);
}

/* Builds the node spec found under key (".body", "[2]") of the current
 * path; *nodes and *height: its expanded size and height. */
static bd_status bd__build(bd_build_ctx *ctx, const bd_spec *spec,
                           const char *key, bd_block **out, int64_t *nodes,
                           int *height) {
  size_t plen = strlen(ctx->path);
  snprintf(ctx->path + plen, sizeof ctx->path - plen, "%s", key);
  bd_status s = BD_OK;
  bd_block *b = NULL;
  size_t recidx = 0;
  bool rec = false;
  if (++ctx->depth > ctx->lim.max_depth) {
    s = bd_fail(BD_ELIMIT, "%s: blocks nested deeper than %d", ctx->path,
                ctx->lim.max_depth);
  } else if (spec->ref) {
    s = bd__build_ref(ctx, spec, out, nodes, height);
  } else if (!spec->type) {
    s = bd_fail(BD_EINVAL, "%s.type: missing (or give {\"ref\": id})",
                ctx->path);
  } else if (ctx->lim.max_blocks > 0 && ++ctx->blocks > ctx->lim.max_blocks) {
    s = bd_fail(BD_ELIMIT, "%s: more than %lld blocks (--max-blocks)",
                ctx->path, (long long)ctx->lim.max_blocks);
  } else if (!(b = bd__block_new(spec->type))) {
    s = bd_fail(BD_ENOMEM, "out of host memory");
  } else if (spec->id && !(b->id = strdup(spec->id))) {
    s = bd_fail(BD_ENOMEM, "out of host memory");
  } else {
    if (b->id) {
      s = bd__id_add(ctx, b, &recidx);
      rec = s == BD_OK;
    }
    bd__size sz = {0, 0};
    if (!s) s = bd__build_body(ctx, b, spec, &sz);
    if (!s) {
      if (rec) ctx->ids[recidx] = (bd__idrec){b->id, b, sz.nodes, sz.height};
      *nodes = sz.nodes;
      *height = sz.height;
      *out = b;
      b = NULL;
    }
  }
  if (b) {
    /* Drop ids registered by the failed subtree (they point into it). */
    if (rec && bd__id_truncate(ctx, recidx)) s = BD_ENOMEM;
    bd_block_release(b);
  }
  ctx->depth--;
  ctx->path[plen] = '\0';
  return s;
}

bd_status bd_block_build_tree(const bd_spec *spec, bd_device dev,
                              const bd_build_limits *lim, const char *root_path,
                              bd_block **out) {
  bd_build_ctx ctx;
  memset(&ctx, 0, sizeof ctx);
  ctx.dev = dev;
  if (lim) ctx.lim = *lim;
  if (ctx.lim.max_depth <= 0) ctx.lim.max_depth = 64;
  bd_hmap_init(&ctx.idx, true);
  bd_hmap_init(&ctx.measured, false);
  *out = NULL;
  int64_t nodes;
  int height;
  bd_status s = bd__build(&ctx, spec, root_path ? root_path : "block", out,
                          &nodes, &height);
  free(ctx.ids);
  bd_hmap_free(&ctx.idx);
  bd_hmap_free(&ctx.measured);
  free(ctx.sizes);
  return s;
}

/* ---- canonical spec ---------------------------------------------------- */

typedef struct bd__spec_ctx {
  bd_hmap seen; /* blocks with an id already printed */
} bd__spec_ctx;

/* Copies field f's value from src to dst (both impl-shaped). */
static void bd__field_copy(const bd_field *f, void *dst, const void *src) {
  size_t n = 0;
  switch (f->kind) {
    case BD_FIELD_INT:
      n = sizeof(int64_t);
      if (f->optional) /* and whether it was given */
        memcpy((char *)dst + f->offset2, (const char *)src + f->offset2,
               sizeof(bool));
      break;
    case BD_FIELD_NUM:
      n = sizeof(double);
      break;
    case BD_FIELD_BOOL:
      n = sizeof(bool);
      break;
    case BD_FIELD_ENUM:
      n = sizeof(int);
      break;
    case BD_FIELD_INTS:
      n = (size_t)f->count * sizeof(int64_t);
      break;
    case BD_FIELD_PICK:
      n = sizeof(int);
      memcpy((char *)dst + f->offset2, (const char *)src + f->offset2,
             sizeof(double));
      break;
    case BD_FIELD_OBJECT:
      for (int i = 0; i < f->nsub; i++) bd__field_copy(&f->sub[i], dst, src);
      break;
    default:
      break;
  }
  if (n) memcpy((char *)dst + f->offset, (const char *)src + f->offset, n);
}

static bd_status bd__to_spec(const bd_block *b, bd__spec_ctx *sc,
                             bd_spec **out);

/* Index of b's child named name, or -1. */
static int bd__child_index(const bd_block *b, const char *name) {
  for (int i = 0; i < b->nchildren; i++)
    if (strcmp(b->child_names[i], name) == 0) return i;
  return -1;
}

/* Appends the canonical spec of child k (named when `named`) to field i. */
static bd_status bd__spec_kid(const bd_block *b, bd__spec_ctx *sc,
                              bd_spec *spec, int i, int k, bool named) {
  bd_spec *c;
  bd_status s = bd__to_spec(b->children[k], sc, &c);
  if (!s && named) s = bd_spec_set_name(c, b->child_names[k]);
  if (s) {
    bd_spec_free(c);
    return s;
  }
  return bd_spec_add_child(spec, i, c);
}

/* The children of b's block fields: BLOCK fields by their name, the
 * BLOCKS field gets every other child (or the type's steps), named. */
static bd_status bd__spec_kids(const bd_block *b, bd__spec_ctx *sc,
                               bd_spec *spec) {
  const bd_block_type *t = b->type;
  for (int i = 0; i < t->nfields; i++) {
    const bd_field *f = &t->fields[i];
    bd_status s = BD_OK;
    if (f->kind == BD_FIELD_BLOCK) {
      int k = bd__child_index(b, f->name);
      if (k >= 0) s = bd__spec_kid(b, sc, spec, i, k, false);
    } else if (f->kind == BD_FIELD_BLOCKS) {
      const int *idx = NULL;
      int n = t->steps ? t->steps(b, &idx) : b->nchildren;
      for (int j = 0; j < n && !s; j++) {
        int k = idx ? idx[j] : j;
        if (!idx && bd_field_find(t, b->child_names[k]) >= 0 &&
            t->fields[bd_field_find(t, b->child_names[k])].kind ==
                BD_FIELD_BLOCK)
          continue; /* a BLOCK field's child */
        s = bd__spec_kid(b, sc, spec, i, k, true);
      }
    }
    if (s) return s;
  }
  return BD_OK;
}

static bd_status bd__to_spec(const bd_block *b, bd__spec_ctx *sc,
                             bd_spec **out) {
  *out = NULL;
  if (bd_hmap_get(&sc->seen, b)) {
    *out = bd_spec_new_ref(b->id ? b->id : "?");
    return *out ? BD_OK : BD_ENOMEM;
  }
  if (b->id && bd_hmap_put(&sc->seen, b, 1)) return BD_ENOMEM;
  bd_spec *spec = bd_spec_new(b->type);
  if (!spec) return BD_ENOMEM;
  bd_status s = bd_spec_set_id(spec, b->id);
  for (int i = 0; b->impl && spec->config && i < b->type->nfields; i++)
    bd__field_copy(&b->type->fields[i], spec->config, b->impl);
  if (!s) s = bd__spec_kids(b, sc, spec);
  if (s) {
    bd_spec_free(spec);
    return s;
  }
  *out = spec;
  return BD_OK;
}

bd_status bd_block_to_spec(const bd_block *root, bd_spec **out) {
  bd__spec_ctx sc;
  bd_hmap_init(&sc.seen, false);
  bd_status s = bd__to_spec(root, &sc, out);
  bd_hmap_free(&sc.seen);
  return s;
}
