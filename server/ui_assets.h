/* ui_assets.h - the web console's files (server/ui/), compiled into the
 * daemon as byte arrays by cmake/embed_files.cmake. */
#ifndef SRV_UI_ASSETS_H
#define SRV_UI_ASSETS_H

#include <stddef.h>

typedef struct srv_ui_file {
  const char *name; /* "app.js": a plain file name, no directories */
  const char *type; /* Content-Type */
  const char *etag; /* quoted digest of the bytes */
  const unsigned char *data;
  size_t len;
} srv_ui_file;

/* Every embedded file; ends with an entry whose name is NULL. */
extern const srv_ui_file srv_ui_files[];

#endif
