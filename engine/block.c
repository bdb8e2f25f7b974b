/* block.c - the block base: type registry, building from a spec (ids and
 * refs), canonical specs, traversal (state_dict, named_parameters),
 * parameter bookkeeping. */
#include "block.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "panic.h"

/* ---- parameters ---------------------------------------------------- */

bd_param *bd_param_retain(bd_param *p) {
  if (!p) return NULL;
  int was = __atomic_fetch_add(&p->refcnt, 1, __ATOMIC_RELAXED);
  BD_ASSERT(was > 0, "bd_param_retain: parameter already released");
  return p;
}

void bd_param_release(bd_param *p) {
  if (!p) return;
  int left = __atomic_sub_fetch(&p->refcnt, 1, __ATOMIC_ACQ_REL);
  BD_ASSERT(left >= 0,
            "bd_param_release: parameter released more often than retained");
  if (left) return;
  bd_tensor_release(p->value);
  bd_tensor_release(p->grad);
  bd_tensor_release(p->momentum);
  free(p);
}

bd_status bd_param_accum(bd_param *p, const bd_tensor *g) {
  if (!bd_tensor_same_shape(p->value, g)) {
    char a[64], b[64];
    return bd_fail(BD_ESHAPE, "gradient of shape %s for a parameter of %s",
                   bd_shape_str(g->ndim, g->shape, b, sizeof b),
                   bd_shape_str(p->value->ndim, p->value->shape, a, sizeof a));
  }
  if (!p->grad)
    return bd_tensor_to(g, bd_tensor_device(p->value), &p->grad);
  bd_op op = bd_op_binary(p->grad, p->grad, BD_BIN_ADD, g);
  return bd_op_run(&op);
}

/* ---- type registry --------------------------------------------------- */

#define BD_MAX_TYPES 128
static const bd_block_type *bd__types[BD_MAX_TYPES];
static int bd__ntypes;
static pthread_mutex_t bd__types_mu = PTHREAD_MUTEX_INITIALIZER;

bd_status bd_block_type_register(const bd_block_type *t) {
  if (!t || !t->name || !t->name[0] || !t->create || !t->forward)
    return bd_fail(BD_EINVAL, "a block type needs a name, create and forward");
  pthread_mutex_lock(&bd__types_mu);
  for (int i = 0; i < bd__ntypes; i++)
    if (strcmp(bd__types[i]->name, t->name) == 0) {
      pthread_mutex_unlock(&bd__types_mu);
      return bd_fail(BD_EEXIST, "block type '%s' is already registered",
                     t->name);
    }
  if (bd__ntypes == BD_MAX_TYPES) {
    pthread_mutex_unlock(&bd__types_mu);
    return bd_fail(BD_ELIMIT, "too many block types");
  }
  bd__types[bd__ntypes++] = t;
  pthread_mutex_unlock(&bd__types_mu);
  return BD_OK;
}

const bd_block_type *bd_block_type_find(const char *name) {
  const bd_block_type *r = NULL;
  pthread_mutex_lock(&bd__types_mu);
  for (int i = 0; i < bd__ntypes && name; i++)
    if (strcmp(bd__types[i]->name, name) == 0) r = bd__types[i];
  pthread_mutex_unlock(&bd__types_mu);
  return r;
}

/* ---- building ---------------------------------------------------------- */

typedef struct bd__idrec {
  const char *id;
  bd_block *block; /* NULL while its spec is being built */
} bd__idrec;

struct bd_build_ctx {
  bd_device dev;
  bd_build_limits lim;
  int depth;
  int64_t bytes, blocks;
  char path[1024];
  bd__idrec *ids;
  size_t nids, capids;
};

const char *bd_build_path(const bd_build_ctx *ctx) { return ctx->path; }
bd_device bd_build_device(const bd_build_ctx *ctx) { return ctx->dev; }

static bd_block *bd__block_new(const bd_block_type *t) {
  bd_block *b = calloc(1, sizeof *b);
  if (!b) return NULL;
  b->type = t;
  b->refcnt = 1;
  return b;
}

bd_block *bd_block_retain(bd_block *b) {
  if (!b) return NULL;
  int was = __atomic_fetch_add(&b->refcnt, 1, __ATOMIC_RELAXED);
  BD_ASSERT(was > 0, "bd_block_retain: block already released");
  return b;
}

