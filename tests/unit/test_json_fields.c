/* test_json_fields.c - the one-pass body reader against the old path
 * (proto_json_body + proto_tensor_from_json on the cJSON tree): the same
 * tensors, the same rest, the same errors with the same messages, for
 * hand-written bodies and for 30000 mutated ones (bytes flipped, cut,
 * inserted); proto_tensor_parse for PUT bodies. */
#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/json_fields.h"
#include "proto/json_parse.h"
#include "proto/json_tensor.h"

static const char *const KEYS[] = {"inputs", "loss.target", "grad_output",
                                   NULL};
enum { NK = 3 };

/* The old path, key by key as the routes decode them. */
static bd_status ref_fields(const char *body, size_t len, int64_t max,
                            bd_tensor **tv, cJSON **rest) {
  for (int i = 0; i < NK; i++) tv[i] = NULL;
  bd_status s = proto_json_body(body, len, false, rest);
  if (s) return s;
  for (int i = 0; i < NK; i++) {
    cJSON *node = proto_json_path(*rest, KEYS[i]);
    if (!node) continue;
    if (proto_tensor_from_json(node, KEYS[i], max, &tv[i])) tv[i] = NULL;
  }
  return BD_OK;
}

/* Values equal bit for bit (NaN as NaN); float32 within one unit in the
 * last place when the text is not representable: the old path rounds
 * twice (strtod, then to float). */
static void same_tensor(const bd_tensor *a, const bd_tensor *b,
                        const char *body) {
  ck_assert_msg(a->dtype == b->dtype && a->ndim == b->ndim, "%s", body);
  for (int d = 0; d < a->ndim; d++)
    ck_assert_msg(a->shape[d] == b->shape[d], "%s", body);
  int64_t n = bd_tensor_numel(a);
  size_t es = bd_dtype_size(a->dtype);
  const unsigned char *x = bd_tensor_data(a), *y = bd_tensor_data(b);
  for (int64_t i = 0; i < n; i++) {
    if (!memcmp(x + i * es, y + i * es, es)) continue;
    if (a->dtype == BD_F32) {
      float fa = ((const float *)x)[i], fb = ((const float *)y)[i];
      if (isnan(fa) && isnan(fb)) continue;
      ck_assert_msg(nextafterf(fa, fb) == fb, "%s: element %lld %a vs %a", body,
                    (long long)i, (double)fa, (double)fb);
    } else if (a->dtype == BD_F64) {
      double fa = ((const double *)x)[i], fb = ((const double *)y)[i];
      ck_assert_msg(isnan(fa) && isnan(fb), "%s: element %lld", body,
                    (long long)i);
    } else {
      ck_assert_msg(0, "%s: element %lld differs", body, (long long)i);
    }
  }
}

/* Runs body through both paths; they must agree. Returns the status. */
static bd_status both(const char *body, size_t len, int64_t max) {
  bd_tensor *ta[NK], *tb[NK];
  cJSON *ra = NULL, *rb = NULL;
  bd_status sb = ref_fields(body, len, max, tb, &rb);
  char mb[1024];
  snprintf(mb, sizeof mb, "%s", bd_errmsg());
  bd_status sa = proto_json_tensor_fields(body, len, KEYS, max, ta, &ra);
  ck_assert_msg(sa == sb, "%.*s: status %d vs %d (%s)", (int)len, body, sa, sb,
                bd_errmsg());
  if (sa) {
    ck_assert_msg(strcmp(bd_errmsg(), mb) == 0, "%.*s: '%s' vs '%s'", (int)len,
                  body, bd_errmsg(), mb);
    ck_assert_ptr_null(ra);
    for (int i = 0; i < NK; i++) ck_assert_ptr_null(ta[i]);
    return sa;
  }
  for (int i = 0; i < NK; i++) {
    ck_assert_msg(!ta[i] == !tb[i], "%.*s: key %s decoded %d vs %d", (int)len,
                  body, KEYS[i], !!ta[i], !!tb[i]);
    /* The route's view: the tensor, or the same error from rest. */
    bd_tensor *xa = NULL, *xb = NULL;
    bd_status ea = proto_json_fields_tensor(&ta[i], ra, KEYS[i], max, &xa);
    char me[1024];
    snprintf(me, sizeof me, "%s", bd_errmsg());
    bd_status eb = proto_json_fields_tensor(&tb[i], rb, KEYS[i], max, &xb);
    ck_assert_int_eq(ea, eb);
    if (ea)
      ck_assert_msg(strcmp(me, bd_errmsg()) == 0, "'%s' vs '%s'", me,
                    bd_errmsg());
    else
      same_tensor(xa, xb, body);
    bd_tensor_release(xa);
    bd_tensor_release(xb);
  }
  /* rb still holds the tensors that decoded; ra never did. */
  for (int i = 0; i < NK; i++) {
    cJSON *node = proto_json_path(rb, KEYS[i]);
    bd_tensor *t = NULL;
    if (node && !proto_tensor_from_json(node, KEYS[i], max, &t)) {
      bd_tensor_release(t);
      cJSON *o = strchr(KEYS[i], '.') ? cJSON_GetObjectItem(rb, "loss") : rb;
      cJSON_Delete(cJSON_DetachItemViaPointer(o, node));
    }
  }
  char *pa = cJSON_PrintUnformatted(ra), *pb = cJSON_PrintUnformatted(rb);
  ck_assert_msg(pa && pb && strcmp(pa, pb) == 0, "%.*s: rest %s vs %s",
                (int)len, body, pa, pb);
  free(pa);
  free(pb);
  cJSON_Delete(ra);
  cJSON_Delete(rb);
  return sa;
}

