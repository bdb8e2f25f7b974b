/* sched.c - compute workers, per-model queues and dynamic batching (see
 * sched.h). One mutex guards every queue: a worker holds it only to pick
 * work, never while computing. */
#include "sched.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <uv.h>

#include "../engine/exec.h"
#include "../engine/tensor.h"
#include "log.h"
#include "metrics.h"
#include "req_limits.h"

/* One queue: the requests of one model name ("" for those naming none)
 * that wait for a worker (queued) or for a batch (parked). A queue exists
 * while it holds or runs something. */
typedef struct srv_mq {
  struct srv_mq *next; /* the scheduler's list of queues */
  char *name;
  srv_req *head, *tail; /* queued: the handler has not run */
  int nqueued;
  srv_req *phead, *ptail; /* parked forwards, in arrival order */
  int nparked;
  int64_t parked_rows;
  int running;        /* handlers and batches of this queue on workers */
  bool batch_running; /* one batch at a time per queue: the next one
                         collects while it runs */
} srv_mq;

typedef struct stats_slot {
  char *name;
  srv_model_stats st;
} stats_slot;

#define SRV_MAX_STATS 4096 /* model names with counters (oldest dropped) */

struct srv_sched {
  srv_app *app;
  uv_mutex_t mu;
  uv_cond_t cv;
  srv_mq *queues;
  srv_mq *cursor; /* round-robin position among queues */
  int nthreads;
  uv_thread_t *threads;
  bool stopping;
  int idle;    /* workers waiting on cv */
  int running; /* requests whose handler or batch is on a worker */
  int waiting; /* requests queued or parked */
  stats_slot *stats;
  int nstats, capstats;
};

/* The worker thread's "the handler parked its request" flag: after
 * srv_infer parks a request another worker may answer and free it, so the
 * worker that ran the handler must not look at the request again. */
static _Thread_local bool srv__parked;
static _Thread_local srv_sched *srv__sched;

static double now_s(void) { return srv_now(); }

/* ---- counters ---------------------------------------------------------- */

/* The counters of name; the caller holds mu. NULL on ENOMEM. */
static srv_model_stats *stats_of(srv_sched *s, const char *name) {
  for (int i = 0; i < s->nstats; i++)
    if (strcmp(s->stats[i].name, name) == 0) return &s->stats[i].st;
  if (s->nstats == SRV_MAX_STATS) { /* drop the oldest */
    free(s->stats[0].name);
    memmove(s->stats, s->stats + 1, (size_t)(s->nstats - 1) * sizeof *s->stats);
    s->nstats--;
  }
  if (s->nstats == s->capstats) {
    int cap = s->capstats ? s->capstats * 2 : 16;
    stats_slot *v = realloc(s->stats, (size_t)cap * sizeof *v);
    if (!v) return NULL;
    s->stats = v;
    s->capstats = cap;
  }
  char *n = strdup(name);
  if (!n) return NULL;
  s->stats[s->nstats] = (stats_slot){.name = n};
  return &s->stats[s->nstats++].st;
}

void srv_sched_model_stats(srv_sched *s, const char *name,
                           srv_model_stats *out) {
  memset(out, 0, sizeof *out);
  uv_mutex_lock(&s->mu);
  for (int i = 0; i < s->nstats; i++)
    if (strcmp(s->stats[i].name, name) == 0) *out = s->stats[i].st;
  uv_mutex_unlock(&s->mu);
}

void srv_sched_forget(srv_sched *s, const char *name) {
  uv_mutex_lock(&s->mu);
  for (int i = 0; i < s->nstats; i++)
    if (strcmp(s->stats[i].name, name) == 0) {
      free(s->stats[i].name);
      memmove(s->stats + i, s->stats + i + 1,
              (size_t)(s->nstats - i - 1) * sizeof *s->stats);
      s->nstats--;
      break;
    }
  uv_mutex_unlock(&s->mu);
}

