/* tfile.h - the value a tensor file holds, whatever its format: what
 * torch.load returns for the objects blockd saves (a tensor, a list of
 * tensors, a dict of tensors, or a state_dict), plus blockd's metadata.
 *
 * The tensors themselves are an engine bd_named_tensors list (what
 * checkpoint export produces and checkpoint load takes); a tfile adds the
 * file's kind and the block spec a state_dict file carries.
 *
 * Codecs: proto/safetensors.h and proto/torchzip.h, dispatched by
 * proto/tformat.h. Both fill and read a proto_tfile; both refuse anything
 * outside the formats' rules in ../shared/FORMATS.md. */
#ifndef PROTO_TFILE_H
#define PROTO_TFILE_H

#include <stdbool.h>
#include <stddef.h>

#include "../engine/named_tensors.h"
#include "sink.h"

typedef enum proto_tfile_kind {
  PROTO_TFILE_TENSOR = 0, /* one tensor (names[0] is "tensor") */
  PROTO_TFILE_LIST,       /* names "0", "1", ... in order */
  PROTO_TFILE_DICT,       /* plain dict, insertion order */
  PROTO_TFILE_STATE_DICT  /* OrderedDict (a module's state_dict) */
} proto_tfile_kind;

/* Zero-initialise ({0}) before filling; proto_tfile_clear releases. */
typedef struct proto_tfile {
  proto_tfile_kind kind;
  bd_named_tensors list; /* the tensors in file order (owned; CPU) */
  char *spec;            /* block spec JSON text for state_dicts, or NULL */
} proto_tfile;

/* Limits every reader enforces (0 = default). */
typedef struct proto_tfile_limits {
  size_t max_tensors;     /* default 1,000,000 */
  int64_t max_elems;      /* per tensor, default BD_MAX_NUMEL */
  size_t max_total_bytes; /* sum of tensor bytes, default 64 GiB */
  /* Tensors whose bytes lie contiguous and aligned in the input point into
   * it instead of being copied (borrowed storage): the input must outlive
   * them. */
  bool borrow;
} proto_tfile_limits;

/* "tensor", "list", "dict", "state_dict"; "unknown" out of range. */
const char *proto_tfile_kind_name(proto_tfile_kind k);
/* Parses a kind name; false when unknown (or s is NULL). */
bool proto_tfile_kind_parse(const char *s, proto_tfile_kind *out);

/* Releases everything f owns and zeroes it; NULL-safe. */
void proto_tfile_clear(proto_tfile *f);

#endif
