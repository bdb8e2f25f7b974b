/* routes_v2.c - the KServe Open Inference Protocol v2 (REST): health,
 * server and model metadata, model readiness and infer, with the binary
 * tensor data extension. Wire shapes are proto/v2_json.h's; the forward
 * goes through srv_infer (sched.h), so v2 infer shares the model's queue
 * and dynamic batching with /v1 forward; errors take the v2 shape
 * {"error":"..."} through srv_fail (errors.c), with blockd's statuses.
 *
 * blockd models are not versioned: each has the one version "1", which
 * the optional /versions/{v} segment may name; any other version is 404. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../proto/spec_json.h"
#include "../proto/v2_json.h"
#include "ready.h"
#include "routes.h"
#include "sched.h"

#define V2_VERSION "1"
#define V2_PLATFORM "blockd"

/* Replies 200 with an empty body (what probes and clients of
 * health/ready expect). */
static int reply_empty_ok(srv_req *r) {
  return srv_reply_bytes(r, 200, NULL, 0, "text/plain");
}

/* The model the path names (args[0], with the version in args[1] for the
 * /versions/{v} routes), a new reference; NULL after replying 404. */
static bd_model *v2_model(srv_req *r) {
  if (r->nargs > 1 && strcmp(r->args[1], V2_VERSION) != 0) {
    srv_fail(r, BD_ENOTFOUND,
             "model '%s' has no version '%.64s' (blockd serves one version "
             "of each model, \"" V2_VERSION "\")",
             r->args[0], r->args[1]);
    return NULL;
  }
  return srv_model_or_404(r, r->args[0]);
}

/* Ready: the flag (start-up) is set and blockd is not draining. */
static bool v2_ready(void) { return srv_ready_get() && !srv_http_draining(); }

int srv_v2_live(srv_req *r) { return reply_empty_ok(r); }

int srv_v2_ready(srv_req *r) {
  if (!v2_ready())
    return srv_fail(r, BD_EUNAVAILABLE,
                    "blockd is not ready (starting or draining)");
  return reply_empty_ok(r);
}

int srv_v2_server_metadata(srv_req *r) {
  static const char *const extensions[] = {"binary_tensor_data", NULL};
  proto_buf b = {0};
  proto_v2_server_metadata(&b, "blockd", SRV_VERSION, extensions);
  return srv_reply_buf(r, 200, &b, "application/json");
}

int srv_v2_model_metadata(srv_req *r) {
  bd_model *m = v2_model(r);
  if (!m) return 0;
  cJSON *spec = proto_model_spec_json(m);
  if (!spec) {
    bd_model_release(m);
    return srv_reply_status(r, BD_ENOMEM);
  }
  int64_t in_f, out_f;
  proto_v2_spec_features(spec, &in_f, &out_f);
  cJSON_Delete(spec);
  /* The engine computes in float32 and converts other inputs to it. */
  proto_buf b = {0};
  proto_v2_model_metadata(&b, bd_model_name(m), V2_VERSION, V2_PLATFORM, BD_F32,
                          in_f, BD_F32, out_f);
  bd_model_release(m);
  return srv_reply_buf(r, 200, &b, "application/json");
}

int srv_v2_model_ready(srv_req *r) {
  bd_model *m = v2_model(r);
  if (!m) return 0;
  bd_model_release(m);
  if (!v2_ready())
    return srv_fail(r, BD_EUNAVAILABLE,
                    "model '%s' is not ready: blockd is starting or draining",
                    r->args[0]);
  return reply_empty_ok(r);
}

/* Reads Inference-Header-Content-Length into *out (-1 when absent);
 * replies 400 and returns false when it is not a non-negative integer. */
static bool header_length(srv_req *r, int64_t *out) {
  const char *h = srv_header(r, "Inference-Header-Content-Length");
  *out = -1;
  if (!h) return true;
  char *end;
  errno = 0;
  long long v = strtoll(h, &end, 10);
  while (*end == ' ' || *end == '\t') end++;
  if (!h[0] || h[0] == '-' || h[0] == '+' || *end || errno || v < 0) {
    srv_fail(r, BD_EINVAL,
             "Inference-Header-Content-Length: '%.32s' is not a byte count", h);
    return false;
  }
  *out = v;
  return true;
}

/* Checks that the request has exactly one input and asks only for the one
 * output; replies 400 otherwise. Any name is accepted for a lone input:
 * the model has just one. */
