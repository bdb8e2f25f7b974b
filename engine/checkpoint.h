/* checkpoint.h - a model's state_dict as named tensors (export), and
 * loading named tensors back (PyTorch's load_state_dict) with a typed
 * report of what did not fit. File formats and the report's JSON live in
 * proto/ (proto/tformat.h, proto/checkpoint_json.h).
 *
 * Callers hold the model's lock: a read lock to export, a write lock to
 * load. */
#ifndef BD_CHECKPOINT_H
#define BD_CHECKPOINT_H

#include <stdbool.h>

#include "model.h"
#include "named_tensors.h"

/* Momentum buffers ride along in blockd's own persistence under this
 * prefix (never in user-facing state_dict files). */
#define BD_CKPT_MOMENTUM_PREFIX "__blockd_momentum__."

/* Fills out (zeroed first) with host copies of the state_dict entries in
 * state_dict() order; tied entries share one host tensor. with_optim adds
 * each momentum buffer under BD_CKPT_MOMENTUM_PREFIX + path. Errors:
 * ENOMEM, the device copy's errors; on failure out is empty. */
bd_status bd_checkpoint_export(bd_model *m, bool with_optim,
                               bd_named_tensors *out);

/* A key whose tensor has another shape than the model's. */
typedef struct bd_load_mismatch {
  char *key; /* owned */
  int expected_ndim, got_ndim;
  int64_t expected[BD_MAX_DIMS], got[BD_MAX_DIMS];
} bd_load_mismatch;

/* What load_state_dict found, in the model's state_dict order (missing,
 * mismatched) and the input's order (unexpected). loaded counts the
 * tensors applied (0 after a failure). Zero-initialise; free with
 * bd_load_report_free. */
typedef struct bd_load_report {
  char **missing; /* owned strings */
  size_t nmissing;
  char **unexpected; /* owned strings */
  size_t nunexpected;
  bd_load_mismatch *mismatched;
  size_t nmismatched;
  int loaded;
} bd_load_report;

/* Releases everything r owns and zeroes it; NULL-safe. */
void bd_load_report_free(bd_load_report *r);

/* load_state_dict: matches f's entries to the model's state_dict keys and
 * fills *report (zeroed first; the caller frees it with
 * bd_load_report_free in every case) with every missing key, unexpected
 * key and shape mismatch. strict: any of those fails with EINVAL (the
 * message lists them) and nothing changes; *report still holds them then,
 * for the caller to return as structured fields. Non-strict: matching
 * keys are applied, the rest reported. Values are converted to the
 * parameter's dtype (float32) and device. Momentum entries
 * (BD_CKPT_MOMENTUM_PREFIX) are restored when with_optim, else reported
 * as unexpected. Other errors (EDTYPE, ENOMEM, device copy errors; a
 * conversion failure leaves the model unchanged) leave *report empty, so
 * a non-empty report after a failure is the strict one. */
bd_status bd_checkpoint_load(bd_model *m, const bd_named_tensors *f,
                             bool strict, bool with_optim,
                             bd_load_report *report);

#endif
