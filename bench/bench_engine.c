/* bench_engine.c - in-process forward timings of blockd's engine, printed
 * as one JSON line per case for bench/run.sh to compare with PyTorch
 * (bench/bench_torch.py runs the same cases with the same method).
 * Every case: 3 warm-up calls, the iteration count calibrated to a tenth of
 * the budget, then the median over 7 repeats of that many calls.
 * Usage: bench_engine [--quick] */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine/model.h"
#include "engine/rng.h"
#include "proto/spec_json.h"

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Median-of-7 seconds per call of fn(arg). */
static double time_median(void (*fn)(void *), void *arg, double budget_s) {
  for (int i = 0; i < 3; i++) fn(arg);
  double t0 = now();
  long per = 0;
  while (now() - t0 < budget_s / 10 || per < 3) {
    fn(arg);
    per++;
  }
  double v[7];
  for (int r = 0; r < 7; r++) {
    double s = now();
    for (long i = 0; i < per; i++) fn(arg);
    v[r] = (now() - s) / (double)per;
  }
  for (int i = 0; i < 7; i++)
    for (int j = i + 1; j < 7; j++)
      if (v[j] < v[i]) {
        double t = v[i];
        v[i] = v[j];
        v[j] = t;
      }
  return v[3];
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

typedef struct fwd_arg {
  bd_model *m;
  bd_tensor *x;
} fwd_arg;

static void forward_once(void *p) {
  fwd_arg *a = p;
  bd_tensor *y;
  if (bd_model_forward(a->m, a->x, &y)) {
    fprintf(stderr, "forward failed: %s\n", bd_errmsg());
    exit(1);
  }
  bd_tensor_release(y);
}

static void print_case(const char *name, int batch, double t, double flops) {
  printf("{\"case\":\"%s\",\"batch\":%d,\"seconds\":%.9g,\"gflops\":%.4g}\n",
         name, batch, t, flops / t / 1e9);
  fflush(stdout);
}

static double mlp_flops(const int *dims, int n, int batch) {
  double f = 0;
  for (int i = 0; i + 1 < n; i++) f += 2.0 * batch * dims[i] * dims[i + 1];
  return f;
}

static void run_case(const char *name, const int *dims, int n, int batch,
                     double budget) {
  bd_blocks_init();
  cJSON *spec = mlp_spec(dims, n);
  bd_model *m;
  if (proto_model_create("bench", spec, 1, BD_CPU, NULL, &m)) {
    fprintf(stderr, "create failed: %s\n", bd_errmsg());
    exit(1);
  }
  cJSON_Delete(spec);
  int64_t shape[2] = {batch, dims[0]};
  bd_tensor *x;
  if (bd_tensor_new(BD_CPU, BD_F32, 2, shape, &x)) exit(1);
  uint64_t off = 0;
  bd_rng_fill(x, BD_RNG_NORMAL, 0, 1, 7, &off);
  fwd_arg a = {m, x};
  double t = time_median(forward_once, &a, budget);
  print_case(name, batch, t, mlp_flops(dims, n, batch));
  bd_tensor_release(x);
  bd_model_release(m);
}

/* Raw cblas_sgemm chains: out_i+1 = act_i @ W_i^T, the GEMMs of an MLP
 * without bias or relu (one layer: the sgemm ceiling). */
typedef struct chain {
  int n, batch;
  const int *dims;
  float *act[8], *w[8];
} chain;

static void chain_once(void *p) {
  chain *c = p;
  for (int i = 0; i + 1 < c->n; i++)
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, c->batch,
                c->dims[i + 1], c->dims[i], 1, c->act[i], c->dims[i], c->w[i],
                c->dims[i], 0, c->act[i + 1], c->dims[i + 1]);
}

static void run_sgemm_chain(const char *name, const int *dims, int n, int batch,
                            double budget) {
  chain c = {.n = n, .batch = batch, .dims = dims};
  for (int i = 0; i < n; i++) {
    c.act[i] = calloc((size_t)batch * dims[i], 4);
    for (size_t j = 0; j < (size_t)batch * dims[i]; j++)
      c.act[i][j] = (float)(j % 7) * 0.1f;
  }
  for (int i = 0; i + 1 < n; i++) {
    c.w[i] = calloc((size_t)dims[i] * dims[i + 1], 4);
    for (size_t j = 0; j < (size_t)dims[i] * dims[i + 1]; j++)
      c.w[i][j] = (float)(j % 5) * 0.01f;
  }
  double t = time_median(chain_once, &c, budget);
  print_case(name, batch, t, mlp_flops(dims, n, batch));
  for (int i = 0; i < n; i++) free(c.act[i]);
  for (int i = 0; i + 1 < n; i++) free(c.w[i]);
}

int main(int argc, char **argv) {
  bool quick = argc > 1 && strcmp(argv[1], "--quick") == 0;
  double budget = quick ? 0.2 : 2.0;
  static const int seed_mlp[] = {20, 256, 10};
  static const int big_mlp[] = {1024, 4096, 4096, 1024};
  static const int one_layer[] = {4096, 4096};
  run_case("seed_mlp", seed_mlp, 3, 1, budget);
  run_case("seed_mlp", seed_mlp, 3, 64, budget);
  run_case("big_mlp", big_mlp, 4, 256, budget * 2);
  /* The big MLP's own three GEMMs alone: the ceiling for its exact work. */
  run_sgemm_chain("big_mlp_gemms_only", big_mlp, 4, 256, budget * 2);
  run_sgemm_chain("sgemm_256x4096x4096", one_layer, 2, 256, budget);
  return 0;
}
