/* routes_edit.c - parameter edits (PUT/PATCH /v1/models/{m}/parameters/
 * {path}) and initialisation (POST /v1/models/{m}/init). Each handler
 * parses and validates the whole request, then hands it to the model API,
 * which checks it against the parameters under the model's write lock and
 * only then changes anything, so a concurrent forward pass sees all-old or
 * all-new values. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../engine/init.h"
#include "../engine/param_edit.h"
#include "../proto/init_json.h"
#include "../proto/json_fields.h"
#include "../proto/json_tensor.h"
#include "../proto/npy.h"
#include "routes.h"

/* The reply to a successful edit: the parameter's metadata. */
static int reply_param_meta(srv_req *r, const char *path,
                            const bd_param_meta *p) {
  proto_buf b = {0};
  char dev[16];
  proto_buf_puts(&b, "{\"name\":");
  proto_buf_json_str(&b, path);
  proto_buf_puts(&b, ",\"shape\":");
  proto_shape_write(&b, p->ndim, p->shape);
  proto_buf_printf(
      &b,
      ",\"dtype\":\"%s\",\"device\":\"%s\",\"requires_grad\":%s,"
      "\"is_buffer\":%s}",
      bd_dtype_name(p->dtype), bd_device_str(p->dev, dev, sizeof dev),
      p->requires_grad ? "true" : "false", p->is_buffer ? "true" : "false");
  return srv_reply_buf(r, 200, &b, "application/json");
}

/* Decodes the body of a PUT: a JSON tensor, or .npy bytes. */
static bd_status body_tensor(srv_req *r, bd_tensor **out) {
  char ct[128];
  srv_content_type(r, ct, sizeof ct);
  int64_t max = r->app->cfg.max_elements;
  if (strcmp(ct, "application/x-npy") == 0 ||
      strcmp(ct, "application/octet-stream") == 0)
    return proto_npy_read(r->body, r->body_len, max, out);
  if (r->body_len == 0) return bd_fail(BD_EINVAL, "body: a tensor is required");
  bd_status s = proto_tensor_parse(r->body, r->body_len, "body", max, out);
  if (s == BD_EJSON) return bd_fail(BD_EJSON, "body: malformed JSON");
  return s;
}

int srv_params_put(srv_req *r) {
  bd_tensor *t = NULL;
  bd_status s = body_tensor(r, &t);
  if (s) return srv_reply_status(r, s);
  bd_model *m = srv_model_or_404(r, r->args[0]);
  if (!m) {
    bd_tensor_release(t);
    return 0;
  }
  bd_param_meta meta;
  s = bd_model_param_put(m, r->args[1], t, &meta);
  int rc = s ? srv_reply_status(r, s) : reply_param_meta(r, meta.name, &meta);
  if (!s) free(meta.name);
  bd_model_release(m);
  bd_tensor_release(t);
  return rc;
}

/* ---- PATCH ----------------------------------------------------------------
 */

static const char *const patch_keys[] = {"op",  "value",         "index", "min",
                                         "max", "requires_grad", NULL};

static bool key_in(const char *const *l, const char *k) {
  for (; *l; l++)
    if (strcmp(*l, k) == 0) return true;
  return false;
}

static bd_status parse_number(const cJSON *v, const char *what, double *out) {
  if (!cJSON_IsNumber(v))
    return bd_fail(BD_EINVAL, "%s: must be a number", what);
  *out = v->valuedouble;
  return BD_OK;
}

/* Parses {"op":..,"value":..,"index":[..],"min":..,"max":..} into e (the
 * tensor, if any, is a new reference in e->tensor). */
