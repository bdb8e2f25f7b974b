/* registry.c - named models in a bd_namemap (lookups are short; model
 * work happens outside it under each model's own lock). */
#include "registry.h"

#include <stdlib.h>

#include "namemap.h"

struct bd_registry {
  bd_namemap *map;
};

static void *bd__model_retain(void *m) { return bd_model_retain(m); }
static void bd__model_release(void *m) { bd_model_release(m); }

static const bd_namemap_type bd__models = {.retain = bd__model_retain,
                                           .release = bd__model_release};

bd_registry *bd_registry_new(void) {
  bd_registry *r = calloc(1, sizeof *r);
  if (r && !(r->map = bd_namemap_new(&bd__models))) {
    free(r);
    r = NULL;
  }
  return r;
}

void bd_registry_free(bd_registry *r) {
  if (!r) return;
  bd_namemap_free(r->map);
  free(r);
}

bd_status bd_registry_add(bd_registry *r, bd_model *m) {
  bool existed;
  bd_status s = bd_namemap_put(r->map, bd_model_name(m), m, false, &existed);
  if (!s && existed)
    s = bd_fail(BD_EEXIST, "a model named '%s' already exists",
                bd_model_name(m));
  return s;
}

bd_model *bd_registry_get(bd_registry *r, const char *name) {
  return bd_namemap_get(r->map, name);
}

bd_status bd_registry_remove(bd_registry *r, const char *name) {
  bd_model *m = bd_namemap_take(r->map, name);
  if (!m) return bd_fail(BD_ENOTFOUND, "model '%s' not found", name);
  bd_model_release(m);
  return BD_OK;
}

bd_model **bd_registry_list(bd_registry *r, size_t *n) {
  void **objs;
  *n = 0;
  if (bd_namemap_list(r->map, NULL, &objs, n)) return NULL;
  bd_model **v = malloc((*n + 1) * sizeof *v);
  for (size_t i = 0; i < *n; i++) {
    if (v)
      v[i] = objs[i];
    else
      bd_model_release(objs[i]);
  }
  free(objs);
  if (!v) *n = 0;
  return v;
}
