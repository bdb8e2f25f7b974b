/* spec_json.h - block specs as JSON: the "block" of POST /v1/models and of
 * GET /v1/models/{m}, and proto/block-spec.schema.json.
 *
 * Everything here is driven by the block types' field tables
 * (engine/spec.h): the parser looks the type up, refuses keys the table
 * does not name, fills defaults, checks kinds and ranges and names the
 * JSON path of every error ("block.layers[2].in_features: missing"); the
 * printer writes the canonical form; the schema is generated from the
 * same tables. Ids and refs are kept as strings: the engine resolves them
 * when it builds the tree (bd_block_build_tree). */
#ifndef PROTO_SPEC_JSON_H
#define PROTO_SPEC_JSON_H

#include <cjson/cJSON.h>

#include "engine/block.h"
#include "engine/model.h"

/* Parses the block spec j (borrowed) found at root_path in the request
 * ("block") into *out (caller frees with bd_spec_free). lim (may be NULL)
 * bounds nesting (max_depth, default 64) and the number of blocks, as the
 * engine's build does, so a hostile spec is refused before it is built.
 * Errors: EINVAL naming the JSON path, ELIMIT, ENOMEM; *out is NULL then. */
bd_status proto_spec_from_json(const cJSON *j, const bd_build_limits *lim,
                               const char *root_path, bd_spec **out);

/* proto_spec_from_json then bd_block_build_tree (same limits and root
 * path): a block tree straight from JSON. *out a new reference. */
bd_status proto_spec_build_tree(const cJSON *j, bd_device dev,
                                const bd_build_limits *lim,
                                const char *root_path, bd_block **out);

/* proto_spec_from_json (root path "block") then bd_model_create. */
bd_status proto_model_create(const char *name, const cJSON *block,
                             uint64_t seed, bd_device dev,
                             const bd_build_limits *lim, bd_model **out);

/* The JSON form of spec: {"type", "id", fields in table order (defaults
 * included), "name"}; a ref is {"ref", "name"}. NULL on ENOMEM. Caller
 * frees with cJSON_Delete. */
cJSON *proto_spec_to_json(const bd_spec *spec);

/* proto_spec_to_json of bd_model_spec(m): the "block" that
 * GET /v1/models/{m} and spec.json carry. Takes no lock (a model's tree is
 * fixed at creation). NULL on ENOMEM (message set). Caller frees with
 * cJSON_Delete. */
cJSON *proto_model_spec_json(const bd_model *m);

/* proto_spec_to_json printed without whitespace (the spec text files
 * carry). NULL on ENOMEM; caller frees with free(). */
char *proto_spec_print(const bd_spec *spec);

/* The JSON Schema (draft 2020-12) of block specs for the built-in types,
 * generated from their field tables; the committed
 * proto/block-spec.schema.json is this document. NULL on ENOMEM. Caller
 * frees with cJSON_Delete. */
cJSON *proto_spec_schema(void);

#endif
