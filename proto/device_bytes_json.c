/* device_bytes_json.c - device memory accounting as JSON. */
#include "device_bytes_json.h"

cJSON *proto_device_bytes_json(const bd_device_bytes *v, size_t n) {
  cJSON *j = cJSON_CreateObject();
  for (size_t i = 0; j && i < n; i++) {
    char b[16];
    bd_device_str(v[i].dev, b, sizeof b);
    if (!cJSON_AddNumberToObject(j, b, (double)v[i].bytes)) {
      cJSON_Delete(j);
      return NULL;
    }
  }
  return j;
}
