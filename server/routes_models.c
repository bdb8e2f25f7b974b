/* routes_models.c - health, model lifecycle and forward passes. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../engine/backend.h"
#include "../engine/checkpoint.h"
#include "../proto/device_bytes_json.h"
#include "../proto/json_fields.h"
#include "../proto/json_tensor.h"
#include "../proto/npy.h"
#include "../proto/spec_json.h"
#include "files.h"
#include "log.h"
#include "persist.h"
#include "req_limits.h"
#include "routes.h"
#include "sched.h"

int srv_health(srv_req *r) {
  size_t n;
  bd_model **v = bd_registry_list(r->app->models, &n);
  for (size_t i = 0; i < n; i++) bd_model_release(v[i]);
  free(v);
  cJSON *j = cJSON_CreateObject();
  cJSON_AddStringToObject(j, "status", srv_http_draining() ? "draining" : "ok");
  cJSON_AddBoolToObject(j, "ready", !srv_http_draining());
  cJSON_AddStringToObject(j, "version", SRV_VERSION);
  cJSON_AddNumberToObject(j, "models", (double)n);
  cJSON_AddBoolToObject(j, "cuda", bd_backend_cuda_count() > 0);
  if (r->app->sched) {
    int running, waiting;
    srv_sched_load(r->app->sched, &running, &waiting);
    cJSON *rq = cJSON_AddObjectToObject(j, "requests");
    if (rq) {
      cJSON_AddNumberToObject(rq, "running", running);
      cJSON_AddNumberToObject(rq, "waiting", waiting);
      cJSON_AddNumberToObject(rq, "workers", r->app->cfg.workers);
    }
  }
  return srv_reply_json(r, 200, j);
}

bd_status srv_model_describe(bd_model *m, bool with_spec, cJSON **out) {
  char dev[16];
  bd_model_info in;
  *out = NULL;
  bd_status s = bd_model_get_info(m, &in);
  if (s) return s;
  cJSON *j = cJSON_CreateObject();
  if (!j) return bd_fail(BD_ENOMEM, "out of host memory");
  cJSON_AddStringToObject(j, "name", in.name);
  cJSON_AddStringToObject(j, "device", bd_device_str(in.dev, dev, sizeof dev));
  cJSON_AddStringToObject(j, "mode", in.training ? "train" : "eval");
  cJSON_AddNumberToObject(j, "seed", (double)in.seed);
  if (with_spec) {
    cJSON *sj = proto_model_spec_json(m);
    if (!sj || !cJSON_AddItemToObject(j, "block", sj)) {
      cJSON_Delete(sj);
      cJSON_Delete(j);
      return bd_fail(BD_ENOMEM, "out of host memory");
    }
  }
  cJSON *bj = cJSON_AddObjectToObject(j, "batching");
  if (bj) {
    cJSON_AddNumberToObject(bj, "max_batch", in.batching.max_batch);
    cJSON_AddNumberToObject(bj, "max_delay_us",
                            (double)in.batching.max_delay_us);
  }
  cJSON_AddNumberToObject(j, "parameter_count", (double)in.param_count);
  cJSON_AddNumberToObject(j, "bytes", (double)in.bytes);
  cJSON *db = proto_device_bytes_json(in.device_bytes, (size_t)in.ndevices);
  if (!db || !cJSON_AddItemToObject(j, "device_bytes", db)) {
    cJSON_Delete(db);
    cJSON_Delete(j);
    return bd_fail(BD_ENOMEM, "out of host memory");
  }
  *out = j;
  return BD_OK;
}

/* Reads {"max_batch": N, "max_delay_us": U} over *b (fields left out keep
 * their value). Replies 400 and returns false on a bad field. */
