/* param_edit.h - in-place edits of one parameter: what PyTorch users do
 * with `w.data[:] += 1`, `w.data *= t`, `w.data.fill_(0)`,
 * `w.data[0, 0] = 42`, `w.data.clamp_(-1, 1)` and `w.data[:] = t`.
 *
 * Every edit is split into a check (shapes, indices, dtypes: nothing
 * changes) and an apply that runs one backend op, so a caller holding the
 * model's write lock can validate a whole request before touching it. */
#ifndef BD_PARAM_EDIT_H
#define BD_PARAM_EDIT_H

#include <stdbool.h>
#include <stdint.h>

#include "block.h"

typedef enum bd_edit_op {
  BD_EDIT_ADD = 0, /* w += value (scalar or same-shape tensor) */
  BD_EDIT_MUL,     /* w *= value (scalar or same-shape tensor) */
  BD_EDIT_FILL,    /* w[:] = value (scalar) */
  BD_EDIT_SET,     /* w[index] = value: a full index and a scalar, or an
                      index prefix and a scalar or a tensor of the slice's
                      shape */
  BD_EDIT_CLAMP,   /* w = clamp(w, min, max); either bound optional */
  BD_EDIT_OP_COUNT
} bd_edit_op;

typedef struct bd_param_edit {
  bd_edit_op op;
  double value;      /* the scalar when tensor is NULL */
  bd_tensor *tensor; /* borrowed; any device, any numeric dtype */
  int nindex;        /* SET: 0..ndim indices (negative count from the end) */
  int64_t index[BD_MAX_DIMS];
  bool has_min, has_max;
  double min, max;
} bd_param_edit;

/* "add", "mul", "fill", "set", "clamp" -> op; false when unknown. */
bool bd_edit_op_parse(const char *s, bd_edit_op *out);
const char *bd_edit_op_name(bd_edit_op op);

/* Checks that e can be applied to p (named `name` in messages): index in
 * range (EINVAL), tensor shape (ESHAPE), a clamp with a bound, a float32
 * parameter. Changes nothing. */
bd_status bd_param_edit_check(const bd_param_edit *e, const bd_param *p,
                              const char *name);

/* Applies a checked edit to p's value in place. */
bd_status bd_param_edit_apply(const bd_param_edit *e, bd_param *p);

/* Checks that src can replace p's value: same shape and dtype exactly
 * (ESHAPE / EDTYPE naming `name`). */
bd_status bd_param_replace_check(const bd_param *p, const bd_tensor *src,
                                 const char *name);
/* Copies src (any device) into p's value; call the check first. */
bd_status bd_param_replace(bd_param *p, const bd_tensor *src);

#endif
