/* spec_json.c - JSON <-> bd_spec, driven by the field tables. */
#include "spec_json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct proto__parse {
  bd_build_limits lim;
  int depth;
  int64_t blocks;
  char path[1024];
} proto__parse;

static bd_status proto__node(proto__parse *p, const cJSON *j, const char *key,
                             bd_spec **out);

/* "a, b, c" of a choice list (sep before the last: ", " or " or "). */
static void proto__choices(const char *const *c, const char *last, char *buf,
                           size_t n) {
  size_t at = 0;
  buf[0] = '\0';
  for (int i = 0; c[i] && at < n; i++)
    at += (size_t)snprintf(buf + at, n - at, "%s%s",
                           i == 0 ? "" : (c[i + 1] ? ", " : last), c[i]);
}

static int proto__choice(const char *const *c, const char *s) {
  for (int i = 0; s && c[i]; i++)
    if (strcmp(c[i], s) == 0) return i;
  return -1;
}

/* Whether key is one the object table `sub` accepts. */
static bool proto__object_knows(const bd_field *f, const char *key) {
  for (int i = 0; i < f->nsub; i++) {
    const bd_field *x = &f->sub[i];
    if (x->kind == BD_FIELD_PICK ? proto__choice(x->choices, key) >= 0
                                 : strcmp(x->name, key) == 0)
      return true;
  }
  return false;
}

static bd_status proto__scalar(const bd_field *f, const cJSON *v,
                               const char *path, void *config);

/* A PICK inside the object o at path: exactly one of its keys. */
static bd_status proto__pick(const bd_field *f, const cJSON *o,
                             const char *path, void *config) {
  int n = 0;
  for (const cJSON *it = o->child; it; it = it->next) {
    int c = proto__choice(f->choices, it->string);
    if (c < 0) continue;
    if (!cJSON_IsNumber(it))
      return bd_fail(BD_EINVAL, "%s.%s: must be a number", path, it->string);
    *(int *)((char *)config + f->offset) = c;
    *(double *)((char *)config + f->offset2) = it->valuedouble;
    n++;
  }
  if (n != 1 && (n || f->required)) {
    char list[128];
    proto__choices(f->choices, " or ", list, sizeof list);
    return bd_fail(BD_EINVAL, "%s: needs exactly one %s (%s)", path, f->name,
                   list);
  }
  return BD_OK;
}

static bd_status proto__object(const bd_field *f, const cJSON *v,
                               const char *path, void *config) {
  if (!cJSON_IsObject(v))
    return bd_fail(BD_EINVAL, "%s: must be an object %s", path,
                   f->example ? f->example : "");
  const bd_field *pick = NULL;
  for (int i = 0; i < f->nsub; i++)
    if (f->sub[i].kind == BD_FIELD_PICK) pick = &f->sub[i];
  for (const cJSON *it = v->child; it; it = it->next) {
    if (proto__object_knows(f, it->string)) continue;
    if (!pick)
      return bd_fail(BD_EINVAL, "%s.%s: unknown field", path, it->string);
    char list[128];
    proto__choices(pick->choices, ", ", list, sizeof list);
    return bd_fail(BD_EINVAL, "%s.%s: unknown field (a %s is one of %s)", path,
                   it->string, pick->name, list);
  }
  for (int i = 0; i < f->nsub; i++) {
    const bd_field *x = &f->sub[i];
    bd_status s;
    if (x->kind == BD_FIELD_PICK) {
      s = proto__pick(x, v, path, config);
    } else {
      char sub[1100];
      snprintf(sub, sizeof sub, "%s.%s", path, x->name);
      const cJSON *xv = cJSON_GetObjectItemCaseSensitive(v, x->name);
      if (!xv && x->required)
        s = bd_fail(BD_EINVAL, "%s: missing", sub);
      else
        s = xv ? proto__scalar(x, xv, sub, config) : BD_OK;
    }
    if (s) return s;
  }
  return BD_OK;
}

static bd_status proto__ints(const bd_field *f, const cJSON *v,
                             const char *path, void *config) {
  if (!cJSON_IsArray(v) || cJSON_GetArraySize(v) != f->count)
    return bd_fail(BD_EINVAL, "%s: must be %s", path,
                   f->example ? f->example : "an array of integers");
  int64_t *at = (int64_t *)((char *)config + f->offset);
  int i = 0;
  for (const cJSON *it = v->child; it; it = it->next, i++) {
    double d = cJSON_IsNumber(it) ? it->valuedouble : f->min - 1;
    /* Range before the cast: (int64_t)1e120 is undefined. */
    if (!(d >= f->min && d <= f->max) || d != (double)(int64_t)d) {
      if (f->min >= 1)
        return bd_fail(BD_EINVAL, "%s[%d]: must be a positive integer", path,
                       i);
      return bd_fail(BD_EINVAL, "%s[%d]: must be an integer in [%lld, %lld]",
                     path, i, (long long)f->min, (long long)f->max);
    }
    at[i] = (int64_t)d;
  }
  return BD_OK;
}

