/* init.c - torch.nn.init's initialisers and the model-wide selector. */
#include "init.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "path.h"
#include "rng.h"

static const char *const bd__method_names[BD_INIT_METHOD_COUNT] = {
    [BD_INIT_ZEROS] = "zeros",
    [BD_INIT_ONES] = "ones",
    [BD_INIT_CONSTANT] = "constant",
    [BD_INIT_NORMAL] = "normal",
    [BD_INIT_UNIFORM] = "uniform",
    [BD_INIT_XAVIER_UNIFORM] = "xavier_uniform",
    [BD_INIT_XAVIER_NORMAL] = "xavier_normal",
    [BD_INIT_KAIMING_UNIFORM] = "kaiming_uniform",
    [BD_INIT_KAIMING_NORMAL] = "kaiming_normal",
    [BD_INIT_EYE] = "eye",
    [BD_INIT_DEFAULT] = "default",
    [BD_INIT_MASK_ABS_BELOW] = "mask_abs_below",
};

const char *bd_init_method_name(bd_init_method m) {
  return (unsigned)m < BD_INIT_METHOD_COUNT ? bd__method_names[m] : NULL;
}

bd_init_step bd_init_step_default(bd_init_method m) {
  bd_init_step st;
  memset(&st, 0, sizeof st);
  st.method = m;
  st.std = st.b = st.gain = 1.0;
  st.nonlinearity = BD_NL_LEAKY_RELU;
  return st;
}

double bd_init_gain(bd_nonlinearity nl, double param) {
  switch (nl) {
    case BD_NL_TANH:
      return 5.0 / 3.0;
    case BD_NL_RELU:
      return sqrt(2.0);
    case BD_NL_LEAKY_RELU:
      return sqrt(2.0 / (1.0 + param * param));
    case BD_NL_SELU:
      return 3.0 / 4.0;
    case BD_NL_SIGMOID:
    case BD_NL_LINEAR:
    default:
      return 1.0;
  }
}

bd_status bd_init_fans(int ndim, const int64_t *shape, const char *what,
                       int64_t *fan_in, int64_t *fan_out) {
  if (ndim < 2)
    return bd_fail(BD_EINVAL,
                   "%s: fan in and fan out can not be computed for a tensor "
                   "with fewer than 2 dimensions (it has %d)",
                   what, ndim);
  int64_t rf = 1;
  for (int i = 2; i < ndim; i++) rf *= shape[i];
  *fan_in = shape[1] * rf;
  *fan_out = shape[0] * rf;
  return BD_OK;
}

/* ---- one tensor ------------------------------------------------------- */

bd_status bd_init_check(const bd_init_step *st, const bd_tensor *t,
                        const char *what) {
  if (st->method == BD_INIT_DEFAULT) return BD_OK;
  if (t->dtype != BD_F32)
    return bd_fail(BD_EDTYPE, "%s: init method '%s' needs a float32 tensor",
                   what, bd_init_method_name(st->method));
  int64_t fi, fo;
  switch (st->method) {
    case BD_INIT_XAVIER_UNIFORM:
    case BD_INIT_XAVIER_NORMAL:
    case BD_INIT_KAIMING_UNIFORM:
    case BD_INIT_KAIMING_NORMAL: {
      bd_status s = bd_init_fans(t->ndim, t->shape, what, &fi, &fo);
      if (s)
        return bd_fail_prefix(
            s, "init method '%s': ", bd_init_method_name(st->method));
      return BD_OK;
    }
    case BD_INIT_EYE:
      if (t->ndim != 2)
        return bd_fail(BD_EINVAL,
                       "init method 'eye': %s: only tensors with 2 "
                       "dimensions are supported (it has %d)",
                       what, t->ndim);
      return BD_OK;
    default:
      return BD_OK;
  }
}

static bd_status bd__fill(bd_tensor *t, double v) {
  bd_op op = bd_op_fill(t, (float)v);
  return bd_op_run(&op);
}

static bd_status bd__eye(bd_tensor *t) {
  bd_tensor *h;
  bd_status s = bd_tensor_zeros(BD_CPU, BD_F32, 2, t->shape, &h);
  if (s) return s;
  float *d = bd_tensor_f32(h);
  int64_t r = t->shape[0], c = t->shape[1];
  for (int64_t i = 0; i < r && i < c; i++) d[i * c + i] = 1.0f;
  s = bd_tensor_copy_into(t, h);
  bd_tensor_release(h);
  return s;
}

