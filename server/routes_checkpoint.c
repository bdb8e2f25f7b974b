/* routes_checkpoint.c - a model's state_dict as files: PUT
 * /v1/models/{m}/state_dict (load_state_dict from JSON, a stored file or
 * raw safetensors / torch bytes) and the ?format= download of GET. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../engine/checkpoint.h"
#include "../proto/json_tensor.h"
#include "files.h"
#include "log.h"
#include "persist.h"
#include "routes.h"

/* Decodes a JSON body: {"file": name} or {key: tensor, ...}. */
static int json_state(srv_req *r, bd_tfile *tf, srv_fmap *fm) {
  cJSON *j = srv_json_body(r, false);
  if (!j) return -1;
  const cJSON *file = cJSON_GetObjectItemCaseSensitive(j, "file");
  bd_status s = BD_OK;
  if (file && cJSON_IsString(file) && cJSON_GetArraySize(j) == 1) {
    s = srv_files_load(r->app, file->valuestring, tf, NULL, fm);
  } else {
    tf->kind = BD_TFILE_STATE_DICT;
    for (const cJSON *it = j->child; it && !s; it = it->next) {
      bd_tensor *t = NULL;
      s = proto_tensor_from_json(it, it->string, r->app->cfg.max_elements, &t);
      if (!s) s = bd_tfile_push(tf, it->string, t);
      bd_tensor_release(t);
    }
    if (!s) s = bd_tfile_check_unique(tf);
  }
  cJSON_Delete(j);
  if (s) {
    srv_reply_status(r, s);
    return -1;
  }
  return 0;
}

int srv_state_dict_put(srv_req *r) {
  bool strict = r->q.strict;
  bd_model *m = srv_model_or_404(r, r->args[0]);
  if (!m) return 0;
  bd_tfile tf = {0};
  srv_fmap fm = {0};
  char ct[128];
  srv_content_type(r, ct, sizeof ct);
  if (strcmp(ct, "application/octet-stream") == 0) {
    bd_tfile_limits lim = srv_files_limits(r->app);
    bd_status s = bd_tfile_parse(r->body, r->body_len, &lim, &tf, NULL);
    if (s) {
      srv_reply_status(r, s);
      goto out;
    }
  } else if (json_state(r, &tf, &fm)) {
    goto out;
  }
  cJSON *rep = NULL;
  bd_status s = bd_model_load(m, &tf, strict, false, &rep);
  if (s) {
    srv_reply_status_extra(r, s, rep);
    cJSON_Delete(rep);
    goto out;
  }
  if (srv_persist_save(r->app, m)) srv_log(SRV_LOG_WARN, "%s", bd_errmsg());
  cJSON_AddBoolToObject(rep, "strict", strict);
  srv_reply_json(r, 200, rep);
out:
  bd_tfile_clear(&tf);
  srv_fmap_release(&fm);
  bd_model_release(m);
  return 0;
}

/* Encodes the state_dict under the model's read lock (the export shares
 * the host tensors of CPU models). */
typedef struct download_ctx {
  bd_tformat fmt;
  bd_membuf b;
} download_ctx;

static bd_status download_cb(bd_model *m, const bd_model_info *info,
                             void *ctx) {
  download_ctx *c = ctx;
  bd_tfile tf = {0};
  bd_status s = bd_checkpoint_export(m, false, &tf);
  if (!s)
    s = bd_tfile_encode(&tf, c->fmt, info->name, NULL, bd_membuf_sink(&c->b));
  bd_tfile_clear(&tf);
  return s;
}

int srv_state_dict_download(srv_req *r) {
  bd_tformat fmt;
  const char *f = srv_query(r, "format");
  if (!bd_tformat_parse(f, &fmt))
    return srv_fail(r, BD_EINVAL, "format: must be json, safetensors or torch");
  bd_model *m = srv_model_or_404(r, r->args[0]);
  if (!m) return 0;
  download_ctx c = {.fmt = fmt};
  bd_status s = bd_model_read(m, download_cb, &c);
  if (s) {
    bd_membuf_free(&c.b);
    bd_model_release(m);
    return srv_reply_status(r, s);
  }
  bd_membuf b = c.b;
  snprintf(r->content_disposition, sizeof r->content_disposition,
           "attachment; filename=\"%s.%s\"", bd_model_name(m),
           fmt == BD_TFORMAT_TORCH ? "pt" : "safetensors");
  bd_model_release(m);
  return srv_reply_bytes(r, 200, b.data ? b.data : calloc(1, 1), b.len,
                         "application/octet-stream");
}