static bd_status both_s(const char *body) {
  return both(body, strlen(body), 1000);
}

static const char *const GOOD[] = {
    "{\"inputs\":[[1,2],[3,4]]}",
    "{\"inputs\":[[1.5,-2e-3],[\"NaN\",\"-Infinity\"]],\"flat\":true}",
    " {\"inputs\" : 3.25 } ",
    "{\"inputs\":{\"shape\":[2,2],\"dtype\":\"float32\",\"data\":[1,2,3,4]}}",
    "{\"inputs\":{\"data\":[1,2,3,4],\"shape\":[2,2]}}",
    "{\"inputs\":{\"data\":[9007199254740993,-9223372036854775808],"
    "\"dtype\":\"int64\"}}",
    "{\"inputs\":{\"dtype\":\"int64\",\"shape\":[2],"
    "\"data\":[9223372036854775807,true]}}",
    "{\"inputs\":{\"shape\":[],\"data\":5}}",
    "{\"inputs\":{\"shape\":[],\"data\":[5]}}",
    "{\"inputs\":{\"shape\":[2,0,3],\"data\":[[],[]]}}",
    "{\"inputs\":[[],[]]}",
    "{\"inputs\":[]}",
    "{\"inputs\":{\"data\":\"NaN\"}}",
    "{\"inputs\":{\"dtype\":\"float64\",\"data\":[0.1,1e308,5e-324]}}",
    "{\"inputs\":{\"dtype\":\"float16\",\"data\":[0.1,65504,1e5]}}",
    "{\"inputs\":{\"dtype\":\"bfloat16\",\"data\":[[0.1],[3]]}}",
    "{\"inputs\":[1,2],\"loss\":{\"type\":\"mse\",\"target\":[[3],[4]]},"
    "\"return_outputs\":false}",
    "{\"loss\":{\"target\":{\"data\":[1]},\"type\":\"cross_entropy\"},"
    "\"inputs\":[[1]]}",
    "{\"loss\":[1,2],\"inputs\":[1]}",
    "{\"inputs\":[1],\"grad_output\":[[0.5]],\"x\":{\"y\":[1,{\"z\":null}]},"
    "\"big\":12345678901234567890}",
    "{\"in\\u0070uts\":[1,2],\"\\u00e9\\ud83d\\ude00\":\"caf\xc3\xa9\"}",
    "{\"inputs\":[1,2],\"inputs\":[3]}",
    "{}",
    "\xef\xbb\xbf{\"inputs\":[1]}",
    "{\"inputs\":[1]}\n\r\t ",
    "{\"inputs\":[-.5, 1., 007, 1E+2]}",
    "{\"inputs\":[0.10000000149011612,3.4028235677973366e38,1e-46]}",
    "{\"inputs\":[[[[[[[[1]]]]]]]]}",
};

