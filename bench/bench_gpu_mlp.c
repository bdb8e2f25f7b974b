/* bench_gpu_mlp.c - in-process forward timing of an MLP on one device, the
 * GPU device check's blockd side (tests/gpu/device-check.sh compares it
 * with torch on the same GPU). Each forward is what a request costs the
 * engine: input host -> device, the layers, output device -> host.
 * Usage: bench_gpu_mlp [--device DEV] [--batch N] [--dims 1024,4096,...]
 *                      [--seconds S]
 * Prints one JSON line: {"device", "batch", "dims", "iters",
 * "ms_median", "ms_min", "gflops"}. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine/backend.h"
#include "engine/model.h"
#include "engine/rng.h"
#include "proto/spec_json.h"

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int cmp_d(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

int main(int argc, char **argv) {
  const char *device = "auto", *dims_s = "1024,4096,4096,1024";
  long batch = 256;
  double seconds = 3;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!strcmp(argv[i], "--device"))
      device = argv[i + 1];
    else if (!strcmp(argv[i], "--batch"))
      batch = atol(argv[i + 1]);
    else if (!strcmp(argv[i], "--dims"))
      dims_s = argv[i + 1];
    else if (!strcmp(argv[i], "--seconds"))
      seconds = atof(argv[i + 1]);
    else {
      fprintf(stderr,
              "usage: %s [--device DEV] [--batch N] [--dims a,b,..] "
              "[--seconds S]\n",
              argv[0]);
      return 2;
    }
  }
  int dims[16], nd = 0;
  char buf[256];
  snprintf(buf, sizeof buf, "%s", dims_s);
  for (char *save = NULL, *t = strtok_r(buf, ",", &save); t && nd < 16;
       t = strtok_r(NULL, ",", &save))
    dims[nd++] = atoi(t);
  if (nd < 2 || batch < 1) return 2;
  bd_backends_init();
  bd_device dev;
  if (bd_device_resolve(device, &dev)) {
    fprintf(stderr, "bench_gpu_mlp: %s\n", bd_errmsg());
    return 2;
  }
  cJSON *spec = cJSON_CreateObject();
  cJSON_AddStringToObject(spec, "type", "sequential");
  cJSON *layers = cJSON_AddArrayToObject(spec, "layers");
  double flops = 0;
  for (int i = 0; i + 1 < nd; i++) {
    cJSON *l = cJSON_CreateObject();
    cJSON_AddStringToObject(l, "type", "linear");
    cJSON_AddNumberToObject(l, "in_features", dims[i]);
    cJSON_AddNumberToObject(l, "out_features", dims[i + 1]);
    cJSON_AddItemToArray(layers, l);
    flops += 2.0 * (double)batch * dims[i] * dims[i + 1];
    if (i + 2 < nd) {
      cJSON *r = cJSON_CreateObject();
      cJSON_AddStringToObject(r, "type", "relu");
      cJSON_AddItemToArray(layers, r);
    }
  }
  bd_model *m;
  bd_build_limits lim = {.max_depth = 64, .max_bytes = 0, .max_blocks = 0};
  if (proto_model_create("bench", spec, 1, dev, &lim, &m)) {
    fprintf(stderr, "bench_gpu_mlp: %s\n", bd_errmsg());
    return 1;
  }
  cJSON_Delete(spec);
  bd_model_set_mode(m, false);
  int64_t shape[2] = {batch, dims[0]};
  bd_tensor *x;
  uint64_t off = 0;
  if (bd_tensor_new(BD_CPU, BD_F32, 2, shape, &x) ||
      bd_rng_fill(x, BD_RNG_NORMAL, 0, 1, 7, &off)) {
    fprintf(stderr, "bench_gpu_mlp: %s\n", bd_errmsg());
    return 1;
  }
  bd_tensor *y;
  for (int i = 0; i < 5; i++) { /* warm-up: cuBLAS heuristics, caches */
    if (bd_model_forward(m, x, &y)) {
      fprintf(stderr, "bench_gpu_mlp: forward: %s\n", bd_errmsg());
      return 1;
    }
    bd_tensor_release(y);
  }
  double *t = malloc(100000 * sizeof *t);
  long n = 0;
  double start = now();
  while (n < 100000 && (now() - start < seconds || n < 5)) {
    double t0 = now();
    if (bd_model_forward(m, x, &y)) {
      fprintf(stderr, "bench_gpu_mlp: forward: %s\n", bd_errmsg());
      return 1;
    }
    t[n++] = now() - t0;
    bd_tensor_release(y);
  }
  qsort(t, (size_t)n, sizeof *t, cmp_d);
  char d[16];
  printf(
      "{\"device\":\"%s\",\"batch\":%ld,\"dims\":\"%s\",\"iters\":%ld,"
      "\"ms_median\":%.4f,\"ms_min\":%.4f,\"gflops\":%.1f}\n",
      bd_device_str(dev, d, sizeof d), batch, dims_s, n, t[n / 2] * 1e3,
      t[0] * 1e3, flops / t[n / 2] * 1e-9);
  free(t);
  bd_tensor_release(x);
  bd_model_release(m);
  return 0;
}
