/* http.c - libmicrohttpd glue: per-request state on req_cls, body
 * accumulation with the --max-body limit, routing with 404/405, content
 * type checks (415), responses, access log. */
#include "http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "../engine/names.h"
#include "../proto/json_parse.h"
#include "access.h"
#include "auth.h"
#include "log.h"
#include "sched.h"

static uint64_t srv__next_id;
/* Requests between arrival and completion; the drain waits for 0. */
static int srv__inflight;
/* Set by srv_http_begin_drain: requests arriving after drain_t0 get 503
 * and every reply closes its connection. */
static int srv__draining;
static double srv__drain_t0;

int srv_http_inflight(void) {
  return __atomic_load_n(&srv__inflight, __ATOMIC_ACQUIRE);
}

bool srv_http_draining(void) {
  return __atomic_load_n(&srv__draining, __ATOMIC_ACQUIRE) != 0;
}

void srv_req_complete(srv_req *r) {
  /* MHD_resume_connection is safe from any thread; the connection's HTTP
   * thread then calls on_request again and sends the reply. */
  MHD_resume_connection(r->conn);
}

bool srv_req_client_gone(const srv_req *r) {
  if (r->fd < 0) return false;
  char c;
  ssize_t n = recv(r->fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
  if (n == 0) return true; /* orderly shutdown: the client is gone */
  if (n < 0) return errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR;
  return false; /* more bytes (a pipelined request): still there */
}

double srv_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* ---- responses ------------------------------------------------------- */

static int set_resp(srv_req *r, unsigned status, char *data, size_t len,
                    const char *type) {
  if (!r->resp_static) free(r->resp);
  r->resp_static = false;
  r->status = status;
  r->resp = data;
  r->resp_len = len;
  r->resp_type = type;
  r->done = true;
  return 0;
}

int srv_reply_bytes(srv_req *r, unsigned status, char *data, size_t len,
                    const char *content_type) {
  return set_resp(r, status, data, len, content_type);
}

int srv_reply_static(srv_req *r, unsigned status, const void *data, size_t len,
                     const char *content_type) {
  /* The cast is confined to resp_static replies: they are never freed
   * and MHD only reads a PERSISTENT buffer. */
  set_resp(r, status, (char *)(uintptr_t)data, len, content_type);
  r->resp_static = true;
  return 0;
}

bool srv_add_header(srv_req *r, const char *name, const char *value) {
  if (r->nheaders == SRV_MAX_EXTRA_HEADERS ||
      strlen(name) >= sizeof r->headers[0].name ||
      strlen(value) >= sizeof r->headers[0].value)
    return false;
  snprintf(r->headers[r->nheaders].name, sizeof r->headers[0].name, "%s", name);
  snprintf(r->headers[r->nheaders].value, sizeof r->headers[0].value, "%s",
           value);
  r->nheaders++;
  return true;
}

int srv_reply_buf(srv_req *r, unsigned status, proto_buf *b,
                  const char *content_type) {
  size_t len;
  char *d = proto_buf_take(b, &len);
  if (!d)
    return srv_fail(r, BD_ENOMEM,
                    "out of host memory while encoding the response");
  return set_resp(r, status, d, len, content_type);
}

int srv_reply_json(srv_req *r, unsigned status, cJSON *j) {
  char *s = j ? cJSON_PrintUnformatted(j) : NULL;
  cJSON_Delete(j);
  if (!s)
    return srv_fail(r, BD_ENOMEM,
                    "out of host memory while encoding the response");
  return set_resp(r, status, s, strlen(s), "application/json");
}

bd_status srv_json_budget(const srv_config *cfg, int64_t bytes,
                          const char *alt) {
  if (bytes <= cfg->max_json_response) return BD_OK;
  return bd_fail(BD_ETOOLARGE,
                 "the JSON response could take up to %lld bytes, over "
                 "--max-json-response-bytes (%lld bytes); %s",
                 (long long)bytes, (long long)cfg->max_json_response, alt);
}

/* ---- request helpers ------------------------------------------------- */

bool srv_json_check_keys(srv_req *r, const cJSON *j, const char *where,
                         const char *const *ok) {
  for (const cJSON *it = j->child; it; it = it->next) {
    bool known = false;
    for (const char *const *k = ok; *k && !known; k++)
      known = strcmp(*k, it->string) == 0;
    if (!known) {
      srv_fail(r, BD_EINVAL, "unknown field '%s%.64s'", where, it->string);
      return false;
    }
  }
  return true;
}

const char *srv_query(srv_req *r, const char *key) {
  return MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, key);
}

