/* log.c - leveled logging with UTC timestamps, as text or JSON lines. */
/* dup3: swap the reopened log file in with close-on-exec set atomically. */
#define _GNU_SOURCE
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../engine/names.h"
#include "../proto/buf.h"

static srv_log_level srv__level = SRV_LOG_INFO;
static srv_log_format srv__format = SRV_LOG_FORMAT_TEXT;
/* Every line is one write(2) to this descriptor. With --log-file it is
 * the file's, and a reopen dup3()s the new file onto the same number, so
 * writers never see a closed or half-swapped descriptor. */
static int srv__fd = 2;
static char *srv__path;

static const char *const level_names[] = {"error", "warn", "info", "debug"};

void srv_log_set_level(srv_log_level l) { srv__level = l; }
srv_log_level srv_log_get_level(void) { return srv__level; }
const char *srv_log_path(void) { return srv__path; }

static int open_log(const char *path) {
  return open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
}

int srv_log_open(const char *path, srv_log_format fmt) {
  srv__format = fmt;
  if (!path) return 0;
  int fd = open_log(path);
  if (fd < 0) {
    fprintf(stderr, "blockd: cannot open --log-file %s: %s\n", path,
            strerror(errno));
    return -1;
  }
  free(srv__path);
  srv__path = strdup(path);
  if (!srv__path) {
    close(fd);
    fprintf(stderr, "blockd: out of memory\n");
    return -1;
  }
  srv__fd = fd;
  return 0;
}

int srv_log_reopen(void) {
  if (!srv__path) return 0;
  int fd = open_log(srv__path);
  if (fd < 0) {
    srv_log(SRV_LOG_ERROR,
            "cannot reopen --log-file %s: %s (still logging "
            "to the old file)",
            srv__path, strerror(errno));
    return -1;
  }
  int rc = dup3(fd, srv__fd, O_CLOEXEC);
  int err = errno;
  close(fd);
  if (rc < 0) {
    srv_log(SRV_LOG_ERROR, "cannot reopen --log-file %s: %s", srv__path,
            strerror(err));
    return -1;
  }
  return 0;
}

static void put_time(proto_buf *b) {
  char ts[32];
  struct timespec now;
  struct tm tm;
  clock_gettime(CLOCK_REALTIME, &now);
  gmtime_r(&now.tv_sec, &tm);
  strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S", &tm);
  proto_buf_printf(b, "%s.%03ldZ", ts, now.tv_nsec / 1000000);
}

/* A text value: raw when it is one plain token, else quoted with \" \\
 * and \xHH for control bytes and bytes that are not UTF-8. */
static void put_text_value(proto_buf *b, const char *s) {
  bool plain = *s != '\0';
  for (const unsigned char *p = (const unsigned char *)s; plain && *p; p++)
    plain = *p > 0x20 && *p < 0x7f && *p != '"' && *p != '=' && *p != '\\';
  if (plain) {
    proto_buf_puts(b, s);
    return;
  }
  proto_buf_put(b, "\"", 1);
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    if (*p == '"' || *p == '\\') {
      char e[2] = {'\\', (char)*p};
      proto_buf_put(b, e, 2);
    } else if (*p < 0x20 || *p == 0x7f) {
      proto_buf_printf(b, "\\x%02x", *p);
    } else if (*p >= 0x80) {
      const char *c = (const char *)p;
      size_t k = bd_utf8_seq_len(c, strnlen(c, 4));
      if (k) {
        proto_buf_put(b, p, k);
        p += k - 1;
      } else {
        proto_buf_printf(b, "\\x%02x", *p);
      }
    } else {
      proto_buf_put(b, p, 1);
    }
  }
  proto_buf_put(b, "\"", 1);
}

/* Writes the line in b (a newline is added) with one write(2); a line
 * that cannot be built is dropped rather than half written. */
static void emit(proto_buf *b) {
  proto_buf_put(b, "\n", 1);
  size_t len;
  char *line = proto_buf_take(b, &len);
  for (size_t off = 0; line && off < len;) {
    ssize_t n = write(srv__fd, line + off, len - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    off += (size_t)n;
  }
  free(line);
}

static void begin(proto_buf *b, srv_log_level l, const char *msg) {
  if (srv__format == SRV_LOG_FORMAT_JSON) {
    proto_buf_puts(b, "{\"ts\":\"");
    put_time(b);
    proto_buf_printf(b, "\",\"level\":\"%s\",\"msg\":", level_names[l]);
    proto_buf_json_str(b, msg);
  } else {
    put_time(b);
    proto_buf_printf(b, " %s ", level_names[l]);
    /* A message is free text: only control bytes are escaped, so that
     * one event stays one line. */
    for (const unsigned char *p = (const unsigned char *)msg; *p; p++)
      if (*p < 0x20 || *p == 0x7f)
        proto_buf_printf(b, "\\x%02x", *p);
      else
        proto_buf_put(b, p, 1);
  }
}

void srv_log(srv_log_level l, const char *fmt, ...) {
  if (l > srv__level) return;
  char msg[2048];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  proto_buf b = {0};
  begin(&b, l, msg);
  if (srv__format == SRV_LOG_FORMAT_JSON) proto_buf_put(&b, "}", 1);
  emit(&b);
}

void srv_log_event(srv_log_level l, const char *msg, const srv_log_field *f,
                   int nf) {
  if (l > srv__level) return;
  bool json = srv__format == SRV_LOG_FORMAT_JSON;
  proto_buf b = {0};
  begin(&b, l, msg);
  for (int i = 0; i < nf; i++) {
    if (json)
      proto_buf_printf(&b, ",\"%s\":", f[i].key);
    else
      proto_buf_printf(&b, " %s=", f[i].key);
    switch (f[i].kind) {
      case SRV_LOG_STR:
        if (json)
          proto_buf_json_str(&b, f[i].s ? f[i].s : "");
        else
          put_text_value(&b, f[i].s ? f[i].s : "");
        break;
      case SRV_LOG_INT:
        proto_buf_printf(&b, "%lld", (long long)f[i].i);
        break;
      case SRV_LOG_MS:
        proto_buf_printf(&b, "%.3f", f[i].d);
        break;
      case SRV_LOG_BOOL:
        proto_buf_puts(&b, f[i].i ? "true" : "false");
        break;
    }
  }
  if (json) proto_buf_put(&b, "}", 1);
  emit(&b);
}