void bd_block_release(bd_block *b) {
  if (!b) return;
  int left = __atomic_sub_fetch(&b->refcnt, 1, __ATOMIC_ACQ_REL);
  BD_ASSERT(left >= 0,
            "bd_block_release: block released more often than retained");
  if (left) return;
  if (b->type && b->type->free_impl) b->type->free_impl(b);
  for (int i = 0; i < b->nchildren; i++) {
    bd_block_release(b->children[i]);
    free(b->child_names[i]);
  }
  free(b->children);
  free(b->child_names);
  for (int i = 0; i < b->nparams; i++) {
    bd_param_release(b->params[i]);
    free(b->param_names[i]);
  }
  free(b->params);
  free(b->param_names);
  free(b->id);
  free(b);
}

bd_status bd_block_add_child(bd_block *b, const char *name, bd_block *child) {
  if (!name[0] || strchr(name, '.')) {
    bd_block_release(child);
    return bd_fail(BD_EINVAL,
                   "child name '%s' must be non-empty and contain no '.'",
                   name);
  }
  for (int i = 0; i < b->nchildren; i++)
    if (strcmp(b->child_names[i], name) == 0) {
      bd_block_release(child);
      return bd_fail(BD_EINVAL, "duplicate child name '%s'", name);
    }
  bd_block **c = realloc(b->children, (size_t)(b->nchildren + 1) * sizeof *c);
  if (c) b->children = c;
  char **nm = realloc(b->child_names, (size_t)(b->nchildren + 1) * sizeof *nm);
  if (nm) b->child_names = nm;
  char *dup = strdup(name);
  if (!c || !nm || !dup) {
    free(dup);
    bd_block_release(child);
    return bd_fail(BD_ENOMEM, "out of host memory");
  }
  b->children[b->nchildren] = child;
  b->child_names[b->nchildren] = dup;
  b->nchildren++;
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
  /* Parameters are listed before buffers, as PyTorch's state_dict does. */
  int at = b->nparams;
  if (!is_buffer)
    while (at > 0 && b->params[at - 1]->is_buffer) at--;
  memmove(b->params + at + 1, b->params + at,
          (size_t)(b->nparams - at) * sizeof *ps);
  memmove(b->param_names + at + 1, b->param_names + at,
          (size_t)(b->nparams - at) * sizeof *nm);
  b->params[at] = p;
  b->param_names[at] = dup;
  b->nparams++;
  ctx->bytes += bytes;
  if (out) *out = p;
  return BD_OK;
}

static bd__idrec *bd__id_find(bd_build_ctx *ctx, const char *id) {
  for (size_t i = 0; i < ctx->nids; i++)
    if (strcmp(ctx->ids[i].id, id) == 0) return &ctx->ids[i];
  return NULL;
}

static bool bd__is_common_key(const char *k) {
  return strcmp(k, "type") == 0 || strcmp(k, "name") == 0 ||
         strcmp(k, "id") == 0;
}