const char *srv_header(srv_req *r, const char *key) {
  return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, key);
}

void srv_content_type(srv_req *r, char *buf, size_t n) {
  const char *ct = srv_header(r, MHD_HTTP_HEADER_CONTENT_TYPE);
  size_t i = 0;
  if (ct) {
    while (*ct == ' ') ct++;
    for (; ct[i] && ct[i] != ';' && ct[i] != ' ' && i + 1 < n; i++)
      buf[i] = (char)(ct[i] >= 'A' && ct[i] <= 'Z' ? ct[i] + 32 : ct[i]);
  }
  buf[i] = '\0';
}

cJSON *srv_json_body(srv_req *r, bool allow_empty) {
  size_t i = 0;
  while (i < r->body_len && (r->body[i] == ' ' || r->body[i] == '\n' ||
                             r->body[i] == '\r' || r->body[i] == '\t'))
    i++;
  if (i == r->body_len) {
    if (allow_empty) return cJSON_CreateObject();
    srv_fail(r, BD_EJSON, "the request needs a JSON body");
    return NULL;
  }
  /* JSON is UTF-8 (RFC 8259): names taken from a body (dict keys, tensor
   * names) are echoed in replies that must stay valid JSON. */
  if (!bd_utf8_valid(r->body, r->body_len)) {
    srv_fail(r, BD_EINVAL, "the JSON body is not valid UTF-8");
    return NULL;
  }
  const char *end = NULL;
  cJSON *j = proto_json_parse(r->body, r->body_len, &end);
  if (!j) {
    size_t off = end ? (size_t)(end - r->body) : 0;
    srv_fail(r, BD_EJSON, "malformed JSON near byte %zu", off);
    return NULL;
  }
  /* Anything but whitespace after the document is an error. */
  for (size_t k = end ? (size_t)(end - r->body) : r->body_len; k < r->body_len;
       k++)
    if (r->body[k] != ' ' && r->body[k] != '\n' && r->body[k] != '\r' &&
        r->body[k] != '\t' && r->body[k] != '\0') {
      cJSON_Delete(j);
      srv_fail(r, BD_EJSON, "trailing data after the JSON document at byte %zu",
               k);
      return NULL;
    }
  if (!cJSON_IsObject(j)) {
    cJSON_Delete(j);
    srv_fail(r, BD_EINVAL, "the request body must be a JSON object");
    return NULL;
  }
  return j;
}

bd_model *srv_model_or_404(srv_req *r, const char *name) {
  bd_model *m = bd_registry_get(r->app->models, name);
  if (!m) srv_fail(r, BD_ENOTFOUND, "model '%s' not found", name);
  return m;
}

/* ---- routing --------------------------------------------------------- */

/* Matches path against pattern, capturing "*" segments into r->args.
 * A trailing slash on the path is tolerated. */
static bool route_match(const char *pattern, const char *path, srv_req *r,
                        bool capture) {
  const char *p = pattern, *s = path;
  int nargs = 0;
  while (*p && *s) {
    if (*p == '*') {
      const char *e = strchr(s, '/');
      size_t n = e ? (size_t)(e - s) : strlen(s);
      if (n == 0) return false;
      if (capture && nargs < SRV_MAX_ARGS) r->args[nargs] = strndup(s, n);
      nargs++;
      s += n;
      p++;
    } else if (*p == *s) {
      p++;
      s++;
    } else {
      return false;
    }
  }
  if (*s == '/' && s[1] == '\0') s++;
  if (*p || *s) {
    if (capture)
      for (int i = 0; i < nargs && i < SRV_MAX_ARGS; i++) {
        free(r->args[i]);
        r->args[i] = NULL;
      }
    return false;
  }
  if (capture) r->nargs = nargs;
  return true;
}

