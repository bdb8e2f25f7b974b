/* tformat.c - format names, sniffing and codec dispatch. */
#include "tformat.h"

#include <string.h>

#include "safetensors.h"
#include "torchzip.h"

const char *proto_tformat_name(proto_tformat f) {
  return f == PROTO_TFORMAT_TORCH ? "torch" : "safetensors";
}

bool proto_tformat_parse(const char *s, proto_tformat *out) {
  if (!s) return false;
  if (strcmp(s, "safetensors") == 0)
    *out = PROTO_TFORMAT_SAFETENSORS;
  else if (strcmp(s, "torch") == 0 || strcmp(s, "pt") == 0)
    *out = PROTO_TFORMAT_TORCH;
  else
    return false;
  return true;
}

bd_status proto_tfile_parse(const void *data, size_t len,
                            const proto_tfile_limits *lim, proto_tfile *out,
                            proto_tformat *fmt) {
  memset(out, 0, sizeof *out);
  if (proto_torchzip_sniff(data, len)) {
    if (fmt) *fmt = PROTO_TFORMAT_TORCH;
    return proto_torchzip_read(data, len, lim, out);
  }
  if (fmt) *fmt = PROTO_TFORMAT_SAFETENSORS;
  if (len >= 8 && !proto_safetensors_sniff(data, len))
    return bd_fail(BD_EFORMAT,
                   "not a safetensors file or a torch.save zip "
                   "archive (no zip signature, no JSON header)");
  return proto_safetensors_read(data, len, lim, out, NULL);
}

bd_status proto_tfile_encode(const proto_tfile *f, proto_tformat fmt,
                             const char *prefix, const char *const *extra,
                             proto_sink sink) {
  return fmt == PROTO_TFORMAT_TORCH ? proto_torchzip_write(f, prefix, sink)
                                    : proto_safetensors_write(f, extra, sink);
}