static const char *const BAD[] = {
    "",
    "  \n",
    "[1,2]",
    "3",
    "{\"inputs\":[1,2]",
    "{\"inputs\":[1,2]} x",
    "{\"inputs\":[1,2]}{}",
    "{\"inputs\":[1,2,]}",
    "{\"inputs\":[1 2]}",
    "{\"inputs\":[1e]}",
    "{\"inputs\":[--1]}",
    "{\"inputs\":[.5]}",
    "{\"inputs\":[1,2],\"k\":\"\xff\"}",
    "{\"k\xc3\":1}",
    "{\"inputs\":[1],\"s\":\"\\ud800\"}",
    "{\"inputs\":[1],\"s\":\"\\q\"}",
    "{inputs:[1]}",
    "{\"inputs\":[tru]}",
    "{\"inputs\" [1]}",
};

/* Valid JSON whose tensors do not decode: left in rest, same error. */
static const char *const BAD_TENSOR[] = {
    "{\"inputs\":[[1,2],[3]]}",
    "{\"inputs\":[[1,2],3]}",
    "{\"inputs\":[1,[2]]}",
    "{\"inputs\":[[],[1]]}",
    "{\"inputs\":[[1],[]]}",
    "{\"inputs\":[[], [[1]]]}",
    "{\"inputs\":{\"shape\":[2,3],\"data\":[[1,2],[3,4]]}}",
    "{\"inputs\":{\"shape\":[2,2],\"data\":[1,2,3]}}",
    "{\"inputs\":{\"shape\":[2],\"data\":5}}",
    "{\"inputs\":[1,\"x\"]}",
    "{\"inputs\":[1,null]}",
    "{\"inputs\":[{}]}",
    "{\"inputs\":{\"shape\":[1],\"data\":[1],\"device\":\"cpu\"}}",
    "{\"inputs\":{\"shape\":[1],\"dtype\":\"int8\",\"data\":[1]}}",
    "{\"inputs\":{\"shape\":[1.5],\"data\":[1]}}",
    "{\"inputs\":{\"shape\":[1,1,1,1,1,1,1,1,1],\"data\":[1]}}",
    "{\"inputs\":[[[[[[[[[1]]]]]]]]]}",
    "{\"inputs\":{\"shape\":[1001,1],\"data\":[]}}",
    "{\"inputs\":\"abc\"}",
    "{\"inputs\":null}",
    "{\"inputs\":true}",
    "{\"inputs\":{\"dtype\":\"int64\",\"data\":[2.5]}}",
    "{\"inputs\":{\"dtype\":\"int64\",\"data\":[\"NaN\"]}}",
    "{\"inputs\":{\"dtype\":\"int64\",\"data\":[9223372036854775808]}}",
    "{\"inputs\":{\"shape\":[2]}}",
    "{\"inputs\":[1],\"loss\":{\"target\":[[1],[2,3]]}}",
};

START_TEST(test_agrees_with_old_path) {
  for (size_t i = 0; i < sizeof GOOD / sizeof GOOD[0]; i++)
    ck_assert_msg(both_s(GOOD[i]) == BD_OK, "%s: %s", GOOD[i], bd_errmsg());
  for (size_t i = 0; i < sizeof BAD / sizeof BAD[0]; i++)
    ck_assert_msg(both_s(BAD[i]) != BD_OK, "%s passed", BAD[i]);
  for (size_t i = 0; i < sizeof BAD_TENSOR / sizeof BAD_TENSOR[0]; i++)
    ck_assert_msg(both_s(BAD_TENSOR[i]) == BD_OK, "%s", BAD_TENSOR[i]);
  /* A 1001-element list against a limit of 1000. */
  char big[8000];
  size_t n = (size_t)snprintf(big, sizeof big, "{\"inputs\":[0");
  for (int i = 1; i < 1001; i++) n += (size_t)snprintf(big + n, 8, ",%d", i);
  n += (size_t)snprintf(big + n, 4, "]}");
  ck_assert_int_eq(both(big, n, 1000), BD_OK);
  /* A raw NUL in a key (found by fuzz_json_fields). */
  static const char nul[] = "{\"inputs\0\0\":[[1,2],[3,4]]}";
  ck_assert_int_eq(both(nul, sizeof nul - 1, 1000), BD_OK);
  ck_assert_int_eq(both(big, n, 1001), BD_OK);
}
END_TEST