static bool media_ok(const char *ct, int body) {
  if (!ct[0] || strcmp(ct, "application/json") == 0 ||
      strcmp(ct, "application/x-www-form-urlencoded") == 0 ||
      strcmp(ct, "text/json") == 0)
    return true;
  return (body & SRV_BODY_BINARY) &&
         (strcmp(ct, "application/octet-stream") == 0 ||
          strcmp(ct, "application/x-npy") == 0);
}

/* Finds r's route and makes the checks every route shares (405, 413,
 * 415); captures the route's "*" segments into r->args. NULL when r
 * already holds its (error) reply. */
static const srv_route *match_route(srv_req *r) {
  const srv_route *hit = NULL;
  char allow[64] = "";
  for (const srv_route *rt = srv_routes; rt->method; rt++) {
    if (!route_match(rt->pattern, r->path, r, false)) continue;
    if (strcmp(rt->method, r->method) == 0) {
      hit = rt;
      break;
    }
    if (!strstr(allow, rt->method) &&
        strlen(allow) + strlen(rt->method) + 3 < sizeof allow) {
      if (allow[0]) strcat(allow, ", ");
      strcat(allow, rt->method);
    }
  }
  if (!hit) {
    if (allow[0]) {
      snprintf(r->allow, sizeof r->allow, "%s", allow);
      srv_fail(r, BD_EMETHOD, "%s is not allowed on %s (allowed: %s)",
               r->method, r->path, allow);
    } else {
      srv_fail(r, BD_ENOTFOUND, "no such endpoint: %s %s", r->method, r->path);
    }
    return NULL;
  }
  if (!r->auth_checked && !srv_auth_check(r, hit)) return NULL;
  if (r->body_too_large) {
    srv_fail(r, BD_EPAYLOAD, "request body exceeds --max-body (%lld bytes)",
             (long long)r->app->cfg.max_body);
    return NULL;
  }
  if (hit->body != SRV_BODY_NONE && r->body_len > 0) {
    char ct[128];
    srv_content_type(r, ct, sizeof ct);
    if (!media_ok(ct, hit->body)) {
      srv_fail(r, BD_EMEDIATYPE,
               "Content-Type '%s' is not supported here (use "
               "application/json%s)",
               ct,
               (hit->body & SRV_BODY_BINARY) ? ", application/octet-stream or "
                                               "application/x-npy"
                                             : "");
      return NULL;
    }
  }
  route_match(hit->pattern, r->path, r, true);
  return hit;
}

/* The route serving r's method and path, or NULL: matching only, no
 * captures and no checks (for the access check on the first callback). */
static const srv_route *find_route(srv_req *r) {
  for (const srv_route *rt = srv_routes; rt->method; rt++)
    if (strcmp(rt->method, r->method) == 0 &&
        route_match(rt->pattern, r->path, r, false))
      return rt;
  return NULL;
}

/* Runs r's route: inline routes here, every other one on a compute
 * worker (r's connection is suspended until the worker has the reply). */
static bool dispatch(srv_req *r) {
  const srv_route *rt = match_route(r);
  if (!rt) return false;
  if ((rt->body & SRV_INLINE) || !r->app->sched) {
    bd_errclear();
    rt->handler(r);
    if (!r->done) srv_fail(r, BD_EINTERNAL, "the handler produced no response");
    return false;
  }
  const union MHD_ConnectionInfo *ci =
      MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
  r->fd = ci ? ci->connect_fd : -1;
  /* Suspend first: the worker may finish and resume before submit
   * returns. */
  MHD_suspend_connection(r->conn);
  r->suspended = true;
  bd_status s = srv_sched_submit(r->app->sched, r, rt->handler);
  if (s) {
    srv_reply_status(r, s);
    srv_req_complete(r);
  }
  return true;
}

