/* metrics.c - counters and histograms behind GET /metrics, and their
 * Prometheus text exposition. */
/* PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP (below). */
#define _GNU_SOURCE
#include "metrics.h"

#include <dirent.h>
#include <math.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "../engine/backend.h"
#include "../engine/device_info.h"
#include "../engine/model.h"
#include "config.h"

/* ---- histograms ------------------------------------------------------- */

#define HIST_MAX_BOUNDS 16

/* A histogram's buckets: upper bounds (the +Inf bucket is implicit) and
 * the unit its sum is kept in, an integer so that it can be added
 * atomically (nanoseconds for durations, 1 for counts). */
typedef struct hist_kind {
  const double *bounds;
  int nbounds;
  double unit;
} hist_kind;

/* Counts per bucket, not cumulative: the exposition sums them, so a
 * scrape racing an observation still shows monotonic buckets whose +Inf
 * equals _count. */
typedef struct hist {
  uint64_t counts[HIST_MAX_BOUNDS + 1];
  uint64_t sum;
} hist;

/* Request, queue and compute durations: 0.5 ms to 30 s. */
static const double duration_bounds[] = {0.0005, 0.001, 0.0025, 0.005, 0.01,
                                         0.025,  0.05,  0.1,    0.25,  0.5,
                                         1,      2.5,   5,      10,    30};
static const hist_kind duration_kind = {
    duration_bounds, sizeof duration_bounds / sizeof duration_bounds[0], 1e-9};
static const double batch_bounds[] = {1, 2, 4, 8, 16, 32, 64, 128, 256};
static const hist_kind batch_kind = {
    batch_bounds, sizeof batch_bounds / sizeof batch_bounds[0], 1};

static void hist_observe(hist *h, const hist_kind *k, double v) {
  if (!(v > 0)) v = 0; /* negative and NaN */
  int i = 0;
  while (i < k->nbounds && v > k->bounds[i]) i++;
  __atomic_add_fetch(&h->counts[i], 1, __ATOMIC_RELAXED);
  double units = v / k->unit;
  uint64_t add = units >= 1.8e19 ? UINT64_MAX / 2 : (uint64_t)llround(units);
  __atomic_add_fetch(&h->sum, add, __ATOMIC_RELAXED);
}

static uint64_t load64(const uint64_t *p) {
  return __atomic_load_n(p, __ATOMIC_RELAXED);
}

static uint64_t hist_count(const hist *h, const hist_kind *k) {
  uint64_t n = 0;
  for (int i = 0; i <= k->nbounds; i++) n += load64(&h->counts[i]);
  return n;
}

/* ---- the registry ------------------------------------------------------ */

