/* sequential.c - nn.Sequential: children run in order. Children are named
 * "0", "1", ... unless the spec names them ("hidden", "block 0"). */
#include <stdio.h>
#include <stdlib.h>

#include "../block.h"
#include "blocks.h"

static const char *const seq_keys[] = {"layers", NULL};

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
    s = bd_block_add_child(b, name ? name : defname, child);
    if (s)
      return bd_fail_prefix(s, "%s.layers[%d].name: ", bd_build_path(ctx),
                            i);
  }
  return BD_OK;
}

static bd_status seq_to_spec(const bd_block *b, cJSON *o, void *sc) {
  cJSON *arr = cJSON_AddArrayToObject(o, "layers");
  if (!arr) return BD_ENOMEM;
  for (int i = 0; i < b->nchildren; i++) {
    cJSON *c = bd_block_spec_child(b->children[i], sc);
    if (!c) return BD_ENOMEM;
    cJSON_AddStringToObject(c, "name", b->child_names[i]);
    cJSON_AddItemToArray(arr, c);
  }
  return BD_OK;
}

static bd_status seq_forward(bd_block *b, bd_exec *ex, bd_tensor *x,
                             bd_tensor **y, void **saved) {
  void **rec = NULL;
  if (ex->record && saved && b->nchildren) {
    rec = bd_exec_alloc(ex, (size_t)b->nchildren * sizeof *rec);
    if (!rec) return BD_ENOMEM;
    *saved = rec;
  }
  bd_tensor *cur = bd_tensor_retain(x);
  for (int i = 0; i < b->nchildren; i++) {
    bd_tensor *next;
    bd_status s =
        bd_block_forward_child(b, i, ex, cur, &next, rec ? &rec[i] : NULL);
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
  bd_tensor *g = bd_tensor_retain(dy);
  for (int i = b->nchildren - 1; i >= 0; i--) {
    bd_tensor *gin = NULL;
    bool want = dx || i > 0;
    bd_status s = bd_block_backward_child(b, i, ex, rec ? rec[i] : NULL, g,
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
};
