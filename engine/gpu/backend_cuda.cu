/* backend_cuda.cu - the CUDA backend: device contexts, memory, copies and
 * the op dispatch; the op families live in their own .cu files. Every CUDA
 * call is checked and a failure becomes a bd_status: the daemon keeps
 * serving. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "elementwise.cuh"
#include "gemm.cuh"
#include "gpu_common.cuh"
#include "reduce.cuh"
#include "rng.cuh"
#include "sgd.cuh"
#include "softmax.cuh"

#define BD_GPU_MAX 16

static bd_gpu_ctx *bd__gpu_ctxs[BD_GPU_MAX];

bd_gpu_ctx *bd_gpu_ctx_of(int index) {
  return index >= 0 && index < BD_GPU_MAX ? bd__gpu_ctxs[index] : NULL;
}

bd_status bd_gpu_fail(const bd_gpu_ctx *ctx, cudaError_t e, const char *what) {
  /* Reading the error resets it unless it is sticky (a broken context). */
  (void)cudaGetLastError();
  int idx = ctx ? ctx->index : -1;
  if (e == cudaErrorMemoryAllocation) {
    size_t fr = 0, tot = 0;
    (void)cudaMemGetInfo(&fr, &tot);
    (void)cudaGetLastError();
    return bd_fail(BD_EDEVMEM,
                   "cuda:%d: %s failed: out of device memory "
                   "(%zu of %zu bytes free)",
                   idx, what, fr, tot);
  }
  return bd_fail(BD_EDEVICE, "cuda:%d: %s failed: %s (%s)", idx, what,
                 cudaGetErrorName(e), cudaGetErrorString(e));
}

bd_status bd_gpu_blas_fail(const bd_gpu_ctx *ctx, cublasStatus_t e,
                           const char *what) {
  (void)cudaGetLastError();
  if (e == CUBLAS_STATUS_ALLOC_FAILED)
    return bd_fail(BD_EDEVMEM,
                   "cuda:%d: %s: cuBLAS could not allocate "
                   "device memory",
                   ctx->index, what);
  return bd_fail(BD_EDEVICE, "cuda:%d: %s failed: %s", ctx->index, what,
                 cublasGetStatusString(e));
}

bd_status bd_gpu_enter(const bd_gpu_ctx *ctx) {
  BD_CU(ctx, cudaSetDevice(ctx->index));
  return BD_OK;
}

bd_status bd_gpu_launched(const bd_gpu_ctx *ctx, const char *kernel) {
  cudaError_t e = cudaGetLastError();
  if (e != cudaSuccess) return bd_gpu_fail(ctx, e, kernel);
  return BD_OK;
}

/* ---- the interface ---------------------------------------------------- */

static void *gpu_alloc(void *vctx, size_t n) {
  bd_gpu_ctx *ctx = (bd_gpu_ctx *)vctx;
  if (bd_gpu_enter(ctx)) return NULL;
  void *p = NULL;
  cudaError_t e = ctx->async_alloc ? cudaMallocAsync(&p, n ? n : 1, ctx->stream)
                                   : cudaMalloc(&p, n ? n : 1);
  if (e != cudaSuccess) {
    char what[96];
    snprintf(what, sizeof what, "allocating %zu bytes", n);
    bd_gpu_fail(ctx, e, what);
    return NULL;
  }
  return p;
}

static void gpu_free(void *vctx, void *p) {
  bd_gpu_ctx *ctx = (bd_gpu_ctx *)vctx;
  if (!p || bd_gpu_enter(ctx)) return;
  /* Every use of p was queued on ctx->stream (device-to-host and peer
   * copies synchronise before returning), so a stream-ordered free is
   * safe; cudaFree waits for all queued work itself. */
  cudaError_t e =
      ctx->async_alloc ? cudaFreeAsync(p, ctx->stream) : cudaFree(p);
  if (e != cudaSuccess) (void)cudaGetLastError();
}

/* The device owning p when it is device memory of another blockd device
 * (else -1), after finishing the work queued on that device's stream: a
 * peer copy reads p from this device's stream. */
static bd_status gpu_sync_owner(const bd_gpu_ctx *self, const void *p,
                                int *owner_dev) {
  cudaPointerAttributes at;
  *owner_dev = -1;
  if (cudaPointerGetAttributes(&at, p) != cudaSuccess) {
    (void)cudaGetLastError();
    return BD_OK;
  }
  if (at.type != cudaMemoryTypeDevice || at.device == self->index) return BD_OK;
  bd_gpu_ctx *owner = bd_gpu_ctx_of(at.device);
  if (owner) BD_CU(owner, cudaStreamSynchronize(owner->stream));
  *owner_dev = at.device;
  return BD_OK;
}

