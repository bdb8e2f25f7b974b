/* tensor.c - tensors and storages. */
#include "tensor.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "panic.h"

const bd_device BD_CPU = {BD_DEV_CPU, 0};

static const struct {
  const char *name;
  size_t size;
} bd__dtypes[BD_DTYPE_COUNT] = {
    [BD_F32] = {"float32", 4}, [BD_F64] = {"float64", 8},
    [BD_F16] = {"float16", 2}, [BD_BF16] = {"bfloat16", 2},
    [BD_I64] = {"int64", 8},
};

size_t bd_dtype_size(bd_dtype dt) {
  return (unsigned)dt < BD_DTYPE_COUNT ? bd__dtypes[dt].size : 0;
}

const char *bd_dtype_name(bd_dtype dt) {
  return (unsigned)dt < BD_DTYPE_COUNT ? bd__dtypes[dt].name : NULL;
}

bool bd_dtype_parse(const char *s, bd_dtype *out) {
  static const struct {
    const char *s;
    bd_dtype dt;
  } alias[] = {{"float32", BD_F32},   {"float", BD_F32},   {"f32", BD_F32},
               {"FP32", BD_F32},      {"float64", BD_F64}, {"double", BD_F64},
               {"f64", BD_F64},       {"FP64", BD_F64},    {"float16", BD_F16},
               {"half", BD_F16},      {"f16", BD_F16},     {"FP16", BD_F16},
               {"bfloat16", BD_BF16}, {"bf16", BD_BF16},   {"BF16", BD_BF16},
               {"int64", BD_I64},     {"long", BD_I64},    {"i64", BD_I64},
               {"INT64", BD_I64}};
  if (!s) return false;
  for (size_t i = 0; i < sizeof alias / sizeof alias[0]; i++)
    if (strcmp(s, alias[i].s) == 0) {
      *out = alias[i].dt;
      return true;
    }
  return false;
}

bool bd_device_eq(bd_device a, bd_device b) {
  return a.type == b.type && (a.type == BD_DEV_CPU || a.index == b.index);
}

const char *bd_device_str(bd_device d, char *buf, size_t n) {
  if (d.type == BD_DEV_CPU)
    snprintf(buf, n, "cpu");
  else
    snprintf(buf, n, "cuda:%d", d.index);
  return buf;
}

bool bd_device_parse(const char *s, bd_device *out) {
  if (!s) return false;
  if (strcmp(s, "cpu") == 0) {
    *out = BD_CPU;
    return true;
  }
  if (strcmp(s, "cuda") == 0) {
    out->type = BD_DEV_CUDA;
    out->index = 0;
    return true;
  }
  if (strncmp(s, "cuda:", 5) == 0 && s[5] >= '0' && s[5] <= '9') {
    char *end;
    long v = strtol(s + 5, &end, 10);
    if (*end || v < 0 || v > 1023) return false;
    out->type = BD_DEV_CUDA;
    out->index = (int)v;
    return true;
  }
  return false;
}

bd_status bd_shape_numel(int ndim, const int64_t *shape, int64_t *out) {
  if (ndim < 0 || ndim > BD_MAX_DIMS)
    return bd_fail(BD_EINVAL, "rank %d is outside 0..%d", ndim, BD_MAX_DIMS);
  int64_t n = 1; /* product of the non-zero dims */
  bool empty = false;
  for (int i = 0; i < ndim; i++) empty |= shape[i] == 0;
  for (int i = 0; i < ndim; i++) {
    if (shape[i] < 0)
      return bd_fail(BD_EINVAL, "negative dimension %lld", (long long)shape[i]);
    if (shape[i] == 0) continue;
    if (n > BD_MAX_NUMEL / shape[i])
      return bd_fail(BD_ELIMIT, "tensor has more than %lld elements%s",
                     (long long)BD_MAX_NUMEL,
                     empty ? " (counting its non-zero dimensions)" : "");
    n *= shape[i];
  }
  *out = empty ? 0 : n;
  return BD_OK;
}

int64_t bd_shape_span(int ndim, const int64_t *shape) {
  int64_t n = 1;
  for (int i = 0; i < ndim; i++)
    if (shape[i] > 0) n *= shape[i];
  return n;
}

