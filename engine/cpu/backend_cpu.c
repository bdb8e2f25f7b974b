/* backend_cpu.c - the CPU backend: host memory, copies and the op
 * dispatch; the op families live in their own files (cpu_ops.h). OpenBLAS
 * for GEMM, plain C loops for everything else. */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cpu_ops.h"
#include "engine/backend.h"

static void *cpu_alloc(void *ctx, size_t n) {
  (void)ctx;
  /* 64-byte alignment suits AVX-512 loads and the file formats. */
  void *p = NULL;
  size_t rounded = (n + 63) & ~(size_t)63;
  if (posix_memalign(&p, 64, rounded ? rounded : 64) != 0) {
    bd_fail(BD_ENOMEM, "cannot allocate %zu bytes of host memory", n);
    return NULL;
  }
  return p;
}

static void cpu_free(void *ctx, void *p) {
  (void)ctx;
  free(p);
}

static bd_status cpu_memcpy(void *ctx, void *dst, const void *src, size_t n,
                            int kind) {
  (void)ctx;
  (void)kind;
  if (n) memmove(dst, src, n);
  return BD_OK;
}

static bd_status cpu_memset0(void *ctx, void *dst, size_t n) {
  (void)ctx;
  if (n) memset(dst, 0, n);
  return BD_OK;
}

/* Hands a checked op to its family (one file each, as in engine/gpu). */
static bd_status cpu_op(void *ctx, const bd_op *op) {
  (void)ctx;
  switch (op->kind) {
    case BD_OP_GEMM:
      return bd_cpu_op_gemm(op);
    case BD_OP_FILL:
    case BD_OP_COPY:
    case BD_OP_BINARY:
    case BD_OP_UNARY:
    case BD_OP_UNARY_BACKWARD:
    case BD_OP_MASK_ABS_BELOW:
    case BD_OP_CLAMP:
    case BD_OP_COPY_2D:
      return bd_cpu_op_elementwise(op);
    case BD_OP_REDUCE:
    case BD_OP_SUM_ROWS:
    case BD_OP_REDUCE_DIM:
    case BD_OP_BROADCAST_DIM:
      return bd_cpu_op_reduce(op);
    case BD_OP_SOFTMAX:
    case BD_OP_SOFTMAX_BACKWARD:
    case BD_OP_CROSS_ENTROPY:
    case BD_OP_CROSS_ENTROPY_BACKWARD:
      return bd_cpu_op_softmax(op);
    case BD_OP_RNG:
      return bd_cpu_op_rng(op);
    case BD_OP_SGD:
      return bd_cpu_op_sgd(op);
    default:
      break;
  }
  return bd_fail(BD_EUNSUPPORTED, "op %d not supported on cpu", (int)op->kind);
}

static bd_status cpu_mem_info(void *ctx, size_t *free_b, size_t *total_b) {
  (void)ctx;
  long pages = sysconf(_SC_PHYS_PAGES), avail = sysconf(_SC_AVPHYS_PAGES),
       psz = sysconf(_SC_PAGESIZE);
  *total_b = (size_t)pages * (size_t)psz;
  *free_b = (size_t)avail * (size_t)psz;
  return BD_OK;
}

static void cpu_describe(void *ctx, char *name, size_t n, int *maj, int *min) {
  (void)ctx;
  snprintf(name, n, "cpu (OpenBLAS %s)", openblas_get_config());
  *maj = *min = 0;
}

const bd_backend_i bd_backend_cpu_i = {
    .name = "cpu",
    .alloc = cpu_alloc,
    .free = cpu_free,
    .memcpy = cpu_memcpy,
    .memset0 = cpu_memset0,
    .op = cpu_op,
    .synchronize = NULL,
    .mem_info = cpu_mem_info,
    .describe = cpu_describe,
};
