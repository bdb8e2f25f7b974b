/* json_fields.h - request bodies with tensors, read in one pass.
 *
 * A forward or backward body is a JSON object whose big values are
 * tensors (proto/json_tensor.h wire forms). proto_json_tensor_fields reads
 * such a body once: the values of the named tensor keys are decoded
 * straight from the text into tensors (numbers converted by json_num.h,
 * no cJSON node per number), every other value becomes a cJSON node of
 * the returned `rest` object. Anything unusual - a syntax error, invalid
 * UTF-8, a tensor that would not decode - sends the whole body down the
 * old path (cJSON, proto_tensor_from_json), so errors keep their exact
 * messages and their order: the fast path only ever succeeds. */
#ifndef PROTO_JSON_FIELDS_H
#define PROTO_JSON_FIELDS_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../engine/tensor.h"

/* The checks of a JSON request body, with their messages: whitespace only
 * (BD_EJSON "the request needs a JSON body", or an empty object when
 * allow_empty), invalid UTF-8 (BD_EINVAL "the JSON body is not valid
 * UTF-8"), a syntax error (BD_EJSON "malformed JSON near byte N"), data
 * after the document (BD_EJSON "trailing data after the JSON document at
 * byte N"), not an object (BD_EINVAL "the request body must be a JSON
 * object"). On success *out is the tree (proto_json_parse: long integers
 * keep their text). */
bd_status proto_json_body(const char *body, size_t len, bool allow_empty,
                          cJSON **out);

/* Reads the JSON object body[0..len) in one pass.
 *
 * tensor_keys: NULL-terminated key names whose values are tensors; a name
 * may be dotted once ("loss.target": the key "target" of the object under
 * the top-level key "loss"). tensors_out[i] receives key i's tensor (the
 * caller releases it), or NULL when the key is absent or its value did not
 * decode. *rest_out receives an object (caller frees with cJSON_Delete)
 * holding every other key and value in document order; a tensor value that
 * did not decode stays in rest as its cJSON node, so that the route can
 * decode it (proto_json_fields_tensor) where it wants that error reported.
 * max_elems bounds each tensor as in proto_tensor_from_json.
 *
 * Fails only for the body-level errors of proto_json_body (allow_empty
 * false) and for ENOMEM; outputs are then NULL.
 *
 * A forward route, errors in today's order (body, fields, model, tensor):
 *   static const char *const keys[] = {"inputs", NULL};
 *   bd_tensor *tv[1], *x = NULL;
 *   cJSON *rest;
 *   bd_status s = proto_json_tensor_fields(r->body, r->body_len, keys,
 *                                          max, tv, &rest);
 *   if (s) return srv_reply_status(r, s);
 *   if (srv_json_check_keys(r, rest, "", keys) && model found)
 *     s = proto_json_fields_tensor(&tv[0], rest, "inputs", max, &x);
 *   bd_tensor_release(tv[0]);  (NULL when it moved to x)
 *   cJSON_Delete(rest); */
bd_status proto_json_tensor_fields(const char *body, size_t len,
                                   const char *const *tensor_keys,
                                   int64_t max_elems, bd_tensor **tensors_out,
                                   cJSON **rest_out);

/* The node at a (once) dotted key of obj ("loss.target"), or NULL. */
cJSON *proto_json_path(const cJSON *obj, const char *key);

/* The tensor of key: *fast when proto_json_tensor_fields decoded it
 * (ownership moves to *out, *fast becomes NULL), else
 * proto_tensor_from_json of the key's node in rest, with key as the name
 * in messages ("inputs: missing" when there is no such node). */
bd_status proto_json_fields_tensor(bd_tensor **fast, const cJSON *rest,
                                   const char *key, int64_t max_elems,
                                   bd_tensor **out);

/* One tensor in the JSON text[0..len) (a PUT body): decoded straight from
 * the text when it can be, else through cJSON and proto_tensor_from_json.
 * Text after the value is ignored, as cJSON does. A syntax error gives
 * BD_EJSON "malformed JSON near byte N"; other errors as
 * proto_tensor_from_json, naming `what`. */
bd_status proto_tensor_parse(const char *text, size_t len, const char *what,
                             int64_t max_elems, bd_tensor **out);

#endif