static int hist_bucket(int64_t n) {
  int b = 0;
  for (int64_t lim = 1; n > lim && b < 12; lim *= 2) b++;
  return b;
}

/* Whether name is a registered model: the per-model metrics are only
 * for models that exist (a request for an unknown name queues under it
 * and gets its 404 from the handler, but must not create series). */
static bool model_exists(srv_sched *s, const char *name) {
  bd_model *m = name[0] ? bd_registry_get(s->app->models, name) : NULL;
  bd_model_release(m);
  return m != NULL;
}

/* ---- queues ------------------------------------------------------------ */

/* The name a request queues under: the model its path names. */
static const char *queue_name(const srv_req *r) {
  if ((strncmp(r->path, "/v1/models/", 11) == 0 ||
       strncmp(r->path, "/v2/models/", 11) == 0) &&
      r->nargs > 0 && r->args[0])
    return r->args[0];
  return "";
}

static srv_mq *find_queue(srv_sched *s, const char *name, bool create) {
  for (srv_mq *q = s->queues; q; q = q->next)
    if (strcmp(q->name, name) == 0) return q;
  if (!create) return NULL;
  srv_mq *q = calloc(1, sizeof *q);
  if (!q || !(q->name = strdup(name))) {
    free(q);
    return NULL;
  }
  q->next = s->queues;
  s->queues = q;
  return q;
}

/* Frees q once nothing is queued, parked or running there; mu held. */
static void maybe_drop_queue(srv_sched *s, srv_mq *q) {
  if (q->nqueued || q->nparked || q->running) return;
  for (srv_mq **p = &s->queues; *p; p = &(*p)->next)
    if (*p == q) {
      *p = q->next;
      break;
    }
  if (s->cursor == q) s->cursor = NULL;
  free(q->name);
  free(q);
}

bd_status srv_sched_submit(srv_sched *s, srv_req *r, srv_handler h) {
  const char *name = queue_name(r);
  uv_mutex_lock(&s->mu);
  srv_mq *q = find_queue(s, name, true);
  if (!q) {
    uv_mutex_unlock(&s->mu);
    return bd_fail(BD_ENOMEM, "out of host memory while queueing the request");
  }
  if (q->nqueued + q->nparked >= s->app->cfg.queue_depth) {
    srv_model_stats *st = name[0] ? stats_of(s, name) : NULL;
    if (st) st->rejected_full++;
    maybe_drop_queue(s, q);
    uv_mutex_unlock(&s->mu);
    if (model_exists(s, name)) srv_metrics_rejected(name, "queue_full");
    return bd_fail(BD_EBUSY,
                   "%s%s%s already has %d requests waiting (--queue-depth); "
                   "retry later",
                   name[0] ? "model '" : "the server", name, name[0] ? "'" : "",
                   s->app->cfg.queue_depth);
  }
  r->handler = h;
  r->mq = q;
  r->qnext = NULL;
  r->t_queued = now_s();
  if (q->tail)
    q->tail->qnext = r;
  else
    q->head = r;
  q->tail = r;
  q->nqueued++;
  s->waiting++;
  if (s->idle) uv_cond_signal(&s->cv);
  uv_mutex_unlock(&s->mu);
  return BD_OK;
}

/* ---- answering --------------------------------------------------------- */

/* Whether r may still compute: its client is there, its deadline has not
 * passed and the daemon is not aborting. Otherwise fills r's reply,
 * counts it and returns false. */
