/* routes_params.c - named_parameters, single parameters and the JSON
 * state_dict. */
#include <stdlib.h>
#include <string.h>

#include "../engine/path.h"
#include "../proto/json_tensor.h"
#include "../proto/npy.h"
#include "../proto/spec_json.h"
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
  /* Out of memory for the flags: the (quadratic) one-entry form. */
  bool *first = NULL;
  if (bd_state_list_firsts(l, &first)) first = NULL;
  for (int pass = 0; pass < 2; pass++) {
    proto_buf_puts(b, pass ? "],\"buffers\":[" : "\"parameters\":[");
    int k = 0;
    for (size_t i = 0; i < l->n; i++) {
      if (l->v[i].param->is_buffer != (pass == 1)) continue;
      if (first ? !first[i] : !bd_state_list_is_first(l, i)) continue;
      if (k++) proto_buf_puts(b, ",");
      write_param_info(b, l, i, values, flat);
    }
  }
  free(first);
  proto_buf_puts(b, "]");
}

/* An upper bound of the JSON of l's tensors: every entry (a state_dict
 * prints tied tensors under each path) or only the first holder of each
 * (named_parameters). */
static int64_t state_json_bound(const bd_state_list *l, bool firsts_only) {
  int64_t sum = 0;
  bool *first = NULL;
  if (firsts_only && bd_state_list_firsts(l, &first)) first = NULL;
  for (size_t i = 0; i < l->n; i++) {
    if (firsts_only && (first ? !first[i] : !bd_state_list_is_first(l, i)))
      continue;
    const bd_tensor *v = l->v[i].param->value;
    sum =
        srv_sat_add(sum, proto_tensor_json_bound(v->dtype, v->ndim, v->shape));
    /* Path and separators. */
    sum = srv_sat_add(sum, 2 * (int64_t)strlen(l->v[i].path) + 256);
  }
  free(first);
  return sum;
}

#define ALT_STATE_DICT                                                 \
  "fetch the state_dict as ?format=safetensors (or torch), or single " \
  "parameters with Accept: application/x-npy"

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

/* What a read callback needs from the request, and the body it builds. */
typedef struct read_ctx {
  const char *path;  /* parameter or block path */
  const char *field; /* ?field= of a parameter GET */
  bool values, flat, npy;
  const srv_config *cfg; /* --max-json-response-bytes */
  proto_buf b;
} read_ctx;

static bd_status params_list_cb(bd_model *m, const bd_model_info *info,
                                void *ctx) {
  (void)info;
  read_ctx *c = ctx;
  bd_state_list l = {0};
  bd_status s = bd_block_state_dict(bd_model_root(m), "", &l);
  if (!s && c->values)
    s = srv_json_budget(c->cfg, state_json_bound(&l, true), ALT_STATE_DICT);
  if (!s) {
    proto_buf_puts(&c->b, "{");
    write_named_params(&c->b, &l, c->values, c->flat);
    proto_buf_puts(&c->b, "}");
  }
  bd_state_list_free(&l);
  return s;
}

/* Runs cb under the model's read lock and replies with the body it built
 * (content type ctype) or its error. */
static int reply_read(srv_req *r, bd_model *m, bd_model_read_cb cb, read_ctx *c,
                      const char *ctype) {
  bd_status s = bd_model_read(m, cb, c);
  bd_model_release(m);
  if (s) {
    proto_buf_free(&c->b);
    return srv_reply_status(r, s);
  }
  return srv_reply_buf(r, 200, &c->b, ctype);
}

int srv_params_list(srv_req *r) {
  bd_model *m = srv_model_or_404(r, r->args[0]);
  if (!m) return 0;
  read_ctx c = {
      .values = r->q.values, .flat = r->q.layout_flat, .cfg = &r->app->cfg};
  return reply_read(r, m, params_list_cb, &c, "application/json");
}

/* Whether the client asked for .npy bytes (Accept: application/x-npy). */
static bool wants_npy(srv_req *r) {
  const char *a = srv_header(r, "Accept");
  return a && strstr(a, "application/x-npy") != NULL;
}

static bd_status params_get_cb(bd_model *m, const bd_model_info *info,
                               void *ctx) {
  read_ctx *c = ctx;
  bd_param *p;
  char *name = NULL;
  bd_status s = bd_path_param(bd_model_root(m), c->path, &p, &name);
  if (s == BD_ENOTFOUND)
    s = bd_fail_prefix(
        s, "model '%s' has no parameter or buffer '%s': ", info->name, c->path);
  bd_tensor *val = NULL, *grad = NULL;
  if (!s) s = bd_tensor_to(p->value, BD_CPU, &val);
  if (!s && p->grad) s = bd_tensor_to(p->grad, BD_CPU, &grad);
  proto_buf *b = &c->b;
  bool want_grad = c->field && strcmp(c->field, "grad") == 0;
  if (!s && c->npy) {
    if (want_grad && !grad)
      s = bd_fail(BD_ENOTFOUND,
                  "parameter '%s' has no gradient yet (no backward pass); "
                  "ask for JSON to get null",
                  c->path);
    else
      s = proto_npy_write(b, want_grad ? grad : val);
  } else if (!s) {
    int64_t bound = 0;
    if (!want_grad || grad) {
      const bd_tensor *t = want_grad ? grad : val;
      bound = proto_tensor_json_bound(t->dtype, t->ndim, t->shape);
    }
    if (!c->field && grad)
      bound = srv_sat_add(
          bound, proto_tensor_json_bound(grad->dtype, grad->ndim, grad->shape));
    s = srv_json_budget(c->cfg, srv_sat_add(bound, 1024),
                        "ask with Accept: application/x-npy (and "
                        "?field=grad for the gradient)");
  }
  if (!s && !c->npy) {
    char dev[16];
    if (want_grad) {
      if (grad)
        proto_tensor_write(b, grad, c->flat);
      else
        proto_buf_puts(b, "null");
    } else if (c->field) {
      proto_tensor_write(b, val, c->flat);
    } else {
      proto_buf_puts(b, "{\"name\":");
      proto_buf_json_str(b, name);
      proto_buf_puts(b, ",\"shape\":");
      proto_shape_write(b, val->ndim, val->shape);
      proto_buf_printf(
          b,
          ",\"dtype\":\"%s\",\"device\":\"%s\","
          "\"requires_grad\":%s,\"is_buffer\":%s,\"value\":",
          bd_dtype_name(val->dtype),
          bd_device_str(bd_tensor_device(p->value), dev, sizeof dev),
          p->requires_grad ? "true" : "false", p->is_buffer ? "true" : "false");
      proto_tensor_write(b, val, c->flat);
      proto_buf_puts(b, ",\"grad\":");
      if (grad)
        proto_tensor_write(b, grad, c->flat);
      else
        proto_buf_puts(b, "null");
      proto_buf_puts(b, "}");
    }
  }
  bd_tensor_release(val);
  bd_tensor_release(grad);
  free(name);
  return s;
}

