/* test_npy.c - the .npy codec against bytes numpy.save wrote (headers
 * below were produced by numpy 1.x's np.save and pasted verbatim). */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "engine/backend.h"
#include "proto/npy.h"

static bd_tensor *mk(bd_dtype dt, int ndim, const int64_t *shape) {
  bd_tensor *t;
  ck_assert_int_eq(bd_tensor_zeros(BD_CPU, dt, ndim, shape, &t), BD_OK);
  return t;
}

/* Encodes t and checks the header equals numpy's byte for byte. */
static void check_header(bd_tensor *t, const char *np_header, size_t total) {
  proto_buf b = {0};
  ck_assert_int_eq(proto_npy_write(&b, t), BD_OK);
  size_t hl = strlen(np_header + 10) + 10; /* magic+ver+len has no NUL */
  ck_assert_uint_eq(b.len, total);
  ck_assert_int_eq(memcmp(b.data, np_header, 8), 0);
  ck_assert_int_eq((unsigned char)b.data[8], (unsigned char)np_header[8]);
  ck_assert_int_eq(memcmp(b.data + 10, np_header + 10, hl - 10), 0);
  ck_assert_uint_eq(hl % 64, 0);
  proto_buf_free(&b);
}

#define HDR(s) "\x93NUMPY\x01\x00v\x00" s
#define SP20 "                    "

START_TEST(writer_matches_numpy) {
  int64_t s23[] = {2, 3}, s5[] = {5}, s3[] = {3}, s04[] = {0, 4};
  bd_tensor *t = mk(BD_F32, 2, s23);
  check_header(t,
               HDR("{'descr': '<f4', 'fortran_order': False, 'shape': (2, "
                   "3), }" SP20 SP20 "                  \n"),
               152);
  bd_tensor_release(t);
  t = mk(BD_F64, 0, NULL);
  check_header(t,
               HDR("{'descr': '<f8', 'fortran_order': False, 'shape': (), "
                   "}" SP20 SP20 SP20 "  \n"),
               136);
  bd_tensor_release(t);
  t = mk(BD_I64, 1, s5);
  check_header(t,
               HDR("{'descr': '<i8', 'fortran_order': False, 'shape': (5,), "
                   "}" SP20 SP20 SP20 "\n"),
               168);
  bd_tensor_release(t);
  t = mk(BD_F16, 1, s3);
  check_header(t,
               HDR("{'descr': '<f2', 'fortran_order': False, 'shape': (3,), "
                   "}" SP20 SP20 SP20 "\n"),
               134);
  bd_tensor_release(t);
  t = mk(BD_F32, 2, s04);
  check_header(t,
               HDR("{'descr': '<f4', 'fortran_order': False, 'shape': (0, "
                   "4), }" SP20 SP20 "                  \n"),
               128);
  bd_tensor_release(t);
}
END_TEST

START_TEST(roundtrip_values) {
  int64_t sh[] = {2, 3};
  bd_tensor *t;
  ck_assert_int_eq(bd_tensor_new(BD_CPU, BD_F32, 2, sh, &t), BD_OK);
  for (int i = 0; i < 6; i++) bd_tensor_f32(t)[i] = (float)i * -1.25f;
  proto_buf b = {0};
  ck_assert_int_eq(proto_npy_write(&b, t), BD_OK);
  bd_tensor *r;
  ck_assert_int_eq(proto_npy_read(b.data, b.len, 0, &r), BD_OK);
  ck_assert_int_eq(r->dtype, BD_F32);
  ck_assert_int_eq(r->ndim, 2);
  ck_assert_int_eq(r->shape[1], 3);
  ck_assert_int_eq(memcmp(bd_tensor_data(r), bd_tensor_data(t), 24), 0);
  bd_tensor_release(r);
  /* max_elems bounds the allocation. */
  ck_assert_int_eq(proto_npy_read(b.data, b.len, 5, &r), BD_ELIMIT);
  bd_tensor_release(t);
  proto_buf_free(&b);
}
END_TEST

/* np.lib.format.write_array(f, [[1,2],[3,4]] f4, version=(2,0)). */
static const char v2[] =
    "\x93NUMPY\x02\x00t\x00\x00\x00{'descr': '<f4', 'fortran_order': False, "
    "'shape': (2, 2), }" SP20 SP20
    "                \n"
    "\x00\x00\x80?\x00\x00\x00@\x00\x00@@\x00\x00\x80@";

START_TEST(reads_numpy_v2) {
  bd_tensor *r;
  ck_assert_int_eq(proto_npy_read(v2, sizeof v2 - 1, 0, &r), BD_OK);
  ck_assert_int_eq(r->ndim, 2);
  float *f = bd_tensor_f32(r);
  ck_assert(f[0] == 1.0f && f[1] == 2.0f && f[2] == 3.0f && f[3] == 4.0f);
  bd_tensor_release(r);
}
END_TEST