static bd_status parse_edit(srv_req *r, const cJSON *j, bd_param_edit *e) {
  memset(e, 0, sizeof *e);
  const cJSON *op = cJSON_GetObjectItemCaseSensitive(j, "op");
  if (!cJSON_IsString(op))
    return bd_fail(BD_EINVAL,
                   "op: must be one of \"add\", \"mul\", "
                   "\"fill\", \"set\", \"clamp\"");
  if (!bd_edit_op_parse(op->valuestring, &e->op))
    return bd_fail(BD_EINVAL,
                   "op: unknown op '%s' (known: add, mul, fill, set, clamp)",
                   op->valuestring);
  const cJSON *value = cJSON_GetObjectItemCaseSensitive(j, "value");
  const cJSON *index = cJSON_GetObjectItemCaseSensitive(j, "index");
  const cJSON *mn = cJSON_GetObjectItemCaseSensitive(j, "min");
  const cJSON *mx = cJSON_GetObjectItemCaseSensitive(j, "max");
  bool clamp = e->op == BD_EDIT_CLAMP, set = e->op == BD_EDIT_SET;
  if (clamp && value)
    return bd_fail(BD_EINVAL, "value: clamp takes min and max");
  if (!clamp && !value)
    return bd_fail(BD_EINVAL, "value: missing (op '%s')", op->valuestring);
  if (!clamp && (mn || mx))
    return bd_fail(BD_EINVAL, "%s: only clamp takes min/max",
                   mn ? "min" : "max");
  if (!set && index)
    return bd_fail(BD_EINVAL, "index: only set takes an index");
  if (set && !index)
    return bd_fail(BD_EINVAL,
                   "index: missing (op 'set'; [0,0] for "
                   "w[0,0] = value)");
  bd_status s = BD_OK;
  if (mn) {
    e->has_min = true;
    s = parse_number(mn, "min", &e->min);
  }
  if (!s && mx) {
    e->has_max = true;
    s = parse_number(mx, "max", &e->max);
  }
  if (s) return s;
  if (index) {
    if (!cJSON_IsArray(index) || cJSON_GetArraySize(index) > BD_MAX_DIMS)
      return bd_fail(BD_EINVAL,
                     "index: must be a list of at most %d "
                     "integers",
                     BD_MAX_DIMS);
    for (const cJSON *it = index->child; it; it = it->next) {
      double d = it->valuedouble;
      if (!cJSON_IsNumber(it) || d != floor(d) || fabs(d) > 9.0e15)
        return bd_fail(BD_EINVAL, "index[%d]: must be an integer", e->nindex);
      e->index[e->nindex++] = (int64_t)d;
    }
  }
  if (value) {
    if (cJSON_IsNumber(value)) {
      e->value = value->valuedouble;
    } else if (cJSON_IsArray(value) || cJSON_IsObject(value)) {
      if (e->op == BD_EDIT_FILL)
        return bd_fail(BD_EINVAL, "value: fill takes a number");
      s = proto_tensor_from_json(value, "value", r->app->cfg.max_elements,
                                 &e->tensor);
    } else {
      return bd_fail(BD_EINVAL, "value: must be a number or a tensor");
    }
  }
  return s;
}

int srv_params_patch(srv_req *r) {
  cJSON *j = srv_json_body(r, false);
  if (!j) return 0;
  bd_status s = BD_OK;
  for (const cJSON *it = j->child; it && !s; it = it->next)
    if (!key_in(patch_keys, it->string))
      s = bd_fail(BD_EINVAL,
                  "%s: unknown field (known: op, value, index, "
                  "min, max, requires_grad)",
                  it->string);
  const cJSON *op = cJSON_GetObjectItemCaseSensitive(j, "op");
  const cJSON *rg = cJSON_GetObjectItemCaseSensitive(j, "requires_grad");
  if (!s && !op && !rg)
    s = bd_fail(BD_EINVAL,
                "give an \"op\" (add, mul, fill, set, clamp) "
                "and/or \"requires_grad\"");
  if (!s && rg && !cJSON_IsBool(rg))
    s = bd_fail(BD_EINVAL, "requires_grad: must be true or false");
  bd_param_edit e;
  memset(&e, 0, sizeof e);
  if (!s && op) s = parse_edit(r, j, &e);
  if (!s && !op) {
    for (const char *const *k = patch_keys; *k && !s; k++)
      if (strcmp(*k, "requires_grad") &&
          cJSON_GetObjectItemCaseSensitive(j, *k))
        s = bd_fail(BD_EINVAL, "%s: needs an \"op\"", *k);
  }
  bool want_rg = rg && cJSON_IsTrue(rg);
  cJSON_Delete(j);
  if (s) {
    bd_tensor_release(e.tensor);
    return srv_reply_status(r, s);
  }
  bd_model *m = srv_model_or_404(r, r->args[0]);
  if (!m) {
    bd_tensor_release(e.tensor);
    return 0;
  }
  bd_param_meta meta;
  s = bd_model_param_patch(m, r->args[1], op ? &e : NULL,
                           rg ? (int)want_rg : -1, &meta);
  int rc = s ? srv_reply_status(r, s) : reply_param_meta(r, meta.name, &meta);
  if (!s) free(meta.name);
  bd_model_release(m);
  bd_tensor_release(e.tensor);
  return rc;
}

/* ---- init ------------------------------------------------------------------
 */

static const char *const selector_keys[] = {"target", "blocks", "types",
                                            "seed",   "steps",  NULL};

/* A string or a list of strings into a malloc'd array of borrowed
 * pointers. */