/* ---- MHD callbacks ---------------------------------------------------- */

static enum MHD_Result send_response(srv_req *r) {
  struct MHD_Response *resp = MHD_create_response_from_buffer(
      r->resp_len, r->resp,
      r->resp_static ? MHD_RESPMEM_PERSISTENT : MHD_RESPMEM_MUST_FREE);
  if (!resp) return MHD_NO;
  r->resp = NULL; /* MHD owns it now (or it is static) */
  r->resp_static = false;
  r->sent = true;
  if (r->status == 503) /* overloaded, deadline, shutting down */
    MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, "1");
  if (srv_http_draining())
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
  MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
                          r->resp_type ? r->resp_type : "application/json");
  MHD_add_response_header(resp, "X-Request-Id", r->rid);
  if (r->allow[0])
    MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, r->allow);
  if (r->www_authenticate[0])
    MHD_add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE,
                            r->www_authenticate);
  if (r->content_disposition[0])
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_DISPOSITION,
                            r->content_disposition);
  for (int i = 0; i < r->nheaders; i++)
    MHD_add_response_header(resp, r->headers[i].name, r->headers[i].value);
  enum MHD_Result ret = MHD_queue_response(r->conn, r->status, resp);
  MHD_destroy_response(resp);
  return ret;
}

/* Unescapes %HH in the path and query like MHD's default, but turns a
 * decoded NUL into \x01 so that the C string is not cut short ("a%00b"
 * must not become "a"); check_path then refuses it. */
static size_t unescape(void *cls, struct MHD_Connection *c, char *s) {
  (void)cls;
  (void)c;
  size_t n = MHD_http_unescape(s);
  for (size_t i = 0; i < n; i++)
    if (s[i] == '\0') s[i] = '\x01';
  return n;
}

/* Replies 400 and returns -1 when the decoded path holds a control
 * character (an escaped NUL included); 0 otherwise. */
static int check_path(srv_req *r) {
  for (const unsigned char *p = (const unsigned char *)r->path; *p; p++)
    if (*p < 0x20 || *p == 0x7f) {
      srv_fail(r, BD_EINVAL,
               "request path contains a NUL or control character");
      return -1;
    }
  return 0;
}

/* The shared query flags: each key, where its value lands in
 * srv_query_flags and whether it is a boolean (true/false/1/0, empty for
 * true) or the layout (nested/flat). */
static const struct query_flag {
  const char *key;
  size_t off;
  bool layout;
} query_flags[] = {
    {"layout", offsetof(srv_query_flags, layout_flat), true},
    {"flat", offsetof(srv_query_flags, flat), false},
    {"values", offsetof(srv_query_flags, values), false},
    {"strict", offsetof(srv_query_flags, strict), false},
};
#define N_QUERY_FLAGS (sizeof query_flags / sizeof query_flags[0])

struct query_parse {
  srv_query_flags *q;
  bool seen[N_QUERY_FLAGS];
  const char *bad_key, *bad_val;
};

/* Parses one query value into its flag; stops at the first bad value. */
static enum MHD_Result query_iter(void *cls, enum MHD_ValueKind kind,
                                  const char *key, const char *val) {
  (void)kind;
  struct query_parse *qp = cls;
  const char *v = val ? val : "";
  bool ok = true;
  for (const unsigned char *p = (const unsigned char *)v; ok && *p; p++)
    if (*p < 0x20 || *p == 0x7f) ok = false;
  for (size_t i = 0; ok && i < N_QUERY_FLAGS; i++) {
    const struct query_flag *f = &query_flags[i];
    if (strcmp(key, f->key) != 0) continue;
    bool on;
    if (f->layout) {
      ok = !strcmp(v, "nested") || !strcmp(v, "flat");
      on = !strcmp(v, "flat");
    } else {
      on = !strcmp(v, "true") || !strcmp(v, "1") || !v[0];
      ok = on || !strcmp(v, "false") || !strcmp(v, "0");
    }
    if (ok && !qp->seen[i]) *(bool *)((char *)qp->q + f->off) = on;
    qp->seen[i] = true;
  }
  if (ok) return MHD_YES;
  qp->bad_key = key;
  qp->bad_val = v;
  return MHD_NO;
}

