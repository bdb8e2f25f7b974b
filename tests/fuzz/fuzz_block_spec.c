/* fuzz_block_spec.c - libFuzzer target for the block-spec parser and
 * builder (proto/spec_json.h proto_spec_from_json, engine/block.h
 * bd_block_build_tree) with small limits: any JSON must build or fail
 * cleanly with nothing left allocated, and a built tree's canonical spec
 * must build again, through JSON and directly. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/block.h"
#include "proto/spec_json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  bd_blocks_init();
  cJSON *j = cJSON_ParseWithLength((const char *)data, size);
  if (!j) return 0;
  bd_build_limits lim = {
      .max_depth = 16, .max_bytes = 16 << 20, .max_blocks = 256};
  bd_block *b = NULL;
  bd_status s = proto_spec_build_tree(j, BD_CPU, &lim, "block", &b);
  if (getenv("BD_FUZZ_VERBOSE"))
    fprintf(stderr, "status %d: %s\n", s, s == BD_OK ? "" : bd_errmsg());
  if (s == BD_OK) {
    bd_spec *spec = NULL;
    if (bd_block_to_spec(b, &spec) == BD_OK) {
      bd_block *c = NULL, *d = NULL;
      cJSON *text = proto_spec_to_json(spec);
      if (bd_block_build_tree(spec, BD_CPU, &lim, "block", &c) != BD_OK)
        __builtin_trap();
      if (text &&
          proto_spec_build_tree(text, BD_CPU, &lim, "block", &d) != BD_OK)
        __builtin_trap();
      bd_block_release(c);
      bd_block_release(d);
      cJSON_Delete(text);
      bd_spec_free(spec);
    }
    bd_block_release(b);
  } else if (b) {
    __builtin_trap();
  }
  cJSON_Delete(j);
  return 0;
}
