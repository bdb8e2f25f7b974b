/* init_json.h - one initialiser step from its JSON form
 * ({"method":"uniform","a":-10,"b":10}), as the init and edit routes
 * accept it. The step itself and what it does: engine/init.h. */
#ifndef PROTO_INIT_JSON_H
#define PROTO_INIT_JSON_H

#include <cjson/cJSON.h>

#include "../engine/init.h"

/* Parses one step from a JSON object: "method" plus that method's fields
 * (absent ones take bd_init_step_default's values). Unknown fields (other
 * than the names in the NULL-terminated `extra` list, which are skipped)
 * are refused. j is borrowed. Errors (EINVAL) name `path` and the field,
 * e.g. "steps[0].std: must be >= 0, got -1"; *out is written only on
 * success. */
bd_status proto_init_step_parse(const cJSON *j, const char *path,
                                const char *const *extra, bd_init_step *out);

#endif