static bool still_wanted(srv_sched *s, srv_req *r) {
  bd_status st = BD_OK;
  if (srv_req_client_gone(r)) {
    st = BD_ECLOSED;
    srv_fail(r, st,
             "the client closed the connection before the request ran; "
             "nothing was computed");
    srv_log(SRV_LOG_INFO, "req=%llu: client gone before it ran; dropped",
            (unsigned long long)r->id);
  } else if (r->deadline > 0 && now_s() >= r->deadline) {
    st = BD_EDEADLINE;
    srv_fail(r, st,
             "the request waited past its deadline of %g s "
             "(--request-timeout) before it could run; nothing was computed",
             s->app->cfg.request_timeout_s);
  }
  if (!st) return true;
  const char *name = r->mq ? r->mq->name : "";
  if (name[0]) {
    uv_mutex_lock(&s->mu);
    srv_model_stats *ms = stats_of(s, name);
    if (ms) {
      if (st == BD_ECLOSED)
        ms->dropped_gone++;
      else
        ms->deadline_expired++;
    }
    uv_mutex_unlock(&s->mu);
    if (model_exists(s, name))
      srv_metrics_rejected(name, st == BD_ECLOSED ? "client_gone" : "deadline");
  }
  return false;
}

/* Runs a queued request's handler on this worker. Returns whether the
 * handler parked it (srv_infer): it waits for a batch then. */
static bool run_job(srv_sched *s, srv_req *r) {
  if (!still_wanted(s, r)) {
    srv_req_complete(r);
    return false;
  }
  const char *name = r->mq->name;
  if (name[0]) {
    uv_mutex_lock(&s->mu);
    double waited = now_s() - r->t_queued;
    srv_model_stats *ms = stats_of(s, name);
    if (ms) ms->queue_seconds += waited;
    uv_mutex_unlock(&s->mu);
    r->queue_seconds = waited; /* srv_infer reports it for its model */
  }
  double prev = bd_exec_set_request_deadline(r->deadline);
  srv__parked = false;
  bd_errclear();
  r->handler(r);
  bd_exec_set_request_deadline(prev);
  if (srv__parked) return true; /* r belongs to its batch now */
  if (!r->done) srv_fail(r, BD_EINTERNAL, "the handler produced no response");
  srv_req_complete(r);
  return false;
}

/* Answers a parked request: calls its done callback and hands it back. */
static void finish_parked(srv_req *r, bd_status st, bd_tensor *y) {
  r->inf_done(r, st, y);
  if (!r->done) srv_fail(r, BD_EINTERNAL, "the forward produced no response");
  bd_model_release(r->inf_model);
  bd_tensor_release(r->inf_x);
  r->inf_model = NULL;
  r->inf_x = NULL;
  srv_req_complete(r);
}

/* One forward of m on x for request r (its cap and deadline). */
static bd_status forward_one(srv_req *r, bd_model *m, bd_tensor *x,
                             bd_tensor **y) {
  int64_t cap;
  bd_status st = srv_cap_begin_model(r, m, &cap);
  if (st) return st;
  double prev = bd_exec_set_request_deadline(r->deadline);
  double t0 = now_s();
  st = bd_model_forward(m, x, y);
  srv_metrics_compute_time(bd_model_name(m), now_s() - t0);
  if (!st) srv_metrics_batch(bd_model_name(m), 1);
  bd_exec_set_request_deadline(prev);
  srv_cap_end(cap);
  return st;
}

/* Answers r alone (a batch of one, or a batch that could not run). */
static void run_alone(srv_req *r) {
  bd_tensor *y = NULL;
  bd_status st = forward_one(r, r->inf_model, r->inf_x, &y);
  finish_parked(r, st, y);
  bd_tensor_release(y);
}

/* Rows [at, at + n) of y as a new tensor. */
static bd_status slice_rows(const bd_tensor *y, int64_t at, int64_t n,
                            bd_tensor **out) {
  int64_t shape[BD_MAX_DIMS];
  memcpy(shape, y->shape, sizeof(int64_t) * (size_t)y->ndim);
  shape[0] = n;
  bd_status st = bd_tensor_new(BD_CPU, y->dtype, y->ndim, shape, out);
  if (st) return st;
  size_t row =
      bd_dtype_size(y->dtype) * (size_t)(bd_tensor_numel(y) / y->shape[0]);
  memcpy(bd_tensor_data(*out),
         (const char *)bd_tensor_data(y) + (size_t)at * row, (size_t)n * row);
  return BD_OK;
}

