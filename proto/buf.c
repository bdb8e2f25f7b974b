/* buf.c - growable byte buffer. */
#include "buf.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../engine/names.h"

static bool grow(proto_buf *b, size_t extra) {
  if (b->oom) return false;
  if (extra >= SIZE_MAX / 2 - b->len) { /* the doubling below would wrap */
    b->oom = true;
    return false;
  }
  if (b->len + extra + 1 <= b->cap) return true;
  size_t cap = b->cap ? b->cap : 256;
  while (cap < b->len + extra + 1) cap *= 2;
  char *d = realloc(b->data, cap);
  if (!d) {
    b->oom = true;
    return false;
  }
  b->data = d;
  b->cap = cap;
  return true;
}

void proto_buf_put(proto_buf *b, const void *p, size_t n) {
  if (!grow(b, n)) return;
  if (n) memcpy(b->data + b->len, p, n);
  b->len += n;
  b->data[b->len] = '\0';
}

char *proto_buf_reserve(proto_buf *b, size_t n) {
  return grow(b, n) ? b->data + b->len : NULL;
}

void proto_buf_commit(proto_buf *b, size_t k) {
  b->len += k;
  b->data[b->len] = '\0';
}

void proto_buf_puts(proto_buf *b, const char *s) {
  proto_buf_put(b, s, strlen(s));
}

void proto_buf_printf(proto_buf *b, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  if (n < 0 || !grow(b, (size_t)n)) return;
  va_start(ap, fmt);
  vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
  va_end(ap);
  b->len += (size_t)n;
}

void proto_buf_json_str(proto_buf *b, const char *s) {
  proto_buf_put(b, "\"", 1);
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    if (*p == '"' || *p == '\\') {
      char e[2] = {'\\', (char)*p};
      proto_buf_put(b, e, 2);
    } else if (*p < 0x20) {
      proto_buf_printf(b, "\\u%04x", *p);
    } else if (*p >= 0x80) {
      /* Names are validated on the way in; bytes from elsewhere (a file's
       * keys, a message) that are not UTF-8 become U+FFFD, so the reply
       * stays valid JSON. */
      const char *c = (const char *)p;
      size_t k = bd_utf8_seq_len(c, strnlen(c, 4));
      if (k) {
        proto_buf_put(b, p, k);
        p += k - 1;
      } else {
        proto_buf_puts(b, "\\ufffd");
      }
    } else {
      proto_buf_put(b, p, 1);
    }
  }
  proto_buf_put(b, "\"", 1);
}

char *proto_buf_take(proto_buf *b, size_t *len) {
  if (b->oom) {
    proto_buf_free(b);
    return NULL;
  }
  if (!b->data) grow(b, 0);
  if (b->oom) return NULL;
  char *d = b->data;
  if (len) *len = b->len;
  b->data = NULL;
  b->len = b->cap = 0;
  return d;
}

void proto_buf_free(proto_buf *b) {
  free(b->data);
  b->data = NULL;
  b->len = b->cap = 0;
  b->oom = false;
}
