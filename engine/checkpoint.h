/* checkpoint.h - a model's state_dict as a tensor file, and loading one
 * back (PyTorch's load_state_dict), plus format sniffing.
 *
 * Callers hold the model's lock: a read lock to export, a write lock to
 * load. */
#ifndef BD_CHECKPOINT_H
#define BD_CHECKPOINT_H

#include <cjson/cJSON.h>
#include <stdbool.h>

#include "model.h"
#include "tfile.h"

typedef enum bd_tformat {
  BD_TFORMAT_SAFETENSORS = 0,
  BD_TFORMAT_TORCH
} bd_tformat;

/* "safetensors" / "torch". */
const char *bd_tformat_name(bd_tformat f);
bool bd_tformat_parse(const char *s, bd_tformat *out);

/* Momentum buffers ride along in blockd's own persistence under this
 * prefix (never in user-facing state_dict files). */
#define BD_CKPT_MOMENTUM_PREFIX "__blockd_momentum__."

/* Fills out (kind state_dict, spec = the model's block spec) with host
 * copies of the state_dict entries in state_dict() order; with_optim adds
 * each momentum buffer under BD_CKPT_MOMENTUM_PREFIX + path. */
bd_status bd_checkpoint_export(bd_model *m, bool with_optim, bd_tfile *out);

/* Parses a safetensors or torch zip image (sniffed); *fmt (optional)
 * receives which. EFORMAT when it is neither. */
bd_status bd_tfile_parse(const void *data, size_t len,
                         const bd_tfile_limits *lim, bd_tfile *out,
                         bd_tformat *fmt);
/* Encodes f in format fmt to sink (prefix names torch archives). */
bd_status bd_tfile_encode(const bd_tfile *f, bd_tformat fmt, const char *prefix,
                          const char *const *extra, bd_sink sink);

/* load_state_dict: matches f's entries to the model's state_dict keys.
 * Every missing key, unexpected key and shape mismatch is collected into
 * *report ({"missing_keys":[...],"unexpected_keys":[...],
 * "mismatched_keys":[{"key","expected","got"}],"loaded":n}, caller frees).
 * strict: any of those fails with EINVAL (message lists them) and nothing
 * changes; *report still receives the report then, for the caller to
 * return as structured fields (caller frees it in every case). Non-strict: matching keys are applied, the rest reported.
 * Values are converted to the parameter's dtype (float32) and device.
 * Momentum entries (BD_CKPT_MOMENTUM_PREFIX) are restored when
 * with_optim, else reported as unexpected. */
bd_status bd_checkpoint_load(bd_model *m, const bd_tfile *f, bool strict,
                             bool with_optim, cJSON **report);

#endif
