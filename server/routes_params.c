/* routes_params.c - named_parameters, single parameters and the JSON
 * state_dict. */
#include <stdlib.h>
#include <string.h>

#include "../proto/json_tensor.h"
#include "routes.h"

static bool flat_layout(srv_req *r) {
  const char *l = srv_query(r, "layout");
  return l && strcmp(l, "flat") == 0;
}

/* Writes the metadata of entry i of l (and its value when asked). */
static void write_param_info(proto_buf *b, const bd_state_list *l, size_t i,
                             bool values, bool flat) {
  const bd_param *p = l->v[i].param;
  char dev[16];
  proto_buf_puts(b, "{\"name\":");
  proto_buf_json_str(b, l->v[i].path);
  proto_buf_puts(b, ",\"shape\":");
  proto_shape_write(b, p->value->ndim, p->value->shape);
  proto_buf_printf(b, ",\"dtype\":\"%s\",\"device\":\"%s\"",
                   bd_dtype_name(p->value->dtype),
                   bd_device_str(bd_tensor_device(p->value), dev, sizeof dev));
  if (!p->is_buffer)
    proto_buf_printf(b, ",\"requires_grad\":%s,\"has_grad\":%s",
                     p->requires_grad ? "true" : "false",
                     p->grad ? "true" : "false");
  proto_buf_puts(b, ",\"aliases\":[");
  int na = 0;
  for (size_t k = i + 1; k < l->n; k++)
    if (l->v[k].param == p) {
      if (na++) proto_buf_puts(b, ",");
      proto_buf_json_str(b, l->v[k].path);
    }
  proto_buf_puts(b, "]");
  if (values) {
    bd_tensor *host = NULL;
    if (bd_tensor_to(p->value, BD_CPU, &host) == BD_OK) {
      proto_buf_puts(b, ",\"value\":");
      proto_tensor_write(b, host, flat);
    }
    bd_tensor_release(host);
  }
  proto_buf_puts(b, "}");
}

int srv_params_list(srv_req *r) {
  bd_model *m = srv_model_or_404(r, r->args[0]);
  if (!m) return 0;
  bool values = srv_query_bool(r, "values"), flat = flat_layout(r);
  bd_state_list l = {0};
  bd_model_rdlock(m);
  bd_status s = bd_block_state_dict(m->root, "", &l);
  if (s) {
    bd_model_unlock(m);
    bd_model_release(m);
    bd_state_list_free(&l);
    return srv_reply_status(r, s);
  }
  proto_buf b = {0};
  for (int pass = 0; pass < 2; pass++) {
    proto_buf_puts(&b, pass ? "],\"buffers\":[" : "{\"parameters\":[");
    int k = 0;
    for (size_t i = 0; i < l.n; i++) {
      if (l.v[i].param->is_buffer != (pass == 1)) continue;
      if (!bd_state_list_is_first(&l, i)) continue;
      if (k++) proto_buf_puts(&b, ",");
      write_param_info(&b, &l, i, values, flat);
    }
  }
  proto_buf_puts(&b, "]}");
  bd_model_unlock(m);
  bd_model_release(m);
  bd_state_list_free(&l);
  return srv_reply_buf(r, 200, &b, "application/json");
}

int srv_params_get(srv_req *r) {
  bd_model *m = srv_model_or_404(r, r->args[0]);
  if (!m) return 0;
  const char *field = srv_query(r, "field");
  if (field && strcmp(field, "grad") && strcmp(field, "value")) {
    bd_model_release(m);
    return srv_reply_error(r, 400, "invalid_argument",
                           "field: must be \"value\" or \"grad\"");
  }
  bool flat = flat_layout(r);
  bd_state_list l = {0};
  bd_model_rdlock(m);
  bd_status s = bd_block_state_dict(m->root, "", &l);
  long i = s ? -1 : bd_state_list_find(&l, r->args[1]);
  if (i < 0) {
    bd_model_unlock(m);
    bd_model_release(m);
    bd_state_list_free(&l);
    if (s) return srv_reply_status(r, s);
    return srv_reply_error(r, 404, "not_found",
                           "model '%s' has no parameter or buffer '%s'",
                           r->args[0], r->args[1]);
  }
  bd_param *p = l.v[i].param;
  bd_tensor *val = NULL, *grad = NULL;
  s = bd_tensor_to(p->value, BD_CPU, &val);
  if (!s && p->grad) s = bd_tensor_to(p->grad, BD_CPU, &grad);
  proto_buf b = {0};
  if (!s) {
    char dev[16];
    if (field && strcmp(field, "grad") == 0) {
      if (grad)
        proto_tensor_write(&b, grad, flat);
      else
        proto_buf_puts(&b, "null");
    } else if (field) {
      proto_tensor_write(&b, val, flat);
    } else {
      proto_buf_puts(&b, "{\"name\":");
      proto_buf_json_str(&b, r->args[1]);
      proto_buf_puts(&b, ",\"shape\":");
      proto_shape_write(&b, val->ndim, val->shape);
      proto_buf_printf(&b,
                       ",\"dtype\":\"%s\",\"device\":\"%s\","
                       "\"requires_grad\":%s,\"is_buffer\":%s,\"value\":",
                       bd_dtype_name(val->dtype),
                       bd_device_str(bd_tensor_device(p->value), dev,
                                     sizeof dev),
                       p->requires_grad ? "true" : "false",
                       p->is_buffer ? "true" : "false");
      proto_tensor_write(&b, val, flat);
      proto_buf_puts(&b, ",\"grad\":");
      if (grad)
        proto_tensor_write(&b, grad, flat);
      else
        proto_buf_puts(&b, "null");
      proto_buf_puts(&b, "}");
    }
  }
  bd_model_unlock(m);
  bd_model_release(m);
  bd_state_list_free(&l);
  bd_tensor_release(val);
  bd_tensor_release(grad);
  if (s) {
    proto_buf_free(&b);
    return srv_reply_status(r, s);
  }
  return srv_reply_buf(r, 200, &b, "application/json");
}

int srv_state_dict_get(srv_req *r) {
  bd_model *m = srv_model_or_404(r, r->args[0]);
  if (!m) return 0;
  bool flat = flat_layout(r);
  bd_state_list l = {0};
  bd_model_rdlock(m);
  bd_status s = bd_block_state_dict(m->root, "", &l);
  proto_buf b = {0};
  proto_buf_puts(&b, "{");
  for (size_t i = 0; !s && i < l.n; i++) {
    bd_tensor *host = NULL;
    s = bd_tensor_to(l.v[i].param->value, BD_CPU, &host);
    if (s) break;
    if (i) proto_buf_puts(&b, ",");
    proto_buf_json_str(&b, l.v[i].path);
    proto_buf_puts(&b, ":");
    proto_tensor_write(&b, host, flat);
    bd_tensor_release(host);
  }
  proto_buf_puts(&b, "}");
  bd_model_unlock(m);
  bd_model_release(m);
  bd_state_list_free(&l);
  if (s) {
    proto_buf_free(&b);
    return srv_reply_status(r, s);
  }
  return srv_reply_buf(r, 200, &b, "application/json");
}
