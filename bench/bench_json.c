/* bench_json.c - tensor JSON encode and decode, old path against new, in
 * one run: float32 tensors of 1x784 and 256x1024 (random values of
 * activation size). Old encode: the search over snprintf("%.{p}g") with
 * strtof checks the codec used before json_num.c; new: proto_tensor_write.
 * Old decode: cJSON tree (proto_json_parse) + proto_tensor_from_json; new:
 * proto_json_tensor_fields on a forward body {"inputs": T}.
 * Times are this thread's CPU time (CLOCK_THREAD_CPUTIME_ID).
 * Usage: bench_json [CPU seconds per measurement, default 0.5] */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "proto/json_fields.h"
#include "proto/json_parse.h"
#include "proto/json_tensor.h"

/* CPU time of this thread: on a shared machine, time spent descheduled
 * would otherwise land on whichever side happened to run then. */
static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* The printer before json_num.c: the first %.{p}g that reads back. */
static int old_fmt_f32(float f, char *buf) {
  int n = 0;
  int p0 = f != 0.0f && fabsf(f) < FLT_MIN ? 1 : 6;
  for (int p = p0; p <= 9; p++) {
    n = snprintf(buf, 32, "%.*g", p, (double)f);
    if (strtof(buf, NULL) == f) break;
  }
  return n;
}

static void old_write(proto_buf *b, const bd_tensor *t) {
  const float *x = bd_tensor_f32(t);
  int64_t rows = t->shape[0], cols = t->shape[1];
  proto_buf_printf(b, "{\"shape\":[%lld,%lld],\"dtype\":\"float32\",\"data\":[",
                   (long long)rows, (long long)cols);
  for (int64_t r = 0; r < rows; r++) {
    proto_buf_put(b, r ? ",[" : "[", r ? 2 : 1);
    for (int64_t c = 0; c < cols; c++) {
      char tmp[40];
      int n = old_fmt_f32(x[r * cols + c], tmp);
      if (c) proto_buf_put(b, ",", 1);
      proto_buf_put(b, tmp, (size_t)n);
    }
    proto_buf_put(b, "]", 1);
  }
  proto_buf_puts(b, "]}");
}

typedef void (*job)(void *ctx);

/* Seconds per run of fn, repeated for at least `secs`. */
static double timeit(job fn, void *ctx, double secs) {
  fn(ctx); /* warm */
  long reps = 0;
  double t0 = now(), t;
  do {
    fn(ctx);
    reps++;
    t = now();
  } while (t - t0 < secs);
  return (t - t0) / (double)reps;
}

typedef struct ctx {
  bd_tensor *t;
  char *body; /* {"inputs": T} */
  size_t len;
} ctx;

static void enc_old(void *p) {
  proto_buf b = {0};
  old_write(&b, ((ctx *)p)->t);
  proto_buf_free(&b);
}

static void enc_new(void *p) {
  proto_buf b = {0};
  proto_tensor_write(&b, ((ctx *)p)->t, false);
  proto_buf_free(&b);
}

static void dec_old(void *p) {
  ctx *c = p;
  cJSON *j = proto_json_parse(c->body, c->len, NULL);
  bd_tensor *t = NULL;
  if (!j ||
      proto_tensor_from_json(cJSON_GetObjectItem(j, "inputs"), "inputs", 0, &t))
    abort();
  bd_tensor_release(t);
  cJSON_Delete(j);
}

static void dec_new(void *p) {
  ctx *c = p;
  static const char *const keys[] = {"inputs", NULL};
  bd_tensor *t[1];
  cJSON *rest;
  if (proto_json_tensor_fields(c->body, c->len, keys, 0, t, &rest) || !t[0])
    abort();
  bd_tensor_release(t[0]);
  cJSON_Delete(rest);
}

int main(int argc, char **argv) {
  double secs = argc > 1 ? atof(argv[1]) : 0.5;
  static const int64_t shapes[][2] = {{1, 784}, {256, 1024}};
  uint64_t s = 0x9e3779b97f4a7c15ULL;
  printf("%-10s %-7s %12s %12s %9s %9s %7s\n", "shape", "op", "old us",
         "new us", "old ns/#", "new ns/#", "ratio");
  for (int k = 0; k < 2; k++) {
    ctx c;
    if (bd_tensor_new(BD_CPU, BD_F32, 2, shapes[k], &c.t)) return 1;
    float *x = bd_tensor_f32(c.t);
    int64_t n = shapes[k][0] * shapes[k][1];
    for (int64_t i = 0; i < n; i++) {
      s ^= s << 13;
      s ^= s >> 7;
      s ^= s << 17;
      x[i] = (float)((double)(s >> 11) / 9007199254740992.0 * 4.0 - 2.0);
    }
    proto_buf b = {0};
    proto_buf_puts(&b, "{\"inputs\":");
    proto_tensor_write(&b, c.t, false);
    proto_buf_puts(&b, "}");
    c.body = proto_buf_take(&b, &c.len);
    /* Both printers give the same text; both readers the same bits. */
    proto_buf o = {0}, w = {0};
    old_write(&o, c.t);
    proto_tensor_write(&w, c.t, false);
    if (o.len != w.len || memcmp(o.data, w.data, o.len)) {
      fprintf(stderr, "old and new encoders differ\n");
      return 1;
    }
    proto_buf_free(&o);
    proto_buf_free(&w);
    char name[32];
    snprintf(name, sizeof name, "%lldx%lld", (long long)shapes[k][0],
             (long long)shapes[k][1]);
    double eo = timeit(enc_old, &c, secs), en = timeit(enc_new, &c, secs);
    double dold = timeit(dec_old, &c, secs), dn = timeit(dec_new, &c, secs);
    printf("%-10s %-7s %12.1f %12.1f %9.1f %9.1f %6.1fx\n", name, "encode",
           eo * 1e6, en * 1e6, eo * 1e9 / (double)n, en * 1e9 / (double)n,
           eo / en);
    printf("%-10s %-7s %12.1f %12.1f %9.1f %9.1f %6.1fx\n", name, "decode",
           dold * 1e6, dn * 1e6, dold * 1e9 / (double)n, dn * 1e9 / (double)n,
           dold / dn);
    free(c.body);
    bd_tensor_release(c.t);
  }
  return 0;
}
