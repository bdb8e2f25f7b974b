/* backend.h - one compute interface, many devices.
 *
 * A backend is a bd_backend_i (function pointers filled with designated
 * initialisers; optional slots may be NULL) plus a private context. Ops are
 * an enum switched on inside each backend, so adding an op never widens the
 * interface. Only backend.c knows whether CUDA was compiled in.
 *
 * All tensors handed to an op are contiguous, float32 unless the op says
 * otherwise, and live on the backend's device; bd_op_run checks devices and
 * returns BD_EDEVMISMATCH otherwise. */
#ifndef BD_BACKEND_H
#define BD_BACKEND_H

#include <stdbool.h>
#include <stdint.h>

#include "tensor.h"

typedef enum bd_op_kind {
  /* dst[m,n] = alpha * op(a)[m,k] @ op(b)[k,n] + beta * dst, row-major.
   * i[0..2] = m, n, k; i[3] = transpose a; i[4] = transpose b;
   * f[0] = alpha; f[1] = beta. a/b/dst may be any rank: they are viewed
   * as matrices of the given sizes. */
  BD_OP_GEMM = 0,
  /* dst = value everywhere; f[0] = value. */
  BD_OP_FILL,
  /* dst = a (same numel). */
  BD_OP_COPY,
  /* dst = a (op) b with broadcasting of b: i[0] = BD_BIN_*, b has either
   * numel(a) elements, 1 element, or numel(a)/rows elements repeated for
   * every row (the "bias" broadcast over the last dim(s)). */
  BD_OP_BINARY,
  /* dst = f(a) elementwise; i[0] = BD_UN_*; f[0], f[1] parameters. */
  BD_OP_UNARY,
  /* dst = df(a, b): the gradient of a unary op. i[0] = BD_UN_*; a = the
   * op's input x, b = upstream gradient dy (and c = the op's output y,
   * when available). dst = dy * f'(x). */
  BD_OP_UNARY_BACKWARD,
  /* dst (1 element) = reduce(a); i[0] = BD_RED_*. */
  BD_OP_REDUCE,
  /* dst[n] (+)= sum over rows of a[rows, n]; i[0] = rows, i[1] = n;
   * f[0] = beta (0: overwrite, 1: accumulate). */
  BD_OP_SUM_ROWS,
  /* softmax over a dim: a viewed as [outer, dim, inner]; i[0..2]. */
  BD_OP_SOFTMAX,
  /* softmax backward: a = y (softmax output), b = dy; same i[]. */
  BD_OP_SOFTMAX_BACKWARD,
  /* fill dst from the Philox stream: i[0] = BD_RNG_*; u[0] = seed,
   * u[1] = counter offset (in 128-bit blocks); f[0], f[1] parameters
   * (uniform a, b / normal mean, std / bernoulli keep-probability). */
  BD_OP_RNG,
  /* SGD with momentum/weight decay: dst = param, a = grad, b = momentum
   * buffer (may be NULL when momentum = 0); f[0] = lr, f[1] = momentum,
   * f[2] = weight_decay, f[3] = dampening, i[0] = nesterov,
   * i[1] = first step (buffer initialised to the gradient). */
  BD_OP_SGD,
  /* cross entropy with class-index targets: a = logits [n, c], b = int64
   * targets [n]; dst (1 element) = mean loss. i[0] = n, i[1] = c. Fails
   * with EINVAL when a target is outside [0, c). */
  BD_OP_CROSS_ENTROPY,
  /* its gradient: dst [n, c] = f[0] * (softmax(a) - onehot(b)) / n. */
  BD_OP_CROSS_ENTROPY_BACKWARD,
  /* dst = |a| < f[0] ? 0 : a. */
  BD_OP_MASK_ABS_BELOW,
  /* dst = clamp(a, f[0], f[1]). */
  BD_OP_CLAMP,
  /* strided 2-D block copy (concat/split along the last dim):
   * dst[r * i[2] + i[3] + j] = a[r * i[4] + i[5] + j] for r < i[0],
   * j < i[1]. Element strides and offsets, float32. */
  BD_OP_COPY_2D,
  BD_OP_COUNT
} bd_op_kind;

typedef enum bd_binary_kind {
  BD_BIN_ADD = 0,
  BD_BIN_SUB,
  BD_BIN_MUL,
  BD_BIN_DIV
} bd_binary_kind;

