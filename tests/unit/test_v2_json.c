/* test_v2_json.c - the KServe v2 wire shapes: infer requests (JSON,
 * binary tensor data, the raw binary form), responses, metadata, the
 * features derived from block specs, the error body. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "engine/backend.h"
#include "engine/status.h"
#include "proto/v2_json.h"

/* Parses a JSON-only request (no header length). */
static bd_status parse_json(const char *doc, proto_v2_request *q) {
  return proto_v2_infer_parse(doc, strlen(doc), -1, 0, q);
}

/* Builds JSON header + binary bytes and parses them with the header
 * length set. */
static bd_status parse_bin(const char *doc, const void *bin, size_t n,
                           proto_v2_request *q) {
  size_t jl = strlen(doc);
  char *body = malloc(jl + n + 1);
  memcpy(body, doc, jl);
  if (n) memcpy(body + jl, bin, n);
  bd_status s = proto_v2_infer_parse(body, jl + n, (int64_t)jl, 0, q);
  free(body);
  return s;
}

START_TEST(json_request_fields) {
  proto_v2_request q;
  ck_assert_int_eq(
      parse_json("{\"id\":\"r1\",\"parameters\":{\"binary_data_output\":true,"
                 "\"priority\":3},\"inputs\":[{\"name\":\"x\",\"shape\":[2,2],"
                 "\"datatype\":\"FP32\",\"data\":[1,2.5,-3,4]}],"
                 "\"outputs\":[{\"name\":\"output__0\",\"parameters\":"
                 "{\"binary_data\":false}}]}",
                 &q),
      BD_OK);
  ck_assert_str_eq(q.id, "r1");
  ck_assert(q.binary_output);
  ck_assert(!q.raw);
  ck_assert_int_eq(q.ninputs, 1);
  ck_assert_str_eq(q.inputs[0].name, "x");
  ck_assert_str_eq(q.inputs[0].datatype, "FP32");
  ck_assert(!q.inputs[0].binary);
  bd_tensor *t = q.inputs[0].t;
  ck_assert_int_eq(t->dtype, BD_F32);
  ck_assert_int_eq(t->ndim, 2);
  ck_assert_float_eq(bd_tensor_f32(t)[1], 2.5f);
  ck_assert_float_eq(bd_tensor_f32(t)[2], -3.0f);
  ck_assert(q.outputs_given);
  ck_assert_int_eq(q.noutputs, 1);
  ck_assert_str_eq(q.outputs[0].name, "output__0");
  ck_assert_int_eq(q.outputs[0].binary, 0);
  proto_v2_request_clear(&q);
  /* Nested data, no outputs, no id. */
  ck_assert_int_eq(
      parse_json("{\"inputs\":[{\"name\":\"x\",\"shape\":[2,1],\"datatype\":"
                 "\"INT64\",\"data\":[[9007199254740993],[-7]]}]}",
                 &q),
      BD_OK);
  ck_assert_ptr_null(q.id);
  ck_assert(!q.outputs_given);
  ck_assert_int_eq(q.inputs[0].t->dtype, BD_I64);
  ck_assert_int_eq(((int64_t *)bd_tensor_data(q.inputs[0].t))[0],
                   9007199254740993LL);
  proto_v2_request_clear(&q);
}
END_TEST

