/* json_tensor.c - the JSON tensor codec. */
#include "json_tensor.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json_parse.h"

/* ---- decoding ------------------------------------------------------- */

typedef struct dec {
  const char *what;
  bd_dtype dt;
  void *data;
  int64_t n, cap;
} dec;

/* An int64 element: read exactly (from the literal text when the number
 * is too long for a double, see proto_json_parse), never through a
 * rounding double. */
static bd_status put_i64(dec *d, const cJSON *v, int64_t idx) {
  int64_t x;
  if (cJSON_IsBool(v)) {
    x = cJSON_IsTrue(v) ? 1 : 0;
  } else if (!cJSON_IsNumber(v)) {
    return bd_fail(BD_EINVAL, "%s: element %lld is not a number", d->what,
                   (long long)idx);
  } else if (!proto_json_int64(v, &x)) {
    double f = v->valuedouble;
    if (f == floor(f))
      return bd_fail(BD_EINVAL,
                     "%s: element %lld is not an integer in the "
                     "int64 range [-9223372036854775808, "
                     "9223372036854775807]",
                     d->what, (long long)idx);
    return bd_fail(BD_EINVAL, "%s: element %lld is not an integer", d->what,
                   (long long)idx);
  }
  ((int64_t *)d->data)[idx] = x;
  return BD_OK;
}

static bd_status put_value(dec *d, const cJSON *v, int64_t idx) {
  double x;
  if (d->dt == BD_I64) return put_i64(d, v, idx);
  if (cJSON_IsNumber(v)) {
    x = v->valuedouble;
  } else if (cJSON_IsString(v)) {
    const char *s = v->valuestring;
    if (strcmp(s, "NaN") == 0 || strcmp(s, "nan") == 0)
      x = NAN;
    else if (strcmp(s, "Infinity") == 0 || strcmp(s, "inf") == 0)
      x = INFINITY;
    else if (strcmp(s, "-Infinity") == 0 || strcmp(s, "-inf") == 0)
      x = -INFINITY;
    else
      return bd_fail(BD_EINVAL,
                     "%s: element %lld is the string '%.40s', "
                     "not a number",
                     d->what, (long long)idx, s);
  } else if (cJSON_IsBool(v)) {
    x = cJSON_IsTrue(v) ? 1 : 0;
  } else {
    return bd_fail(BD_EINVAL, "%s: element %lld is not a number", d->what,
                   (long long)idx);
  }
  switch (d->dt) {
    case BD_F32:
      ((float *)d->data)[idx] = (float)x;
      break;
    case BD_F64:
      ((double *)d->data)[idx] = x;
      break;
    case BD_F16:
      ((uint16_t *)d->data)[idx] = bd_float_to_half((float)x);
      break;
    case BD_BF16:
      ((uint16_t *)d->data)[idx] = bd_float_to_bf16((float)x);
      break;
    default:
      break;
  }
  return BD_OK;
}

/* Infers the shape of nested lists from the first element of each level. */
static bd_status infer_shape(const cJSON *j, const char *what, int *ndim,
                             int64_t *shape) {
  *ndim = 0;
  while (cJSON_IsArray(j)) {
    if (*ndim == BD_MAX_DIMS)
      return bd_fail(BD_EINVAL, "%s: more than %d nested levels", what,
                     BD_MAX_DIMS);
    shape[(*ndim)++] = cJSON_GetArraySize(j);
    j = j->child;
    if (!j) break;
  }
  return BD_OK;
}

static bd_status fill_nested(dec *d, const cJSON *j, int level, int ndim,
                             const int64_t *shape, int64_t *idx) {
  if (level == ndim) {
    if (cJSON_IsArray(j))
      return bd_fail(BD_ESHAPE,
                     "%s: ragged nested lists (too deep at "
                     "element %lld)",
                     d->what, (long long)*idx);
    return put_value(d, j, (*idx)++);
  }
  if (!cJSON_IsArray(j))
    return bd_fail(BD_ESHAPE,
                   "%s: ragged nested lists (expected a list at "
                   "depth %d)",
                   d->what, level);
  int64_t count = 0;
  for (const cJSON *c = j->child; c; c = c->next, count++) {
    if (count >= shape[level]) break;
    bd_status s = fill_nested(d, c, level + 1, ndim, shape, idx);
    if (s) return s;
  }
  if (count != shape[level] || cJSON_GetArraySize(j) != shape[level])
    return bd_fail(BD_ESHAPE,
                   "%s: ragged nested lists (a list of %d where "
                   "%lld was expected at depth %d)",
                   d->what, cJSON_GetArraySize(j), (long long)shape[level],
                   level);
  return BD_OK;
}

