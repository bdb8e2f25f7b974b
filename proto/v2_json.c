/* v2_json.c - KServe Open Inference Protocol v2: infer requests (JSON and
 * binary tensor data), responses, metadata and the error body. */
#include "v2_json.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../engine/names.h"
#include "json_parse.h"
#include "json_tensor.h"

/* Binary tensor data is little-endian; engine tensors are stored in host
 * order, so native element types are copied as they are (as npy.c and
 * safetensors.c do). A big-endian port would swap here. */
_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
               "v2 binary tensors are copied as host-order bytes");

/* ---- datatypes ------------------------------------------------------ */

typedef enum v2_kind {
  V2_NATIVE, /* the engine stores it as it is */
  V2_SINT,   /* a signed integer widened to int64 */
  V2_UINT,   /* an unsigned integer widened to int64 */
  V2_BOOL,   /* one byte, 0 or 1, widened to int64 */
} v2_kind;

typedef struct v2_dtype {
  const char *name;
  int size;    /* bytes per element in the binary form */
  bd_dtype dt; /* the engine dtype its values are decoded into */
  v2_kind kind;
  int64_t lo, hi; /* value range of the integer kinds */
} v2_dtype;

static const v2_dtype v2_dtypes[] = {
    {"FP32", 4, BD_F32, V2_NATIVE, 0, 0},
    {"FP64", 8, BD_F64, V2_NATIVE, 0, 0},
    {"FP16", 2, BD_F16, V2_NATIVE, 0, 0},
    {"BF16", 2, BD_BF16, V2_NATIVE, 0, 0},
    {"INT64", 8, BD_I64, V2_NATIVE, INT64_MIN, INT64_MAX},
    {"INT32", 4, BD_I64, V2_SINT, INT32_MIN, INT32_MAX},
    {"INT16", 2, BD_I64, V2_SINT, INT16_MIN, INT16_MAX},
    {"INT8", 1, BD_I64, V2_SINT, INT8_MIN, INT8_MAX},
    {"UINT64", 8, BD_I64, V2_UINT, 0, INT64_MAX},
    {"UINT32", 4, BD_I64, V2_UINT, 0, UINT32_MAX},
    {"UINT16", 2, BD_I64, V2_UINT, 0, UINT16_MAX},
    {"UINT8", 1, BD_I64, V2_UINT, 0, UINT8_MAX},
    {"BOOL", 1, BD_I64, V2_BOOL, 0, 1},
};
#define N_V2_DTYPES (sizeof v2_dtypes / sizeof v2_dtypes[0])

static const v2_dtype *v2_dtype_find(const char *name) {
  for (size_t i = 0; i < N_V2_DTYPES; i++)
    if (strcmp(v2_dtypes[i].name, name) == 0) return &v2_dtypes[i];
  return NULL;
}

const char *proto_v2_datatype(bd_dtype dt) {
  for (size_t i = 0; i < N_V2_DTYPES; i++)
    if (v2_dtypes[i].kind == V2_NATIVE && v2_dtypes[i].dt == dt)
      return v2_dtypes[i].name;
  return NULL;
}

/* ---- request -------------------------------------------------------- */

