/* checkpoint.c - state_dict export and load_state_dict. */
#include "checkpoint.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hmap.h"
#include "model_internal.h"
#include "train.h"

bd_status bd_checkpoint_export(bd_model *m, bool with_optim,
                               bd_named_tensors *out) {
  memset(out, 0, sizeof *out);
  bd_state_list l = {0};
  bd_status s = bd_block_state_dict(m->root, "", &l);
  /* Tied entries share one host copy so torch files share the storage;
   * `first` maps a parameter to 1 + the index of its first entry, so a
   * state_dict of n entries exports in O(n) (saves run on every edit). */
  bd_tensor **host = calloc(l.n + 1, sizeof *host);
  if (!s && !host) s = bd_fail(BD_ENOMEM, "out of host memory");
  bd_hmap first;
  bd_hmap_init(&first, false);
  for (size_t i = 0; !s && i < l.n; i++) {
    const int64_t *j = bd_hmap_get(&first, l.v[i].param);
    if (j) {
      host[i] = bd_tensor_retain(host[*j - 1]);
    } else {
      bd_tensor *v = l.v[i].param->value;
      s = bd_tensor_device(v).type == BD_DEV_CPU
              ? (host[i] = bd_tensor_retain(v), BD_OK)
              : bd_tensor_to(v, BD_CPU, &host[i]);
      if (!s) s = bd_hmap_put(&first, l.v[i].param, (int64_t)i + 1);
    }
    if (!s) s = bd_named_tensors_push(out, l.v[i].path, host[i]);
  }
  bd_hmap_free(&first);
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
      if (!s) s = bd_named_tensors_push(out, key, h);
      bd_tensor_release(h);
    }
    bd_state_list_free(&ml);
  }
  if (s) bd_named_tensors_clear(out);
  return s;
}