START_TEST(json_datatypes_widen_and_check_range) {
  proto_v2_request q;
  ck_assert_int_eq(
      parse_json("{\"inputs\":[{\"name\":\"x\",\"shape\":[3],\"datatype\":"
                 "\"INT8\",\"data\":[-128,0,127]}]}",
                 &q),
      BD_OK);
  ck_assert_int_eq(q.inputs[0].t->dtype, BD_I64);
  ck_assert_int_eq(((int64_t *)bd_tensor_data(q.inputs[0].t))[0], -128);
  proto_v2_request_clear(&q);
  ck_assert_int_eq(
      parse_json("{\"inputs\":[{\"name\":\"x\",\"shape\":[2],\"datatype\":"
                 "\"UINT8\",\"data\":[1,256]}]}",
                 &q),
      BD_EINVAL);
  ck_assert(strstr(bd_errmsg(),
                   "element 1 (256) is outside the range of "
                   "UINT8 [0, 255]"));
  proto_v2_request_clear(&q);
  ck_assert_int_eq(
      parse_json("{\"inputs\":[{\"name\":\"x\",\"shape\":[2],\"datatype\":"
                 "\"BOOL\",\"data\":[true,false]}]}",
                 &q),
      BD_OK);
  ck_assert_int_eq(((int64_t *)bd_tensor_data(q.inputs[0].t))[0], 1);
  proto_v2_request_clear(&q);
  ck_assert_int_eq(
      parse_json("{\"inputs\":[{\"name\":\"x\",\"shape\":[1],\"datatype\":"
                 "\"FP16\",\"data\":[0.1]}]}",
                 &q),
      BD_OK);
  ck_assert_int_eq(q.inputs[0].t->dtype, BD_F16);
  ck_assert_uint_eq(((uint16_t *)bd_tensor_data(q.inputs[0].t))[0],
                    bd_float_to_half(0.1f));
  proto_v2_request_clear(&q);
  ck_assert_int_eq(
      parse_json("{\"inputs\":[{\"name\":\"x\",\"shape\":[1],\"datatype\":"
                 "\"BYTES\",\"data\":[\"a\"]}]}",
                 &q),
      BD_EUNSUPPORTED);
  proto_v2_request_clear(&q);
}
END_TEST

START_TEST(binary_inputs) {
  proto_v2_request q;
  float f[4] = {1.5f, -2.0f, 3.25f, 0.0f};
  unsigned char i32[8] = {0xff, 0xff, 0xff, 0xff, 0x05, 0, 0, 0}; /* -1, 5 */
  unsigned char both[16 + 8];
  memcpy(both, f, 16);
  memcpy(both + 16, i32, 8);
  ck_assert_int_eq(
      parse_bin("{\"inputs\":[{\"name\":\"a\",\"shape\":[2,2],\"datatype\":"
                "\"FP32\",\"parameters\":{\"binary_data_size\":16}},"
                "{\"name\":\"b\",\"shape\":[2],\"datatype\":\"INT32\","
                "\"parameters\":{\"binary_data_size\":8}}]}",
                both, sizeof both, &q),
      BD_OK);
  ck_assert_int_eq(q.ninputs, 2);
  ck_assert(q.inputs[0].binary && q.inputs[1].binary);
  ck_assert_int_eq(memcmp(bd_tensor_data(q.inputs[0].t), f, 16), 0);
  ck_assert_int_eq(((int64_t *)bd_tensor_data(q.inputs[1].t))[0], -1);
  ck_assert_int_eq(((int64_t *)bd_tensor_data(q.inputs[1].t))[1], 5);
  proto_v2_request_clear(&q);
  /* UINT64 past int64 and a BOOL byte of 2 are refused. */
  uint64_t big = (uint64_t)1 << 63;
  ck_assert_int_eq(
      parse_bin("{\"inputs\":[{\"name\":\"a\",\"shape\":[1],\"datatype\":"
                "\"UINT64\",\"parameters\":{\"binary_data_size\":8}}]}",
                &big, 8, &q),
      BD_EINVAL);
  proto_v2_request_clear(&q);
  unsigned char two = 2;
  ck_assert_int_eq(
      parse_bin("{\"inputs\":[{\"name\":\"a\",\"shape\":[1],\"datatype\":"
                "\"BOOL\",\"parameters\":{\"binary_data_size\":1}}]}",
                &two, 1, &q),
      BD_EINVAL);
  ck_assert(strstr(bd_errmsg(), "not a BOOL"));
  proto_v2_request_clear(&q);
}
END_TEST

