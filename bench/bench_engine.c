/* bench_engine.c - in-process forward timings of blockd's engine, printed
 * as one JSON line per case for bench/run.sh to compare with PyTorch.
 * Usage: bench_engine [--quick] */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine/model.h"
#include "engine/rng.h"

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static cJSON *mlp_spec(const int *dims, int n) {
  cJSON *s = cJSON_CreateObject();
  cJSON_AddStringToObject(s, "type", "sequential");
  cJSON *layers = cJSON_AddArrayToObject(s, "layers");
  for (int i = 0; i + 1 < n; i++) {
    cJSON *l = cJSON_CreateObject();
    cJSON_AddStringToObject(l, "type", "linear");
    cJSON_AddNumberToObject(l, "in_features", dims[i]);
    cJSON_AddNumberToObject(l, "out_features", dims[i + 1]);
    cJSON_AddItemToArray(layers, l);
    if (i + 2 < n) {
      cJSON *r = cJSON_CreateObject();
      cJSON_AddStringToObject(r, "type", "relu");
      cJSON_AddItemToArray(layers, r);
    }
  }
  return s;
}

/* Median-of-repeats time per forward, in seconds. */
static double time_forward(bd_model *m, bd_tensor *x, double budget_s) {
  bd_tensor *y;
  for (int i = 0; i < 3; i++) { /* warm-up */
    if (bd_model_forward(m, x, &y)) {
      fprintf(stderr, "forward failed: %s\n", bd_errmsg());
      exit(1);
    }
    bd_tensor_release(y);
  }
  double t0 = now();
  long iters = 0;
  while (now() - t0 < budget_s / 10 || iters < 3) {
    bd_model_forward(m, x, &y);
    bd_tensor_release(y);
    iters++;
  }
  long per = iters;
  double best[7];
  for (int r = 0; r < 7; r++) {
    double s = now();
    for (long i = 0; i < per; i++) {
      bd_model_forward(m, x, &y);
      bd_tensor_release(y);
    }
    best[r] = (now() - s) / (double)per;
  }
  for (int i = 0; i < 7; i++) /* sort for the median */
    for (int j = i + 1; j < 7; j++)
      if (best[j] < best[i]) {
        double t = best[i];
        best[i] = best[j];
        best[j] = t;
      }
  return best[3];
}

static void run_case(const char *name, const int *dims, int n, int batch,
                     double budget) {
  cJSON *spec = mlp_spec(dims, n);
  bd_model *m;
  if (bd_model_create("bench", spec, 1, BD_CPU, NULL, &m)) {
    fprintf(stderr, "create failed: %s\n", bd_errmsg());
    exit(1);
  }
  cJSON_Delete(spec);
  int64_t shape[2] = {batch, dims[0]};
  bd_tensor *x;
  bd_tensor_new(BD_CPU, BD_F32, 2, shape, &x);
  uint64_t off = 0;
  bd_rng_fill(x, BD_RNG_NORMAL, 0, 1, 7, &off);
  double t = time_forward(m, x, budget);
  double flops = 0;
  for (int i = 0; i + 1 < n; i++) flops += 2.0 * batch * dims[i] * dims[i + 1];
  printf("{\"case\":\"%s\",\"batch\":%d,\"seconds\":%.9g,\"gflops\":%.4g}\n",
         name, batch, t, flops / t / 1e9);
  fflush(stdout);
  bd_tensor_release(x);
  bd_model_release(m);
}

/* Raw cblas_sgemm rate on the big MLP's largest layer: the ceiling. */
static void run_sgemm(int m, int n, int k, double budget) {
  float *a = calloc((size_t)m * k, 4), *b = calloc((size_t)k * n, 4),
        *c = calloc((size_t)m * n, 4);
  for (size_t i = 0; i < (size_t)m * k; i++) a[i] = (float)(i % 7) * 0.1f;
  for (size_t i = 0; i < (size_t)k * n; i++) b[i] = (float)(i % 5) * 0.1f;
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, n, k, 1, a, k, b, k,
              0, c, n);
  double t0 = now();
  long iters = 0;
  while (now() - t0 < budget) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, n, k, 1, a, k, b,
                k, 0, c, n);
    iters++;
  }
  double t = (now() - t0) / (double)iters;
  printf("{\"case\":\"sgemm_%dx%dx%d\",\"batch\":%d,\"seconds\":%.9g,"
         "\"gflops\":%.4g}\n", m, n, k, m, t, 2.0 * m * n * k / t / 1e9);
  free(a);
  free(b);
  free(c);
}

int main(int argc, char **argv) {
  bool quick = argc > 1 && strcmp(argv[1], "--quick") == 0;
  double budget = quick ? 0.2 : 2.0;
  static const int seed_mlp[] = {20, 256, 10};
  static const int big_mlp[] = {1024, 4096, 4096, 1024};
  run_case("seed_mlp", seed_mlp, 3, 1, budget);
  run_case("seed_mlp", seed_mlp, 3, 64, budget);
  run_case("big_mlp", big_mlp, 4, 256, budget * 2);
  run_sgemm(256, 4096, 4096, budget);
  return 0;
}
