/* json_fields.c - one-pass reading of bodies with tensors (see
 * json_fields.h). Every function of the fast reader returns R_OK or
 * R_SLOW ("let the old path decide"); only ENOMEM is reported as such. */
#include "json_fields.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../engine/names.h"
#include "json_num.h"
#include "json_parse.h"
#include "json_tensor.h"

enum { R_OK = 0, R_SLOW = 1, R_NOMEM = 2 };

/* Below cJSON's nesting limit (1000) with room for the levels above a
 * skipped value, so that whatever the fast reader skips cJSON reads. */
enum { SKIP_DEPTH = 900 };

typedef struct rd {
  const char *p, *end;
} rd;

/* cJSON skips every byte up to ' ' as whitespace. */
static inline void ws(rd *r) {
  while (r->p < r->end && (unsigned char)*r->p <= 32) r->p++;
}

static inline bool at(rd *r, char c) { return r->p < r->end && *r->p == c; }

static int hex4(const char *p, unsigned *out) {
  unsigned v = 0;
  for (int i = 0; i < 4; i++) {
    char c = p[i];
    v <<= 4;
    if (c >= '0' && c <= '9')
      v |= (unsigned)(c - '0');
    else if (c >= 'a' && c <= 'f')
      v |= (unsigned)(c - 'a' + 10);
    else if (c >= 'A' && c <= 'F')
      v |= (unsigned)(c - 'A' + 10);
    else
      return 0;
  }
  *out = v;
  return 1;
}

static void emit(char *out, size_t cap, size_t *o, char c) {
  if (out && *o + 1 < cap) out[*o] = c;
  (*o)++;
}

/* A string at r->p (the opening quote), with cJSON's escapes. Unescaped
 * bytes go to out (when not NULL; at most cap - 1 of them, NUL-terminated;
 * *olen is the full length). Raw bytes from 0x80 up are checked as UTF-8
 * here, so the body needs no separate UTF-8 scan. */
static bool rd_string(rd *r, char *out, size_t cap, size_t *olen) {
  const char *p = r->p + 1, *s = p;
  size_t o = 0;
  bool hi = false;
  for (;; p++) {
    if (p >= r->end) return false;
    char c = *p;
    if (c == '"') break;
    if (c != '\\') {
      hi |= (unsigned char)c >= 0x80;
      emit(out, cap, &o, c);
      continue;
    }
    if (++p >= r->end) return false;
    switch (*p) {
      case 'b':
        emit(out, cap, &o, '\b');
        break;
      case 'f':
        emit(out, cap, &o, '\f');
        break;
      case 'n':
        emit(out, cap, &o, '\n');
        break;
      case 'r':
        emit(out, cap, &o, '\r');
        break;
      case 't':
        emit(out, cap, &o, '\t');
        break;
      case '"':
      case '\\':
      case '/':
        emit(out, cap, &o, *p);
        break;
      case 'u': {
        unsigned cp, lo;
        if (r->end - p < 5 || !hex4(p + 1, &cp)) return false;
        p += 4;
        if (cp >= 0xdc00 && cp <= 0xdfff) return false;
        if (cp >= 0xd800 && cp <= 0xdbff) {
          if (r->end - p < 7 || p[1] != '\\' || p[2] != 'u' ||
              !hex4(p + 3, &lo) || lo < 0xdc00 || lo > 0xdfff)
            return false;
          p += 6;
          cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
        }
        /* A NUL would cut the C string short: let cJSON decide. */
        if (cp == 0) return false;
        if (cp < 0x80) {
          emit(out, cap, &o, (char)cp);
        } else if (cp < 0x800) {
          emit(out, cap, &o, (char)(0xc0 | cp >> 6));
          emit(out, cap, &o, (char)(0x80 | (cp & 0x3f)));
        } else if (cp < 0x10000) {
          emit(out, cap, &o, (char)(0xe0 | cp >> 12));
          emit(out, cap, &o, (char)(0x80 | ((cp >> 6) & 0x3f)));
          emit(out, cap, &o, (char)(0x80 | (cp & 0x3f)));
        } else {
          emit(out, cap, &o, (char)(0xf0 | cp >> 18));
          emit(out, cap, &o, (char)(0x80 | ((cp >> 12) & 0x3f)));
          emit(out, cap, &o, (char)(0x80 | ((cp >> 6) & 0x3f)));
          emit(out, cap, &o, (char)(0x80 | (cp & 0x3f)));
        }
        break;
      }
      default:
        return false;
    }
  }
  if (hi && !bd_utf8_valid(s, (size_t)(p - s))) return false;
  if (out && cap) out[o < cap ? o : cap - 1] = '\0';
  if (olen) *olen = o;
  r->p = p + 1;
  return true;
}

