/* errors.c - the one path from an engine status to an HTTP error reply.
 *
 * The HTTP status and wire code of every status are columns of
 * BD_STATUS_MAP (engine/status.h); this file only reads them and writes
 * {"error":{"code","message"}}. No route names an HTTP status or a wire
 * code for an error itself.
 *
 * The encoding is a property of the route family: under /v2 (the KServe
 * Open Inference Protocol) clients such as tritonclient read the error as
 * the string at "error", so there the body is {"error":"<message>"}
 * (proto/v2_json.h), with the same HTTP status. The family is told by the
 * path, so the front end's own refusals on a /v2 path (404, 405, 413,
 * 415) take the v2 shape too. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../proto/v2_json.h"
#include "http.h"
#include "log.h"

unsigned srv_http_status(bd_status s) { return bd_status_http(s); }

/* The error log: what went wrong, under the request id of the access line
 * that follows. A server-side failure (5xx) is an error an operator must
 * see; a client's mistake (4xx) is detail for --log-level debug. */
static void log_error(srv_req *r, bd_status s, const char *msg) {
  unsigned http = srv_http_status(s);
  srv_log_level level = http >= 500 ? SRV_LOG_ERROR : SRV_LOG_DEBUG;
  if (level > srv_log_get_level()) return;
  srv_log_field f[] = {
      {"request_id", SRV_LOG_STR, r->rid, 0, 0},
      {"status", SRV_LOG_INT, NULL, http, 0},
      {"code", SRV_LOG_STR, bd_status_code(s), 0, 0},
      {"message", SRV_LOG_STR, msg, 0, 0},
  };
  srv_log_event(level, "error", f, (int)(sizeof f / sizeof f[0]));
}

/* Whether r belongs to the /v2 route family: "/v2" or "/v2/...". */
static bool v2_family(const srv_req *r) {
  return r->path && strncmp(r->path, "/v2", 3) == 0 &&
         (r->path[3] == '\0' || r->path[3] == '/');
}

/* Replies {"error":{"code":<s's code>,"message":msg}} with s's HTTP status.
 * When even the reply cannot be allocated, a fixed out_of_memory body is
 * sent instead so the client still gets an error. */
static int reply_error(srv_req *r, bd_status s, const char *msg) {
  log_error(r, s, msg);
  proto_buf b = {0};
  if (v2_family(r)) {
    proto_v2_error(&b, msg);
  } else {
    proto_buf_puts(&b, "{\"error\":{\"code\":");
    proto_buf_json_str(&b, bd_status_code(s));
    proto_buf_puts(&b, ",\"message\":");
    proto_buf_json_str(&b, msg);
    proto_buf_puts(&b, "}}");
  }
  size_t len;
  char *d = proto_buf_take(&b, &len);
  if (!d && v2_family(r)) {
    static const char oom[] = "{\"error\":\"out of memory\"}";
    d = strdup(oom);
    len = d ? sizeof oom - 1 : 0;
  } else if (!d) {
    static const char oom[] =
        "{\"error\":{\"code\":\"out_of_memory\",\"message\":\"out of "
        "memory\"}}";
    d = strdup(oom);
    len = d ? sizeof oom - 1 : 0;
  }
  return srv_reply_bytes(r, srv_http_status(s), d, len, "application/json");
}

int srv_fail(srv_req *r, bd_status s, const char *fmt, ...) {
  char msg[1200];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  return reply_error(r, s, msg);
}

int srv_reply_status(srv_req *r, bd_status s) {
  const char *msg = bd_errmsg();
  return reply_error(r, s, msg[0] ? msg : bd_status_message(s));
}

int srv_reply_status_extra(srv_req *r, bd_status s, const cJSON *extra) {
  const char *msg = bd_errmsg();
  if (v2_family(r)) /* the v2 error body is one string */
    return reply_error(r, s, msg[0] ? msg : bd_status_message(s));
  log_error(r, s, msg[0] ? msg : bd_status_message(s));
  cJSON *j = cJSON_CreateObject();
  cJSON *e = cJSON_AddObjectToObject(j, "error");
  cJSON_AddStringToObject(e, "code", bd_status_code(s));
  cJSON_AddStringToObject(e, "message", msg[0] ? msg : bd_status_message(s));
  for (const cJSON *it = extra ? extra->child : NULL; it; it = it->next)
    if (it->string && strcmp(it->string, "code") != 0 &&
        strcmp(it->string, "message") != 0)
      cJSON_AddItemToObject(e, it->string, cJSON_Duplicate(it, true));
  return srv_reply_json(r, srv_http_status(s), j);
}
