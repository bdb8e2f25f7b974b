/* routes_train.c - backward passes, zero_grad and optimiser steps:
 *   POST /v1/models/{m}/backward  {"inputs":T,"loss":{"type","target":T},
 *                                  "grad_output":T,"return_outputs":bool}
 *   POST /v1/models/{m}/zero_grad
 *   POST /v1/models/{m}/step      {"optimizer":"sgd","lr",...}
 * Thin: parse, call engine/train.h, encode. */
#include <stdio.h>
#include <string.h>

#include "../engine/train.h"
#include "../proto/json_fields.h"
#include "../proto/json_tensor.h"
#include "req_limits.h"
#include "routes.h"

static void write_number(proto_buf *b, double v) {
  char num[40];
  proto_fmt_f32((float)v, num, true);
  proto_buf_puts(b, num);
}

int srv_train_backward(srv_req *r) {
  static const char *const keys[] = {"inputs", "loss", "grad_output",
                                     "return_outputs", NULL};
  static const char *const loss_keys[] = {"type", "target", NULL};
  /* The tensors are read straight from the body in one pass; whatever did
   * not decode there stays in j for proto_json_fields_tensor below, so
   * that errors keep their order (body, fields, model, tensors). */
  static const char *const tkeys[] = {"inputs", "loss.target", "grad_output",
                                      NULL};
  bd_tensor *tv[3] = {NULL, NULL, NULL};
  cJSON *j = NULL;
  bd_status s0 = proto_json_tensor_fields(r->body, r->body_len, tkeys,
                                          r->app->cfg.max_elements, tv, &j);
  if (s0) return srv_reply_status(r, s0);
  bd_model *m = NULL;
  bd_tensor *x = NULL, *target = NULL, *y = NULL;
  if (!srv_json_check_keys(r, j, "", keys)) goto out;
  bool inputs = tv[0] || cJSON_GetObjectItemCaseSensitive(j, "inputs");
  const cJSON *loss = cJSON_GetObjectItemCaseSensitive(j, "loss");
  bool gout = tv[2] || cJSON_GetObjectItemCaseSensitive(j, "grad_output");
  const cJSON *ret = cJSON_GetObjectItemCaseSensitive(j, "return_outputs");
  if (!inputs) {
    srv_fail(r, BD_EINVAL, "inputs: missing");
    goto out;
  }
  if (!loss) {
    srv_fail(r, BD_EINVAL,
             "loss: missing (give {\"type\": \"sum\"|\"mean\"|\"mse\"|"
             "\"cross_entropy\"|\"none\", \"target\": T})");
    goto out;
  }
  if (!cJSON_IsObject(loss)) {
    srv_fail(r, BD_EINVAL, "loss: must be an object");
    goto out;
  }
  if (!srv_json_check_keys(r, loss, "loss.", loss_keys)) goto out;
  if (ret && !cJSON_IsBool(ret)) {
    srv_fail(r, BD_EINVAL, "return_outputs: must be true or false");
    goto out;
  }
  const cJSON *type = cJSON_GetObjectItemCaseSensitive(loss, "type");
  bool tj = tv[1] || cJSON_GetObjectItemCaseSensitive(loss, "target");
  bd_loss_kind kind;
  if (!type) {
    srv_fail(r, BD_EINVAL, "loss.type: missing");
    goto out;
  }
  if (!cJSON_IsString(type) || !bd_loss_parse(type->valuestring, &kind)) {
    srv_fail(r, BD_EINVAL,
             "loss.type: unknown loss %s%.64s%s (known: sum, mean, "
             "mse, cross_entropy, none)",
             cJSON_IsString(type) ? "'" : "",
             cJSON_IsString(type) ? type->valuestring : "(not a string)",
             cJSON_IsString(type) ? "'" : "");
    goto out;
  }
  /* "none" takes its gradient in grad_output; the others their target in
   * loss.target, and sum/mean take neither. */
  const char *tname = kind == BD_LOSS_NONE ? "grad_output" : "loss.target";
  int tidx = kind == BD_LOSS_NONE ? 2 : 1;
  bool tsrc = kind == BD_LOSS_NONE ? gout : tj;
  bool stray = kind == BD_LOSS_NONE ? tj : gout;
  if (stray) {
    srv_fail(r, BD_EINVAL, "%s: not used by loss '%s'%s",
             kind == BD_LOSS_NONE ? "loss.target" : "grad_output",
             type->valuestring,
             kind == BD_LOSS_NONE ? " (give grad_output)" : "");
    goto out;
  }
  if (bd_loss_needs_target(kind) && !tsrc) {
    srv_fail(r, BD_EINVAL, "%s: missing (loss '%s' needs it)", tname,
             type->valuestring);
    goto out;
  }
  if (!bd_loss_needs_target(kind) && tsrc) {
    srv_fail(r, BD_EINVAL, "%s: loss '%s' takes no target", tname,
             type->valuestring);
    goto out;
  }
  m = srv_model_or_404(r, r->args[0]);
  if (!m) goto out;
  int64_t maxe = r->app->cfg.max_elements;
  bd_status s = proto_json_fields_tensor(&tv[0], j, "inputs", maxe, &x);
  if (!s && tsrc)
    s = proto_json_fields_tensor(&tv[tidx], j, tname, maxe, &target);
  double value = 0;
  bool want = cJSON_IsTrue(ret);
  if (!s) {
    int64_t cap;
    s = srv_cap_begin_model(r, m, &cap);
    if (!s) {
      s = bd_model_backward(m, x, kind, target, &value, want ? &y : NULL);
      srv_cap_end(cap);
    }
  }
  if (s) {
    srv_reply_status(r, s);
    goto out;
  }
  if (y)
    s = srv_json_budget(
        &r->app->cfg,
        srv_sat_add(proto_tensor_json_bound(y->dtype, y->ndim, y->shape), 64),
        "ask without return_outputs or split the inputs into "
        "smaller batches");
  if (s) {
    srv_reply_status(r, s);
    goto out;
  }
  proto_buf b = {0};
  proto_buf_puts(&b, "{\"loss\":");
  write_number(&b, value);
  if (y) {
    proto_buf_puts(&b, ",\"outputs\":");
    proto_tensor_write(&b, y, r->q.layout_flat);
  }
  proto_buf_puts(&b, "}");
  srv_reply_buf(r, 200, &b, "application/json");
out:
  for (int i = 0; i < 3; i++) bd_tensor_release(tv[i]);
  bd_tensor_release(x);
  bd_tensor_release(target);
  bd_tensor_release(y);
  bd_model_release(m);
  cJSON_Delete(j);
  return 0;
}

