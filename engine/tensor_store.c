/* tensor_store.c - a mutex-guarded sorted array of name -> tensor. The
 * store is small (user-named tensors), so binary search over an array is
 * plenty. */
#include "tensor_store.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

struct bd_tensor_store {
  pthread_mutex_t mu;
  char **names;
  bd_tensor **tensors;
  size_t n, cap;
};

bd_tensor_store *bd_tensor_store_new(void) {
  bd_tensor_store *s = calloc(1, sizeof *s);
  if (s) pthread_mutex_init(&s->mu, NULL);
  return s;
}

void bd_tensor_store_free(bd_tensor_store *s) {
  if (!s) return;
  for (size_t i = 0; i < s->n; i++) {
    free(s->names[i]);
    bd_tensor_release(s->tensors[i]);
  }
  free(s->names);
  free(s->tensors);
  pthread_mutex_destroy(&s->mu);
  free(s);
}

/* Index of name, or -(insertion point)-1. Caller holds mu. */
static long bd__ts_find(const bd_tensor_store *s, const char *name) {
  size_t lo = 0, hi = s->n;
  while (lo < hi) {
    size_t mid = (lo + hi) / 2;
    int c = strcmp(s->names[mid], name);
    if (c == 0) return (long)mid;
    if (c < 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  return -(long)lo - 1;
}

bd_status bd_tensor_store_put(bd_tensor_store *s, const char *name,
                              bd_tensor *t, bool *replaced) {
  pthread_mutex_lock(&s->mu);
  long i = bd__ts_find(s, name);
  if (replaced) *replaced = i >= 0;
  if (i >= 0) {
    bd_tensor_release(s->tensors[i]);
    s->tensors[i] = bd_tensor_retain(t);
    pthread_mutex_unlock(&s->mu);
    return BD_OK;
  }
  size_t at = (size_t)(-i - 1);
  char *c = strdup(name);
  if (c && s->n == s->cap) {
    size_t cap = s->cap ? s->cap * 2 : 16;
    char **nn = realloc(s->names, cap * sizeof *nn);
    if (nn) s->names = nn;
    bd_tensor **nt = nn ? realloc(s->tensors, cap * sizeof *nt) : NULL;
    if (nt) {
      s->tensors = nt;
      s->cap = cap;
    }
  }
  if (!c || s->n == s->cap) {
    free(c);
    pthread_mutex_unlock(&s->mu);
    return bd_fail(BD_ENOMEM, "out of host memory");
  }
  memmove(s->names + at + 1, s->names + at, (s->n - at) * sizeof *s->names);
  memmove(s->tensors + at + 1, s->tensors + at,
          (s->n - at) * sizeof *s->tensors);
  s->names[at] = c;
  s->tensors[at] = bd_tensor_retain(t);
  s->n++;
  pthread_mutex_unlock(&s->mu);
  return BD_OK;
}

bd_tensor *bd_tensor_store_get(bd_tensor_store *s, const char *name) {
  pthread_mutex_lock(&s->mu);
  long i = bd__ts_find(s, name);
  bd_tensor *t = i >= 0 ? bd_tensor_retain(s->tensors[i]) : NULL;
  pthread_mutex_unlock(&s->mu);
  return t;
}

bd_status bd_tensor_store_delete(bd_tensor_store *s, const char *name) {
  pthread_mutex_lock(&s->mu);
  long i = bd__ts_find(s, name);
  if (i < 0) {
    pthread_mutex_unlock(&s->mu);
    return bd_fail(BD_ENOTFOUND, "tensor '%.200s' not found", name);
  }
  free(s->names[i]);
  bd_tensor_release(s->tensors[i]);
  memmove(s->names + i, s->names + i + 1,
          (s->n - (size_t)i - 1) * sizeof *s->names);
  memmove(s->tensors + i, s->tensors + i + 1,
          (s->n - (size_t)i - 1) * sizeof *s->tensors);
  s->n--;
  pthread_mutex_unlock(&s->mu);
  return BD_OK;
}

bd_status bd_tensor_store_list(bd_tensor_store *s, char ***names,
                               bd_tensor ***tensors, size_t *n) {
  pthread_mutex_lock(&s->mu);
  size_t k = s->n;
  char **nv = calloc(k + 1, sizeof *nv);
  bd_tensor **tv = calloc(k + 1, sizeof *tv);
  bool ok = nv && tv;
  for (size_t i = 0; ok && i < k; i++) {
    nv[i] = strdup(s->names[i]);
    tv[i] = bd_tensor_retain(s->tensors[i]);
    ok = nv[i] != NULL;
  }
  pthread_mutex_unlock(&s->mu);
  if (!ok) {
    for (size_t i = 0; nv && tv && i < k; i++) {
      free(nv[i]);
      bd_tensor_release(tv[i]);
    }
    free(nv);
    free(tv);
    return bd_fail(BD_ENOMEM, "out of host memory");
  }
  *names = nv;
  *tensors = tv;
  *n = k;
  return BD_OK;
}