/* One scalar field's JSON value v (present) into config; path names it. */
static bd_status proto__scalar(const bd_field *f, const cJSON *v,
                               const char *path, void *config) {
  char *at = (char *)config + f->offset;
  switch (f->kind) {
    case BD_FIELD_INT: {
      if (!cJSON_IsNumber(v))
        return bd_fail(BD_EINVAL, "%s: must be an integer", path);
      bd_status s = bd_field_check_int(f, path, v->valuedouble);
      if (s) return s;
      if (v->valuedouble != (double)(int64_t)v->valuedouble)
        return bd_fail(BD_EINVAL, "%s: must be an integer", path);
      *(int64_t *)at = (int64_t)v->valuedouble;
      if (f->optional) *(bool *)((char *)config + f->offset2) = true;
      return BD_OK;
    }
    case BD_FIELD_NUM: {
      if (!cJSON_IsNumber(v))
        return bd_fail(BD_EINVAL, "%s: must be a number", path);
      bd_status s = bd_field_check_num(f, path, v->valuedouble);
      if (!s) *(double *)at = v->valuedouble;
      return s;
    }
    case BD_FIELD_BOOL:
      if (!cJSON_IsBool(v))
        return bd_fail(BD_EINVAL, "%s: must be true or false", path);
      *(bool *)at = cJSON_IsTrue(v);
      return BD_OK;
    case BD_FIELD_ENUM: {
      int c = proto__choice(f->choices, cJSON_GetStringValue(v));
      if (c < 0) {
        char list[256];
        proto__choices(f->choices, ", ", list, sizeof list);
        return bd_fail(BD_EINVAL, "%s: must be one of %s", path, list);
      }
      *(int *)at = c;
      return BD_OK;
    }
    case BD_FIELD_INTS:
      return proto__ints(f, v, path, config);
    case BD_FIELD_OBJECT:
      return proto__object(f, v, path, config);
    default:
      return bd_fail(BD_EINTERNAL, "%s: not a scalar field", path);
  }
}

/* Field i of spec's type from the node object j. */
static bd_status proto__field(proto__parse *p, const cJSON *j, bd_spec *spec,
                              int i) {
  const bd_field *f = &spec->type->fields[i];
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, f->name);
  if (v && f->optional && cJSON_IsNull(v)) v = NULL; /* None: as absent */
  if (!v)
    return f->required ? bd_fail(BD_EINVAL, "%s.%s: missing", p->path, f->name)
                       : BD_OK;
  char key[96];
  if (f->kind == BD_FIELD_BLOCK) {
    bd_spec *c;
    snprintf(key, sizeof key, ".%s", f->name);
    bd_status s = proto__node(p, v, key, &c);
    return s ? s : bd_spec_add_child(spec, i, c);
  }
  if (f->kind == BD_FIELD_BLOCKS) {
    if (!cJSON_IsArray(v) || cJSON_GetArraySize(v) < f->count)
      return bd_fail(BD_EINVAL, "%s.%s: must be %s", p->path, f->name,
                     f->count > 0 ? "a non-empty array" : "an array");
    int k = 0;
    for (const cJSON *it = v->child; it; it = it->next, k++) {
      bd_spec *c;
      snprintf(key, sizeof key, ".%s[%d]", f->name, k);
      bd_status s = proto__node(p, it, key, &c);
      if (!s) s = bd_spec_add_child(spec, i, c);
      if (s) return s;
    }
    return BD_OK;
  }
  char path[1100];
  snprintf(path, sizeof path, "%s.%s", p->path, f->name);
  return proto__scalar(f, v, path, spec->config);
}

/* {"ref": id, "name"?}. */
static bd_status proto__ref(proto__parse *p, const cJSON *j, const cJSON *ref,
                            bd_spec **out) {
  if (!cJSON_IsString(ref))
    return bd_fail(BD_EINVAL, "%s.ref: must be a string", p->path);
  for (const cJSON *it = j->child; it; it = it->next)
    if (strcmp(it->string, "ref") != 0 && strcmp(it->string, "name") != 0)
      return bd_fail(BD_EINVAL, "%s.%s: a {\"ref\"} may only carry a name",
                     p->path, it->string);
  const cJSON *name = cJSON_GetObjectItemCaseSensitive(j, "name");
  if (name && !cJSON_IsString(name))
    return bd_fail(BD_EINVAL, "%s.name: must be a string", p->path);
  bd_spec *s = bd_spec_new_ref(ref->valuestring);
  if (!s) return BD_ENOMEM;
  if (name && bd_spec_set_name(s, name->valuestring)) {
    bd_spec_free(s);
    return BD_ENOMEM;
  }
  *out = s;
  return BD_OK;
}

