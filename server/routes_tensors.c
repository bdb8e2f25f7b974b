/* routes_tensors.c - the named tensor store: PUT/GET/DELETE
 * /v1/tensors/{t} and GET /v1/tensors. Bodies are JSON tensors or .npy
 * (Content-Type application/x-npy or application/octet-stream); GET
 * answers .npy when the Accept header asks for application/x-npy. */
#include <stdlib.h>
#include <string.h>

#include "../engine/atomic_file.h"
#include "../engine/backend.h"
#include "../engine/tensor_store.h"
#include "../proto/json_fields.h"
#include "../proto/json_tensor.h"
#include "../proto/npy.h"
#include "routes.h"

static bool binary_body(srv_req *r) {
  char ct[128];
  srv_content_type(r, ct, sizeof ct);
  return strcmp(ct, "application/x-npy") == 0 ||
         strcmp(ct, "application/octet-stream") == 0;
}

static bool name_or_400(srv_req *r, const char *name) {
  bd_status s = bd_name_check("tensor", name);
  if (s) srv_reply_status(r, s);
  return !s;
}

static void write_info(proto_buf *b, const char *name, const bd_tensor *t) {
  proto_buf_puts(b, "{\"name\":");
  proto_buf_json_str(b, name);
  proto_buf_puts(b, ",\"shape\":");
  proto_shape_write(b, t->ndim, t->shape);
  char dev[16];
  proto_buf_printf(b, ",\"dtype\":\"%s\",\"device\":\"%s\",\"bytes\":%zu}",
                   bd_dtype_name(t->dtype),
                   bd_device_str(bd_tensor_device(t), dev, sizeof dev),
                   bd_tensor_nbytes(t));
}

int srv_tensors_put(srv_req *r) {
  const char *name = r->args[0];
  if (!name_or_400(r, name)) return 0;
  bd_tensor *t = NULL;
  bd_status s;
  if (binary_body(r)) {
    s = proto_npy_read(r->body, r->body_len, r->app->cfg.max_elements, &t);
  } else {
    s = proto_tensor_parse(r->body, r->body_len, "body",
                           r->app->cfg.max_elements, &t);
    if (s == BD_EJSON)
      return srv_fail(r, BD_EJSON,
                      "body is not a JSON tensor (or send .npy with "
                      "Content-Type: application/x-npy)");
  }
  /* ?device=cuda:0 places the tensor there (x = torch.ones(2, device=...)). */
  const char *dq = srv_query(r, "device");
  if (!s && dq) {
    bd_device dev;
    s = bd_device_resolve(dq, &dev);
    if (s) {
      if (s == BD_ENOTFOUND) s = BD_EINVAL;
      bd_fail_prefix(s, "device: ");
    } else if (!bd_device_eq(dev, BD_CPU)) {
      bd_tensor *moved = NULL;
      s = bd_tensor_to(t, dev, &moved);
      bd_tensor_release(t);
      t = moved;
    }
  }
  if (s) {
    bd_tensor_release(t);
    return srv_reply_status(r, s);
  }
  bool replaced = false;
  s = bd_tensor_store_put(r->app->tensors, name, t, &replaced);
  if (s) {
    bd_tensor_release(t);
    return srv_reply_status(r, s);
  }
  proto_buf b = {0};
  write_info(&b, name, t);
  bd_tensor_release(t);
  return srv_reply_buf(r, replaced ? 200 : 201, &b, "application/json");
}

int srv_tensors_get(srv_req *r) {
  bd_tensor *t = bd_tensor_store_get(r->app->tensors, r->args[0]);
  if (!t)
    return srv_fail(r, BD_ENOTFOUND, "tensor '%.200s' not found", r->args[0]);
  if (bd_tensor_device(t).type != BD_DEV_CPU) { /* encoded from the host */
    bd_tensor *h = NULL;
    bd_status s = bd_tensor_to(t, BD_CPU, &h);
    bd_tensor_release(t);
    if (s) return srv_reply_status(r, s);
    t = h;
  }
  const char *acc = srv_header(r, "Accept");
  proto_buf b = {0};
  int rc;
  if (acc && (strstr(acc, "application/x-npy") ||
              strstr(acc, "application/octet-stream"))) {
    bd_status s = proto_npy_write(&b, t);
    if (s) {
      proto_buf_free(&b);
      rc = srv_reply_status(r, s);
    } else {
      rc = srv_reply_buf(r, 200, &b, "application/x-npy");
    }
  } else {
    bd_status s = srv_json_budget(
        &r->app->cfg, proto_tensor_json_bound(t->dtype, t->ndim, t->shape),
        "ask with Accept: application/x-npy");
    if (s) {
      rc = srv_reply_status(r, s);
    } else {
      proto_tensor_write(&b, t, r->q.layout_flat);
      rc = srv_reply_buf(r, 200, &b, "application/json");
    }
  }
  bd_tensor_release(t);
  return rc;
}

int srv_tensors_delete(srv_req *r) {
  bd_status s = bd_tensor_store_delete(r->app->tensors, r->args[0]);
  if (s) return srv_reply_status(r, s);
  cJSON *j = cJSON_CreateObject();
  cJSON_AddStringToObject(j, "deleted", r->args[0]);
  return srv_reply_json(r, 200, j);
}

int srv_tensors_list(srv_req *r) {
  char **names;
  bd_tensor **ts;
  size_t n;
  bd_status s = bd_tensor_store_list(r->app->tensors, &names, &ts, &n);
  if (s) return srv_reply_status(r, s);
  proto_buf b = {0};
  proto_buf_puts(&b, "{\"tensors\":[");
  for (size_t i = 0; i < n; i++) {
    if (i) proto_buf_puts(&b, ",");
    write_info(&b, names[i], ts[i]);
    free(names[i]);
    bd_tensor_release(ts[i]);
  }
  proto_buf_puts(&b, "]}");
  free(names);
  free(ts);
  return srv_reply_buf(r, 200, &b, "application/json");
}
