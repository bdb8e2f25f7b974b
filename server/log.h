/* log.h - leveled logging, one line per event, as text or JSON lines, to
 * stderr or to a file that SIGHUP reopens (logrotate's convention). */
#ifndef SRV_LOG_H
#define SRV_LOG_H

#include <stdint.h>

#include "config.h"

void srv_log_set_level(srv_log_level l);
srv_log_level srv_log_get_level(void);

/* Sends every later line to path (appended, created 0644, close-on-exec)
 * in format fmt; path NULL keeps stderr. Returns 0, or -1 with a message
 * on stderr when the file cannot be opened. Call once, from main, before
 * other threads log. */
int srv_log_open(const char *path, srv_log_format fmt);
/* Opens the --log-file path again and swaps it in under the same
 * descriptor, so that lines written from now on go to the file now at
 * that path (logrotate renames the old one, then sends SIGHUP). Lines in
 * flight land in one file or the other, whole. Returns 0; -1 when the
 * file cannot be opened (logged; the old file stays in use); 0 as well
 * when logging goes to stderr (nothing to reopen). */
int srv_log_reopen(void);
/* The --log-file path, or NULL when logging goes to stderr. */
const char *srv_log_path(void);

/* A message: "TS LEVEL text" or {"ts","level","msg"}. */
void srv_log(srv_log_level l, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* One field of a structured event. */
typedef enum srv_log_kind {
  SRV_LOG_STR, /* s */
  SRV_LOG_INT, /* i */
  SRV_LOG_MS,  /* d, milliseconds printed with 3 decimals */
  SRV_LOG_BOOL /* i != 0 */
} srv_log_kind;

typedef struct srv_log_field {
  const char *key; /* a plain word: [a-z_] */
  srv_log_kind kind;
  const char *s; /* borrowed; any bytes (escaped on output) */
  int64_t i;
  double d;
} srv_log_field;

/* A structured event: msg then the fields, as "TS LEVEL msg key=value ..."
 * (a value holding a space, quote, '=', backslash or a byte that is not
 * printable UTF-8 is quoted, with \", \\ and \xHH escapes) or as one JSON
 * object per line {"ts","level","msg",key:value,...} whose strings are
 * valid UTF-8 JSON whatever bytes the fields hold. */
void srv_log_event(srv_log_level l, const char *msg, const srv_log_field *f,
                   int nf);

#endif
