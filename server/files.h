/* files.h - helpers shared by the file, checkpoint and model routes. */
#ifndef SRV_FILES_H
#define SRV_FILES_H

#include "../proto/tformat.h"
#include "http.h"

/* Opens data-dir/files (created on demand) into *fd (caller closes);
 * errors as srv_data_open (persist.h). */
bd_status srv_files_dir_open(srv_app *app, int *fd);
/* Reader limits derived from the daemon's configuration. */
proto_tfile_limits srv_files_limits(srv_app *app);
/* Replies 400 and returns false unless name is a plain file name. */
bool srv_file_name_or_400(srv_req *r, const char *name);
/* A mapped file that borrowed tensors point into. */
typedef struct srv_fmap {
  void *data;
  size_t len;
} srv_fmap;

/* Parses data-dir/files/<name> into out (*fmt optional). With keep, the
 * file stays mapped and contiguous tensors point into it (no copy): call
 * srv_fmap_release(keep) after proto_tfile_clear(out). With keep NULL every
 * tensor is copied. ENOTFOUND, EINVAL (bad name), EFORMAT... with the file
 * name in the message. */
bd_status srv_files_load(srv_app *app, const char *name, proto_tfile *out,
                         proto_tformat *fmt, srv_fmap *keep);
void srv_fmap_release(srv_fmap *m);

/* GET /v1/models/{m}/state_dict?format=safetensors|torch (routes_params.c
 * hands over when format is given). */
int srv_state_dict_download(srv_req *r);

#endif