/* Runs the requests of batch (linked through qnext, all for one model,
 * same dtype and trailing dims) as one forward and answers each. When the
 * model cannot batch them after all (its mode changed), or the joined
 * forward fails, each runs alone: a request's answer never depends on its
 * neighbours. */
static void run_batch(srv_sched *s, srv_req *batch, int n, int64_t rows) {
  (void)s;
  if (n == 1) {
    run_alone(batch);
    return;
  }
  srv_req *first = batch;
  bd_model *m = first->inf_model;
  bd_tensor *x = NULL, *y = NULL;
  bd_status st = bd_model_rows_check(m, first->inf_x->ndim);
  if (!st) {
    int64_t shape[BD_MAX_DIMS];
    memcpy(shape, first->inf_x->shape,
           sizeof(int64_t) * (size_t)first->inf_x->ndim);
    shape[0] = rows;
    /* The cap: a batch of n requests may hold n times what one may. */
    int64_t prev_cap = bd_tensor_set_thread_cap(0);
    st = bd_tensor_new(BD_CPU, first->inf_x->dtype, first->inf_x->ndim, shape,
                       &x);
    bd_tensor_set_thread_cap(prev_cap);
  }
  if (!st) {
    char *dst = bd_tensor_data(x);
    for (srv_req *r = batch; r; r = r->qnext) {
      size_t b =
          bd_dtype_size(r->inf_x->dtype) * (size_t)bd_tensor_numel(r->inf_x);
      memcpy(dst, bd_tensor_data(r->inf_x), b);
      dst += b;
    }
    double deadline = 0;
    for (srv_req *r = batch; r; r = r->qnext)
      if (r->deadline > 0 && (deadline == 0 || r->deadline < deadline))
        deadline = r->deadline;
    int64_t count = 0, bytes = 0;
    st = bd_model_count(m, &count, &bytes);
    if (!st) {
      int64_t per = s->app->cfg.max_elements;
      if (count > per) per = count;
      if (bytes / 4 > per) per = bytes / 4;
      int64_t cap = per > INT64_MAX / n ? INT64_MAX : per * n;
      int64_t prev_cap = bd_tensor_set_thread_cap(cap);
      double prev = bd_exec_set_request_deadline(deadline);
      double t0 = now_s();
      st = bd_model_forward(m, x, &y);
      srv_metrics_compute_time(bd_model_name(m), now_s() - t0);
      if (!st) srv_metrics_batch(bd_model_name(m), n);
      bd_exec_set_request_deadline(prev);
      bd_tensor_set_thread_cap(prev_cap);
    }
  }
  if (!st && (y->ndim < 1 || y->shape[0] != rows))
    st = bd_fail(BD_EINTERNAL, "the batched output has %lld rows, not %lld",
                 (long long)(y->ndim ? y->shape[0] : 0), (long long)rows);
  bd_tensor_release(x);
  /* Either split the output, or answer every request on its own. */
  int64_t at = 0;
  srv_req *next;
  for (srv_req *r = batch; r; r = next) {
    next = r->qnext;
    if (st) {
      bd_errclear();
      run_alone(r);
      continue;
    }
    int64_t n_r = r->inf_x->shape[0];
    bd_tensor *yr = NULL;
    bd_status sr = slice_rows(y, at, n_r, &yr);
    at += n_r;
    finish_parked(r, sr, yr);
    bd_tensor_release(yr);
  }
  bd_tensor_release(y);
}

/* Whether parked request r can join a batch started by f. */
static bool joins(const srv_req *f, const srv_req *r) {
  const bd_tensor *a = f->inf_x, *b = r->inf_x;
  if (f->inf_model != r->inf_model || a->dtype != b->dtype ||
      a->ndim != b->ndim)
    return false;
  for (int i = 1; i < a->ndim; i++)
    if (a->shape[i] != b->shape[i]) return false;
  return true;
}

/* Takes the next batch off q's parked list (mu held): the first parked
 * request and those after it that join it, up to its max_batch rows. */
