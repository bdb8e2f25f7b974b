/* backend.c - the backend registry: the only file that knows whether a
 * CUDA backend is there (the module libblockd-cuda.so, dlopen'd). */
#include "backend.h"

#include <dlfcn.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define BD_MAX_CUDA 16

/* The loaded module (NULL: none) and the status line. */
static const bd_cuda_probe *bd__probe;
static char bd__cuda_status[768];

/* Tries one module path: NULL when it is not there at all (the search
 * goes on); otherwise the module, or NULL with bd__cuda_status saying why
 * it was refused. *found tells the two apart. */
static const bd_cuda_probe *bd__try_module(const char *path, bool *found) {
  *found = access(path, F_OK) == 0;
  if (!*found) return NULL;
  void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
  if (!h) {
    snprintf(bd__cuda_status, sizeof bd__cuda_status,
             "CUDA module %s not loaded: %s", path, dlerror());
    return NULL;
  }
  const bd_cuda_module *mod = dlsym(h, BD_CUDA_MODULE_SYMBOL);
  const char *why = NULL;
  char msg[256];
  if (!mod) {
    why = "it exports no " BD_CUDA_MODULE_SYMBOL;
  } else if (mod->abi_version != BD_CUDA_MODULE_ABI) {
    snprintf(msg, sizeof msg,
             "built for module ABI version %u, this blockd speaks version "
             "%u; rebuild the module with this blockd",
             (unsigned)mod->abi_version, (unsigned)BD_CUDA_MODULE_ABI);
    why = msg;
  } else if (mod->check_host && mod->check_host(BD_CUDA_MODULE_ABI) != BD_OK) {
    snprintf(msg, sizeof msg, "it refused this blockd: %s", bd_errmsg());
    why = msg;
  } else if (!mod->probe) {
    why = "it has no probe";
  }
  if (why) {
    snprintf(bd__cuda_status, sizeof bd__cuda_status,
             "CUDA module %s refused: %s", path, why);
    dlclose(h);
    return NULL;
  }
  /* Never closed: its code runs for the life of the process. */
  snprintf(bd__cuda_status, sizeof bd__cuda_status, "CUDA module %s", path);
  return mod->probe;
}

/* Finds and loads the CUDA module (see backend.h for the search order). */
static void bd__load_cuda_module(void) {
  const char *env = getenv("BLOCKD_CUDA_MODULE");
  bool found = false;
  if (env && *env) {
    if (strcmp(env, "none") == 0) {
      snprintf(bd__cuda_status, sizeof bd__cuda_status,
               "CUDA disabled (BLOCKD_CUDA_MODULE=none)");
      return;
    }
    bd__probe = bd__try_module(env, &found);
    if (!found)
      snprintf(bd__cuda_status, sizeof bd__cuda_status,
               "CUDA module %s not found (BLOCKD_CUDA_MODULE)", env);
    return;
  }
  /* Only where a GPU driver is installed: on a CPU host the module would
   * map cuBLAS (hundreds of MB) to find no device. The handle stays open;
   * cudart opens the same library. */
  if (!dlopen("libcuda.so.1", RTLD_LAZY | RTLD_LOCAL)) {
    snprintf(bd__cuda_status, sizeof bd__cuda_status,
             "no GPU driver (libcuda.so.1 not found): CPU only");
    return;
  }
  char exe[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (n > 0) {
    exe[n] = '\0';
    char *slash = strrchr(exe, '/');
    if (slash) *slash = '\0';
    static const char *const rel[] = {"", "/..", "/../lib/blockd"};
    for (size_t i = 0; i < sizeof rel / sizeof rel[0] && !found; i++) {
      char path[PATH_MAX + 64];
      snprintf(path, sizeof path, "%s%s/" BD_CUDA_MODULE_FILE, exe, rel[i]);
      bd__probe = bd__try_module(path, &found);
    }
  }
  if (!found)
    snprintf(bd__cuda_status, sizeof bd__cuda_status,
             "no CUDA module (" BD_CUDA_MODULE_FILE
             " is not installed next to blockd): CPU only");
}

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
  bd__load_cuda_module();
  if (!bd__probe) return;
  int n = bd__probe->device_count();
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
    if (bd__probe->create(i, &iface, &ctx) != BD_OK) {
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
  size_t len = strlen(bd__cuda_status);
  snprintf(bd__cuda_status + len, sizeof bd__cuda_status - len,
           ": %d CUDA device%s", bd__ncuda, bd__ncuda == 1 ? "" : "s");
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
  pthread_once(&bd__once, bd__init_once);
  return bd__probe != NULL;
}

const char *bd_backend_cuda_status(void) {
  pthread_once(&bd__once, bd__init_once);
  return bd__cuda_status;
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
                   "device%s available; %s)",
                   s, bd__ncuda, bd__ncuda == 1 ? "" : "s", bd__cuda_status);
  *out = d;
  return BD_OK;
}
