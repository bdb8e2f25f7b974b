/* backend.c - the backend registry: the only file that knows whether the
 * CUDA backend was compiled in. */
#include "backend.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BD_MAX_CUDA 16

#ifdef BLOCKD_HAVE_CUDA
/* Provided by engine/gpu (blockd_gpu target). */
extern const bd_cuda_probe bd_cuda_probe_impl;
#endif

static bd_backend bd__cpu;
static bd_backend bd__cuda[BD_MAX_CUDA];
static int bd__ncuda;
static pthread_once_t bd__once = PTHREAD_ONCE_INIT;
/* What initialisation could not do; kept (with a copy of its message,
 * which is thread-local) so that every bd_backends_init call reports it,
 * whichever thread ran the initialisation. */
static bd_status bd__init_status;
static char bd__init_msg[512];

static void bd__init_once(void) {
  bd__cpu.iface = &bd_backend_cpu_i;
  bd__cpu.ctx = NULL;
  bd__cpu.dev = BD_CPU;
#ifdef BLOCKD_HAVE_CUDA
  int n = bd_cuda_probe_impl.device_count();
  if (n > BD_MAX_CUDA) {
    bd__init_status = BD_EDEVICE;
    snprintf(bd__init_msg, sizeof bd__init_msg,
             "%d CUDA devices present, blockd uses the first %d", n,
             BD_MAX_CUDA);
    n = BD_MAX_CUDA;
  }
  for (int i = 0; i < n; i++) {
    const bd_backend_i *iface;
    void *ctx;
    if (bd_cuda_probe_impl.create(i, &iface, &ctx) != BD_OK) {
      bd__init_status = BD_EDEVICE;
      snprintf(bd__init_msg, sizeof bd__init_msg,
               "CUDA device %d unusable: %s (serving with %d CUDA "
               "device%s)",
               i, bd_errmsg(), i, i == 1 ? "" : "s");
      break;
    }
    bd__cuda[bd__ncuda].iface = iface;
    bd__cuda[bd__ncuda].ctx = ctx;
    bd__cuda[bd__ncuda].dev = (bd_device){BD_DEV_CUDA, i};
    bd__ncuda++;
  }
#endif
}

bd_status bd_backends_init(void) {
  pthread_once(&bd__once, bd__init_once);
  if (bd__init_status) return bd_fail(bd__init_status, "%s", bd__init_msg);
  return BD_OK;
}

bd_backend *bd_backend_get(bd_device dev) {
  pthread_once(&bd__once, bd__init_once);
  if (dev.type == BD_DEV_CPU) return &bd__cpu;
  if (dev.type == BD_DEV_CUDA && dev.index >= 0 && dev.index < bd__ncuda)
    return &bd__cuda[dev.index];
  return NULL;
}

int bd_backend_cuda_count(void) {
  pthread_once(&bd__once, bd__init_once);
  return bd__ncuda;
}

void *bd_backend_native_stream(bd_device dev) {
  bd_backend *be = bd_backend_get(dev);
  if (!be || !be->iface->native_stream) return NULL;
  return be->iface->native_stream(be->ctx);
}

bool bd_backend_cuda_compiled(void) {
#ifdef BLOCKD_HAVE_CUDA
  return true;
#else
  return false;
#endif
}

bd_status bd_device_resolve(const char *s, bd_device *out) {
  pthread_once(&bd__once, bd__init_once);
  if (!s || strcmp(s, "auto") == 0) {
    *out = bd__ncuda > 0 ? (bd_device){BD_DEV_CUDA, 0} : BD_CPU;
    return BD_OK;
  }
  bd_device d;
  if (!bd_device_parse(s, &d))
    return bd_fail(BD_EINVAL,
                   "invalid device '%s' (expected auto, cpu, cuda or cuda:N)",
                   s);
  if (!bd_backend_get(d))
    return bd_fail(BD_ENOTFOUND,
                   "device '%s' does not exist (%d CUDA "
                   "device%s available)",
                   s, bd__ncuda, bd__ncuda == 1 ? "" : "s");
  *out = d;
  return BD_OK;
}
