/* log.c - leveled logging with UTC timestamps. */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <time.h>

static srv_log_level srv__level = SRV_LOG_INFO;

void srv_log_set_level(srv_log_level l) { srv__level = l; }
srv_log_level srv_log_get_level(void) { return srv__level; }

void srv_log(srv_log_level l, const char *fmt, ...) {
  static const char *const names[] = {"error", "warn", "info", "debug"};
  if (l > srv__level) return;
  char line[2048], ts[32];
  struct timespec now;
  struct tm tm;
  clock_gettime(CLOCK_REALTIME, &now);
  gmtime_r(&now.tv_sec, &tm);
  strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S", &tm);
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(line, sizeof line, fmt, ap);
  va_end(ap);
  fprintf(stderr, "%s.%03ldZ %s %s\n", ts, now.tv_nsec / 1000000, names[l],
          line);
}
