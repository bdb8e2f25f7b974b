/* watch.h - read replicas follow a shared checkpoint (--watch NAME=FILE).
 *
 * libuv polls each watched file (uv_fs_poll: stat every
 * --watch-interval, which works on shared and network volumes where
 * inotify does not). When the file changes - a writer replaced it, best by
 * writing a temporary file and renaming it over - the reload runs on
 * libuv's pool: the file is parsed and checked in full first, then
 * bd_model_load copies it into the model under the model's write lock.
 * Requests in flight hold the read lock, so every forward sees the whole
 * old state or the whole new one, never a mix and never an error; a file
 * that does not load leaves the old state serving and is logged. A model
 * that does not exist yet is created from the file (a checkpoint blockd
 * saved records its block spec). */
#ifndef SRV_WATCH_H
#define SRV_WATCH_H

#include <uv.h>

#include "http.h"

/* Starts polling every --watch entry of app->cfg and loads each file once
 * now. Returns 0, or -1 with a message on stderr. */
int srv_watch_start(srv_app *app, uv_loop_t *loop);

#endif
