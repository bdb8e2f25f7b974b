/* sink.h - where encoders put bytes: memory (a proto_buf) or an atomic
 * file (engine/atomic_file.h). Encoders stream through a sink so that a
 * multi-gigabyte checkpoint never needs a second copy in memory. */
#ifndef PROTO_SINK_H
#define PROTO_SINK_H

#include <stddef.h>

#include "../engine/atomic_file.h"
#include "../engine/status.h"
#include "buf.h"

/* write appends n bytes and returns BD_OK or a failure it recorded
 * (bd_fail). ctx is borrowed: the sink never frees it. */
typedef struct proto_sink {
  bd_status (*write)(void *ctx, const void *p, size_t n);
  void *ctx;
} proto_sink;

/* A sink appending to b (borrowed). ENOMEM when b cannot grow. */
proto_sink proto_buf_sink(proto_buf *b);
/* A sink appending to f's temporary file (borrowed; the caller commits or
 * aborts f). EIO naming the file. */
proto_sink proto_afile_sink(bd_afile *f);

#endif
