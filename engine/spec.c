/* spec.c - typed spec trees and the range checks of field tables. */
#include "spec.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "block.h"

bd_spec *bd_spec_new(const bd_block_type *t) {
  bd_spec *s = calloc(1, sizeof *s);
  if (!s) goto oom;
  s->type = t;
  if (t->impl_size) {
    s->config = calloc(1, t->impl_size);
    if (!s->config) goto oom;
  }
  if (t->nfields) {
    s->kids = calloc((size_t)t->nfields, sizeof *s->kids);
    if (!s->kids) goto oom;
  }
  for (int i = 0; i < t->nfields && s->config; i++)
    bd_field_set_default(&t->fields[i], s->config);
  return s;
oom:
  bd_spec_free(s);
  bd_fail(BD_ENOMEM, "out of host memory");
  return NULL;
}

bd_spec *bd_spec_new_ref(const char *id) {
  bd_spec *s = calloc(1, sizeof *s);
  if (s) s->ref = strdup(id);
  if (!s || !s->ref) {
    free(s);
    bd_fail(BD_ENOMEM, "out of host memory");
    return NULL;
  }
  return s;
}

void bd_spec_free(bd_spec *s) {
  if (!s) return;
  for (int i = 0; s->kids && i < s->type->nfields; i++) {
    for (int k = 0; k < s->kids[i].n; k++) bd_spec_free(s->kids[i].v[k]);
    free(s->kids[i].v);
  }
  free(s->kids);
  free(s->config);
  free(s->ref);
  free(s->name);
  free(s->id);
  free(s);
}

static bd_status bd__set_str(char **dst, const char *s) {
  char *d = NULL;
  if (s && !(d = strdup(s))) return bd_fail(BD_ENOMEM, "out of host memory");
  free(*dst);
  *dst = d;
  return BD_OK;
}

bd_status bd_spec_set_name(bd_spec *spec, const char *s) {
  return bd__set_str(&spec->name, s);
}

bd_status bd_spec_set_id(bd_spec *spec, const char *s) {
  return bd__set_str(&spec->id, s);
}

bd_status bd_spec_add_child(bd_spec *spec, int field, bd_spec *child) {
  const bd_block_type *t = spec->type;
  if (!t || field < 0 || field >= t->nfields ||
      (t->fields[field].kind != BD_FIELD_BLOCK &&
       t->fields[field].kind != BD_FIELD_BLOCKS)) {
    bd_spec_free(child);
    return bd_fail(BD_EINVAL, "field %d of a '%s' block holds no blocks", field,
                   t ? t->name : "ref");
  }
  bd_spec_list *l = &spec->kids[field];
  bd_spec **v = realloc(l->v, (size_t)(l->n + 1) * sizeof *v);
  if (!v) {
    bd_spec_free(child);
    return bd_fail(BD_ENOMEM, "out of host memory");
  }
  l->v = v;
  l->v[l->n++] = child;
  return BD_OK;
}

int bd_field_find(const bd_block_type *t, const char *name) {
  for (int i = 0; i < t->nfields; i++)
    if (t->fields[i].kind != BD_FIELD_PICK &&
        strcmp(t->fields[i].name, name) == 0)
      return i;
  return -1;
}

void bd_field_set_default(const bd_field *f, void *config) {
  char *at = (char *)config + f->offset;
  switch (f->kind) {
    case BD_FIELD_INT:
      *(int64_t *)at = (int64_t)f->def;
      if (f->optional) *(bool *)((char *)config + f->offset2) = false;
      break;
    case BD_FIELD_NUM:
      *(double *)at = f->def;
      break;
    case BD_FIELD_BOOL:
      *(bool *)at = f->def != 0;
      break;
    case BD_FIELD_ENUM:
      *(int *)at = (int)f->def;
      break;
    case BD_FIELD_PICK:
      *(int *)at = 0;
      *(double *)((char *)config + f->offset2) = f->def;
      break;
    case BD_FIELD_OBJECT:
      for (int i = 0; i < f->nsub; i++)
        bd_field_set_default(&f->sub[i], config);
      break;
    default:
      break; /* INTS have no default; blocks live in kids */
  }
}

bd_status bd_field_check_int(const bd_field *f, const char *path, double v) {
  /* Also refuses 2^63 and beyond: casting them to int64_t is undefined. */
  if (v < f->min || v > f->max || v >= 9223372036854775807.0)
    return bd_fail(BD_EINVAL, "%s: %.15g is outside [%lld, %lld]", path, v,
                   (long long)f->min, (long long)f->max);
  return BD_OK;
}

bd_status bd_field_check_num(const bd_field *f, const char *path, double v) {
  if (f->ranged && !(v >= f->min && v <= f->max))
    return bd_fail(BD_EINVAL, "%s: must be between %g and %g, got %g", path,
                   f->min, f->max, v);
  return BD_OK;
}

