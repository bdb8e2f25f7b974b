/* persist.c - model persistence under data-dir/models/<name>/. */
#include "persist.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../engine/atomic_file.h"
#include "../engine/backend.h"
#include "../engine/checkpoint.h"
#include "../engine/safe_path.h"
#include "../proto/checkpoint_json.h"
#include "../proto/safetensors.h"
#include "../proto/spec_json.h"
#include "log.h"
#include "routes.h"

bd_status srv_data_open(srv_app *app, const char *sub, bool create, int *out) {
  *out = -1;
  /* The data directory itself is the operator's choice (it may be a link);
   * nothing below it is followed. */
  int root = open(app->cfg.data_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (root < 0)
    return bd_fail(BD_EIO, "cannot open data directory %s: %s",
                   app->cfg.data_dir, strerror(errno));
  bd_status s = bd_dir_openat(root, sub, create, out);
  close(root);
  if (s) bd_fail_prefix(s, "data directory %s: ", app->cfg.data_dir);
  return s;
}

bd_status srv_data_check(srv_app *app) {
  static const char *const subs[] = {"files", "models"};
  for (size_t i = 0; i < sizeof subs / sizeof *subs; i++) {
    int fd;
    bd_status s = srv_data_open(app, subs[i], true, &fd);
    if (s) return s;
    close(fd);
  }
  return BD_OK;
}

/* Serialises writes and removals of model directories, so that a save
 * racing with a DELETE (or with a DELETE followed by a create of the same
 * name) can neither resurrect a deleted model on disk nor remove the
 * directory of the model that now holds the name. Lock order: persist_mu,
 * then the registry mutex, then a model's lock; nothing that holds a model
 * lock takes persist_mu. */
static pthread_mutex_t persist_mu = PTHREAD_MUTEX_INITIALIZER;

/* Whether m is the model registered under its name. */
static bool persist_live(srv_app *app, bd_model *m) {
  bd_model *cur = bd_registry_get(app->models, bd_model_name(m));
  bd_model_release(cur);
  return cur == m;
}

static bd_status persist_save_locked(srv_app *app, bd_model *m);

bd_status srv_persist_save(srv_app *app, bd_model *m) {
  pthread_mutex_lock(&persist_mu);
  bd_status s = persist_live(app, m)
                    ? persist_save_locked(app, m)
                    : bd_fail(BD_ENOTFOUND, "model '%s' not found (deleted)",
                              bd_model_name(m));
  pthread_mutex_unlock(&persist_mu);
  return s;
}

/* Keys of the counters saved in state.safetensors' metadata, next to the
 * tensors they belong with: the SGD step count and the RNG position (so
 * that dropout and seedless init continue the stream after a restart). */
#define PERSIST_SGD_STEPS "blockd.sgd_steps"
#define PERSIST_RNG_OFFSET "blockd.rng_offset"

/* Keys of spec.json besides block, seed, device and mode: the model's
 * creation serial (bd_model_serial; the registry lists models in creation
 * order and a restart restores them in that order) and the state_dict
 * paths of the parameters whose requires_grad is false (frozen). */
#define PERSIST_SERIAL "serial"
#define PERSIST_FROZEN "frozen"
/* The model's dynamic batching ({"max_batch","max_delay_us"}). */
#define PERSIST_BATCHING "batching"

/* One save: the model's state file is written under its read lock (the
 * export shares the host tensors of CPU models, and a training step must
 * not tear the snapshot); spec.json is built there and written after.
 * Neither file replaces its old version until both are on disk, so a full
 * disk leaves the previous pair. */
typedef struct save_ctx {
  int dfd;             /* data-dir/models/<name> */
  char *spec_txt;      /* spec.json's text, malloc'd */
  bd_afile *state;     /* state.safetensors, synced and not yet renamed */
  uint64_t generation; /* the model's generation the snapshot captured */
} save_ctx;

/* The paths of the frozen parameters (requires_grad false; buffers never
 * have a gradient and are not listed), each parameter once. The caller
 * holds m's lock. */
static bd_status frozen_json(bd_model *m, cJSON *arr) {
  bd_state_list l = {0};
  bool *first = NULL;
  bd_status s = bd_block_state_dict(bd_model_root(m), "", &l);
  if (!s) s = bd_state_list_firsts(&l, &first);
  for (size_t i = 0; !s && i < l.n; i++) {
    const bd_param *p = l.v[i].param;
    if (p->is_buffer || p->requires_grad || !first[i]) continue;
    cJSON *str = cJSON_CreateString(l.v[i].path);
    if (!str || !cJSON_AddItemToArray(arr, str)) {
      cJSON_Delete(str);
      s = bd_fail(BD_ENOMEM, "out of host memory");
    }
  }
  free(first);
  bd_state_list_free(&l);
  return s;
}

static bd_status save_cb(bd_model *m, const bd_model_info *info, void *ctx) {
  save_ctx *c = ctx;
  proto_tfile tf;
  char dev[16], steps[32], off[32];
  c->generation = info->generation;
  bd_status s = proto_checkpoint_export(m, true, &tf);
  cJSON *j = cJSON_CreateObject();
  cJSON *spec = proto_model_spec_json(m);
  if (spec) cJSON_AddItemToObject(j, "block", spec);
  cJSON_AddNumberToObject(j, "seed", (double)info->seed);
  cJSON_AddStringToObject(j, "device",
                          bd_device_str(info->dev, dev, sizeof dev));
  cJSON_AddStringToObject(j, "mode", info->training ? "train" : "eval");
  cJSON_AddNumberToObject(j, PERSIST_SERIAL, (double)bd_model_serial(m));
  cJSON *bj = cJSON_AddObjectToObject(j, PERSIST_BATCHING);
  if (bj) {
    cJSON_AddNumberToObject(bj, "max_batch", info->batching.max_batch);
    cJSON_AddNumberToObject(bj, "max_delay_us",
                            (double)info->batching.max_delay_us);
  }
  cJSON *frozen = cJSON_AddArrayToObject(j, PERSIST_FROZEN);
  if (!s)
    s = frozen ? frozen_json(m, frozen)
               : bd_fail(BD_ENOMEM, "out of host memory");
  snprintf(steps, sizeof steps, "%lld", (long long)info->sgd_steps);
  snprintf(off, sizeof off, "%llu", (unsigned long long)info->rng_offset);
  c->spec_txt = cJSON_Print(j);
  cJSON_Delete(j);
  if (!s && (!spec || !c->spec_txt))
    s = bd_fail(BD_ENOMEM, "out of host memory");
  if (!s) {
    bd_afile *f;
    const char *extra[] = {PERSIST_SGD_STEPS, steps, PERSIST_RNG_OFFSET, off,
                           NULL};
    s = bd_afile_openat(c->dfd, "state.safetensors", &f);
    if (!s) {
      s = proto_safetensors_write(&tf, extra, proto_afile_sink(f));
      if (!s) s = bd_afile_sync(f);
      if (s)
        bd_afile_abort(f);
      else
        c->state = f;
    }
  }
  proto_tfile_clear(&tf);
  return s;
}

static bd_status persist_save_locked(srv_app *app, bd_model *m) {
  char sub[300];
  snprintf(sub, sizeof sub, "models/%s", bd_model_name(m));
  /* A full disk at the mkdir is ENOSPACE; a linked models/<m> is refused. */
  save_ctx c = {.dfd = -1};
  bd_afile *spec = NULL;
  bd_status s = srv_data_open(app, sub, true, &c.dfd);
  if (!s) s = bd_model_read(m, save_cb, &c);
  if (!s) s = bd_afile_openat(c.dfd, "spec.json", &spec);
  if (!s) s = bd_afile_write(spec, c.spec_txt, strlen(c.spec_txt));
  if (!s) s = bd_afile_sync(spec);
  /* Both files are on disk: only the renames are left. State first: the
   * old spec.json fits the new state (a model's architecture never
   * changes), and a new model's state without its spec is not restored. */
  if (!s) {
    s = bd_afile_commit(c.state);
    c.state = NULL;
  }
  if (!s) {
    s = bd_afile_commit(spec);
    spec = NULL;
  }
  bd_afile_abort(c.state);
  bd_afile_abort(spec);
  free(c.spec_txt);
  if (c.dfd >= 0) close(c.dfd);
  if (s)
    bd_fail_prefix(s, "saving model '%s': ", bd_model_name(m));
  else
    bd_model_mark_saved(m, c.generation);
  return s;
}

/* Empties and removes models/<name>; the caller holds persist_mu. An
 * entry there that is not a real directory (a planted symbolic link) is
 * removed itself; what it points to is never touched. */
static void persist_rmdir(srv_app *app, const char *name) {
  int mfd;
  if (!bd_model_name_ok(name) ||
      srv_data_open(app, "models", false, &mfd) != BD_OK)
    return;
  struct stat st;
  int dfd = -1;
  if (fstatat(mfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
    /* already gone */
  } else if (!S_ISDIR(st.st_mode)) {
    srv_log(SRV_LOG_WARN,
            "models/%s is not a directory (a symbolic link?): removing the "
            "entry itself, not what it points to",
            name);
    unlinkat(mfd, name, 0);
  } else if (bd_dir_openat(mfd, name, false, &dfd) != BD_OK) {
    srv_log(SRV_LOG_WARN, "model directory not removed: %s", bd_errmsg());
  } else {
    /* spec.json first: a directory without it is never restored, and a
     * crash in the middle of this removal leaves one that the next start
     * finishes removing (restore_unfinished), never a model with some of
     * its files gone. */
    unlinkat(dfd, "spec.json", 0);
    DIR *d = fdopendir(dfd);
    if (d) {
      struct dirent *e;
      while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
          unlinkat(dirfd(d), e->d_name, 0); /* a link goes, not its target */
      closedir(d);
      unlinkat(mfd, name, AT_REMOVEDIR);
    } else {
      close(dfd);
    }
  }
  close(mfd);
}

bd_status srv_persist_create(srv_app *app, bd_model *m) {
  const char *name = bd_model_name(m);
  pthread_mutex_lock(&persist_mu);
  bd_model *cur = bd_registry_get(app->models, name);
  bd_model_release(cur);
  bd_status s =
      cur ? bd_fail(BD_EEXIST, "a model named '%s' already exists", name)
          : persist_save_locked(app, m);
  /* Every create takes persist_mu, so the name is still free here. */
  if (!s) s = bd_registry_add(app->models, m);
  if (s && !cur) persist_rmdir(app, name);
  pthread_mutex_unlock(&persist_mu);
  return s;
}

void srv_persist_remove(srv_app *app, const char *name) {
  pthread_mutex_lock(&persist_mu);
  /* A model created under this name since the DELETE owns the directory. */
  bd_model *cur = bd_registry_get(app->models, name);
  bd_model_release(cur);
  if (!cur) persist_rmdir(app, name);
  pthread_mutex_unlock(&persist_mu);
}

int srv_persist_save_changed(srv_app *app) {
  size_t n;
  int saved = 0;
  bd_model **v = bd_registry_list(app->models, &n);
  for (size_t i = 0; v && i < n; i++) {
    if (bd_model_changed(v[i])) {
      if (srv_persist_save(app, v[i]))
        srv_log(SRV_LOG_ERROR, "%s", bd_errmsg());
      else
        saved++;
    }
    bd_model_release(v[i]);
  }
  free(v);
  return saved;
}

/* Builds one model from its directory (not registered; *serial is its
 * saved creation serial, 0 for a spec.json without one); returns NULL
 * after logging why. */
static bd_model *restore_one(srv_app *app, const char *name, int dfd,
                             uint64_t *serial) {
  void *data = NULL;
  size_t len = 0;
  *serial = 0;
  bd_status s = bd_file_mapat(dfd, "spec.json", &data, &len);
  if (s) {
    srv_log(SRV_LOG_WARN, "model '%s' not restored: %s", name, bd_errmsg());
    return NULL;
  }
  cJSON *j = cJSON_ParseWithLength(data, len);
  bd_file_unmap(data, len);
  const cJSON *block = cJSON_GetObjectItemCaseSensitive(j, "block");
  const cJSON *seed = cJSON_GetObjectItemCaseSensitive(j, "seed");
  const cJSON *devj = cJSON_GetObjectItemCaseSensitive(j, "device");
  const cJSON *mode = cJSON_GetObjectItemCaseSensitive(j, "mode");
  const cJSON *ser = cJSON_GetObjectItemCaseSensitive(j, PERSIST_SERIAL);
  const cJSON *frozen = cJSON_GetObjectItemCaseSensitive(j, PERSIST_FROZEN);
  const cJSON *bat = cJSON_GetObjectItemCaseSensitive(j, PERSIST_BATCHING);
  if (!block || !cJSON_IsNumber(seed)) {
    srv_log(SRV_LOG_WARN, "model '%s' not restored: bad spec.json", name);
    cJSON_Delete(j);
    return NULL;
  }
  if (cJSON_IsNumber(ser) && ser->valuedouble >= 1 &&
      ser->valuedouble <= 9007199254740991.0)
    *serial = (uint64_t)ser->valuedouble;
  bd_device dev;
  if (!cJSON_IsString(devj) || bd_device_resolve(devj->valuestring, &dev))
    dev = BD_CPU; /* the device is gone: keep the model, on the host */
  bd_build_limits lim = srv_build_limits(&app->cfg);
  bd_model *m = NULL;
  s = proto_model_create(name, block, (uint64_t)seed->valuedouble, dev, &lim,
                         &m);
  if (!s && cJSON_IsString(mode))
    bd_model_set_mode(m, strcmp(mode->valuestring, "eval") != 0);
  const cJSON *mb = cJSON_GetObjectItemCaseSensitive(bat, "max_batch");
  const cJSON *md = cJSON_GetObjectItemCaseSensitive(bat, "max_delay_us");
  if (!s && cJSON_IsNumber(mb) && cJSON_IsNumber(md)) {
    bd_batching b = {.max_batch = mb->valueint,
                     .max_delay_us = (int64_t)md->valuedouble};
    /* A setting this blockd refuses (a block type changed its mind about
     * rows) leaves batching off; the model itself is restored. */
    if (bd_model_set_batching(m, &b) != BD_OK)
      srv_log(SRV_LOG_WARN, "model '%s': batching not restored: %s", name,
              bd_errmsg());
  }
  /* Not yet registered: nothing else sees m until it is added. */
  const cJSON *fz, *fl = cJSON_IsArray(frozen) ? frozen : NULL;
  cJSON_ArrayForEach(fz, fl) {
    if (s) break;
    s = cJSON_IsString(fz)
            ? bd_model_param_patch(m, fz->valuestring, NULL, 0, NULL)
            : bd_fail(BD_EFORMAT, "frozen: entries must be strings");
    if (s) bd_fail_prefix(s, "spec.json frozen: ");
  }
  cJSON_Delete(j);
  if (!s) s = bd_file_mapat(dfd, "state.safetensors", &data, &len);
  if (!s) {
    proto_tfile tf;
    cJSON *meta = NULL;
    bd_load_report rep = {0};
    proto_tfile_limits lim = {.borrow = true}; /* mapped until cleared */
    s = proto_safetensors_read(data, len, &lim, &tf, &meta);
    if (!s) s = bd_model_load(m, &tf.list, true, true, &rep);
    const cJSON *st = cJSON_GetObjectItemCaseSensitive(meta, PERSIST_SGD_STEPS);
    if (!s && cJSON_IsString(st))
      s = bd_model_set_sgd_steps(m, atoll(st->valuestring));
    const cJSON *off =
        cJSON_GetObjectItemCaseSensitive(meta, PERSIST_RNG_OFFSET);
    if (!s && cJSON_IsString(off))
      bd_model_set_rng_offset(m, strtoull(off->valuestring, NULL, 10));
    bd_load_report_free(&rep);
    cJSON_Delete(meta);
    proto_tfile_clear(&tf);
    bd_file_unmap(data, len);
  }
  if (s) {
    srv_log(SRV_LOG_WARN, "model '%s' not restored: %s", name, bd_errmsg());
    bd_model_release(m);
    return NULL;
  }
  /* What is in memory now is what is on disk. */
  bd_model_info in;
  if (bd_model_get_info(m, &in) == BD_OK) bd_model_mark_saved(m, in.generation);
  return m;
}

/* A restored model and the serial its spec.json recorded. */
typedef struct restored {
  bd_model *m;
  uint64_t serial; /* 0: none recorded (older spec.json) */
} restored;

/* Creation order: recorded serials ascending, then models without one by
 * name (the order is then at least the same on every start). */
static int restored_cmp(const void *a, const void *b) {
  const restored *x = a, *y = b;
  if (!x->serial != !y->serial) return x->serial ? -1 : 1;
  if (x->serial != y->serial) return x->serial < y->serial ? -1 : 1;
  return strcmp(bd_model_name(x->m), bd_model_name(y->m));
}

/* Removes the temporary files a crash during a save left in the
 * directory dfd (data-dir/<sub>), with a log line when there were some. */
static void sweep_temps(srv_app *app, int dfd, const char *sub) {
  int k = bd_afile_sweepat(dfd);
  if (k)
    srv_log(SRV_LOG_INFO, "removed %d stale temporary file%s in %s/%s", k,
            k == 1 ? "" : "s", app->cfg.data_dir, sub);
}

/* Whether models/<name> (dfd) is what a create or a delete interrupted by
 * a crash leaves: no spec.json (a create renames it last, a delete removes
 * it first), and nothing but state.safetensors (temporary files are
 * already swept). Such a directory was never an acknowledged model, or
 * was acknowledged as deleted: it is removed, so that it neither lingers
 * nor warns at every start. Anything else there is left alone. */
static bool restore_unfinished(int mfd, int dfd, const char *name) {
  struct stat st;
  if (fstatat(dfd, "spec.json", &st, AT_SYMLINK_NOFOLLOW) == 0 ||
      errno != ENOENT)
    return false;
  int lfd = fcntl(dfd, F_DUPFD_CLOEXEC, 0);
  DIR *d = lfd >= 0 ? fdopendir(lfd) : NULL;
  if (!d) {
    if (lfd >= 0) close(lfd);
    return false;
  }
  bool only_state = true;
  struct dirent *e;
  while (only_state && (e = readdir(d)))
    only_state = !strcmp(e->d_name, ".") || !strcmp(e->d_name, "..") ||
                 !strcmp(e->d_name, "state.safetensors");
  closedir(d);
  if (!only_state) return false;
  if (fstatat(dfd, "state.safetensors", &st, AT_SYMLINK_NOFOLLOW) == 0 &&
      (!S_ISREG(st.st_mode) || unlinkat(dfd, "state.safetensors", 0) != 0))
    return false;
  if (unlinkat(mfd, name, AT_REMOVEDIR) != 0) return false;
  srv_log(SRV_LOG_INFO,
          "removed models/%s: a create or delete that did not finish (no "
          "spec.json)",
          name);
  return true;
}

int srv_persist_restore(srv_app *app) {
  int fd;
  if (srv_data_open(app, "files", false, &fd) == BD_OK) {
    sweep_temps(app, fd, "files");
    close(fd);
  }
  if (srv_data_open(app, "models", true, &fd)) {
    srv_log(SRV_LOG_ERROR, "no models restored: %s", bd_errmsg());
    return 0;
  }
  DIR *d = fdopendir(fd);
  if (!d) {
    close(fd);
    return 0;
  }
  restored *v = NULL;
  size_t nv = 0, cap = 0;
  struct dirent *e;
  while ((e = readdir(d))) {
    if (!bd_model_name_ok(e->d_name)) continue;
    int dfd;
    if (bd_dir_openat(dirfd(d), e->d_name, false, &dfd)) {
      srv_log(SRV_LOG_WARN, "model '%s' not restored: models/%s", e->d_name,
              bd_errmsg());
      continue;
    }
    char sub[300];
    snprintf(sub, sizeof sub, "models/%s", e->d_name);
    sweep_temps(app, dfd, sub);
    if (restore_unfinished(dirfd(d), dfd, e->d_name)) {
      close(dfd);
      continue;
    }
    uint64_t serial;
    bd_model *m = restore_one(app, e->d_name, dfd, &serial);
    close(dfd);
    if (!m) continue;
    if (nv == cap) {
      size_t nc = cap ? 2 * cap : 16;
      restored *nvp = realloc(v, nc * sizeof *v);
      if (!nvp) {
        srv_log(SRV_LOG_WARN, "model '%s' not restored: out of memory",
                e->d_name);
        bd_model_release(m);
        continue;
      }
      v = nvp;
      cap = nc;
    }
    v[nv++] = (restored){m, serial};
  }
  closedir(d);
  if (nv) qsort(v, nv, sizeof *v, restored_cmp); /* v is NULL when empty */
  /* Recorded serials first, so that the models without one (and every
   * model created from now on) get larger ones. */
  uint64_t next = 0;
  for (size_t i = 0; i < nv; i++)
    if (v[i].serial) {
      bd_model_set_serial(v[i].m, v[i].serial);
      next = v[i].serial; /* ascending: the last is the largest */
    }
  for (size_t i = 0; i < nv; i++)
    if (!v[i].serial) bd_model_set_serial(v[i].m, ++next);
  int n = 0;
  for (size_t i = 0; i < nv; i++) {
    bd_status s = bd_registry_add(app->models, v[i].m);
    if (s)
      srv_log(SRV_LOG_WARN, "model '%s' not restored: %s",
              bd_model_name(v[i].m), bd_errmsg());
    else
      n++;
    bd_model_release(v[i].m);
  }
  free(v);
  if (n)
    srv_log(SRV_LOG_INFO, "restored %d model%s from %s/models", n,
            n == 1 ? "" : "s", app->cfg.data_dir);
  return n;
}

int srv_models_save(srv_req *r) {
  /* No fields: an empty body or {}; anything else is a 400, not ignored. */
  cJSON *body = srv_json_body(r, true);
  if (!body) return 0;
  bool empty = cJSON_IsObject(body) && body->child == NULL;
  const char *first =
      cJSON_IsObject(body) && body->child ? body->child->string : NULL;
  if (!empty) {
    if (first)
      srv_fail(r, BD_EINVAL, "unknown field '%.64s' (save takes no fields)",
               first);
    else
      srv_fail(r, BD_EINVAL,
               "body: must be empty or {} (save takes no fields)");
    cJSON_Delete(body);
    return 0;
  }
  cJSON_Delete(body);
  bd_model *m = srv_model_or_404(r, r->args[0]);
  if (!m) return 0;
  bd_status s = srv_persist_save(r->app, m);
  bd_model_release(m);
  if (s) return srv_reply_status(r, s);
  cJSON *j = cJSON_CreateObject();
  cJSON_AddStringToObject(j, "saved", r->args[0]);
  return srv_reply_json(r, 200, j);
}
