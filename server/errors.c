/* errors.c - the one place engine statuses become HTTP statuses. */
#include <microhttpd.h>
#include <string.h>

#include "http.h"

unsigned srv_http_status(bd_status s) {
  switch (s) {
    case BD_OK: return 200;
    case BD_EINVAL:
    case BD_EJSON:
    case BD_ELIMIT:
    case BD_EFORMAT: return 400;
    case BD_ENOTFOUND: return 404;
    case BD_EEXIST: return 409;
    case BD_ETOOLARGE: return 413;
    case BD_ESHAPE:
    case BD_EDTYPE:
    case BD_EDEVMISMATCH:
    case BD_EUNSUPPORTED:
    case BD_ENOGRAD:
    case BD_EITERS:
    case BD_ETIMEOUT: return 422;
    case BD_ENOMEM:
    case BD_EDEVMEM: return 507;
    case BD_EIO:
    case BD_EDEVICE:
    case BD_EINTERNAL:
    default: return 500;
  }
}

int srv_reply_status_extra(srv_req *r, bd_status s, const cJSON *extra) {
  const char *msg = bd_errmsg();
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

int srv_reply_status(srv_req *r, bd_status s) {
  const char *msg = bd_errmsg();
  return srv_reply_error(r, srv_http_status(s), bd_status_code(s), "%s",
                         msg[0] ? msg : bd_status_message(s));
}