static bd_status gpu_memcpy(void *vctx, void *dst, const void *src, size_t n,
                            int kind) {
  bd_gpu_ctx *ctx = (bd_gpu_ctx *)vctx;
  if (n == 0) return BD_OK;
  bd_status s = bd_gpu_enter(ctx);
  if (s) return s;
  switch (kind) {
    case 0: /* host to device: pageable sources are staged before return */
      BD_CU(ctx,
            cudaMemcpyAsync(dst, src, n, cudaMemcpyHostToDevice, ctx->stream));
      BD_CU(ctx, cudaStreamSynchronize(ctx->stream));
      return BD_OK;
    case 1: /* device to host: wait for every op that wrote src */
      BD_CU(ctx,
            cudaMemcpyAsync(dst, src, n, cudaMemcpyDeviceToHost, ctx->stream));
      BD_CU(ctx, cudaStreamSynchronize(ctx->stream));
      return BD_OK;
    default: { /* device to device, peers included */
      int owner;
      s = gpu_sync_owner(ctx, src, &owner);
      if (s) return s;
      /* A peer copy works whether or not peer access is enabled (and for
       * stream-ordered pool memory, which peer access does not cover). */
      if (owner >= 0)
        BD_CU(ctx,
              cudaMemcpyPeerAsync(dst, ctx->index, src, owner, n, ctx->stream));
      else
        BD_CU(ctx,
              cudaMemcpyAsync(dst, src, n, cudaMemcpyDefault, ctx->stream));
      BD_CU(ctx, cudaStreamSynchronize(ctx->stream));
      return BD_OK;
    }
  }
}

static bd_status gpu_memset0(void *vctx, void *dst, size_t n) {
  bd_gpu_ctx *ctx = (bd_gpu_ctx *)vctx;
  if (n == 0) return BD_OK;
  bd_status s = bd_gpu_enter(ctx);
  if (s) return s;
  BD_CU(ctx, cudaMemsetAsync(dst, 0, n, ctx->stream));
  return BD_OK;
}

static bd_status gpu_op(void *vctx, const bd_op *op) {
  bd_gpu_ctx *ctx = (bd_gpu_ctx *)vctx;
  bd_status s = bd_gpu_enter(ctx);
  if (s) return s;
  switch (op->kind) {
    case BD_OP_GEMM:
      return bd_gpu_op_gemm(ctx, op);
    case BD_OP_FILL:
    case BD_OP_COPY:
    case BD_OP_BINARY:
    case BD_OP_UNARY:
    case BD_OP_UNARY_BACKWARD:
    case BD_OP_MASK_ABS_BELOW:
    case BD_OP_CLAMP:
    case BD_OP_COPY_2D:
      return bd_gpu_op_elementwise(ctx, op);
    case BD_OP_REDUCE:
    case BD_OP_SUM_ROWS:
    case BD_OP_REDUCE_DIM:
    case BD_OP_BROADCAST_DIM:
      return bd_gpu_op_reduce(ctx, op);
    case BD_OP_SOFTMAX:
    case BD_OP_SOFTMAX_BACKWARD:
    case BD_OP_CROSS_ENTROPY:
    case BD_OP_CROSS_ENTROPY_BACKWARD:
      return bd_gpu_op_softmax(ctx, op);
    case BD_OP_RNG:
      return bd_gpu_op_rng(ctx, op);
    case BD_OP_SGD:
      return bd_gpu_op_sgd(ctx, op);
    default:
      break;
  }
  return bd_fail(BD_EUNSUPPORTED, "op %d is not supported on cuda:%d",
                 (int)op->kind, ctx->index);
}

static bd_status gpu_synchronize(void *vctx) {
  bd_gpu_ctx *ctx = (bd_gpu_ctx *)vctx;
  bd_status s = bd_gpu_enter(ctx);
  if (s) return s;
  BD_CU(ctx, cudaStreamSynchronize(ctx->stream));
  return BD_OK;
}

static bd_status gpu_mem_info(void *vctx, size_t *free_b, size_t *total_b) {
  bd_gpu_ctx *ctx = (bd_gpu_ctx *)vctx;
  bd_status s = bd_gpu_enter(ctx);
  if (s) return s;
  BD_CU(ctx, cudaMemGetInfo(free_b, total_b));
  return BD_OK;
}

static void gpu_describe(void *vctx, char *name, size_t n, int *maj, int *min) {
  bd_gpu_ctx *ctx = (bd_gpu_ctx *)vctx;
  snprintf(name, n, "%s", ctx->name);
  *maj = ctx->cc_major;
  *min = ctx->cc_minor;
}

/* The stream every op of this device is queued on (non-blocking, with
 * stream-ordered allocations): work launched elsewhere must use it. */
static void *gpu_native_stream(void *vctx) {
  return (void *)((bd_gpu_ctx *)vctx)->stream;
}