void bd_load_report_free(bd_load_report *r) {
  if (!r) return;
  for (size_t i = 0; i < r->nmissing; i++) free(r->missing[i]);
  for (size_t i = 0; i < r->nunexpected; i++) free(r->unexpected[i]);
  for (size_t i = 0; i < r->nmismatched; i++) free(r->mismatched[i].key);
  free(r->missing);
  free(r->unexpected);
  free(r->mismatched);
  memset(r, 0, sizeof *r);
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

/* Appends a copy of s to the string array *v of *n entries (room for cap
 * entries was reserved by the caller). */
static bd_status ck_add_key(char **v, size_t *n, const char *s) {
  if (!(v[*n] = strdup(s))) return bd_fail(BD_ENOMEM, "out of host memory");
  (*n)++;
  return BD_OK;
}

/* Appends printf output to buf (of size n) at *off, truncating. */
static void ck_appendf(char *buf, size_t n, size_t *off, const char *fmt, ...) {
  if (*off >= n) return;
  va_list ap;
  va_start(ap, fmt);
  int k = vsnprintf(buf + *off, n - *off, fmt, ap);
  va_end(ap);
  *off = k < 0 ? n : *off + (size_t)k;
}

/* The strict failure: the report in words (the structured fields are in
 * the report itself). */
static bd_status ck_strict_fail(const bd_load_report *r) {
  char msg[1024], a[128], b[128];
  size_t off = 0;
  size_t problems = r->nmissing + r->nunexpected + r->nmismatched;
  ck_appendf(msg, sizeof msg, &off,
             "load_state_dict (strict): %zu problem%s, nothing applied",
             problems, problems == 1 ? "" : "s");
  for (size_t i = 0; i < r->nmissing; i++)
    ck_appendf(msg, sizeof msg, &off, "%s%s",
               i ? ", " : "; missing keys: ", r->missing[i]);
  for (size_t i = 0; i < r->nunexpected; i++)
    ck_appendf(msg, sizeof msg, &off, "%s%s",
               i ? ", " : "; unexpected keys: ", r->unexpected[i]);
  for (size_t i = 0; i < r->nmismatched; i++) {
    const bd_load_mismatch *e = &r->mismatched[i];
    ck_appendf(msg, sizeof msg, &off, "%s%s (expected %s, got %s)",
               i ? ", " : "; mismatched shapes: ", e->key,
               bd_shape_str(e->expected_ndim, e->expected, a, sizeof a),
               bd_shape_str(e->got_ndim, e->got, b, sizeof b));
  }
  return bd_fail(BD_EINVAL, "%s", msg);
}

/* Fills r with the keys that do not fit; src[i] receives the file index
 * for model entry i, or -1. */
static bd_status ck_match(const bd_state_list *l, const bd_named_tensors *f,
                          bool with_optim, long *src, bd_load_report *r) {
  size_t plen = strlen(BD_CKPT_MOMENTUM_PREFIX);
  ck_name *fv = malloc((f->n + 1) * sizeof *fv);
  ck_name *mv = malloc((l->n + 1) * sizeof *mv);
  r->missing = malloc((l->n + 1) * sizeof *r->missing);
  r->mismatched = malloc((l->n + 1) * sizeof *r->mismatched);
  r->unexpected = malloc((f->n + 1) * sizeof *r->unexpected);
  bd_status s = BD_OK;
  if (!fv || !mv || !r->missing || !r->mismatched || !r->unexpected) {
    s = bd_fail(BD_ENOMEM, "out of host memory");
    goto out;
  }
  for (size_t k = 0; k < f->n; k++) fv[k] = (ck_name){f->names[k], k};
  for (size_t i = 0; i < l->n; i++) mv[i] = (ck_name){l->v[i].path, i};
  qsort(fv, f->n, sizeof *fv, ck_name_cmp);
  qsort(mv, l->n, sizeof *mv, ck_name_cmp);
  for (size_t i = 0; !s && i < l->n; i++) {
    src[i] = ck_find(fv, f->n, l->v[i].path);
    if (src[i] < 0) {
      s = ck_add_key(r->missing, &r->nmissing, l->v[i].path);
      continue;
    }
    const bd_tensor *want = l->v[i].param->value, *got = f->tensors[src[i]];
    if (bd_tensor_same_shape(want, got)) continue;
    src[i] = -1;
    bd_load_mismatch *e = &r->mismatched[r->nmismatched];
    memset(e, 0, sizeof *e);
    if (!(e->key = strdup(l->v[i].path))) {
      s = bd_fail(BD_ENOMEM, "out of host memory");
      break;
    }
    e->expected_ndim = want->ndim;
    e->got_ndim = got->ndim;
    memcpy(e->expected, want->shape, sizeof e->expected);
    memcpy(e->got, got->shape, sizeof e->got);
    r->nmismatched++;
  }
  for (size_t k = 0; !s && k < f->n; k++) {
    if (with_optim && strncmp(f->names[k], BD_CKPT_MOMENTUM_PREFIX, plen) == 0)
      continue;
    if (ck_find(mv, l->n, f->names[k]) < 0)
      s = ck_add_key(r->unexpected, &r->nunexpected, f->names[k]);
  }
out:
  free(fv);
  free(mv);
  return s;
}

bd_status bd_checkpoint_load(bd_model *m, const bd_named_tensors *f,
                             bool strict, bool with_optim,
                             bd_load_report *report) {
  memset(report, 0, sizeof *report);
  bd_state_list l = {0};
  bd_status s = bd_block_state_dict(m->root, "", &l);
  if (s) return s;
  long *src = malloc((l.n + 1) * sizeof *src); /* file index per entry */
  bd_tensor **conv = calloc(l.n + 1, sizeof *conv);
  size_t plen = strlen(BD_CKPT_MOMENTUM_PREFIX);
  bool keep_report = true; /* a strict failure hands back the report */
  if (!src || !conv) {
    s = bd_fail(BD_ENOMEM, "out of host memory");
    goto out;
  }
  s = ck_match(&l, f, with_optim, src, report);
  if (s) keep_report = false;
  if (!s && strict &&
      report->nmissing + report->nunexpected + report->nmismatched) {
    s = ck_strict_fail(report);
    goto out;
  }
  keep_report = false;
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
  if (!s) report->loaded = loaded;
out:
  if (s && !keep_report) bd_load_report_free(report);
  for (size_t i = 0; conv && i < l.n; i++) bd_tensor_release(conv[i]);
  free(conv);
  free(src);
  bd_state_list_free(&l);
  return s;
}