static srv_req *take_batch(srv_mq *q, int *n, int64_t *rows) {
  srv_req *f = q->phead, *head = NULL, *tail = NULL;
  int64_t max = f->inf_batching.max_batch, total = 0;
  int cnt = 0;
  srv_req **link = &q->phead, *prev = NULL;
  for (srv_req *r = q->phead; r;) {
    srv_req *next = r->qnext;
    int64_t nr = r->inf_x->shape[0];
    if (joins(f, r) && (cnt == 0 || total + nr <= max)) {
      *link = next; /* unlink */
      if (q->ptail == r) q->ptail = prev;
      r->qnext = NULL;
      if (tail)
        tail->qnext = r;
      else
        head = r;
      tail = r;
      total += nr;
      cnt++;
      q->nparked--;
      q->parked_rows -= nr;
      if (total >= max) break;
    } else {
      prev = r;
      link = &r->qnext;
    }
    r = next;
  }
  *n = cnt;
  *rows = total;
  return head;
}

/* A queue whose parked requests should run now (mu held); otherwise
 * lowers *wake to when the earliest one falls due. */
static srv_mq *due_batch(srv_sched *s, double now, double *wake) {
  for (srv_mq *q = s->queues; q; q = q->next) {
    if (!q->nparked || q->batch_running) continue;
    const srv_req *f = q->phead;
    if (q->parked_rows >= f->inf_batching.max_batch || s->stopping) return q;
    /* Decode what is queued first: it may join this batch. */
    if (q->nqueued) continue;
    double due = f->t_parked + (double)f->inf_batching.max_delay_us * 1e-6;
    if (now >= due) return q;
    if (*wake == 0 || due < *wake) *wake = due;
  }
  return NULL;
}

/* The next queue with a queued request, round-robin (mu held). */
static srv_mq *next_queued(srv_sched *s) {
  srv_mq *start = s->cursor && s->cursor->next ? s->cursor->next : s->queues;
  srv_mq *q = start;
  if (!q) return NULL;
  do {
    if (q->nqueued) {
      s->cursor = q;
      return q;
    }
    q = q->next ? q->next : s->queues;
  } while (q != start);
  return NULL;
}

void srv_sched_load(srv_sched *s, int *running, int *waiting) {
  uv_mutex_lock(&s->mu);
  *running = s->running;
  *waiting = s->waiting;
  uv_mutex_unlock(&s->mu);
}

static bool any_work(srv_sched *s) {
  for (srv_mq *q = s->queues; q; q = q->next)
    if (q->nqueued || q->nparked) return true;
  return false;
}

static void worker_main(void *arg) {
  srv_sched *s = arg;
  srv__sched = s;
  uv_mutex_lock(&s->mu);
  for (;;) {
    double wake = 0, now = now_s();
    srv_mq *q = due_batch(s, now, &wake);
    if (q) {
      int n;
      int64_t rows;
      srv_req *batch = take_batch(q, &n, &rows);
      q->running++;
      q->batch_running = true;
      s->running += n;
      s->waiting -= n;
      srv_model_stats *ms = stats_of(s, q->name);
      if (ms) {
        ms->inferences += n;
        ms->batches++;
        if (n > 1) ms->batched_requests += n;
        if (rows > ms->max_batch_rows) ms->max_batch_rows = rows;
        ms->batch_hist[hist_bucket(n)]++;
      }
      uv_mutex_unlock(&s->mu);
      run_batch(s, batch, n, rows);
      uv_mutex_lock(&s->mu);
      q->batch_running = false;
      q->running--;
      s->running -= n;
      maybe_drop_queue(s, q);
      if (s->idle) uv_cond_broadcast(&s->cv);
      continue;
    }
    q = next_queued(s);
    if (q) {
      srv_req *r = q->head;
      q->head = r->qnext;
      if (!q->head) q->tail = NULL;
      r->qnext = NULL;
      q->nqueued--;
      q->running++;
      s->waiting--;
      s->running++;
      uv_mutex_unlock(&s->mu);
      run_job(s, r);
      uv_mutex_lock(&s->mu);
      q->running--;
      s->running--;
      maybe_drop_queue(s, q);
      continue;
    }
    if (s->stopping && !any_work(s)) break;
    s->idle++;
    if (wake > 0) {
      double d = wake - now_s();
      uint64_t ns = d > 0 ? (uint64_t)(d * 1e9) + 1 : 1;
      uv_cond_timedwait(&s->cv, &s->mu, ns);
    } else {
      uv_cond_wait(&s->cv, &s->mu);
    }
    s->idle--;
  }
  uv_mutex_unlock(&s->mu);
}

