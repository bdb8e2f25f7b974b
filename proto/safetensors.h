/* safetensors.h - the safetensors format (FORMATS.md §1, §4.1).
 *
 * Writer: as the reference prepare() does - tensors sorted by dtype
 * descending then name, packed from offset 0, compact JSON with
 * __metadata__ first, header padded with spaces to a multiple of 8.
 * __metadata__ always carries "format":"pt" and "blockd.kind" (tensor /
 * list / dict / state_dict), plus "blockd.spec" (the block spec JSON) when
 * the file holds a model's state_dict, plus any extra pairs given.
 *
 * Reader: enforces every rule of FORMATS.md §1 and §4.1 (header size,
 * UTF-8, no duplicate keys, exact entry fields, known dtype, rank <= 8,
 * overflow-checked sizes, contiguous offsets from 0 covering the buffer to
 * the last byte). Tensor bytes are copied into new CPU tensors. */
#ifndef PROTO_SAFETENSORS_H
#define PROTO_SAFETENSORS_H

#include <cjson/cJSON.h>
#include <stddef.h>

#include "tfile.h"

#define PROTO_ST_MAX_HEADER 100000000u

/* Writes f to sink. extra is NULL or a NULL-terminated list of key,value
 * string pairs added to __metadata__. Errors: whatever the sink returns,
 * EUNSUPPORTED for non-CPU tensors, ENOMEM. */
bd_status proto_safetensors_write(const proto_tfile *f,
                                  const char *const *extra, proto_sink sink);

/* Parses a safetensors image into out (kind from blockd.kind, else dict;
 * out->spec from blockd.spec). *meta, when meta is not NULL, receives the
 * __metadata__ object (caller frees; NULL when absent). lim may be NULL.
 * Errors: EFORMAT naming the rule broken, EUNSUPPORTED for dtypes blockd
 * has no tensors for (I32, U8, BOOL, ...), ELIMIT, ENOMEM. */
bd_status proto_safetensors_read(const void *data, size_t len,
                                 const proto_tfile_limits *lim,
                                 proto_tfile *out, cJSON **meta);

/* Whether data starts like a safetensors file (8-byte length then '{'
 * after optional spaces) - a sniff, not a validation. */
bool proto_safetensors_sniff(const void *data, size_t len);

#endif
