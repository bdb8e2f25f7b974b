/* init.h - parameter initialisers with PyTorch's formulas (torch.nn.init)
 * and the selector that applies them to a model (net.apply(init_fn)).
 *
 * An initialiser is a list of steps (uniform with a = -10, b = 10, then
 * mask_abs_below with threshold 5) applied in order to every selected
 * parameter; proto/init_json.h reads them from request JSON. Random draws come
 * from a Philox stream (bd_rng_fill), so the same seed and request give
 * bit-identical values on every device.
 *
 * Everything is validated before anything changes: a request that fails
 * (bad method, unknown block path or type, a 1-d tensor for xavier, ...)
 * leaves every parameter and the model's RNG offset as they were. */
#ifndef BD_INIT_H
#define BD_INIT_H

#include <stdbool.h>
#include <stdint.h>

#include "block.h"

typedef enum bd_init_method {
  BD_INIT_ZEROS = 0,
  BD_INIT_ONES,
  BD_INIT_CONSTANT,        /* value */
  BD_INIT_NORMAL,          /* mean, std */
  BD_INIT_UNIFORM,         /* a, b */
  BD_INIT_XAVIER_UNIFORM,  /* gain */
  BD_INIT_XAVIER_NORMAL,   /* gain */
  BD_INIT_KAIMING_UNIFORM, /* a, mode, nonlinearity */
  BD_INIT_KAIMING_NORMAL,  /* a, mode, nonlinearity */
  BD_INIT_EYE,
  BD_INIT_DEFAULT,        /* the block type's reset (reset_parameters) */
  BD_INIT_MASK_ABS_BELOW, /* threshold: zero where |w| < threshold */
  BD_INIT_METHOD_COUNT
} bd_init_method;

typedef enum bd_nonlinearity {
  BD_NL_LINEAR = 0, /* also identity, conv*, conv_transpose*: gain 1 */
  BD_NL_SIGMOID,    /* 1 */
  BD_NL_TANH,       /* 5/3 */
  BD_NL_RELU,       /* sqrt(2) */
  BD_NL_LEAKY_RELU, /* sqrt(2 / (1 + a^2)) */
  BD_NL_SELU        /* 3/4 */
} bd_nonlinearity;

/* One step of an initialiser, parameters with PyTorch's defaults. */
typedef struct bd_init_step {
  bd_init_method method;
  double value;     /* constant */
  double mean, std; /* normal (0, 1) */
  double a, b;      /* uniform (0, 1); kaiming: a = negative slope (0) */
  double gain;      /* xavier (1) */
  bool fan_out;     /* kaiming mode (fan_in) */
  bd_nonlinearity nonlinearity; /* kaiming (leaky_relu) */
  double threshold;             /* mask_abs_below */
} bd_init_step;

/* The method's wire name ("xavier_uniform"); NULL when out of range. */
const char *bd_init_method_name(bd_init_method m);

/* A step of method m with PyTorch's defaults for its parameters (std 1,
 * b 1, gain 1, kaiming: a 0, fan_in, leaky_relu; everything else 0). */
bd_init_step bd_init_step_default(bd_init_method m);

/* torch.nn.init.calculate_gain(nonlinearity, param). */
double bd_init_gain(bd_nonlinearity nl, double param);

/* torch.nn.init._calculate_fan_in_and_fan_out: dim 1 is fan_in and dim 0
 * fan_out, both times the receptive field (the product of dims 2..).
 * BD_EINVAL (message naming `what`) for fewer than 2 dimensions. */
bd_status bd_init_fans(int ndim, const int64_t *shape, const char *what,
                       int64_t *fan_in, int64_t *fan_out);

/* Checks that step can be applied to t (rank and dtype requirements);
 * BD_EINVAL / BD_EDTYPE naming `what` otherwise. DEFAULT is not a tensor
 * step and always passes here. */
bd_status bd_init_check(const bd_init_step *st, const bd_tensor *t,
                        const char *what);

/* Applies a (non-DEFAULT) step to t in place, drawing from the stream
 * (seed, *offset) and advancing *offset. Call bd_init_check first. */
bd_status bd_init_apply(const bd_init_step *st, bd_tensor *t, uint64_t seed,
                        uint64_t *offset);

/* What to initialise: the blocks of the subtrees at `blocks` (all of the
 * tree when nblocks is 0; net[0].apply(fn) is blocks = {"0"}; paths as
 * in path.h, so names or positions) whose type
 * is one of `types` (any when ntypes is 0), each shared block once; of
 * each, its own parameters named `target` ("all" = every parameter;
 * buffers are never touched). */
typedef struct bd_init_request {
  const bd_init_step *steps;
  int nsteps;
  const char *target;
  const char *const *blocks;
  int nblocks;
  const char *const *types;
  int ntypes;
  bool has_seed; /* true: a fresh stream (seed, 0) */
  uint64_t seed;
} bd_init_request;

/* Runs req on the tree at root. Without a seed the stream is (model_seed,
 * *model_offset) and *model_offset advances; with one, it is (seed, 0).
 * On success *touched holds a malloc'd array of *ntouched malloc'd
 * parameter paths (named_parameters order; the caller frees each and the
 * array). The caller holds the model's write lock. Errors: EINVAL (bad
 * selector: unknown block path or type, a selector matching nothing; a
 * method that does not fit a parameter), EUNSUPPORTED (default on a type
 * without reset), ENOMEM; on any failure nothing has changed. */
bd_status bd_init_run(bd_block *root, const bd_init_request *req,
                      uint64_t model_seed, uint64_t *model_offset,
                      char ***touched, int *ntouched);

#endif
