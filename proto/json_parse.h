/* json_parse.h - JSON parsing that keeps the text of long integers.
 *
 * cJSON stores every number as a double, which cannot hold int64 values
 * beyond 2^53 exactly (9007199254740993 reads back as ...992) nor reach
 * 2^63-1. proto_json_parse parses like cJSON and additionally keeps the
 * literal text of every integer literal too long to be exact in a double
 * (16 digits or more), so that int64 consumers can read it exactly. */
#ifndef PROTO_JSON_PARSE_H
#define PROTO_JSON_PARSE_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Parses the first JSON value of text[0..len) like
 * cJSON_ParseWithLengthOpts(text, len, end, false). Integer literals of 16
 * or more digits (no fraction, no exponent) additionally carry their text
 * in valuestring (type stays cJSON_Number; cJSON_Delete frees it, cJSON
 * printers ignore it). Returns the tree (caller frees with cJSON_Delete)
 * or NULL on a syntax error or no memory; *end (when end is not NULL)
 * points where parsing stopped, as with cJSON. */
cJSON *proto_json_parse(const char *text, size_t len, const char **end);

/* Reads a JSON number node as an exact int64. Returns true and sets *out
 * when the node is an integer in [-2^63, 2^63-1]: from the kept literal
 * text when proto_json_parse kept one, else from the double (which is
 * exact for every integer cJSON read from fewer than 16 digits). Returns
 * false for non-numbers, fractions and values out of range. */
bool proto_json_int64(const cJSON *v, int64_t *out);

#endif
