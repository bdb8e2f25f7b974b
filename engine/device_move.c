/* device_move.c - net.to(device): copy everything, then swap. */
#include "device_move.h"

#include <stdlib.h>

#include "backend.h"
#include "model_internal.h"

/* The tensors of one parameter that live on a device. */
enum { BD__SLOTS = 3 };

static bd_tensor **bd__slot(bd_param *p, int k) {
  return k == 0 ? &p->value : k == 1 ? &p->grad : &p->momentum;
}

bd_status bd_model_to(bd_model *m, bd_device dev) {
  if (!bd_backend_get(dev)) {
    char b[16];
    return bd_fail(BD_ENOTFOUND, "device '%s' does not exist",
                   bd_device_str(dev, b, sizeof b));
  }
  if (bd_device_eq(m->dev, dev)) return BD_OK;
  bd_state_list l = {0};
  bd_status s = bd_block_state_dict(m->root, "", &l);
  bd_param **ps = NULL;
  bd_tensor **moved = NULL;
  size_t np = 0;
  bool *first = NULL;
  if (!s) s = bd_state_list_firsts(&l, &first);
  if (!s) {
    ps = calloc(l.n + 1, sizeof *ps);
    moved = calloc((l.n + 1) * BD__SLOTS, sizeof *moved);
    if (!ps || !moved) s = bd_fail(BD_ENOMEM, "out of host memory");
  }
  for (size_t i = 0; !s && i < l.n; i++)
    if (first[i]) ps[np++] = l.v[i].param;
  /* Phase 1: copies on the new device; the model is untouched. */
  for (size_t i = 0; !s && i < np; i++)
    for (int k = 0; !s && k < BD__SLOTS; k++) {
      bd_tensor *t = *bd__slot(ps[i], k);
      if (!t) continue;
      s = bd_tensor_to(t, dev, &moved[i * BD__SLOTS + k]);
      if (s) {
        char b[16];
        bd_fail_prefix(s, "moving '%s' of model '%s' to %s: ",
                       l.v[i].path ? l.v[i].path : "?", m->name,
                       bd_device_str(dev, b, sizeof b));
      }
    }
  /* Phase 2: swap (cannot fail), or drop the copies. */
  for (size_t i = 0; i < np; i++)
    for (int k = 0; k < BD__SLOTS; k++) {
      bd_tensor **slot = bd__slot(ps[i], k), *t = moved[i * BD__SLOTS + k];
      if (!t) continue;
      if (s) {
        bd_tensor_release(t);
      } else {
        bd_tensor_release(*slot);
        *slot = t;
      }
    }
  if (!s) m->dev = dev;
  free(first);
  free(ps);
  free(moved);
  bd_state_list_free(&l);
  return s;
}

bd_status bd_model_device_bytes(bd_model *m, bd_device_bytes *out, int cap,
                                int *n) {
  *n = 0;
  bd_state_list l = {0};
  bool *first = NULL;
  bd_status s = bd_block_state_dict(m->root, "", &l);
  if (!s) s = bd_state_list_firsts(&l, &first);
  for (size_t i = 0; !s && i < l.n; i++) {
    if (!first[i]) continue;
    for (int k = 0; !s && k < BD__SLOTS; k++) {
      bd_tensor *t = *bd__slot(l.v[i].param, k);
      if (!t) continue;
      bd_device d = bd_tensor_device(t);
      int at = 0;
      while (at < *n && !bd_device_eq(out[at].dev, d)) at++;
      if (at == *n) {
        if (at == cap) {
          s = bd_fail(BD_EINTERNAL, "more devices than %d", cap);
          break;
        }
        out[at] = (bd_device_bytes){.dev = d, .bytes = 0};
        (*n)++;
      }
      out[at].bytes += (int64_t)bd_tensor_nbytes(t);
    }
  }
  free(first);
  bd_state_list_free(&l);
  return s;
}
