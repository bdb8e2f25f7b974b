/* routes_devices.c - GET /v1/devices and the per-device memory budgets. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../engine/backend.h"
#include "log.h"
#include "routes.h"

/* One device's description: name, compute capability (GPUs), memory
 * totals from the driver, what blockd allocated and its budget. */
static cJSON *describe_device(bd_backend *be) {
  char dev[16], name[256] = "";
  int maj = 0, min = 0;
  size_t fr = 0, tot = 0;
  cJSON *j = cJSON_CreateObject();
  cJSON_AddStringToObject(j, "device", bd_device_str(be->dev, dev, sizeof dev));
  cJSON_AddStringToObject(j, "type",
                          be->dev.type == BD_DEV_CPU ? "cpu" : "cuda");
  if (be->dev.type == BD_DEV_CUDA)
    cJSON_AddNumberToObject(j, "index", be->dev.index);
  if (be->iface->describe)
    be->iface->describe(be->ctx, name, sizeof name, &maj, &min);
  cJSON_AddStringToObject(j, "name", name);
  if (be->dev.type == BD_DEV_CUDA) {
    char cc[16];
    snprintf(cc, sizeof cc, "%d.%d", maj, min);
    cJSON_AddStringToObject(j, "compute_capability", cc);
  } else {
    cJSON_AddNullToObject(j, "compute_capability");
  }
  if (be->iface->mem_info && be->iface->mem_info(be->ctx, &fr, &tot) == BD_OK) {
    cJSON_AddNumberToObject(j, "total_memory", (double)tot);
    cJSON_AddNumberToObject(j, "free_memory", (double)fr);
  } else {
    bd_errclear();
    cJSON_AddNullToObject(j, "total_memory");
    cJSON_AddNullToObject(j, "free_memory");
  }
  cJSON_AddNumberToObject(
      j, "allocated",
      (double)__atomic_load_n(&be->allocated, __ATOMIC_RELAXED));
  if (be->budget > 0)
    cJSON_AddNumberToObject(j, "budget", (double)be->budget);
  else
    cJSON_AddNullToObject(j, "budget");
  return j;
}

int srv_devices_list(srv_req *r) {
  char dev[16];
  cJSON *j = cJSON_CreateObject();
  cJSON *arr = cJSON_AddArrayToObject(j, "devices");
  cJSON_AddItemToArray(arr, describe_device(bd_backend_get(BD_CPU)));
  int n = bd_backend_cuda_count();
  cJSON *all = cJSON_CreateArray();
  for (int i = 0; i < n; i++) {
    bd_backend *be = bd_backend_get((bd_device){BD_DEV_CUDA, i});
    cJSON_AddItemToArray(arr, describe_device(be));
    cJSON_AddItemToArray(
        all, cJSON_CreateString(bd_device_str(be->dev, dev, sizeof dev)));
  }
  /* d2l's try_all_gpus(): every GPU, or [cpu] when there is none. */
  if (n == 0) cJSON_AddItemToArray(all, cJSON_CreateString("cpu"));
  bd_device a;
  bd_device_resolve("auto", &a);
  cJSON_AddStringToObject(j, "auto", bd_device_str(a, dev, sizeof dev));
  cJSON_AddItemToObject(j, "try_all_gpus", all);
  cJSON_AddStringToObject(j, "default", r->app->cfg.device);
  cJSON_AddBoolToObject(j, "cuda_compiled", bd_backend_cuda_compiled());
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
    bd_backend *be = bd_backend_get(d);
    if (!be) {
      /* A budget written for GPU hosts does not stop a CPU-only start. */
      srv_log(SRV_LOG_WARN,
              "--device-budget: device %s is not present; "
              "budget ignored",
              spec);
      continue;
    }
    be->budget = sz;
  }
  return 0;
}
