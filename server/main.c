/* main.c - blockd: configuration, engine start-up, the HTTP front end and
 * the libuv control plane (signals). */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <uv.h>

#include "../engine/backend.h"
#include "../engine/block.h"
#include "../engine/blockd_plugin.h"
#include "../engine/exec.h"
#include "../engine/tensor_store.h"
#include "access.h"
#include "auth.h"
#include "http.h"
#include "log.h"
#include "persist.h"
#include "routes.h"
#include "sched.h"
#include "watch.h"

/* The drain (DESIGN §6): on SIGTERM/SIGINT stop accepting, report not
 * ready, answer every request in flight (bounded by --drain-timeout; past
 * it running computations stop with 503 shutting_down), then main saves
 * every model and exits 0. A timer polls the in-flight count. */
typedef struct drain_state {
  struct MHD_Daemon *d;
  double timeout_s;
  double t0;
  double idle_since; /* when the in-flight count was last seen at 0 */
  bool started, aborted;
  uv_timer_t timer;
} drain_state;

static drain_state drain;

static void on_drain_tick(uv_timer_t *t) {
  int left = srv_http_inflight();
  double waited = srv_now() - drain.t0;
  if (left == 0) {
    /* Zero for 50 ms: a request that was on its way in on an open
     * keep-alive connection when the count hit zero gets its 503 and
     * Connection: close, not a reset when the daemon stops. */
    double now = srv_now();
    if (drain.idle_since == 0) drain.idle_since = now;
    if (now - drain.idle_since < 0.05) return;
    srv_log(SRV_LOG_INFO, "drained in %.3f s", waited);
    uv_timer_stop(t);
    uv_stop(t->loop);
    return;
  }
  drain.idle_since = 0;
  if (!drain.aborted && waited >= drain.timeout_s) {
    /* Out of time: computations stop at their next block with 503
     * shutting_down, so their clients still get an answer. */
    srv_log(SRV_LOG_WARN,
            "--drain-timeout (%g s) passed with %d request%s in flight; "
            "stopping their computations",
            drain.timeout_s, left, left == 1 ? "" : "s");
    drain.aborted = true;
    bd_exec_abort_all();
  }
  if (drain.aborted && waited >= drain.timeout_s + 10) {
    srv_log(SRV_LOG_ERROR, "%d request%s still in flight; exiting anyway", left,
            left == 1 ? "" : "s");
    uv_timer_stop(t);
    uv_stop(t->loop);
  }
}

/* Autosave (--autosave-interval): a libuv timer queues the save of the
 * changed models on libuv's pool (file I/O off the loop thread, which
 * keeps answering signals); one save pass at a time. */
typedef struct autosave_state {
  srv_app *app;
  uv_timer_t timer;
  uv_work_t work;
  bool busy;
  int saved;
} autosave_state;

static autosave_state autosave;

static void autosave_work(uv_work_t *w) {
  autosave_state *a = w->data;
  a->saved = srv_persist_save_changed(a->app);
}

static void autosave_after(uv_work_t *w, int status) {
  autosave_state *a = w->data;
  a->busy = false;
  if (status == 0 && a->saved)
    srv_log(SRV_LOG_INFO, "autosave: saved %d changed model%s", a->saved,
            a->saved == 1 ? "" : "s");
}

static void on_autosave_tick(uv_timer_t *t) {
  autosave_state *a = t->data;
  if (a->busy || drain.started) return;
  a->busy = true;
  a->work.data = a;
  if (uv_queue_work(t->loop, &a->work, autosave_work, autosave_after) != 0)
    a->busy = false;
}

static void on_stop_signal_cb(uv_signal_t *h, int signum) {
  if (drain.started) {
    srv_log(SRV_LOG_INFO, "received %s again; still draining",
            signum == SIGINT ? "SIGINT" : "SIGTERM");
    return;
  }
  srv_log(SRV_LOG_INFO, "received %s: draining %d request%s in flight",
          signum == SIGINT ? "SIGINT" : "SIGTERM", srv_http_inflight(),
          srv_http_inflight() == 1 ? "" : "s");
  drain.started = true;
  drain.t0 = srv_now();
  srv_http_begin_drain(drain.d);
  uv_timer_init(h->loop, &drain.timer);
  uv_timer_start(&drain.timer, on_drain_tick, 0, 10);
}

/* logrotate renames the log file, then sends SIGHUP: lines from now on
 * go to a new file at the --log-file path. */
static void on_hup_cb(uv_signal_t *h, int signum) {
  (void)h;
  (void)signum;
  if (!srv_log_path()) {
    srv_log(SRV_LOG_INFO,
            "received SIGHUP (logs go to stderr; nothing to reopen)");
    return;
  }
  if (srv_log_reopen() == 0)
    srv_log(SRV_LOG_INFO, "received SIGHUP, reopened %s", srv_log_path());
}

/* mkdir -p for the data directory. */
static int make_dirs(const char *path) {
  char buf[1024];
  snprintf(buf, sizeof buf, "%s", path);
  for (char *p = buf + 1; *p; p++) {
    if (*p != '/') continue;
    *p = '\0';
    if (mkdir(buf, 0755) != 0 && errno != EEXIST) return -1;
    *p = '/';
  }
  if (mkdir(buf, 0755) != 0 && errno != EEXIST) return -1;
  return 0;
}

