/* checkpoint.c - state_dict export/import and format dispatch. */
#include "checkpoint.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model_internal.h"
#include "safetensors.h"
#include "torchzip.h"
#include "train.h"

const char *bd_tformat_name(bd_tformat f) {
  return f == BD_TFORMAT_TORCH ? "torch" : "safetensors";
}

bool bd_tformat_parse(const char *s, bd_tformat *out) {
  if (!s) return false;
  if (strcmp(s, "safetensors") == 0)
    *out = BD_TFORMAT_SAFETENSORS;
  else if (strcmp(s, "torch") == 0 || strcmp(s, "pt") == 0)
    *out = BD_TFORMAT_TORCH;
  else
    return false;
  return true;
}

bd_status bd_tfile_parse(const void *data, size_t len,
                         const bd_tfile_limits *lim, bd_tfile *out,
                         bd_tformat *fmt) {
  memset(out, 0, sizeof *out);
  if (bd_torchzip_sniff(data, len)) {
    if (fmt) *fmt = BD_TFORMAT_TORCH;
    return bd_torchzip_read(data, len, lim, out);
  }
  if (fmt) *fmt = BD_TFORMAT_SAFETENSORS;
  if (len >= 8 && !bd_safetensors_sniff(data, len))
    return bd_fail(BD_EFORMAT,
                   "not a safetensors file or a torch.save zip "
                   "archive (no zip signature, no JSON header)");
  return bd_safetensors_read(data, len, lim, out, NULL);
}

bd_status bd_tfile_encode(const bd_tfile *f, bd_tformat fmt, const char *prefix,
                          const char *const *extra, bd_sink sink) {
  return fmt == BD_TFORMAT_TORCH ? bd_torchzip_write(f, prefix, sink)
                                 : bd_safetensors_write(f, extra, sink);
}

bd_status bd_checkpoint_export(bd_model *m, bool with_optim, bd_tfile *out) {
  memset(out, 0, sizeof *out);
  out->kind = BD_TFILE_STATE_DICT;
  bd_state_list l = {0};
  bd_status s = bd_block_state_dict(m->root, "", &l);
  cJSON *spec = s ? NULL : bd_model_spec(m);
  if (!s && spec) {
    out->spec = cJSON_PrintUnformatted(spec);
    if (!out->spec) s = bd_fail(BD_ENOMEM, "out of host memory");
  } else if (!s) {
    s = bd_fail(BD_ENOMEM, "out of host memory");
  }
  cJSON_Delete(spec);
  /* Tied entries share one host copy so torch files share the storage. */
  bd_tensor **host = calloc(l.n + 1, sizeof *host);
  if (!s && !host) s = bd_fail(BD_ENOMEM, "out of host memory");
  for (size_t i = 0; !s && i < l.n; i++) {
    for (size_t j = 0; j < i && !host[i]; j++)
      if (l.v[j].param == l.v[i].param) host[i] = bd_tensor_retain(host[j]);
    if (!host[i]) {
      bd_tensor *v = l.v[i].param->value;
      s = bd_tensor_device(v).type == BD_DEV_CPU
              ? (host[i] = bd_tensor_retain(v), BD_OK)
              : bd_tensor_to(v, BD_CPU, &host[i]);
    }
    if (!s) s = bd_tfile_push(out, l.v[i].path, host[i]);
  }
  for (size_t i = 0; host && i < l.n; i++) bd_tensor_release(host[i]);
  free(host);
  bd_state_list_free(&l);
  if (!s && with_optim) {
    bd_state_list ml = {0};
    s = bd_optim_momentum_list(m, &ml);
    for (size_t i = 0; !s && i < ml.n; i++) {
      bd_tensor *h = NULL;
      char key[512];
      snprintf(key, sizeof key, "%s%s", BD_CKPT_MOMENTUM_PREFIX, ml.v[i].path);
      s = bd_tensor_to(ml.v[i].param->momentum, BD_CPU, &h);
      if (!s) s = bd_tfile_push(out, key, h);
      bd_tensor_release(h);
    }
    bd_state_list_free(&ml);
  }
  if (s) bd_tfile_clear(out);
  return s;
}

/* A sorted view of names for O(log n) lookups. */
typedef struct ck_name {
  const char *s;
  size_t i;
} ck_name;

static int ck_name_cmp(const void *a, const void *b) {
  return strcmp(((const ck_name *)a)->s, ((const ck_name *)b)->s);
}

static long ck_find(const ck_name *v, size_t n, const char *s) {
  ck_name key = {s, 0};
  const ck_name *hit = bsearch(&key, v, n, sizeof *v, ck_name_cmp);
  return hit ? (long)hit->i : -1;
}

static void add_str(cJSON *arr, const char *s) {
  cJSON_AddItemToArray(arr, cJSON_CreateString(s));
}