/* Splits tensor JSON j into its data (*data), its optional explicit shape
 * (*jshape, NULL when absent) and its dtype (*dt, float32 by default), all
 * borrowed from j: an object {shape, dtype, data} with no other field, or
 * a bare nested list or number that is its own data. */
static bd_status parse_envelope(const cJSON *j, const char *what,
                                const cJSON **data, const cJSON **jshape,
                                bd_dtype *dt) {
  *data = j;
  *jshape = NULL;
  *dt = BD_F32;
  if (!j) return bd_fail(BD_EINVAL, "%s: missing", what);
  if (cJSON_IsObject(j)) {
    *data = cJSON_GetObjectItemCaseSensitive(j, "data");
    *jshape = cJSON_GetObjectItemCaseSensitive(j, "shape");
    const cJSON *jdt = cJSON_GetObjectItemCaseSensitive(j, "dtype");
    if (!*data) return bd_fail(BD_EINVAL, "%s.data: missing", what);
    if (jdt && (!cJSON_IsString(jdt) || !bd_dtype_parse(jdt->valuestring, dt)))
      return bd_fail(BD_EINVAL,
                     "%s.dtype: unknown dtype (use float32, "
                     "float64, float16, bfloat16 or int64)",
                     what);
    for (const cJSON *it = j->child; it; it = it->next)
      if (strcmp(it->string, "data") && strcmp(it->string, "shape") &&
          strcmp(it->string, "dtype"))
        return bd_fail(BD_EINVAL, "%s.%s: unknown field of a tensor", what,
                       it->string);
  } else if (!cJSON_IsArray(j) && !cJSON_IsNumber(j)) {
    return bd_fail(BD_EINVAL,
                   "%s: a tensor is an object {shape, dtype, "
                   "data}, a nested list or a number",
                   what);
  }
  return BD_OK;
}

/* Reads an explicit shape, a list of at most BD_MAX_DIMS non-negative
 * integers, into *ndim and shape. */
static bd_status parse_shape(const cJSON *jshape, const char *what, int *ndim,
                             int64_t *shape) {
  *ndim = 0;
  if (!cJSON_IsArray(jshape))
    return bd_fail(BD_EINVAL, "%s.shape: must be a list of integers", what);
  for (const cJSON *it = jshape->child; it; it = it->next) {
    if (*ndim == BD_MAX_DIMS)
      return bd_fail(BD_EINVAL, "%s.shape: more than %d dimensions", what,
                     BD_MAX_DIMS);
    double v = it->valuedouble;
    if (!cJSON_IsNumber(it) || v != floor(v) || v < 0 || v > 9e15)
      return bd_fail(BD_EINVAL,
                     "%s.shape[%d]: must be a non-negative "
                     "integer",
                     what, *ndim);
    shape[(*ndim)++] = (int64_t)v;
  }
  return BD_OK;
}

/* Settles the tensor's shape: with an explicit one (jshape non-NULL, already
 * in *ndim and shape) checks that data is laid out flat (*flat: a list of
 * scalars, the shape not 1-d) or nests to that shape, or is a single number
 * for shape []; without one, infers the shape from data's nesting. */