bd_status bd_block_build(bd_build_ctx *ctx, const cJSON *spec,
                         const char *key, bd_block **out) {
  size_t plen = strlen(ctx->path);
  snprintf(ctx->path + plen, sizeof ctx->path - plen, "%s", key);
  bd_status s = BD_OK;
  bd_block *b = NULL;
  bd__idrec *rec = NULL;
  size_t recidx = 0;
  if (!cJSON_IsObject(spec)) {
    s = bd_fail(BD_EINVAL, "%s: a block spec must be a JSON object",
                ctx->path);
    goto done;
  }
  if (++ctx->depth > ctx->lim.max_depth) {
    s = bd_fail(BD_ELIMIT, "%s: blocks nested deeper than %d", ctx->path,
                ctx->lim.max_depth);
    goto done_depth;
  }
  const cJSON *ref = cJSON_GetObjectItemCaseSensitive(spec, "ref");
  if (ref) {
    if (!cJSON_IsString(ref)) {
      s = bd_fail(BD_EINVAL, "%s.ref: must be a string", ctx->path);
      goto done_depth;
    }
    for (const cJSON *it = spec->child; it; it = it->next)
      if (strcmp(it->string, "ref") != 0 && strcmp(it->string, "name") != 0) {
        s = bd_fail(BD_EINVAL, "%s.%s: a {\"ref\"} may only carry a name",
                    ctx->path, it->string);
        goto done_depth;
      }
    bd__idrec *r = bd__id_find(ctx, ref->valuestring);
    if (!r)
      s = bd_fail(BD_EINVAL, "%s.ref: undefined ref '%s' (an id must be "
                  "defined before it is referenced)", ctx->path,
                  ref->valuestring);
    else if (!r->block)
      s = bd_fail(BD_EINVAL, "%s.ref: ref cycle: '%s' refers to a block "
                  "that contains it", ctx->path, ref->valuestring);
    else
      *out = bd_block_retain(r->block);
    goto done_depth;
  }
  const cJSON *type = cJSON_GetObjectItemCaseSensitive(spec, "type");
  if (!type) {
    s = bd_fail(BD_EINVAL, "%s.type: missing (or give {\"ref\": id})",
                ctx->path);
    goto done_depth;
  }
  if (!cJSON_IsString(type)) {
    s = bd_fail(BD_EINVAL, "%s.type: must be a string", ctx->path);
    goto done_depth;
  }
  const bd_block_type *t = bd_block_type_find(type->valuestring);
  if (!t) {
    s = bd_fail(BD_EINVAL, "%s.type: unknown block type '%s'", ctx->path,
                type->valuestring);
    goto done_depth;
  }
  const cJSON *name = cJSON_GetObjectItemCaseSensitive(spec, "name");
  if (name && !cJSON_IsString(name)) {
    s = bd_fail(BD_EINVAL, "%s.name: must be a string", ctx->path);
    goto done_depth;
  }
  if (ctx->lim.max_blocks > 0 && ++ctx->blocks > ctx->lim.max_blocks) {
    s = bd_fail(BD_ELIMIT, "%s: more than %lld blocks", ctx->path,
                (long long)ctx->lim.max_blocks);
    goto done_depth;
  }
  b = bd__block_new(t);
  if (!b) {
    s = bd_fail(BD_ENOMEM, "out of host memory");
    goto done_depth;
  }
  const cJSON *id = cJSON_GetObjectItemCaseSensitive(spec, "id");
  if (id) {
    if (!cJSON_IsString(id) || !id->valuestring[0]) {
      s = bd_fail(BD_EINVAL, "%s.id: must be a non-empty string", ctx->path);
      goto done_depth;
    }
    if (bd__id_find(ctx, id->valuestring)) {
      s = bd_fail(BD_EINVAL, "%s.id: duplicate id '%s'", ctx->path,
                  id->valuestring);
      goto done_depth;
    }
    if (ctx->nids == ctx->capids) {
      size_t cap = ctx->capids ? ctx->capids * 2 : 8;
      bd__idrec *n = realloc(ctx->ids, cap * sizeof *n);
      if (!n) {
        s = bd_fail(BD_ENOMEM, "out of host memory");
        goto done_depth;
      }
      ctx->ids = n;
      ctx->capids = cap;
    }
    b->id = strdup(id->valuestring);
    recidx = ctx->nids;
    ctx->ids[ctx->nids++] = (bd__idrec){b->id, NULL};
    rec = &ctx->ids[recidx];
  }
  s = t->create(b, spec, ctx);
  if (s == BD_OK && rec) ctx->ids[recidx].block = b;
  if (s == BD_OK) {
    *out = b;
    b = NULL;
  }
done_depth:
  ctx->depth--;
done:
  if (b) {
    /* Drop ids registered by the failed subtree (they point into it). */
    if (rec) ctx->nids = recidx;
    bd_block_release(b);
  }
  ctx->path[plen] = '\0';
  return s;
}

bd_status bd_block_build_tree(const cJSON *spec, bd_device dev,
                              const bd_build_limits *lim,
                              const char *root_path, bd_block **out) {
  bd_build_ctx ctx;
  memset(&ctx, 0, sizeof ctx);
  ctx.dev = dev;
  if (lim) ctx.lim = *lim;
  if (ctx.lim.max_depth <= 0) ctx.lim.max_depth = 64;
  bd_status s = bd_block_build(&ctx, spec, root_path ? root_path : "block",
                               out);
  free(ctx.ids);
  return s;
}