static bool rd_lit(rd *r, const char *lit) {
  size_t n = strlen(lit);
  if ((size_t)(r->end - r->p) < n || memcmp(r->p, lit, n)) return false;
  r->p += n;
  return true;
}

/* Steps over one value (syntax only). */
static bool rd_skip(rd *r, int depth) {
  ws(r);
  if (r->p >= r->end || depth > SKIP_DEPTH) return false;
  char c = *r->p;
  if (c == '{' || c == '[') {
    char close = c == '{' ? '}' : ']';
    r->p++;
    ws(r);
    if (at(r, close)) {
      r->p++;
      return true;
    }
    for (;;) {
      ws(r);
      if (c == '{') {
        if (!at(r, '"') || !rd_string(r, NULL, 0, NULL)) return false;
        ws(r);
        if (!at(r, ':')) return false;
        r->p++;
      }
      if (!rd_skip(r, depth + 1)) return false;
      ws(r);
      if (at(r, ',')) {
        r->p++;
        continue;
      }
      if (!at(r, close)) return false;
      r->p++;
      return true;
    }
  }
  if (c == '"') return rd_string(r, NULL, 0, NULL);
  if (c == 't') return rd_lit(r, "true");
  if (c == 'f') return rd_lit(r, "false");
  if (c == 'n') return rd_lit(r, "null");
  if (c == '-' || (c >= '0' && c <= '9')) {
    proto_num n;
    const char *e = proto_num_scan(r->p, r->end, &n);
    if (!e) return false;
    r->p = e;
    return true;
  }
  return false;
}

/* ---- tensors -------------------------------------------------------- */

/* Values decoded so far and the nesting seen: dnd levels, dsh[l] the
 * length of every list at level l (-1 until the first one closes).
 * frozen: a list closed or a scalar came, so no deeper level may appear
 * (the old decoder infers the shape from the first element of each level
 * and calls anything else ragged). */
typedef struct tdec {
  bd_dtype dt;
  size_t esz;
  char *vals;
  int64_t n, cap, max;
  int dnd;
  int64_t dsh[BD_MAX_DIMS];
  bool frozen;
} tdec;

static bool str_is(const char *p, size_t n, const char *lit) {
  return strlen(lit) == n && memcmp(p, lit, n) == 0;
}

static int td_scalar(tdec *t, rd *r) {
  if (t->n == t->cap) {
    if (t->n >= t->max) return R_SLOW; /* the old path reports the limit */
    int64_t cap = t->cap ? t->cap * 2 : 256;
    if (cap > t->max) cap = t->max;
    char *v = realloc(t->vals, (size_t)cap * t->esz);
    if (!v) return R_NOMEM;
    t->vals = v;
    t->cap = cap;
  }
  void *slot = t->vals + (size_t)t->n * t->esz;
  char c = *r->p;
  double x = 0;
  float xf = 0;
  bool have_f = false;
  if (c == '-' || (c >= '0' && c <= '9')) {
    proto_num n;
    const char *e = proto_num_scan(r->p, r->end, &n);
    if (!e) return R_SLOW;
    r->p = e;
    switch (t->dt) {
      case BD_F32:
        ((float *)t->vals)[t->n++] = proto_num_f32(&n);
        return R_OK;
      case BD_F64:
        ((double *)t->vals)[t->n++] = proto_num_f64(&n);
        return R_OK;
      case BD_I64: {
        int64_t v;
        if (!proto_num_i64(&n, &v)) return R_SLOW;
        ((int64_t *)t->vals)[t->n++] = v;
        return R_OK;
      }
      default:
        xf = proto_num_f32(&n);
        have_f = true;
        break;
    }
  } else if (c == '"') {
    if (t->dt == BD_I64) return R_SLOW;
    const char *s = r->p + 1, *q = s;
    while (q < r->end && *q != '"' && *q != '\\') q++;
    if (q >= r->end || *q != '"') return R_SLOW;
    size_t len = (size_t)(q - s);
    if (str_is(s, len, "NaN") || str_is(s, len, "nan"))
      x = NAN;
    else if (str_is(s, len, "Infinity") || str_is(s, len, "inf"))
      x = INFINITY;
    else if (str_is(s, len, "-Infinity") || str_is(s, len, "-inf"))
      x = -INFINITY;
    else
      return R_SLOW;
    r->p = q + 1;
  } else if (rd_lit(r, "true")) {
    x = 1;
  } else if (rd_lit(r, "false")) {
    x = 0;
  } else {
    return R_SLOW;
  }
  if (!have_f) xf = (float)x;
  switch (t->dt) {
    case BD_F32:
      *(float *)slot = xf;
      break;
    case BD_F64:
      *(double *)slot = x;
      break;
    case BD_I64:
      *(int64_t *)slot = (int64_t)x;
      break;
    case BD_F16:
      *(uint16_t *)slot = bd_float_to_half(xf);
      break;
    case BD_BF16:
      *(uint16_t *)slot = bd_float_to_bf16(xf);
      break;
    default:
      return R_SLOW;
  }
  t->n++;
  return R_OK;
}

