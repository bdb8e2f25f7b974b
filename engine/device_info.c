/* device_info.c - device descriptions and budgets over the backends. */
#include "device_info.h"

#include <string.h>

#include "backend.h"

static bd_status bd__no_device(bd_device dev) {
  char b[16];
  return bd_fail(BD_ENOTFOUND, "device '%s' does not exist",
                 bd_device_str(dev, b, sizeof b));
}

bd_status bd_device_info_get(bd_device dev, bd_device_info *out) {
  memset(out, 0, sizeof *out);
  bd_backend *be = bd_backend_get(dev);
  if (!be) return bd__no_device(dev);
  out->dev = be->dev;
  if (be->iface->describe)
    be->iface->describe(be->ctx, out->name, sizeof out->name, &out->cc_major,
                        &out->cc_minor);
  if (be->iface->mem_info) {
    out->has_mem = be->iface->mem_info(be->ctx, &out->free_memory,
                                       &out->total_memory) == BD_OK;
    if (!out->has_mem) {
      out->free_memory = out->total_memory = 0;
      bd_errclear();
    }
  }
  out->allocated = __atomic_load_n(&be->allocated, __ATOMIC_RELAXED);
  out->budget = __atomic_load_n(&be->budget, __ATOMIC_RELAXED);
  return BD_OK;
}

bd_status bd_device_set_budget(bd_device dev, int64_t bytes) {
  if (bytes < 0)
    return bd_fail(BD_EINVAL, "a device budget must not be negative");
  bd_backend *be = bd_backend_get(dev);
  if (!be) return bd__no_device(dev);
  __atomic_store_n(&be->budget, bytes, __ATOMIC_RELAXED);
  return BD_OK;
}
