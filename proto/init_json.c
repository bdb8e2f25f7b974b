/* init_json.c - init steps from JSON request bodies. */
#include "init_json.h"

#include <math.h>
#include <string.h>

/* The fields each method accepts, NULL-terminated. */
static const char *const proto__no_fields[] = {NULL};
static const char *const proto__constant_fields[] = {"value", NULL};
static const char *const proto__normal_fields[] = {"mean", "std", NULL};
static const char *const proto__uniform_fields[] = {"a", "b", NULL};
static const char *const proto__xavier_fields[] = {"gain", NULL};
static const char *const proto__kaiming_fields[] = {"a", "mode", "nonlinearity",
                                                    NULL};
static const char *const proto__mask_fields[] = {"threshold", NULL};

static const char *const *proto__method_fields(bd_init_method m) {
  switch (m) {
    case BD_INIT_CONSTANT:
      return proto__constant_fields;
    case BD_INIT_NORMAL:
      return proto__normal_fields;
    case BD_INIT_UNIFORM:
      return proto__uniform_fields;
    case BD_INIT_XAVIER_UNIFORM:
    case BD_INIT_XAVIER_NORMAL:
      return proto__xavier_fields;
    case BD_INIT_KAIMING_UNIFORM:
    case BD_INIT_KAIMING_NORMAL:
      return proto__kaiming_fields;
    case BD_INIT_MASK_ABS_BELOW:
      return proto__mask_fields;
    default:
      return proto__no_fields;
  }
}

static bd_status proto__num(const cJSON *j, const char *path, const char *key,
                            bool required, double def, double *out) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, key);
  if (!v) {
    if (required) return bd_fail(BD_EINVAL, "%s.%s: missing", path, key);
    *out = def;
    return BD_OK;
  }
  if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble))
    return bd_fail(BD_EINVAL, "%s.%s: must be a finite number", path, key);
  *out = v->valuedouble;
  return BD_OK;
}

static bool proto__in_list(const char *const *l, const char *s) {
  for (; l && *l; l++)
    if (strcmp(*l, s) == 0) return true;
  return false;
}

static const struct {
  const char *name;
  bd_nonlinearity nl;
} proto__nonlins[] = {
    {"linear", BD_NL_LINEAR},
    {"identity", BD_NL_LINEAR},
    {"conv1d", BD_NL_LINEAR},
    {"conv2d", BD_NL_LINEAR},
    {"conv3d", BD_NL_LINEAR},
    {"conv_transpose1d", BD_NL_LINEAR},
    {"conv_transpose2d", BD_NL_LINEAR},
    {"conv_transpose3d", BD_NL_LINEAR},
    {"sigmoid", BD_NL_SIGMOID},
    {"tanh", BD_NL_TANH},
    {"relu", BD_NL_RELU},
    {"leaky_relu", BD_NL_LEAKY_RELU},
    {"selu", BD_NL_SELU},
};

bd_status proto_init_step_parse(const cJSON *j, const char *path,
                                const char *const *extra, bd_init_step *out) {
  if (!cJSON_IsObject(j))
    return bd_fail(BD_EINVAL, "%s: an init step must be a JSON object", path);
  const cJSON *mj = cJSON_GetObjectItemCaseSensitive(j, "method");
  if (!mj) return bd_fail(BD_EINVAL, "%s.method: missing", path);
  if (!cJSON_IsString(mj))
    return bd_fail(BD_EINVAL, "%s.method: must be a string", path);
  int m = -1;
  for (int i = 0; i < BD_INIT_METHOD_COUNT; i++)
    if (strcmp(bd_init_method_name((bd_init_method)i), mj->valuestring) == 0)
      m = i;
  if (m < 0)
    return bd_fail(BD_EINVAL,
                   "%s.method: unknown init method '%s' (known: zeros, ones, "
                   "constant, normal, uniform, xavier_uniform, xavier_normal, "
                   "kaiming_uniform, kaiming_normal, eye, default, "
                   "mask_abs_below)",
                   path, mj->valuestring);
  const char *const *fields = proto__method_fields((bd_init_method)m);
  for (const cJSON *it = j->child; it; it = it->next)
    if (strcmp(it->string, "method") != 0 &&
        !proto__in_list(fields, it->string) &&
        !proto__in_list(extra, it->string))
      return bd_fail(BD_EINVAL, "%s.%s: unknown field for init method '%s'",
                     path, it->string, mj->valuestring);
  bd_init_step st = bd_init_step_default((bd_init_method)m);
  bd_status s = BD_OK;
  switch (st.method) {
    case BD_INIT_CONSTANT:
      s = proto__num(j, path, "value", true, 0, &st.value);
      break;
    case BD_INIT_NORMAL:
      s = proto__num(j, path, "mean", false, 0, &st.mean);
      if (!s) s = proto__num(j, path, "std", false, 1, &st.std);
      if (!s && st.std < 0)
        s = bd_fail(BD_EINVAL, "%s.std: must be >= 0, got %g", path, st.std);
      break;
    case BD_INIT_UNIFORM:
      s = proto__num(j, path, "a", false, 0, &st.a);
      if (!s) s = proto__num(j, path, "b", false, 1, &st.b);
      if (!s && st.a > st.b)
        s = bd_fail(BD_EINVAL, "%s: uniform needs a <= b, got a=%g b=%g", path,
                    st.a, st.b);
      break;
    case BD_INIT_XAVIER_UNIFORM:
    case BD_INIT_XAVIER_NORMAL:
      s = proto__num(j, path, "gain", false, 1, &st.gain);
      break;
    case BD_INIT_KAIMING_UNIFORM:
    case BD_INIT_KAIMING_NORMAL: {
      s = proto__num(j, path, "a", false, 0, &st.a);
      const cJSON *mode = cJSON_GetObjectItemCaseSensitive(j, "mode");
      if (!s && mode) {
        if (cJSON_IsString(mode) && strcmp(mode->valuestring, "fan_in") == 0)
          st.fan_out = false;
        else if (cJSON_IsString(mode) &&
                 strcmp(mode->valuestring, "fan_out") == 0)
          st.fan_out = true;
        else
          s = bd_fail(BD_EINVAL, "%s.mode: must be \"fan_in\" or \"fan_out\"",
                      path);
      }
      const cJSON *nl = cJSON_GetObjectItemCaseSensitive(j, "nonlinearity");
      if (!s && nl) {
        bool ok = false;
        for (size_t i = 0; cJSON_IsString(nl) &&
                           i < sizeof proto__nonlins / sizeof proto__nonlins[0];
             i++)
          if (strcmp(proto__nonlins[i].name, nl->valuestring) == 0) {
            st.nonlinearity = proto__nonlins[i].nl;
            ok = true;
          }
        if (!ok)
          s = bd_fail(BD_EINVAL,
                      "%s.nonlinearity: must be one of linear, identity, "
                      "conv1d, conv2d, conv3d, conv_transpose1d, "
                      "conv_transpose2d, conv_transpose3d, sigmoid, tanh, "
                      "relu, leaky_relu, selu",
                      path);
      }
      break;
    }
    case BD_INIT_MASK_ABS_BELOW:
      s = proto__num(j, path, "threshold", true, 0, &st.threshold);
      break;
    default:
      break;
  }
  if (s) return s;
  *out = st;
  return BD_OK;
}
