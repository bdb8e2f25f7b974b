/* tfile.c - the in-memory value of a tensor file. */
#include "tfile.h"

#include <stdlib.h>
#include <string.h>

static const char *const proto__tfile_kinds[] = {"tensor", "list", "dict",
                                                 "state_dict"};

const char *proto_tfile_kind_name(proto_tfile_kind k) {
  return (unsigned)k < 4 ? proto__tfile_kinds[k] : "unknown";
}

bool proto_tfile_kind_parse(const char *s, proto_tfile_kind *out) {
  for (int i = 0; s && i < 4; i++)
    if (strcmp(s, proto__tfile_kinds[i]) == 0) {
      *out = (proto_tfile_kind)i;
      return true;
    }
  return false;
}

void proto_tfile_clear(proto_tfile *f) {
  if (!f) return;
  bd_named_tensors_clear(&f->list);
  free(f->spec);
  memset(f, 0, sizeof *f);
}
