/* tfile.h - the value a tensor file holds, whatever its format: what
 * torch.load returns for the objects blockd saves (a tensor, a list of
 * tensors, a dict of tensors, or a state_dict), plus blockd's metadata.
 *
 * Codecs: engine/safetensors.h and engine/torchzip.h. Both fill and read a
 * bd_tfile; both refuse anything outside the formats' rules in
 * ../shared/FORMATS.md. */
#ifndef BD_TFILE_H
#define BD_TFILE_H

#include <stddef.h>

#include "tensor.h"

typedef enum bd_tfile_kind {
  BD_TFILE_TENSOR = 0, /* one tensor (names[0] is "tensor") */
  BD_TFILE_LIST,       /* names "0", "1", ... in order */
  BD_TFILE_DICT,       /* plain dict, insertion order */
  BD_TFILE_STATE_DICT  /* OrderedDict (a module's state_dict) */
} bd_tfile_kind;

typedef struct bd_tfile {
  bd_tfile_kind kind;
  size_t n, cap;
  char **names;        /* owned */
  bd_tensor **tensors; /* owned references (CPU) */
  char *spec;          /* block spec JSON text for state_dicts, or NULL */
} bd_tfile;

/* Limits every reader enforces (0 = default). */
typedef struct bd_tfile_limits {
  size_t max_tensors;     /* default 1,000,000 */
  int64_t max_elems;      /* per tensor, default BD_MAX_NUMEL */
  size_t max_total_bytes; /* sum of tensor bytes, default 64 GiB */
  /* Tensors whose bytes lie contiguous and aligned in the input point into
   * it instead of being copied (borrowed storage): the input must outlive
   * them. */
  bool borrow;
} bd_tfile_limits;

/* A CPU tensor over caller memory (borrowed: never freed by blockd). */
bd_status bd_tensor_wrap(void *data, bd_dtype dt, int ndim,
                         const int64_t *shape, bd_tensor **out);

/* Where encoders put bytes: an atomic file (engine/atomic_file.h) or
 * memory (bd_membuf). write returns BD_OK or a failure it recorded. */
typedef struct bd_sink {
  bd_status (*write)(void *ctx, const void *p, size_t n);
  void *ctx;
} bd_sink;

/* A growable memory buffer usable as a sink (bd_membuf_sink). */
typedef struct bd_membuf {
  char *data;
  size_t len, cap;
} bd_membuf;

bd_sink bd_membuf_sink(bd_membuf *b);
void bd_membuf_free(bd_membuf *b);

/* "tensor", "list", "dict", "state_dict". */
const char *bd_tfile_kind_name(bd_tfile_kind k);
/* Parses a kind name; false when unknown. */
bool bd_tfile_kind_parse(const char *s, bd_tfile_kind *out);

/* Appends (name copied, t retained). EINVAL on a duplicate name, ENOMEM. */
bd_status bd_tfile_add(bd_tfile *f, const char *name, bd_tensor *t);
/* Appends without the duplicate check (readers call
 * bd_tfile_check_unique once at the end instead: O(n log n)). */
bd_status bd_tfile_push(bd_tfile *f, const char *name, bd_tensor *t);
/* EFORMAT naming the first duplicate name, else OK. */
bd_status bd_tfile_check_unique(const bd_tfile *f);
/* Index of name or -1. */
long bd_tfile_find(const bd_tfile *f, const char *name);
/* Releases everything f owns and zeroes it; NULL-safe. */
void bd_tfile_clear(bd_tfile *f);

#endif
