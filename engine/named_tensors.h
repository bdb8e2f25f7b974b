/* named_tensors.h - an ordered list of (name, tensor) pairs: what a
 * model's state_dict is when it leaves the engine (checkpoint export) and
 * what comes back in (checkpoint load). No file format lives here; the
 * codecs in proto/ wrap this list with a file kind and metadata. */
#ifndef BD_NAMED_TENSORS_H
#define BD_NAMED_TENSORS_H

#include <stddef.h>

#include "tensor.h"

/* Zero-initialise ({0}) before use; bd_named_tensors_clear releases. */
typedef struct bd_named_tensors {
  size_t n, cap;
  char **names;        /* owned copies */
  bd_tensor **tensors; /* owned references */
} bd_named_tensors;

/* Appends (name copied, t retained). EINVAL on a duplicate name, ENOMEM. */
bd_status bd_named_tensors_add(bd_named_tensors *l, const char *name,
                               bd_tensor *t);
/* Appends without the duplicate check (readers call
 * bd_named_tensors_check_unique once at the end instead: O(n log n)).
 * ENOMEM leaves l as it was. */
bd_status bd_named_tensors_push(bd_named_tensors *l, const char *name,
                                bd_tensor *t);
/* EFORMAT naming the first duplicate name (in sorted order), else OK;
 * ENOMEM. */
bd_status bd_named_tensors_check_unique(const bd_named_tensors *l);
/* Index of name or -1 (a linear scan). */
long bd_named_tensors_find(const bd_named_tensors *l, const char *name);
/* Releases everything l owns and zeroes it; NULL-safe. */
void bd_named_tensors_clear(bd_named_tensors *l);

#endif