static const bd_backend_i bd__gpu_iface = {
    /* .name = */ "cuda",
    /* .alloc = */ gpu_alloc,
    /* .free = */ gpu_free,
    /* .memcpy = */ gpu_memcpy,
    /* .memset0 = */ gpu_memset0,
    /* .op = */ gpu_op,
    /* .synchronize = */ gpu_synchronize,
    /* .mem_info = */ gpu_mem_info,
    /* .describe = */ gpu_describe,
    /* .native_stream = */ gpu_native_stream,
};

/* ---- the probe the backend registry calls ---------------------------- */

static int gpu_device_count(void) {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    /* No driver or no device: blockd runs CPU-only. */
    (void)cudaGetLastError();
    return 0;
  }
  return n;
}

static bd_status gpu_create(int index, const bd_backend_i **iface, void **out) {
  if (index < 0 || index >= BD_GPU_MAX)
    return bd_fail(BD_EINVAL, "cuda:%d: at most %d CUDA devices", index,
                   BD_GPU_MAX);
  bd_gpu_ctx *ctx = (bd_gpu_ctx *)calloc(1, sizeof *ctx);
  if (!ctx) return bd_fail(BD_ENOMEM, "out of host memory");
  ctx->index = index;
  bd_status s = bd_gpu_enter(ctx);
  cudaDeviceProp prop;
  if (!s) {
    cudaError_t e = cudaGetDeviceProperties(&prop, index);
    if (e != cudaSuccess) s = bd_gpu_fail(ctx, e, "cudaGetDeviceProperties");
  }
  if (!s) {
    cudaError_t e =
        cudaStreamCreateWithFlags(&ctx->stream, cudaStreamNonBlocking);
    if (e != cudaSuccess) s = bd_gpu_fail(ctx, e, "cudaStreamCreate");
  }
  if (!s) {
    cublasStatus_t b = cublasCreate(&ctx->blas);
    if (b != CUBLAS_STATUS_SUCCESS) {
      s = bd_gpu_blas_fail(ctx, b, "cublasCreate");
      ctx->blas = NULL;
    }
  }
  if (!s) {
    cublasStatus_t b = cublasSetStream(ctx->blas, ctx->stream);
    if (b != CUBLAS_STATUS_SUCCESS)
      s = bd_gpu_blas_fail(ctx, b, "cublasSetStream");
  }
  if (s) {
    if (ctx->blas) cublasDestroy(ctx->blas);
    if (ctx->stream) cudaStreamDestroy(ctx->stream);
    free(ctx);
    return s;
  }
  pthread_mutex_init(&ctx->blas_mu, NULL);
  /* Memory pools: keep up to 1/8 of the device (at most 2 GiB) cached
   * across synchronisations instead of returning it to the driver at
   * every stream sync. */
  int pools = 0;
  if (cudaDeviceGetAttribute(&pools, cudaDevAttrMemoryPoolsSupported, index) ==
          cudaSuccess &&
      pools) {
    cudaMemPool_t pool;
    if (cudaDeviceGetDefaultMemPool(&pool, index) == cudaSuccess) {
      uint64_t keep = prop.totalGlobalMem / 8;
      if (keep > ((uint64_t)2 << 30)) keep = (uint64_t)2 << 30;
      if (cudaMemPoolSetAttribute(pool, cudaMemPoolAttrReleaseThreshold,
                                  &keep) == cudaSuccess)
        /* BLOCKD_CUDA_SYNC_ALLOC=1 falls back to cudaMalloc/cudaFree
         * (a debugging aid: every free then waits for the device). */
        ctx->async_alloc = getenv("BLOCKD_CUDA_SYNC_ALLOC") == NULL;
    }
  }
  (void)cudaGetLastError();
  snprintf(ctx->name, sizeof ctx->name, "%s", prop.name);
  ctx->cc_major = prop.major;
  ctx->cc_minor = prop.minor;
  ctx->total_mem = prop.totalGlobalMem;
  bd__gpu_ctxs[index] = ctx;
  *iface = &bd__gpu_iface;
  *out = ctx;
  return BD_OK;
}

extern "C" const bd_cuda_probe bd_cuda_probe_impl = {gpu_device_count,
                                                     gpu_create};

/* The engine checked our version against its own; this is the other
 * direction, for an engine that passes a version it was not built with. */
static bd_status gpu_check_host(uint32_t host_abi) {
  if (host_abi == BD_CUDA_MODULE_ABI) return BD_OK;
  return bd_fail(BD_EUNSUPPORTED,
                 "this CUDA module speaks module ABI version %u, the engine "
                 "%u",
                 (unsigned)BD_CUDA_MODULE_ABI, (unsigned)host_abi);
}

/* What the engine looks up after dlopen (backend.h). */
extern "C" __attribute__((visibility("default")))
const bd_cuda_module blockd_cuda_module = {BD_CUDA_MODULE_ABI,
                                           &bd_cuda_probe_impl, gpu_check_host};
