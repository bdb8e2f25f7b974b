/* gpu_common.cuh - what every op family of the CUDA backend shares: the
 * per-device context (one stream, one cuBLAS handle), error mapping and
 * launch helpers. Included only by engine/gpu sources. */
#ifndef BD_GPU_COMMON_CUH
#define BD_GPU_COMMON_CUH

#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <pthread.h>
#include <stdint.h>

extern "C" {
#include "engine/backend.h"
}

/* One CUDA device as blockd uses it. Everything runs on `stream`, which
 * orders the work of every thread using the device; cuBLAS calls are
 * serialised by `blas_mu` because one handle serves them all. */
typedef struct bd_gpu_ctx {
  int index;
  cudaStream_t stream;
  cublasHandle_t blas;
  pthread_mutex_t blas_mu;
  char name[256];
  int cc_major, cc_minor;
  size_t total_mem;
  /* Stream-ordered allocation (cudaMallocAsync on `stream`) when the
   * device supports memory pools: freed blocks are reused by later work
   * on the same stream without the device-wide synchronisation of
   * cudaFree. Otherwise plain cudaMalloc/cudaFree. */
  bool async_alloc;
} bd_gpu_ctx;

/* The context of CUDA device `index`, or NULL when it was not created. */
bd_gpu_ctx *bd_gpu_ctx_of(int index);

/* Records a failed CUDA call `what` on ctx's device: BD_EDEVMEM for an
 * allocation failure, BD_EDEVICE otherwise. Clears non-sticky errors so
 * the device keeps serving. Returns the status. */
bd_status bd_gpu_fail(const bd_gpu_ctx *ctx, cudaError_t e, const char *what);
/* Same for a cuBLAS status. */
bd_status bd_gpu_blas_fail(const bd_gpu_ctx *ctx, cublasStatus_t e,
                           const char *what);
/* Makes ctx's device current for the calling thread. */
bd_status bd_gpu_enter(const bd_gpu_ctx *ctx);
/* Checks the last kernel launch. */
bd_status bd_gpu_launched(const bd_gpu_ctx *ctx, const char *kernel);

#define BD_CU(ctx, call)                                             \
  do {                                                               \
    cudaError_t bd_e_ = (call);                                      \
    if (bd_e_ != cudaSuccess) return bd_gpu_fail(ctx, bd_e_, #call); \
  } while (0)

/* Grid size for a grid-stride loop over n items with BD_GPU_THREADS
 * threads per block. */
#define BD_GPU_THREADS 256
static inline unsigned bd_gpu_grid(int64_t n) {
  int64_t g = (n + BD_GPU_THREADS - 1) / BD_GPU_THREADS;
  if (g < 1) g = 1;
  if (g > 65535 * 8) g = 65535 * 8;
  return (unsigned)g;
}

static inline float *bd_gpu_f32(const bd_tensor *t) {
  return t ? (float *)bd_tensor_data(t) : NULL;
}

#endif