bd_status bd_init_apply(const bd_init_step *st, bd_tensor *t, uint64_t seed,
                        uint64_t *offset) {
  if (bd_tensor_numel(t) == 0) return BD_OK; /* PyTorch: a no-op */
  int64_t fi = 0, fo = 0;
  double std;
  switch (st->method) {
    case BD_INIT_ZEROS:
      return bd__fill(t, 0.0);
    case BD_INIT_ONES:
      return bd__fill(t, 1.0);
    case BD_INIT_CONSTANT:
      return bd__fill(t, st->value);
    case BD_INIT_NORMAL:
      return bd_rng_fill(t, BD_RNG_NORMAL, st->mean, st->std, seed, offset);
    case BD_INIT_UNIFORM:
      return bd_rng_fill(t, BD_RNG_UNIFORM, st->a, st->b, seed, offset);
    case BD_INIT_XAVIER_UNIFORM:
    case BD_INIT_XAVIER_NORMAL: {
      bd_status s = bd_init_fans(t->ndim, t->shape, "tensor", &fi, &fo);
      if (s) return s;
      std = st->gain * sqrt(2.0 / (double)(fi + fo));
      if (st->method == BD_INIT_XAVIER_NORMAL)
        return bd_rng_fill(t, BD_RNG_NORMAL, 0.0, std, seed, offset);
      double bound = sqrt(3.0) * std;
      return bd_rng_fill(t, BD_RNG_UNIFORM, -bound, bound, seed, offset);
    }
    case BD_INIT_KAIMING_UNIFORM:
    case BD_INIT_KAIMING_NORMAL: {
      bd_status s = bd_init_fans(t->ndim, t->shape, "tensor", &fi, &fo);
      if (s) return s;
      double fan = (double)(st->fan_out ? fo : fi);
      std = bd_init_gain(st->nonlinearity, st->a) / sqrt(fan);
      if (st->method == BD_INIT_KAIMING_NORMAL)
        return bd_rng_fill(t, BD_RNG_NORMAL, 0.0, std, seed, offset);
      double bound = sqrt(3.0) * std;
      return bd_rng_fill(t, BD_RNG_UNIFORM, -bound, bound, seed, offset);
    }
    case BD_INIT_EYE:
      return bd__eye(t);
    case BD_INIT_MASK_ABS_BELOW: {
      bd_op op = bd_op_mask_abs_below(t, t, (float)st->threshold);
      return bd_op_run(&op);
    }
    default:
      return bd_fail(BD_EINTERNAL, "init method '%s' is not a tensor step",
                     bd_init_method_name(st->method));
  }
}

/* ---- the selector ------------------------------------------------------ */

typedef struct bd__blist {
  bd_block **v;
  size_t n, cap;
} bd__blist;

static bool bd__blist_has(const bd__blist *l, const bd_block *b) {
  for (size_t i = 0; i < l->n; i++)
    if (l->v[i] == b) return true;
  return false;
}

static bd_status bd__blist_add(bd__blist *l, bd_block *b) {
  if (l->n == l->cap) {
    size_t cap = l->cap ? l->cap * 2 : 16;
    bd_block **v = realloc(l->v, cap * sizeof *v);
    if (!v) return bd_fail(BD_ENOMEM, "out of host memory");
    l->v = v;
    l->cap = cap;
  }
  l->v[l->n++] = b;
  return BD_OK;
}

/* Pre-order, each shared block once. */
static bd_status bd__collect(bd_block *b, bd__blist *out) {
  if (bd__blist_has(out, b)) return BD_OK;
  bd_status s = bd__blist_add(out, b);
  for (int i = 0; !s && i < b->nchildren; i++)
    s = bd__collect(b->children[i], out);
  return s;
}

static bool bd__targeted(const bd_block *b, int i, const char *target) {
  if (b->params[i]->is_buffer) return false;
  return strcmp(target, "all") == 0 || strcmp(b->param_names[i], target) == 0;
}

/* A host copy of one parameter or buffer, to undo a failed request and to
 * keep the non-targeted tensors of a block reset by "default". */
typedef struct bd__snap {
  bd_param *p;
  bd_tensor *host;
} bd__snap;