static bd_status string_list(const cJSON *v, const char *key, const char ***out,
                             int *n) {
  *out = NULL;
  *n = 0;
  if (!v) return BD_OK;
  if (cJSON_IsString(v)) {
    *out = malloc(sizeof **out);
    if (!*out) return bd_fail(BD_ENOMEM, "out of host memory");
    (*out)[0] = v->valuestring;
    *n = 1;
    return BD_OK;
  }
  if (!cJSON_IsArray(v))
    return bd_fail(BD_EINVAL, "%s: must be a list of strings", key);
  int len = cJSON_GetArraySize(v);
  *out = calloc((size_t)len + 1, sizeof **out);
  if (!*out) return bd_fail(BD_ENOMEM, "out of host memory");
  for (const cJSON *it = v->child; it; it = it->next) {
    if (!cJSON_IsString(it))
      return bd_fail(BD_EINVAL, "%s[%d]: must be a string", key, *n);
    (*out)[(*n)++] = it->valuestring;
  }
  return BD_OK;
}

int srv_models_init(srv_req *r) {
  cJSON *j = srv_json_body(r, false);
  if (!j) return 0;
  bd_init_request req;
  memset(&req, 0, sizeof req);
  bd_init_step *steps = NULL;
  const char **blocks = NULL, **types = NULL;
  bd_status s = BD_OK;
  const cJSON *jsteps = cJSON_GetObjectItemCaseSensitive(j, "steps");
  const cJSON *target = cJSON_GetObjectItemCaseSensitive(j, "target");
  const cJSON *seed = cJSON_GetObjectItemCaseSensitive(j, "seed");
  if (jsteps) {
    for (const cJSON *it = j->child; it && !s; it = it->next)
      if (!key_in(selector_keys, it->string))
        s = bd_fail(BD_EINVAL,
                    "%s: unknown field (with \"steps\", each "
                    "step carries its method and fields)",
                    it->string);
    int n = cJSON_IsArray(jsteps) ? cJSON_GetArraySize(jsteps) : -1;
    if (!s && n <= 0)
      s = bd_fail(BD_EINVAL, "steps: must be a non-empty list of steps");
    if (!s) {
      steps = calloc((size_t)n, sizeof *steps);
      if (!steps) s = bd_fail(BD_ENOMEM, "out of host memory");
    }
    int i = 0;
    for (const cJSON *it = s ? NULL : jsteps->child; it && !s;
         it = it->next, i++) {
      char path[32];
      snprintf(path, sizeof path, "steps[%d]", i);
      s = proto_init_step_parse(it, path, NULL, &steps[i]);
    }
    req.nsteps = n;
  } else {
    steps = calloc(1, sizeof *steps);
    s = steps ? proto_init_step_parse(j, "body", selector_keys, steps)
              : bd_fail(BD_ENOMEM, "out of host memory");
    req.nsteps = 1;
  }
  req.steps = steps;
  if (!s && target && !cJSON_IsString(target))
    s = bd_fail(BD_EINVAL,
                "target: must be \"weight\", \"bias\", \"all\" "
                "or a parameter name");
  req.target = target ? target->valuestring : "all";
  if (!s && target && !target->valuestring[0])
    s = bd_fail(BD_EINVAL, "target: must not be empty");
  if (!s)
    s = string_list(cJSON_GetObjectItemCaseSensitive(j, "blocks"), "blocks",
                    &blocks, &req.nblocks);
  if (!s)
    s = string_list(cJSON_GetObjectItemCaseSensitive(j, "types"), "types",
                    &types, &req.ntypes);
  req.blocks = blocks;
  req.types = types;
  if (!s && seed) {
    double d = seed->valuedouble;
    if (!cJSON_IsNumber(seed) || d != floor(d) || d < 0 ||
        d > 9007199254740992.0)
      s = bd_fail(BD_EINVAL, "seed: must be an integer in [0, 2^53]");
    req.has_seed = true;
    req.seed = (uint64_t)d;
  }
  bd_model *m = NULL;
  char **touched = NULL;
  int ntouched = 0;
  if (!s) m = srv_model_or_404(r, r->args[0]);
  if (!s && m) s = bd_model_init(m, &req, &touched, &ntouched);
  int rc = 0;
  if (s) {
    rc = srv_reply_status(r, s);
  } else if (m) {
    proto_buf b = {0};
    proto_buf_puts(&b, "{\"touched\":[");
    for (int i = 0; i < ntouched; i++) {
      if (i) proto_buf_puts(&b, ",");
      proto_buf_json_str(&b, touched[i]);
    }
    proto_buf_puts(&b, "],\"steps\":[");
    for (int i = 0; i < req.nsteps; i++)
      proto_buf_printf(&b, "%s\"%s\"", i ? "," : "",
                       bd_init_method_name(steps[i].method));
    proto_buf_puts(&b, "]}");
    rc = srv_reply_buf(r, 200, &b, "application/json");
  }
  for (int i = 0; i < ntouched; i++) free(touched[i]);
  free(touched);
  bd_model_release(m);
  free(blocks);
  free(types);
  free(steps);
  cJSON_Delete(j);
  return rc;
}
