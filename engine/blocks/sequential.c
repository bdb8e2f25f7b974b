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
#include "blocks.h"

static const char *const seq_keys[] = {"layers", NULL};

/* The run order: child indices, one per spec step. */
typedef struct seq_order {
  int n;
  int *step;
} seq_order;

/* Index of an existing child named name holding block c, or -1. */
static int seq_reused(const bd_block *b, const char *name,
                      const bd_block *c) {
  for (int i = 0; name && i < b->nchildren; i++)
    if (b->children[i] == c && strcmp(b->child_names[i], name) == 0)
      return i;
  return -1;
}

static int seq_nsteps(const bd_block *b) {
  const seq_order *o = b->impl;
  return o ? o->n : b->nchildren;
}

static int seq_step(const bd_block *b, int i) {
  const seq_order *o = b->impl;
  return o ? o->step[i] : i;
}

static void seq_free(bd_block *b) {
  seq_order *o = b->impl;
  if (o) free(o->step);
  free(o);
}

static bd_status seq_create(bd_block *b, const cJSON *spec,
                            bd_build_ctx *ctx) {
  bd_status s = bd_spec_check_keys(ctx, spec, seq_keys);
  if (s) return s;
  const cJSON *layers = cJSON_GetObjectItemCaseSensitive(spec, "layers");
  if (!layers)
    return bd_fail(BD_EINVAL, "%s.layers: missing", bd_build_path(ctx));
  if (!cJSON_IsArray(layers))
    return bd_fail(BD_EINVAL, "%s.layers: must be an array",
                   bd_build_path(ctx));
  seq_order *ord = calloc(1, sizeof *ord);
  int nl = cJSON_GetArraySize(layers);
  if (ord) ord->step = calloc((size_t)(nl ? nl : 1), sizeof *ord->step);
  if (!ord || !ord->step) {
    free(ord);
    return bd_fail(BD_ENOMEM, "out of host memory");
  }
  b->impl = ord;
  int i = 0;
  for (const cJSON *it = layers->child; it; it = it->next, i++) {
    char key[32], defname[24];
    snprintf(key, sizeof key, ".layers[%d]", i);
    snprintf(defname, sizeof defname, "%d", i);
    bd_block *child;
    s = bd_block_build(ctx, it, key, &child);
    if (s) return s;
    const char *name = cJSON_GetStringValue(
        cJSON_GetObjectItemCaseSensitive(it, "name"));
    int again = cJSON_GetObjectItemCaseSensitive(it, "ref")
                    ? seq_reused(b, name, child)
                    : -1;
    if (again >= 0) {
      bd_block_release(child);
      ord->step[ord->n++] = again;
      continue;
    }
    s = bd_block_add_child(b, name ? name : defname, child);
    if (s)
      return bd_fail_prefix(s, "%s.layers[%d].name: ", bd_build_path(ctx),
                            i);
    ord->step[ord->n++] = b->nchildren - 1;
  }
  return BD_OK;
}

static bd_status seq_to_spec(const bd_block *b, cJSON *o, void *sc) {
  cJSON *arr = cJSON_AddArrayToObject(o, "layers");
  if (!arr) return bd_fail(BD_ENOMEM, "out of host memory printing a spec");
  for (int i = 0; i < seq_nsteps(b); i++) {
    int k = seq_step(b, i);
    cJSON *c = bd_block_spec_child(b->children[k], sc);
    if (!c) return bd_fail(BD_ENOMEM, "out of host memory printing a spec");
    cJSON_AddStringToObject(c, "name", b->child_names[k]);
    cJSON_AddItemToArray(arr, c);
  }
  return BD_OK;
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
    bd_status s = bd_block_backward_child(b, seq_step(b, i), ex,
                                          rec ? rec[i] : NULL, g,
                                          want ? &gin : NULL);
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

const bd_block_type bd_block_sequential = {
    .name = "sequential",
    .create = seq_create,
    .to_spec = seq_to_spec,
    .forward = seq_forward,
    .backward = seq_backward,
    .free_impl = seq_free,
};