int srv_params_get(srv_req *r) {
  bd_model *m = srv_model_or_404(r, r->args[0]);
  if (!m) return 0;
  const char *field = srv_query(r, "field");
  if (field && strcmp(field, "grad") && strcmp(field, "value")) {
    bd_model_release(m);
    return srv_fail(r, BD_EINVAL, "field: must be \"value\" or \"grad\"");
  }
  read_ctx c = {.path = r->args[1],
                .field = field,
                .flat = r->q.layout_flat,
                .npy = wants_npy(r),
                .cfg = &r->app->cfg};
  return reply_read(r, m, params_get_cb, &c,
                    c.npy ? "application/x-npy" : "application/json");
}

static bd_status state_dict_cb(bd_model *m, const bd_model_info *info,
                               void *ctx) {
  (void)info;
  read_ctx *c = ctx;
  bd_state_list l = {0};
  bd_status s = bd_block_state_dict(bd_model_root(m), "", &l);
  if (!s)
    s = srv_json_budget(c->cfg, state_json_bound(&l, false), ALT_STATE_DICT);
  if (!s) s = write_state_dict(&c->b, &l, c->flat);
  bd_state_list_free(&l);
  return s;
}

int srv_state_dict_get(srv_req *r) {
  const char *fmt = srv_query(r, "format");
  if (fmt && strcmp(fmt, "json") != 0) return srv_state_dict_download(r);
  bd_model *m = srv_model_or_404(r, r->args[0]);
  if (!m) return 0;
  read_ctx c = {.flat = r->q.layout_flat, .cfg = &r->app->cfg};
  return reply_read(r, m, state_dict_cb, &c, "application/json");
}

static bd_status blocks_get_cb(bd_model *m, const bd_model_info *info,
                               void *ctx) {
  read_ctx *c = ctx;
  bd_state_list l = {0};
  bd_block *blk;
  char *canon = NULL;
  bd_status s = bd_path_block(bd_model_root(m), c->path, &blk, &canon);
  if (s == BD_ENOTFOUND)
    s = bd_fail_prefix(s, "model '%s' has no block at path '%s': ", info->name,
                       c->path);
  if (!s) s = bd_block_state_dict(blk, "", &l);
  if (!s)
    s = srv_json_budget(c->cfg,
                        srv_sat_add(state_json_bound(&l, false),
                                    c->values ? state_json_bound(&l, true) : 0),
                        ALT_STATE_DICT);
  bd_spec *spec = NULL;
  if (!s) s = bd_block_to_spec(blk, &spec);
  char *spec_txt = s ? NULL : proto_spec_print(spec);
  if (!s && !spec_txt) s = bd_fail(BD_ENOMEM, "out of host memory");
  proto_buf *b = &c->b;
  if (!s) {
    proto_buf_puts(b, "{\"path\":");
    proto_buf_json_str(b, canon);
    proto_buf_puts(b, ",\"type\":");
    proto_buf_json_str(b, blk->type->name);
    proto_buf_puts(b, ",\"spec\":");
    proto_buf_puts(b, spec_txt);
    proto_buf_puts(b, ",\"children\":[");
    for (int i = 0; i < blk->nchildren; i++) {
      if (i) proto_buf_puts(b, ",");
      proto_buf_json_str(b, blk->child_names[i]);
    }
    proto_buf_puts(b, "],");
    write_named_params(b, &l, c->values, c->flat);
    proto_buf_puts(b, ",\"state_dict\":");
    s = write_state_dict(b, &l, c->flat);
    proto_buf_puts(b, "}");
  }
  bd_state_list_free(&l);
  bd_spec_free(spec);
  free(spec_txt);
  free(canon);
  return s;
}

/* A sub-block (net[2], rgnet[0][1]): its canonical spec, its children,
 * its parameters and its state_dict with keys relative to it. */
static int blocks_get(srv_req *r, const char *path) {
  bd_model *m = srv_model_or_404(r, r->args[0]);
  if (!m) return 0;
  read_ctx c = {.path = path,
                .values = r->q.values,
                .flat = r->q.layout_flat,
                .cfg = &r->app->cfg};
  return reply_read(r, m, blocks_get_cb, &c, "application/json");
}

int srv_blocks_get(srv_req *r) { return blocks_get(r, r->args[1]); }

int srv_blocks_root(srv_req *r) { return blocks_get(r, ""); }
