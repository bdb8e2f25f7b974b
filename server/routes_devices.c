/* routes_devices.c - GET /v1/devices and the per-device memory budgets. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../engine/backend.h"
#include "../engine/device_info.h"
#include "log.h"
#include "routes.h"

/* One device's description: name, compute capability (GPUs), memory
 * totals from the driver, what blockd allocated and its budget. */
static cJSON *describe_device(const bd_device_info *in) {
  char dev[16];
  bool gpu = in->dev.type == BD_DEV_CUDA;
  cJSON *j = cJSON_CreateObject();
  cJSON_AddStringToObject(j, "device", bd_device_str(in->dev, dev, sizeof dev));
  cJSON_AddStringToObject(j, "type", gpu ? "cuda" : "cpu");
  if (gpu) cJSON_AddNumberToObject(j, "index", in->dev.index);
  cJSON_AddStringToObject(j, "name", in->name);
  if (gpu) {
    char cc[32];
    snprintf(cc, sizeof cc, "%d.%d", in->cc_major, in->cc_minor);
    cJSON_AddStringToObject(j, "compute_capability", cc);
  } else {
    cJSON_AddNullToObject(j, "compute_capability");
  }
  if (in->has_mem) {
    cJSON_AddNumberToObject(j, "total_memory", (double)in->total_memory);
    cJSON_AddNumberToObject(j, "free_memory", (double)in->free_memory);
  } else {
    cJSON_AddNullToObject(j, "total_memory");
    cJSON_AddNullToObject(j, "free_memory");
  }
  cJSON_AddNumberToObject(j, "allocated", (double)in->allocated);
  if (in->budget > 0)
    cJSON_AddNumberToObject(j, "budget", (double)in->budget);
  else
    cJSON_AddNullToObject(j, "budget");
  return j;
}

int srv_devices_list(srv_req *r) {
  char dev[16];
  bd_device_info in;
  cJSON *j = cJSON_CreateObject();
  cJSON *arr = cJSON_AddArrayToObject(j, "devices");
  bd_status s = bd_device_info_get(BD_CPU, &in);
  if (!s) cJSON_AddItemToArray(arr, describe_device(&in));
  int n = bd_backend_cuda_count();
  cJSON *all = cJSON_CreateArray();
  for (int i = 0; !s && i < n; i++) {
    s = bd_device_info_get((bd_device){BD_DEV_CUDA, i}, &in);
    if (s) break;
    cJSON_AddItemToArray(arr, describe_device(&in));
    cJSON_AddItemToArray(
        all, cJSON_CreateString(bd_device_str(in.dev, dev, sizeof dev)));
  }
  if (s) {
    cJSON_Delete(all);
    cJSON_Delete(j);
    return srv_reply_status(r, s);
  }
  /* d2l's try_all_gpus(): every GPU, or [cpu] when there is none. */
  if (n == 0) cJSON_AddItemToArray(all, cJSON_CreateString("cpu"));
  bd_device a;
  bd_device_resolve("auto", &a);
  cJSON_AddStringToObject(j, "auto", bd_device_str(a, dev, sizeof dev));
  cJSON_AddItemToObject(j, "try_all_gpus", all);
  cJSON_AddStringToObject(j, "default", r->app->cfg.device);
  cJSON_AddBoolToObject(j, "cuda_compiled", bd_backend_cuda_compiled());
  cJSON_AddStringToObject(j, "cuda_status", bd_backend_cuda_status());
  cJSON_AddNumberToObject(j, "cuda_device_count", n);
  return srv_reply_json(r, 200, j);
}

int srv_devices_apply_budgets(const srv_config *cfg) {
  for (int i = 0; i < cfg->nbudgets; i++) {
    char spec[64];
    snprintf(spec, sizeof spec, "%s", cfg->device_budgets[i]);
    char *eq = strchr(spec, '=');
    int64_t sz = 0;
    if (!eq || !srv_parse_size(eq + 1, &sz)) {
      fprintf(stderr,
              "blockd: --device-budget: malformed '%s' (want DEV=SIZE)\n",
              cfg->device_budgets[i]);
      return -1;
    }
    *eq = '\0';
    bd_device d;
    if (!bd_device_parse(spec, &d)) {
      fprintf(stderr,
              "blockd: --device-budget: invalid device '%s' (cpu or "
              "cuda:N)\n",
              spec);
      return -1;
    }
    bd_status bs = bd_device_set_budget(d, sz);
    if (bs == BD_ENOTFOUND) {
      /* A budget written for GPU hosts does not stop a CPU-only start. */
      srv_log(SRV_LOG_WARN,
              "--device-budget: device %s is not present; "
              "budget ignored",
              spec);
      bd_errclear();
    } else if (bs) {
      fprintf(stderr, "blockd: --device-budget: %s\n", bd_errmsg());
      return -1;
    }
  }
  return 0;
}
