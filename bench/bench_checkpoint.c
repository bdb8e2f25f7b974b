/* bench_checkpoint.c - save/load of a large state_dict (default 16 x
 * Linear(4096, 4096), 1 GiB of float32) through blockd's checkpoint code,
 * against a raw write+fsync of the same bytes. One JSON line per case on
 * stdout (seconds, best of --reps). bench/bench_checkpoint.sh compares it
 * with torch.save/torch.load.
 *   bench_checkpoint DIR [--layers N] [--dim D] [--reps R] */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "engine/atomic_file.h"
#include "engine/backend.h"
#include "proto/checkpoint_json.h"
#include "proto/safetensors.h"
#include "proto/spec_json.h"
#include "proto/tformat.h"
#include "proto/torchzip.h"

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void die(const char *what) {
  fprintf(stderr, "bench_checkpoint: %s: %s\n", what, bd_errmsg());
  exit(1);
}

static double raw_write(const char *dir, const proto_tfile *f) {
  char p[4096];
  snprintf(p, sizeof p, "%s/raw.bin", dir);
  double t0 = now();
  int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) die("open raw");
  for (size_t i = 0; i < f->list.n; i++) {
    const char *d = bd_tensor_data(f->list.tensors[i]);
    size_t n = bd_tensor_nbytes(f->list.tensors[i]);
    while (n) {
      ssize_t w = write(fd, d, n);
      if (w <= 0) die("write raw");
      d += w;
      n -= (size_t)w;
    }
  }
  fsync(fd);
  close(fd);
  double t = now() - t0;
  unlink(p);
  return t;
}

static double save(bd_model *m, const char *dir, proto_tformat fmt) {
  double t0 = now();
  proto_tfile f;
  if (proto_checkpoint_export(m, false, &f)) die("export");
  bd_afile *af;
  if (bd_afile_open(dir, fmt ? "ckpt.pt" : "ckpt.safetensors", &af))
    die("open");
  if (proto_tfile_encode(&f, fmt, "ckpt", NULL, proto_afile_sink(af)))
    die("encode");
  if (bd_afile_commit(af)) die("commit");
  proto_tfile_clear(&f);
  return now() - t0;
}

static double load(bd_model *m, const char *dir, proto_tformat fmt) {
  char p[4096];
  snprintf(p, sizeof p, "%s/%s", dir, fmt ? "ckpt.pt" : "ckpt.safetensors");
  double t0 = now();
  void *data;
  size_t len;
  if (bd_file_map(p, &data, &len)) die("map");
  proto_tfile f;
  proto_tfile_limits lim = {.borrow = true}; /* as the server does */
  if (proto_tfile_parse(data, len, &lim, &f, NULL)) die("parse");
  bd_load_report rep;
  if (bd_checkpoint_load(m, &f.list, true, false, &rep)) die("load");
  bd_load_report_free(&rep);
  proto_tfile_clear(&f);
  bd_file_unmap(data, len);
  return now() - t0;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr,
            "usage: bench_checkpoint DIR [--layers N] [--dim D] "
            "[--reps R]\n");
    return 2;
  }
  const char *dir = argv[1];
  int layers = 16, dim = 4096, reps = 2;
  for (int i = 2; i + 1 < argc; i += 2) {
    if (!strcmp(argv[i], "--layers")) layers = atoi(argv[i + 1]);
    if (!strcmp(argv[i], "--dim")) dim = atoi(argv[i + 1]);
    if (!strcmp(argv[i], "--reps")) reps = atoi(argv[i + 1]);
  }
  bd_backends_init();
  bd_blocks_init();
  cJSON *spec = cJSON_CreateObject(), *ls;
  cJSON_AddStringToObject(spec, "type", "sequential");
  ls = cJSON_AddArrayToObject(spec, "layers");
  for (int i = 0; i < layers; i++) {
    cJSON *l = cJSON_CreateObject();
    cJSON_AddStringToObject(l, "type", "linear");
    cJSON_AddNumberToObject(l, "in_features", dim);
    cJSON_AddNumberToObject(l, "out_features", dim);
    cJSON_AddItemToArray(ls, l);
  }
  bd_build_limits lim = {.max_depth = 64, .max_bytes = 0, .max_blocks = 0};
  bd_model *m;
  if (proto_model_create("bench", spec, 1, BD_CPU, &lim, &m)) die("create");
  cJSON_Delete(spec);
  proto_tfile f;
  if (proto_checkpoint_export(m, false, &f)) die("export");
  size_t bytes = 0;
  for (size_t i = 0; i < f.list.n; i++)
    bytes += bd_tensor_nbytes(f.list.tensors[i]);
  double best[5] = {1e30, 1e30, 1e30, 1e30, 1e30};
  for (int r = 0; r < reps; r++) {
    /* raw is measured before and after the saves (disk writeback on a
     * shared machine varies); the best of all counts. */
    double t[5] = {raw_write(dir, &f), save(m, dir, PROTO_TFORMAT_SAFETENSORS),
                   load(m, dir, PROTO_TFORMAT_SAFETENSORS),
                   save(m, dir, PROTO_TFORMAT_TORCH),
                   load(m, dir, PROTO_TFORMAT_TORCH)};
    double again = raw_write(dir, &f);
    if (again < t[0]) t[0] = again;
    for (int k = 0; k < 5; k++)
      if (t[k] < best[k]) best[k] = t[k];
  }
  proto_tfile_clear(&f);
  static const char *names[5] = {"raw_write_fsync", "save_safetensors",
                                 "load_safetensors", "save_torchzip",
                                 "load_torchzip"};
  for (int k = 0; k < 5; k++)
    printf("{\"case\":\"%s\",\"bytes\":%zu,\"seconds\":%.4f}\n", names[k],
           bytes, best[k]);
  char p[4096];
  snprintf(p, sizeof p, "%s/ckpt.safetensors", dir);
  unlink(p);
  snprintf(p, sizeof p, "%s/ckpt.pt", dir);
  unlink(p);
  bd_model_release(m);
  return 0;
}
