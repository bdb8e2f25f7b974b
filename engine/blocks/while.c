/* while.c - a loop on the running value: while cond(x): x = body(x).
 * The condition compares a reduction of x (abs_sum, sum, max, min, mean,
 * norm) with a constant (gt, ge, lt, le), e.g. the seed's FixedHiddenMLP
 * `while X.abs().sum() > 1: X /= 2` is
 *   {"type":"while","cond":{"reduce":"abs_sum","gt":1},
 *    "body":{"type":"scale","value":0.5},"max_iters":1000}.
 * Running the body more than max_iters times fails with BD_EITERS. The
 * condition is piecewise constant, so backward runs the body's backward
 * through the recorded iterations in reverse. */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "../backend.h"
#include "../block.h"
#include "blocks.h"

typedef enum while_cmp { CMP_GT = 0, CMP_GE, CMP_LT, CMP_LE } while_cmp;

static const char *const while_cmp_names[] = {"gt", "ge", "lt", "le", NULL};
static const char *const while_reduce_names[] = {
    "abs_sum", "sum", "max", "min", "mean", "norm", NULL};
static const bd_reduce_kind while_reduce_ops[] = {BD_RED_ABS_SUM, BD_RED_SUM,
                                                  BD_RED_MAX,     BD_RED_MIN,
                                                  BD_RED_MEAN,    BD_RED_NORM};

typedef struct bd_while {
  int reduce; /* index into while_reduce_names */
  int cmp;    /* a while_cmp */
  double threshold;
  int64_t max_iters;
} bd_while;

typedef struct while_saved {
  int64_t n, cap;
  void **rec; /* body records, one per iteration */
} while_saved;

static const bd_field while_cond_fields[] = {
    {.name = "reduce",
     .kind = BD_FIELD_ENUM,
     .required = true,
     .offset = offsetof(bd_while, reduce),
     .choices = while_reduce_names,
     .doc = "the reduction of x the condition tests"},
    {.name = "comparison",
     .kind = BD_FIELD_PICK,
     .required = true,
     .offset = offsetof(bd_while, cmp),
     .offset2 = offsetof(bd_while, threshold),
     .choices = while_cmp_names,
     .doc = "reduce(x) > (gt), >= (ge), < (lt) or <= (le) the number"},
};

static const bd_field while_fields[] = {
    {.name = "cond",
     .kind = BD_FIELD_OBJECT,
     .required = true,
     .sub = while_cond_fields,
     .nsub = BD_NFIELDS(while_cond_fields),
     .example = "like {\"reduce\":\"abs_sum\",\"gt\":1}",
     .doc = "loop while reduce(x) compares true with the number"},
    {.name = "body",
     .kind = BD_FIELD_BLOCK,
     .required = true,
     .doc = "the block applied to x each iteration"},
    {.name = "max_iters",
     .kind = BD_FIELD_INT,
     .offset = offsetof(bd_while, max_iters),
     .def = 1000,
     .min = 0,
     .max = 1000000000,
     .doc = "more iterations than this is an error"},
};

/* Evaluates the condition on x (reduction on x's device, then compared on
 * the host in double precision, as PyTorch compares a 0-d tensor). */
static bd_status while_test(const bd_while *w, bd_exec *ex, bd_tensor *x,
                            bool *go) {
  bd_tensor *r = NULL, *h = NULL;
  bd_status s = bd_tensor_new(ex->dev, BD_F32, 0, NULL, &r);
  if (s) return s;
  bd_op op = bd_op_reduce(r, x, while_reduce_ops[w->reduce]);
  s = bd_op_run(&op);
  if (!s) s = bd_tensor_to(r, BD_CPU, &h);
  if (!s) {
    double v = *bd_tensor_f32(h), t = (float)w->threshold;
    switch (w->cmp) {
      case CMP_GT:
        *go = v > t;
        break;
      case CMP_GE:
        *go = v >= t;
        break;
      case CMP_LT:
        *go = v < t;
        break;
      default:
        *go = v <= t;
        break;
    }
  }
  bd_tensor_release(r);
  bd_tensor_release(h);
  return s;
}

static bd_status while_forward(bd_block *b, bd_exec *ex, bd_tensor *x,
                               bd_tensor **y, void **saved) {
  const bd_while *w = b->impl;
  while_saved *ws = NULL;
  if (ex->record && saved) {
    ws = bd_exec_alloc(ex, sizeof *ws);
    if (!ws) return bd_fail(BD_ENOMEM, "out of host memory recording while");
    *saved = ws;
  }
  bd_tensor *cur = bd_tensor_retain(x);
  bd_status s = BD_OK;
  for (int64_t it = 0;; it++) {
    bool go = false;
    s = while_test(w, ex, cur, &go);
    if (s || !go) break;
    s = bd_exec_check_deadline(ex);
    if (s) break;
    if (it == w->max_iters) {
      s = bd_fail(BD_EITERS,
                  "layer %s (while): the condition %s %s %g still holds "
                  "after max_iters = %lld iterations",
                  bd_exec_where(ex), while_reduce_names[w->reduce],
                  while_cmp_names[w->cmp], w->threshold,
                  (long long)w->max_iters);
      break;
    }
    void **slot = NULL;
    if (ws) {
      if (ws->n == ws->cap) {
        int64_t cap = ws->cap ? ws->cap * 2 : 8;
        void **rec = bd_exec_alloc(ex, (size_t)cap * sizeof *rec);
        if (!rec) {
          s = bd_fail(BD_ENOMEM, "out of host memory recording while");
          break;
        }
        if (ws->n) memcpy(rec, ws->rec, (size_t)ws->n * sizeof *rec);
        ws->rec = rec;
        ws->cap = cap;
      }
      slot = &ws->rec[ws->n++];
    }
    bd_tensor *next = NULL;
    s = bd_block_forward_child(b, 0, ex, cur, &next, slot);
    bd_tensor_release(cur);
    cur = next;
    if (s) break;
  }
  if (s) {
    bd_tensor_release(cur);
    return s;
  }
  *y = cur;
  return BD_OK;
}

static bd_status while_backward(bd_block *b, bd_exec *ex, void *saved,
                                bd_tensor *dy, bd_tensor **dx) {
  const while_saved *ws = saved;
  if (!ws) return bd_fail(BD_EINTERNAL, "while backward without forward");
  bd_tensor *g = bd_tensor_retain(dy);
  for (int64_t i = ws->n - 1; i >= 0; i--) {
    bd_tensor *gin = NULL;
    bool want = dx || i > 0;
    bd_status s =
        bd_block_backward_child(b, 0, ex, ws->rec[i], g, want ? &gin : NULL);
    bd_tensor_release(g);
    if (s) return s;
    g = gin;
  }
  if (dx)
    *dx = g;
  else
    bd_tensor_release(g);
  return BD_OK;
}

/* The condition reduces the whole tensor: one request's rows would decide
 * how often the body runs on its batch neighbours' rows. */
static bd_status while_rows(const bd_block *b, const char *path, bool training,
                            int *ndim) {
  (void)training;
  (void)ndim;
  return bd_rows_mixed(b, path,
                       "its condition tests a reduction of the whole "
                       "tensor");
}

const bd_block_type bd_block_while = {
    .name = "while",
    .doc =
        "while cond(x): x = body(x); more than max_iters iterations is "
        "an error (max_iters_exceeded).",
    .fields = while_fields,
    .nfields = BD_NFIELDS(while_fields),
    .impl_size = sizeof(bd_while),
    .forward = while_forward,
    .backward = while_backward,
    .rows = while_rows,
};

BD_BLOCKS_FILE_TYPES(while, &bd_block_while);
