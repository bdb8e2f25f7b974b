/* device_bytes_json.h - a model's device memory as the API reports it
 * ("device_bytes" of GET /v1/models/{m}). */
#ifndef PROTO_DEVICE_BYTES_JSON_H
#define PROTO_DEVICE_BYTES_JSON_H

#include <cjson/cJSON.h>
#include <stddef.h>

#include "../engine/device_move.h"

/* {"cpu": n, "cuda:0": n} in v's order ({} when n is 0). v is borrowed;
 * the caller frees the result; NULL when out of memory. */
cJSON *proto_device_bytes_json(const bd_device_bytes *v, size_t n);

#endif