/* A value at nesting level `level` of the data. */
static int td_value(tdec *t, rd *r, int level) {
  ws(r);
  if (r->p >= r->end) return R_SLOW;
  if (*r->p != '[') {
    if (level != t->dnd) return R_SLOW;
    t->frozen = true;
    return td_scalar(t, r);
  }
  if (level >= t->dnd) {
    if (t->frozen || level >= BD_MAX_DIMS) return R_SLOW;
    t->dnd = level + 1;
    t->dsh[level] = -1;
  }
  r->p++;
  ws(r);
  int64_t cnt = 0;
  if (at(r, ']')) {
    r->p++;
  } else {
    for (;;) {
      int rc;
      ws(r);
      if (r->p < r->end && *r->p != '[') { /* a scalar: no call per number */
        if (level + 1 != t->dnd) return R_SLOW;
        t->frozen = true;
        rc = td_scalar(t, r);
      } else {
        rc = td_value(t, r, level + 1);
      }
      if (rc) return rc;
      cnt++;
      ws(r);
      if (at(r, ',')) {
        r->p++;
        continue;
      }
      if (!at(r, ']')) return R_SLOW;
      r->p++;
      break;
    }
  }
  t->frozen = true;
  if (t->dsh[level] < 0)
    t->dsh[level] = cnt;
  else if (t->dsh[level] != cnt)
    return R_SLOW;
  return R_OK;
}

static int td_data(tdec *t, rd *r) {
  t->n = 0;
  t->dnd = 0;
  t->frozen = false;
  t->esz = bd_dtype_size(t->dt);
  return td_value(t, r, 0);
}

/* {"shape": [...]} : up to BD_MAX_DIMS integers 0 <= v <= 9e15, read as
 * the old decoder reads them (through a double). */
static int rd_shape(rd *r, int *ndim, int64_t *shape) {
  ws(r);
  if (!at(r, '[')) return R_SLOW;
  r->p++;
  ws(r);
  *ndim = 0;
  if (at(r, ']')) {
    r->p++;
    return R_OK;
  }
  for (;;) {
    ws(r);
    proto_num n;
    const char *e = r->p < r->end ? proto_num_scan(r->p, r->end, &n) : NULL;
    if (!e || *ndim == BD_MAX_DIMS) return R_SLOW;
    r->p = e;
    double v = proto_num_f64(&n);
    if (v != floor(v) || v < 0 || v > 9e15) return R_SLOW;
    shape[(*ndim)++] = (int64_t)v;
    ws(r);
    if (at(r, ',')) {
      r->p++;
      continue;
    }
    if (!at(r, ']')) return R_SLOW;
    r->p++;
    return R_OK;
  }
}