/* ---- spec field helpers ---------------------------------------------- */

bd_status bd_spec_int(bd_build_ctx *ctx, const cJSON *spec, const char *key,
                      bool required, int64_t def, int64_t min, int64_t max,
                      int64_t *out) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(spec, key);
  if (!v) {
    if (required)
      return bd_fail(BD_EINVAL, "%s.%s: missing", ctx->path, key);
    *out = def;
    return BD_OK;
  }
  double d = v->valuedouble;
  if (!cJSON_IsNumber(v))
    return bd_fail(BD_EINVAL, "%s.%s: must be an integer", ctx->path, key);
  /* Range first: casting a double outside int64 (1e300) is undefined. */
  if (d < (double)min || d > (double)max || d >= 9223372036854775807.0)
    return bd_fail(BD_EINVAL, "%s.%s: %.15g is outside [%lld, %lld]",
                   ctx->path, key, d, (long long)min, (long long)max);
  if (d != (double)(int64_t)d)
    return bd_fail(BD_EINVAL, "%s.%s: must be an integer", ctx->path, key);
  *out = (int64_t)d;
  return BD_OK;
}

bd_status bd_spec_num(bd_build_ctx *ctx, const cJSON *spec, const char *key,
                      bool required, double def, double *out) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(spec, key);
  if (!v) {
    if (required)
      return bd_fail(BD_EINVAL, "%s.%s: missing", ctx->path, key);
    *out = def;
    return BD_OK;
  }
  if (!cJSON_IsNumber(v))
    return bd_fail(BD_EINVAL, "%s.%s: must be a number", ctx->path, key);
  *out = v->valuedouble;
  return BD_OK;
}

bd_status bd_spec_bool(bd_build_ctx *ctx, const cJSON *spec, const char *key,
                       bool def, bool *out) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(spec, key);
  if (!v) {
    *out = def;
    return BD_OK;
  }
  if (!cJSON_IsBool(v))
    return bd_fail(BD_EINVAL, "%s.%s: must be true or false", ctx->path, key);
  *out = cJSON_IsTrue(v);
  return BD_OK;
}

bd_status bd_spec_str(bd_build_ctx *ctx, const cJSON *spec, const char *key,
                      const char *def, const char **out) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(spec, key);
  if (!v) {
    *out = def;
    return BD_OK;
  }
  if (!cJSON_IsString(v))
    return bd_fail(BD_EINVAL, "%s.%s: must be a string", ctx->path, key);
  *out = v->valuestring;
  return BD_OK;
}

bd_status bd_spec_check_keys(bd_build_ctx *ctx, const cJSON *spec,
                             const char *const *allowed) {
  for (const cJSON *it = spec->child; it; it = it->next) {
    if (bd__is_common_key(it->string)) continue;
    bool ok = false;
    for (const char *const *a = allowed; a && *a && !ok; a++)
      ok = strcmp(*a, it->string) == 0;
    if (!ok)
      return bd_fail(BD_EINVAL, "%s.%s: unknown field for a '%s' block",
                     ctx->path, it->string,
                     cJSON_GetStringValue(
                         cJSON_GetObjectItemCaseSensitive(spec, "type")));
  }
  return BD_OK;
}

/* ---- canonical spec ---------------------------------------------------- */

typedef struct bd__spec_ctx {
  const bd_block **seen;
  size_t n, cap;
  bool failed;
} bd__spec_ctx;

cJSON *bd_block_spec_child(const bd_block *b, void *vctx) {
  bd__spec_ctx *sc = vctx;
  for (size_t i = 0; i < sc->n; i++)
    if (sc->seen[i] == b) {
      cJSON *r = cJSON_CreateObject();
      if (!r || !cJSON_AddStringToObject(r, "ref", b->id ? b->id : "?"))
        sc->failed = true;
      return r;
    }
  if (b->id) {
    if (sc->n == sc->cap) {
      size_t cap = sc->cap ? sc->cap * 2 : 8;
      const bd_block **s = realloc(sc->seen, cap * sizeof *s);
      if (!s) {
        sc->failed = true;
        return NULL;
      }
      sc->seen = s;
      sc->cap = cap;
    }
    sc->seen[sc->n++] = b;
  }
  cJSON *o = cJSON_CreateObject();
  if (!o) {
    sc->failed = true;
    return NULL;
  }
  cJSON_AddStringToObject(o, "type", b->type->name);
  if (b->id) cJSON_AddStringToObject(o, "id", b->id);
  if (b->type->to_spec && b->type->to_spec(b, o, sc) != BD_OK)
    sc->failed = true;
  return o;
}

