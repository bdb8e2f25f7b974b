/* http.h - the libmicrohttpd front end: request state, routing and the
 * response helpers every route uses. Routes are thin: parse, call the
 * engine, encode. */
#ifndef SRV_HTTP_H
#define SRV_HTTP_H

#include <cjson/cJSON.h>
#include <microhttpd.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../engine/model.h"
#include "../engine/registry.h"
#include "../proto/buf.h"
#include "config.h"

#define SRV_MAX_ARGS 4
/* Response headers a route may add besides the ones http.c sets. */
#define SRV_MAX_EXTRA_HEADERS 6 /* the console's files send 5 */

/* Request size limits that blockd enforces itself, well below what
 * libmicrohttpd's per-connection memory (SRV_MHD_MEMORY_LIMIT) holds, so
 * that an overlong URI or header block gets blockd's JSON 414/431 rather
 * than libmicrohttpd's built-in HTML page. A request line or header block
 * too large for SRV_MHD_MEMORY_LIMIT itself still gets MHD's HTML reply:
 * MHD 0.9.x answers it before any callback runs and offers no way to
 * replace that page (README, "Limits"). The pool is not larger than
 * that: MHD zeroes a connection's whole pool before every request on it,
 * and at 128 KiB that memset was a fifth of the CPU time of a batch-1
 * forward under load. */
#define SRV_MAX_URI_BYTES 8192     /* path plus query, decoded */
#define SRV_MAX_HEADER_BYTES 16384 /* every "Name: value\r\n" line */
#define SRV_MHD_MEMORY_LIMIT (64 * 1024)
/* Longest X-Request-Id kept from a client (server/access.h). */
#define SRV_REQUEST_ID_MAX 128

struct srv_sched;

typedef struct srv_app {
  srv_config cfg;
  struct srv_sched *sched; /* compute workers (sched.h) */
  bd_registry *models;
  void *ext[8]; /* stores owned by other route families (tensors, files) */
  struct bd_tensor_store *tensors; /* named tensors (routes_tensors.c) */
} srv_app;

/* The query flags several routes share, parsed once for every request
 * before its route runs (a value outside a flag's vocabulary is one 400
 * there, so a route never sees it). A flag given twice takes its first
 * value. Route-specific parameters (format, field, device) are read with
 * srv_query by their route. */
typedef struct srv_query_flags {
  bool layout_flat; /* ?layout=flat (nested when absent) */
  bool flat;        /* ?flat, forward's older spelling of layout=flat */
  bool values;      /* ?values: include tensor values (false when absent) */
  bool strict;      /* ?strict: load_state_dict strictness (true when absent) */
} srv_query_flags;

typedef struct srv_req {
  srv_app *app;
  struct MHD_Connection *conn;
  const char *method;
  char *path;  /* URL path (decoded by MHD), owned */
  uint64_t id; /* blockd's request counter */
  /* The request id echoed as X-Request-Id and logged: the client's when
   * it sent a sane one, else id in decimal (srv_access_begin). */
  char rid[SRV_REQUEST_ID_MAX + 1];
  double t0; /* start time (monotonic seconds) */
  /* body */
  char *body;
  size_t body_len, body_cap;
  bool body_too_large;
  srv_query_flags q; /* parsed before dispatch */
  /* route captures ("*" segments), owned */
  char *args[SRV_MAX_ARGS];
  int nargs;
  /* response */
  unsigned status;
  char *resp;
  size_t resp_len;
  const char *resp_type;
  char allow[64];
  char content_disposition[300];
  char www_authenticate[96]; /* the challenge of a 401/403 (auth.c) */
  bool reply_npy;            /* the reply is .npy (Accept: application/x-npy) */
  bool done;                 /* the reply is ready */
  bool sent;                 /* the reply is queued on the connection */
  bool auth_checked;         /* srv_auth_check passed on the first callback */
  /* resp points at static bytes (srv_reply_static): never freed */
  bool resp_static;
  /* serving (sched.c): the worker side of a suspended request */
  bool suspended;
  int fd;                            /* the client's socket, to see it leave */
  double deadline;                   /* t0 + --request-timeout; 0 = none */
  int (*handler)(struct srv_req *r); /* what runs on the worker */
  struct srv_mq *mq;                 /* the queue it waits in */
  struct srv_req *qnext;             /* next in that queue (queued or parked) */
  double t_queued;                   /* when it was queued */
  double queue_seconds;              /* how long it waited for a worker */
  /* a parked forward (srv_infer) */
  bd_model *inf_model;
  bd_tensor *inf_x;
  void (*inf_done)(struct srv_req *r, bd_status st, bd_tensor *y);
  bd_batching inf_batching;
  double t_parked;
  /* What a route keeps for its reply, e.g. from its handler to its
   * srv_infer_done callback (which may run on another worker, in a
   * batch): route_state_free(route_state) runs when the request
   * completes, whatever happened. */
  void *route_state;
  void (*route_state_free)(void *);
  /* further response headers a route sets with srv_add_header */
  struct {
    char name[48];
    char value[80];
  } headers[SRV_MAX_EXTRA_HEADERS];
  int nheaders;
} srv_req;

typedef int (*srv_handler)(srv_req *r);