START_TEST(test_messages) {
  bd_tensor *tv[NK];
  cJSON *rest;
  ck_assert_int_eq(
      proto_json_tensor_fields("{\"inputs\":[1,2]", 15, KEYS, 0, tv, &rest),
      BD_EJSON);
  ck_assert_str_eq(bd_errmsg(), "malformed JSON near byte 14");
  ck_assert_int_eq(proto_json_tensor_fields("[1]", 3, KEYS, 0, tv, &rest),
                   BD_EINVAL);
  ck_assert_str_eq(bd_errmsg(), "the request body must be a JSON object");
  ck_assert_int_eq(proto_json_tensor_fields("{} 1", 4, KEYS, 0, tv, &rest),
                   BD_EJSON);
  ck_assert_str_eq(bd_errmsg(),
                   "trailing data after the JSON document at byte 3");
  ck_assert_int_eq(
      proto_json_tensor_fields("{\"\xff\":1}", 6, KEYS, 0, tv, &rest),
      BD_EINVAL);
  ck_assert_str_eq(bd_errmsg(), "the JSON body is not valid UTF-8");
  ck_assert_int_eq(proto_json_tensor_fields("{\"inputs\":[[1,2],[3]]}", 22,
                                            KEYS, 0, tv, &rest),
                   BD_OK);
  ck_assert_ptr_null(tv[0]);
  bd_tensor *x;
  ck_assert_int_eq(proto_json_fields_tensor(&tv[0], rest, "inputs", 0, &x),
                   BD_ESHAPE);
  ck_assert(strstr(bd_errmsg(), "inputs: ragged") != NULL);
  ck_assert_int_eq(proto_json_fields_tensor(&tv[1], rest, "loss.target", 0, &x),
                   BD_EINVAL);
  ck_assert_str_eq(bd_errmsg(), "loss.target: missing");
  cJSON_Delete(rest);
}
END_TEST

START_TEST(test_mutations) {
  uint64_t st = 12345;
  char buf[600];
  for (int it = 0; it < 30000; it++) {
    st ^= st << 13;
    st ^= st >> 7;
    st ^= st << 17;
    const char *src = GOOD[st % (sizeof GOOD / sizeof GOOD[0])];
    size_t n = strlen(src);
    memcpy(buf, src, n);
    int edits = 1 + (int)((st >> 8) % 3);
    for (int e = 0; e < edits && n > 0; e++) {
      st ^= st << 13;
      st ^= st >> 7;
      st ^= st << 17;
      size_t pos = (st >> 16) % n;
      static const char pool[] = "[]{},:\"0123456789.-eE+ tfnu\\\xff\xc3";
      char c = pool[(st >> 40) % (sizeof pool - 1)];
      switch ((st >> 32) % 3) {
        case 0:
          buf[pos] = c;
          break;
        case 1:
          n = pos;
          break;
        default:
          if (n + 1 < sizeof buf) {
            memmove(buf + pos + 1, buf + pos, n - pos);
            buf[pos] = c;
            n++;
          }
      }
    }
    both(buf, n, 1000);
  }
}
END_TEST

START_TEST(test_tensor_parse) {
  static const char *const ok[] = {"[1,2,3]", "{\"data\":[1],\"shape\":[1]}",
                                   " 2.5 trailing", "[[1,2],[3,4]] [5]"};
  for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
    bd_tensor *a = NULL, *b = NULL;
    ck_assert_int_eq(proto_tensor_parse(ok[i], strlen(ok[i]), "body", 0, &a),
                     BD_OK);
    cJSON *j = proto_json_parse(ok[i], strlen(ok[i]), NULL);
    ck_assert_int_eq(proto_tensor_from_json(j, "body", 0, &b), BD_OK);
    same_tensor(a, b, ok[i]);
    cJSON_Delete(j);
    bd_tensor_release(a);
    bd_tensor_release(b);
  }
  bd_tensor *t = NULL;
  ck_assert_int_eq(proto_tensor_parse("[1,", 3, "body", 0, &t), BD_EJSON);
  ck_assert_ptr_null(t);
  ck_assert_int_eq(proto_tensor_parse("[[1],[2,3]]", 11, "body", 0, &t),
                   BD_ESHAPE);
  ck_assert(strstr(bd_errmsg(), "body: ragged") != NULL);
  ck_assert_int_eq(proto_tensor_parse("[1,2,3]", 7, "body", 2, &t), BD_ELIMIT);
}
END_TEST

int main(void) {
  Suite *s = suite_create("json_fields");
  TCase *tc = tcase_create("fields");
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, test_agrees_with_old_path);
  tcase_add_test(tc, test_messages);
  tcase_add_test(tc, test_mutations);
  tcase_add_test(tc, test_tensor_parse);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
