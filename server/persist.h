/* persist.h - models survive restarts: data-dir/models/<name>/spec.json
 * ({"block":spec,"seed":..,"device":..,"mode":..}) and state.safetensors
 * (state_dict + SGD momentum buffers + step count), both replaced
 * atomically. Written when a model is created or loaded, on
 * POST /v1/models/{m}/save and on clean shutdown; restored at start. */
#ifndef SRV_PERSIST_H
#define SRV_PERSIST_H

#include "http.h"

/* Saves m (takes its read lock). Errors: EIO, ENOMEM; ENOTFOUND when m
 * is no longer the model registered under its name (deleted). */
bd_status srv_persist_save(srv_app *app, bd_model *m);
/* Removes the model's directory (missing is fine). */
void srv_persist_remove(srv_app *app, const char *name);
/* Saves every model; logs failures. */
void srv_persist_save_all(srv_app *app);
/* Restores every model under data-dir/models into app->models; logs and
 * skips broken ones. Returns the number restored. */
int srv_persist_restore(srv_app *app);

/* data-dir/<sub> into buf (mkdir'd when create). false when too long. */
bool srv_data_path(srv_app *app, const char *sub, bool create, char *buf,
                   size_t n);

/* POST /v1/models/{m}/save */
int srv_models_save(srv_req *r);

#endif
