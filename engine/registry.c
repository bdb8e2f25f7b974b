/* registry.c - named models behind one mutex (lookups are short; model
 * work happens outside it under each model's own lock). */
#include "registry.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

struct bd_registry {
  pthread_mutex_t mu;
  bd_model **v;
  size_t n, cap;
};

bd_registry *bd_registry_new(void) {
  bd_registry *r = calloc(1, sizeof *r);
  if (r) pthread_mutex_init(&r->mu, NULL);
  return r;
}

void bd_registry_free(bd_registry *r) {
  if (!r) return;
  for (size_t i = 0; i < r->n; i++) bd_model_release(r->v[i]);
  free(r->v);
  pthread_mutex_destroy(&r->mu);
  free(r);
}

static long bd__find(bd_registry *r, const char *name) {
  for (size_t i = 0; i < r->n; i++)
    if (strcmp(bd_model_name(r->v[i]), name) == 0) return (long)i;
  return -1;
}

bd_status bd_registry_add(bd_registry *r, bd_model *m) {
  pthread_mutex_lock(&r->mu);
  bd_status s = BD_OK;
  if (bd__find(r, bd_model_name(m)) >= 0) {
    s = bd_fail(BD_EEXIST, "a model named '%s' already exists",
                bd_model_name(m));
  } else if (r->n == r->cap) {
    size_t cap = r->cap ? r->cap * 2 : 16;
    bd_model **v = realloc(r->v, cap * sizeof *v);
    if (!v)
      s = bd_fail(BD_ENOMEM, "out of host memory");
    else {
      r->v = v;
      r->cap = cap;
    }
  }
  if (!s) r->v[r->n++] = bd_model_retain(m);
  pthread_mutex_unlock(&r->mu);
  return s;
}

bd_model *bd_registry_get(bd_registry *r, const char *name) {
  pthread_mutex_lock(&r->mu);
  long i = bd__find(r, name);
  bd_model *m = i >= 0 ? bd_model_retain(r->v[i]) : NULL;
  pthread_mutex_unlock(&r->mu);
  return m;
}

bd_status bd_registry_remove(bd_registry *r, const char *name) {
  pthread_mutex_lock(&r->mu);
  long i = bd__find(r, name);
  bd_model *m = NULL;
  if (i >= 0) {
    m = r->v[i];
    memmove(r->v + i, r->v + i + 1, (r->n - (size_t)i - 1) * sizeof *r->v);
    r->n--;
  }
  pthread_mutex_unlock(&r->mu);
  if (!m) return bd_fail(BD_ENOTFOUND, "model '%s' not found", name);
  bd_model_release(m);
  return BD_OK;
}

bd_model **bd_registry_list(bd_registry *r, size_t *n) {
  pthread_mutex_lock(&r->mu);
  bd_model **v = malloc((r->n ? r->n : 1) * sizeof *v);
  *n = 0;
  if (v) {
    for (size_t i = 0; i < r->n; i++) v[i] = bd_model_retain(r->v[i]);
    *n = r->n;
  }
  pthread_mutex_unlock(&r->mu);
  return v;
}
