/* v2_json.h - the KServe Open Inference Protocol v2 (REST) wire shapes:
 * infer requests (JSON tensors and the binary tensor data extension),
 * infer responses, server and model metadata, and the v2 error body.
 *
 * A v2 tensor is {"name","shape","datatype","data"} with data flat (or
 * nested) row-major, or, with the binary tensor data extension, no data
 * and "parameters":{"binary_data_size":N}: its N bytes (little-endian,
 * row-major, unpadded) follow the JSON header in the body, in the order
 * the tensors appear there; the Inference-Header-Content-Length header
 * gives the JSON header's length. A blockd model has one input and one
 * output over v2, named PROTO_V2_INPUT and PROTO_V2_OUTPUT. */
#ifndef PROTO_V2_JSON_H
#define PROTO_V2_JSON_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../engine/tensor.h"
#include "buf.h"

/* The names model metadata gives the one input and the one output
 * (following Triton's PyTorch backend's <name>__<index> convention). */
#define PROTO_V2_INPUT "input__0"
#define PROTO_V2_OUTPUT "output__0"

/* The v2 datatype of an engine dtype ("FP32", "FP64", "FP16", "BF16",
 * "INT64"); NULL for an invalid dtype. */
const char *proto_v2_datatype(bd_dtype dt);

/* One input of an infer request, decoded. */
typedef struct proto_v2_input {
  char *name;       /* owned */
  char datatype[8]; /* as the request spelled it: "FP32", "INT32", ... */
  /* A new reference to a CPU tensor that holds the values exactly in the
   * nearest engine dtype: FP32, FP64, FP16, BF16 and INT64 as themselves,
   * BOOL, INT8-INT32 and UINT8-UINT64 widened to int64 (a UINT64 value
   * past INT64_MAX is refused). */
  bd_tensor *t;
  bool binary; /* its data came from the binary section of the body */
} proto_v2_input;

/* One output an infer request asks for. */
typedef struct proto_v2_output_req {
  char *name; /* owned */
  int binary; /* parameters.binary_data: 1, 0, or -1 when not given */
} proto_v2_output_req;

typedef struct proto_v2_request {
  char *id;           /* "id", owned; NULL when absent */
  bool binary_output; /* parameters.binary_data_output (false when absent) */
  bool raw;           /* the raw binary form (see proto_v2_infer_parse) */
  int ninputs;
  proto_v2_input *inputs;
  bool outputs_given; /* "outputs" was present (it may be []) */
  int noutputs;
  proto_v2_output_req *outputs;
} proto_v2_request;

/* Parses the infer request body[0..len) into *req (zeroed first; clear it
 * with proto_v2_request_clear also after a failure).
 *
 * header_len is the value of Inference-Header-Content-Length, or -1 when
 * the header is absent: then the whole body is the JSON document and no
 * input may be binary. When header_len > 0, body[0..header_len) is the
 * JSON document and the rest holds the binary inputs, whose sizes must
 * add up to it exactly. header_len 0 is the extension's raw binary form:
 * the body is the bytes of one FP32 input, read as batch 1 (shape
 * [1, len/4]); req->raw is set and every output is to be returned binary.
 *
 * max_elems bounds the element count of every input (0: BD_MAX_NUMEL).
 * Request and input "parameters" other than the extension's are accepted
 * and ignored (Triton's priority, timeout and sequence hints among them).
 * Errors: EJSON (malformed JSON header), EINVAL (a field missing, of the
 * wrong type or unknown; an unknown datatype; header length or
 * binary_data_size past the body or not matching shape x datatype; a
 * value out of its datatype's range), ESHAPE (data that does not match
 * its shape), ELIMIT (too many elements), EUNSUPPORTED (BYTES), ENOMEM.
 * Messages name the field ("inputs[0].shape"). */
bd_status proto_v2_infer_parse(const char *body, size_t len, int64_t header_len,
                               int64_t max_elems, proto_v2_request *req);
/* Frees what req holds and zeroes it; a zeroed req is fine. */
void proto_v2_request_clear(proto_v2_request *req);

/* One output of an infer response. */
typedef struct proto_v2_output {
  const char *name;   /* borrowed */
  const bd_tensor *t; /* borrowed, a CPU tensor */
  bool binary;        /* send its bytes after the JSON header */
} proto_v2_output;

/* Appends an infer response: the JSON header {"model_name",
 * "model_version" (omitted when version is NULL), "id" (omitted when
 * NULL), "outputs":[{"name","datatype","shape", "data" (flat) or
 * "parameters":{"binary_data_size"}}]}, then the raw little-endian bytes
 * of each binary output in order. *json_len receives the header's length:
 * the Inference-Header-Content-Length to send when an output is binary.
 * Allocation failures set b->oom. */
void proto_v2_infer_response(proto_buf *b, const char *model,
                             const char *version, const char *id,
                             const proto_v2_output *outs, int n,
                             size_t *json_len);
/* An upper bound of the JSON text proto_v2_infer_response appends for
 * the outputs that are not binary (proto_tensor_json_bound of each), for
 * the --max-json-response-bytes check. Saturates at INT64_MAX. */
int64_t proto_v2_response_json_bound(const proto_v2_output *outs, int n);

/* Appends {"name","version","extensions":[...]} (extensions
 * NULL-terminated). */
void proto_v2_server_metadata(proto_buf *b, const char *name,
                              const char *version,
                              const char *const *extensions);

/* The feature sizes a model's block spec fixes, derived from its
 * canonical JSON spec (proto_model_spec_json): *in_features is the last
 * input dim the first shape-fixing block requires (a linear's
 * in_features, a matmul's k, looking through blocks that keep their
 * input's shape: activations, dropout, identity, add, scale, centered,
 * softmax, residuals), *out_features the last output dim the tree
 * produces (a linear's out_features, through the same blocks, parallel
 * concat and add). Either is -1 when the spec does not fix it (a flatten,
 * sum or mean, while loops that change shape, plugin block types). Never
 * fails; spec may be NULL. */
void proto_v2_spec_features(const cJSON *spec, int64_t *in_features,
                            int64_t *out_features);

/* Appends model metadata: {"name","versions":[version],"platform",
 * "inputs":[{"name":PROTO_V2_INPUT,"datatype","shape":[-1, in]}],
 * "outputs":[{"name":PROTO_V2_OUTPUT,"datatype","shape":[-1, out]}]}:
 * -1 for the batch dim and for a feature size that is -1. */
void proto_v2_model_metadata(proto_buf *b, const char *name,
                             const char *version, const char *platform,
                             bd_dtype in_dt, int64_t in_features,
                             bd_dtype out_dt, int64_t out_features);

/* Appends the v2 error body {"error":"<msg>"}. */
void proto_v2_error(proto_buf *b, const char *msg);

#endif
