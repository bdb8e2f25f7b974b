/* panic.c - the always-on assertion failure path (see panic.h). */
#include "panic.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

void bd_panic_at(const char *file, int line, const char *fmt, ...) {
  char msg[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  /* One write of the whole line, so that concurrent threads' output does
   * not split it. */
  fprintf(stderr, "blockd: panic at %s:%d: %s\n", file, line, msg);
  fflush(stderr);
  abort();
}