/* Parses the shared query flags into r->q; replies 400 and returns -1 for
 * a value outside its vocabulary or holding a control character. */
static int parse_query(srv_req *r) {
  r->q = (srv_query_flags){.strict = true};
  struct query_parse qp = {.q = &r->q};
  MHD_get_connection_values(r->conn, MHD_GET_ARGUMENT_KIND, query_iter, &qp);
  if (!qp.bad_key) return 0;
  bool ctl = false;
  for (const unsigned char *p = (const unsigned char *)qp.bad_val; *p; p++)
    ctl = ctl || *p < 0x20 || *p == 0x7f;
  if (ctl)
    srv_fail(r, BD_EINVAL,
             "query %.64s: value contains a NUL or control character",
             qp.bad_key);
  else if (strcmp(qp.bad_key, "layout") == 0)
    srv_fail(r, BD_EINVAL, "query layout: must be \"nested\" or \"flat\"");
  else
    srv_fail(r, BD_EINVAL, "query %.64s: must be true, false, 1 or 0",
             qp.bad_key);
  return -1;
}

/* Sums the bytes of the values of one kind (key, value and separators). */
static enum MHD_Result sum_iter(void *cls, enum MHD_ValueKind kind,
                                const char *key, const char *val) {
  (void)kind;
  size_t *sum = cls;
  *sum += strlen(key) + (val ? strlen(val) : 0) + 4;
  return MHD_YES;
}

/* Replies 414 or 431 (JSON) and returns -1 when the URI or the headers
 * exceed blockd's own limits; 0 otherwise. */