static bd_status bd__storage_new(bd_device dev, size_t nbytes,
                                 bd_storage **out) {
  char b[16];
  bd_backend *be = bd_backend_get(dev);
  if (!be)
    return bd_fail(BD_ENOTFOUND, "device %s does not exist",
                   bd_device_str(dev, b, sizeof b));
  bd_status mem = be->dev.type == BD_DEV_CPU ? BD_ENOMEM : BD_EDEVMEM;
  if (be->budget > 0 &&
      __atomic_load_n(&be->allocated, __ATOMIC_RELAXED) + (int64_t)nbytes >
          be->budget)
    return bd_fail(mem,
                   "device %s budget of %lld bytes exceeded (asked %zu, in "
                   "use %lld)",
                   bd_device_str(dev, b, sizeof b), (long long)be->budget,
                   nbytes, (long long)be->allocated);
  bd_storage *st = calloc(1, sizeof *st);
  if (!st) return bd_fail(BD_ENOMEM, "out of host memory");
  bd_errclear();
  st->data = be->iface->alloc(be->ctx, nbytes ? nbytes : 1);
  if (!st->data) {
    free(st);
    if (!bd_errmsg()[0])
      bd_fail(mem, "cannot allocate %zu bytes on %s", nbytes,
              bd_device_str(dev, b, sizeof b));
    return mem;
  }
  __atomic_add_fetch(&be->allocated, (int64_t)nbytes, __ATOMIC_RELAXED);
  st->refcnt = 1;
  st->dev = dev;
  st->nbytes = nbytes;
  *out = st;
  return BD_OK;
}

static void bd__storage_release(bd_storage *st) {
  if (!st) return;
  int left = __atomic_sub_fetch(&st->refcnt, 1, __ATOMIC_ACQ_REL);
  BD_ASSERT(left >= 0, "storage released more often than retained");
  if (left) return;
  if (!st->borrowed) {
    bd_backend *be = bd_backend_get(st->dev);
    if (be) {
      be->iface->free(be->ctx, st->data);
      __atomic_sub_fetch(&be->allocated, (int64_t)st->nbytes, __ATOMIC_RELAXED);
    }
  }
  free(st);
}

static _Thread_local int64_t bd__thread_cap;

int64_t bd_tensor_set_thread_cap(int64_t max_elements) {
  int64_t old = bd__thread_cap;
  bd__thread_cap = max_elements > 0 ? max_elements : 0;
  return old;
}