/* A tensor value at r->p, in any of its wire forms. */
static int rd_tensor(rd *r, int64_t max, bd_tensor **out) {
  if (max <= 0) max = BD_MAX_NUMEL;
  tdec t = {.dt = BD_F32, .max = max};
  int ndim = -1; /* no explicit shape */
  int64_t shape[BD_MAX_DIMS];
  int rc = R_SLOW;
  ws(r);
  if (r->p >= r->end) return R_SLOW;
  char c = *r->p;
  if (c == '[' || c == '-' || (c >= '0' && c <= '9')) {
    rc = td_data(&t, r);
  } else if (c == '{') {
    /* Keys in any order: data seen before its dtype is decoded as float32
     * (the default) and decoded again if a dtype says otherwise. */
    bool has_dt = false, has_data = false;
    bd_dtype want = BD_F32;
    const char *dstart = NULL;
    r->p++;
    ws(r);
    if (at(r, '}')) goto done;
    for (;;) {
      char key[8];
      size_t klen;
      rc = R_SLOW;
      ws(r);
      if (!at(r, '"') || !rd_string(r, key, sizeof key, &klen)) goto done;
      ws(r);
      if (!at(r, ':')) goto done;
      r->p++;
      ws(r);
      if (str_is(key, klen, "shape") && ndim < 0) {
        if ((rc = rd_shape(r, &ndim, shape))) goto done;
      } else if (str_is(key, klen, "dtype") && !has_dt) {
        char dts[16];
        size_t dl;
        if (!at(r, '"') || !rd_string(r, dts, sizeof dts, &dl) ||
            dl >= sizeof dts || !bd_dtype_parse(dts, &want)) {
          rc = R_SLOW;
          goto done;
        }
        has_dt = true;
      } else if (str_is(key, klen, "data") && !has_data) {
        has_data = true;
        dstart = r->p;
        t.dt = want;
        if ((rc = td_data(&t, r))) goto done;
      } else {
        rc = R_SLOW;
        goto done;
      }
      ws(r);
      if (at(r, ',')) {
        r->p++;
        continue;
      }
      if (!at(r, '}')) {
        rc = R_SLOW;
        goto done;
      }
      r->p++;
      break;
    }
    rc = R_SLOW;
    if (!has_data) goto done;
    if (want != t.dt) {
      rd again = {dstart, r->end};
      t.dt = want;
      if ((rc = td_data(&t, &again))) goto done;
    }
    rc = R_OK;
  }
  if (rc) goto done;
  rc = R_SLOW;
  if (ndim < 0) {
    ndim = t.dnd;
    memcpy(shape, t.dsh, sizeof shape);
  } else if (t.dnd == 0) {
    if (ndim != 0) goto done;
  } else if (!(t.dnd == 1 && ndim != 1)) { /* not flat: nested to shape */
    if (t.dnd != ndim) goto done;
    for (int i = 0; i < ndim; i++)
      if (t.dsh[i] != shape[i]) goto done;
  }
  int64_t numel;
  if (bd_shape_numel(ndim, shape, &numel) || numel != t.n ||
      bd_shape_span(ndim, shape) > max)
    goto done;
  bd_tensor *tt;
  if (bd_tensor_new(BD_CPU, t.dt, ndim, shape, &tt)) goto done;
  if (t.n) memcpy(bd_tensor_data(tt), t.vals, (size_t)t.n * t.esz);
  *out = tt;
  rc = R_OK;
done:
  free(t.vals);
  return rc;
}

/* ---- bodies --------------------------------------------------------- */

static bool body_ws(char c) {
  return c == ' ' || c == '\n' || c == '\r' || c == '\t';
}

bd_status proto_json_body(const char *body, size_t len, bool allow_empty,
                          cJSON **out) {
  *out = NULL;
  size_t i = 0;
  while (i < len && body_ws(body[i])) i++;
  if (i == len) {
    if (!allow_empty) return bd_fail(BD_EJSON, "the request needs a JSON body");
    *out = cJSON_CreateObject();
    return *out ? BD_OK : bd_fail(BD_ENOMEM, "out of host memory");
  }
  /* JSON is UTF-8 (RFC 8259): names taken from a body (dict keys, tensor
   * names) are echoed in replies that must stay valid JSON. */
  if (!bd_utf8_valid(body, len))
    return bd_fail(BD_EINVAL, "the JSON body is not valid UTF-8");
  const char *end = NULL;
  cJSON *j = proto_json_parse(body, len, &end);
  if (!j)
    return bd_fail(BD_EJSON, "malformed JSON near byte %zu",
                   end ? (size_t)(end - body) : (size_t)0);
  /* Anything but whitespace after the document is an error. */
  for (size_t k = end ? (size_t)(end - body) : len; k < len; k++)
    if (!body_ws(body[k]) && body[k] != '\0') {
      cJSON_Delete(j);
      return bd_fail(BD_EJSON,
                     "trailing data after the JSON document at byte %zu", k);
    }
  if (!cJSON_IsObject(j)) {
    cJSON_Delete(j);
    return bd_fail(BD_EINVAL, "the request body must be a JSON object");
  }
  *out = j;
  return BD_OK;
}

