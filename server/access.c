/* access.c - request ids, the access log and the request metrics. */
#include "access.h"

#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "log.h"
#include "metrics.h"

/* Route labels, built once from the route table. */
static char **labels;
static int nlabels;

/* The placeholder naming the segment after seg in a route label. */
static const char *placeholder(const char *seg, size_t n) {
  static const struct {
    const char *seg, *name;
  } names[] = {{"models", "{m}"},        {"tensors", "{t}"},
               {"files", "{f}"},         {"versions", "{v}"},
               {"parameters", "{path}"}, {"blocks", "{path}"}};
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
    if (strlen(names[i].seg) == n && memcmp(names[i].seg, seg, n) == 0)
      return names[i].name;
  return "{id}";
}

static char *make_label(const char *pattern) {
  size_t cap = strlen(pattern) * 6 + 1, len = 0;
  char *out = malloc(cap);
  if (!out) return NULL;
  const char *seg = pattern; /* start of the segment before a '*' */
  size_t seglen = 0;
  for (const char *p = pattern; *p; p++) {
    if (*p == '*') {
      const char *ph = placeholder(seg, seglen);
      memcpy(out + len, ph, strlen(ph));
      len += strlen(ph);
      continue;
    }
    if (*p == '/') {
      /* The segment that ends here is the one a following '*' is named
       * after. */
      const char *start = p;
      while (start > pattern && start[-1] != '/') start--;
      seg = start;
      seglen = (size_t)(p - start);
    }
    out[len++] = *p;
  }
  out[len] = '\0';
  return out;
}

int srv_access_init(void) {
  srv_access_free();
  int n = 0;
  while (srv_routes[n].method) n++;
  labels = calloc((size_t)n + 1, sizeof *labels);
  if (!labels) return -1;
  nlabels = n;
  for (int i = 0; i < n; i++)
    if (!(labels[i] = make_label(srv_routes[i].pattern))) return -1;
  return srv_metrics_init((const char *const *)labels, n);
}

void srv_access_free(void) {
  srv_metrics_free();
  for (int i = 0; labels && i < nlabels; i++) free(labels[i]);
  free(labels);
  labels = NULL;
  nlabels = 0;
}

const char *srv_access_route_label(int i) {
  return i >= 0 && i < nlabels ? labels[i] : "other";
}

static bool id_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
         (c >= '0' && c <= '9') || strchr("._:/+=@-", c);
}

void srv_access_begin(srv_req *r) {
  const char *in =
      MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "X-Request-Id");
  size_t n = in ? strnlen(in, SRV_REQUEST_ID_MAX + 1) : 0;
  bool ok = n >= 1 && n <= SRV_REQUEST_ID_MAX;
  for (size_t i = 0; ok && i < n; i++) ok = id_char(in[i]);
  /* An id a client chose is kept so that its logs and ours line up; one
   * that is too long or holds other bytes (CR/LF would split our header,
   * anything else would need escaping in every log line) is replaced. */
  if (ok)
    memcpy(r->rid, in, n + 1);
  else
    snprintf(r->rid, sizeof r->rid, "%llu", (unsigned long long)r->id);
}

/* '*' matches one non-empty segment; a trailing slash on the path is
 * tolerated (as the dispatcher does). */
static bool matches(const char *pattern, const char *path) {
  const char *p = pattern, *s = path;
  while (*p && *s) {
    if (*p == '*') {
      size_t n = strcspn(s, "/");
      if (!n) return false;
      s += n;
      p++;
    } else if (*p++ != *s++) {
      return false;
    }
  }
  if (*s == '/' && s[1] == '\0') s++;
  return !*p && !*s;
}

/* The route a request went to: the one matching its path and method,
 * else the first matching its path (a 405), else -1. */
static int route_of(const srv_req *r) {
  int any = -1;
  if (!r->path) return -1;
  for (int i = 0; srv_routes[i].method; i++) {
    if (!matches(srv_routes[i].pattern, r->path)) continue;
    if (r->method && strcmp(srv_routes[i].method, r->method) == 0) return i;
    if (any < 0) any = i;
  }
  return any;
}

/* Routes whose success is one inference of the model in their first
 * segment capture. */
static bool is_inference(const srv_route *rt) {
  static const char *const patterns[] = {"/v1/models/*/forward",
                                         "/v2/models/*/infer",
                                         "/v2/models/*/versions/*/infer"};
  if (strcmp(rt->method, "POST") != 0) return false;
  for (size_t i = 0; i < sizeof patterns / sizeof patterns[0]; i++)
    if (strcmp(rt->pattern, patterns[i]) == 0) return true;
  return false;
}

static void client_address(srv_req *r, char *buf, size_t n) {
  snprintf(buf, n, "-");
  const union MHD_ConnectionInfo *ci =
      MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
  if (!ci || !ci->client_addr) return;
  const struct sockaddr *sa = ci->client_addr;
  socklen_t len = sa->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
                                            : sizeof(struct sockaddr_in);
  if (getnameinfo(sa, len, buf, (socklen_t)n, NULL, 0, NI_NUMERICHOST) != 0)
    snprintf(buf, n, "-");
}

void srv_access_end(srv_req *r, bool completed) {
  double secs = srv_now() - r->t0;
  unsigned status = r->status ? r->status : 499;
  int route = route_of(r);
  srv_metrics_http(route, r->method, status, secs);
  if (route >= 0 && status >= 200 && status < 300 && r->nargs > 0 &&
      r->args[0]) {
    const srv_route *rt = &srv_routes[route];
    if (is_inference(rt)) srv_metrics_inference(r->args[0]);
    if (strcmp(rt->method, "DELETE") == 0 &&
        strcmp(rt->pattern, "/v1/models/*") == 0)
      srv_metrics_model_forget(r->args[0]);
  }

  srv_log_level level = status >= 500 ? SRV_LOG_WARN : SRV_LOG_INFO;
  if (level > srv_log_get_level()) return;
  char client[64];
  client_address(r, client, sizeof client);
  srv_log_field f[] = {
      {"request_id", SRV_LOG_STR, r->rid, 0, 0},
      {"client", SRV_LOG_STR, client, 0, 0},
      {"method", SRV_LOG_STR, r->method ? r->method : "-", 0, 0},
      {"route", SRV_LOG_STR, srv_access_route_label(route), 0, 0},
      {"path", SRV_LOG_STR, r->path ? r->path : "-", 0, 0},
      {"status", SRV_LOG_INT, NULL, status, 0},
      {"latency_ms", SRV_LOG_MS, NULL, 0, secs * 1e3},
      {"bytes_in", SRV_LOG_INT, NULL, (int64_t)r->body_len, 0},
      {"bytes_out", SRV_LOG_INT, NULL, (int64_t)r->resp_len, 0},
      {"aborted", SRV_LOG_BOOL, NULL, !completed, 0},
  };
  int nf = (int)(sizeof f / sizeof f[0]);
  srv_log_event(level, "access", f, completed ? nf - 1 : nf);
}