static bool check_names(srv_req *r, const proto_v2_request *q) {
  if (q->ninputs > 1) {
    for (int i = 0; i < q->ninputs; i++)
      if (strcmp(q->inputs[i].name, PROTO_V2_INPUT) != 0) {
        srv_fail(r, BD_EINVAL,
                 "inputs[%d]: unknown input '%.64s': model '%s' takes one "
                 "input, '" PROTO_V2_INPUT "' (got %d inputs)",
                 i, q->inputs[i].name, r->args[0], q->ninputs);
        return false;
      }
    srv_fail(r, BD_EINVAL,
             "model '%s' takes one input, '" PROTO_V2_INPUT "'; got %d",
             r->args[0], q->ninputs);
    return false;
  }
  for (int i = 0; i < q->noutputs; i++)
    if (strcmp(q->outputs[i].name, PROTO_V2_OUTPUT) != 0) {
      srv_fail(r, BD_EINVAL,
               "outputs[%d]: unknown output '%.64s': model '%s' has one "
               "output, '" PROTO_V2_OUTPUT "'",
               i, q->outputs[i].name, r->args[0]);
      return false;
    }
  return true;
}

/* What the reply needs once the forward is done: r's route state. */
typedef struct v2_infer_state {
  char *id;    /* the request's "id", echoed; NULL when none */
  bool binary; /* the output goes back as binary data */
} v2_infer_state;

static void v2_state_free(void *p) {
  v2_infer_state *st = p;
  if (st) free(st->id);
  free(st);
}

/* The reply of a v2 infer (srv_infer_done). May run on another worker
 * than the handler (a batch), so it reads only r and its route state. */
static void infer_done(srv_req *r, bd_status s, bd_tensor *y) {
  const v2_infer_state *st = r->route_state;
  if (s) {
    srv_reply_status(r, s);
    return;
  }
  proto_v2_output out = {PROTO_V2_OUTPUT, y, st->binary};
  s = srv_json_budget(&r->app->cfg, proto_v2_response_json_bound(&out, 1),
                      "ask for the output as binary data (parameters "
                      "binary_data_output or outputs[].parameters."
                      "binary_data)");
  if (s) {
    srv_reply_status(r, s);
    return;
  }
  proto_buf b = {0};
  size_t json_len;
  proto_v2_infer_response(&b, r->args[0], V2_VERSION, st->id, &out, 1,
                          &json_len);
  srv_reply_buf(r, 200, &b,
                st->binary ? "application/octet-stream" : "application/json");
  if (st->binary && r->status == 200) {
    char v[32];
    snprintf(v, sizeof v, "%zu", json_len);
    srv_add_header(r, "Inference-Header-Content-Length", v);
  }
}

int srv_v2_infer(srv_req *r) {
  proto_v2_request q = {0};
  bd_model *m = v2_model(r);
  int64_t hlen;
  if (!m || !header_length(r, &hlen)) goto out;
  /* tritonclient can compress its bodies; blockd reads them as they are,
   * so say why rather than fail on the compressed bytes as JSON. */
  const char *enc = srv_header(r, MHD_HTTP_HEADER_CONTENT_ENCODING);
  if (enc && strcmp(enc, "identity") != 0) {
    srv_fail(r, BD_EMEDIATYPE,
             "Content-Encoding '%.32s' is not supported: send the body "
             "uncompressed",
             enc);
    goto out;
  }
  bd_status s = proto_v2_infer_parse(r->body, r->body_len, hlen,
                                     r->app->cfg.max_elements, &q);
  if (s) {
    srv_reply_status(r, s);
    goto out;
  }
  if (!check_names(r, &q)) goto out;
  v2_infer_state *st = calloc(1, sizeof *st);
  if (!st) {
    srv_fail(r, BD_ENOMEM, "out of host memory");
    goto out;
  }
  r->route_state = st;
  r->route_state_free = v2_state_free;
  /* The one output is returned whether "outputs" names it or is absent
   * or [] (as Triton returns every output when none is requested): binary
   * when its own binary_data says so, else as binary_data_output; the
   * raw binary form answers binary. */
  st->binary = q.binary_output;
  for (int i = 0; i < q.noutputs; i++)
    if (q.outputs[i].binary >= 0) st->binary = q.outputs[i].binary == 1;
  if (q.raw) st->binary = true;
  st->id = q.id; /* moved into the state */
  q.id = NULL;
  /* Now or in a batch with /v1 forwards of m; r is not ours after this. */
  srv_infer(r, m, q.inputs[0].t, infer_done);
out:
  proto_v2_request_clear(&q);
  bd_model_release(m);
  return 0;
}
