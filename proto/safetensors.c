/* safetensors.c - safetensors writer and strict reader. */
#include "safetensors.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The dtypes of bd_dtype in safetensors spelling, with the rank of each in
 * the reference's Dtype enum (the writer sorts by it, descending). */
static const struct {
  const char *name;
  int rank;
} proto__st_dtypes[BD_DTYPE_COUNT] = {
    [BD_F32] = {"F32", 17},   [BD_F64] = {"F64", 19}, [BD_F16] = {"F16", 13},
    [BD_BF16] = {"BF16", 14}, [BD_I64] = {"I64", 20},
};

/* Known safetensors dtypes that blockd holds no tensors for. */
static const char *const proto__st_other[] = {
    "BOOL",    "F4",      "F6_E2M3", "F6_E3M2",     "U8",          "I8",
    "F8_E5M2", "F8_E4M3", "F8_E8M0", "F8_E4M3FNUZ", "F8_E5M2FNUZ", "I16",
    "U16",     "I32",     "U32",     "C64",         "U64",         NULL};

typedef struct proto__st_key {
  int rank;
  const char *name;
  size_t idx;
} proto__st_key;

static int proto__st_cmp(const void *a, const void *b) {
  const proto__st_key *x = a, *y = b;
  if (x->rank != y->rank) return y->rank - x->rank;
  return strcmp(x->name, y->name);
}

/* The reference's write order: dtype descending, then name. */
static bd_status proto__st_sort(const proto_tfile *f, size_t *order) {
  proto__st_key *k = malloc((f->list.n ? f->list.n : 1) * sizeof *k);
  if (!k) return bd_fail(BD_ENOMEM, "out of host memory");
  for (size_t i = 0; i < f->list.n; i++)
    k[i] = (proto__st_key){proto__st_dtypes[f->list.tensors[i]->dtype].rank,
                           f->list.names[i], i};
  qsort(k, f->list.n, sizeof *k, proto__st_cmp);
  for (size_t i = 0; i < f->list.n; i++) order[i] = k[i].idx;
  free(k);
  return BD_OK;
}

bd_status proto_safetensors_write(const proto_tfile *f,
                                  const char *const *extra, proto_sink sink) {
  size_t *order = malloc((f->list.n ? f->list.n : 1) * sizeof *order);
  if (!order) return bd_fail(BD_ENOMEM, "out of host memory");
  for (size_t i = 0; i < f->list.n; i++)
    if (strcmp(f->list.names[i], "__metadata__") == 0) {
      free(order);
      return bd_fail(BD_EINVAL,
                     "safetensors: '__metadata__' is reserved "
                     "and cannot name a tensor");
    }
  for (size_t i = 0; i < f->list.n; i++)
    if (bd_tensor_device(f->list.tensors[i]).type != BD_DEV_CPU) {
      free(order);
      return bd_fail(BD_EUNSUPPORTED,
                     "safetensors: tensor '%s' is not on "
                     "the host",
                     f->list.names[i]);
    }
  if (proto__st_sort(f, order)) {
    free(order);
    return bd_fail(BD_ENOMEM, "out of host memory sorting safetensors keys");
  }
  cJSON *h = cJSON_CreateObject();
  cJSON *md = cJSON_AddObjectToObject(h, "__metadata__");
  cJSON_AddStringToObject(md, "format", "pt");
  cJSON_AddStringToObject(md, "blockd.kind", proto_tfile_kind_name(f->kind));
  if (f->spec) cJSON_AddStringToObject(md, "blockd.spec", f->spec);
  for (size_t i = 0; extra && extra[i] && extra[i + 1]; i += 2)
    cJSON_AddStringToObject(md, extra[i], extra[i + 1]);
  uint64_t off = 0;
  for (size_t k = 0; k < f->list.n; k++) {
    const bd_tensor *t = f->list.tensors[order[k]];
    cJSON *e = cJSON_CreateObject();
    cJSON_AddStringToObject(e, "dtype", proto__st_dtypes[t->dtype].name);
    cJSON *sh = cJSON_AddArrayToObject(e, "shape");
    for (int d = 0; d < t->ndim; d++)
      cJSON_AddItemToArray(sh, cJSON_CreateNumber((double)t->shape[d]));
    cJSON *o = cJSON_AddArrayToObject(e, "data_offsets");
    cJSON_AddItemToArray(o, cJSON_CreateNumber((double)off));
    off += bd_tensor_nbytes(t);
    cJSON_AddItemToArray(o, cJSON_CreateNumber((double)off));
    cJSON_AddItemToObject(h, f->list.names[order[k]], e);
  }
  char *js = cJSON_PrintUnformatted(h);
  cJSON_Delete(h);
  if (!js) {
    free(order);
    return bd_fail(BD_ENOMEM, "out of host memory (safetensors header)");
  }
  size_t jl = strlen(js), padded = (jl + 7) / 8 * 8;
  if (padded > PROTO_ST_MAX_HEADER) {
    free(js);
    free(order);
    return bd_fail(BD_ELIMIT, "safetensors header of %zu bytes exceeds %u",
                   padded, PROTO_ST_MAX_HEADER);
  }
  unsigned char pre[8];
  for (int i = 0; i < 8; i++)
    pre[i] = (unsigned char)((uint64_t)padded >> (8 * i));
  bd_status s = sink.write(sink.ctx, pre, 8);
  if (!s) s = sink.write(sink.ctx, js, jl);
  if (!s && padded > jl) s = sink.write(sink.ctx, "        ", padded - jl);
  free(js);
  for (size_t k = 0; !s && k < f->list.n; k++) {
    const bd_tensor *t = f->list.tensors[order[k]];
    s = sink.write(sink.ctx, bd_tensor_data(t), bd_tensor_nbytes(t));
  }
  free(order);
  return s;
}