static bool parse_batching(srv_req *r, const cJSON *j, bd_batching *b) {
  static const char *const keys[] = {"max_batch", "max_delay_us", NULL};
  if (!cJSON_IsObject(j)) {
    srv_fail(r, BD_EINVAL,
             "batching: must be an object {\"max_batch\": N, "
             "\"max_delay_us\": U}");
    return false;
  }
  if (!srv_json_check_keys(r, j, "batching.", keys)) return false;
  const cJSON *mb = cJSON_GetObjectItemCaseSensitive(j, "max_batch");
  const cJSON *md = cJSON_GetObjectItemCaseSensitive(j, "max_delay_us");
  if (mb) {
    double v = mb->valuedouble;
    if (!cJSON_IsNumber(mb) || v != (double)(int64_t)v || v < 1 ||
        v > BD_MAX_BATCH) {
      srv_fail(r, BD_EINVAL,
               "batching.max_batch: must be an integer from 1 (off) to %d",
               BD_MAX_BATCH);
      return false;
    }
    b->max_batch = (int)v;
  }
  if (md) {
    double v = md->valuedouble;
    if (!cJSON_IsNumber(md) || v != (double)(int64_t)v || v < 0 ||
        v > BD_MAX_BATCH_DELAY_US) {
      srv_fail(r, BD_EINVAL,
               "batching.max_delay_us: must be an integer from 0 to %d",
               BD_MAX_BATCH_DELAY_US);
      return false;
    }
    b->max_delay_us = (int64_t)v;
  }
  return true;
}

/* Replies 200/201 with the model's description, or the snapshot's error. */
static int reply_describe(srv_req *r, int code, bd_model *m, bool with_spec) {
  cJSON *j;
  bd_status s = srv_model_describe(m, with_spec, &j);
  return s ? srv_reply_status(r, s) : srv_reply_json(r, code, j);
}

static uint64_t random_seed(void) {
  uint64_t s = 0;
  int fd = open("/dev/urandom", O_RDONLY);
  if (fd >= 0) {
    if (read(fd, &s, sizeof s) != (ssize_t)sizeof s) s = 0;
    close(fd);
  }
  if (!s) s = (uint64_t)(srv_now() * 1e9);
  return s & ((1ULL << 53) - 1); /* exact in JSON numbers */
}

