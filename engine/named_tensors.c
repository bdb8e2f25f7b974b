/* named_tensors.c - ordered (name, tensor) pairs. */
#include "named_tensors.h"

#include <stdlib.h>
#include <string.h>

long bd_named_tensors_find(const bd_named_tensors *l, const char *name) {
  for (size_t i = 0; i < l->n; i++)
    if (strcmp(l->names[i], name) == 0) return (long)i;
  return -1;
}

bd_status bd_named_tensors_add(bd_named_tensors *l, const char *name,
                               bd_tensor *t) {
  if (bd_named_tensors_find(l, name) >= 0)
    return bd_fail(BD_EINVAL, "duplicate tensor name '%.200s'", name);
  return bd_named_tensors_push(l, name, t);
}

static int bd__cmp_str(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

bd_status bd_named_tensors_check_unique(const bd_named_tensors *l) {
  if (l->n < 2) return BD_OK;
  char **v = malloc(l->n * sizeof *v);
  if (!v) return bd_fail(BD_ENOMEM, "out of host memory");
  memcpy(v, l->names, l->n * sizeof *v);
  qsort(v, l->n, sizeof *v, bd__cmp_str);
  bd_status s = BD_OK;
  for (size_t i = 1; i < l->n && !s; i++)
    if (strcmp(v[i - 1], v[i]) == 0)
      s = bd_fail(BD_EFORMAT, "duplicate key '%.200s'", v[i]);
  free(v);
  return s;
}

bd_status bd_named_tensors_push(bd_named_tensors *l, const char *name,
                                bd_tensor *t) {
  if (l->n == l->cap) {
    size_t cap = l->cap ? l->cap * 2 : 8;
    char **nn = realloc(l->names, cap * sizeof *nn);
    if (!nn) return bd_fail(BD_ENOMEM, "out of host memory");
    l->names = nn;
    bd_tensor **nt = realloc(l->tensors, cap * sizeof *nt);
    if (!nt) return bd_fail(BD_ENOMEM, "out of host memory");
    l->tensors = nt;
    l->cap = cap;
  }
  char *c = strdup(name);
  if (!c) return bd_fail(BD_ENOMEM, "out of host memory");
  l->names[l->n] = c;
  l->tensors[l->n] = bd_tensor_retain(t);
  l->n++;
  return BD_OK;
}

void bd_named_tensors_clear(bd_named_tensors *l) {
  if (!l) return;
  for (size_t i = 0; i < l->n; i++) {
    free(l->names[i]);
    bd_tensor_release(l->tensors[i]);
  }
  free(l->names);
  free(l->tensors);
  memset(l, 0, sizeof *l);
}