bool proto_safetensors_sniff(const void *data, size_t len) {
  const unsigned char *u = data;
  if (len < 9) return false;
  size_t i = 8;
  while (i < len && u[i] == ' ') i++;
  return i < len && u[i] == '{';
}

/* ---- reader -------------------------------------------------------------- */

/* Strict UTF-8 (no overlongs, no surrogates, <= U+10FFFF, no NUL). */
static bool proto__utf8_ok(const unsigned char *s, size_t n) {
  size_t i = 0;
  while (i < n) {
    unsigned c = s[i];
    if (c == 0) return false;
    if (c < 0x80) {
      i++;
      continue;
    }
    int k;
    unsigned min;
    if ((c & 0xe0) == 0xc0)
      k = 1, min = 0x80, c &= 0x1f;
    else if ((c & 0xf0) == 0xe0)
      k = 2, min = 0x800, c &= 0x0f;
    else if ((c & 0xf8) == 0xf0)
      k = 3, min = 0x10000, c &= 0x07;
    else
      return false;
    if (n - i <= (size_t)k) return false;
    for (int j = 1; j <= k; j++) {
      if ((s[i + j] & 0xc0) != 0x80) return false;
      c = (c << 6) | (s[i + j] & 0x3f);
    }
    if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff)) return false;
    i += (size_t)k + 1;
  }
  return true;
}

/* A JSON number that is an integer in [0, 2^53]. */
static bool proto__st_uint(const cJSON *j, uint64_t *out) {
  if (!cJSON_IsNumber(j)) return false;
  double v = j->valuedouble;
  if (!(v >= 0 && v <= 9007199254740992.0) || v != (double)(uint64_t)v)
    return false;
  *out = (uint64_t)v;
  return true;
}

typedef struct proto__st_ent {
  uint64_t begin, end;
  const char *name;
  bd_dtype dt;
  int ndim;
  int64_t shape[BD_MAX_DIMS];
} proto__st_ent;

static int proto__st_ent_cmp(const void *a, const void *b) {
  const proto__st_ent *x = a, *y = b;
  if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
  if (x->end != y->end) return x->end < y->end ? -1 : 1;
  return 0;
}