cJSON *bd_block_to_spec(const bd_block *root) {
  bd__spec_ctx sc = {0};
  cJSON *o = bd_block_spec_child(root, &sc);
  free(sc.seen);
  if (sc.failed) {
    cJSON_Delete(o);
    return NULL;
  }
  return o;
}

/* ---- forward / backward ------------------------------------------------ */

bd_status bd_block_forward(bd_block *b, bd_exec *ex, bd_tensor *x,
                           bd_tensor **y, void **saved) {
  *y = NULL;
  if (saved) *saved = NULL;
  return b->type->forward(b, ex, x, y, saved);
}

bool bd_block_needs_grad(const bd_block *b) {
  for (int i = 0; i < b->nparams; i++)
    if (!b->params[i]->is_buffer && b->params[i]->requires_grad) return true;
  for (int i = 0; i < b->nchildren; i++)
    if (bd_block_needs_grad(b->children[i])) return true;
  return false;
}

bd_status bd_block_backward(bd_block *b, bd_exec *ex, void *saved,
                            bd_tensor *dy, bd_tensor **dx) {
  if (dx) *dx = NULL;
  /* A block without a backward is fine on the gradient path only when
   * nothing is asked of it: no input gradient and no parameter of its own
   * that wants one (all frozen). */
  if (!b->type->backward && !dx && !bd_block_needs_grad(b)) return BD_OK;
  if (!b->type->backward)
    return bd_fail(BD_ENOGRAD, "block %s (%s) has no backward",
                   bd_exec_where(ex), b->type->name);
  return b->type->backward(b, ex, saved, dy, dx);
}

bd_status bd_block_forward_child(bd_block *b, int i, bd_exec *ex,
                                 bd_tensor *x, bd_tensor **y, void **saved) {
  size_t mark = bd_exec_push(ex, b->child_names[i]);
  bd_status s = bd_block_forward(b->children[i], ex, x, y, saved);
  if (s == BD_OK) {
    /* Plain copies, not snprintf: this runs for every child of every
     * forward and showed up in batch-1 profiles. Both paths are < 512. */
    size_t pl = strlen(ex->path);
    memcpy(ex->prev_path, ex->path, pl + 1);
    const char *tn = b->children[i]->type->name;
    size_t tl = strlen(tn);
    if (tl >= sizeof ex->prev_type) tl = sizeof ex->prev_type - 1;
    memcpy(ex->prev_type, tn, tl);
    ex->prev_type[tl] = '\0';
    ex->prev_ndim = (*y)->ndim;
    memcpy(ex->prev_shape, (*y)->shape, sizeof ex->prev_shape);
  }
  bd_exec_pop(ex, mark);
  return s;
}

bd_status bd_block_backward_child(bd_block *b, int i, bd_exec *ex,
                                  void *saved, bd_tensor *dy, bd_tensor **dx) {
  size_t mark = bd_exec_push(ex, b->child_names[i]);
  bd_status s = bd_block_backward(b->children[i], ex, saved, dy, dx);
  bd_exec_pop(ex, mark);
  return s;
}

/* ---- traversal --------------------------------------------------------- */

typedef struct bd__bset {
  const bd_block **v;
  size_t n, cap;
} bd__bset;

static int bd__bset_add(bd__bset *s, const bd_block *b) {
  for (size_t i = 0; i < s->n; i++)
    if (s->v[i] == b) return 0;
  if (s->n == s->cap) {
    size_t cap = s->cap ? s->cap * 2 : 16;
    const bd_block **v = realloc(s->v, cap * sizeof *v);
    if (!v) return -1;
    s->v = v;
    s->cap = cap;
  }
  s->v[s->n++] = b;
  return 1;
}

