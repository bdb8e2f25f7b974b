/* tensor_store.c - the daemon's named tensors in a bd_namemap; listings
 * are sorted by name. */
#include "tensor_store.h"

#include <stdlib.h>
#include <string.h>

#include "namemap.h"

struct bd_tensor_store {
  bd_namemap *map;
};

static void *bd__tensor_retain(void *t) { return bd_tensor_retain(t); }
static void bd__tensor_release(void *t) { bd_tensor_release(t); }

static const bd_namemap_type bd__tensors = {.retain = bd__tensor_retain,
                                            .release = bd__tensor_release};

bd_tensor_store *bd_tensor_store_new(void) {
  bd_tensor_store *s = calloc(1, sizeof *s);
  if (s && !(s->map = bd_namemap_new(&bd__tensors))) {
    free(s);
    s = NULL;
  }
  return s;
}

void bd_tensor_store_free(bd_tensor_store *s) {
  if (!s) return;
  bd_namemap_free(s->map);
  free(s);
}

bd_status bd_tensor_store_put(bd_tensor_store *s, const char *name,
                              bd_tensor *t, bool *replaced) {
  return bd_namemap_put(s->map, name, t, true, replaced);
}

bd_tensor *bd_tensor_store_get(bd_tensor_store *s, const char *name) {
  return bd_namemap_get(s->map, name);
}

bd_status bd_tensor_store_delete(bd_tensor_store *s, const char *name) {
  bd_tensor *t = bd_namemap_take(s->map, name);
  if (!t) return bd_fail(BD_ENOTFOUND, "tensor '%.200s' not found", name);
  bd_tensor_release(t);
  return BD_OK;
}

typedef struct bd__named {
  char *name;
  void *obj;
} bd__named;

static int bd__by_name(const void *a, const void *b) {
  return strcmp(((const bd__named *)a)->name, ((const bd__named *)b)->name);
}

bd_status bd_tensor_store_list(bd_tensor_store *s, char ***names,
                               bd_tensor ***tensors, size_t *n) {
  char **nv;
  void **ov;
  size_t k;
  bd_status st = bd_namemap_list(s->map, &nv, &ov, &k);
  if (st) return st;
  bd_tensor **tv = calloc(k + 1, sizeof *tv);
  bd__named *pairs = calloc(k + 1, sizeof *pairs);
  if (!tv || !pairs) {
    for (size_t i = 0; i < k; i++) {
      free(nv[i]);
      bd_tensor_release(ov[i]);
    }
    free(nv);
    free(ov);
    free(tv);
    free(pairs);
    return bd_fail(BD_ENOMEM, "out of host memory");
  }
  for (size_t i = 0; i < k; i++) pairs[i] = (bd__named){nv[i], ov[i]};
  qsort(pairs, k, sizeof *pairs, bd__by_name);
  for (size_t i = 0; i < k; i++) {
    nv[i] = pairs[i].name;
    tv[i] = pairs[i].obj;
  }
  free(pairs);
  free(ov);
  *names = nv;
  *tensors = tv;
  *n = k;
  return BD_OK;
}
