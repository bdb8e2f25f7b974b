/* checkpoint_json.c - checkpoint metadata and the load report. */
#include "checkpoint_json.h"

#include <stdlib.h>
#include <string.h>

#include "spec_json.h"

char *proto_model_spec_string(const bd_model *m) {
  bd_spec *spec = NULL;
  char *txt = bd_model_spec(m, &spec) ? NULL : proto_spec_print(spec);
  bd_spec_free(spec);
  return txt;
}

bd_status proto_checkpoint_export(bd_model *m, bool with_optim,
                                  proto_tfile *out) {
  memset(out, 0, sizeof *out);
  out->kind = PROTO_TFILE_STATE_DICT;
  if (!(out->spec = proto_model_spec_string(m)))
    return bd_fail(BD_ENOMEM, "out of host memory");
  bd_status s = bd_checkpoint_export(m, with_optim, &out->list);
  if (s) proto_tfile_clear(out);
  return s;
}

static void add_keys(cJSON *j, const char *name, char *const *v, size_t n) {
  cJSON *arr = cJSON_AddArrayToObject(j, name);
  for (size_t i = 0; arr && i < n; i++)
    cJSON_AddItemToArray(arr, cJSON_CreateString(v[i]));
}

cJSON *proto_load_report_json(const bd_load_report *r, bool with_loaded) {
  cJSON *j = cJSON_CreateObject();
  if (!j) return NULL;
  add_keys(j, "missing_keys", r->missing, r->nmissing);
  add_keys(j, "unexpected_keys", r->unexpected, r->nunexpected);
  cJSON *mism = cJSON_AddArrayToObject(j, "mismatched_keys");
  for (size_t i = 0; mism && i < r->nmismatched; i++) {
    const bd_load_mismatch *m = &r->mismatched[i];
    char a[128], b[128];
    cJSON *e = cJSON_CreateObject();
    cJSON_AddStringToObject(e, "key", m->key);
    cJSON_AddStringToObject(
        e, "expected",
        bd_shape_str(m->expected_ndim, m->expected, a, sizeof a));
    cJSON_AddStringToObject(e, "got",
                            bd_shape_str(m->got_ndim, m->got, b, sizeof b));
    cJSON_AddItemToArray(mism, e);
  }
  if (with_loaded) cJSON_AddNumberToObject(j, "loaded", r->loaded);
  return j;
}
