/* sequential.c - nn.Sequential: children run in order. Children are named
 * "0", "1", ... unless the spec names them ("hidden", "block 0").
 *
 * A {"ref": id} step whose "name" is the name of an earlier child holding
 * that very block reuses the child without registering it again: the run
 * order is then longer than the child list, as in a PyTorch module whose
 * forward calls self.linear twice (the seed's FixedHiddenMLP); its
 * parameters appear once in state_dict. A ref under a new name is a new
 * child (tying, as nn.Sequential(shared, ..., shared)). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../block.h"
#include "../hmap.h"
#include "blocks.h"

/* The run order: child indices, one per spec step; names maps each
 * child's name (borrowed from child_names) to its index, so adopting n
 * steps is O(n). */
typedef struct seq_order {
  int n;
  int *step;
  bd_hmap names;
} seq_order;

static const bd_field seq_fields[] = {
    {.name = "layers",
     .kind = BD_FIELD_BLOCKS,
     .required = true,
     .doc = "the blocks, run in order"},
};

static int seq_nsteps(const bd_block *b) {
  const seq_order *o = b->impl;
  return o->n;
}

static int seq_step(const bd_block *b, int i) {
  const seq_order *o = b->impl;
  return o->step[i];
}

static int seq_steps(const bd_block *b, const int **idx) {
  const seq_order *o = b->impl;
  *idx = o->step;
  return o->n;
}

static void seq_free(bd_block *b) {
  seq_order *o = b->impl;
  free(o->step);
  bd_hmap_free(&o->names);
}

/* Step i of the spec: a ref named like the earlier child holding that
 * very block runs it again; anything else is a new child. */
static bd_status seq_adopt(bd_block *b, int i, const bd_spec *item,
                           bd_block *child) {
  seq_order *ord = b->impl;
  int *step = realloc(ord->step, (size_t)(ord->n + 1) * sizeof *step);
  if (!step) {
    bd_block_release(child);
    return bd_fail(BD_ENOMEM, "out of host memory");
  }
  ord->step = step;
  if (!ord->names.str) bd_hmap_init(&ord->names, true);
  char defname[24];
  snprintf(defname, sizeof defname, "%d", i);
  const char *name = item->name ? item->name : defname;
  int64_t *at = bd_hmap_get(&ord->names, name);
  if (at && item->ref && item->name && b->children[*at] == child) {
    bd_block_release(child); /* the same block run again */
    ord->step[ord->n++] = (int)*at;
    return BD_OK;
  }
  if (at) {
    bd_block_release(child);
    return bd_fail(BD_EINVAL, "duplicate child name '%s'", name);
  }
  bd_status s = bd__block_add_child_unique(b, name, child);
  if (s) return s;
  s = bd_hmap_put(&ord->names, b->child_names[b->nchildren - 1],
                  b->nchildren - 1);
  if (!s) ord->step[ord->n++] = b->nchildren - 1;
  return s;
}

static bd_status seq_forward(bd_block *b, bd_exec *ex, bd_tensor *x,
                             bd_tensor **y, void **saved) {
  void **rec = NULL;
  int n = seq_nsteps(b);
  if (ex->record && saved && n) {
    rec = bd_exec_alloc(ex, (size_t)n * sizeof *rec);
    if (!rec)
      return bd_fail(BD_ENOMEM, "out of host memory recording sequential");
    *saved = rec;
  }
  bd_tensor *cur = bd_tensor_retain(x);
  for (int i = 0; i < n; i++) {
    bd_tensor *next;
    bd_status s = bd_block_forward_child(b, seq_step(b, i), ex, cur, &next,
                                         rec ? &rec[i] : NULL);
    bd_tensor_release(cur);
    if (s) return s;
    cur = next;
  }
  *y = cur;
  return BD_OK;
}

static bd_status seq_backward(bd_block *b, bd_exec *ex, void *saved,
                              bd_tensor *dy, bd_tensor **dx) {
  void **rec = saved;
  /* Without an input gradient wanted, the pass can stop at the first
   * child holding a parameter that requires grad: the children before it
   * (a frozen feature extractor, a block without backward) are skipped. */
  int n = seq_nsteps(b), lo = 0;
  if (!dx) {
    lo = n;
    for (int i = 0; i < n && lo == n; i++)
      if (bd_block_needs_grad(b->children[seq_step(b, i)])) lo = i;
  }
  bd_tensor *g = bd_tensor_retain(dy);
  for (int i = n - 1; i >= lo; i--) {
    bd_tensor *gin = NULL;
    bool want = dx || i > lo;
    bd_status s = bd_block_backward_child(
        b, seq_step(b, i), ex, rec ? rec[i] : NULL, g, want ? &gin : NULL);
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

/* Every step in order, each seeing the dims the previous one left. */
static bd_status seq_rows(const bd_block *b, const char *path, bool training,
                          int *ndim) {
  char sub[512];
  int n = seq_nsteps(b);
  for (int i = 0; i < n; i++) {
    int c = seq_step(b, i);
    bd_status s = bd_block_rows(
        b->children[c],
        bd_rows_child_path(path, b->child_names[c], sub, sizeof sub), training,
        ndim);
    if (s) return s;
  }
  return BD_OK;
}

const bd_block_type bd_block_sequential = {
    .name = "sequential",
    .doc =
        "nn.Sequential: children run in order, named \"0\", \"1\", ... "
        "unless they carry \"name\". A {\"ref\"} step with the name of "
        "an earlier child holding that block reuses it without "
        "registering it again.",
    .fields = seq_fields,
    .nfields = BD_NFIELDS(seq_fields),
    .impl_size = sizeof(seq_order),
    .adopt = seq_adopt,
    .steps = seq_steps,
    .forward = seq_forward,
    .backward = seq_backward,
    .free_impl = seq_free,
    .rows = seq_rows,
};

BD_BLOCKS_FILE_TYPES(sequential, &bd_block_sequential);
