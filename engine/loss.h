/* loss.h - the losses a backward pass starts from.
 *
 * A loss turns a model output y into a scalar and the gradient dL/dy that
 * the backward pass propagates. Definitions follow PyTorch:
 *   sum            L = y.sum()                      dy = 1
 *   mean           L = y.mean()                     dy = 1/n
 *   mse            L = ((y - t)^2).mean()           dy = 2 (y - t) / n
 *   cross_entropy  L = F.cross_entropy(y, t)        y [n, c] (or [c]) logits,
 *                  t [n] (or []) class indices      dy = (softmax(y) - 1_t)/n
 *   none           y.backward(g): the explicit output gradient g is dy; the
 *                  reported value is (y * g).sum(), the scalar whose
 *                  gradient g is.
 * Validation (bd_loss_check) is separate from computation so that callers
 * can reject a bad target before anything changes. */
#ifndef BD_LOSS_H
#define BD_LOSS_H

#include <stdbool.h>

#include "tensor.h"

typedef enum bd_loss_kind {
  BD_LOSS_SUM = 0,
  BD_LOSS_MEAN,
  BD_LOSS_MSE,
  BD_LOSS_CROSS_ENTROPY,
  BD_LOSS_NONE,
  BD_LOSS_COUNT
} bd_loss_kind;

/* Parses "sum", "mean", "mse", "cross_entropy", "none"; false when
 * unknown. */
bool bd_loss_parse(const char *name, bd_loss_kind *out);
/* The wire name of a loss kind ("mse"); "?" for an invalid one. */
const char *bd_loss_name(bd_loss_kind k);
/* Whether the loss needs a target (mse, cross_entropy) or an explicit
 * output gradient (none); sum and mean take neither. */
bool bd_loss_needs_target(bd_loss_kind k);

/* Checks that target suits output y for loss k, and prepares it: *prepared
 * (a new reference, on y's device) is the target as the computation wants
 * it: float32 of y's shape for mse and none, int64 class indices for
 * cross_entropy (float inputs holding whole numbers are accepted and
 * converted). target is borrowed and may live on any device; for sum and
 * mean it must be NULL and *prepared is NULL. Errors: EINVAL (missing or
 * unexpected target, class index out of range, non-integral class index),
 * ESHAPE (shape does not fit y), EDTYPE. Nothing else is touched. */
bd_status bd_loss_check(bd_loss_kind k, const bd_tensor *y,
                        const bd_tensor *target, bd_tensor **prepared);

/* Computes the loss value into *value and, when dy is not NULL, the
 * gradient dL/dy (a new reference of y's shape on y's device) into *dy.
 * target is the *prepared tensor of bd_loss_check (NULL for sum/mean).
 * y must be float32. Errors: ENOMEM/EDEVMEM, device errors. */
bd_status bd_loss_compute(bd_loss_kind k, bd_tensor *y, bd_tensor *target,
                          double *value, bd_tensor **dy);

#endif
