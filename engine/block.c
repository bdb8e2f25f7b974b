/* block.c - the block base: type registry, block objects, forward and
 * backward dispatch, traversal (state_dict, named_parameters), parameter
 * bookkeeping. Building from a spec and the canonical spec live in
 * block_build.c. */
#include "block.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "hmap.h"
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
  if (!p->grad) return bd_tensor_to(g, bd_tensor_device(p->value), &p->grad);
  bd_op op = bd_op_binary(p->grad, p->grad, BD_BIN_ADD, g);
  return bd_op_run(&op);
}

/* ---- type registry --------------------------------------------------- */

#define BD_MAX_TYPES 128
static const bd_block_type *bd__types[BD_MAX_TYPES];
static int bd__ntypes;
static pthread_mutex_t bd__types_mu = PTHREAD_MUTEX_INITIALIZER;

bd_status bd_block_type_register(const bd_block_type *t) {
  if (!t || !t->name || !t->name[0] || !t->forward)
    return bd_fail(BD_EINVAL, "a block type needs a name and a forward");
  bd_status s =
      bd_fields_validate(t->name, t->fields, t->nfields, t->impl_size, false);
  if (s) return s;
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

const bd_block_type *bd_block_type_at(int i) {
  const bd_block_type *r = NULL;
  pthread_mutex_lock(&bd__types_mu);
  if (i >= 0 && i < bd__ntypes) r = bd__types[i];
  pthread_mutex_unlock(&bd__types_mu);
  return r;
}

const bd_block_type *bd_block_type_find(const char *name) {
  const bd_block_type *r = NULL;
  pthread_mutex_lock(&bd__types_mu);
  for (int i = 0; i < bd__ntypes && name; i++)
    if (strcmp(bd__types[i]->name, name) == 0) r = bd__types[i];
  pthread_mutex_unlock(&bd__types_mu);
  return r;
}

/* ---- block objects ---------------------------------------------------- */

bd_block *bd__block_new(const bd_block_type *t) {
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
  if (b->type && b->type->impl_size) free(b->impl);
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

bd_status bd__block_add_child_unique(bd_block *b, const char *name,
                                     bd_block *child) {
  if (!name[0] || strchr(name, '.')) {
    bd_block_release(child);
    return bd_fail(BD_EINVAL,
                   "child name '%s' must be non-empty and contain no '.'",
                   name);
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

bd_status bd_block_add_child(bd_block *b, const char *name, bd_block *child) {
  for (int i = 0; i < b->nchildren; i++)
    if (strcmp(b->child_names[i], name) == 0) {
      bd_block_release(child);
      return bd_fail(BD_EINVAL, "duplicate child name '%s'", name);
    }
  return bd__block_add_child_unique(b, name, child);
}

/* ---- forward / backward ------------------------------------------------ */

bd_status bd_block_forward(bd_block *b, bd_exec *ex, bd_tensor *x,
                           bd_tensor **y, void **saved) {
  *y = NULL;
  if (saved) *saved = NULL;
  return b->type->forward(b, ex, x, y, saved);
}

/* ---- rows (dynamic batching) ---------------------------------------- */

const char *bd_rows_child_path(const char *path, const char *name, char *buf,
                               size_t n) {
  if (!path || !path[0])
    snprintf(buf, n, "%s", name);
  else
    snprintf(buf, n, "%s.%s", path, name);
  return buf;
}

bd_status bd_rows_mixed(const bd_block *b, const char *path, const char *why) {
  return bd_fail(BD_EINVAL, "layer %s (%s) mixes the rows of a batch: %s",
                 path && path[0] ? path : "<root>", b->type->name, why);
}

bd_status bd_rows_same(const bd_block *b, const char *path, bool training,
                       int *ndim) {
  (void)b;
  (void)path;
  (void)training;
  (void)ndim;
  return BD_OK;
}

bd_status bd_block_rows(const bd_block *b, const char *path, bool training,
                        int *ndim) {
  if (!b->type->rows)
    return bd_rows_mixed(b, path,
                         "its type does not declare that it treats rows "
                         "independently");
  bd_status s = b->type->rows(b, path, training, ndim);
  if (!s && *ndim < 1)
    return bd_rows_mixed(b, path, "its output has no batch dimension left");
  return s;
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

bd_status bd_block_forward_child(bd_block *b, int i, bd_exec *ex, bd_tensor *x,
                                 bd_tensor **y, void **saved) {
  size_t mark = bd_exec_push(ex, b->child_names[i]);
  /* Every block run checks the compute deadline, so no spec (however
   * wide or deep its expansion) holds a worker past the limit. */
  bd_status s = bd_exec_check_deadline(ex);
  if (s == BD_OK) s = bd_block_forward(b->children[i], ex, x, y, saved);
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

bd_status bd_block_backward_child(bd_block *b, int i, bd_exec *ex, void *saved,
                                  bd_tensor *dy, bd_tensor **dx) {
  size_t mark = bd_exec_push(ex, b->child_names[i]);
  bd_status s = bd_exec_check_deadline(ex);
  if (s == BD_OK) s = bd_block_backward(b->children[i], ex, saved, dy, dx);
  bd_exec_pop(ex, mark);
  return s;
}

/* ---- traversal --------------------------------------------------------- */

/* 1 when b was not in seen (now added), 0 when it was, -1 on ENOMEM. */
static int bd__seen_add(bd_hmap *seen, const bd_block *b) {
  if (bd_hmap_get(seen, b)) return 0;
  return bd_hmap_put(seen, b, 1) ? -1 : 1;
}

static bd_status bd__reset(bd_block *b, uint64_t seed, uint64_t *off,
                           bd_hmap *seen) {
  int r = bd__seen_add(seen, b);
  if (r < 0) return BD_ENOMEM;
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
  bd_hmap seen;
  bd_hmap_init(&seen, false);
  bd_status s = bd__reset(root, seed, rng_offset, &seen);
  bd_hmap_free(&seen);
  return s;
}

static bd_status bd__state_add(bd_state_list *l, const char *prefix,
                               const char *name, bd_block *owner, bd_param *p) {
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
    bd_status s =
        bd__state_add(out, prefix, b->param_names[i], b, b->params[i]);
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

bd_status bd_state_list_firsts(const bd_state_list *l, bool **first) {
  bd_hmap seen;
  bd_hmap_init(&seen, false);
  bool *f = calloc(l->n + 1, sizeof *f);
  bd_status s = f ? BD_OK : bd_fail(BD_ENOMEM, "out of host memory");
  for (size_t i = 0; !s && i < l->n; i++) {
    f[i] = !bd_hmap_get(&seen, l->v[i].param);
    if (f[i]) s = bd_hmap_put(&seen, l->v[i].param, 1);
  }
  bd_hmap_free(&seen);
  if (s) {
    free(f);
    f = NULL;
  }
  *first = f;
  return s;
}

bd_status bd_block_count(bd_block *root, int64_t *param_count, int64_t *bytes) {
  bd_state_list l = {0};
  *param_count = *bytes = 0;
  bool *first = NULL;
  bd_status s = bd_block_state_dict(root, "", &l);
  if (!s) s = bd_state_list_firsts(&l, &first);
  for (size_t i = 0; !s && i < l.n; i++) {
    if (!first[i]) continue;
    int64_t n = bd_tensor_numel(l.v[i].param->value);
    if (!l.v[i].param->is_buffer) *param_count += n;
    *bytes += (int64_t)bd_tensor_nbytes(l.v[i].param->value);
  }
  free(first);
  bd_state_list_free(&l);
  return s;
}
