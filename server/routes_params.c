/* routes_params.c - named_parameters, single parameters and the JSON
 * state_dict. */
#include <stdlib.h>
#include <string.h>

#include "../proto/json_tensor.h"
#include "../proto/npy.h"
#include "files.h"
#include "routes.h"

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

/* Appends "parameters":[...],"buffers":[...] (named_parameters order,
 * each shared tensor once). */
static void write_named_params(proto_buf *b, const bd_state_list *l,
                               bool values, bool flat) {
  for (int pass = 0; pass < 2; pass++) {
    proto_buf_puts(b, pass ? "],\"buffers\":[" : "\"parameters\":[");
    int k = 0;
    for (size_t i = 0; i < l->n; i++) {
      if (l->v[i].param->is_buffer != (pass == 1)) continue;
      if (!bd_state_list_is_first(l, i)) continue;
      if (k++) proto_buf_puts(b, ",");
      write_param_info(b, l, i, values, flat);
    }
  }
  proto_buf_puts(b, "]");
}

/* Appends the state_dict object {"0.weight": T, ...}; tied tensors under
 * every path. */
static bd_status write_state_dict(proto_buf *b, const bd_state_list *l,
                                  bool flat) {
  bd_status s = BD_OK;
  proto_buf_puts(b, "{");
  for (size_t i = 0; !s && i < l->n; i++) {
    bd_tensor *host = NULL;
    s = bd_tensor_to(l->v[i].param->value, BD_CPU, &host);
    if (s) break;
    if (i) proto_buf_puts(b, ",");
    proto_buf_json_str(b, l->v[i].path);
    proto_buf_puts(b, ":");
    proto_tensor_write(b, host, flat);
    bd_tensor_release(host);
  }
  proto_buf_puts(b, "}");
  return s;
}

int srv_params_list(srv_req *r) {
  bd_model *m = srv_model_or_404(r, r->args[0]);
  if (!m) return 0;
  bool values = r->q.values, flat = r->q.layout_flat;
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
  proto_buf_puts(&b, "{");
  write_named_params(&b, &l, values, flat);
  proto_buf_puts(&b, "}");
  bd_model_unlock(m);
  bd_model_release(m);
  bd_state_list_free(&l);
  return srv_reply_buf(r, 200, &b, "application/json");
}

/* Whether the client asked for .npy bytes (Accept: application/x-npy). */
static bool wants_npy(srv_req *r) {
  const char *a = srv_header(r, "Accept");
  return a && strstr(a, "application/x-npy") != NULL;
}

int srv_params_get(srv_req *r) {
  bd_model *m = srv_model_or_404(r, r->args[0]);
  if (!m) return 0;
  const char *field = srv_query(r, "field");
  if (field && strcmp(field, "grad") && strcmp(field, "value")) {
    bd_model_release(m);
    return srv_fail(r, BD_EINVAL, "field: must be \"value\" or \"grad\"");
  }
  bool flat = r->q.layout_flat;
  bd_state_list l = {0};
  bd_model_rdlock(m);
  bd_status s = bd_block_state_dict(m->root, "", &l);
  long i = s ? -1 : bd_state_list_find(&l, r->args[1]);
  if (i < 0) {
    bd_model_unlock(m);
    bd_model_release(m);
    bd_state_list_free(&l);
    if (s) return srv_reply_status(r, s);
    return srv_fail(r, BD_ENOTFOUND,
                    "model '%s' has no parameter or buffer '%s'", r->args[0],
                    r->args[1]);
  }
  bd_param *p = l.v[i].param;
  bd_tensor *val = NULL, *grad = NULL;
  s = bd_tensor_to(p->value, BD_CPU, &val);
  if (!s && p->grad) s = bd_tensor_to(p->grad, BD_CPU, &grad);
  proto_buf b = {0};
  bool npy = wants_npy(r), want_grad = field && strcmp(field, "grad") == 0;
  if (!s && npy) {
    if (want_grad && !grad)
      s = bd_fail(BD_ENOTFOUND,
                  "parameter '%s' has no gradient yet (no backward pass); "
                  "ask for JSON to get null",
                  r->args[1]);
    else
      s = proto_npy_write(&b, want_grad ? grad : val);
  } else if (!s) {
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
  return srv_reply_buf(r, 200, &b,
                       npy ? "application/x-npy" : "application/json");
}

int srv_state_dict_get(srv_req *r) {
  const char *fmt = srv_query(r, "format");
  if (fmt && strcmp(fmt, "json") != 0) return srv_state_dict_download(r);
  bd_model *m = srv_model_or_404(r, r->args[0]);
  if (!m) return 0;
  bool flat = r->q.layout_flat;
  bd_state_list l = {0};
  bd_model_rdlock(m);
  bd_status s = bd_block_state_dict(m->root, "", &l);
  proto_buf b = {0};
  if (!s) s = write_state_dict(&b, &l, flat);
  bd_model_unlock(m);
  bd_model_release(m);
  bd_state_list_free(&l);
  if (s) {
    proto_buf_free(&b);
    return srv_reply_status(r, s);
  }
  return srv_reply_buf(r, 200, &b, "application/json");
}

/* A sub-block (net[2], rgnet[0][1]): its canonical spec, its children,
 * its parameters and its state_dict with keys relative to it. */
static int blocks_get(srv_req *r, const char *path) {
  bd_model *m = srv_model_or_404(r, r->args[0]);
  if (!m) return 0;
  bool values = r->q.values, flat = r->q.layout_flat;
  bd_state_list l = {0};
  proto_buf b = {0};
  bd_status s = BD_OK;
  bd_model_rdlock(m);
  bd_block *blk = bd_block_find(m->root, path);
  if (!blk)
    s = bd_fail(BD_ENOTFOUND, "model '%s' has no block at path '%s'",
                m->name, path);
  if (!s) s = bd_block_state_dict(blk, "", &l);
  cJSON *spec = s ? NULL : bd_block_to_spec(blk);
  char *spec_txt = spec ? cJSON_PrintUnformatted(spec) : NULL;
  if (!s && !spec_txt) s = bd_fail(BD_ENOMEM, "out of host memory");
  if (!s) {
    proto_buf_puts(&b, "{\"path\":");
    proto_buf_json_str(&b, path);
    proto_buf_puts(&b, ",\"type\":");
    proto_buf_json_str(&b, blk->type->name);
    proto_buf_puts(&b, ",\"spec\":");
    proto_buf_puts(&b, spec_txt);
    proto_buf_puts(&b, ",\"children\":[");
    for (int i = 0; i < blk->nchildren; i++) {
      if (i) proto_buf_puts(&b, ",");
      proto_buf_json_str(&b, blk->child_names[i]);
    }
    proto_buf_puts(&b, "],");
    write_named_params(&b, &l, values, flat);
    proto_buf_puts(&b, ",\"state_dict\":");
    s = write_state_dict(&b, &l, flat);
    proto_buf_puts(&b, "}");
  }
  bd_model_unlock(m);
  bd_model_release(m);
  bd_state_list_free(&l);
  cJSON_Delete(spec);
  free(spec_txt);
  if (s) {
    proto_buf_free(&b);
    return srv_reply_status(r, s);
  }
  return srv_reply_buf(r, 200, &b, "application/json");
}

int srv_blocks_get(srv_req *r) { return blocks_get(r, r->args[1]); }

int srv_blocks_root(srv_req *r) { return blocks_get(r, ""); }
