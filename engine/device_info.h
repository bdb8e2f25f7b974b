/* device_info.h - what a device is and how much memory it has and blockd
 * uses, for GET /v1/devices, and the per-device memory budget. Callers
 * never reach into a backend's interface or fields. */
#ifndef BD_DEVICE_INFO_H
#define BD_DEVICE_INFO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tensor.h"

typedef struct bd_device_info {
  bd_device dev;
  char name[256]; /* driver's name ("" when the backend has none) */
  int cc_major;   /* compute capability (CUDA devices; else 0) */
  int cc_minor;
  bool has_mem;       /* whether free_memory / total_memory are known */
  size_t free_memory; /* driver's free and total bytes */
  size_t total_memory;
  int64_t allocated; /* bytes blockd holds through this device's backend */
  int64_t budget;    /* the --device-budget in bytes; 0 = none */
} bd_device_info;

/* Fills *out for dev. Errors: ENOTFOUND (no such device). A driver that
 * cannot report memory is not an error (has_mem false). */
bd_status bd_device_info_get(bd_device dev, bd_device_info *out);

/* Sets dev's memory budget in bytes (0 = none; allocations beyond it fail
 * with EDEVMEM). Errors: ENOTFOUND (no such device), EINVAL (negative). */
bd_status bd_device_set_budget(bd_device dev, int64_t bytes);

#endif