static bool is_ws(char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

void proto_v2_request_clear(proto_v2_request *req) {
  for (int i = 0; i < req->ninputs; i++) {
    free(req->inputs[i].name);
    bd_tensor_release(req->inputs[i].t);
  }
  for (int i = 0; i < req->noutputs; i++) free(req->outputs[i].name);
  free(req->inputs);
  free(req->outputs);
  free(req->id);
  memset(req, 0, sizeof *req);
}

/* Refuses the first key of object j not in the NULL-terminated list ok. */
static bd_status check_keys(const cJSON *j, const char *where,
                            const char *const *ok) {
  for (const cJSON *it = j->child; it; it = it->next) {
    bool known = false;
    for (const char *const *k = ok; *k && !known; k++)
      known = strcmp(*k, it->string) == 0;
    if (!known)
      return bd_fail(BD_EINVAL, "%sunknown field '%.64s'", where, it->string);
  }
  return BD_OK;
}

/* Reads "parameters" (absent or an object) of an input, an output or the
 * request: the borrowed object, or NULL when absent. */
static bd_status get_params(const cJSON *j, const char *what,
                            const cJSON **out) {
  *out = cJSON_GetObjectItemCaseSensitive(j, "parameters");
  if (*out && !cJSON_IsObject(*out))
    return bd_fail(BD_EINVAL, "%sparameters: must be an object", what);
  return BD_OK;
}

/* A boolean parameter: 1 or 0, or -1 when params lacks it. */
static bd_status get_bool_param(const cJSON *params, const char *key,
                                const char *what, int *out) {
  const cJSON *v = params ? cJSON_GetObjectItemCaseSensitive(params, key) : 0;
  *out = -1;
  if (!v) return BD_OK;
  if (!cJSON_IsBool(v))
    return bd_fail(BD_EINVAL, "%sparameters.%s: must be true or false", what,
                   key);
  *out = cJSON_IsTrue(v) ? 1 : 0;
  return BD_OK;
}

/* Reads a v2 shape: a list of at most BD_MAX_DIMS non-negative integers. */
static bd_status parse_shape(const cJSON *j, const char *what, int *ndim,
                             int64_t *shape) {
  *ndim = 0;
  if (!j) return bd_fail(BD_EINVAL, "%s.shape: missing", what);
  if (!cJSON_IsArray(j))
    return bd_fail(BD_EINVAL, "%s.shape: must be a list of integers", what);
  for (const cJSON *it = j->child; it; it = it->next) {
    if (*ndim == BD_MAX_DIMS)
      return bd_fail(BD_EINVAL, "%s.shape: more than %d dimensions", what,
                     BD_MAX_DIMS);
    int64_t v;
    if (!cJSON_IsNumber(it) || !proto_json_int64(it, &v) || v < 0)
      return bd_fail(BD_EINVAL, "%s.shape[%d]: must be a non-negative integer",
                     what, *ndim);
    shape[(*ndim)++] = v;
  }
  return BD_OK;
}

/* Checks that every value of an int64 tensor decoded for vt lies in vt's
 * range (a JSON 300 for INT8 is an error, not a wrap). */
static bd_status check_range(const v2_dtype *vt, const bd_tensor *t,
                             const char *what) {
  if (vt->kind == V2_NATIVE) return BD_OK;
  const int64_t *p = bd_tensor_data(t);
  int64_t n = bd_tensor_numel(t);
  for (int64_t i = 0; i < n; i++)
    if (p[i] < vt->lo || p[i] > vt->hi)
      return bd_fail(BD_EINVAL,
                     "%s: element %lld (%lld) is outside the range of %s "
                     "[%lld, %lld]",
                     what, (long long)i, (long long)p[i], vt->name,
                     (long long)vt->lo, (long long)vt->hi);
  return BD_OK;
}

/* Decodes JSON data of the given shape through blockd's own JSON tensor
 * reader (flat or nested lists, exact int64, "NaN"/"Infinity"), in the
 * engine dtype vt decodes into. */
static bd_status decode_json(const v2_dtype *vt, const cJSON *jshape,
                             const cJSON *data, const char *what,
                             int64_t max_elems, bd_tensor **out) {
  cJSON *w = cJSON_CreateObject();
  bool ok = w && cJSON_AddItemReferenceToObject(w, "shape", (cJSON *)jshape) &&
            cJSON_AddStringToObject(w, "dtype", bd_dtype_name(vt->dt)) &&
            cJSON_AddItemReferenceToObject(w, "data", (cJSON *)data);
  bd_status s = ok ? proto_tensor_from_json(w, what, max_elems, out)
                   : bd_fail(BD_ENOMEM, "out of host memory");
  cJSON_Delete(w);
  if (!s && (s = check_range(vt, *out, what))) {
    bd_tensor_release(*out);
    *out = NULL;
  }
  return s;
}

/* A little-endian unsigned integer of n bytes. */
static uint64_t read_le(const unsigned char *p, int n) {
  uint64_t v = 0;
  for (int i = n - 1; i >= 0; i--) v = (v << 8) | p[i];
  return v;
}

/* Checks a shape against max_elems and stores its element count. */
static bd_status count_elems(int ndim, const int64_t *shape, const char *what,
                             int64_t max_elems, int64_t *numel) {
  bd_status s = bd_shape_numel(ndim, shape, numel);
  if (s) return bd_fail_prefix(s, "%s.shape: ", what);
  int64_t span = bd_shape_span(ndim, shape);
  if (span > (max_elems > 0 ? max_elems : BD_MAX_NUMEL))
    return bd_fail(BD_ELIMIT, "%s: %lld elements%s exceed the limit of %lld",
                   what, (long long)span,
                   span != *numel ? " (counting non-zero dimensions)" : "",
                   (long long)(max_elems > 0 ? max_elems : BD_MAX_NUMEL));
  return BD_OK;
}

/* Decodes numel elements of vt from p (exactly numel * vt->size bytes). */
static bd_status decode_binary(const v2_dtype *vt, int ndim,
                               const int64_t *shape, int64_t numel,
                               const unsigned char *p, const char *what,
                               bd_tensor **out) {
  bd_tensor *t;
  bd_status s = bd_tensor_new(BD_CPU, vt->dt, ndim, shape, &t);
  if (s) return s;
  if (vt->kind == V2_NATIVE) {
    if (numel) memcpy(bd_tensor_data(t), p, (size_t)numel * (size_t)vt->size);
    *out = t;
    return BD_OK;
  }
  int64_t *d = bd_tensor_data(t);
  int bits = vt->size * 8;
  for (int64_t i = 0; i < numel; i++) {
    uint64_t u = read_le(p + i * vt->size, vt->size);
    int64_t v;
    if (vt->kind == V2_SINT && bits < 64 && (u >> (bits - 1)) & 1)
      v = (int64_t)(u | (~(uint64_t)0 << bits)); /* sign-extend */
    else
      v = (int64_t)u;
    if (vt->kind != V2_SINT && u > (uint64_t)vt->hi) {
      bd_tensor_release(t);
      if (vt->kind == V2_BOOL)
        return bd_fail(BD_EINVAL,
                       "%s: element %lld is the byte %llu, not a "
                       "BOOL (0 or 1)",
                       what, (long long)i, (unsigned long long)u);
      return bd_fail(BD_EINVAL,
                     "%s: element %lld (%llu) is past the int64 range "
                     "blockd computes in",
                     what, (long long)i, (unsigned long long)u);
    }
    d[i] = v;
  }
  *out = t;
  return BD_OK;
}

/* The binary section of a request body while inputs take their bytes. */
typedef struct bin_cursor {
  const unsigned char *p;
  size_t left;
  bool allowed; /* false: no Inference-Header-Content-Length was sent */
} bin_cursor;

static bd_status parse_input(const cJSON *j, int i, bin_cursor *bin,
                             int64_t max_elems, proto_v2_input *in) {
  static const char *const keys[] = {"name", "shape",      "datatype",
                                     "data", "parameters", NULL};
  char what[48], where[56];
  snprintf(what, sizeof what, "inputs[%d]", i);
  snprintf(where, sizeof where, "%s.", what);
  if (!cJSON_IsObject(j))
    return bd_fail(BD_EINVAL, "%s: must be an object", what);
  bd_status s = check_keys(j, where, keys);
  if (s) return s;
  const cJSON *name = cJSON_GetObjectItemCaseSensitive(j, "name");
  const cJSON *jshape = cJSON_GetObjectItemCaseSensitive(j, "shape");
  const cJSON *jdt = cJSON_GetObjectItemCaseSensitive(j, "datatype");
  const cJSON *data = cJSON_GetObjectItemCaseSensitive(j, "data");
  const cJSON *params;
  if (!cJSON_IsString(name))
    return bd_fail(BD_EINVAL, "%s.name: %s", what,
                   name ? "must be a string" : "missing");
  in->name = strdup(name->valuestring);
  if (!in->name) return bd_fail(BD_ENOMEM, "out of host memory");
  if (!cJSON_IsString(jdt))
    return bd_fail(BD_EINVAL, "%s.datatype: %s", what,
                   jdt ? "must be a string" : "missing");
  const v2_dtype *vt = v2_dtype_find(jdt->valuestring);
  if (!vt) {
    if (strcmp(jdt->valuestring, "BYTES") == 0)
      return bd_fail(BD_EUNSUPPORTED,
                     "%s.datatype: BYTES is not supported (blockd models "
                     "take numeric tensors)",
                     what);
    return bd_fail(BD_EINVAL,
                   "%s.datatype: unknown datatype '%.32s' (use FP32, FP64, "
                   "FP16, BF16, INT64, INT32, INT16, INT8, UINT64, UINT32, "
                   "UINT16, UINT8 or BOOL)",
                   what, jdt->valuestring);
  }
  snprintf(in->datatype, sizeof in->datatype, "%s", vt->name);
  int ndim;
  int64_t shape[BD_MAX_DIMS];
  if ((s = parse_shape(jshape, what, &ndim, shape))) return s;
  if ((s = get_params(j, where, &params))) return s;
  const cJSON *jsize =
      params ? cJSON_GetObjectItemCaseSensitive(params, "binary_data_size")
             : NULL;
  if (!jsize) {
    if (!data)
      return bd_fail(BD_EINVAL,
                     "%s: give data, or parameters.binary_data_size with "
                     "the tensor's bytes after the JSON header",
                     what);
    return decode_json(vt, jshape, data, what, max_elems, &in->t);
  }
  int64_t size;
  if (!cJSON_IsNumber(jsize) || !proto_json_int64(jsize, &size) || size < 0)
    return bd_fail(BD_EINVAL,
                   "%s.parameters.binary_data_size: must be a non-negative "
                   "integer",
                   what);
  if (data)
    return bd_fail(BD_EINVAL,
                   "%s: give data or parameters.binary_data_size, not both",
                   what);
  if (!bin->allowed)
    return bd_fail(BD_EINVAL,
                   "%s.parameters.binary_data_size: binary tensor data needs "
                   "the Inference-Header-Content-Length header (the length "
                   "of the JSON part of the body)",
                   what);
  int64_t numel;
  if ((s = count_elems(ndim, shape, what, max_elems, &numel))) return s;
  char sh[128];
  if (numel > INT64_MAX / vt->size || size != numel * vt->size)
    return bd_fail(BD_EINVAL,
                   "%s.parameters.binary_data_size: %lld bytes, but shape "
                   "%s of %s needs %lld",
                   what, (long long)size,
                   bd_shape_str(ndim, shape, sh, sizeof sh), vt->name,
                   (long long)(numel * vt->size));
  if ((uint64_t)size > bin->left)
    return bd_fail(BD_EINVAL,
                   "%s.parameters.binary_data_size: %lld bytes, but only "
                   "%zu bytes of binary data are left in the body",
                   what, (long long)size, bin->left);
  s = decode_binary(vt, ndim, shape, numel, bin->p, what, &in->t);
  if (s) return s;
  bin->p += size;
  bin->left -= (size_t)size;
  in->binary = true;
  return BD_OK;
}

static bd_status parse_output(const cJSON *j, int i, proto_v2_output_req *o) {
  static const char *const keys[] = {"name", "parameters", NULL};
  char what[48], where[56];
  snprintf(what, sizeof what, "outputs[%d]", i);
  snprintf(where, sizeof where, "%s.", what);
  if (!cJSON_IsObject(j))
    return bd_fail(BD_EINVAL, "%s: must be an object", what);
  bd_status s = check_keys(j, where, keys);
  if (s) return s;
  const cJSON *name = cJSON_GetObjectItemCaseSensitive(j, "name");
  if (!cJSON_IsString(name))
    return bd_fail(BD_EINVAL, "%s.name: %s", what,
                   name ? "must be a string" : "missing");
  o->name = strdup(name->valuestring);
  if (!o->name) return bd_fail(BD_ENOMEM, "out of host memory");
  const cJSON *params;
  if ((s = get_params(j, where, &params))) return s;
  return get_bool_param(params, "binary_data", where, &o->binary);
}

/* The raw binary form: the body is one FP32 tensor, batch 1. */
static bd_status parse_raw(const char *body, size_t len, int64_t max_elems,
                           proto_v2_request *req) {
  if (len == 0 || len % 4)
    return bd_fail(BD_EINVAL,
                   "Inference-Header-Content-Length: 0 (a raw binary "
                   "request) needs a body of FP32 values, a non-zero "
                   "multiple of 4 bytes; got %zu",
                   len);
  int64_t shape[2] = {1, (int64_t)(len / 4)}, numel;
  bd_status s =
      count_elems(2, shape, "the raw binary input", max_elems, &numel);
  if (s) return s;
  req->inputs = calloc(1, sizeof *req->inputs);
  if (!req->inputs) return bd_fail(BD_ENOMEM, "out of host memory");
  req->ninputs = 1;
  proto_v2_input *in = &req->inputs[0];
  in->name = strdup(PROTO_V2_INPUT);
  if (!in->name) return bd_fail(BD_ENOMEM, "out of host memory");
  snprintf(in->datatype, sizeof in->datatype, "FP32");
  in->binary = true;
  req->raw = true;
  req->binary_output = true;
  return decode_binary(&v2_dtypes[0], 2, shape, numel,
                       (const unsigned char *)body, "the raw binary input",
                       &in->t);
}

/* Parses the JSON document j (the header) and takes binary inputs from
 * bin. */
static bd_status parse_doc(const cJSON *j, bin_cursor *bin, int64_t max_elems,
                           proto_v2_request *req) {
  static const char *const keys[] = {"id", "parameters", "inputs", "outputs",
                                     NULL};
  if (!cJSON_IsObject(j))
    return bd_fail(BD_EINVAL, "the infer request must be a JSON object");
  bd_status s = check_keys(j, "", keys);
  if (s) return s;
  const cJSON *id = cJSON_GetObjectItemCaseSensitive(j, "id");
  if (id) {
    if (!cJSON_IsString(id)) return bd_fail(BD_EINVAL, "id: must be a string");
    if (!(req->id = strdup(id->valuestring)))
      return bd_fail(BD_ENOMEM, "out of host memory");
  }
  const cJSON *params;
  if ((s = get_params(j, "", &params))) return s;
  int bo;
  if ((s = get_bool_param(params, "binary_data_output", "", &bo))) return s;
  req->binary_output = bo == 1;
  const cJSON *inputs = cJSON_GetObjectItemCaseSensitive(j, "inputs");
  if (!cJSON_IsArray(inputs) || !inputs->child)
    return bd_fail(BD_EINVAL, "inputs: %s",
                   !inputs                 ? "missing"
                   : cJSON_IsArray(inputs) ? "must hold at least one input"
                                           : "must be a list of tensors");
  int n = cJSON_GetArraySize(inputs);
  req->inputs = calloc((size_t)n, sizeof *req->inputs);
  if (!req->inputs) return bd_fail(BD_ENOMEM, "out of host memory");
  for (const cJSON *it = inputs->child; it; it = it->next) {
    s = parse_input(it, req->ninputs, bin, max_elems,
                    &req->inputs[req->ninputs]);
    req->ninputs++;
    if (s) return s;
  }
  if (bin->left)
    return bd_fail(BD_EINVAL,
                   "%zu bytes of binary data follow the JSON header but the "
                   "inputs' binary_data_size take none of them",
                   bin->left);
  const cJSON *outputs = cJSON_GetObjectItemCaseSensitive(j, "outputs");
  if (!outputs) return BD_OK;
  if (!cJSON_IsArray(outputs))
    return bd_fail(BD_EINVAL, "outputs: must be a list");
  req->outputs_given = true;
  n = cJSON_GetArraySize(outputs);
  if (!n) return BD_OK;
  req->outputs = calloc((size_t)n, sizeof *req->outputs);
  if (!req->outputs) return bd_fail(BD_ENOMEM, "out of host memory");
  for (const cJSON *it = outputs->child; it; it = it->next) {
    s = parse_output(it, req->noutputs, &req->outputs[req->noutputs]);
    req->noutputs++;
    if (s) return s;
  }
  return BD_OK;
}

bd_status proto_v2_infer_parse(const char *body, size_t len, int64_t header_len,
                               int64_t max_elems, proto_v2_request *req) {
  memset(req, 0, sizeof *req);
  if (header_len == 0) return parse_raw(body, len, max_elems, req);
  size_t jlen = len;
  bin_cursor bin = {0};
  if (header_len > 0) {
    if ((uint64_t)header_len > len)
      return bd_fail(BD_EINVAL,
                     "Inference-Header-Content-Length is %lld but the body "
                     "holds only %zu bytes",
                     (long long)header_len, len);
    jlen = (size_t)header_len;
    bin = (bin_cursor){(const unsigned char *)body + jlen, len - jlen, true};
  }
  size_t i = 0;
  while (i < jlen && is_ws(body[i])) i++;
  if (i == jlen)
    return bd_fail(BD_EJSON, "the infer request needs a JSON body");
  const char *end = NULL;
  cJSON *j = proto_json_parse(body, jlen, &end);
  if (!j)
    return bd_fail(BD_EJSON, "malformed JSON near byte %zu",
                   end ? (size_t)(end - body) : (size_t)0);
  for (size_t k = (size_t)(end - body); k < jlen; k++)
    if (!is_ws(body[k])) {
      cJSON_Delete(j);
      return bd_fail(BD_EJSON,
                     "trailing data after the JSON document at byte %zu%s", k,
                     header_len < 0 ? " (binary tensor data needs the "
                                      "Inference-Header-Content-Length "
                                      "header)"
                                    : "");
    }
  /* JSON is UTF-8: names from the body are echoed in replies. */
  if (!bd_utf8_valid(body, jlen)) {
    cJSON_Delete(j);
    return bd_fail(BD_EINVAL, "the JSON header is not valid UTF-8");
  }
  bd_status s = parse_doc(j, &bin, max_elems, req);
  cJSON_Delete(j);
  return s;
}

/* ---- response ------------------------------------------------------- */

void proto_v2_infer_response(proto_buf *b, const char *model,
                             const char *version, const char *id,
                             const proto_v2_output *outs, int n,
                             size_t *json_len) {
  size_t start = b->len;
  proto_buf_puts(b, "{\"model_name\":");
  proto_buf_json_str(b, model);
  if (version) {
    proto_buf_puts(b, ",\"model_version\":");
    proto_buf_json_str(b, version);
  }
  if (id) {
    proto_buf_puts(b, ",\"id\":");
    proto_buf_json_str(b, id);
  }
  proto_buf_puts(b, ",\"outputs\":[");
  for (int i = 0; i < n; i++) {
    const bd_tensor *t = outs[i].t;
    proto_buf_puts(b, i ? ",{\"name\":" : "{\"name\":");
    proto_buf_json_str(b, outs[i].name);
    proto_buf_printf(
        b, ",\"datatype\":\"%s\",\"shape\":", proto_v2_datatype(t->dtype));
    proto_shape_write(b, t->ndim, t->shape);
    if (outs[i].binary) {
      proto_buf_printf(b, ",\"parameters\":{\"binary_data_size\":%zu}}",
                       bd_tensor_nbytes(t));
    } else {
      proto_buf_puts(b, ",\"data\":");
      proto_tensor_write_data(b, t, true);
      proto_buf_puts(b, "}");
    }
  }
  proto_buf_puts(b, "]}");
  *json_len = b->len - start;
  for (int i = 0; i < n; i++)
    if (outs[i].binary)
      proto_buf_put(b, bd_tensor_data(outs[i].t), bd_tensor_nbytes(outs[i].t));
}

int64_t proto_v2_response_json_bound(const proto_v2_output *outs, int n) {
  int64_t total = 256;
  for (int i = 0; i < n; i++) {
    if (outs[i].binary) continue;
    int64_t t = proto_tensor_json_bound(outs[i].t->dtype, outs[i].t->ndim,
                                        outs[i].t->shape);
    total = t > INT64_MAX - total ? INT64_MAX : total + t;
  }
  return total;
}

/* ---- metadata ------------------------------------------------------- */

void proto_v2_server_metadata(proto_buf *b, const char *name,
                              const char *version,
                              const char *const *extensions) {
  proto_buf_puts(b, "{\"name\":");
  proto_buf_json_str(b, name);
  proto_buf_puts(b, ",\"version\":");
  proto_buf_json_str(b, version);
  proto_buf_puts(b, ",\"extensions\":[");
  for (int i = 0; extensions && extensions[i]; i++) {
    if (i) proto_buf_puts(b, ",");
    proto_buf_json_str(b, extensions[i]);
  }
  proto_buf_puts(b, "]}");
}

/* What flows along the last dim while walking a spec: a size >= 1, or
 * one of these. */
enum { FLOW_UNKNOWN = -1, FLOW_INPUT = -2 };

typedef struct spec_walk {
  const cJSON *root;
  int64_t need; /* the input's last dim the first fixing block wants */
  int budget;   /* nodes left to visit: refs can make the walk exponential */
} spec_walk;

/* The block of the tree carrying tie id `id`, or NULL. */
static const cJSON *find_id(spec_walk *w, const cJSON *j, const char *id) {
  if (--w->budget < 0) return NULL;
  if (cJSON_IsObject(j)) {
    const cJSON *jid = cJSON_GetObjectItemCaseSensitive(j, "id");
    if (cJSON_IsString(jid) && strcmp(jid->valuestring, id) == 0 &&
        cJSON_GetObjectItemCaseSensitive(j, "type"))
      return j;
  }
  if (!cJSON_IsObject(j) && !cJSON_IsArray(j)) return NULL;
  for (const cJSON *c = j->child; c; c = c->next) {
    const cJSON *hit = find_id(w, c, id);
    if (hit) return hit;
  }
  return NULL;
}

static int64_t int_field(const cJSON *b, const char *key) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(b, key);
  return cJSON_IsNumber(v) && v->valuedouble >= 1 ? (int64_t)v->valuedouble
                                                  : FLOW_UNKNOWN;
}