static bd_status resolve_shape(const cJSON *data, const cJSON *jshape,
                               const char *what, int *ndim, int64_t *shape,
                               bool *flat) {
  *flat = false;
  if (!jshape) return infer_shape(data, what, ndim, shape);
  if (!cJSON_IsArray(data)) {
    if (*ndim != 0)
      return bd_fail(BD_ESHAPE, "%s: a single number needs shape []", what);
    return BD_OK;
  }
  /* Flat when the data is a list of scalars whose length is numel and
   * the shape is not 1-d (then nested and flat coincide). */
  int dnd;
  int64_t dsh[BD_MAX_DIMS];
  bd_status s = infer_shape(data, what, &dnd, dsh);
  if (s) return s;
  *flat = dnd == 1 && *ndim != 1;
  if (*flat) return BD_OK;
  /* Nesting stops at an empty list: [[], []] is the data of shape
   * [2, 0, 3] as well as of [2, 0] (as our own writer prints it). */
  bool open = dnd > 0 && dnd < *ndim && dsh[dnd - 1] == 0;
  if (dnd != *ndim && !open)
    return bd_fail(BD_ESHAPE,
                   "%s: data nesting %d does not match shape "
                   "rank %d",
                   what, dnd, *ndim);
  for (int i = 0; i < dnd; i++)
    if (dsh[i] != shape[i]) {
      char a[128], b[128];
      return bd_fail(BD_ESHAPE,
                     "%s: data of shape %s does not match "
                     "shape %s",
                     what, bd_shape_str(dnd, dsh, a, sizeof a),
                     bd_shape_str(*ndim, shape, b, sizeof b));
    }
  return BD_OK;
}

/* Stores data's values into d's tensor in row-major order: one by one from
 * a flat list (which must hold no nested list), else by walking the
 * nesting of the given shape. */
static bd_status fill_data(dec *d, const cJSON *data, bool flat, int ndim,
                           const int64_t *shape) {
  bd_status s = BD_OK;
  int64_t idx = 0;
  if (!flat) return fill_nested(d, data, 0, ndim, shape, &idx);
  for (const cJSON *c = data->child; c && !s; c = c->next) {
    if (cJSON_IsArray(c))
      s = bd_fail(BD_ESHAPE, "%s: flat data holds a nested list", d->what);
    else
      s = put_value(d, c, idx++);
  }
  return s;
}

bd_status proto_tensor_from_json(const cJSON *j, const char *what,
                                 int64_t max_elems, bd_tensor **out) {
  if (max_elems <= 0) max_elems = BD_MAX_NUMEL;
  const cJSON *data, *jshape;
  bd_dtype dt;
  bd_status s = parse_envelope(j, what, &data, &jshape, &dt);
  if (s) return s;
  int ndim = 0;
  int64_t shape[BD_MAX_DIMS];
  bool flat;
  if (jshape && (s = parse_shape(jshape, what, &ndim, shape))) return s;
  s = resolve_shape(data, jshape, what, &ndim, shape, &flat);
  if (s) return s;
  int64_t numel;
  s = bd_shape_numel(ndim, shape, &numel);
  if (s) return bd_fail_prefix(s, "%s.shape: ", what);
  /* The span, not numel: printing a [N, 0] tensor back walks N rows. */
  int64_t span = bd_shape_span(ndim, shape);
  if (span > max_elems)
    return bd_fail(BD_ELIMIT, "%s: %lld elements%s exceed the limit of %lld",
                   what, (long long)span,
                   span != numel ? " (counting non-zero dimensions)" : "",
                   (long long)max_elems);
  if (flat && cJSON_GetArraySize(data) != numel) {
    char a[128];
    return bd_fail(BD_ESHAPE,
                   "%s: %d values given for shape %s (%lld "
                   "elements)",
                   what, cJSON_GetArraySize(data),
                   bd_shape_str(ndim, shape, a, sizeof a), (long long)numel);
  }
  bd_tensor *t;
  s = bd_tensor_new(BD_CPU, dt, ndim, shape, &t);
  if (s) return s;
  dec d = {.what = what, .dt = dt, .data = bd_tensor_data(t)};
  s = fill_data(&d, data, flat, ndim, shape);
  if (s) {
    bd_tensor_release(t);
    return s;
  }
  *out = t;
  return BD_OK;
}

/* ---- encoding ------------------------------------------------------- */

/* Prints element i of t at o (room for 32 bytes) without printf; returns
 * the length. */
static int write_elem(char *o, const bd_tensor *t, int64_t i) {
  const void *p = bd_tensor_data(t);
  switch (t->dtype) {
    case BD_F32:
      return proto_fmt_f32(((const float *)p)[i], o, true);
    case BD_F16:
      return proto_fmt_f32(bd_half_to_float(((const uint16_t *)p)[i]), o, true);
    case BD_BF16:
      return proto_fmt_f32(bd_bf16_to_float(((const uint16_t *)p)[i]), o, true);
    case BD_F64:
      return proto_fmt_f64(((const double *)p)[i], o, true);
    case BD_I64:
      return proto_fmt_i64(((const int64_t *)p)[i], o);
    default:
      memcpy(o, "null", 4);
      return 4;
  }
}

