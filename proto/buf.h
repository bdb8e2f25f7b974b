/* buf.h - a growable byte buffer for encoders. */
#ifndef PROTO_BUF_H
#define PROTO_BUF_H

#include <stdbool.h>
#include <stddef.h>

typedef struct proto_buf {
  char *data;
  size_t len, cap;
  bool oom; /* set once an allocation failed; later appends are no-ops */
} proto_buf;

/* Appends n bytes. */
void proto_buf_put(proto_buf *b, const void *p, size_t n);
void proto_buf_puts(proto_buf *b, const char *s);
/* Room for n more bytes (plus a NUL) at the end: where to write them, or
 * NULL once an allocation failed. proto_buf_commit(b, k <= n) then adds
 * the k bytes written. Encoders print numbers straight into the buffer. */
char *proto_buf_reserve(proto_buf *b, size_t n);
void proto_buf_commit(proto_buf *b, size_t k);
void proto_buf_printf(proto_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Appends s as a JSON string literal (quotes and escapes); a byte that
 * does not start a well-formed UTF-8 sequence becomes \ufffd, so the
 * result is always valid UTF-8 JSON. */
void proto_buf_json_str(proto_buf *b, const char *s);
/* Hands the NUL-terminated data to the caller (who frees it) and resets
 * b; NULL when an allocation failed. */
char *proto_buf_take(proto_buf *b, size_t *len);
void proto_buf_free(proto_buf *b);

#endif
