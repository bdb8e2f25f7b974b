/* test_tformat.c - proto/tformat: format names, sniffing and the
 * parse / encode dispatch. */
#include <check.h>
#include <string.h>

#include "engine/backend.h"
#include "proto/tformat.h"

START_TEST(names) {
  proto_tformat f;
  ck_assert(proto_tformat_parse("pt", &f) && f == PROTO_TFORMAT_TORCH);
  ck_assert(proto_tformat_parse("torch", &f) && f == PROTO_TFORMAT_TORCH);
  ck_assert(proto_tformat_parse("safetensors", &f) &&
            f == PROTO_TFORMAT_SAFETENSORS);
  ck_assert(!proto_tformat_parse("json", &f));
  ck_assert(!proto_tformat_parse(NULL, &f));
  ck_assert_str_eq(proto_tformat_name(PROTO_TFORMAT_TORCH), "torch");
}
END_TEST

START_TEST(dispatch_round_trip) {
  int64_t shape[1] = {3};
  bd_tensor *t;
  ck_assert_int_eq(bd_tensor_zeros(BD_CPU, BD_F32, 1, shape, &t), BD_OK);
  proto_tfile f = {.kind = PROTO_TFILE_DICT};
  ck_assert_int_eq(bd_named_tensors_add(&f.list, "x", t), BD_OK);
  bd_tensor_release(t);
  for (int k = 0; k < 2; k++) {
    proto_tformat want = k ? PROTO_TFORMAT_TORCH : PROTO_TFORMAT_SAFETENSORS,
                  got = !want;
    proto_buf b = {0};
    ck_assert_int_eq(
        proto_tfile_encode(&f, want, "p", NULL, proto_buf_sink(&b)), BD_OK);
    proto_tfile g;
    ck_assert_int_eq(proto_tfile_parse(b.data, b.len, NULL, &g, &got), BD_OK);
    ck_assert_int_eq(got, want);
    ck_assert_int_eq(g.kind, PROTO_TFILE_DICT);
    ck_assert_uint_eq(g.list.n, 1);
    ck_assert_str_eq(g.list.names[0], "x");
    proto_tfile_clear(&g);
    proto_buf_free(&b);
  }
  proto_tfile_clear(&f);
}
END_TEST

START_TEST(neither_format) {
  const char junk[] = "this is not a tensor file at all";
  proto_tfile g;
  ck_assert_int_eq(proto_tfile_parse(junk, sizeof junk, NULL, &g, NULL),
                   BD_EFORMAT);
  ck_assert(strstr(bd_errmsg(), "not a safetensors file or a torch.save"));
  proto_tfile_clear(&g);
}
END_TEST

int main(void) {
  if (bd_backends_init() != BD_OK) return 1;
  Suite *s = suite_create("tformat");
  TCase *tc = tcase_create("core");
  tcase_add_test(tc, names);
  tcase_add_test(tc, dispatch_round_trip);
  tcase_add_test(tc, neither_format);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? 1 : 0;
}