START_TEST(binary_sizes_must_match) {
  proto_v2_request q;
  float f[4] = {0};
  const char *doc =
      "{\"inputs\":[{\"name\":\"a\",\"shape\":[2,2],"
      "\"datatype\":\"FP32\",\"parameters\":"
      "{\"binary_data_size\":16}}]}";
  /* Fewer bytes than declared. */
  ck_assert_int_eq(parse_bin(doc, f, 12, &q), BD_EINVAL);
  ck_assert(strstr(bd_errmsg(), "only 12 bytes of binary data are left"));
  proto_v2_request_clear(&q);
  /* More than the inputs take. */
  unsigned char more[20] = {0};
  ck_assert_int_eq(parse_bin(doc, more, 20, &q), BD_EINVAL);
  ck_assert(strstr(bd_errmsg(), "4 bytes of binary data follow"));
  proto_v2_request_clear(&q);
  /* A size that does not match shape x datatype. */
  ck_assert_int_eq(
      parse_bin("{\"inputs\":[{\"name\":\"a\",\"shape\":[2,2],\"datatype\":"
                "\"FP16\",\"parameters\":{\"binary_data_size\":16}}]}",
                f, 16, &q),
      BD_EINVAL);
  ck_assert(strstr(bd_errmsg(), "16 bytes, but shape [2, 2] of FP16 needs 8"));
  proto_v2_request_clear(&q);
  /* Header length past the body. */
  ck_assert_int_eq(proto_v2_infer_parse("{}", 2, 3, 0, &q), BD_EINVAL);
  ck_assert(strstr(bd_errmsg(), "is 3 but the body holds only 2 bytes"));
  proto_v2_request_clear(&q);
  /* binary_data_size without the header. */
  ck_assert_int_eq(parse_json(doc, &q), BD_EINVAL);
  ck_assert(strstr(bd_errmsg(), "needs the Inference-Header-Content-Length"));
  proto_v2_request_clear(&q);
  /* data and binary_data_size both. */
  ck_assert_int_eq(
      parse_bin("{\"inputs\":[{\"name\":\"a\",\"shape\":[1],\"datatype\":"
                "\"FP32\",\"data\":[1],\"parameters\":{\"binary_data_size\":"
                "4}}]}",
                f, 4, &q),
      BD_EINVAL);
  proto_v2_request_clear(&q);
  /* The element limit holds for binary inputs too. */
  const char *big =
      "{\"inputs\":[{\"name\":\"a\",\"shape\":[1000],"
      "\"datatype\":\"FP32\",\"parameters\":"
      "{\"binary_data_size\":4000}}]}";
  char *body = calloc(1, strlen(big) + 4000);
  memcpy(body, big, strlen(big));
  ck_assert_int_eq(proto_v2_infer_parse(body, strlen(big) + 4000,
                                        (int64_t)strlen(big), 100, &q),
                   BD_ELIMIT);
  proto_v2_request_clear(&q);
  free(body);
}
END_TEST

START_TEST(raw_binary_form) {
  proto_v2_request q;
  float f[3] = {1, 2, 3};
  ck_assert_int_eq(proto_v2_infer_parse((const char *)f, 12, 0, 0, &q), BD_OK);
  ck_assert(q.raw && q.binary_output);
  ck_assert_int_eq(q.ninputs, 1);
  ck_assert_str_eq(q.inputs[0].name, PROTO_V2_INPUT);
  ck_assert_int_eq(q.inputs[0].t->ndim, 2);
  ck_assert_int_eq(q.inputs[0].t->shape[0], 1);
  ck_assert_int_eq(q.inputs[0].t->shape[1], 3);
  proto_v2_request_clear(&q);
  ck_assert_int_eq(proto_v2_infer_parse((const char *)f, 6, 0, 0, &q),
                   BD_EINVAL);
  proto_v2_request_clear(&q);
}
END_TEST

