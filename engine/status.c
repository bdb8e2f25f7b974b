/* status.c - status codes and the thread-local error message. */
#include "status.h"

#include <stdio.h>
#include <string.h>

static _Thread_local char bd__errbuf[1024];

static const char *const bd__codes[] = {
#define XX(n, h, c, m) c,
    BD_STATUS_MAP(XX)
#undef XX
};

static const char *const bd__msgs[] = {
#define XX(n, h, c, m) m,
    BD_STATUS_MAP(XX)
#undef XX
};

static const unsigned short bd__http[] = {
#define XX(n, h, c, m) h,
    BD_STATUS_MAP(XX)
#undef XX
};

unsigned bd_status_http(bd_status s) {
  if ((unsigned)s >= BD_STATUS_COUNT) return 500;
  return bd__http[s];
}

const char *bd_status_code(bd_status s) {
  if ((unsigned)s >= BD_STATUS_COUNT) return "internal";
  return bd__codes[s];
}

bd_status bd_fail(bd_status s, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(bd__errbuf, sizeof bd__errbuf, fmt, ap);
  va_end(ap);
  return s;
}

bd_status bd_fail_prefix(bd_status s, const char *fmt, ...) {
  char prefix[256], old[sizeof bd__errbuf];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(prefix, sizeof prefix, fmt, ap);
  va_end(ap);
  memcpy(old, bd__errbuf, sizeof old);
  size_t n = strlen(prefix);
  if (n >= sizeof bd__errbuf) n = sizeof bd__errbuf - 1;
  memcpy(bd__errbuf, prefix, n);
  size_t m = strlen(old);
  if (m > sizeof bd__errbuf - 1 - n) m = sizeof bd__errbuf - 1 - n;
  memcpy(bd__errbuf + n, old, m);
  bd__errbuf[n + m] = '\0';
  return s;
}

const char *bd_errmsg(void) {
  if (bd__errbuf[0] == '\0') return "";
  return bd__errbuf;
}

void bd_errclear(void) { bd__errbuf[0] = '\0'; }

const char *bd_status_message(bd_status s) {
  if ((unsigned)s >= BD_STATUS_COUNT) return "internal error";
  return bd__msgs[s];
}
