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

/* Prints the header JSON (caller frees; NULL when out of memory): the
 * __metadata__ (format, blockd.kind, blockd.spec and the extra key/value
 * pairs), then each tensor of f in write order with its dtype, shape and
 * data offsets, which follow one another from 0. */
static char *proto__st_header_json(const proto_tfile *f, const size_t *order,
                                   const char *const *extra) {
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
  return js;
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
  char *js = proto__st_header_json(f, order, extra);
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

/* Checks that entry e (named nm) is an object with unique keys among
 * dtype, shape and data_offsets, all present and of the right JSON type,
 * and points *dt, *sh and *off at them (borrowed from e). */
static bd_status proto__st_fields(const cJSON *e, const char *nm,
                                  const cJSON **dt, const cJSON **sh,
                                  const cJSON **off) {
  if (!cJSON_IsObject(e))
    return bd_fail(BD_EFORMAT, "safetensors: entry '%.200s' is not an object",
                   nm);
  bd_status s = proto__st_unique_keys(e, nm);
  if (s) return s;
  *dt = *sh = *off = NULL;
  for (const cJSON *c = e->child; c; c = c->next) {
    if (strcmp(c->string, "dtype") == 0)
      *dt = c;
    else if (strcmp(c->string, "shape") == 0)
      *sh = c;
    else if (strcmp(c->string, "data_offsets") == 0)
      *off = c;
    else
      return bd_fail(BD_EFORMAT,
                     "safetensors: entry '%.200s' has unknown field '%.64s'",
                     nm, c->string);
  }
  if (!cJSON_IsString(*dt) || !cJSON_IsArray(*sh) || !cJSON_IsArray(*off))
    return bd_fail(BD_EFORMAT,
                   "safetensors: entry '%.200s' needs dtype (string), shape "
                   "and data_offsets (arrays)",
                   nm);
  return BD_OK;
}

/* Maps the safetensors dtype name of tensor nm to *out: BD_EUNSUPPORTED for
 * a known dtype blockd holds no tensors for, BD_EFORMAT for an unknown one. */
static bd_status proto__st_dtype(const char *nm, const char *name,
                                 bd_dtype *out) {
  for (int d = 0; d < BD_DTYPE_COUNT; d++)
    if (strcmp(name, proto__st_dtypes[d].name) == 0) {
      *out = (bd_dtype)d;
      return BD_OK;
    }
  for (int k = 0; proto__st_other[k]; k++)
    if (strcmp(name, proto__st_other[k]) == 0)
      return bd_fail(BD_EUNSUPPORTED,
                     "safetensors: tensor '%.200s' has dtype %s; blockd "
                     "holds F32, F64, F16, BF16 and I64 only",
                     nm, proto__st_other[k]);
  return bd_fail(BD_EFORMAT,
                 "safetensors: tensor '%.200s' has unknown "
                 "dtype '%.32s'",
                 nm, name);
}

/* Reads the shape array sh of tensor nm into out->ndim and out->shape,
 * sets *numel, and enforces BD_MAX_DIMS and lim->max_elems (counted over
 * the span, so that empty dimensions cannot hide rows). */
static bd_status proto__st_shape(const char *nm, const cJSON *sh,
                                 const proto_tfile_limits *lim,
                                 proto__st_ent *out, int64_t *numel) {
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
  bd_status s = bd_shape_numel(out->ndim, out->shape, numel);
  if (s) return bd_fail_prefix(s, "safetensors: tensor '%.200s': ", nm);
  /* The span, not numel: a [N, 0] tensor still has N rows to walk. */
  int64_t span = bd_shape_span(out->ndim, out->shape);
  if (lim && lim->max_elems > 0 && span > lim->max_elems)
    return bd_fail(BD_ELIMIT,
                   "safetensors: tensor '%.200s' has %lld "
                   "elements%s, over the limit %lld",
                   nm, (long long)span,
                   span != *numel ? " (counting non-zero dimensions)" : "",
                   (long long)lim->max_elems);
  return BD_OK;
}

/* Reads the data_offsets off of tensor nm into out->begin and out->end and
 * checks that they span exactly numel elements of out->dt (named dtname). */
static bd_status proto__st_offsets(const char *nm, const cJSON *off,
                                   const char *dtname, int64_t numel,
                                   proto__st_ent *out) {
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
                   nm, (unsigned long long)(out->end - out->begin), dtname,
                   (unsigned long long)want);
  return BD_OK;
}

/* Parses one header entry e (a tensor) into *out, whose name borrows e's
 * key; every field is checked against the format and lim. */