typedef struct fields {
  const char *const *keys;
  int nkeys;
  int64_t max;
  bd_tensor **tensors;
} fields;

/* The index of the tensor key prefix+key, or -1; *parent: some tensor key
 * lies below prefix+key (it names an object to descend into). */
static int key_index(const fields *f, const char *prefix, const char *key,
                     bool *parent) {
  size_t pl = strlen(prefix), kl = strlen(key);
  *parent = false;
  for (int i = 0; i < f->nkeys; i++) {
    const char *t = f->keys[i];
    if (strncmp(t, prefix, pl) || strncmp(t + pl, key, kl)) continue;
    if (t[pl + kl] == '\0') return i;
    if (t[pl + kl] == '.' && pl == 0) *parent = true;
  }
  return -1;
}

static int rd_object(rd *r, const fields *f, const char *prefix, cJSON *rest) {
  r->p++; /* '{' */
  ws(r);
  if (at(r, '}')) {
    r->p++;
    return R_OK;
  }
  for (;;) {
    char kbuf[128];
    char *key = kbuf;
    size_t klen;
    ws(r);
    if (!at(r, '"')) return R_SLOW;
    const char *kstart = r->p;
    if (!rd_string(r, kbuf, sizeof kbuf, &klen)) return R_SLOW;
    if (klen >= sizeof kbuf) { /* long: read it again, whole */
      key = malloc(klen + 1);
      if (!key) return R_NOMEM;
      rd again = {kstart, r->end};
      rd_string(&again, key, klen + 1, NULL);
    }
    int rc = R_SLOW;
    bool parent = false;
    /* A raw NUL cuts cJSON's copy of the key short: leave it to cJSON. */
    if (strlen(key) != klen) goto next;
    int idx = key_index(f, prefix, key, &parent);
    ws(r);
    if (!at(r, ':')) goto next;
    r->p++;
    ws(r);
    if (idx >= 0) {
      if (f->tensors[idx])
        goto next; /* a repeated key: cJSON takes the first */
      rc = rd_tensor(r, f->max, &f->tensors[idx]);
    } else if (parent && at(r, '{')) {
      cJSON *sub = cJSON_CreateObject();
      if (!sub) {
        rc = R_NOMEM;
        goto next;
      }
      char pre[160];
      size_t kl = strlen(key);
      if (kl + 2 > sizeof pre) {
        cJSON_Delete(sub);
        goto next;
      }
      memcpy(pre, key, kl);
      pre[kl] = '.';
      pre[kl + 1] = '\0';
      rc = rd_object(r, f, pre, sub);
      if (rc) {
        cJSON_Delete(sub);
        goto next;
      }
      cJSON_AddItemToObject(rest, key, sub);
    } else {
      const char *vs = r->p, *e = NULL;
      if (!rd_skip(r, 1)) goto next;
      cJSON *item = proto_json_parse(vs, (size_t)(r->p - vs), &e);
      if (!item || e != r->p) {
        cJSON_Delete(item);
        goto next;
      }
      cJSON_AddItemToObject(rest, key, item);
      rc = R_OK;
    }
  next:
    if (key != kbuf) free(key);
    if (rc) return rc;
    ws(r);
    if (at(r, ',')) {
      r->p++;
      continue;
    }
    if (!at(r, '}')) return R_SLOW;
    r->p++;
    return R_OK;
  }
}

