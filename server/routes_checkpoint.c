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
  bd_model_wrlock(m);
  bd_status s = bd_checkpoint_load(m, &tf, strict, false, &rep);
  bd_model_unlock(m);
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

int srv_state_dict_download(srv_req *r) {
  bd_tformat fmt;
  const char *f = srv_query(r, "format");
  if (!bd_tformat_parse(f, &fmt))
    return srv_fail(r, BD_EINVAL, "format: must be json, safetensors or torch");
  bd_model *m = srv_model_or_404(r, r->args[0]);
  if (!m) return 0;
  bd_tfile tf;
  bd_membuf b = {0};
  bd_model_rdlock(m);
  bd_status s = bd_checkpoint_export(m, false, &tf);
  if (!s) s = bd_tfile_encode(&tf, fmt, m->name, NULL, bd_membuf_sink(&b));
  bd_model_unlock(m);
  bd_tfile_clear(&tf);
  if (s) {
    bd_membuf_free(&b);
    bd_model_release(m);
    return srv_reply_status(r, s);
  }
  snprintf(r->content_disposition, sizeof r->content_disposition,
           "attachment; filename=\"%s.%s\"", m->name,
           fmt == BD_TFORMAT_TORCH ? "pt" : "safetensors");
  bd_model_release(m);
  return srv_reply_bytes(r, 200, b.data ? b.data : calloc(1, 1), b.len,
                         "application/octet-stream");
}