static bd_status proto__st_entry(const cJSON *e, proto__st_ent *out,
                                 const proto_tfile_limits *lim) {
  const char *nm = e->string;
  const cJSON *dt = NULL, *sh = NULL, *off = NULL;
  bd_status s = proto__st_fields(e, nm, &dt, &sh, &off);
  if (!s) s = proto__st_dtype(nm, dt->valuestring, &out->dt);
  int64_t numel = 0;
  if (!s) s = proto__st_shape(nm, sh, lim, out, &numel);
  if (!s) s = proto__st_offsets(nm, off, dt->valuestring, numel, out);
  if (s) return s;
  out->name = nm;
  return BD_OK;
}

/* Reads the 8-byte header length of the len-byte file u, checks it against
 * PROTO_ST_MAX_HEADER and the file, and parses the header as strict UTF-8
 * JSON with nothing but whitespace after it. On success *h is the parsed
 * header (caller frees with cJSON_Delete) and *hlen its length. */
static bd_status proto__st_header(const unsigned char *u, size_t len,
                                  uint64_t *hlen, cJSON **h) {
  *h = NULL;
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
  cJSON *j = cJSON_ParseWithLengthOpts(hj, (size_t)n, &endp, false);
  if (!j) return bd_fail(BD_EFORMAT, "safetensors: header is not valid JSON");
  for (const char *p = endp; p && p < hj + n; p++)
    if (*p != ' ' && *p != '\n' && *p != '\r' && *p != '\t') {
      cJSON_Delete(j);
      return bd_fail(BD_EFORMAT, "safetensors: bytes after the header JSON");
    }
  *h = j;
  *hlen = n;
  return BD_OK;
}

/* Checks that header h is an object with unique keys, finds its
 * __metadata__ entry (*md, borrowed; NULL when absent) and counts the
 * tensor entries into *cnt, at most lim->max_tensors (default 10^6). */
static bd_status proto__st_count(const cJSON *h, const proto_tfile_limits *lim,
                                 size_t *cnt, const cJSON **md) {
  if (!cJSON_IsObject(h))
    return bd_fail(BD_EFORMAT, "safetensors: header is not a JSON object");
  bd_status s = proto__st_unique_keys(h, "the header");
  if (s) return s;
  *cnt = 0;
  *md = NULL;
  for (const cJSON *c = h->child; c; c = c->next) {
    if (strcmp(c->string, "__metadata__") == 0)
      *md = c;
    else
      (*cnt)++;
  }
  size_t maxt = lim && lim->max_tensors ? lim->max_tensors : 1000000;
  if (*cnt > maxt)
    return bd_fail(BD_ELIMIT, "safetensors: %zu tensors exceed the limit %zu",
                   *cnt, maxt);
  return BD_OK;
}

/* Checks that __metadata__ md is an object of strings and takes blockd's
 * keys from it: blockd.kind into out->kind, a copy of blockd.spec into
 * out->spec (owned by out). */
static bd_status proto__st_metadata(const cJSON *md, proto_tfile *out) {
  if (!cJSON_IsObject(md))
    return bd_fail(BD_EFORMAT, "safetensors: __metadata__ is not an object");
  for (const cJSON *c = md->child; c; c = c->next)
    if (!cJSON_IsString(c))
      return bd_fail(BD_EFORMAT,
                     "safetensors: __metadata__ value '%.64s' is "
                     "not a string",
                     c->string);
  const cJSON *k = cJSON_GetObjectItemCaseSensitive(md, "blockd.kind");
  if (k && !proto_tfile_kind_parse(k->valuestring, &out->kind))
    return bd_fail(BD_EFORMAT, "safetensors: unknown blockd.kind '%.32s'",
                   k->valuestring);
  const cJSON *sp = cJSON_GetObjectItemCaseSensitive(md, "blockd.spec");
  if (sp && !(out->spec = strdup(sp->valuestring)))
    return bd_fail(BD_ENOMEM, "out of host memory");
  return BD_OK;
}

/* Parses the cnt tensor entries of h (all but md) into a new array *ents
 * (caller frees, also on error; names borrow h's keys). */
static bd_status proto__st_entries(const cJSON *h, const cJSON *md, size_t cnt,
                                   const proto_tfile_limits *lim,
                                   proto__st_ent **ents) {
  *ents = calloc(cnt ? cnt : 1, sizeof **ents);
  if (!*ents) return bd_fail(BD_ENOMEM, "out of host memory");
  size_t k = 0;
  for (const cJSON *c = h->child; c; c = c->next) {
    if (c == md) continue;
    bd_status s = proto__st_entry(c, &(*ents)[k++], lim);
    if (s) return s;
  }
  return BD_OK;
}

/* Sorts ents by offset and checks that they tile the buflen-byte data
 * buffer exactly (no gaps, overlaps or spare bytes), which is at most
 * lim->max_total_bytes (default 64 GiB). */
