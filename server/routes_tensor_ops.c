/* routes_tensor_ops.c - named tensors across devices: POST
 * /v1/tensors/{t}/to (X.cuda(1), X.cpu()) and POST /v1/tensors/ops (add,
 * mul, matmul, sum; operands on different devices -> device_mismatch). The
 * store itself and PUT/GET/DELETE live in routes_tensors.c. */
#include <string.h>

#include "../engine/atomic_file.h"
#include "../engine/backend.h"
#include "../engine/tensor_ops.h"
#include "../engine/tensor_store.h"
#include "../proto/json_tensor.h"
#include "req_limits.h"
#include "routes.h"

/* {"name","shape","dtype","device","bytes"} of a stored tensor. */
static cJSON *tensor_info(const char *name, const bd_tensor *t) {
  char dev[16];
  cJSON *j = cJSON_CreateObject();
  cJSON_AddStringToObject(j, "name", name);
  cJSON *sh = cJSON_AddArrayToObject(j, "shape");
  for (int i = 0; i < t->ndim; i++)
    cJSON_AddItemToArray(sh, cJSON_CreateNumber((double)t->shape[i]));
  cJSON_AddStringToObject(j, "dtype", bd_dtype_name(t->dtype));
  cJSON_AddStringToObject(j, "device",
                          bd_device_str(bd_tensor_device(t), dev, sizeof dev));
  cJSON_AddNumberToObject(j, "bytes", (double)bd_tensor_nbytes(t));
  return j;
}

/* The string field key of j (NULL when absent: def); replies 400 and
 * returns false when present but not a plain tensor name. */
static bool name_field(srv_req *r, const cJSON *j, const char *key,
                       const char *def, bool required, const char **out) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, key);
  if (!v) {
    if (required) {
      srv_fail(r, BD_EINVAL, "%s: missing", key);
      return false;
    }
    *out = def;
    return true;
  }
  if (!cJSON_IsString(v) || !bd_file_name_ok(v->valuestring)) {
    srv_fail(r, BD_EINVAL, "%s: must be a plain tensor name", key);
    return false;
  }
  *out = v->valuestring;
  return true;
}

static bd_tensor *tensor_or_404(srv_req *r, const char *name) {
  bd_tensor *t = bd_tensor_store_get(r->app->tensors, name);
  if (!t) srv_fail(r, BD_ENOTFOUND, "tensor '%.200s' not found", name);
  return t;
}

int srv_tensors_to(srv_req *r) {
  static const char *const keys[] = {"device", "as", NULL};
  cJSON *j = srv_json_body(r, false);
  if (!j) return 0;
  bd_tensor *t = NULL, *moved = NULL;
  const char *as;
  if (!srv_json_check_keys(r, j, "", keys) ||
      !name_field(r, j, "as", r->args[0], false, &as))
    goto out;
  const cJSON *dv = cJSON_GetObjectItemCaseSensitive(j, "device");
  bd_device dev;
  bd_status s = cJSON_IsString(dv)
                    ? bd_device_resolve(dv->valuestring, &dev)
                    : bd_fail(BD_EINVAL, dv ? "must be a string" : "missing");
  if (s) {
    if (s == BD_ENOTFOUND) s = BD_EINVAL;
    bd_fail_prefix(s, "device: ");
    srv_reply_status(r, s);
    goto out;
  }
  t = tensor_or_404(r, r->args[0]);
  if (!t) goto out;
  /* Same device: no copy, the very same tensor (PyTorch's X.cuda(0) on a
   * tensor already there returns X). */
  bool copied = !bd_device_eq(bd_tensor_device(t), dev);
  if (copied) {
    s = bd_tensor_to(t, dev, &moved);
  } else {
    moved = bd_tensor_retain(t);
  }
  if (!s) s = bd_tensor_store_put(r->app->tensors, as, moved, NULL);
  if (s) {
    srv_reply_status(r, s);
    goto out;
  }
  cJSON *info = tensor_info(as, moved);
  cJSON_AddBoolToObject(info, "copied", copied);
  srv_reply_json(r, 200, info);
out:
  bd_tensor_release(t);
  bd_tensor_release(moved);
  cJSON_Delete(j);
  return 0;
}

int srv_tensors_ops(srv_req *r) {
  static const char *const keys[] = {"op", "a", "b", "as", NULL};
  cJSON *j = srv_json_body(r, false);
  if (!j) return 0;
  bd_tensor *a = NULL, *b = NULL, *y = NULL;
  const char *an, *bn, *as;
  const cJSON *op = cJSON_GetObjectItemCaseSensitive(j, "op");
  if (!srv_json_check_keys(r, j, "", keys)) goto out;
  if (!cJSON_IsString(op)) {
    srv_fail(r, BD_EINVAL, "op: must be one of add, mul, matmul, sum");
    goto out;
  }
  bool unary = strcmp(op->valuestring, "sum") == 0;
  if (!name_field(r, j, "a", NULL, true, &an) ||
      !name_field(r, j, "b", NULL, !unary, &bn) ||
      !name_field(r, j, "as", NULL, true, &as))
    goto out;
  if (unary && bn) {
    srv_fail(r, BD_EINVAL, "b: sum takes one tensor");
    goto out;
  }
  a = tensor_or_404(r, an);
  if (!a) goto out;
  if (bn && !(b = tensor_or_404(r, bn))) goto out;
  int64_t cap =
      srv_cap_begin_elems(r, bd_tensor_numel(a), b ? bd_tensor_numel(b) : 0);
  bd_status s = bd_tensor_op(op->valuestring, a, b, &y);
  srv_cap_end(cap);
  if (!s) s = bd_tensor_store_put(r->app->tensors, as, y, NULL);
  if (s) {
    srv_reply_status(r, s);
    goto out;
  }
  srv_reply_json(r, 200, tensor_info(as, y));
out:
  bd_tensor_release(a);
  bd_tensor_release(b);
  bd_tensor_release(y);
  cJSON_Delete(j);
  return 0;
}