static const char *const method_names[] = {
    "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "other"};
#define NMETHODS (int)(sizeof method_names / sizeof method_names[0])
/* Distinct statuses one (route, method) pair can show; blockd's status
 * table has fewer than this many HTTP codes. */
#define NSTATUS 24

/* The series of one (route, method) pair. A status slot is claimed once
 * by a compare-and-swap from 0 and never changes afterwards. */
typedef struct http_cell {
  unsigned status[NSTATUS];
  uint64_t count[NSTATUS];
  uint64_t overflow; /* requests whose status found no free slot */
  hist duration;
} http_cell;

typedef struct model_series {
  bool used;
  char name[132];
  uint64_t inferences;
  hist queue, compute, batch;
  char reasons[SRV_METRICS_MAX_REASONS][32];
  uint64_t rejected[SRV_METRICS_MAX_REASONS];
  uint64_t rejected_other;
} model_series;

static struct {
  const char *const *route_labels;
  int nroutes;
  http_cell *cells;      /* (nroutes + 1) * NMETHODS; route "other" first */
  pthread_rwlock_t lock; /* guards the model map's slots, not values */
  model_series models[SRV_METRICS_MAX_MODELS];
  model_series other; /* past the cap, or an invalid name */
  double start_time;  /* fallback when /proc cannot say */
  bool ready;
} M = {.lock = PTHREAD_RWLOCK_INITIALIZER};

int srv_metrics_init(const char *const *route_labels, int nroutes) {
  srv_metrics_free();
  M.cells = calloc((size_t)(nroutes + 1) * NMETHODS, sizeof *M.cells);
  if (!M.cells) return -1;
  /* Recorders hold the read lock for a few atomic adds, but many threads
   * doing so back to back could keep a reader-preferring lock from ever
   * admitting the writer that adds a new model. */
  pthread_rwlockattr_t attr;
  pthread_rwlockattr_init(&attr);
  pthread_rwlockattr_setkind_np(&attr,
                                PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
  pthread_rwlock_destroy(&M.lock);
  pthread_rwlock_init(&M.lock, &attr);
  pthread_rwlockattr_destroy(&attr);
  M.route_labels = route_labels;
  M.nroutes = nroutes;
  memset(M.models, 0, sizeof M.models);
  memset(&M.other, 0, sizeof M.other);
  M.other.used = true;
  snprintf(M.other.name, sizeof M.other.name, "%s", SRV_METRICS_OTHER_MODEL);
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  M.start_time = (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
  M.ready = true;
  return 0;
}

void srv_metrics_free(void) {
  free(M.cells);
  M.cells = NULL;
  M.nroutes = 0;
  M.ready = false;
}

static int method_index(const char *m) {
  for (int i = 0; m && i < NMETHODS - 1; i++)
    if (strcmp(m, method_names[i]) == 0) return i;
  return NMETHODS - 1;
}

void srv_metrics_http(int route, const char *method, unsigned status,
                      double seconds) {
  if (!M.ready) return;
  if (route < 0 || route >= M.nroutes) route = -1;
  http_cell *c =
      &M.cells[(size_t)(route + 1) * NMETHODS + method_index(method)];
  hist_observe(&c->duration, &duration_kind, seconds);
  for (int i = 0; i < NSTATUS; i++) {
    unsigned s = __atomic_load_n(&c->status[i], __ATOMIC_ACQUIRE);
    if (s == 0) {
      unsigned zero = 0;
      if (__atomic_compare_exchange_n(&c->status[i], &zero, status, false,
                                      __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
        s = status;
      else
        s = zero; /* another thread claimed it: with which status? */
    }
    if (s == status) {
      __atomic_add_fetch(&c->count[i], 1, __ATOMIC_RELAXED);
      return;
    }
  }
  __atomic_add_fetch(&c->overflow, 1, __ATOMIC_RELAXED);
}

static model_series *model_find(const char *model) {
  for (int i = 0; i < SRV_METRICS_MAX_MODELS; i++)
    if (M.models[i].used && strcmp(M.models[i].name, model) == 0)
      return &M.models[i];
  return NULL;
}

/* The model's series with the read lock held (the caller releases it
 * with pthread_rwlock_unlock), created on first use; a full map or an
 * invalid name gives the "(other)" series. */
static model_series *model_get(const char *model) {
  if (!model || !bd_model_name_ok(model)) {
    pthread_rwlock_rdlock(&M.lock);
    return &M.other;
  }
  pthread_rwlock_rdlock(&M.lock);
  model_series *s = model_find(model);
  if (s) return s;
  pthread_rwlock_unlock(&M.lock);
  /* A new model: take a slot under the write lock (looking again: another
   * thread may have added it meanwhile), then look it up under the read
   * lock like everyone else. A model forgotten in between counts under
   * "(other)", which is where a deleted model's late work belongs. */
  pthread_rwlock_wrlock(&M.lock);
  if (!model_find(model))
    for (int i = 0; i < SRV_METRICS_MAX_MODELS; i++)
      if (!M.models[i].used) {
        memset(&M.models[i], 0, sizeof M.models[i]);
        snprintf(M.models[i].name, sizeof M.models[i].name, "%s", model);
        M.models[i].used = true;
        break;
      }
  pthread_rwlock_unlock(&M.lock);
  pthread_rwlock_rdlock(&M.lock);
  s = model_find(model);
  return s ? s : &M.other;
}

void srv_metrics_inference(const char *model) {
  if (!M.ready) return;
  model_series *s = model_get(model);
  __atomic_add_fetch(&s->inferences, 1, __ATOMIC_RELAXED);
  pthread_rwlock_unlock(&M.lock);
}

void srv_metrics_queue_time(const char *model, double seconds) {
  if (!M.ready) return;
  model_series *s = model_get(model);
  hist_observe(&s->queue, &duration_kind, seconds);
  pthread_rwlock_unlock(&M.lock);
}

void srv_metrics_compute_time(const char *model, double seconds) {
  if (!M.ready) return;
  model_series *s = model_get(model);
  hist_observe(&s->compute, &duration_kind, seconds);
  pthread_rwlock_unlock(&M.lock);
}

void srv_metrics_batch(const char *model, int batch_size) {
  if (!M.ready) return;
  model_series *s = model_get(model);
  hist_observe(&s->batch, &batch_kind, batch_size < 0 ? 0 : batch_size);
  pthread_rwlock_unlock(&M.lock);
}

/* A reason as a label value: [a-z0-9_], at most 31 bytes, "other" when
 * empty. */
static void clean_reason(const char *reason, char out[32]) {
  size_t n = 0;
  for (; reason && reason[n] && n < 31; n++) {
    char c = reason[n];
    if (c >= 'A' && c <= 'Z') c = (char)(c + 32);
    out[n] = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ? c : '_';
  }
  out[n] = '\0';
  if (!n) snprintf(out, 32, "other");
}

void srv_metrics_rejected(const char *model, const char *reason) {
  if (!M.ready) return;
  char why[32];
  clean_reason(reason, why);
  model_series *s = model_get(model);
  /* Reason slots are claimed by the first byte going from 0 (under the
   * read lock, so concurrently): a claimer writes the rest of the name
   * before publishing the first byte. */
  for (int i = 0; i < SRV_METRICS_MAX_REASONS; i++) {
    char first = __atomic_load_n(&s->reasons[i][0], __ATOMIC_ACQUIRE);
    if (first == '\0') {
      /* Claim with a marker byte, fill, then publish the first byte. */
      char zero = '\0';
      if (__atomic_compare_exchange_n(&s->reasons[i][0], &zero, '\x01', false,
                                      __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
        memcpy(&s->reasons[i][1], why + 1, sizeof why - 1);
        __atomic_store_n(&s->reasons[i][0], why[0], __ATOMIC_RELEASE);
        __atomic_add_fetch(&s->rejected[i], 1, __ATOMIC_RELAXED);
        pthread_rwlock_unlock(&M.lock);
        return;
      }
      first = zero;
    }
    while (first == '\x01') /* being filled by another thread */
      first = __atomic_load_n(&s->reasons[i][0], __ATOMIC_ACQUIRE);
    if (first == why[0] && strcmp(&s->reasons[i][1], why + 1) == 0) {
      __atomic_add_fetch(&s->rejected[i], 1, __ATOMIC_RELAXED);
      pthread_rwlock_unlock(&M.lock);
      return;
    }
  }
  __atomic_add_fetch(&s->rejected_other, 1, __ATOMIC_RELAXED);
  pthread_rwlock_unlock(&M.lock);
}

void srv_metrics_model_forget(const char *model) {
  if (!M.ready || !model) return;
  pthread_rwlock_wrlock(&M.lock);
  for (int i = 0; i < SRV_METRICS_MAX_MODELS; i++)
    if (M.models[i].used && strcmp(M.models[i].name, model) == 0)
      memset(&M.models[i], 0, sizeof M.models[i]);
  pthread_rwlock_unlock(&M.lock);
}

/* ---- exposition -------------------------------------------------------- */

void srv_metrics_label_value(proto_buf *out, const char *s) {
  for (; *s; s++) {
    if (*s == '\\')
      proto_buf_puts(out, "\\\\");
    else if (*s == '"')
      proto_buf_puts(out, "\\\"");
    else if (*s == '\n')
      proto_buf_puts(out, "\\n");
    else
      proto_buf_put(out, s, 1);
  }
}

static void family(proto_buf *out, const char *name, const char *type,
                   const char *help) {
  proto_buf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

void srv_metrics_gauge(proto_buf *out, const char *name, const char *help,
                       double value) {
  family(out, name, "gauge", help);
  proto_buf_printf(out, "%s %.17g\n", name, value);
}

/* name{k1="v1",k2="v2"...} with values escaped; keys and values come in
 * pairs, NULL-terminated. */
static void series(proto_buf *out, const char *name, const char *suffix,
                   const char *const *labels) {
  proto_buf_puts(out, name);
  proto_buf_puts(out, suffix);
  if (labels[0]) {
    proto_buf_puts(out, "{");
    for (int i = 0; labels[i]; i += 2) {
      proto_buf_printf(out, "%s%s=\"", i ? "," : "", labels[i]);
      srv_metrics_label_value(out, labels[i + 1]);
      proto_buf_puts(out, "\"");
    }
    proto_buf_puts(out, "}");
  }
}

/* One histogram's _bucket, _sum and _count lines; labels has room for
 * the le pair at the end (two NULL slots after the terminator). */
static void hist_render(proto_buf *out, const char *name, const hist *h,
                        const hist_kind *k, const char **labels, int nl) {
  uint64_t cum = 0;
  char le[32];
  labels[nl] = "le";
  labels[nl + 1] = le;
  labels[nl + 2] = NULL;
  for (int i = 0; i <= k->nbounds; i++) {
    cum += load64(&h->counts[i]);
    if (i < k->nbounds)
      snprintf(le, sizeof le, "%g", k->bounds[i]);
    else
      snprintf(le, sizeof le, "+Inf");
    series(out, name, "_bucket", labels);
    proto_buf_printf(out, " %llu\n", (unsigned long long)cum);
  }
  labels[nl] = NULL;
  uint64_t sum = load64(&h->sum);
  series(out, name, "_sum", labels);
  if (k->unit == 1e-9)
    proto_buf_printf(out, " %llu.%09llu\n",
                     (unsigned long long)(sum / 1000000000u),
                     (unsigned long long)(sum % 1000000000u));
  else
    proto_buf_printf(out, " %llu\n", (unsigned long long)sum);
  series(out, name, "_count", labels);
  proto_buf_printf(out, " %llu\n", (unsigned long long)cum);
}

static const char *route_label(int cell_route) {
  return cell_route == 0 ? "other" : M.route_labels[cell_route - 1];
}

static void render_http(proto_buf *out) {
  int ncells = (M.nroutes + 1) * NMETHODS;
  const char *name = "blockd_http_requests_total";
  family(out, name, "counter",
         "HTTP requests answered, by route pattern, method and status.");
  for (int c = 0; c < ncells; c++) {
    const http_cell *cell = &M.cells[c];
    char st[16];
    const char *labels[] = {"route",  route_label(c / NMETHODS),
                            "method", method_names[c % NMETHODS],
                            "status", st,
                            NULL};
    for (int i = 0; i < NSTATUS; i++) {
      unsigned s = __atomic_load_n(&cell->status[i], __ATOMIC_ACQUIRE);
      if (!s) break;
      snprintf(st, sizeof st, "%u", s);
      series(out, name, "", labels);
      proto_buf_printf(out, " %llu\n",
                       (unsigned long long)load64(&cell->count[i]));
    }
    uint64_t ov = load64(&cell->overflow);
    if (ov) {
      snprintf(st, sizeof st, "other");
      series(out, name, "", labels);
      proto_buf_printf(out, " %llu\n", (unsigned long long)ov);
    }
  }
  name = "blockd_http_request_duration_seconds";
  family(out, name, "histogram",
         "Time from a request's arrival to its completion, by route "
         "pattern and method.");
  for (int c = 0; c < ncells; c++) {
    const http_cell *cell = &M.cells[c];
    if (!hist_count(&cell->duration, &duration_kind)) continue;
    const char *labels[8] = {"route", route_label(c / NMETHODS), "method",
                             method_names[c % NMETHODS], NULL};
    hist_render(out, name, &cell->duration, &duration_kind, labels, 4);
  }
}

/* The map's used slots and then "(other)" when it has values. */
static int model_slots(const model_series **v) {
  int n = 0;
  for (int i = 0; i < SRV_METRICS_MAX_MODELS; i++)
    if (M.models[i].used) v[n++] = &M.models[i];
  v[n++] = &M.other;
  return n;
}

static void render_models(proto_buf *out) {
  const model_series *v[SRV_METRICS_MAX_MODELS + 1];
  pthread_rwlock_rdlock(&M.lock);
  int n = model_slots(v);
  const char *name = "blockd_model_inferences_total";
  family(out, name, "counter",
         "Inferences (v1 forward, v2 infer) a model answered successfully.");
  for (int i = 0; i < n; i++) {
    uint64_t x = load64(&v[i]->inferences);
    if (v[i] == &M.other && !x) continue;
    const char *labels[] = {"model", v[i]->name, NULL};
    series(out, name, "", labels);
    proto_buf_printf(out, " %llu\n", (unsigned long long)x);
  }
  static const struct {
    const char *name, *help;
    size_t off;
    const hist_kind *kind;
  } hs[] = {
      {"blockd_model_queue_duration_seconds",
       "Time a request waited in its model's queue before computing.",
       offsetof(model_series, queue), &duration_kind},
      {"blockd_model_compute_duration_seconds",
       "Time one batch of a model computed.", offsetof(model_series, compute),
       &duration_kind},
      {"blockd_model_batch_size",
       "Requests served by one batch (dynamic batching).",
       offsetof(model_series, batch), &batch_kind},
  };
  for (size_t k = 0; k < sizeof hs / sizeof hs[0]; k++) {
    family(out, hs[k].name, "histogram", hs[k].help);
    for (int i = 0; i < n; i++) {
      const hist *h = (const hist *)((const char *)v[i] + hs[k].off);
      if (!hist_count(h, hs[k].kind)) continue;
      const char *labels[6] = {"model", v[i]->name, NULL};
      hist_render(out, hs[k].name, h, hs[k].kind, labels, 2);
    }
  }
  name = "blockd_model_rejected_requests_total";
  family(out, name, "counter",
         "Requests refused before they computed, by model and reason.");
  for (int i = 0; i < n; i++) {
    char why[32];
    const char *labels[] = {"model", v[i]->name, "reason", why, NULL};
    for (int r = 0; r < SRV_METRICS_MAX_REASONS; r++) {
      char first = __atomic_load_n(&v[i]->reasons[r][0], __ATOMIC_ACQUIRE);
      if (first == '\0' || first == '\x01') continue;
      why[0] = first;
      memcpy(why + 1, &v[i]->reasons[r][1], sizeof why - 1);
      why[31] = '\0';
      series(out, name, "", labels);
      proto_buf_printf(out, " %llu\n",
                       (unsigned long long)load64(&v[i]->rejected[r]));
    }
    uint64_t ov = load64(&v[i]->rejected_other);
    if (ov) {
      snprintf(why, sizeof why, "other");
      series(out, name, "", labels);
      proto_buf_printf(out, " %llu\n", (unsigned long long)ov);
    }
  }
  pthread_rwlock_unlock(&M.lock);
}

static void render_devices(proto_buf *out) {
  int n = 1 + bd_backend_cuda_count();
  bd_device_info info[1 + 16];
  bool ok[1 + 16];
  if (n > 17) n = 17;
  for (int i = 0; i < n; i++) {
    bd_device d = i == 0 ? BD_CPU : (bd_device){BD_DEV_CUDA, i - 1};
    ok[i] = bd_device_info_get(d, &info[i]) == BD_OK;
  }
  static const struct {
    const char *name, *help;
  } fam[] = {
      {"blockd_device_bytes", "Bytes blockd holds on a device."},
      {"blockd_device_memory_total_bytes",
       "A device's memory as its driver reports it."},
      {"blockd_device_memory_free_bytes",
       "A device's free memory as its driver reports it."},
      {"blockd_device_budget_bytes", "A device's --device-budget."},
  };
  for (int f = 0; f < 4; f++) {
    family(out, fam[f].name, "gauge", fam[f].help);
    for (int i = 0; i < n; i++) {
      if (!ok[i]) continue;
      long long v;
      if (f == 0)
        v = (long long)info[i].allocated;
      else if (f == 3)
        v = (long long)info[i].budget;
      else if (!info[i].has_mem)
        continue;
      else
        v = (long long)(f == 1 ? info[i].total_memory : info[i].free_memory);
      if (f == 3 && v <= 0) continue;
      char dev[16];
      const char *labels[] = {
          "device", bd_device_str(info[i].dev, dev, sizeof dev), NULL};
      series(out, fam[f].name, "", labels);
      proto_buf_printf(out, " %lld\n", v);
    }
  }
}

/* The process's start in seconds since the epoch: its start tick in
 * /proc/self/stat after the boot time in /proc/stat, as other exporters
 * compute it; the registry's start when /proc cannot tell. */
static double process_start(void) {
  double start = M.start_time;
  FILE *f = fopen("/proc/self/stat", "r");
  char buf[1024];
  size_t n = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
  if (f) fclose(f);
  buf[n] = '\0';
  /* Fields after the command name, which may hold spaces and ')'. */
  char *p = strrchr(buf, ')');
  unsigned long long ticks = 0;
  int field = 2;
  for (; p && *p && field < 22; p++)
    if (*p == ' ') field++;
  if (!p || sscanf(p, "%llu", &ticks) != 1) return start;
  f = fopen("/proc/stat", "r");
  unsigned long long btime = 0;
  char line[256];
  while (f && fgets(line, sizeof line, f))
    if (sscanf(line, "btime %llu", &btime) == 1) break;
  if (f) fclose(f);
  long hz = sysconf(_SC_CLK_TCK);
  if (!btime || hz <= 0) return start;
  return (double)btime + (double)ticks / (double)hz;
}

static void render_process(proto_buf *out) {
  long page = sysconf(_SC_PAGESIZE);
  unsigned long long vm = 0, rss = 0;
  FILE *f = fopen("/proc/self/statm", "r");
  bool have_mem = f && fscanf(f, "%llu %llu", &vm, &rss) == 2;
  if (f) fclose(f);
  if (have_mem) {
    static const char *const names[] = {"blockd_process_resident_memory_bytes",
                                        "process_resident_memory_bytes"};
    for (int i = 0; i < 2; i++) {
      family(out, names[i], "gauge",
             "Resident memory of the blockd process (/proc/self/statm).");
      proto_buf_printf(out, "%s %llu\n", names[i],
                       rss * (unsigned long long)page);
    }
    family(out, "process_virtual_memory_bytes", "gauge",
           "Virtual memory size of the process.");
    proto_buf_printf(out, "process_virtual_memory_bytes %llu\n",
                     vm * (unsigned long long)page);
  }
  struct rusage ru;
  if (getrusage(RUSAGE_SELF, &ru) == 0) {
    double cpu =
        (double)ru.ru_utime.tv_sec + (double)ru.ru_stime.tv_sec +
        ((double)ru.ru_utime.tv_usec + (double)ru.ru_stime.tv_usec) * 1e-6;
    family(out, "process_cpu_seconds_total", "counter",
           "User and system CPU time the process spent, in seconds.");
    proto_buf_printf(out, "process_cpu_seconds_total %.6f\n", cpu);
  }
  family(out, "process_start_time_seconds", "gauge",
         "Start time of the process since the Unix epoch, in seconds.");
  proto_buf_printf(out, "process_start_time_seconds %.3f\n", process_start());
  DIR *d = opendir("/proc/self/fd");
  if (d) {
    long fds = 0;
    for (struct dirent *e; (e = readdir(d));)
      if (e->d_name[0] != '.') fds++;
    closedir(d);
    family(out, "process_open_fds", "gauge", "Open file descriptors.");
    proto_buf_printf(out, "process_open_fds %ld\n", fds - 1 /* the DIR's */);
  }
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY) {
    family(out, "process_max_fds", "gauge",
           "The open-files limit (RLIMIT_NOFILE).");
    proto_buf_printf(out, "process_max_fds %llu\n",
                     (unsigned long long)rl.rlim_cur);
  }
}

void srv_metrics_render(bd_registry *models, proto_buf *out) {
  if (M.ready) {
    render_http(out);
    render_models(out);
  }
  size_t nm = 0;
  if (models) {
    bd_model **all = bd_registry_list(models, &nm);
    for (size_t i = 0; i < nm; i++) bd_model_release(all[i]);
    free(all);
  }
  family(out, "blockd_models_loaded", "gauge", "Models in the registry.");
  proto_buf_printf(out, "blockd_models_loaded %zu\n", nm);
  render_devices(out);
  render_process(out);
  family(out, "blockd_build_info", "gauge",
         "Always 1; the labels say which blockd this is.");
  const char *labels[] = {"version", SRV_VERSION, NULL};
  series(out, "blockd_build_info", "", labels);
  proto_buf_puts(out, " 1\n");
}