typedef enum bd_unary_kind {
  BD_UN_RELU = 0,
  BD_UN_SIGMOID,
  BD_UN_TANH,
  BD_UN_GELU, /* exact (erf) GELU, PyTorch's default */
  BD_UN_SCALE,   /* f[0] * x */
  BD_UN_ADD,     /* x + f[0] */
  BD_UN_AFFINE,  /* f[0] * x + f[1] */
  BD_UN_ABS,
  BD_UN_EXP,
  BD_UN_COUNT
} bd_unary_kind;

typedef enum bd_reduce_kind {
  BD_RED_SUM = 0,
  BD_RED_MEAN,
  BD_RED_ABS_SUM,
  BD_RED_MAX,
  BD_RED_MIN,
  BD_RED_NORM, /* L2 norm */
  BD_RED_COUNT
} bd_reduce_kind;

typedef enum bd_rng_kind {
  BD_RNG_UNIFORM = 0,  /* U[f0, f1) */
  BD_RNG_NORMAL,       /* N(f0, f1^2) */
  BD_RNG_BERNOULLI     /* 1 with probability f0, else 0 */
} bd_rng_kind;

typedef struct bd_op {
  bd_op_kind kind;
  bd_tensor *dst;
  bd_tensor *a, *b, *c; /* inputs (SGD writes its momentum buffer b) */
  int64_t i[6];
  uint64_t u[2];
  float f[4];
} bd_op;

typedef struct bd_backend_i {
  const char *name;
  /* Allocates nbytes of device memory; NULL on failure (then the backend
   * has called bd_fail with ENOMEM or EDEVMEM). */
  void *(*alloc)(void *ctx, size_t nbytes);
  void (*free)(void *ctx, void *p);
  /* Copies between host and this device. kind: 0 h2d, 1 d2h, 2 d2d. */
  bd_status (*memcpy)(void *ctx, void *dst, const void *src, size_t n,
                      int kind);
  bd_status (*memset0)(void *ctx, void *dst, size_t n);
  /* Runs one op; synchronous with respect to later memcpy d2h. */
  bd_status (*op)(void *ctx, const bd_op *op);
  /* Waits for all queued work (optional). */
  bd_status (*synchronize)(void *ctx);
  /* Free and total memory in bytes (optional). */
  bd_status (*mem_info)(void *ctx, size_t *free_b, size_t *total_b);
  /* Device name and compute capability (optional). */
  void (*describe)(void *ctx, char *name, size_t n, int *cc_major,
                   int *cc_minor);
} bd_backend_i;

typedef struct bd_backend {
  const bd_backend_i *iface;
  void *ctx;
  bd_device dev;
  /* Bytes currently allocated through this backend (atomic). */
  int64_t allocated;
  /* Optional budget in bytes (0 = none). */
  int64_t budget;
} bd_backend;

/* Initialises the registry: the CPU backend always, each CUDA device when
 * compiled in and present. Idempotent; thread-safe; every call returns
 * the same result. Errors: EDEVICE when a present CUDA device could not be
 * initialised (or more are present than blockd supports); the registry
 * then holds the CPU and the CUDA devices before the failing one and is
 * usable, so the caller decides whether to serve without the rest. */
bd_status bd_backends_init(void);
/* The backend of a device, or NULL when that device does not exist. */
bd_backend *bd_backend_get(bd_device dev);
/* Number of CUDA devices available (0 without CUDA). */
int bd_backend_cuda_count(void);
/* Whether the CUDA backend was compiled in. */
bool bd_backend_cuda_compiled(void);
/* Resolves "auto" / "cpu" / "cuda" / "cuda:N" to an existing device;
 * BD_EINVAL for a malformed string, BD_ENOTFOUND for a missing device. */
bd_status bd_device_resolve(const char *s, bd_device *out);

/* Runs op on the device of op->dst (checking every operand's device). */
bd_status bd_op_run(const bd_op *op);

/* Registration hook for the CUDA backend (engine/gpu). */
typedef struct bd_cuda_probe {
  int (*device_count)(void);
  bd_status (*create)(int index, const bd_backend_i **iface, void **ctx);
} bd_cuda_probe;

/* The CPU backend's interface (engine/backend_cpu.c). */
extern const bd_backend_i bd_backend_cpu_i;

#endif
