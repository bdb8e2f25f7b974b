/* tensor.h - dense, contiguous, refcounted tensors on a device.
 *
 * A bd_tensor is a shape + dtype + device view over a refcounted
 * bd_storage. Tensors are always contiguous and row-major; reshapes share
 * storage. Rank 0 (a scalar) is allowed. Tensors themselves are refcounted:
 * bd_tensor_retain/bd_tensor_release; every _release accepts NULL. */
#ifndef BD_TENSOR_H
#define BD_TENSOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "status.h"

#define BD_MAX_DIMS 8
/* Upper bound on the number of elements of any one tensor (2^40). */
#define BD_MAX_NUMEL ((int64_t)1 << 40)

typedef enum bd_dtype {
  BD_F32 = 0,
  BD_F64,
  BD_F16,
  BD_BF16,
  BD_I64,
  BD_DTYPE_COUNT
} bd_dtype;

typedef enum bd_devtype { BD_DEV_CPU = 0, BD_DEV_CUDA = 1 } bd_devtype;

typedef struct bd_device {
  bd_devtype type;
  int index;
} bd_device;

typedef struct bd_storage bd_storage;
typedef struct bd_tensor bd_tensor;

struct bd_storage {
  int refcnt; /* atomic */
  bd_device dev;
  void *data;
  size_t nbytes;
  bool borrowed; /* data is not ours to free (mmap'd file, caller memory) */
};

struct bd_tensor {
  int refcnt; /* atomic */
  bd_dtype dtype;
  int ndim;
  int64_t shape[BD_MAX_DIMS];
  bd_storage *st;
  size_t offset; /* in bytes, into st->data */
};

/* Size in bytes of one element of dtype. */
size_t bd_dtype_size(bd_dtype dt);
/* "float32", "int64", ...; NULL for an invalid dtype. */
const char *bd_dtype_name(bd_dtype dt);
/* Parses "float32"/"float"/"f32"..., returns false when unknown. */
bool bd_dtype_parse(const char *s, bd_dtype *out);

bool bd_device_eq(bd_device a, bd_device b);
/* Writes "cpu" or "cuda:N" into buf (at least 16 bytes). */
const char *bd_device_str(bd_device d, char *buf, size_t n);
/* Parses "cpu", "cuda", "cuda:N". "auto" is resolved by the backend
 * registry (bd_backend_resolve), not here. */
bool bd_device_parse(const char *s, bd_device *out);
extern const bd_device BD_CPU;

/* Computes the element count of a shape, failing with BD_ELIMIT on
 * overflow or when it exceeds BD_MAX_NUMEL, BD_EINVAL on negative dims.
 * The product of the non-zero dims is held to BD_MAX_NUMEL too, so
 * [0, 2^62, 2^62] is refused: stride products never overflow. */
bd_status bd_shape_numel(int ndim, const int64_t *shape, int64_t *out);
/* The product of the non-zero dims of a shape bd_shape_numel accepted:
 * the size of its index space, which bounds the work of walking it (a
 * [N, 0] tensor still prints as N nested "[]"). Readers hold it, not
 * just the element count, to their element limits. */
int64_t bd_shape_span(int ndim, const int64_t *shape);

/* Caps the element count of every tensor bd_tensor_new creates on the
 * calling thread (0: no cap) and returns the previous cap. The server sets
 * it around the computations of one request (forward, backward, tensor
 * ops) so that a request cannot make blockd allocate without bound (an
 * [N, 1] input through Linear(1, N), a while loop whose body doubles its
 * input); a tensor over the cap fails with ETOOLARGE. */
int64_t bd_tensor_set_thread_cap(int64_t max_elements);

/* Creates an uninitialised tensor on dev. On success *out holds a new
 * reference the caller releases. Errors: EINVAL, ELIMIT, ETOOLARGE (over
 * the thread's cap), ENOMEM, EDEVMEM. */
bd_status bd_tensor_new(bd_device dev, bd_dtype dt, int ndim,
                        const int64_t *shape, bd_tensor **out);
/* Same, zero-filled. */
bd_status bd_tensor_zeros(bd_device dev, bd_dtype dt, int ndim,
                          const int64_t *shape, bd_tensor **out);
/* A CPU tensor over caller memory of exactly numel * dtype size bytes
 * (borrowed: blockd never frees data, so data must outlive every
 * reference). Codecs use it to point tensors into a mapped file. Errors:
 * EINVAL, ELIMIT (bad shape), ENOMEM. */
bd_status bd_tensor_wrap(void *data, bd_dtype dt, int ndim,
                         const int64_t *shape, bd_tensor **out);
/* A tensor sharing t's storage with a new shape of equal numel. */
bd_status bd_tensor_reshape(bd_tensor *t, int ndim, const int64_t *shape,
                            bd_tensor **out);
/* A deep copy of t on device dev (dtype kept). */
bd_status bd_tensor_to(const bd_tensor *t, bd_device dev, bd_tensor **out);
/* Copies src's values into dst (same shape and dtype; any devices). */
bd_status bd_tensor_copy_into(bd_tensor *dst, const bd_tensor *src);

bd_tensor *bd_tensor_retain(bd_tensor *t);
void bd_tensor_release(bd_tensor *t);

int64_t bd_tensor_numel(const bd_tensor *t);
size_t bd_tensor_nbytes(const bd_tensor *t);
/* Host pointer to the first element; only valid for CPU tensors. */
void *bd_tensor_data(const bd_tensor *t);
static inline float *bd_tensor_f32(const bd_tensor *t) {
  return (float *)bd_tensor_data(t);
}
bd_device bd_tensor_device(const bd_tensor *t);
bool bd_tensor_same_shape(const bd_tensor *a, const bd_tensor *b);
/* Formats a shape as "[2, 20]" into buf. */
const char *bd_shape_str(int ndim, const int64_t *shape, char *buf, size_t n);

/* Converts t to a float32 tensor on the same device (a new reference; t
 * itself retained if already float32). CPU only for non-f32 inputs. */
bd_status bd_tensor_as_f32(bd_tensor *t, bd_tensor **out);

/* half/bfloat16 helpers used by codecs. */
float bd_half_to_float(uint16_t h);
uint16_t bd_float_to_half(float f);
float bd_bf16_to_float(uint16_t h);
uint16_t bd_float_to_bf16(float f);

#endif