bd_status bd_checkpoint_load(bd_model *m, const bd_tfile *f, bool strict,
                             bool with_optim, cJSON **report) {
  *report = NULL;
  bd_state_list l = {0};
  bd_status s = bd_block_state_dict(m->root, "", &l);
  if (s) return s;
  bool keep_report = false; /* a strict failure still hands back the report */
  cJSON *rep = cJSON_CreateObject();
  cJSON *miss = cJSON_AddArrayToObject(rep, "missing_keys");
  cJSON *unexp = cJSON_AddArrayToObject(rep, "unexpected_keys");
  cJSON *mism = cJSON_AddArrayToObject(rep, "mismatched_keys");
  long *src = malloc((l.n + 1) * sizeof *src); /* file index per entry */
  bd_tensor **conv = calloc(l.n + 1, sizeof *conv);
  size_t plen = strlen(BD_CKPT_MOMENTUM_PREFIX);
  int problems = 0;
  ck_name *fv = malloc((f->n + 1) * sizeof *fv);
  ck_name *mv = malloc((l.n + 1) * sizeof *mv);
  if (!src || !conv || !fv || !mv) {
    s = bd_fail(BD_ENOMEM, "out of host memory");
    goto out;
  }
  for (size_t k = 0; k < f->n; k++) fv[k] = (ck_name){f->names[k], k};
  for (size_t i = 0; i < l.n; i++) mv[i] = (ck_name){l.v[i].path, i};
  qsort(fv, f->n, sizeof *fv, ck_name_cmp);
  qsort(mv, l.n, sizeof *mv, ck_name_cmp);
  for (size_t i = 0; i < l.n; i++) {
    src[i] = ck_find(fv, f->n, l.v[i].path);
    if (src[i] < 0) {
      add_str(miss, l.v[i].path);
      problems++;
      continue;
    }
    const bd_tensor *want = l.v[i].param->value, *got = f->tensors[src[i]];
    if (!bd_tensor_same_shape(want, got)) {
      char a[128], b[128];
      cJSON *e = cJSON_CreateObject();
      cJSON_AddStringToObject(e, "key", l.v[i].path);
      cJSON_AddStringToObject(
          e, "expected", bd_shape_str(want->ndim, want->shape, a, sizeof a));
      cJSON_AddStringToObject(e, "got",
                              bd_shape_str(got->ndim, got->shape, b, sizeof b));
      cJSON_AddItemToArray(mism, e);
      src[i] = -1;
      problems++;
    }
  }
  for (size_t k = 0; k < f->n; k++) {
    if (with_optim && strncmp(f->names[k], BD_CKPT_MOMENTUM_PREFIX, plen) == 0)
      continue;
    if (ck_find(mv, l.n, f->names[k]) < 0) {
      add_str(unexp, f->names[k]);
      problems++;
    }
  }
  if (strict && problems) {
    keep_report = true;
    char *msg = cJSON_PrintUnformatted(rep);
    s = bd_fail(BD_EINVAL,
                "load_state_dict (strict): %d problem%s, nothing "
                "applied: %.3000s",
                problems, problems == 1 ? "" : "s", msg ? msg : "");
    free(msg);
    goto out;
  }
  /* Convert everything first, so a failure leaves the model unchanged. */
  for (size_t i = 0; !s && i < l.n; i++) {
    if (src[i] < 0) continue;
    bd_tensor *got = f->tensors[src[i]];
    bd_dtype want = l.v[i].param->value->dtype;
    if (got->dtype == want)
      conv[i] = bd_tensor_retain(got);
    else if (want == BD_F32)
      s = bd_tensor_as_f32(got, &conv[i]);
    else
      s = bd_fail(BD_EDTYPE, "'%s' is %s, the model holds %s", l.v[i].path,
                  bd_dtype_name(got->dtype), bd_dtype_name(want));
  }
  int loaded = 0;
  for (size_t i = 0; !s && i < l.n; i++) {
    if (!conv[i]) continue;
    s = bd_tensor_copy_into(l.v[i].param->value, conv[i]);
    if (!s) loaded++;
  }
  for (size_t k = 0; !s && with_optim && k < f->n; k++)
    if (strncmp(f->names[k], BD_CKPT_MOMENTUM_PREFIX, plen) == 0) {
      bd_tensor *b = NULL;
      s = bd_tensor_as_f32(f->tensors[k], &b);
      if (!s) s = bd_optim_momentum_set(m, f->names[k] + plen, b);
      bd_tensor_release(b);
    }
  cJSON_AddNumberToObject(rep, "loaded", loaded);
out:
  free(fv);
  free(mv);
  for (size_t i = 0; conv && i < l.n; i++) bd_tensor_release(conv[i]);
  free(conv);
  free(src);
  bd_state_list_free(&l);
  if (s && !keep_report)
    cJSON_Delete(rep);
  else
    *report = rep;
  return s;
}