static int check_sizes(srv_req *r, const char *url) {
  size_t uri = strlen(url), hdr = 0;
  MHD_get_connection_values(r->conn, MHD_GET_ARGUMENT_KIND, sum_iter, &uri);
  if (uri > SRV_MAX_URI_BYTES) {
    srv_fail(r, BD_EURITOOLONG,
             "request URI of about %zu bytes exceeds the limit of %d bytes",
             uri, SRV_MAX_URI_BYTES);
    return -1;
  }
  MHD_get_connection_values(r->conn, MHD_HEADER_KIND, sum_iter, &hdr);
  if (hdr > SRV_MAX_HEADER_BYTES) {
    srv_fail(r, BD_EHEADERS,
             "request headers of %zu bytes exceed the limit of %d bytes", hdr,
             SRV_MAX_HEADER_BYTES);
    return -1;
  }
  return 0;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn,
                                  const char *url, const char *method,
                                  const char *version, const char *upload,
                                  size_t *upload_size, void **req_cls) {
  (void)version;
  srv_app *app = cls;
  srv_req *r = *req_cls;
  if (!r) {
    r = calloc(1, sizeof *r);
    if (!r) return MHD_NO;
    r->app = app;
    r->conn = conn;
    r->method = method;
    r->path = strdup(url);
    r->id = __atomic_add_fetch(&srv__next_id, 1, __ATOMIC_RELAXED);
    r->t0 = srv_now();
    r->fd = -1;
    if (app->cfg.request_timeout_s > 0)
      r->deadline = r->t0 + app->cfg.request_timeout_s;
    __atomic_add_fetch(&srv__inflight, 1, __ATOMIC_ACQ_REL);
    srv_access_begin(r);
    *req_cls = r;
    if (!r->path) return MHD_NO;
    if (check_sizes(r, url)) return send_response(r);
    const char *cl = MHD_lookup_connection_value(
        conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (cl && strtoll(cl, NULL, 10) > app->cfg.max_body) {
      r->body_too_large = true;
      srv_fail(r, BD_EPAYLOAD,
               "request body of %s bytes exceeds --max-body (%lld "
               "bytes)",
               cl, (long long)app->cfg.max_body);
      return send_response(r);
    }
    /* Access control on the request line and headers alone, before any
     * of the body is read: an unauthenticated client cannot make blockd
     * buffer up to --max-body first. */
    const srv_route *rt = find_route(r);
    if (rt) {
      if (!srv_auth_check(r, rt)) return send_response(r);
      r->auth_checked = true;
    }
    return MHD_YES;
  }
  if (*upload_size) {
    if (!r->body_too_large) {
      size_t need = r->body_len + *upload_size;
      if ((int64_t)need > app->cfg.max_body) {
        r->body_too_large = true;
        free(r->body);
        r->body = NULL;
        r->body_len = r->body_cap = 0;
      } else {
        if (need + 1 > r->body_cap) {
          size_t cap = r->body_cap ? r->body_cap : 4096;
          while (cap < need + 1) cap *= 2;
          char *b = realloc(r->body, cap);
          if (!b) return MHD_NO;
          r->body = b;
          r->body_cap = cap;
        }
        memcpy(r->body + r->body_len, upload, *upload_size);
        r->body_len = need;
        r->body[need] = '\0';
      }
    }
    *upload_size = 0;
    return MHD_YES;
  }
  if (r->sent) return MHD_YES;          /* early 413, or sent */
  if (r->done) return send_response(r); /* back from a worker */
  if (r->suspended) return MHD_YES;     /* not expected: waits */
  if (!r->body) {
    r->body = calloc(1, 1);
    if (!r->body) return MHD_NO;
  }
  double drain_t0;
  __atomic_load(&srv__drain_t0, &drain_t0, __ATOMIC_ACQUIRE);
  if (srv_http_draining() && r->t0 >= drain_t0)
    srv_fail(r, BD_ESHUTDOWN,
             "the daemon is shutting down; retry on another replica or "
             "after its restart");
  else if (!check_path(r) && !parse_query(r) && dispatch(r))
    return MHD_YES; /* on a worker, r is its own until it resumes us */
  return send_response(r);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **req_cls,
                         enum MHD_RequestTerminationCode toe) {
  (void)cls;
  (void)conn;
  srv_req *r = *req_cls;
  if (!r) return;
  srv_access_end(r, toe == MHD_REQUEST_TERMINATED_COMPLETED_OK);
  __atomic_sub_fetch(&srv__inflight, 1, __ATOMIC_ACQ_REL);
  if (r->route_state_free) r->route_state_free(r->route_state);
  for (int i = 0; i < SRV_MAX_ARGS; i++) free(r->args[i]);
  free(r->path);
  free(r->body);
  if (!r->resp_static) free(r->resp);
  free(r);
  *req_cls = NULL;
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap) {
  (void)cls;
  char line[1024];
  vsnprintf(line, sizeof line, fmt, ap);
  size_t n = strlen(line);
  while (n && line[n - 1] == '\n') line[--n] = '\0';
  srv_log(SRV_LOG_WARN, "mhd: %s", line);
}

/* Descriptors kept free of connections: the listening socket, epoll,
 * the data dir's files, logs, plugins. */
#define FD_RESERVE 64

/* Raises the soft RLIMIT_NOFILE towards the hard limit when
 * --max-connections needs more descriptors, and lowers the connection
 * limits (with a warning) when even the hard limit is too small, so that
 * accept() never fails with EMFILE while connections are under the
 * limit (MHD then stops serving everyone). */
static void fit_fd_limit(srv_config *cfg) {
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return;
  rlim_t need = (rlim_t)cfg->max_conns + FD_RESERVE;
  if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < need) {
    rlim_t want = need;
    if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < want) want = rl.rlim_max;
    struct rlimit nl = {want, rl.rlim_max};
    if (setrlimit(RLIMIT_NOFILE, &nl) == 0) rl.rlim_cur = want;
  }
  if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < need) {
    long fit = (long)rl.rlim_cur - FD_RESERVE;
    if (fit < 2) fit = 2;
    srv_log(SRV_LOG_WARN,
            "open-files limit %ld allows only %ld connections; "
            "--max-connections lowered from %d",
            (long)rl.rlim_cur, fit, cfg->max_conns);
    cfg->max_conns = (int)fit;
    if (cfg->max_conns_per_ip >= cfg->max_conns)
      cfg->max_conns_per_ip = cfg->max_conns / 2 > 0 ? cfg->max_conns / 2 : 1;
  }
}

