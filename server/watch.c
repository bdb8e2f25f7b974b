/* watch.c - --watch NAME=FILE: reload a model when its checkpoint file
 * changes (see watch.h). */
#include "watch.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../engine/atomic_file.h"
#include "../engine/backend.h"
#include "../engine/checkpoint.h"
#include "../engine/model.h"
#include "../proto/spec_json.h"
#include "../proto/tformat.h"
#include "files.h"
#include "log.h"
#include "persist.h"

typedef struct srv_watch {
  srv_app *app;
  char name[256];
  char path[1024];
  uv_fs_poll_t poll;
  uv_work_t work;
  bool busy;    /* a reload is on libuv's pool */
  bool pending; /* the file changed again meanwhile */
} srv_watch;

/* Loads w->path into the model w->name, creating it from the file's spec
 * when there is no such model. Runs on libuv's pool. */
/* Logs why w's file was not loaded (the message of the last failure). */
static void not_reloaded(const srv_watch *w) {
  srv_log(SRV_LOG_WARN,
          "--watch %s: %s not reloaded: %s; the old state keeps serving",
          w->name, w->path, bd_errmsg());
}

static void reload(srv_watch *w) {
  void *data = NULL;
  size_t len = 0;
  bd_status s = bd_file_map(w->path, &data, &len);
  if (s) {
    not_reloaded(w);
    return;
  }
  proto_tfile tf;
  proto_tfile_limits lim = srv_files_limits(w->app);
  s = proto_tfile_parse(data, len, &lim, &tf, NULL);
  bd_file_unmap(data, len);
  if (s) {
    not_reloaded(w);
    return;
  }
  bd_model *m = bd_registry_get(w->app->models, w->name);
  bool created = false;
  if (!m) {
    cJSON *spec = tf.spec ? cJSON_Parse(tf.spec) : NULL;
    bd_device dev;
    bd_build_limits bl = srv_build_limits(&w->app->cfg);
    s = spec ? bd_device_resolve(w->app->cfg.device, &dev)
             : bd_fail(BD_EINVAL,
                       "there is no model '%s' and the file records no "
                       "block spec to create it from",
                       w->name);
    if (!s) s = proto_model_create(w->name, spec, 0, dev, &bl, &m);
    cJSON_Delete(spec);
    created = !s;
  }
  if (!s) {
    bd_load_report rep = {0};
    /* Parsed and checked in full before anything changes: bd_model_load
     * validates every entry, then copies under the write lock. */
    s = bd_model_load(m, &tf.list, true, false, &rep);
    bd_load_report_free(&rep);
  }
  if (!s && created) {
    bd_model_set_mode(m, false); /* a replica serves: eval mode */
    s = srv_persist_create(w->app, m);
  }
  if (s)
    not_reloaded(w);
  else
    srv_log(SRV_LOG_INFO, "--watch %s: %s %s", w->name,
            created ? "created from" : "reloaded from", w->path);
  bd_model_release(m);
  proto_tfile_clear(&tf);
}

static void on_reload_work(uv_work_t *req) { reload(req->data); }

static void start_reload(srv_watch *w);

static void on_reload_done(uv_work_t *req, int status) {
  (void)status;
  srv_watch *w = req->data;
  w->busy = false;
  if (w->pending) {
    w->pending = false;
    start_reload(w);
  }
}

static void start_reload(srv_watch *w) {
  if (w->busy) {
    w->pending = true;
    return;
  }
  w->busy = true;
  w->work.data = w;
  if (uv_queue_work(w->poll.loop, &w->work, on_reload_work, on_reload_done))
    w->busy = false;
}

static void on_poll(uv_fs_poll_t *h, int status, const uv_stat_t *prev,
                    const uv_stat_t *curr) {
  (void)prev;
  (void)curr;
  srv_watch *w = h->data;
  /* status < 0: the file is gone (mid-replacement, or deleted); the
   * model keeps its state until a file is there again. */
  if (status == 0) start_reload(w);
}

int srv_watch_start(srv_app *app, uv_loop_t *loop) {
  for (int i = 0; i < app->cfg.nwatch; i++) {
    const char *spec = app->cfg.watch[i];
    const char *eq = strchr(spec, '=');
    srv_watch *w = calloc(1, sizeof *w);
    if (!w || !eq) {
      fprintf(stderr, "blockd: --watch %s: expected NAME=FILE\n", spec);
      free(w);
      return -1;
    }
    w->app = app;
    snprintf(w->name, sizeof w->name, "%.*s", (int)(eq - spec), spec);
    snprintf(w->path, sizeof w->path, "%s", eq + 1);
    if (!bd_model_name_ok(w->name) || !w->path[0]) {
      fprintf(stderr, "blockd: --watch %s: bad model name or empty file\n",
              spec);
      free(w);
      return -1;
    }
    uv_fs_poll_init(loop, &w->poll);
    w->poll.data = w;
    if (uv_fs_poll_start(&w->poll, on_poll, w->path,
                         (unsigned)(app->cfg.watch_interval_s * 1000)) != 0) {
      fprintf(stderr, "blockd: --watch %s: cannot poll %s\n", spec, w->path);
      return -1;
    }
    start_reload(w); /* what the file holds now */
  }
  return 0;
}
