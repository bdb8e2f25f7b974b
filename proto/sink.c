/* sink.c - the memory and atomic-file sinks. */
#include "sink.h"

static bd_status proto__buf_write(void *ctx, const void *p, size_t n) {
  proto_buf *b = ctx;
  proto_buf_put(b, p, n);
  if (b->oom)
    return bd_fail(BD_ENOMEM, "out of host memory (%zu more bytes)", n);
  return BD_OK;
}

proto_sink proto_buf_sink(proto_buf *b) {
  return (proto_sink){proto__buf_write, b};
}

static bd_status proto__afile_write(void *ctx, const void *p, size_t n) {
  return bd_afile_write(ctx, p, n);
}

proto_sink proto_afile_sink(bd_afile *f) {
  return (proto_sink){proto__afile_write, f};
}
