/* fuzz_json_tensor.c - libFuzzer target for the JSON tensor decoder
 * (proto/json_tensor.h): any JSON text must decode or fail cleanly, and a
 * decoded tensor must print and decode back to the same values. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "proto/json_tensor.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  cJSON *j = cJSON_ParseWithLength((const char *)data, size);
  if (!j) return 0;
  bd_tensor *t = NULL;
  if (proto_tensor_from_json(j, "inputs", 1 << 20, &t) == BD_OK) {
    fuzz_touch(t);
    for (int flat = 0; flat < 2; flat++) {
      cJSON *k = proto_tensor_to_cjson(t, flat);
      if (!k) break;
      char *txt = cJSON_PrintUnformatted(k);
      cJSON_Delete(k);
      cJSON *back = txt ? cJSON_Parse(txt) : NULL;
      free(txt);
      bd_tensor *u = NULL;
      if (!back || proto_tensor_from_json(back, "back", 0, &u) != BD_OK)
        __builtin_trap();
      cJSON_Delete(back);
      if (u->dtype != t->dtype || u->ndim != t->ndim ||
          memcmp(u->shape, t->shape, sizeof(int64_t) * (size_t)t->ndim))
        __builtin_trap();
      if (t->dtype == BD_F32) {
        const float *a = bd_tensor_f32(t), *b = bd_tensor_f32(u);
        for (int64_t i = 0; i < bd_tensor_numel(t); i++)
          if (!(a[i] == b[i] || (isnan(a[i]) && isnan(b[i])))) __builtin_trap();
      }
      bd_tensor_release(u);
    }
    bd_tensor_release(t);
  }
  cJSON_Delete(j);
  return 0;
}