static int proto__cmp_cstr(const void *a, const void *b) {
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Rejects duplicate keys in a cJSON object (cJSON keeps them all). */
static bd_status proto__st_unique_keys(const cJSON *obj, const char *what) {
  size_t n = 0;
  for (const cJSON *c = obj->child; c; c = c->next) n++;
  if (n < 2) return BD_OK;
  const char **v = malloc(n * sizeof *v);
  if (!v) return bd_fail(BD_ENOMEM, "out of host memory");
  n = 0;
  for (const cJSON *c = obj->child; c; c = c->next) v[n++] = c->string;
  qsort(v, n, sizeof *v, proto__cmp_cstr);
  bd_status s = BD_OK;
  for (size_t i = 1; i < n && !s; i++)
    if (strcmp(v[i - 1], v[i]) == 0)
      s = bd_fail(BD_EFORMAT, "safetensors: duplicate key '%.200s' in %s", v[i],
                  what);
  free(v);
  return s;
}

static bd_status proto__st_entry(const cJSON *e, proto__st_ent *out,
                                 const proto_tfile_limits *lim) {
  const char *nm = e->string;
  if (!cJSON_IsObject(e))
    return bd_fail(BD_EFORMAT, "safetensors: entry '%.200s' is not an object",
                   nm);
  bd_status s = proto__st_unique_keys(e, nm);
  if (s) return s;
  const cJSON *dt = NULL, *sh = NULL, *off = NULL;
  for (const cJSON *c = e->child; c; c = c->next) {
    if (strcmp(c->string, "dtype") == 0)
      dt = c;
    else if (strcmp(c->string, "shape") == 0)
      sh = c;
    else if (strcmp(c->string, "data_offsets") == 0)
      off = c;
    else
      return bd_fail(BD_EFORMAT,
                     "safetensors: entry '%.200s' has unknown field '%.64s'",
                     nm, c->string);
  }
  if (!cJSON_IsString(dt) || !cJSON_IsArray(sh) || !cJSON_IsArray(off))
    return bd_fail(BD_EFORMAT,
                   "safetensors: entry '%.200s' needs dtype (string), shape "
                   "and data_offsets (arrays)",
                   nm);
  int d;
  for (d = 0; d < BD_DTYPE_COUNT; d++)
    if (strcmp(dt->valuestring, proto__st_dtypes[d].name) == 0) break;
  if (d == BD_DTYPE_COUNT) {
    for (int k = 0; proto__st_other[k]; k++)
      if (strcmp(dt->valuestring, proto__st_other[k]) == 0)
        return bd_fail(BD_EUNSUPPORTED,
                       "safetensors: tensor '%.200s' has dtype %s; blockd "
                       "holds F32, F64, F16, BF16 and I64 only",
                       nm, proto__st_other[k]);
    return bd_fail(BD_EFORMAT,
                   "safetensors: tensor '%.200s' has unknown "
                   "dtype '%.32s'",
                   nm, dt->valuestring);
  }
  out->dt = (bd_dtype)d;
  int nd = cJSON_GetArraySize(sh);
  if (nd > BD_MAX_DIMS)
    return bd_fail(BD_ELIMIT, "safetensors: tensor '%.200s' has rank %d > %d",
                   nm, nd, BD_MAX_DIMS);
  out->ndim = 0;
  for (const cJSON *c = sh->child; c; c = c->next) {
    uint64_t v;
    if (!proto__st_uint(c, &v))
      return bd_fail(BD_EFORMAT,
                     "safetensors: tensor '%.200s' has a shape "
                     "entry that is not a non-negative integer",
                     nm);
    out->shape[out->ndim++] = (int64_t)v;
  }
  int64_t numel;
  s = bd_shape_numel(out->ndim, out->shape, &numel);
  if (s) return bd_fail_prefix(s, "safetensors: tensor '%.200s': ", nm);
  /* The span, not numel: a [N, 0] tensor still has N rows to walk. */
  int64_t span = bd_shape_span(out->ndim, out->shape);
  if (lim && lim->max_elems > 0 && span > lim->max_elems)
    return bd_fail(BD_ELIMIT,
                   "safetensors: tensor '%.200s' has %lld "
                   "elements%s, over the limit %lld",
                   nm, (long long)span,
                   span != numel ? " (counting non-zero dimensions)" : "",
                   (long long)lim->max_elems);
  if (cJSON_GetArraySize(off) != 2 ||
      !proto__st_uint(off->child, &out->begin) ||
      !proto__st_uint(off->child->next, &out->end))
    return bd_fail(BD_EFORMAT,
                   "safetensors: tensor '%.200s' data_offsets "
                   "must be two non-negative integers",
                   nm);
  if (out->end < out->begin)
    return bd_fail(BD_EFORMAT,
                   "safetensors: tensor '%.200s' ends before it "
                   "begins",
                   nm);
  /* numel <= 2^40 and elements <= 8 bytes: no overflow here. */
  uint64_t want = (uint64_t)numel * bd_dtype_size(out->dt);
  if (out->end - out->begin != want)
    return bd_fail(BD_EFORMAT,
                   "safetensors: tensor '%.200s' spans %llu bytes but dtype %s "
                   "and its shape need %llu",
                   nm, (unsigned long long)(out->end - out->begin),
                   dt->valuestring, (unsigned long long)want);
  out->name = nm;
  return BD_OK;
}

bd_status proto_safetensors_read(const void *data, size_t len,
                                 const proto_tfile_limits *lim,
                                 proto_tfile *out, cJSON **meta) {
  const unsigned char *u = data;
  memset(out, 0, sizeof *out);
  if (meta) *meta = NULL;
  if (len < 8)
    return bd_fail(BD_EFORMAT,
                   "safetensors: file of %zu bytes is shorter "
                   "than the 8-byte header length",
                   len);
  uint64_t n = 0;
  for (int i = 0; i < 8; i++) n |= (uint64_t)u[i] << (8 * i);
  if (n > PROTO_ST_MAX_HEADER)
    return bd_fail(BD_EFORMAT, "safetensors: header length %llu exceeds %u",
                   (unsigned long long)n, PROTO_ST_MAX_HEADER);
  if (n > len - 8)
    return bd_fail(BD_EFORMAT,
                   "safetensors: header length %llu runs past "
                   "the end of the %zu-byte file",
                   (unsigned long long)n, len);
  const char *hj = (const char *)u + 8;
  if (!proto__utf8_ok((const unsigned char *)hj, (size_t)n))
    return bd_fail(BD_EFORMAT, "safetensors: header is not valid UTF-8");
  const char *endp = NULL;
  cJSON *h = cJSON_ParseWithLengthOpts(hj, (size_t)n, &endp, false);
  if (!h) return bd_fail(BD_EFORMAT, "safetensors: header is not valid JSON");
  for (const char *p = endp; p && p < hj + n; p++)
    if (*p != ' ' && *p != '\n' && *p != '\r' && *p != '\t') {
      cJSON_Delete(h);
      return bd_fail(BD_EFORMAT, "safetensors: bytes after the header JSON");
    }
  proto__st_ent *ents = NULL;
  bd_status s = BD_OK;
  if (!cJSON_IsObject(h)) {
    s = bd_fail(BD_EFORMAT, "safetensors: header is not a JSON object");
    goto out;
  }
  s = proto__st_unique_keys(h, "the header");
  if (s) goto out;
  size_t cnt = 0;
  const cJSON *md = NULL;
  for (const cJSON *c = h->child; c; c = c->next) {
    if (strcmp(c->string, "__metadata__") == 0)
      md = c;
    else
      cnt++;
  }
  size_t maxt = lim && lim->max_tensors ? lim->max_tensors : 1000000;
  if (cnt > maxt) {
    s = bd_fail(BD_ELIMIT, "safetensors: %zu tensors exceed the limit %zu", cnt,
                maxt);
    goto out;
  }
  out->kind = PROTO_TFILE_DICT;
  if (md) {
    if (!cJSON_IsObject(md)) {
      s = bd_fail(BD_EFORMAT, "safetensors: __metadata__ is not an object");
      goto out;
    }
    for (const cJSON *c = md->child; c; c = c->next)
      if (!cJSON_IsString(c)) {
        s = bd_fail(BD_EFORMAT,
                    "safetensors: __metadata__ value '%.64s' is "
                    "not a string",
                    c->string);
        goto out;
      }
    const cJSON *k = cJSON_GetObjectItemCaseSensitive(md, "blockd.kind");
    if (k && !proto_tfile_kind_parse(k->valuestring, &out->kind)) {
      s = bd_fail(BD_EFORMAT, "safetensors: unknown blockd.kind '%.32s'",
                  k->valuestring);
      goto out;
    }
    const cJSON *sp = cJSON_GetObjectItemCaseSensitive(md, "blockd.spec");
    if (sp && !(out->spec = strdup(sp->valuestring))) {
      s = bd_fail(BD_ENOMEM, "out of host memory");
      goto out;
    }
  }
  ents = calloc(cnt ? cnt : 1, sizeof *ents);
  if (!ents) {
    s = bd_fail(BD_ENOMEM, "out of host memory");
    goto out;
  }
  size_t k = 0;
  for (const cJSON *c = h->child; c; c = c->next) {
    if (c == md) continue;
    s = proto__st_entry(c, &ents[k++], lim);
    if (s) goto out;
  }
  qsort(ents, cnt, sizeof *ents, proto__st_ent_cmp);
  uint64_t pos = 0, buflen = len - 8 - n;
  for (size_t i = 0; i < cnt; i++) {
    if (ents[i].begin != pos) {
      s = bd_fail(BD_EFORMAT,
                  "safetensors: tensor '%.200s' starts at %llu, "
                  "expected %llu (offsets must be contiguous, without gaps "
                  "or overlaps)",
                  ents[i].name, (unsigned long long)ents[i].begin,
                  (unsigned long long)pos);
      goto out;
    }
    pos = ents[i].end;
    if (pos > buflen) {
      s = bd_fail(BD_EFORMAT,
                  "safetensors: tensor '%.200s' ends at %llu, "
                  "past the %llu-byte data buffer",
                  ents[i].name, (unsigned long long)pos,
                  (unsigned long long)buflen);
      goto out;
    }
  }
  if (pos != buflen) {
    s = bd_fail(BD_EFORMAT,
                "safetensors: tensors cover %llu bytes but the "
                "data buffer holds %llu",
                (unsigned long long)pos, (unsigned long long)buflen);
    goto out;
  }
  size_t maxb =
      lim && lim->max_total_bytes ? lim->max_total_bytes : (size_t)64 << 30;
  if (buflen > maxb) {
    s = bd_fail(BD_ELIMIT,
                "safetensors: %llu bytes of tensors exceed the "
                "limit %zu",
                (unsigned long long)buflen, maxb);
    goto out;
  }
  /* Lists are stored under "0", "1", ...: order them by index. */
  if (out->kind == PROTO_TFILE_LIST || out->kind == PROTO_TFILE_TENSOR) {
    proto__st_ent *byidx = calloc(cnt ? cnt : 1, sizeof *byidx);
    if (!byidx) {
      s = bd_fail(BD_ENOMEM, "out of host memory");
      goto out;
    }
    bool ok = out->kind == PROTO_TFILE_TENSOR
                  ? cnt == 1 && strcmp(ents[0].name, "tensor") == 0
                  : true;
    for (size_t i = 0; ok && out->kind == PROTO_TFILE_LIST && i < cnt; i++) {
      char *e;
      unsigned long long v = strtoull(ents[i].name, &e, 10);
      ok = ents[i].name[0] >= '0' && ents[i].name[0] <= '9' && !*e && v < cnt &&
           byidx[v].name == NULL;
      if (ok) byidx[v] = ents[i];
    }
    if (!ok) {
      free(byidx);
      s = bd_fail(BD_EFORMAT,
                  "safetensors: blockd.kind %s does not match "
                  "the tensor names",
                  proto_tfile_kind_name(out->kind));
      goto out;
    }
    if (out->kind == PROTO_TFILE_LIST) memcpy(ents, byidx, cnt * sizeof *ents);
    free(byidx);
  }
  const unsigned char *buf = u + 8 + n;
  for (size_t i = 0; i < cnt; i++) {
    bd_tensor *t;
    size_t nb = (size_t)(ents[i].end - ents[i].begin);
    /* Borrow only aligned data: typed reads of it must be aligned. */
    if (lim && lim->borrow &&
        (uintptr_t)(buf + ents[i].begin) % bd_dtype_size(ents[i].dt) == 0) {
      s = bd_tensor_wrap((void *)(buf + ents[i].begin), ents[i].dt,
                         ents[i].ndim, ents[i].shape, &t);
    } else {
      s = bd_tensor_new(BD_CPU, ents[i].dt, ents[i].ndim, ents[i].shape, &t);
      if (!s && nb) memcpy(bd_tensor_data(t), buf + ents[i].begin, nb);
    }
    if (s) goto out;
    s = bd_named_tensors_push(&out->list, ents[i].name, t);
    bd_tensor_release(t);
    if (s) goto out;
  }
  if (meta && md) *meta = cJSON_Duplicate(md, true);
out:
  free(ents);
  cJSON_Delete(h);
  if (s) proto_tfile_clear(out);
  return s;
}
