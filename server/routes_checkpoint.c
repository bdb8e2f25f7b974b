/* routes_checkpoint.c - a model's state_dict as files: PUT
 * /v1/models/{m}/state_dict (load_state_dict from JSON, a stored file or
 * raw safetensors / torch bytes) and the ?format= download of GET. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../engine/checkpoint.h"
#include "../proto/checkpoint_json.h"
#include "../proto/json_tensor.h"
#include "files.h"
#include "log.h"
#include "persist.h"
#include "routes.h"

/* Decodes a JSON body: {"file": name} or {key: tensor, ...}. */
static int json_state(srv_req *r, proto_tfile *tf, srv_fmap *fm) {
  cJSON *j = srv_json_body(r, false);
  if (!j) return -1;
  const cJSON *file = cJSON_GetObjectItemCaseSensitive(j, "file");
  bd_status s = BD_OK;
  if (file && cJSON_IsString(file) && cJSON_GetArraySize(j) == 1) {
    s = srv_files_load(r->app, file->valuestring, tf, NULL, fm);
  } else {
    tf->kind = PROTO_TFILE_STATE_DICT;
    for (const cJSON *it = j->child; it && !s; it = it->next) {
      bd_tensor *t = NULL;
      s = proto_tensor_from_json(it, it->string, r->app->cfg.max_elements, &t);
      if (!s) s = bd_named_tensors_push(&tf->list, it->string, t);
      bd_tensor_release(t);
    }
    if (!s) s = bd_named_tensors_check_unique(&tf->list);
  }
  cJSON_Delete(j);
  if (s) {
    srv_reply_status(r, s);
    return -1;
  }
  return 0;
}

/* Host copies of a model's state_dict (never sharing a CPU model's own
 * tensors), taken under its read lock. */
static bd_status snapshot_cb(bd_model *m, const bd_model_info *info,
                             void *ctx) {
  (void)info;
  bd_named_tensors *out = ctx, shared = {0};
  bd_status s = bd_checkpoint_export(m, false, &shared);
  for (size_t i = 0; !s && i < shared.n; i++) {
    bd_tensor *t = NULL;
    s = bd_tensor_to(shared.tensors[i], BD_CPU, &t);
    if (!s) s = bd_named_tensors_push(out, shared.names[i], t);
    bd_tensor_release(t);
  }
  bd_named_tensors_clear(&shared);
  if (s) bd_named_tensors_clear(out);
  return s;
}

static bd_status state_snapshot(bd_model *m, bd_named_tensors *out) {
  return bd_model_read(m, snapshot_cb, out);
}

int srv_state_dict_put(srv_req *r) {
  bool strict = r->q.strict;
  bd_model *m = srv_model_or_404(r, r->args[0]);
  if (!m) return 0;
  proto_tfile tf = {0};
  srv_fmap fm = {0};
  bd_named_tensors before = {0};
  char ct[128];
  srv_content_type(r, ct, sizeof ct);
  if (strcmp(ct, "application/octet-stream") == 0) {
    proto_tfile_limits lim = srv_files_limits(r->app);
    bd_status s = proto_tfile_parse(r->body, r->body_len, &lim, &tf, NULL);
    if (s) {
      srv_reply_status(r, s);
      goto out;
    }
  } else if (json_state(r, &tf, &fm)) {
    goto out;
  }
  /* The state before the load, to put back when it cannot be saved. */
  bd_status s = state_snapshot(m, &before);
  if (s) {
    srv_reply_status(r, s);
    goto out;
  }
  bd_load_report rep;
  s = bd_model_load(m, &tf.list, strict, false, &rep);
  if (s) {
    /* A strict failure hands back its report as structured fields. */
    bool problems = rep.nmissing + rep.nunexpected + rep.nmismatched > 0;
    cJSON *extra = problems ? proto_load_report_json(&rep, false) : NULL;
    srv_reply_status_extra(r, s, extra);
    cJSON_Delete(extra);
    bd_load_report_free(&rep);
    goto out;
  }
  s = srv_persist_save(r->app, m);
  if (s) {
    /* A success reply means the weights are on disk: roll the load back
     * (every key of the snapshot, strictly) and fail the request. */
    srv_log(SRV_LOG_WARN, "%s", bd_errmsg());
    bd_status fail = s;
    char msg[512];
    snprintf(msg, sizeof msg, "%s", bd_errmsg());
    bd_load_report back;
    bd_status rb = bd_model_load(m, &before, true, false, &back);
    bd_load_report_free(&back);
    bd_load_report_free(&rep);
    if (rb)
      srv_fail(r, fail,
               "%s; the loaded state is in memory but NOT saved "
               "(rolling back failed: %s)",
               msg, bd_errmsg());
    else
      srv_fail(r, fail, "%s; nothing was loaded", msg);
    goto out;
  }
  cJSON *j = proto_load_report_json(&rep, true);
  bd_load_report_free(&rep);
  if (!j) {
    srv_reply_status(r, bd_fail(BD_ENOMEM, "out of host memory"));
    goto out;
  }
  cJSON_AddBoolToObject(j, "strict", strict);
  srv_reply_json(r, 200, j);
out:
  bd_named_tensors_clear(&before);
  proto_tfile_clear(&tf);
  srv_fmap_release(&fm);
  bd_model_release(m);
  return 0;
}

/* Encodes the state_dict under the model's read lock (the export shares
 * the host tensors of CPU models). */
typedef struct download_ctx {
  proto_tformat fmt;
  proto_buf b;
} download_ctx;

static bd_status download_cb(bd_model *m, const bd_model_info *info,
                             void *ctx) {
  download_ctx *c = ctx;
  proto_tfile tf;
  bd_status s = proto_checkpoint_export(m, false, &tf);
  if (!s)
    s = proto_tfile_encode(&tf, c->fmt, info->name, NULL,
                           proto_buf_sink(&c->b));
  proto_tfile_clear(&tf);
  return s;
}

int srv_state_dict_download(srv_req *r) {
  proto_tformat fmt;
  const char *f = srv_query(r, "format");
  if (!proto_tformat_parse(f, &fmt))
    return srv_fail(r, BD_EINVAL, "format: must be json, safetensors or torch");
  bd_model *m = srv_model_or_404(r, r->args[0]);
  if (!m) return 0;
  download_ctx c = {.fmt = fmt};
  bd_status s = bd_model_read(m, download_cb, &c);
  if (s) {
    proto_buf_free(&c.b);
    bd_model_release(m);
    return srv_reply_status(r, s);
  }
  proto_buf b = c.b;
  snprintf(r->content_disposition, sizeof r->content_disposition,
           "attachment; filename=\"%s.%s\"", bd_model_name(m),
           fmt == PROTO_TFORMAT_TORCH ? "pt" : "safetensors");
  bd_model_release(m);
  return srv_reply_bytes(r, 200, b.data ? b.data : calloc(1, 1), b.len,
                         "application/octet-stream");
}