bd_status bd_tensor_wrap(void *data, bd_dtype dt, int ndim,
                         const int64_t *shape, bd_tensor **out) {
  int64_t numel;
  bd_status s = bd_shape_numel(ndim, shape, &numel);
  if (s) return s;
  if ((unsigned)dt >= BD_DTYPE_COUNT)
    return bd_fail(BD_EINVAL, "invalid dtype");
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

bd_status bd_tensor_new(bd_device dev, bd_dtype dt, int ndim,
                        const int64_t *shape, bd_tensor **out) {
  int64_t n;
  bd_status s = bd_shape_numel(ndim, shape, &n);
  if (s) return s;
  if (bd__thread_cap > 0 && n > bd__thread_cap) {
    char sh[160];
    return bd_fail(BD_ETOOLARGE,
                   "a tensor of shape %s (%lld elements) would exceed the "
                   "limit of %lld elements per tensor of a request "
                   "(--max-elements, or the model's size if larger)",
                   bd_shape_str(ndim, shape, sh, sizeof sh), (long long)n,
                   (long long)bd__thread_cap);
  }
  if ((unsigned)dt >= BD_DTYPE_COUNT)
    return bd_fail(BD_EINVAL, "invalid dtype");
  bd_tensor *t = calloc(1, sizeof *t);
  if (!t) return bd_fail(BD_ENOMEM, "out of host memory");
  s = bd__storage_new(dev, (size_t)n * bd_dtype_size(dt), &t->st);
  if (s) {
    free(t);
    return s;
  }
  t->refcnt = 1;
  t->dtype = dt;
  t->ndim = ndim;
  for (int i = 0; i < ndim; i++) t->shape[i] = shape[i];
  *out = t;
  return BD_OK;
}

bd_status bd_tensor_zeros(bd_device dev, bd_dtype dt, int ndim,
                          const int64_t *shape, bd_tensor **out) {
  bd_status s = bd_tensor_new(dev, dt, ndim, shape, out);
  if (s) return s;
  bd_backend *be = bd_backend_get(dev);
  s = be->iface->memset0(be->ctx, bd_tensor_data(*out), bd_tensor_nbytes(*out));
  if (s) {
    bd_tensor_release(*out);
    *out = NULL;
  }
  return s;
}

bd_status bd_tensor_reshape(bd_tensor *t, int ndim, const int64_t *shape,
                            bd_tensor **out) {
  int64_t n;
  bd_status s = bd_shape_numel(ndim, shape, &n);
  if (s) return s;
  if (n != bd_tensor_numel(t)) {
    char a[128], b[128];
    return bd_fail(BD_ESHAPE, "cannot reshape %s into %s",
                   bd_shape_str(t->ndim, t->shape, a, sizeof a),
                   bd_shape_str(ndim, shape, b, sizeof b));
  }
  bd_tensor *r = calloc(1, sizeof *r);
  if (!r) return bd_fail(BD_ENOMEM, "out of host memory");
  r->refcnt = 1;
  r->dtype = t->dtype;
  r->ndim = ndim;
  for (int i = 0; i < ndim; i++) r->shape[i] = shape[i];
  r->st = t->st;
  __atomic_add_fetch(&r->st->refcnt, 1, __ATOMIC_RELAXED);
  r->offset = t->offset;
  *out = r;
  return BD_OK;
}

bd_status bd_tensor_copy_into(bd_tensor *dst, const bd_tensor *src) {
  if (dst->dtype != src->dtype)
    return bd_fail(BD_EDTYPE, "copy between %s and %s",
                   bd_dtype_name(dst->dtype), bd_dtype_name(src->dtype));
  if (bd_tensor_numel(dst) != bd_tensor_numel(src))
    return bd_fail(BD_ESHAPE, "copy between tensors of different sizes");
  size_t n = bd_tensor_nbytes(src);
  bd_device sd = src->st->dev, dd = dst->st->dev;
  void *dp = (char *)dst->st->data + dst->offset;
  const void *sp = (const char *)src->st->data + src->offset;
  if (sd.type == BD_DEV_CPU && dd.type == BD_DEV_CPU) {
    if (n) memmove(dp, sp, n);
    return BD_OK;
  }
  if (sd.type == BD_DEV_CPU) {
    bd_backend *be = bd_backend_get(dd);
    return be->iface->memcpy(be->ctx, dp, sp, n, 0);
  }
  if (dd.type == BD_DEV_CPU) {
    bd_backend *be = bd_backend_get(sd);
    return be->iface->memcpy(be->ctx, dp, sp, n, 1);
  }
  /* GPU to GPU: the destination's backend copies peer-to-peer (the CUDA
   * runtime handles unified addressing). */
  bd_backend *be = bd_backend_get(dd);
  return be->iface->memcpy(be->ctx, dp, sp, n, 2);
}

bd_status bd_tensor_to(const bd_tensor *t, bd_device dev, bd_tensor **out) {
  bd_status s = bd_tensor_new(dev, t->dtype, t->ndim, t->shape, out);
  if (s) return s;
  s = bd_tensor_copy_into(*out, t);
  if (s) {
    bd_tensor_release(*out);
    *out = NULL;
  }
  return s;
}

bd_tensor *bd_tensor_retain(bd_tensor *t) {
  if (!t) return NULL;
  int was = __atomic_fetch_add(&t->refcnt, 1, __ATOMIC_RELAXED);
  BD_ASSERT(was > 0, "bd_tensor_retain: tensor already released");
  return t;
}

void bd_tensor_release(bd_tensor *t) {
  if (!t) return;
  int left = __atomic_sub_fetch(&t->refcnt, 1, __ATOMIC_ACQ_REL);
  BD_ASSERT(left >= 0,
            "bd_tensor_release: tensor released more often than retained");
  if (left) return;
  bd__storage_release(t->st);
  free(t);
}

int64_t bd_tensor_numel(const bd_tensor *t) {
  int64_t n = 1;
  for (int i = 0; i < t->ndim; i++) n *= t->shape[i];
  return n;
}

size_t bd_tensor_nbytes(const bd_tensor *t) {
  return (size_t)bd_tensor_numel(t) * bd_dtype_size(t->dtype);
}

void *bd_tensor_data(const bd_tensor *t) {
  return (char *)t->st->data + t->offset;
}

bd_device bd_tensor_device(const bd_tensor *t) { return t->st->dev; }

bool bd_tensor_same_shape(const bd_tensor *a, const bd_tensor *b) {
  if (a->ndim != b->ndim) return false;
  for (int i = 0; i < a->ndim; i++)
    if (a->shape[i] != b->shape[i]) return false;
  return true;
}

const char *bd_shape_str(int ndim, const int64_t *shape, char *buf, size_t n) {
  size_t off = 0;
  off += (size_t)snprintf(buf + off, n - off, "[");
  for (int i = 0; i < ndim && off < n; i++)
    off += (size_t)snprintf(buf + off, n - off, "%s%lld", i ? ", " : "",
                            (long long)shape[i]);
  if (off < n) snprintf(buf + off, n - off, "]");
  return buf;
}

float bd_half_to_float(uint16_t h) {
  uint32_t sign = (uint32_t)(h >> 15) << 31, exp = (h >> 10) & 0x1f,
           man = h & 0x3ff, bits;
  if (exp == 0) {
    if (man == 0) {
      bits = sign;
    } else { /* subnormal */
      float f = ldexpf((float)man, -24);
      return sign ? -f : f;
    }
  } else if (exp == 31) {
    bits = sign | 0x7f800000u | (man << 13);
  } else {
    bits = sign | ((exp + 112) << 23) | (man << 13);
  }
  float f;
  memcpy(&f, &bits, 4);
  return f;
}

uint16_t bd_float_to_half(float f) {
  uint32_t x;
  memcpy(&x, &f, 4);
  uint16_t sign = (uint16_t)((x >> 16) & 0x8000);
  uint32_t ax = x & 0x7fffffffu;
  if (ax >= 0x7f800000u) /* inf or nan */
    return sign | 0x7c00 | (ax > 0x7f800000u ? 0x200 : 0);
  if (ax >= 0x477ff000u) return sign | 0x7c00; /* overflow to inf */
  if (ax < 0x38800000u) { /* subnormal half or zero: round to nearest even */
    float af;
    memcpy(&af, &ax, 4);
    float scaled = af * 16777216.0f; /* / 2^-24 */
    uint32_t m = (uint32_t)nearbyintf(scaled);
    return sign | (uint16_t)m;
  }
  uint32_t e = (ax >> 23) - 112, m = ax & 0x7fffff;
  uint32_t h = (e << 10) | (m >> 13);
  uint32_t rest = m & 0x1fff;
  if (rest > 0x1000 || (rest == 0x1000 && (h & 1))) h++;
  return sign | (uint16_t)h;
}

float bd_bf16_to_float(uint16_t h) {
  uint32_t bits = (uint32_t)h << 16;
  float f;
  memcpy(&f, &bits, 4);
  return f;
}

uint16_t bd_float_to_bf16(float f) {
  uint32_t x;
  memcpy(&x, &f, 4);
  if ((x & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((x >> 16) | 0x40);
  uint32_t lsb = (x >> 16) & 1;
  x += 0x7fff + lsb;
  return (uint16_t)(x >> 16);
}

bd_status bd_tensor_as_f32(bd_tensor *t, bd_tensor **out) {
  if (t->dtype == BD_F32) {
    *out = bd_tensor_retain(t);
    return BD_OK;
  }
  if (t->st->dev.type != BD_DEV_CPU)
    return bd_fail(BD_EUNSUPPORTED, "dtype conversion needs a CPU tensor");
  bd_tensor *r;
  bd_status s = bd_tensor_new(BD_CPU, BD_F32, t->ndim, t->shape, &r);
  if (s) return s;
  int64_t n = bd_tensor_numel(t);
  float *d = bd_tensor_f32(r);
  const void *p = bd_tensor_data(t);
  for (int64_t i = 0; i < n; i++) {
    switch (t->dtype) {
      case BD_F64:
        d[i] = (float)((const double *)p)[i];
        break;
      case BD_F16:
        d[i] = bd_half_to_float(((const uint16_t *)p)[i]);
        break;
      case BD_BF16:
        d[i] = bd_bf16_to_float(((const uint16_t *)p)[i]);
        break;
      case BD_I64:
        d[i] = (float)((const int64_t *)p)[i];
        break;
      default:
        d[i] = 0;
        break;
    }
  }
  *out = r;
  return BD_OK;
}
