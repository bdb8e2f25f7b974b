/* tformat.h - which tensor-file format a file is in: names, sniffing, and
 * the parse / encode dispatch over proto/safetensors.h and
 * proto/torchzip.h. */
#ifndef PROTO_TFORMAT_H
#define PROTO_TFORMAT_H

#include <stdbool.h>
#include <stddef.h>

#include "tfile.h"

typedef enum proto_tformat {
  PROTO_TFORMAT_SAFETENSORS = 0,
  PROTO_TFORMAT_TORCH
} proto_tformat;

/* "safetensors" / "torch". */
const char *proto_tformat_name(proto_tformat f);
/* "safetensors", "torch" or "pt"; false otherwise (or for NULL). */
bool proto_tformat_parse(const char *s, proto_tformat *out);

/* Parses a safetensors or torch zip image (sniffed) into out (zeroed
 * first; caller clears it with proto_tfile_clear in every case). *fmt
 * (optional) receives which. lim may be NULL. EFORMAT when it is neither,
 * else the codec's errors. */
bd_status proto_tfile_parse(const void *data, size_t len,
                            const proto_tfile_limits *lim, proto_tfile *out,
                            proto_tformat *fmt);
/* Encodes f in format fmt to sink: prefix names the entries of torch
 * archives, extra (NULL-terminated key, value pairs, or NULL) goes into
 * the __metadata__ of safetensors files. */
bd_status proto_tfile_encode(const proto_tfile *f, proto_tformat fmt,
                             const char *prefix, const char *const *extra,
                             proto_sink sink);

#endif