/* An element with its leading comma (when comma) straight into b. */
static void put_elem(proto_buf *b, const bd_tensor *t, int64_t i, bool comma) {
  char *o = proto_buf_reserve(b, 40);
  if (!o) return;
  size_t n = 0;
  if (comma) o[n++] = ',';
  n += (size_t)write_elem(o + n, t, i);
  proto_buf_commit(b, n);
}

static void write_nested(proto_buf *b, const bd_tensor *t, int level,
                         int64_t *idx) {
  if (level == t->ndim) {
    put_elem(b, t, (*idx)++, false);
    return;
  }
  proto_buf_put(b, "[", 1);
  int64_t n = t->shape[level];
  if (level + 1 == t->ndim) { /* the innermost lists: a tight loop */
    for (int64_t i = 0; i < n; i++) put_elem(b, t, (*idx)++, i > 0);
  } else {
    for (int64_t i = 0; i < n; i++) {
      if (i) proto_buf_put(b, ",", 1);
      write_nested(b, t, level + 1, idx);
    }
  }
  proto_buf_put(b, "]", 1);
}

void proto_tensor_write_data(proto_buf *b, const bd_tensor *t, bool flat) {
  if (flat) {
    int64_t n = bd_tensor_numel(t);
    proto_buf_put(b, "[", 1);
    for (int64_t i = 0; i < n; i++) put_elem(b, t, i, i > 0);
    proto_buf_put(b, "]", 1);
  } else {
    int64_t idx = 0;
    write_nested(b, t, 0, &idx);
  }
}

void proto_shape_write(proto_buf *b, int ndim, const int64_t *shape) {
  char sh[BD_MAX_DIMS * 24 + 8];
  size_t off = 0;
  sh[off++] = '[';
  for (int i = 0; i < ndim; i++) {
    if (i) sh[off++] = ',';
    off += (size_t)proto_fmt_i64(shape[i], sh + off);
  }
  sh[off++] = ']';
  proto_buf_put(b, sh, off);
}

void proto_tensor_write(proto_buf *b, const bd_tensor *t, bool flat) {
  proto_buf_puts(b, "{\"shape\":");
  proto_shape_write(b, t->ndim, t->shape);
  proto_buf_puts(b, ",\"dtype\":\"");
  proto_buf_puts(b, bd_dtype_name(t->dtype));
  proto_buf_puts(b, "\",\"data\":");
  proto_tensor_write_data(b, t, flat);
  proto_buf_put(b, "}", 1);
}

int64_t proto_tensor_json_bound(bd_dtype dt, int ndim, const int64_t *shape) {
  /* Longest element plus its comma: proto_fmt_f32 prints at most 15
   * characters ("-1.17549435e-38"; "\"-Infinity\"" is 11), %.17g 24
   * ("-2.2250738585072014e-308"), an int64 20. */
  int64_t per = dt == BD_F64 ? 25 : dt == BD_I64 ? 21 : 16;
  /* {"shape":[...],"dtype":"bfloat16","data":} and the shape's numbers. */
  int64_t total = 48 + 21 * (int64_t)ndim;
  /* Level l prints prod(shape[0..l)) lists: brackets and a comma each. */
  int64_t lists = 1;
  for (int l = 0; l < ndim; l++) {
    if (lists > INT64_MAX / 4 - total) return INT64_MAX;
    total += 3 * lists;
    if (shape[l] != 0 && lists > INT64_MAX / 4 / shape[l]) return INT64_MAX;
    lists *= shape[l];
  }
  /* lists is now the element count (the span walked when printing). */
  if (lists > (INT64_MAX / 2 - total) / per) return INT64_MAX;
  return total + per * lists;
}

cJSON *proto_tensor_to_cjson(const bd_tensor *t, bool flat) {
  proto_buf b = {0};
  proto_tensor_write(&b, t, flat);
  char *s = proto_buf_take(&b, NULL);
  if (!s) return NULL;
  cJSON *r = cJSON_CreateRaw(s);
  free(s);
  return r;
}