int srv_models_create(srv_req *r) {
  static const char *const keys[] = {"name", "block", "seed",     "device",
                                     "like", "file",  "batching", NULL};
  cJSON *j = srv_json_body(r, false);
  if (!j) return 0;
  bd_model *m = NULL, *like = NULL;
  cJSON *like_spec = NULL; /* "file": the checkpoint's spec */
  bd_spec *spec = NULL;
  proto_tfile ckpt = {0}; /* "file": a self-describing checkpoint */
  srv_fmap ckpt_map = {0};
  if (!srv_json_check_keys(r, j, "", keys)) goto out;
  const cJSON *name = cJSON_GetObjectItemCaseSensitive(j, "name");
  const cJSON *block = cJSON_GetObjectItemCaseSensitive(j, "block");
  const cJSON *seed = cJSON_GetObjectItemCaseSensitive(j, "seed");
  const cJSON *device = cJSON_GetObjectItemCaseSensitive(j, "device");
  const cJSON *likej = cJSON_GetObjectItemCaseSensitive(j, "like");
  const cJSON *batchj = cJSON_GetObjectItemCaseSensitive(j, "batching");
  bd_batching batching = {.max_batch = 1, .max_delay_us = 0};
  if (batchj && !parse_batching(r, batchj, &batching)) goto out;
  if (!cJSON_IsString(name)) {
    srv_fail(r, BD_EINVAL, name ? "name: must be a string" : "name: missing");
    goto out;
  }
  if (!bd_model_name_ok(name->valuestring)) {
    srv_fail(r, BD_EINVAL,
             "name: '%.64s' is not a valid model name (1-128 "
             "characters of A-Z a-z 0-9 _ - ., not starting with '.')",
             name->valuestring);
    goto out;
  }
  uint64_t s = 0;
  if (seed) {
    double v = seed->valuedouble;
    if (!cJSON_IsNumber(seed) || v < 0 || v > 9007199254740991.0 ||
        v != (double)(uint64_t)v) {
      srv_fail(r, BD_EINVAL, "seed: must be an integer in [0, 2^53)");
      goto out;
    }
    s = (uint64_t)v;
  } else {
    s = random_seed();
  }
  if (device && !cJSON_IsString(device)) {
    srv_fail(r, BD_EINVAL, "device: must be a string");
    goto out;
  }
  const cJSON *filej = cJSON_GetObjectItemCaseSensitive(j, "file");
  if ((likej != NULL) + (block != NULL) + (filej != NULL) > 1) {
    srv_fail(r, BD_EINVAL, "give one of block, like or file");
    goto out;
  }
  if (filej) {
    if (!cJSON_IsString(filej)) {
      srv_fail(r, BD_EINVAL, "file: must be a string");
      goto out;
    }
    bd_status fs =
        srv_files_load(r->app, filej->valuestring, &ckpt, NULL, &ckpt_map);
    if (fs) {
      srv_reply_status(r, fs);
      goto out;
    }
    like_spec = ckpt.spec ? cJSON_Parse(ckpt.spec) : NULL;
    if (!like_spec) {
      srv_fail(r, BD_EINVAL,
               "file: '%s' records no block spec (only state_dicts "
               "saved by blockd are self-describing)",
               filej->valuestring);
      goto out;
    }
    block = like_spec;
  } else if (likej) {
    if (!cJSON_IsString(likej)) {
      srv_fail(r, BD_EINVAL, "like: must be a string");
      goto out;
    }
    like = bd_registry_get(r->app->models, likej->valuestring);
    if (!like) {
      srv_fail(r, BD_ENOTFOUND, "like: model '%s' not found",
               likej->valuestring);
      goto out;
    }
    bd_status ls = bd_model_spec(like, &spec);
    if (ls) {
      srv_reply_status(r, ls);
      goto out;
    }
  } else if (!block) {
    srv_fail(r, BD_EINVAL,
             "block: missing (give a block spec, or like: <model>)");
    goto out;
  }
  bd_model *existing = bd_registry_get(r->app->models, name->valuestring);
  if (existing) {
    bd_model_release(existing);
    srv_fail(r, BD_EEXIST, "a model named '%s' already exists",
             name->valuestring);
    goto out;
  }
  bd_device dev;
  bd_status st = bd_device_resolve(
      device ? device->valuestring : r->app->cfg.device, &dev);
  if (st) {
    if (st == BD_ENOTFOUND) st = BD_EINVAL;
    bd_fail_prefix(st, "device: ");
    srv_reply_status(r, st);
    goto out;
  }
  bd_build_limits lim = srv_build_limits(&r->app->cfg);
  if (!spec) st = proto_spec_from_json(block, &lim, "block", &spec);
  if (!st) st = bd_model_create(name->valuestring, spec, s, dev, &lim, &m);
  if (st) {
    srv_reply_status(r, st);
    goto out;
  }
  if (filej) {
    bd_load_report rep;
    st = bd_model_load(m, &ckpt.list, true, false, &rep);
    bd_load_report_free(&rep);
    if (st) {
      srv_reply_status(r, bd_fail_prefix(st, "file: "));
      goto out;
    }
  }
  if (batchj) {
    st = bd_model_set_batching(m, &batching);
    if (st) {
      srv_reply_status(r, st);
      goto out;
    }
  }
  /* On disk, then registered: a save that fails (a full disk is 507)
   * leaves no model behind. */
  st = srv_persist_create(r->app, m);
  if (st) {
    if (st != BD_EEXIST) srv_log(SRV_LOG_WARN, "%s", bd_errmsg());
    srv_reply_status(r, st);
    goto out;
  }
  /* Registered: other requests may already edit or move it. */
  reply_describe(r, 201, m, true);
out:
  proto_tfile_clear(&ckpt);
  srv_fmap_release(&ckpt_map);
  bd_model_release(m);
  bd_model_release(like);
  bd_spec_free(spec);
  cJSON_Delete(like_spec);
  cJSON_Delete(j);
  return 0;
}

int srv_models_list(srv_req *r) {
  size_t n;
  bd_model **v = bd_registry_list(r->app->models, &n);
  if (!v) return srv_fail(r, BD_ENOMEM, "out of memory");
  cJSON *j = cJSON_CreateObject();
  cJSON *arr = cJSON_AddArrayToObject(j, "models");
  bd_status s = arr ? BD_OK : bd_fail(BD_ENOMEM, "out of host memory");
  for (size_t i = 0; i < n; i++) {
    cJSON *d = NULL;
    if (!s) s = srv_model_describe(v[i], false, &d);
    if (d && !cJSON_AddItemToArray(arr, d)) {
      cJSON_Delete(d);
      s = bd_fail(BD_ENOMEM, "out of host memory");
    }
    bd_model_release(v[i]);
  }
  free(v);
  if (s) {
    cJSON_Delete(j);
    return srv_reply_status(r, s);
  }
  return srv_reply_json(r, 200, j);
}