/* type, name and id of a typed node; *t the type. */
static bd_status proto__head(proto__parse *p, const cJSON *j,
                             const bd_block_type **t) {
  const cJSON *type = cJSON_GetObjectItemCaseSensitive(j, "type");
  if (!type)
    return bd_fail(BD_EINVAL, "%s.type: missing (or give {\"ref\": id})",
                   p->path);
  if (!cJSON_IsString(type))
    return bd_fail(BD_EINVAL, "%s.type: must be a string", p->path);
  if (!(*t = bd_block_type_find(type->valuestring)))
    return bd_fail(BD_EINVAL, "%s.type: unknown block type '%s'", p->path,
                   type->valuestring);
  const cJSON *name = cJSON_GetObjectItemCaseSensitive(j, "name");
  if (name && !cJSON_IsString(name))
    return bd_fail(BD_EINVAL, "%s.name: must be a string", p->path);
  if (p->lim.max_blocks > 0 && ++p->blocks > p->lim.max_blocks)
    return bd_fail(BD_ELIMIT, "%s: more than %lld blocks (--max-blocks)",
                   p->path, (long long)p->lim.max_blocks);
  const cJSON *id = cJSON_GetObjectItemCaseSensitive(j, "id");
  if (id && (!cJSON_IsString(id) || !id->valuestring[0]))
    return bd_fail(BD_EINVAL, "%s.id: must be a non-empty string", p->path);
  for (const cJSON *it = j->child; it; it = it->next) {
    const char *k = it->string;
    if (strcmp(k, "type") && strcmp(k, "name") && strcmp(k, "id") &&
        bd_field_find(*t, k) < 0)
      return bd_fail(BD_EINVAL, "%s.%s: unknown field for a '%s' block",
                     p->path, k, (*t)->name);
  }
  return BD_OK;
}

static bd_status proto__typed(proto__parse *p, const cJSON *j, bd_spec **out) {
  const bd_block_type *t = NULL;
  bd_status s = proto__head(p, j, &t);
  if (s) return s;
  bd_spec *spec = bd_spec_new(t);
  if (!spec) return BD_ENOMEM;
  s = bd_spec_set_name(
      spec, cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(j, "name")));
  if (!s)
    s = bd_spec_set_id(
        spec, cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(j, "id")));
  for (int i = 0; !s && i < t->nfields; i++) s = proto__field(p, j, spec, i);
  if (s) {
    bd_spec_free(spec);
    return s;
  }
  *out = spec;
  return BD_OK;
}

static bd_status proto__node(proto__parse *p, const cJSON *j, const char *key,
                             bd_spec **out) {
  size_t plen = strlen(p->path);
  snprintf(p->path + plen, sizeof p->path - plen, "%s", key);
  bd_status s;
  *out = NULL;
  if (!cJSON_IsObject(j)) {
    s = bd_fail(BD_EINVAL, "%s: a block spec must be a JSON object", p->path);
  } else if (++p->depth > p->lim.max_depth) {
    s = bd_fail(BD_ELIMIT, "%s: blocks nested deeper than %d", p->path,
                p->lim.max_depth);
    p->depth--;
  } else {
    const cJSON *ref = cJSON_GetObjectItemCaseSensitive(j, "ref");
    s = ref ? proto__ref(p, j, ref, out) : proto__typed(p, j, out);
    p->depth--;
  }
  p->path[plen] = '\0';
  return s;
}

bd_status proto_spec_from_json(const cJSON *j, const bd_build_limits *lim,
                               const char *root_path, bd_spec **out) {
  proto__parse p;
  memset(&p, 0, sizeof p);
  if (lim) p.lim = *lim;
  if (p.lim.max_depth <= 0) p.lim.max_depth = 64;
  bd_blocks_init();
  return proto__node(&p, j, root_path ? root_path : "block", out);
}

bd_status proto_spec_build_tree(const cJSON *j, bd_device dev,
                                const bd_build_limits *lim,
                                const char *root_path, bd_block **out) {
  bd_spec *spec = NULL;
  *out = NULL;
  bd_status s = proto_spec_from_json(j, lim, root_path, &spec);
  if (!s) s = bd_block_build_tree(spec, dev, lim, root_path, out);
  bd_spec_free(spec);
  return s;
}