int main(int argc, char **argv) {
  srv_app app;
  memset(&app, 0, sizeof app);
  int rc = srv_config_parse(&app.cfg, argc, argv);
  if (rc != 0) return rc > 0 ? 0 : 2;
  srv_log_set_level(app.cfg.log_level);
  if (srv_log_open(app.cfg.log_file[0] ? app.cfg.log_file : NULL,
                   app.cfg.log_format) != 0)
    return 1;
  if (srv_access_init() != 0) {
    fprintf(stderr, "blockd: out of memory\n");
    return 1;
  }
  signal(SIGPIPE, SIG_IGN);
  /* Tokens, TLS files and the listen address are checked before anything
   * is loaded, so a misconfigured daemon fails at once (exit 2). */
  if (srv_auth_setup(&app.cfg) != 0) return 2;

  if (make_dirs(app.cfg.data_dir) != 0) {
    fprintf(stderr, "blockd: cannot create data directory %s: %s\n",
            app.cfg.data_dir, strerror(errno));
    return 1;
  }
  if (srv_data_check(&app) != BD_OK) {
    fprintf(stderr, "blockd: %s\n", bd_errmsg());
    return 1;
  }
  /* A CUDA device that fails to initialise is reported, and blockd serves
   * with the CPU and the devices that did (a device stays optional). */
  if (bd_backends_init() != BD_OK)
    fprintf(stderr, "blockd: warning: %s\n", bd_errmsg());
  srv_log(SRV_LOG_INFO, "%s", bd_backend_cuda_status());
  bd_blocks_init();
  bd_exec_set_time_limit(app.cfg.max_compute_s);
  for (int i = 0; i < app.cfg.nplugins; i++)
    if (bd_plugin_load(app.cfg.plugins[i]) != BD_OK) {
      fprintf(stderr, "blockd: --plugin: %s\n", bd_errmsg());
      return 1;
    }
  if (srv_devices_apply_budgets(&app.cfg) != 0) return 2;
  bd_device def;
  if (bd_device_resolve(app.cfg.device, &def) != BD_OK) {
    fprintf(stderr, "blockd: --device: %s\n", bd_errmsg());
    return 2;
  }
  app.models = bd_registry_new();
  app.tensors = bd_tensor_store_new();
  if (!app.models || !app.tensors) return 1;
  srv_persist_restore(&app); /* models saved by the previous run */

  /* Signal handlers go in before the listening line is printed: a
   * supervisor (or test) that sends SIGTERM as soon as it sees the line
   * must get a drain and a clean exit, not the default action. */
  uv_loop_t *loop = uv_default_loop();
  /* Static: the handles stay registered until the process is gone, and
   * libuv's signal handler reads them when a late signal arrives while
   * main is returning; on main's stack they would be freed by then (a
   * SIGSEGV instead of a clean exit). */
  static uv_signal_t sigint, sigterm, sighup;
  uv_signal_init(loop, &sigint);
  uv_signal_init(loop, &sigterm);
  uv_signal_init(loop, &sighup);
  uv_signal_start(&sigint, on_stop_signal_cb, SIGINT);
  uv_signal_start(&sigterm, on_stop_signal_cb, SIGTERM);
  uv_signal_start(&sighup, on_hup_cb, SIGHUP);

  app.sched = srv_sched_start(&app);
  if (!app.sched) return 1;
  int port = 0;
  struct MHD_Daemon *d = srv_http_start(&app, &port);
  if (!d) {
    srv_sched_stop(app.sched);
    bd_registry_free(app.models);
    return 1;
  }
  drain.d = d;
  drain.timeout_s = app.cfg.drain_timeout_s;
  if (srv_watch_start(&app, loop) != 0) {
    srv_http_stop(d);
    srv_sched_stop(app.sched);
    return 2;
  }
  if (app.cfg.autosave_s > 0) {
    autosave.app = &app;
    uv_timer_init(loop, &autosave.timer);
    autosave.timer.data = &autosave;
    uint64_t ms = (uint64_t)(app.cfg.autosave_s * 1000);
    uv_timer_start(&autosave.timer, on_autosave_tick, ms, ms);
  }
  char host[256];
  snprintf(host, sizeof host, "%s", app.cfg.listen);
  char *colon = strrchr(host, ':');
  if (colon) *colon = '\0';
  printf(
      "blockd %s listening on %s://%s:%d (data dir %s, %d CUDA "
      "device%s)\n",
      SRV_VERSION, srv_tls_enabled() ? "https" : "http",
      host[0] ? host : "0.0.0.0", port, app.cfg.data_dir,
      bd_backend_cuda_count(), bd_backend_cuda_count() == 1 ? "" : "s");
  fflush(stdout);

  uv_run(loop, UV_RUN_DEFAULT);

  /* Every request in flight has its answer (the drain); close the
   * remaining idle connections, stop the workers, save. */
  srv_http_stop(d);
  srv_sched_stop(app.sched);
  /* Clean shutdown: every model that changed since its last save. */
  int saved = srv_persist_save_changed(&app);
  if (saved)
    srv_log(SRV_LOG_INFO, "saved %d changed model%s", saved,
            saved == 1 ? "" : "s");
  /* The signal handles are deliberately never closed: closing them
   * restores the default action, and a second SIGTERM arriving during the
   * drain, the final save or the frees below would then kill the process
   * (exit status -15 instead of 0). The loop dies with the process. */
  bd_registry_free(app.models);
  bd_tensor_store_free(app.tensors);
  srv_access_free();
  srv_log(SRV_LOG_INFO, "stopped");
  return 0;
}
