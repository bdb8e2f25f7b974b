/* train.h - backward passes, gradients and the SGD optimiser of a model.
 *
 * Gradients follow PyTorch: param->grad is NULL (None) until a backward
 * pass touches the parameter, backward passes accumulate into it, a tied
 * parameter (one bd_param held by two blocks) receives the sum over its
 * uses, zero_grad sets grads back to NULL (set_to_none=True), and frozen
 * parameters (requires_grad false) and buffers never receive a gradient.
 *
 * Every call here takes the model's write lock itself and is atomic: on
 * any error no gradient, parameter value or optimiser state has changed. */
#ifndef BD_TRAIN_H
#define BD_TRAIN_H

#include <stdbool.h>
#include <stdint.h>

#include "block.h"
#include "loss.h"
#include "model.h"

/* One backward call: loss(model(x)).backward().
 *
 * Runs the forward pass in the model's current mode (train: dropout
 * active) recording activations in a per-call arena, checks target against
 * the output (bd_loss_check) before any gradient changes, computes the loss
 * and propagates dL/dy from the root, accumulating into each parameter's
 * grad. target is the loss target (mse, cross_entropy) or the explicit
 * output gradient (none); NULL for sum and mean. x and target are borrowed
 * and may live on any device (moved to the model's). On success *loss
 * holds the loss value and, when outputs is not NULL, *outputs a new host
 * reference to the model output. Errors: EINVAL (bad target / loss), ESHAPE,
 * EDTYPE, ENOGRAD (a block on the gradient path has no backward and the
 * gradient is needed: it or something before it has a parameter that
 * requires grad), ENOMEM/EDEVMEM, device errors; the model's RNG offset is
 * also restored on error. */
bd_status bd_model_backward(bd_model *m, bd_tensor *x, bd_loss_kind loss,
                            bd_tensor *target, double *loss_value,
                            bd_tensor **outputs);

/* Sets every parameter's grad to NULL; *cleared (may be NULL) receives how
 * many parameters had one. Never fails. */
void bd_model_zero_grad(bd_model *m, int64_t *cleared);

/* torch.optim.SGD's hyper-parameters. */
typedef struct bd_sgd_opts {
  double lr;
  double momentum;
  double dampening;
  double weight_decay;
  bool nesterov;
} bd_sgd_opts;

/* Checks opts as torch.optim.SGD does: lr, momentum, weight_decay >= 0 and
 * finite, nesterov needs momentum > 0 and dampening 0. EINVAL naming the
 * field. */
bd_status bd_sgd_opts_check(const bd_sgd_opts *o);

/* One torch.optim.SGD step over every parameter that requires grad and has
 * one (parameters with grad None are skipped, as in PyTorch):
 *   g = grad + weight_decay * p
 *   momentum != 0: buf = g on a parameter's first momentum step, else
 *                  buf = momentum * buf + (1 - dampening) * g;
 *                  g = nesterov ? g + momentum * buf : buf
 *   p -= lr * g
 * Momentum buffers are the model's optimiser state (bd_param.momentum);
 * the model's step count grows by one. *updated (may be NULL) receives the
 * number of parameters changed. Errors: EINVAL (bad opts), ENOMEM/EDEVMEM
 * (no parameter changed). */
bd_status bd_model_sgd_step(bd_model *m, const bd_sgd_opts *opts,
                            int64_t *updated);

/* ---- optimiser state, for checkpoints --------------------------------
 * The SGD state of a model is its step count plus one momentum buffer per
 * parameter that has taken a momentum step (bd_param.momentum, same shape
 * and device as the value). Callers hold the model's lock (read lock to
 * save, write lock to restore). */

/* The model's SGD step count. */
int64_t bd_optim_step_count(const bd_model *m);
/* Sets it (when restoring a checkpoint); EINVAL when negative. */
bd_status bd_optim_set_step_count(bd_model *m, int64_t steps);
/* The parameters that have a momentum buffer, in named_parameters order
 * (first path of each tied parameter) as state-list entries: out->v[i].path
 * is the parameter's path and out->v[i].param->momentum its buffer
 * (borrowed). Caller frees with bd_state_list_free. */
bd_status bd_optim_momentum_list(bd_model *m, bd_state_list *out);
/* Installs buf (copied to the parameter's device) as the momentum buffer
 * of the parameter at path; buf NULL removes it. Errors: ENOTFOUND (no such
 * parameter), EINVAL (path names a buffer), ESHAPE, EDTYPE (not float32). */
bd_status bd_optim_momentum_set(bd_model *m, const char *path,
                                const bd_tensor *buf);

#endif
