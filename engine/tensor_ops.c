/* tensor_ops.c - add, mul, matmul and sum for named tensors. */
#include "tensor_ops.h"

#include <string.h>

#include "backend.h"

/* Whether b broadcasts onto a the way BD_OP_BINARY repeats it: same
 * numel, one element, or a's trailing dims. */
static bool bd__broadcasts(const bd_tensor *a, const bd_tensor *b) {
  int64_t nb = bd_tensor_numel(b);
  if (nb == 1 || bd_tensor_same_shape(a, b)) return true;
  int lead = 0;
  while (lead < b->ndim && b->shape[lead] == 1) lead++;
  int k = b->ndim - lead;
  if (k > a->ndim) return false;
  for (int i = 0; i < k; i++)
    if (b->shape[lead + i] != a->shape[a->ndim - k + i]) return false;
  return nb > 0;
}

static bd_status bd__f32(bd_tensor *t, bd_tensor **out) {
  return bd_tensor_as_f32(t, out);
}

bd_status bd_tensor_op(const char *op, bd_tensor *a, bd_tensor *b,
                       bd_tensor **out) {
  bool sum = strcmp(op, "sum") == 0, add = strcmp(op, "add") == 0,
       mul = strcmp(op, "mul") == 0, mm = strcmp(op, "matmul") == 0;
  if (!sum && !add && !mul && !mm)
    return bd_fail(BD_EINVAL, "op: '%s' is not one of add, mul, matmul, sum",
                   op);
  if (!sum && !b) return bd_fail(BD_EINVAL, "op %s needs two tensors", op);
  bd_device dev = bd_tensor_device(a);
  if (!sum && !bd_device_eq(dev, bd_tensor_device(b))) {
    char x[16], y[16];
    return bd_fail(BD_EDEVMISMATCH,
                   "expected all tensors to be on the same device, but found "
                   "at least two devices, %s and %s",
                   bd_device_str(dev, x, sizeof x),
                   bd_device_str(bd_tensor_device(b), y, sizeof y));
  }
  bd_tensor *fa = NULL, *fb = NULL, *r = NULL;
  bd_status s = bd__f32(a, &fa);
  if (!s && !sum) s = bd__f32(b, &fb);
  char sa[128], sb[128];
  if (!s && (add || mul) && !bd__broadcasts(fa, fb))
    s = bd_fail(BD_ESHAPE, "shapes %s and %s do not broadcast for %s",
                bd_shape_str(fa->ndim, fa->shape, sa, sizeof sa),
                bd_shape_str(fb->ndim, fb->shape, sb, sizeof sb), op);
  if (!s && mm &&
      (fa->ndim != 2 || (fb->ndim != 1 && fb->ndim != 2) ||
       fa->shape[1] != fb->shape[0]))
    s = bd_fail(BD_ESHAPE,
                "matmul: shapes %s and %s cannot be multiplied "
                "(want [m, k] @ [k, n] or [m, k] @ [k])",
                bd_shape_str(fa->ndim, fa->shape, sa, sizeof sa),
                bd_shape_str(fb->ndim, fb->shape, sb, sizeof sb));
  if (!s) {
    bd_op o;
    if (sum) {
      s = bd_tensor_new(dev, BD_F32, 0, NULL, &r);
      o = bd_op_reduce(r, fa, BD_RED_SUM);
    } else if (mm) {
      int64_t shape[2] = {fa->shape[0], fb->ndim == 2 ? fb->shape[1] : 1};
      s = bd_tensor_new(dev, BD_F32, fb->ndim == 2 ? 2 : 1, shape, &r);
      o = bd_op_gemm(r, fa, false, fb, false, fa->shape[0], shape[1],
                     fa->shape[1], 1.0f, 0.0f);
    } else {
      s = bd_tensor_new(dev, BD_F32, fa->ndim, fa->shape, &r);
      o = bd_op_binary(r, fa, add ? BD_BIN_ADD : BD_BIN_MUL, fb);
    }
    if (!s && bd_tensor_numel(r) > 0) s = bd_op_run(&o);
  }
  bd_tensor_release(fa);
  bd_tensor_release(fb);
  if (s) {
    bd_tensor_release(r);
    return s;
  }
  *out = r;
  return BD_OK;
}