static bd_status rd(const char *hdr_dict, size_t data_len) {
  /* Builds a v1.0 file around a header dict text and data_len zero bytes. */
  size_t hl = strlen(hdr_dict);
  size_t len = 10 + hl + data_len;
  char *buf = calloc(1, len + 1);
  memcpy(buf, "\x93NUMPY\x01\x00", 8);
  buf[8] = (char)(hl & 0xff);
  buf[9] = (char)(hl >> 8);
  memcpy(buf + 10, hdr_dict, hl);
  bd_tensor *r = NULL;
  bd_status s = proto_npy_read(buf, len, 0, &r);
  ck_assert(s != BD_OK || r != NULL);
  bd_tensor_release(r);
  free(buf);
  return s;
}

START_TEST(rejects_hostile) {
  const char *ok =
      "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }\n";
  ck_assert_int_eq(rd(ok, 8), BD_OK);
  ck_assert_int_eq(rd(ok, 7), BD_EFORMAT); /* short data */
  ck_assert_int_eq(rd(ok, 9), BD_EFORMAT); /* trailing data */
  ck_assert_int_eq(
      rd("{'descr': '>f4', 'fortran_order': False, 'shape': (2,), }", 8),
      BD_EUNSUPPORTED);
  ck_assert_int_eq(
      rd("{'descr': '|O', 'fortran_order': False, 'shape': (2,), }", 16),
      BD_EUNSUPPORTED);
  ck_assert_int_eq(
      rd("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (2,)}", 8),
      BD_EUNSUPPORTED);
  ck_assert_int_eq(
      rd("{'descr': '<f4', 'fortran_order': True, 'shape': (2,), }", 8),
      BD_EUNSUPPORTED);
  ck_assert_int_eq(rd("{'descr': '<f4', 'fortran_order': False}", 0),
                   BD_EFORMAT);
  ck_assert_int_eq(rd("{'descr': '<f4', 'fortran_order': False, 'shape': "
                      "(2,), 'x': 1}",
                      8),
                   BD_EFORMAT);
  ck_assert_int_eq(rd("{'descr': '<f4', 'descr': '<f4', 'fortran_order': "
                      "False, 'shape': (2,)}",
                      8),
                   BD_EFORMAT);
  ck_assert_int_eq(rd("{'descr': '<f4', 'fortran_order': False, 'shape': "
                      "(__import__('os'),)}",
                      8),
                   BD_EFORMAT);
  ck_assert_int_eq(rd("{'descr': '<f4', 'fortran_order': False, 'shape': "
                      "(99999999999, 99999999999)}",
                      0),
                   BD_ELIMIT);
  ck_assert_int_eq(rd("{'descr': '<f4', 'fortran_order': False, 'shape': "
                      "(1,1,1,1,1,1,1,1,1)}",
                      4),
                   BD_ELIMIT);
  bd_tensor *r;
  ck_assert_int_eq(proto_npy_read("\x93NUMPX\x01\x00\x00\x00", 10, 0, &r),
                   BD_EFORMAT);
  ck_assert_int_eq(proto_npy_read("\x93NUMPY\x04\x00\x00\x00", 10, 0, &r),
                   BD_EFORMAT);
  ck_assert_int_eq(proto_npy_read("\x93NUMPY\x01\x00\xff\x00{", 11, 0, &r),
                   BD_EFORMAT);
  /* HEADER_LEN over 10000 (v2) is refused before anything is read. */
  ck_assert_int_eq(
      proto_npy_read("\x93NUMPY\x02\x00\x11\x27\x00\x00{", 13, 0, &r),
      BD_EFORMAT);
  ck_assert_int_eq(proto_npy_read("\x93NUMPY", 6, 0, &r), BD_EFORMAT);
}
END_TEST

START_TEST(bf16_refused) {
  int64_t sh[] = {2};
  bd_tensor *t = mk(BD_BF16, 1, sh);
  proto_buf b = {0};
  ck_assert_int_eq(proto_npy_write(&b, t), BD_EUNSUPPORTED);
  proto_buf_free(&b);
  bd_tensor_release(t);
}
END_TEST

int main(void) {
  if (bd_backends_init() != BD_OK) return 1;
  Suite *s = suite_create("npy");
  TCase *tc = tcase_create("core");
  tcase_add_test(tc, writer_matches_numpy);
  tcase_add_test(tc, roundtrip_values);
  tcase_add_test(tc, reads_numpy_v2);
  tcase_add_test(tc, rejects_hostile);
  tcase_add_test(tc, bf16_refused);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? 1 : 0;
}