static void bd__restore(bd__snap *v, size_t n) {
  for (size_t i = 0; i < n; i++)
    (void)bd_tensor_copy_into(v[i].p->value, v[i].host);
}

/* The state of one bd_init_run, passed through its phases. */
typedef struct bd__init_run {
  const bd_init_request *req;
  const char *target;
  bd__blist chosen; /* blocks to initialise, tree order */
  int64_t nmatched; /* targeted parameters in them */
  bd_state_list sd; /* the tree's state_dict, for paths */
  bd__snap *snaps;  /* host copies of every tensor of chosen */
  size_t nsnaps;
  bool applied; /* something may have changed: restore on failure */
  char **names; /* touched paths */
  int nnames;
} bd__init_run;

static bool bd__type_selected(const bd_init_request *req, const bd_block *b) {
  bool ok = req->ntypes == 0;
  for (int i = 0; i < req->ntypes && !ok; i++)
    ok = strcmp(b->type->name, req->types[i]) == 0;
  return ok;
}

/* Phase 1: the chosen blocks, in tree order: inside the selected subtrees
 * (the whole tree by default), of a selected type, with a targeted
 * parameter. EINVAL for an unknown type or path, or nothing matched. */
static bd_status bd__init_select(bd__init_run *r, bd_block *root) {
  const bd_init_request *req = r->req;
  for (int i = 0; i < req->ntypes; i++)
    if (!bd_block_type_find(req->types[i]))
      return bd_fail(BD_EINVAL, "types[%d]: unknown block type '%s'", i,
                     req->types[i]);
  bd__blist all = {0}, sel = {0};
  bd_status s = bd__collect(root, &all);
  for (int i = 0; !s && i < req->nblocks; i++) {
    bd_block *b;
    s = bd_path_block(root, req->blocks[i], &b, NULL);
    if (s == BD_ENOTFOUND)
      s = bd_fail_prefix(BD_EINVAL,
                         "blocks[%d]: the model has no block at path '%s': ", i,
                         req->blocks[i]);
    if (!s) s = bd__collect(b, &sel);
  }
  for (size_t k = 0; !s && k < all.n; k++) {
    bd_block *b = all.v[k];
    if (req->nblocks && !bd__blist_has(&sel, b)) continue;
    if (!bd__type_selected(req, b)) continue;
    int here = 0;
    for (int i = 0; i < b->nparams; i++)
      if (bd__targeted(b, i, r->target)) here++;
    if (!here) continue;
    r->nmatched += here;
    s = bd__blist_add(&r->chosen, b);
  }
  if (!s && r->nmatched == 0)
    s = bd_fail(BD_EINVAL,
                "init: the selector (target '%s'%s%s) matches no parameter",
                r->target, req->nblocks ? ", blocks" : "",
                req->ntypes ? ", types" : "");
  free(all.v);
  free(sel.v);
  return s;
}

/* Phase 2: every step against every parameter it would touch (errors name
 * the parameter's state_dict path). */
static bd_status bd__init_validate(bd__init_run *r, bd_block *root) {
  const bd_init_request *req = r->req;
  bd_status s = bd_block_state_dict(root, "", &r->sd);
  for (size_t k = 0; !s && k < r->chosen.n; k++) {
    bd_block *b = r->chosen.v[k];
    for (int st = 0; !s && st < req->nsteps; st++) {
      if (req->steps[st].method == BD_INIT_DEFAULT && !b->type->reset)
        return bd_fail(BD_EUNSUPPORTED,
                       "init method 'default': block type '%s' has no "
                       "default initialiser",
                       b->type->name);
      for (int i = 0; !s && i < b->nparams; i++) {
        if (!bd__targeted(b, i, r->target)) continue;
        const char *what = b->param_names[i];
        for (size_t e = 0; e < r->sd.n; e++)
          if (r->sd.v[e].param == b->params[i]) {
            what = r->sd.v[e].path;
            break;
          }
        s = bd_init_check(&req->steps[st], b->params[i]->value, what);
      }
    }
  }
  return s;
}

/* Phase 3: a host copy of every tensor of the chosen blocks, to undo a
 * failure and to keep what a "default" step must not touch. */