int srv_train_zero_grad(srv_req *r) {
  static const char *const keys[] = {"set_to_none", NULL};
  cJSON *j = srv_json_body(r, true);
  if (!j) return 0;
  bd_model *m = NULL;
  if (!srv_json_check_keys(r, j, "", keys)) goto out;
  const cJSON *stn = cJSON_GetObjectItemCaseSensitive(j, "set_to_none");
  if (stn && !cJSON_IsTrue(stn)) {
    srv_fail(r, BD_EINVAL,
             "set_to_none: only true is supported (grads become "
             "null)");
    goto out;
  }
  m = srv_model_or_404(r, r->args[0]);
  if (!m) goto out;
  int64_t cleared = 0;
  bd_model_zero_grad(m, &cleared);
  cJSON *o = cJSON_CreateObject();
  cJSON_AddNumberToObject(o, "cleared", (double)cleared);
  srv_reply_json(r, 200, o);
out:
  bd_model_release(m);
  cJSON_Delete(j);
  return 0;
}

/* Reads an optional number field; replies 400 and returns false when it is
 * present but not a number. */
static bool opt_num(srv_req *r, const cJSON *j, const char *key, double def,
                    double *out) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, key);
  *out = def;
  if (!v) return true;
  if (!cJSON_IsNumber(v)) {
    srv_fail(r, BD_EINVAL, "%s: must be a number", key);
    return false;
  }
  *out = v->valuedouble;
  return true;
}

int srv_train_step(srv_req *r) {
  static const char *const keys[] = {
      "optimizer", "lr",       "momentum", "weight_decay",
      "dampening", "nesterov", NULL};
  cJSON *j = srv_json_body(r, false);
  if (!j) return 0;
  bd_model *m = NULL;
  if (!srv_json_check_keys(r, j, "", keys)) goto out;
  const cJSON *opt = cJSON_GetObjectItemCaseSensitive(j, "optimizer");
  if (opt && (!cJSON_IsString(opt) || strcmp(opt->valuestring, "sgd") != 0)) {
    srv_fail(r, BD_EINVAL, "optimizer: unknown optimizer%s%.64s%s (known: sgd)",
             cJSON_IsString(opt) ? " '" : "",
             cJSON_IsString(opt) ? opt->valuestring : "",
             cJSON_IsString(opt) ? "'" : "");
    goto out;
  }
  if (!cJSON_GetObjectItemCaseSensitive(j, "lr")) {
    srv_fail(r, BD_EINVAL, "lr: missing");
    goto out;
  }
  bd_sgd_opts o = {0};
  if (!opt_num(r, j, "lr", 0, &o.lr) ||
      !opt_num(r, j, "momentum", 0, &o.momentum) ||
      !opt_num(r, j, "weight_decay", 0, &o.weight_decay) ||
      !opt_num(r, j, "dampening", 0, &o.dampening))
    goto out;
  const cJSON *nest = cJSON_GetObjectItemCaseSensitive(j, "nesterov");
  if (nest && !cJSON_IsBool(nest)) {
    srv_fail(r, BD_EINVAL, "nesterov: must be true or false");
    goto out;
  }
  o.nesterov = cJSON_IsTrue(nest);
  bd_status s = bd_sgd_opts_check(&o);
  if (s) {
    srv_reply_status(r, s);
    goto out;
  }
  m = srv_model_or_404(r, r->args[0]);
  if (!m) goto out;
  int64_t updated = 0;
  s = bd_model_sgd_step(m, &o, &updated);
  if (s) {
    srv_reply_status(r, s);
    goto out;
  }
  bd_model_info info;
  s = bd_model_get_info(m, &info);
  if (s) {
    srv_reply_status(r, s);
    goto out;
  }
  cJSON *res = cJSON_CreateObject();
  cJSON_AddStringToObject(res, "optimizer", "sgd");
  cJSON_AddNumberToObject(res, "step", (double)info.sgd_steps);
  cJSON_AddNumberToObject(res, "updated", (double)updated);
  srv_reply_json(r, 200, res);
out:
  bd_model_release(m);
  cJSON_Delete(j);
  return 0;
}
