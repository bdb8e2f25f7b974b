/* backend.h - one compute interface, many devices.
 *
 * A backend is a bd_backend_i (function pointers filled with designated
 * initialisers; optional slots may be NULL) plus a private context. Ops are
 * an enum switched on inside each backend, so adding an op never widens the
 * interface. Only backend.c knows whether CUDA was compiled in.
 *
 * The ops themselves are declared in op.h. A backend's `op` slot receives
 * only ops that bd_op_run has checked: contiguous operands of the dtype and
 * element count the kind requires, all on the backend's device. */
#ifndef BD_BACKEND_H
#define BD_BACKEND_H

#include <stdbool.h>
#include <stdint.h>

#include "op.h"
#include "tensor.h"

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
  /* Runs one checked op (see op.h); synchronous with respect to later
   * memcpy d2h. BD_EUNSUPPORTED for a kind it does not implement. */
  bd_status (*op)(void *ctx, const bd_op *op);
  /* Waits for all queued work (optional). */
  bd_status (*synchronize)(void *ctx);
  /* Free and total memory in bytes (optional). */
  bd_status (*mem_info)(void *ctx, size_t *free_b, size_t *total_b);
  /* Device name and compute capability (optional). */
  void (*describe)(void *ctx, char *name, size_t n, int *cc_major,
                   int *cc_minor);
  /* The native queue every op of this device runs on, as an opaque
   * pointer (CUDA: the cudaStream_t), for code outside the backend that
   * launches its own work, such as a plugin's forward_cuda (optional). */
  void *(*native_stream)(void *ctx);
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
/* Whether the CUDA module (libblockd-cuda.so) was found and loaded. */
bool bd_backend_cuda_compiled(void);
/* One line on the CUDA backend for logs and /v1/devices: the module's
 * path and device count, or why there is none ("module not found: ...",
 * "cannot load ...: libcublas.so.13: cannot open shared object file"). */
const char *bd_backend_cuda_status(void);
/* Resolves "auto" / "cpu" / "cuda" / "cuda:N" to an existing device;
 * BD_EINVAL for a malformed string, BD_ENOTFOUND for a missing device. */
bd_status bd_device_resolve(const char *s, bd_device *out);

/* The native stream of dev's backend (a cudaStream_t for a CUDA device),
 * or NULL for a device without one (the CPU) or that does not exist. */
void *bd_backend_native_stream(bd_device dev);

/* Registration hook for the CUDA backend (engine/gpu). */
typedef struct bd_cuda_probe {
  int (*device_count)(void);
  bd_status (*create)(int index, const bd_backend_i **iface, void **ctx);
} bd_cuda_probe;

/* The CUDA backend is a module, libblockd-cuda.so, that the engine
 * dlopens at start-up (the daemon links no CUDA library, so one binary
 * starts on hosts with and without CUDA). It exports BD_CUDA_MODULE_SYMBOL.
 * The version changes whenever bd_backend_i, bd_cuda_probe or an engine
 * struct the module reads (bd_tensor, bd_op, ...) changes layout; both
 * sides check it. Search order: $BLOCKD_CUDA_MODULE (a path, loaded as
 * given; "none" disables CUDA), else - only when a GPU driver is installed
 * (libcuda.so.1 loads) - next to the executable, one directory up, and
 * ../lib/blockd from it (the installed layout). */
#define BD_CUDA_MODULE_ABI 1u
#define BD_CUDA_MODULE_SYMBOL "blockd_cuda_module"
#define BD_CUDA_MODULE_FILE "libblockd-cuda.so"
typedef struct bd_cuda_module {
  uint32_t abi_version; /* BD_CUDA_MODULE_ABI of the module's build */
  const bd_cuda_probe *probe;
  /* The module's check of the engine that loads it: BD_OK, or
   * EUNSUPPORTED with a message. */
  bd_status (*check_host)(uint32_t host_abi);
} bd_cuda_module;

/* The CPU backend's interface (engine/cpu/backend_cpu.c). */
extern const bd_backend_i bd_backend_cpu_i;

#endif