static bd_status bd__init_snapshot(bd__init_run *r) {
  for (size_t k = 0; k < r->chosen.n; k++) {
    bd_block *b = r->chosen.v[k];
    bd__snap *v =
        realloc(r->snaps, (r->nsnaps + (size_t)b->nparams) * sizeof *v);
    if (!v) return bd_fail(BD_ENOMEM, "out of host memory");
    r->snaps = v;
    for (int i = 0; i < b->nparams; i++) {
      r->snaps[r->nsnaps].p = b->params[i];
      bd_status s =
          bd_tensor_to(b->params[i]->value, BD_CPU, &r->snaps[r->nsnaps].host);
      if (s) return s;
      r->nsnaps++;
    }
  }
  return BD_OK;
}

/* Phase 4: block by block, each step in order (net.apply(my_init)),
 * drawing from (seed, *off). */
static bd_status bd__init_apply(bd__init_run *r, uint64_t seed, uint64_t *off) {
  size_t snap0 = 0;
  bd_status s = BD_OK;
  for (size_t k = 0; !s && k < r->chosen.n; k++) {
    bd_block *b = r->chosen.v[k];
    r->applied = true;
    for (int st = 0; !s && st < r->req->nsteps; st++) {
      const bd_init_step *step = &r->req->steps[st];
      if (step->method == BD_INIT_DEFAULT) {
        s = b->type->reset(b, seed, off);
        /* Keep what the target does not name. */
        for (int i = 0; !s && i < b->nparams; i++)
          if (!bd__targeted(b, i, r->target))
            s = bd_tensor_copy_into(b->params[i]->value,
                                    r->snaps[snap0 + (size_t)i].host);
        continue;
      }
      for (int i = 0; !s && i < b->nparams; i++)
        if (bd__targeted(b, i, r->target))
          s = bd_init_apply(step, b->params[i]->value, seed, off);
    }
    snap0 += (size_t)b->nparams;
  }
  return s;
}

/* Phase 5: the touched parameters' paths, in named_parameters order. */
static bd_status bd__init_touched(bd__init_run *r) {
  r->names = calloc((size_t)r->nmatched, sizeof *r->names);
  if (!r->names) return bd_fail(BD_ENOMEM, "out of host memory");
  bool *first = NULL;
  bd_status s = bd_state_list_firsts(&r->sd, &first);
  for (size_t e = 0; !s && e < r->sd.n; e++) {
    if (!first[e]) continue;
    bd_block *owner = r->sd.v[e].owner;
    if (!bd__blist_has(&r->chosen, owner)) continue;
    for (int i = 0; i < owner->nparams; i++)
      if (owner->params[i] == r->sd.v[e].param &&
          bd__targeted(owner, i, r->target) && r->nnames < r->nmatched) {
        r->names[r->nnames] = strdup(r->sd.v[e].path);
        if (!r->names[r->nnames]) {
          s = bd_fail(BD_ENOMEM, "out of host memory");
          break;
        }
        r->nnames++;
      }
  }
  free(first);
  return s;
}

bd_status bd_init_run(bd_block *root, const bd_init_request *req,
                      uint64_t model_seed, uint64_t *model_offset,
                      char ***touched, int *ntouched) {
  *touched = NULL;
  *ntouched = 0;
  if (req->nsteps <= 0) return bd_fail(BD_EINVAL, "init: no method given");
  bd__init_run r = {.req = req, .target = req->target ? req->target : "all"};
  uint64_t seed = req->has_seed ? req->seed : model_seed;
  uint64_t off = req->has_seed ? 0 : *model_offset;
  bd_status s = bd__init_select(&r, root);
  if (!s) s = bd__init_validate(&r, root);
  if (!s) s = bd__init_snapshot(&r);
  if (!s) s = bd__init_apply(&r, seed, &off);
  if (!s) s = bd__init_touched(&r);
  if (s) {
    /* Undo: the tensors as they were, the offset untouched. */
    if (r.applied) {
      bd_status keep = s;
      bd__restore(r.snaps, r.nsnaps);
      s = keep;
    }
    for (int i = 0; i < r.nnames; i++) free(r.names[i]);
    free(r.names);
  } else {
    /* Commit: the stream moves on, the caller owns the names. */
    if (!req->has_seed) *model_offset = off;
    *touched = r.names;
    *ntouched = r.nnames;
  }
  for (size_t i = 0; i < r.nsnaps; i++) bd_tensor_release(r.snaps[i].host);
  free(r.snaps);
  free(r.chosen.v);
  bd_state_list_free(&r.sd);
  return s;
}