/* A block that wants k input features: when its input is still the
 * model's input, that fixes the model's input size. */
static int64_t want_features(spec_walk *w, int64_t f, int64_t k, int64_t out) {
  if (f == FLOW_INPUT && w->need < 0) w->need = k;
  return out;
}

static int64_t flow(spec_walk *w, const cJSON *b, int64_t f) {
  static const char *const same_shape[] = {
      "relu", "sigmoid", "tanh",     "gelu",    "dropout", "identity",
      "add",  "scale",   "centered", "softmax", NULL};
  if (f == FLOW_INPUT && w->need > 0) f = w->need;
  if (--w->budget < 0 || !cJSON_IsObject(b)) return FLOW_UNKNOWN;
  const cJSON *ref = cJSON_GetObjectItemCaseSensitive(b, "ref");
  if (cJSON_IsString(ref)) {
    const cJSON *target = find_id(w, w->root, ref->valuestring);
    return target ? flow(w, target, f) : FLOW_UNKNOWN;
  }
  const cJSON *jt = cJSON_GetObjectItemCaseSensitive(b, "type");
  if (!cJSON_IsString(jt)) return FLOW_UNKNOWN;
  const char *type = jt->valuestring;
  for (const char *const *t = same_shape; *t; t++)
    if (strcmp(type, *t) == 0) return f;
  if (strcmp(type, "linear") == 0)
    return want_features(w, f, int_field(b, "in_features"),
                         int_field(b, "out_features"));
  if (strcmp(type, "matmul") == 0) {
    const cJSON *wt = cJSON_GetObjectItemCaseSensitive(b, "weight");
    const cJSON *sh = wt ? cJSON_GetObjectItemCaseSensitive(wt, "shape") : 0;
    if (cJSON_GetArraySize(sh) != 2) return FLOW_UNKNOWN;
    const cJSON *k = cJSON_GetArrayItem(sh, 0), *n = cJSON_GetArrayItem(sh, 1);
    return want_features(w, f, (int64_t)k->valuedouble,
                         (int64_t)n->valuedouble);
  }
  if (strcmp(type, "sequential") == 0) {
    const cJSON *layers = cJSON_GetObjectItemCaseSensitive(b, "layers");
    for (const cJSON *l = cJSON_IsArray(layers) ? layers->child : NULL; l;
         l = l->next)
      f = flow(w, l, f);
    return f;
  }
  if (strcmp(type, "residual") == 0) {
    flow(w, cJSON_GetObjectItemCaseSensitive(b, "body"), f);
    return f; /* body(x) + x has x's shape */
  }
  if (strcmp(type, "while") == 0) {
    int64_t o = flow(w, cJSON_GetObjectItemCaseSensitive(b, "body"), f);
    return o == f ? f : FLOW_UNKNOWN;
  }
  if (strcmp(type, "parallel") == 0) {
    const cJSON *br = cJSON_GetObjectItemCaseSensitive(b, "branches");
    const cJSON *comb = cJSON_GetObjectItemCaseSensitive(b, "combine");
    bool concat = !cJSON_IsString(comb) || strcmp(comb->valuestring, "add");
    int64_t sum = 0, any = FLOW_UNKNOWN;
    bool all_known = true;
    for (const cJSON *c = cJSON_IsArray(br) ? br->child : NULL; c;
         c = c->next) {
      int64_t o = flow(w, c, f);
      if (o >= 1) {
        any = o;
        sum = sum > INT64_MAX - o ? INT64_MAX : sum + o;
      } else {
        all_known = false;
      }
    }
    if (concat) return all_known && sum > 0 ? sum : FLOW_UNKNOWN;
    return any;
  }
  return FLOW_UNKNOWN; /* flatten, sum, mean, plugin types */
}

