/* routes_openapi.c - the API's own description: GET /openapi.yaml and
 * GET /block-spec.schema.json (which the former refers to by a relative
 * $ref, so a client that fetches the document from the daemon resolves
 * it against the same daemon). Both are the proto/ files compiled in at
 * build time (cmake/embed.cmake): the daemon describes the API it
 * implements, not whatever file sits on disk. They run inline: a copy of
 * static bytes, no lock, no I/O. */
#include <stdlib.h>
#include <string.h>

#include "routes.h"

/* Generated into the build tree by cmake/embed.cmake. */
extern const unsigned char srv_doc_openapi_yaml[];
extern const size_t srv_doc_openapi_yaml_len;
extern const unsigned char srv_doc_block_spec_schema[];
extern const size_t srv_doc_block_spec_schema_len;

/* Replies with a copy of an embedded document (the reply's buffer is
 * freed once sent, so it cannot be the static array itself). */
static int reply_doc(srv_req *r, const unsigned char *doc, size_t len,
                     const char *type) {
  char *d = malloc(len ? len : 1);
  if (!d)
    return srv_fail(r, BD_ENOMEM,
                    "out of host memory while encoding the response");
  memcpy(d, doc, len);
  return srv_reply_bytes(r, 200, d, len, type);
}

int srv_openapi_get(srv_req *r) {
  return reply_doc(r, srv_doc_openapi_yaml, srv_doc_openapi_yaml_len,
                   "application/yaml");
}

int srv_block_spec_schema_get(srv_req *r) {
  return reply_doc(r, srv_doc_block_spec_schema, srv_doc_block_spec_schema_len,
                   "application/schema+json");
}