static int fields_fast(const char *body, size_t len, const fields *f,
                       cJSON **rest) {
  rd r = {body, body + len};
  if (len >= 3 && !memcmp(body, "\xef\xbb\xbf", 3)) r.p += 3; /* as cJSON */
  ws(&r);
  if (!at(&r, '{')) return R_SLOW;
  *rest = cJSON_CreateObject();
  if (!*rest) return R_NOMEM;
  int rc = rd_object(&r, f, "", *rest);
  if (rc) return rc;
  for (; r.p < r.end; r.p++)
    if (!body_ws(*r.p) && *r.p != '\0') return R_SLOW;
  return R_OK;
}

/* The object holding a (once) dotted key and the key's last part. */
static cJSON *path_parent(const cJSON *obj, const char *key,
                          const char **tail) {
  const char *dot = strchr(key, '.');
  *tail = key;
  if (!dot) return (cJSON *)obj;
  char head[128];
  size_t hl = (size_t)(dot - key);
  if (hl >= sizeof head) return NULL;
  memcpy(head, key, hl);
  head[hl] = '\0';
  cJSON *o = cJSON_GetObjectItemCaseSensitive(obj, head);
  *tail = dot + 1;
  return cJSON_IsObject(o) ? o : NULL;
}

cJSON *proto_json_path(const cJSON *obj, const char *key) {
  const char *tail;
  cJSON *parent = path_parent(obj, key, &tail);
  return parent ? cJSON_GetObjectItemCaseSensitive(parent, tail) : NULL;
}

bd_status proto_json_tensor_fields(const char *body, size_t len,
                                   const char *const *tensor_keys,
                                   int64_t max_elems, bd_tensor **tensors_out,
                                   cJSON **rest_out) {
  fields f = {.keys = tensor_keys, .max = max_elems, .tensors = tensors_out};
  while (tensor_keys[f.nkeys]) f.nkeys++;
  for (int i = 0; i < f.nkeys; i++) tensors_out[i] = NULL;
  *rest_out = NULL;
  int rc = fields_fast(body ? body : "", body ? len : 0, &f, rest_out);
  if (rc == R_OK) return BD_OK;
  cJSON_Delete(*rest_out);
  *rest_out = NULL;
  for (int i = 0; i < f.nkeys; i++) {
    bd_tensor_release(tensors_out[i]);
    tensors_out[i] = NULL;
  }
  if (rc == R_NOMEM) return bd_fail(BD_ENOMEM, "out of host memory");
  /* The old path: its messages, its order. A tensor that decodes leaves
   * rest; one that does not stays for the route to decode. */
  cJSON *j;
  bd_status s = proto_json_body(body ? body : "", body ? len : 0, false, &j);
  if (s) return s;
  for (int i = 0; i < f.nkeys; i++) {
    cJSON *node = proto_json_path(j, tensor_keys[i]);
    if (!node) continue;
    bd_tensor *t;
    if (proto_tensor_from_json(node, tensor_keys[i], max_elems, &t)) continue;
    tensors_out[i] = t;
    const char *tail;
    cJSON *parent = path_parent(j, tensor_keys[i], &tail);
    cJSON_Delete(cJSON_DetachItemViaPointer(parent, node));
  }
  *rest_out = j;
  return BD_OK;
}

bd_status proto_json_fields_tensor(bd_tensor **fast, const cJSON *rest,
                                   const char *key, int64_t max_elems,
                                   bd_tensor **out) {
  if (fast && *fast) {
    *out = *fast;
    *fast = NULL;
    return BD_OK;
  }
  return proto_tensor_from_json(proto_json_path(rest, key), key, max_elems,
                                out);
}

bd_status proto_tensor_parse(const char *text, size_t len, const char *what,
                             int64_t max_elems, bd_tensor **out) {
  *out = NULL;
  if (!text) text = "";
  rd r = {text, text + len};
  if (len >= 3 && !memcmp(text, "\xef\xbb\xbf", 3)) r.p += 3;
  int rc = rd_tensor(&r, max_elems, out);
  if (rc == R_OK) return BD_OK;
  if (rc == R_NOMEM) return bd_fail(BD_ENOMEM, "out of host memory");
  const char *end = NULL;
  cJSON *j = proto_json_parse(text, len, &end);
  if (!j)
    return bd_fail(BD_EJSON, "malformed JSON near byte %zu",
                   end ? (size_t)(end - text) : (size_t)0);
  bd_status s = proto_tensor_from_json(j, what, max_elems, out);
  cJSON_Delete(j);
  return s;
}