struct MHD_Daemon *srv_http_start(srv_app *app, int *port) {
  fit_fd_limit(&app->cfg);
  char host[256];
  snprintf(host, sizeof host, "%s", app->cfg.listen);
  char *colon = strrchr(host, ':');
  if (!colon) {
    fprintf(stderr, "blockd: --listen needs HOST:PORT\n");
    return NULL;
  }
  *colon = '\0';
  const char *portstr = colon + 1;
  char *h = host;
  if (h[0] == '[') { /* [::1]:8080 */
    h++;
    size_t n = strlen(h);
    if (n && h[n - 1] == ']') h[n - 1] = '\0';
  }
  struct addrinfo hints = {0}, *ai = NULL;
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  int rc = getaddrinfo(h[0] ? h : NULL, portstr, &hints, &ai);
  if (rc != 0) {
    fprintf(stderr, "blockd: cannot resolve --listen %s: %s\n", app->cfg.listen,
            gai_strerror(rc));
    return NULL;
  }
  /* Suspend/resume: requests compute on workers (sched.h). ITC: resume
   * and quiesce (the drain) wake the polling threads. */
  struct MHD_OptionItem tls[3];
  unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG |
                   MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ITC |
                   srv_tls_options(tls);
#ifdef __linux__
  flags |= MHD_USE_EPOLL;
#endif
  if (ai->ai_family == AF_INET6) flags |= MHD_USE_IPv6;
  struct MHD_Daemon *d = MHD_start_daemon(
      flags, 0, NULL, NULL, on_request, app, MHD_OPTION_EXTERNAL_LOGGER,
      on_mhd_log, NULL, MHD_OPTION_SOCK_ADDR, ai->ai_addr,
      MHD_OPTION_THREAD_POOL_SIZE, (unsigned)app->cfg.threads,
      MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL,
      MHD_OPTION_UNESCAPE_CALLBACK, unescape, NULL,
      MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)app->cfg.idle_timeout_s,
      MHD_OPTION_CONNECTION_LIMIT, (unsigned)app->cfg.max_conns,
      MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)app->cfg.max_conns_per_ip,
      MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)SRV_MHD_MEMORY_LIMIT,
      MHD_OPTION_ARRAY, tls, MHD_OPTION_END);
  freeaddrinfo(ai);
  if (!d) {
    fprintf(stderr,
            "blockd: cannot listen on %s (address in use or not "
            "permitted)\n",
            app->cfg.listen);
    return NULL;
  }
  const union MHD_DaemonInfo *info =
      MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
  *port = info ? (int)info->port : atoi(portstr);
  return d;
}

static int srv__quiesced_fd = -1;

void srv_http_begin_drain(struct MHD_Daemon *d) {
  double now = srv_now();
  __atomic_store(&srv__drain_t0, &now, __ATOMIC_RELEASE);
  __atomic_store_n(&srv__draining, 1, __ATOMIC_RELEASE);
  if (!d) return;
  /* Stop accepting: new connections are refused by the kernel from now
   * on, not reset after acceptance. */
  MHD_socket fd = MHD_quiesce_daemon(d);
  if (fd != MHD_INVALID_SOCKET) {
    shutdown(fd, SHUT_RDWR);
    srv__quiesced_fd = fd;
  }
}

void srv_http_stop(struct MHD_Daemon *d) {
  if (d) MHD_stop_daemon(d);
  if (srv__quiesced_fd >= 0) close(srv__quiesced_fd);
  srv__quiesced_fd = -1;
}