/* Body kinds a route accepts besides JSON, and where it runs. */
enum {
  SRV_BODY_NONE = 0, /* no body expected (GET/DELETE); a body is ignored */
  SRV_BODY_JSON = 1, /* application/json (curl -d's form type: with a token) */
  SRV_BODY_BINARY = 2, /* also application/octet-stream, application/x-npy */
  /* Runs on the HTTP thread itself: only for handlers that take no model
   * lock, do no I/O and return at once (health probes), so that they
   * answer while every compute worker is busy. Every other route runs on
   * a compute worker (sched.h). */
  SRV_INLINE = 0x10,
};

typedef struct srv_route {
  const char *method;
  const char *pattern; /* e.g. "/v1/models/{*}": each star captures a segment */
  srv_handler handler;
  int body; /* SRV_BODY_* */
} srv_route;

/* Starts the daemon on cfg->listen. Returns NULL with a message on
 * stderr when it cannot. *port receives the bound port. */
struct MHD_Daemon *srv_http_start(srv_app *app, int *port);
void srv_http_stop(struct MHD_Daemon *d);

/* Drain (SIGTERM): from now on requests that arrive get 503
 * shutting_down, every reply closes its connection, and the listening
 * socket is closed; the requests already in flight run to their reply. */
void srv_http_begin_drain(struct MHD_Daemon *d);
/* Requests between arrival and their reply's completion. */
int srv_http_inflight(void);
/* Whether the daemon is draining (readiness probes report not ready). */
bool srv_http_draining(void);

/* Called by a worker once r->done: hands r back to its HTTP thread, which
 * sends the reply. r must not be touched afterwards. */
void srv_req_complete(srv_req *r);
/* Whether r's client has closed its connection (checked before a
 * suspended request computes). */
bool srv_req_client_gone(const srv_req *r);

/* The route table (routes.c). */
extern const srv_route srv_routes[];

/* ---- helpers for handlers ------------------------------------------ */

/* Parses the body as a JSON object; on failure replies 400 and returns
 * NULL. Caller frees the result with cJSON_Delete. allow_empty gives {}
 * for an empty body. */
cJSON *srv_json_body(srv_req *r, bool allow_empty);
/* Replies 400 "unknown field '<where><key>'" for the first key of the
 * object j not in the NULL-terminated list ok, and returns false; true
 * when every key is known. where prefixes nested objects ("loss."). */
bool srv_json_check_keys(srv_req *r, const cJSON *j, const char *where,
                         const char *const *ok);
/* Value of query parameter key, or NULL (the first when given twice).
 * The shared flags are already parsed into r->q. */
const char *srv_query(srv_req *r, const char *key);
/* Value of a request header, or NULL. */
const char *srv_header(srv_req *r, const char *key);
/* Content-Type of the request without parameters ("application/json"). */
void srv_content_type(srv_req *r, char *buf, size_t n);

/* The --max-json-response-bytes check, made before a JSON response that
 * carries tensors is encoded. bytes is an upper bound of its size (sums
 * of proto_tensor_json_bound, added with srv_sat_add). Returns BD_OK when
 * it fits; otherwise records and returns BD_ETOOLARGE (413 too_large)
 * whose message ends with alt, the binary way to fetch the same data
 * ("ask with Accept: application/x-npy"). */
bd_status srv_json_budget(const srv_config *cfg, int64_t bytes,
                          const char *alt);
/* a + b for non-negative sizes, saturating at INT64_MAX. */
static inline int64_t srv_sat_add(int64_t a, int64_t b) {
  return a > INT64_MAX - b ? INT64_MAX : a + b;
}

/* Replies with a JSON document (takes ownership of j). */
int srv_reply_json(srv_req *r, unsigned status, cJSON *j);
/* Replies with bytes that live as long as the process (the embedded web
 * console): sent without a copy, never freed. */
int srv_reply_static(srv_req *r, unsigned status, const void *data, size_t len,
                     const char *content_type);
/* Replies with a buffer's bytes (takes them). */
int srv_reply_buf(srv_req *r, unsigned status, proto_buf *b,
                  const char *content_type);
/* Adds a header to the response (sent with whatever reply the request
 * ends with, so add it after the reply that needs it). Returns false when
 * the name or value is too long or SRV_MAX_EXTRA_HEADERS are set: a bug
 * in the caller, the header is not sent. */
bool srv_add_header(srv_req *r, const char *name, const char *value);
/* Replies with malloc'd bytes (takes them). */
int srv_reply_bytes(srv_req *r, unsigned status, char *data, size_t len,
                    const char *content_type);
/* The one way a route reports a failure: replies
 * {"error":{"code","message"}} with the HTTP status and wire code of s's
 * row in BD_STATUS_MAP and the printf-style message. Returns 0, so a
 * handler reads `return srv_fail(r, BD_EINVAL, "lr: missing");`. */
int srv_fail(srv_req *r, bd_status s, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* srv_fail with the thread's bd_errmsg() (the status's default message
 * when it is empty): the reply for a failed engine call. */
int srv_reply_status(srv_req *r, bd_status s);
/* Like srv_reply_status, with every field of extra (borrowed) added to
 * the error object: {"error":{"code","message","missing_keys":[...]}}. */
int srv_reply_status_extra(srv_req *r, bd_status s, const cJSON *extra);
/* HTTP status of an engine status: its BD_STATUS_MAP row (errors.c). */
unsigned srv_http_status(bd_status s);

/* Finds a model or replies 404; the result is a new reference. */
bd_model *srv_model_or_404(srv_req *r, const char *name);

double srv_now(void);

#endif
