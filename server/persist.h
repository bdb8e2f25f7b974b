/* persist.h - models survive restarts: data-dir/models/<name>/spec.json
 * ({"block":spec,"seed":..,"device":..,"mode":..,"serial":creation
 * serial,"frozen":[paths with requires_grad false]}) and state.safetensors
 * (state_dict + SGD momentum buffers + step count), both written to disk
 * before either replaces its old version. Written when a model is created
 * or loaded, on POST /v1/models/{m}/save, every --autosave-interval and at
 * clean shutdown (those two only when the model changed since its last
 * save); restored at start in creation order.
 *
 * A request that saves answers success only once the save is on disk: a
 * full disk (BD_ENOSPACE, 507 insufficient_storage) or any other failure
 * fails it, and the previous files stay. */
#ifndef SRV_PERSIST_H
#define SRV_PERSIST_H

#include "http.h"

/* Saves m (takes its read lock). Errors: ENOSPACE, EIO, ENOMEM;
 * ENOTFOUND when m is no longer the model registered under its name
 * (deleted). On failure the previous spec.json and state are kept. */
bd_status srv_persist_save(srv_app *app, bd_model *m);
/* Saves a new model m (borrowed; the registry takes its own reference)
 * and registers it, both or neither: nobody sees the model before it is
 * on disk, and a failed save leaves no directory and no registered model.
 * Errors: EEXIST (the name is taken), ENOSPACE, EIO, ENOMEM. */
bd_status srv_persist_create(srv_app *app, bd_model *m);
/* Removes the model's directory (missing is fine). */
void srv_persist_remove(srv_app *app, const char *name);
/* Saves every model that changed since its last save (bd_model_changed);
 * logs failures. Returns the number saved. At clean shutdown and from the
 * --autosave-interval timer. */
int srv_persist_save_changed(srv_app *app);
/* Restores every model under data-dir/models into app->models, in
 * creation order; logs and skips broken ones. First removes (and logs)
 * the temporary files a crash during a save left in data-dir/files and in
 * each model directory (bd_afile_sweepat). Call it once at start, before
 * serving. Returns the number restored. */
int srv_persist_restore(srv_app *app);

/* Opens data-dir/<sub> ("files", "models", "models/<m>"; mkdir'd when
 * create) into *fd (caller closes). No level below the data directory may
 * be a symbolic link: EIO saying so (bd_dir_openat); ENOTFOUND when it
 * does not exist and !create; ENOSPACE when a full disk stops the mkdir. */
bd_status srv_data_open(srv_app *app, const char *sub, bool create, int *fd);
/* Start-up check: creates data-dir/files and data-dir/models and fails
 * (EIO naming it) when either is a symbolic link or not a directory. */
bd_status srv_data_check(srv_app *app);

/* POST /v1/models/{m}/save */
int srv_models_save(srv_req *r);

#endif