void proto_v2_spec_features(const cJSON *spec, int64_t *in_features,
                            int64_t *out_features) {
  spec_walk w = {.root = spec, .need = -1, .budget = 100000};
  int64_t out = spec ? flow(&w, spec, FLOW_INPUT) : FLOW_UNKNOWN;
  if (out == FLOW_INPUT) out = w.need;
  *in_features = w.need > 0 ? w.need : -1;
  *out_features = out > 0 ? out : -1;
}

static void write_sig(proto_buf *b, const char *name, bd_dtype dt,
                      int64_t features) {
  proto_buf_puts(b, "[{\"name\":");
  proto_buf_json_str(b, name);
  proto_buf_printf(b, ",\"datatype\":\"%s\",\"shape\":[-1,%lld]}]",
                   proto_v2_datatype(dt),
                   (long long)(features > 0 ? features : -1));
}

void proto_v2_model_metadata(proto_buf *b, const char *name,
                             const char *version, const char *platform,
                             bd_dtype in_dt, int64_t in_features,
                             bd_dtype out_dt, int64_t out_features) {
  proto_buf_puts(b, "{\"name\":");
  proto_buf_json_str(b, name);
  proto_buf_puts(b, ",\"versions\":[");
  proto_buf_json_str(b, version);
  proto_buf_puts(b, "],\"platform\":");
  proto_buf_json_str(b, platform);
  proto_buf_puts(b, ",\"inputs\":");
  write_sig(b, PROTO_V2_INPUT, in_dt, in_features);
  proto_buf_puts(b, ",\"outputs\":");
  write_sig(b, PROTO_V2_OUTPUT, out_dt, out_features);
  proto_buf_puts(b, "}");
}

void proto_v2_error(proto_buf *b, const char *msg) {
  proto_buf_puts(b, "{\"error\":");
  proto_buf_json_str(b, msg);
  proto_buf_puts(b, "}");
}