static bd_status proto__st_layout(proto__st_ent *ents, size_t cnt,
                                  uint64_t buflen,
                                  const proto_tfile_limits *lim) {
  qsort(ents, cnt, sizeof *ents, proto__st_ent_cmp);
  uint64_t pos = 0;
  for (size_t i = 0; i < cnt; i++) {
    if (ents[i].begin != pos)
      return bd_fail(BD_EFORMAT,
                     "safetensors: tensor '%.200s' starts at %llu, "
                     "expected %llu (offsets must be contiguous, without gaps "
                     "or overlaps)",
                     ents[i].name, (unsigned long long)ents[i].begin,
                     (unsigned long long)pos);
    pos = ents[i].end;
    if (pos > buflen)
      return bd_fail(BD_EFORMAT,
                     "safetensors: tensor '%.200s' ends at %llu, "
                     "past the %llu-byte data buffer",
                     ents[i].name, (unsigned long long)pos,
                     (unsigned long long)buflen);
  }
  if (pos != buflen)
    return bd_fail(BD_EFORMAT,
                   "safetensors: tensors cover %llu bytes but the "
                   "data buffer holds %llu",
                   (unsigned long long)pos, (unsigned long long)buflen);
  size_t maxb =
      lim && lim->max_total_bytes ? lim->max_total_bytes : (size_t)64 << 30;
  if (buflen > maxb)
    return bd_fail(BD_ELIMIT,
                   "safetensors: %llu bytes of tensors exceed the "
                   "limit %zu",
                   (unsigned long long)buflen, maxb);
  return BD_OK;
}

/* For a tensor file, checks that the one entry is named "tensor"; for a
 * list, checks that the names are exactly "0".."cnt-1" and puts ents in
 * that order. Other kinds keep their (offset) order. */
static bd_status proto__st_order(proto_tfile_kind kind, proto__st_ent *ents,
                                 size_t cnt) {
  if (kind != PROTO_TFILE_LIST && kind != PROTO_TFILE_TENSOR) return BD_OK;
  proto__st_ent *byidx = calloc(cnt ? cnt : 1, sizeof *byidx);
  if (!byidx) return bd_fail(BD_ENOMEM, "out of host memory");
  bool ok = kind == PROTO_TFILE_TENSOR
                ? cnt == 1 && strcmp(ents[0].name, "tensor") == 0
                : true;
  for (size_t i = 0; ok && kind == PROTO_TFILE_LIST && i < cnt; i++) {
    char *e;
    unsigned long long v = strtoull(ents[i].name, &e, 10);
    ok = ents[i].name[0] >= '0' && ents[i].name[0] <= '9' && !*e && v < cnt &&
         byidx[v].name == NULL;
    if (ok) byidx[v] = ents[i];
  }
  if (!ok) {
    free(byidx);
    return bd_fail(BD_EFORMAT,
                   "safetensors: blockd.kind %s does not match "
                   "the tensor names",
                   proto_tfile_kind_name(kind));
  }
  if (kind == PROTO_TFILE_LIST) memcpy(ents, byidx, cnt * sizeof *ents);
  free(byidx);
  return BD_OK;
}

/* Appends one tensor per entry to out->list, in ents order: a borrowed view
 * of buf when lim->borrow asks for it and the data is aligned, a copy
 * otherwise. */
static bd_status proto__st_load(const proto__st_ent *ents, size_t cnt,
                                const unsigned char *buf,
                                const proto_tfile_limits *lim,
                                proto_tfile *out) {
  for (size_t i = 0; i < cnt; i++) {
    bd_tensor *t;
    bd_status s;
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
    if (s) return s;
    s = bd_named_tensors_push(&out->list, ents[i].name, t);
    bd_tensor_release(t);
    if (s) return s;
  }
  return BD_OK;
}

bd_status proto_safetensors_read(const void *data, size_t len,
                                 const proto_tfile_limits *lim,
                                 proto_tfile *out, cJSON **meta) {
  const unsigned char *u = data;
  memset(out, 0, sizeof *out);
  if (meta) *meta = NULL;
  uint64_t n = 0;
  cJSON *h;
  bd_status s = proto__st_header(u, len, &n, &h);
  if (s) return s;
  proto__st_ent *ents = NULL;
  size_t cnt = 0;
  const cJSON *md = NULL;
  s = proto__st_count(h, lim, &cnt, &md);
  if (s) goto out;
  out->kind = PROTO_TFILE_DICT;
  if (md && (s = proto__st_metadata(md, out))) goto out;
  s = proto__st_entries(h, md, cnt, lim, &ents);
  if (!s) s = proto__st_layout(ents, cnt, len - 8 - n, lim);
  if (!s) s = proto__st_order(out->kind, ents, cnt);
  if (!s) s = proto__st_load(ents, cnt, u + 8 + n, lim, out);
  if (!s && meta && md) *meta = cJSON_Duplicate(md, true);
out:
  free(ents);
  cJSON_Delete(h);
  if (s) proto_tfile_clear(out);
  return s;
}