static int bd__nchoices(const char *const *c) {
  int n = 0;
  while (c && c[n]) n++;
  return n;
}

/* One scalar field of config; path is the field's own path. */
static bd_status bd__check_one(const bd_field *f, const void *config,
                               const char *path) {
  const char *at = (const char *)config + f->offset;
  switch (f->kind) {
    case BD_FIELD_INT:
      if (f->optional && !*(const bool *)((const char *)config + f->offset2))
        return BD_OK;
      return bd_field_check_int(f, path, (double)*(const int64_t *)at);
    case BD_FIELD_NUM:
      return bd_field_check_num(f, path, *(const double *)at);
    case BD_FIELD_ENUM:
    case BD_FIELD_PICK: {
      int i = *(const int *)at;
      if (i < 0 || i >= bd__nchoices(f->choices))
        return bd_fail(BD_EINVAL, "%s: choice %d is out of range", path, i);
      return BD_OK;
    }
    case BD_FIELD_INTS:
      for (int i = 0; i < f->count; i++) {
        int64_t v = ((const int64_t *)at)[i];
        if ((double)v < f->min || (double)v > f->max)
          return bd_fail(BD_EINVAL, "%s[%d]: %lld is outside [%lld, %lld]",
                         path, i, (long long)v, (long long)f->min,
                         (long long)f->max);
      }
      return BD_OK;
    case BD_FIELD_OBJECT:
      return bd_field_check_config(f->sub, f->nsub, config, path);
    default:
      return BD_OK;
  }
}

bd_status bd_field_check_config(const bd_field *fields, int nfields,
                                const void *config, const char *prefix) {
  for (int i = 0; i < nfields; i++) {
    char path[1100];
    if (fields[i].kind == BD_FIELD_PICK)
      snprintf(path, sizeof path, "%s", prefix);
    else
      snprintf(path, sizeof path, "%s.%s", prefix, fields[i].name);
    bd_status s = bd__check_one(&fields[i], config, path);
    if (s) return s;
  }
  return BD_OK;
}

/* Bytes a scalar field occupies at .offset (0 for block kinds). */
static size_t bd__field_size(const bd_field *f) {
  switch (f->kind) {
    case BD_FIELD_INT:
      return sizeof(int64_t);
    case BD_FIELD_NUM:
      return sizeof(double);
    case BD_FIELD_BOOL:
      return sizeof(bool);
    case BD_FIELD_ENUM:
    case BD_FIELD_PICK:
      return sizeof(int);
    case BD_FIELD_INTS:
      return (size_t)f->count * sizeof(int64_t);
    default:
      return 0;
  }
}

bd_status bd_fields_validate(const char *type, const bd_field *f, int n,
                             size_t impl_size, bool in_object) {
  if (n > 0 && !f)
    return bd_fail(BD_EINVAL, "block type '%s': nfields without fields", type);
  for (int i = 0; i < n; i++) {
    const bd_field *x = &f[i];
    const char *nm = x->name ? x->name : "?";
    const char *why = NULL;
    bool block = x->kind == BD_FIELD_BLOCK || x->kind == BD_FIELD_BLOCKS;
    size_t sz = bd__field_size(x);
    if (!x->name || !x->name[0])
      why = "has no name";
    else if ((unsigned)x->kind > BD_FIELD_BLOCKS)
      why = "has an unknown kind";
    else if (in_object && (block || x->kind == BD_FIELD_OBJECT))
      why = "is a block or an object inside an object";
    else if (!in_object && x->kind == BD_FIELD_PICK)
      why = "is a pick outside an object";
    else if ((x->kind == BD_FIELD_ENUM || x->kind == BD_FIELD_PICK) &&
             bd__nchoices(x->choices) == 0)
      why = "has no choices";
    else if (x->kind == BD_FIELD_INTS && x->count <= 0)
      why = "needs a positive count";
    else if (sz && x->offset + sz > impl_size)
      why = "lands outside impl_size";
    else if (x->kind == BD_FIELD_PICK &&
             x->offset2 + sizeof(double) > impl_size)
      why = "lands its number outside impl_size";
    else if (x->optional && x->kind != BD_FIELD_INT)
      why = "is optional but not an INT";
    else if (x->optional && x->offset2 + sizeof(bool) > impl_size)
      why = "lands its 'given' flag outside impl_size";
    if (why)
      return bd_fail(BD_EINVAL, "block type '%s': field '%s' %s", type, nm,
                     why);
    if (x->kind == BD_FIELD_OBJECT) {
      bd_status s = bd_fields_validate(type, x->sub, x->nsub, impl_size, true);
      if (s) return s;
    }
  }
  return BD_OK;
}