START_TEST(malformed_requests) {
  static const struct {
    const char *doc;
    bd_status s;
    const char *msg;
  } cases[] = {
      {"", BD_EJSON, "needs a JSON body"},
      {"{", BD_EJSON, "malformed JSON"},
      {"[]", BD_EINVAL, "must be a JSON object"},
      {"{\"inputs\":[]}", BD_EINVAL, "inputs: must hold at least one"},
      {"{}", BD_EINVAL, "inputs: missing"},
      {"{\"inputs\":[{}],\"x\":1}", BD_EINVAL, "unknown field 'x'"},
      {"{\"inputs\":[{\"shape\":[1],\"datatype\":\"FP32\",\"data\":[1]}]}",
       BD_EINVAL, "inputs[0].name: missing"},
      {"{\"inputs\":[{\"name\":\"a\",\"shape\":[-1],\"datatype\":\"FP32\","
       "\"data\":[1]}]}",
       BD_EINVAL, "inputs[0].shape[0]: must be a non-negative integer"},
      {"{\"inputs\":[{\"name\":\"a\",\"shape\":[1],\"data\":[1]}]}", BD_EINVAL,
       "inputs[0].datatype: missing"},
      {"{\"inputs\":[{\"name\":\"a\",\"shape\":[2],\"datatype\":\"FP32\","
       "\"data\":[1]}]}",
       BD_ESHAPE, "does not match shape [2]"},
      {"{\"inputs\":[{\"name\":\"a\",\"shape\":[1],\"datatype\":\"FP32\","
       "\"data\":[1]}],\"outputs\":[{\"parameters\":{}}]}",
       BD_EINVAL, "outputs[0].name: missing"},
      {"{\"inputs\":[{\"name\":\"a\",\"shape\":[1],\"datatype\":\"FP32\","
       "\"data\":[1]}],\"parameters\":{\"binary_data_output\":1}}",
       BD_EINVAL, "parameters.binary_data_output: must be true or false"},
      {"{\"inputs\":[{\"name\":\"a\",\"shape\":[1],\"datatype\":\"FP32\","
       "\"data\":[1]}]} x",
       BD_EJSON, "trailing data"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    proto_v2_request q;
    bd_status s = parse_json(cases[i].doc, &q);
    ck_assert_msg(s == cases[i].s, "case %zu: status %d", i, (int)s);
    ck_assert_msg(strstr(bd_errmsg(), cases[i].msg), "case %zu: %s", i,
                  bd_errmsg());
    proto_v2_request_clear(&q);
  }
}
END_TEST

START_TEST(response_json_and_binary) {
  int64_t sh[] = {1, 2};
  bd_tensor *t;
  ck_assert_int_eq(bd_tensor_new(BD_CPU, BD_F32, 2, sh, &t), BD_OK);
  bd_tensor_f32(t)[0] = 0.5f;
  bd_tensor_f32(t)[1] = -2.0f;
  proto_v2_output o = {"output__0", t, false};
  proto_buf b = {0};
  size_t jl;
  proto_v2_infer_response(&b, "m", "1", "r\"1", &o, 1, &jl);
  const char *want =
      "{\"model_name\":\"m\",\"model_version\":\"1\",\"id\":\"r\\\"1\","
      "\"outputs\":[{\"name\":\"output__0\",\"datatype\":\"FP32\","
      "\"shape\":[1,2],\"data\":[0.5,-2]}]}";
  ck_assert_uint_eq(jl, strlen(want));
  ck_assert_uint_eq(b.len, jl);
  ck_assert_int_eq(memcmp(b.data, want, jl), 0);
  proto_buf_free(&b);
  o.binary = true;
  proto_v2_infer_response(&b, "m", NULL, NULL, &o, 1, &jl);
  const char *head =
      "{\"model_name\":\"m\",\"outputs\":[{\"name\":\"output__0\","
      "\"datatype\":\"FP32\",\"shape\":[1,2],\"parameters\":"
      "{\"binary_data_size\":8}}]}";
  ck_assert_uint_eq(jl, strlen(head));
  ck_assert_uint_eq(b.len, jl + 8);
  ck_assert_int_eq(memcmp(b.data, head, jl), 0);
  ck_assert_int_eq(memcmp(b.data + jl, bd_tensor_data(t), 8), 0);
  ck_assert_int_eq(proto_v2_response_json_bound(&o, 1), 256);
  proto_buf_free(&b);
  bd_tensor_release(t);
}
END_TEST

START_TEST(metadata_and_error) {
  proto_buf b = {0};
  static const char *const ext[] = {"binary_tensor_data", NULL};
  proto_v2_server_metadata(&b, "blockd", "0.1.0", ext);
  proto_buf_puts(&b, "|");
  proto_v2_model_metadata(&b, "mlp", "1", "blockd", BD_F32, 20, BD_F32, -1);
  proto_buf_puts(&b, "|");
  proto_v2_error(&b, "bad \"x\"");
  char *s = proto_buf_take(&b, NULL);
  ck_assert_str_eq(
      s,
      "{\"name\":\"blockd\",\"version\":\"0.1.0\",\"extensions\":"
      "[\"binary_tensor_data\"]}|{\"name\":\"mlp\",\"versions\":[\"1\"],"
      "\"platform\":\"blockd\",\"inputs\":[{\"name\":\"input__0\","
      "\"datatype\":\"FP32\",\"shape\":[-1,20]}],\"outputs\":[{\"name\":"
      "\"output__0\",\"datatype\":\"FP32\",\"shape\":[-1,-1]}]}|"
      "{\"error\":\"bad \\\"x\\\"\"}");
  free(s);
  ck_assert_str_eq(proto_v2_datatype(BD_BF16), "BF16");
  ck_assert_str_eq(proto_v2_datatype(BD_I64), "INT64");
}
END_TEST

/* in/out features of a spec given as JSON text. */
static void features(const char *spec, int64_t in, int64_t out) {
  cJSON *j = cJSON_Parse(spec);
  ck_assert_ptr_nonnull(j);
  int64_t i, o;
  proto_v2_spec_features(j, &i, &o);
  ck_assert_msg(i == in && o == out, "%s: got [%lld, %lld]", spec, (long long)i,
                (long long)o);
  cJSON_Delete(j);
}

START_TEST(spec_features) {
  features("{\"type\":\"linear\",\"in_features\":3,\"out_features\":2}", 3, 2);
  features(
      "{\"type\":\"sequential\",\"layers\":[{\"type\":\"relu\"},"
      "{\"type\":\"linear\",\"in_features\":6,\"out_features\":5},"
      "{\"type\":\"parallel\",\"combine\":\"concat\",\"branches\":["
      "{\"type\":\"linear\",\"in_features\":5,\"out_features\":4},"
      "{\"type\":\"tanh\"}]}]}",
      6, 9);
  /* A tied block reached through a ref, a matmul, a while that keeps the
   * shape. */
  features(
      "{\"type\":\"sequential\",\"layers\":[{\"type\":\"linear\","
      "\"id\":\"l\",\"in_features\":5,\"out_features\":5},"
      "{\"type\":\"matmul\",\"weight\":{\"shape\":[5,7]}},"
      "{\"type\":\"linear\",\"in_features\":7,\"out_features\":5},"
      "{\"ref\":\"l\"},{\"type\":\"while\",\"body\":{\"type\":\"scale\","
      "\"value\":0.5}}]}",
      5, 5);
  /* An input that only a residual's body fixes; an identity tree. */
  features(
      "{\"type\":\"residual\",\"body\":{\"type\":\"linear\","
      "\"in_features\":8,\"out_features\":8}}",
      8, 8);
  features("{\"type\":\"sequential\",\"layers\":[{\"type\":\"relu\"}]}", -1,
           -1);
  /* Unknown after flatten / sum, a ref to nothing, a plugin type. */
  features(
      "{\"type\":\"sequential\",\"layers\":[{\"type\":\"flatten\"},"
      "{\"type\":\"linear\",\"in_features\":12,\"out_features\":8}]}",
      -1, 8);
  features(
      "{\"type\":\"sequential\",\"layers\":[{\"type\":\"linear\","
      "\"in_features\":4,\"out_features\":4},{\"type\":\"sum\"}]}",
      4, -1);
  features("{\"ref\":\"nowhere\"}", -1, -1);
  features("{\"type\":\"my_plugin\",\"width\":3}", -1, -1);
  int64_t i, o;
  proto_v2_spec_features(NULL, &i, &o);
  ck_assert(i == -1 && o == -1);
}
END_TEST

int main(void) {
  if (bd_backends_init() != BD_OK) return 1;
  Suite *s = suite_create("v2_json");
  TCase *tc = tcase_create("core");
  tcase_add_test(tc, json_request_fields);
  tcase_add_test(tc, json_datatypes_widen_and_check_range);
  tcase_add_test(tc, binary_inputs);
  tcase_add_test(tc, binary_sizes_must_match);
  tcase_add_test(tc, raw_binary_form);
  tcase_add_test(tc, malformed_requests);
  tcase_add_test(tc, response_json_and_binary);
  tcase_add_test(tc, metadata_and_error);
  tcase_add_test(tc, spec_features);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? 1 : 0;
}
