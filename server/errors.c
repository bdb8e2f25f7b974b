/* errors.c - the one place engine statuses become HTTP statuses. */
#include <microhttpd.h>

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

int srv_reply_status(srv_req *r, bd_status s) {
  const char *msg = bd_errmsg();
  return srv_reply_error(r, srv_http_status(s), bd_status_code(s), "%s",
                         msg[0] ? msg : bd_status_message(s));
}
