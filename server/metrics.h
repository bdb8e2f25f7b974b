/* metrics.h - blockd's metrics registry: counters and fixed-bucket
 * histograms with labels, rendered in the Prometheus text exposition
 * format (version 0.0.4) for GET /metrics.
 *
 * Recording is cheap and safe from any thread: values are atomics; the
 * per-route series live in arrays sized once at start-up and claimed
 * lock-free; the per-model series sit in a small map behind a
 * reader-writer lock that recorders take for reading (they never block
 * each other), so only a model's first series, its removal and a scrape
 * of a new reason take it for writing. Label sets are bounded: routes are
 * the route table's patterns (plus "other"), methods a fixed list, models
 * at most SRV_METRICS_MAX_MODELS at a time (the rest are counted under
 * model="(other)", which no model name can spell). */
#ifndef SRV_METRICS_H
#define SRV_METRICS_H

#include <stdbool.h>

#include "../engine/registry.h"
#include "../proto/buf.h"

/* Distinct models with their own series at a time. */
#define SRV_METRICS_MAX_MODELS 256
/* Distinct rejection reasons per model; further ones count as "other". */
#define SRV_METRICS_MAX_REASONS 8
/* The model label of everything past SRV_METRICS_MAX_MODELS (and of a
 * name that is not a valid model name). */
#define SRV_METRICS_OTHER_MODEL "(other)"

/* Sets up the registry for nroutes routes; route_labels[i] is route i's
 * label, e.g. "/v1/models/{m}/forward" (borrowed: must outlive the
 * registry, static strings in practice). Call once from main before any
 * thread records; calling it again resets every value (unit tests).
 * Returns 0, or -1 when out of memory. */
int srv_metrics_init(const char *const *route_labels, int nroutes);
/* Releases the registry (NULL-safe in effect: a no-op before init). */
void srv_metrics_free(void);

/* One answered HTTP request: route is an index given to srv_metrics_init
 * or -1 for a path no route matches ("other"); method is the request's
 * method (one outside GET HEAD POST PUT PATCH DELETE OPTIONS counts as
 * "other"); seconds from the request's first byte to its completion. */
void srv_metrics_http(int route, const char *method, unsigned status,
                      double seconds);

/* One inference a model answered successfully (v1 forward, v2 infer). */
void srv_metrics_inference(const char *model);

/* Scheduler hooks, keyed by model name (borrowed; copied on a model's
 * first series). Negative or NaN values count as 0.
 * queue_time: seconds a request waited in the model's queue before its
 * batch started; compute_time: seconds one batch computed; batch: the
 * number of requests one batch served; rejected: one request refused
 * before it computed, reason a short word such as "queue_full",
 * "deadline" or "client_gone" (bytes outside [a-z0-9_] become '_',
 * at most 31 kept). */
void srv_metrics_queue_time(const char *model, double seconds);
void srv_metrics_compute_time(const char *model, double seconds);
void srv_metrics_batch(const char *model, int batch_size);
void srv_metrics_rejected(const char *model, const char *reason);

/* Drops every series of model (after DELETE /v1/models/{m}), freeing its
 * slot for another model. A model that was never seen is a no-op. */
void srv_metrics_model_forget(const char *model);

/* Appends the exposition of every metric to out: the recorded series,
 * then what is read at scrape time: blockd_models_loaded (models, may be
 * NULL for 0), bytes per device (engine/device_info.h), the process's
 * memory, CPU time and start time, and blockd_build_info. Never fails
 * except out of memory (out->oom). */
void srv_metrics_render(bd_registry *models, proto_buf *out);

/* Appends one unlabelled gauge family (HELP, TYPE, sample): for values
 * read at scrape time by the caller (the scheduler's load). */
void srv_metrics_gauge(proto_buf *out, const char *name, const char *help,
                       double value);

/* Appends s as a label value escaped per the text format: backslash,
 * double quote and line feed become \\, \" and \n. */
void srv_metrics_label_value(proto_buf *out, const char *s);

#endif
