/* fuzz_json_fields.c - libFuzzer target for the one-pass body reader
 * (proto/json_fields.h): any bytes must read or fail cleanly, and the
 * outcome must be the old path's (proto_json_body, then
 * proto_tensor_from_json per key): the same status and message, the same
 * tensors decoded, the same rest object. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "proto/json_fields.h"
#include "proto/json_tensor.h"

static const char *const KEYS[] = {"inputs", "loss.target", NULL};
enum { NK = 2 };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const char *body = (const char *)data;
  bd_tensor *ta[NK], *tb[NK] = {NULL, NULL};
  cJSON *ra = NULL, *rb = NULL;
  bd_status sb = proto_json_body(body, size, false, &rb);
  char mb[1024];
  strncpy(mb, bd_errmsg(), sizeof mb - 1);
  mb[sizeof mb - 1] = '\0';
  bd_status sa = proto_json_tensor_fields(body, size, KEYS, 1 << 16, ta, &ra);
  if (sa != sb) __builtin_trap();
  if (sa) {
    if (strcmp(mb, bd_errmsg()) || ra || ta[0] || ta[1]) __builtin_trap();
    return 0;
  }
  for (int i = 0; i < NK; i++) {
    cJSON *node = proto_json_path(rb, KEYS[i]);
    if (node &&
        proto_tensor_from_json(node, KEYS[i], 1 << 16, &tb[i]) == BD_OK) {
      cJSON *o = strchr(KEYS[i], '.') ? cJSON_GetObjectItem(rb, "loss") : rb;
      cJSON_Delete(cJSON_DetachItemViaPointer(o, node));
    }
    if (!ta[i] != !tb[i]) __builtin_trap();
    if (ta[i]) {
      fuzz_touch(ta[i]);
      const bd_tensor *a = ta[i], *b = tb[i];
      if (a->dtype != b->dtype || a->ndim != b->ndim ||
          memcmp(a->shape, b->shape, sizeof(int64_t) * (size_t)a->ndim) ||
          bd_tensor_numel(a) != bd_tensor_numel(b))
        __builtin_trap();
      if (a->dtype == BD_I64 &&
          memcmp(bd_tensor_data(a), bd_tensor_data(b), bd_tensor_nbytes(a)))
        __builtin_trap();
    }
    bd_tensor_release(ta[i]);
    bd_tensor_release(tb[i]);
  }
  char *pa = cJSON_PrintUnformatted(ra), *pb = cJSON_PrintUnformatted(rb);
  if (!pa || !pb || strcmp(pa, pb)) __builtin_trap();
  free(pa);
  free(pb);
  cJSON_Delete(ra);
  cJSON_Delete(rb);
  return 0;
}