/* The serving counters of a model (sched.h), for GET /v1/models/{m}. */
static cJSON *stats_json(srv_req *r, const char *name) {
  srv_model_stats st;
  srv_sched_model_stats(r->app->sched, name, &st);
  cJSON *j = cJSON_CreateObject();
  if (!j) return NULL;
  cJSON_AddNumberToObject(j, "inferences", (double)st.inferences);
  cJSON_AddNumberToObject(j, "batches", (double)st.batches);
  cJSON_AddNumberToObject(j, "batched_requests", (double)st.batched_requests);
  cJSON_AddNumberToObject(j, "max_batch_rows", (double)st.max_batch_rows);
  cJSON *h = cJSON_AddObjectToObject(j, "batch_sizes");
  for (int i = 0; h && i < 13; i++) {
    if (!st.batch_hist[i]) continue;
    char key[32];
    if (i == 0)
      snprintf(key, sizeof key, "1");
    else if (i == 1)
      snprintf(key, sizeof key, "2");
    else if (i == 12)
      snprintf(key, sizeof key, ">2048");
    else
      snprintf(key, sizeof key, "%d-%d", (1 << (i - 1)) + 1, 1 << i);
    cJSON_AddNumberToObject(h, key, (double)st.batch_hist[i]);
  }
  cJSON_AddNumberToObject(j, "queue_seconds", st.queue_seconds);
  cJSON_AddNumberToObject(j, "rejected_queue_full", (double)st.rejected_full);
  cJSON_AddNumberToObject(j, "dropped_client_gone", (double)st.dropped_gone);
  cJSON_AddNumberToObject(j, "deadline_exceeded", (double)st.deadline_expired);
  return j;
}

int srv_models_get(srv_req *r) {
  bd_model *m = srv_model_or_404(r, r->args[0]);
  if (!m) return 0;
  cJSON *j;
  bd_status s = srv_model_describe(m, true, &j);
  bd_model_release(m);
  if (s) return srv_reply_status(r, s);
  cJSON *st = r->app->sched ? stats_json(r, r->args[0]) : NULL;
  if (st) cJSON_AddItemToObject(j, "serving", st);
  return srv_reply_json(r, 200, j);
}

int srv_models_patch(srv_req *r) {
  static const char *const keys[] = {"mode", "device", "batching", NULL};
  cJSON *j = srv_json_body(r, false);
  if (!j) return 0;
  bd_model *m = NULL;
  if (!srv_json_check_keys(r, j, "", keys)) goto out;
  const cJSON *batchj = cJSON_GetObjectItemCaseSensitive(j, "batching");
  const cJSON *mode = cJSON_GetObjectItemCaseSensitive(j, "mode");
  bool train = true;
  if (mode) {
    if (!cJSON_IsString(mode) || (strcmp(mode->valuestring, "train") != 0 &&
                                  strcmp(mode->valuestring, "eval") != 0)) {
      srv_fail(r, BD_EINVAL, "mode: must be \"train\" or \"eval\"");
      goto out;
    }
    train = strcmp(mode->valuestring, "train") == 0;
  }
  /* {"device": ...}: net.to(device), resolved before any change. */
  const cJSON *device = cJSON_GetObjectItemCaseSensitive(j, "device");
  bd_device to = BD_CPU;
  if (device) {
    bd_status st = cJSON_IsString(device)
                       ? bd_device_resolve(device->valuestring, &to)
                       : bd_fail(BD_EINVAL, "must be a string");
    if (st) {
      if (st == BD_ENOTFOUND) st = BD_EINVAL;
      bd_fail_prefix(st, "device: ");
      srv_reply_status(r, st);
      goto out;
    }
  }
  m = srv_model_or_404(r, r->args[0]);
  if (!m) goto out;
  /* Batching first: it is the change that can be refused on the model's
   * structure, and a refused PATCH changes nothing. */
  if (batchj) {
    bd_batching b = bd_model_get_batching(m);
    if (!parse_batching(r, batchj, &b)) goto out;
    bd_status st = bd_model_set_batching(m, &b);
    if (st) {
      srv_reply_status(r, st);
      goto out;
    }
  }
  if (device) {
    bd_status st = bd_model_move(m, to);
    if (st) {
      srv_reply_status(r, st);
      goto out;
    }
  }
  if (mode) bd_model_set_mode(m, train);
  reply_describe(r, 200, m, true);
out:
  bd_model_release(m);
  cJSON_Delete(j);
  return 0;
}