static bd_status bd__reset(bd_block *b, uint64_t seed, uint64_t *off,
                           bd__bset *seen) {
  int r = bd__bset_add(seen, b);
  if (r < 0) return bd_fail(BD_ENOMEM, "out of host memory");
  if (r == 0) return BD_OK;
  if (b->type->reset) {
    bd_status s = b->type->reset(b, seed, off);
    if (s) return s;
  }
  for (int i = 0; i < b->nchildren; i++) {
    bd_status s = bd__reset(b->children[i], seed, off, seen);
    if (s) return s;
  }
  return BD_OK;
}

bd_status bd_block_reset_all(bd_block *root, uint64_t seed,
                             uint64_t *rng_offset) {
  bd__bset seen = {0};
  bd_status s = bd__reset(root, seed, rng_offset, &seen);
  free(seen.v);
  return s;
}

static bd_status bd__state_add(bd_state_list *l, const char *prefix,
                               const char *name, bd_block *owner,
                               bd_param *p) {
  if (l->n == l->cap) {
    size_t cap = l->cap ? l->cap * 2 : 16;
    bd_state_entry *v = realloc(l->v, cap * sizeof *v);
    if (!v) return bd_fail(BD_ENOMEM, "out of host memory");
    l->v = v;
    l->cap = cap;
  }
  size_t len = strlen(prefix) + strlen(name) + 2;
  char *path = malloc(len);
  if (!path) return bd_fail(BD_ENOMEM, "out of host memory");
  snprintf(path, len, "%s%s%s", prefix, prefix[0] ? "." : "", name);
  l->v[l->n++] = (bd_state_entry){path, p, owner, name};
  return BD_OK;
}

bd_status bd_block_state_dict(bd_block *b, const char *prefix,
                              bd_state_list *out) {
  for (int i = 0; i < b->nparams; i++) {
    bd_status s = bd__state_add(out, prefix, b->param_names[i], b,
                                b->params[i]);
    if (s) return s;
  }
  for (int i = 0; i < b->nchildren; i++) {
    size_t len = strlen(prefix) + strlen(b->child_names[i]) + 2;
    char *sub = malloc(len);
    if (!sub) return bd_fail(BD_ENOMEM, "out of host memory");
    snprintf(sub, len, "%s%s%s", prefix, prefix[0] ? "." : "",
             b->child_names[i]);
    bd_status s = bd_block_state_dict(b->children[i], sub, out);
    free(sub);
    if (s) return s;
  }
  return BD_OK;
}

void bd_state_list_free(bd_state_list *l) {
  for (size_t i = 0; i < l->n; i++) free(l->v[i].path);
  free(l->v);
  memset(l, 0, sizeof *l);
}

long bd_state_list_find(const bd_state_list *l, const char *path) {
  for (size_t i = 0; i < l->n; i++)
    if (strcmp(l->v[i].path, path) == 0) return (long)i;
  return -1;
}

bool bd_state_list_is_first(const bd_state_list *l, size_t i) {
  for (size_t j = 0; j < i; j++)
    if (l->v[j].param == l->v[i].param) return false;
  return true;
}

bd_block *bd_block_find(bd_block *b, const char *path) {
  while (b && path[0]) {
    const char *dot = strchr(path, '.');
    size_t n = dot ? (size_t)(dot - path) : strlen(path);
    bd_block *next = NULL;
    for (int i = 0; i < b->nchildren; i++)
      if (strlen(b->child_names[i]) == n &&
          memcmp(b->child_names[i], path, n) == 0)
        next = b->children[i];
    b = next;
    path = dot ? dot + 1 : path + n;
    if (dot && !path[0]) return NULL; /* trailing dot */
  }
  return b;
}

bd_status bd_block_count(bd_block *root, int64_t *param_count, int64_t *bytes) {
  bd_state_list l = {0};
  *param_count = *bytes = 0;
  bd_status s = bd_block_state_dict(root, "", &l);
  for (size_t i = 0; !s && i < l.n; i++) {
    if (!bd_state_list_is_first(&l, i)) continue;
    int64_t n = bd_tensor_numel(l.v[i].param->value);
    if (!l.v[i].param->is_buffer) *param_count += n;
    *bytes += (int64_t)bd_tensor_nbytes(l.v[i].param->value);
  }
  bd_state_list_free(&l);
  return s;
}