bd_status proto_model_create(const char *name, const cJSON *block,
                             uint64_t seed, bd_device dev,
                             const bd_build_limits *lim, bd_model **out) {
  bd_spec *spec = NULL;
  bd_status s = proto_spec_from_json(block, lim, "block", &spec);
  if (!s) s = bd_model_create(name, spec, seed, dev, lim, out);
  bd_spec_free(spec);
  return s;
}

/* ---- printing ---------------------------------------------------------- */

static bool proto__put_scalar(cJSON *o, const bd_field *f, const void *config) {
  const char *at = (const char *)config + f->offset;
  cJSON *v = NULL;
  switch (f->kind) {
    case BD_FIELD_INT:
      if (f->optional && !*(const bool *)((const char *)config + f->offset2))
        return true;
      v = cJSON_CreateNumber((double)*(const int64_t *)at);
      break;
    case BD_FIELD_NUM:
      v = cJSON_CreateNumber(*(const double *)at);
      break;
    case BD_FIELD_BOOL:
      v = cJSON_CreateBool(*(const bool *)at);
      break;
    case BD_FIELD_ENUM:
      v = cJSON_CreateString(f->choices[*(const int *)at]);
      break;
    case BD_FIELD_INTS:
      v = cJSON_CreateArray();
      for (int i = 0; v && i < f->count; i++)
        if (!cJSON_AddItemToArray(
                v, cJSON_CreateNumber((double)((const int64_t *)at)[i])))
          return cJSON_Delete(v), false;
      break;
    case BD_FIELD_PICK:
      return cJSON_AddNumberToObject(
                 o, f->choices[*(const int *)at],
                 *(const double *)((const char *)config + f->offset2)) != NULL;
    case BD_FIELD_OBJECT:
      v = cJSON_CreateObject();
      for (int i = 0; v && i < f->nsub; i++)
        if (!proto__put_scalar(v, &f->sub[i], config))
          return cJSON_Delete(v), false;
      break;
    default:
      return true;
  }
  if (!v || !cJSON_AddItemToObject(o, f->name, v)) {
    cJSON_Delete(v);
    return false;
  }
  return true;
}

/* The block-valued field i of spec into o. */
static bool proto__put_kids(cJSON *o, const bd_spec *spec, int i) {
  const bd_field *f = &spec->type->fields[i];
  const bd_spec_list *l = &spec->kids[i];
  cJSON *v = NULL;
  if (f->kind == BD_FIELD_BLOCK) {
    if (l->n == 0) return true;
    v = proto_spec_to_json(l->v[0]);
  } else {
    v = cJSON_CreateArray();
    for (int k = 0; v && k < l->n; k++)
      if (!cJSON_AddItemToArray(v, proto_spec_to_json(l->v[k])))
        return cJSON_Delete(v), false;
  }
  if (!v || !cJSON_AddItemToObject(o, f->name, v)) {
    cJSON_Delete(v);
    return false;
  }
  return true;
}

cJSON *proto_spec_to_json(const bd_spec *spec) {
  if (!spec) return NULL;
  cJSON *o = cJSON_CreateObject();
  bool ok = o != NULL;
  if (ok && spec->ref) {
    ok = cJSON_AddStringToObject(o, "ref", spec->ref) != NULL;
  } else if (ok) {
    const bd_block_type *t = spec->type;
    ok = cJSON_AddStringToObject(o, "type", t->name) != NULL;
    if (ok && spec->id) ok = cJSON_AddStringToObject(o, "id", spec->id);
    for (int i = 0; ok && i < t->nfields; i++) {
      bd_field_kind k = t->fields[i].kind;
      ok = (k == BD_FIELD_BLOCK || k == BD_FIELD_BLOCKS)
               ? proto__put_kids(o, spec, i)
               : proto__put_scalar(o, &t->fields[i], spec->config);
    }
  }
  if (ok && spec->name) ok = cJSON_AddStringToObject(o, "name", spec->name);
  if (!ok) {
    cJSON_Delete(o);
    bd_fail(BD_ENOMEM, "out of host memory");
    return NULL;
  }
  return o;
}

char *proto_spec_print(const bd_spec *spec) {
  cJSON *j = proto_spec_to_json(spec);
  char *s = j ? cJSON_PrintUnformatted(j) : NULL;
  cJSON_Delete(j);
  if (!s) bd_fail(BD_ENOMEM, "out of host memory");
  return s;
}

cJSON *proto_model_spec_json(const bd_model *m) {
  bd_spec *spec = NULL;
  cJSON *j = bd_model_spec(m, &spec) ? NULL : proto_spec_to_json(spec);
  bd_spec_free(spec);
  return j;
}