int srv_models_delete(srv_req *r) {
  bd_status s = bd_registry_remove(r->app->models, r->args[0]);
  if (s) return srv_reply_status(r, s);
  srv_persist_remove(r->app, r->args[0]);
  if (r->app->sched) srv_sched_forget(r->app->sched, r->args[0]);
  cJSON *j = cJSON_CreateObject();
  cJSON_AddStringToObject(j, "deleted", r->args[0]);
  return srv_reply_json(r, 200, j);
}

/* Whether the client asked for .npy bytes (Accept: application/x-npy). */
static bool accepts_npy(srv_req *r) {
  const char *a = srv_header(r, MHD_HTTP_HEADER_ACCEPT);
  return a && strstr(a, "application/x-npy") != NULL;
}

/* The reply of a forward (srv_infer_done): {"outputs": tensor}, or the
 * outputs as .npy when the request asked for it. May run on another
 * worker than the handler (a batch), so it reads only r's own fields. */
static void forward_done(srv_req *r, bd_status s, bd_tensor *y) {
  if (s) {
    srv_reply_status(r, s);
    return;
  }
  proto_buf b = {0};
  if (r->reply_npy) {
    s = proto_npy_write(&b, y);
    if (s) {
      proto_buf_free(&b);
      srv_reply_status(r, s);
      return;
    }
    srv_reply_buf(r, 200, &b, "application/x-npy");
    return;
  }
  s = srv_json_budget(
      &r->app->cfg,
      srv_sat_add(proto_tensor_json_bound(y->dtype, y->ndim, y->shape), 16),
      "split the inputs into smaller batches or ask with Accept: "
      "application/x-npy");
  if (s) {
    srv_reply_status(r, s);
    return;
  }
  proto_buf_puts(&b, "{\"outputs\":");
  proto_tensor_write(&b, y, r->q.flat || r->q.layout_flat);
  proto_buf_puts(&b, "}");
  srv_reply_buf(r, 200, &b, "application/json");
}

int srv_models_forward(srv_req *r) {
  static const char *const keys[] = {"inputs", NULL};
  char ct[64];
  srv_content_type(r, ct, sizeof ct);
  bool npy_in = strcmp(ct, "application/x-npy") == 0 ||
                strcmp(ct, "application/octet-stream") == 0;
  r->reply_npy = accepts_npy(r);
  cJSON *j = NULL;
  bd_model *m = NULL;
  bd_tensor *x = NULL;
  bd_status s;
  if (npy_in) {
    /* The body is the inputs tensor as .npy: no JSON on the way in. */
    m = srv_model_or_404(r, r->args[0]);
    if (!m) goto out;
    s = proto_npy_read(r->body, r->body_len, r->app->cfg.max_elements, &x);
    if (s) {
      srv_reply_status(r, bd_fail_prefix(s, "inputs (.npy body): "));
      goto out;
    }
  } else {
    /* One pass over the body: the inputs go straight into a tensor, the
     * rest (normally nothing) into j; errors in the usual order. */
    bd_tensor *tv[1] = {NULL};
    s = proto_json_tensor_fields(r->body, r->body_len, keys,
                                 r->app->cfg.max_elements, tv, &j);
    if (s) {
      srv_reply_status(r, s);
      goto out;
    }
    if (srv_json_check_keys(r, j, "", keys) &&
        (m = srv_model_or_404(r, r->args[0])) != NULL) {
      s = proto_json_fields_tensor(&tv[0], j, "inputs",
                                   r->app->cfg.max_elements, &x);
      if (s) srv_reply_status(r, s);
    }
    bd_tensor_release(tv[0]);
    if (!x) goto out;
  }
  /* Now or in a batch; r is not ours after this call. */
  srv_infer(r, m, x, forward_done);
out:
  bd_tensor_release(x);
  bd_model_release(m);
  cJSON_Delete(j);
  return 0;
}
