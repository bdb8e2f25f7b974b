/* tfile.c - the in-memory value of a tensor file. */
#include "tfile.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static const char *const bd__tfile_kinds[] = {"tensor", "list", "dict",
                                              "state_dict"};

const char *bd_tfile_kind_name(bd_tfile_kind k) {
  return (unsigned)k < 4 ? bd__tfile_kinds[k] : "unknown";
}

bool bd_tfile_kind_parse(const char *s, bd_tfile_kind *out) {
  for (int i = 0; s && i < 4; i++)
    if (strcmp(s, bd__tfile_kinds[i]) == 0) {
      *out = (bd_tfile_kind)i;
      return true;
    }
  return false;
}

long bd_tfile_find(const bd_tfile *f, const char *name) {
  for (size_t i = 0; i < f->n; i++)
    if (strcmp(f->names[i], name) == 0) return (long)i;
  return -1;
}

bd_status bd_tfile_add(bd_tfile *f, const char *name, bd_tensor *t) {
  if (bd_tfile_find(f, name) >= 0)
    return bd_fail(BD_EINVAL, "duplicate tensor name '%.200s'", name);
  return bd_tfile_push(f, name, t);
}

static int bd__cmp_str(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

bd_status bd_tfile_check_unique(const bd_tfile *f) {
  if (f->n < 2) return BD_OK;
  char **v = malloc(f->n * sizeof *v);
  if (!v) return bd_fail(BD_ENOMEM, "out of host memory");
  memcpy(v, f->names, f->n * sizeof *v);
  qsort(v, f->n, sizeof *v, bd__cmp_str);
  bd_status s = BD_OK;
  for (size_t i = 1; i < f->n && !s; i++)
    if (strcmp(v[i - 1], v[i]) == 0)
      s = bd_fail(BD_EFORMAT, "duplicate key '%.200s'", v[i]);
  free(v);
  return s;
}

bd_status bd_tfile_push(bd_tfile *f, const char *name, bd_tensor *t) {
  if (f->n == f->cap) {
    size_t cap = f->cap ? f->cap * 2 : 8;
    char **nn = realloc(f->names, cap * sizeof *nn);
    if (!nn) return bd_fail(BD_ENOMEM, "out of host memory");
    f->names = nn;
    bd_tensor **nt = realloc(f->tensors, cap * sizeof *nt);
    if (!nt) return bd_fail(BD_ENOMEM, "out of host memory");
    f->tensors = nt;
    f->cap = cap;
  }
  char *c = strdup(name);
  if (!c) return bd_fail(BD_ENOMEM, "out of host memory");
  f->names[f->n] = c;
  f->tensors[f->n] = bd_tensor_retain(t);
  f->n++;
  return BD_OK;
}

void bd_tfile_clear(bd_tfile *f) {
  if (!f) return;
  for (size_t i = 0; i < f->n; i++) {
    free(f->names[i]);
    bd_tensor_release(f->tensors[i]);
  }
  free(f->names);
  free(f->tensors);
  free(f->spec);
  memset(f, 0, sizeof *f);
}

static bd_status bd__membuf_write(void *ctx, const void *p, size_t n) {
  bd_membuf *b = ctx;
  if (n > SIZE_MAX / 2 - b->len) return bd_fail(BD_ENOMEM, "buffer too large");
  if (b->len + n > b->cap) {
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + n) cap *= 2;
    char *d = realloc(b->data, cap);
    if (!d) return bd_fail(BD_ENOMEM, "out of host memory (%zu bytes)", cap);
    b->data = d;
    b->cap = cap;
  }
  if (n) memcpy(b->data + b->len, p, n);
  b->len += n;
  return BD_OK;
}

bd_sink bd_membuf_sink(bd_membuf *b) {
  return (bd_sink){bd__membuf_write, b};
}

void bd_membuf_free(bd_membuf *b) {
  if (!b) return;
  free(b->data);
  memset(b, 0, sizeof *b);
}

bd_status bd_tensor_wrap(void *data, bd_dtype dt, int ndim,
                         const int64_t *shape, bd_tensor **out) {
  int64_t numel;
  bd_status s = bd_shape_numel(ndim, shape, &numel);
  if (s) return s;
  bd_storage *st = calloc(1, sizeof *st);
  bd_tensor *t = calloc(1, sizeof *t);
  if (!st || !t) {
    free(st);
    free(t);
    return bd_fail(BD_ENOMEM, "out of host memory");
  }
  st->refcnt = 1;
  st->dev = BD_CPU;
  st->data = data;
  st->nbytes = (size_t)numel * bd_dtype_size(dt);
  st->borrowed = true;
  t->refcnt = 1;
  t->dtype = dt;
  t->ndim = ndim;
  for (int i = 0; i < ndim; i++) t->shape[i] = shape[i];
  t->st = st;
  *out = t;
  return BD_OK;
}
