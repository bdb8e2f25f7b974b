/* sched.h - the compute side of the daemon (DESIGN §6).
 *
 * libmicrohttpd's threads only move bytes: a request whose route computes
 * (everything but health probes) is suspended and queued here, run on a
 * compute worker, and its connection is resumed with the reply. Queues are
 * per model (the first path segment after /v1/models/), plus one for the
 * requests naming none; each holds at most --queue-depth waiting requests
 * (more: 503 overloaded with Retry-After). Workers take queues round-robin,
 * so one busy model cannot starve another.
 *
 * Before a request computes, the worker drops it when its client has gone
 * (499, nothing computed) or its deadline has passed (503
 * deadline_exceeded); the engine stops a computation at the deadline too
 * (bd_exec_set_request_deadline).
 *
 * Dynamic batching: a forward handler hands its decoded input to
 * srv_infer. When the model batches (bd_batching.max_batch > 1) the
 * request is parked; parked requests of one model with the same dtype and
 * trailing dims are concatenated along dim 0 (at most max_batch rows), run
 * as one forward and split back. A batch runs once max_batch rows are
 * parked, or once no request of that model is left to decode and the
 * first parked one has waited max_delay_us. */
#ifndef SRV_SCHED_H
#define SRV_SCHED_H

#include "../engine/model.h"
#include "http.h"

typedef struct srv_sched srv_sched;

/* Starts app->cfg.workers compute workers. NULL on failure (message on
 * stderr). */
srv_sched *srv_sched_start(srv_app *app);
/* Runs the queued requests still there, then joins the workers and frees
 * s. The HTTP daemon must be stopped first. */
void srv_sched_stop(srv_sched *s);

/* Queues r (its route already matched; its connection suspended) to run
 * h on a worker; the worker resumes the connection once r holds its
 * reply. Errors (nothing queued; the caller replies): EBUSY when r's
 * queue is full, ENOMEM. */
bd_status srv_sched_submit(srv_sched *s, srv_req *r, srv_handler h);

/* How a parked forward is answered: st is the forward's status, y its
 * output (borrowed; NULL on failure). Fills r's reply. */
typedef void (*srv_infer_done)(srv_req *r, bd_status st, bd_tensor *y);

/* The forward pass of a handler running on a worker: computes y = m(x)
 * now, or parks r to be batched with other requests for m. Either way
 * done(r, ...) fills r's reply, and the handler must return without
 * touching r again. Takes references to m and x. */
void srv_infer(srv_req *r, bd_model *m, bd_tensor *x, srv_infer_done done);

/* Serving counters of one model name, since start. */
typedef struct srv_model_stats {
  int64_t inferences;       /* forwards answered through srv_infer */
  int64_t batches;          /* forward runs that served them */
  int64_t batched_requests; /* requests answered by runs of 2 or more */
  int64_t max_batch_rows;   /* the largest batch run, in rows */
  int64_t batch_hist[13];   /* runs of 1, 2, 3-4, 5-8, ... >2048 requests */
  double queue_seconds;     /* arrival to compute start, summed */
  int64_t rejected_full;    /* 503 overloaded */
  int64_t dropped_gone;     /* clients gone before their compute */
  int64_t deadline_expired; /* 503 deadline_exceeded before computing */
} srv_model_stats;

/* Requests on workers now, and waiting in queues (queued or parked):
 * for /v1/health and the metrics. Holds the queue lock only briefly. */
void srv_sched_load(srv_sched *s, int *running, int *waiting);

/* Fills *out for model name (zeros when it has none). */
void srv_sched_model_stats(srv_sched *s, const char *name,
                           srv_model_stats *out);
/* Drops name's counters (the model was deleted). */
void srv_sched_forget(srv_sched *s, const char *name);

#endif