/* ---- srv_infer ------------------------------------------------------- */

void srv_infer(srv_req *r, bd_model *m, bd_tensor *x, srv_infer_done done) {
  srv_sched *s = srv__sched;
  /* The model is known to exist here: no registry lookup on this path. */
  srv_metrics_queue_time(bd_model_name(m), r->queue_seconds);
  bd_batching b = bd_model_get_batching(m);
  bool batch = s && r->mq && r->mq->name[0] && b.max_batch > 1 &&
               x->ndim >= 2 && x->shape[0] < b.max_batch && x->shape[0] > 0;
  if (!batch) {
    if (s && r->mq && r->mq->name[0]) {
      uv_mutex_lock(&s->mu);
      srv_model_stats *ms = stats_of(s, r->mq->name);
      if (ms) {
        ms->inferences++;
        ms->batches++;
        ms->batch_hist[0]++;
      }
      uv_mutex_unlock(&s->mu);
    }
    bd_tensor *y = NULL;
    bd_status st = forward_one(r, m, x, &y);
    done(r, st, y);
    bd_tensor_release(y);
    return;
  }
  r->inf_model = bd_model_retain(m);
  r->inf_x = bd_tensor_retain(x);
  r->inf_done = done;
  r->inf_batching = b;
  r->t_parked = now_s();
  r->qnext = NULL;
  srv_mq *q = r->mq;
  uv_mutex_lock(&s->mu);
  if (q->ptail)
    q->ptail->qnext = r;
  else
    q->phead = r;
  q->ptail = r;
  q->nparked++;
  q->parked_rows += x->shape[0];
  s->waiting++; /* for a batch now */
  srv__parked = true;
  if (s->idle) uv_cond_signal(&s->cv);
  uv_mutex_unlock(&s->mu);
}

/* ---- start / stop ------------------------------------------------------ */

srv_sched *srv_sched_start(srv_app *app) {
  srv_sched *s = calloc(1, sizeof *s);
  if (!s) return NULL;
  s->app = app;
  s->nthreads = app->cfg.workers;
  s->threads = calloc((size_t)s->nthreads, sizeof *s->threads);
  if (!s->threads || uv_mutex_init(&s->mu) || uv_cond_init(&s->cv)) {
    fprintf(stderr, "blockd: cannot set up the compute workers\n");
    free(s->threads);
    free(s);
    return NULL;
  }
  for (int i = 0; i < s->nthreads; i++)
    if (uv_thread_create(&s->threads[i], worker_main, s) != 0) {
      fprintf(stderr, "blockd: cannot start compute worker %d\n", i);
      s->nthreads = i;
      srv_sched_stop(s);
      return NULL;
    }
  return s;
}

void srv_sched_stop(srv_sched *s) {
  if (!s) return;
  uv_mutex_lock(&s->mu);
  s->stopping = true;
  uv_cond_broadcast(&s->cv);
  uv_mutex_unlock(&s->mu);
  for (int i = 0; i < s->nthreads; i++) uv_thread_join(&s->threads[i]);
  for (int i = 0; i < s->nstats; i++) free(s->stats[i].name);
  free(s->stats);
  free(s->threads);
  uv_cond_destroy(&s->cv);
  uv_mutex_destroy(&s->mu);
  free(s);
}
