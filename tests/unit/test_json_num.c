/* test_json_num.c - JSON numbers without libc: the shortest float32
 * digits against numpy's shortest repr (np.format_float_scientific with
 * unique=True, Dragon4) for 100000 random bit patterns plus the edges;
 * reading against strtof/strtod over random and hard decimal strings
 * (rounding boundaries given exactly, long digit strings, the subnormal
 * and overflow edges); exact int64. */
#include <check.h>
#include <float.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "proto/json_num.h"

static uint64_t rs = 0x2545f4914f6cdd1dULL;
static uint64_t rnd(void) {
  rs ^= rs << 13;
  rs ^= rs >> 7;
  rs ^= rs << 17;
  return rs;
}

static float u2f(uint32_t u) {
  float f;
  memcpy(&f, &u, 4);
  return f;
}

/* The bit patterns compared with numpy: edges first, then random positive
 * finite ones (a fifth of them subnormal). */
static int fill_bits(uint32_t *bits, int n) {
  int k = 0;
  static const uint32_t edges[] = {
      0x00000001, 0x00000002, 0x00000003, 0x007fffff, 0x007ffffe,
      0x00800000, 0x00800001, 0x7f7fffff, 0x7f7ffffe, 0x3f800000,
      0x3f7fffff, 0x3f800001, 0x4b800000, 0x4b7fffff, 0x3dcccccd,
      0x3e99999a, 0x501502f9, 0x5a0e1bca, 0x0b8cd600};
  for (size_t i = 0; i < sizeof edges / sizeof edges[0]; i++)
    bits[k++] = edges[i];
  for (int e = 1; e < 255; e++) bits[k++] = (uint32_t)e << 23; /* 2^x */
  while (k < n) {
    uint32_t u = (uint32_t)rnd() & 0x7fffffffu;
    if (k % 5 == 0) u &= 0x007fffffu;
    if (u == 0 || (u >> 23) == 0xff) continue;
    bits[k++] = u;
  }
  return k;
}

START_TEST(test_shortest_matches_numpy) {
  enum { N = 100000 };
  uint32_t *bits = malloc(N * sizeof *bits);
  ck_assert_ptr_nonnull(bits);
  int n = fill_bits(bits, N);
  char in[] = "/tmp/blockd_json_num_XXXXXX";
  int fd = mkstemp(in);
  ck_assert_int_ge(fd, 0);
  FILE *f = fdopen(fd, "w");
  for (int i = 0; i < n; i++) fprintf(f, "%u\n", bits[i]);
  fclose(f);
  /* Digits and exponent of numpy's shortest unique repr, one a line. */
  char cmd[512];
  snprintf(cmd, sizeof cmd,
           "/usr/bin/python3 -c \"import sys, numpy as np\n"
           "v = np.loadtxt('%s', dtype=np.uint32).view(np.float32)\n"
           "w = sys.stdout.write\n"
           "for x in v:\n"
           "  m, e = np.format_float_scientific(x, unique=True).split('e')\n"
           "  d = m.replace('.', '').rstrip('0')\n"
           "  w(d + ' ' + str(int(e) - len(d) + 1) + chr(10))\n\"",
           in);
  FILE *p = popen(cmd, "r");
  ck_assert_ptr_nonnull(p);
  char line[64];
  int i = 0;
  for (; i < n && fgets(line, sizeof line, p); i++) {
    unsigned long want_d;
    int want_e;
    ck_assert_int_eq(sscanf(line, "%lu %d", &want_d, &want_e), 2);
    uint32_t d;
    int e;
    proto_f32_shortest(u2f(bits[i]), &d, &e);
    ck_assert_msg(d == want_d && e == want_e,
                  "%08x: digits %u e%d, numpy %lu e%d", bits[i], d, e, want_d,
                  want_e);
  }
  ck_assert_int_eq(pclose(p), 0);
  ck_assert_int_eq(i, n);
  unlink(in);
  free(bits);
}
END_TEST

START_TEST(test_fmt_layout_and_round_trip) {
  /* The layout stays printf's %g at precision max(6, digits): compared
   * with the old search over %.{p}g for random patterns. */
  char buf[40], want[40];
  for (int i = 0; i < 100000; i++) {
    uint32_t u = (uint32_t)rnd();
    if (i % 4 == 0) u &= 0x807fffffu;
    float f = u2f(u);
    if (!isfinite(f)) continue;
    int n = proto_fmt_f32(f, buf, false);
    ck_assert_int_eq(n, (int)strlen(buf));
    ck_assert_msg(strtof(buf, NULL) == f || f == 0, "%08x printed %s", u, buf);
    int p0 = f != 0 && fabsf(f) < FLT_MIN ? 1 : 6;
    for (int q = p0; q <= 9; q++) {
      snprintf(want, sizeof want, "%.*g", q, (double)f);
      if (strtof(want, NULL) == f) break;
    }
    /* Both are shortest; they differ only where two candidates of that
     * length exist and the closer one is outside the interval's shorter
     * side (never seen; then both must still read back). */
    if (strcmp(buf, want))
      ck_assert_msg(strlen(buf) <= strlen(want), "%08x: %s vs %s", u, buf,
                    want);
  }
  char b[40];
  proto_fmt_f32(1e-7f, b, false);
  ck_assert_str_eq(b, "1e-07");
  proto_fmt_f32(123456.0f, b, false);
  ck_assert_str_eq(b, "123456");
  proto_fmt_f32(1234567.0f, b, false);
  ck_assert_str_eq(b, "1234567");
  proto_fmt_f32(1e6f, b, false);
  ck_assert_str_eq(b, "1e+06");
  proto_fmt_f32(0.0001f, b, false);
  ck_assert_str_eq(b, "0.0001");
  proto_fmt_f32(-0.00001f, b, false);
  ck_assert_str_eq(b, "-1e-05");
  proto_fmt_f32(FLT_MAX, b, true);
  ck_assert_str_eq(b, "3.4028235e+38");
  proto_fmt_f32(NAN, b, true);
  ck_assert_str_eq(b, "\"NaN\"");
  ck_assert_int_eq(proto_fmt_i64(INT64_MIN, b), 20);
  ck_assert_str_eq(b, "-9223372036854775808");
  proto_fmt_i64(0, b);
  ck_assert_str_eq(b, "0");
  proto_fmt_i64(INT64_MAX, b);
  ck_assert_str_eq(b, "9223372036854775807");
}
END_TEST

/* Python's repr of a float is the shortest digits that read back, the
 * closest such ones: proto_fmt_f64 must print the same digits. */
START_TEST(test_f64_matches_python_repr) {
  char in[] = "/tmp/blockd_json_f64_XXXXXX";
  int fd = mkstemp(in);
  ck_assert_int_ge(fd, 0);
  FILE *f = fdopen(fd, "w");
  enum { N = 50000 };
  static char printed[N][32];
  for (int i = 0; i < N; i++) {
    uint64_t u = rnd() & 0x7fffffffffffffffULL;
    if (i % 5 == 0) u &= 0x000fffffffffffffULL; /* subnormal */
    if (i == 1) u = 0x7fefffffffffffffULL;      /* DBL_MAX */
    if (i == 2) u = 1;                          /* smallest subnormal */
    if (i == 3) u = 0x0010000000000000ULL;      /* DBL_MIN */
    double d;
    memcpy(&d, &u, 8);
    if (!isfinite(d) || d == 0) d = 1.5;
    proto_fmt_f64(d, printed[i], false);
    ck_assert_msg(strtod(printed[i], NULL) == d, "%s", printed[i]);
    fprintf(f, "%.17g\n", d);
  }
  fclose(f);
  char cmd[512];
  snprintf(
      cmd, sizeof cmd,
      "/usr/bin/python3 -c \"import sys\n"
      "for l in open('%s'):\n"
      "  m, _, e = repr(float(l)).partition('e')\n"
      "  i, _, fr = m.partition('.')\n"
      "  d = (i + fr).lstrip('0')\n"
      "  x = (int(e) if e else 0) - len(fr) + len(d) - len(d.rstrip('0'))\n"
      "  sys.stdout.write(d.rstrip('0') + ' ' + str(x) + chr(10))\n\"",
      in);
  FILE *p = popen(cmd, "r");
  ck_assert_ptr_nonnull(p);
  char line[64];
  int i = 0;
  for (; i < N && fgets(line, sizeof line, p); i++) {
    char want[32];
    int we;
    ck_assert_int_eq(sscanf(line, "%31s %d", want, &we), 2);
    /* The same digits and exponent out of the printed text. */
    char dg[32];
    int nd = 0, e = 0, frac = 0;
    bool seen_point = false;
    const char *t = printed[i];
    for (; *t && *t != 'e'; t++) {
      if (*t == '.') {
        seen_point = true;
      } else if (*t >= '0' && *t <= '9') {
        if (seen_point) frac++;
        if (nd || *t != '0') dg[nd++] = *t;
      }
    }
    if (*t == 'e') e = atoi(t + 1);
    e -= frac;
    while (nd > 1 && dg[nd - 1] == '0') {
      nd--;
      e++;
    }
    dg[nd] = '\0';
    ck_assert_msg(strcmp(dg, want) == 0 && e == we, "%s: %s e%d, Python %s e%d",
                  printed[i], dg, e, want, we);
  }
  ck_assert_int_eq(pclose(p), 0);
  ck_assert_int_eq(i, N);
  unlink(in);
}
END_TEST

static void check_str(const char *s) {
  float a = strtof(s, NULL), b = -1;
  double c = strtod(s, NULL), d = -1;
  ck_assert_msg(proto_parse_f32(s, strlen(s), &b), "%s not read", s);
  ck_assert_msg(memcmp(&a, &b, 4) == 0, "f32 '%s': strtof %a, got %a", s,
                (double)a, (double)b);
  ck_assert_msg(proto_parse_f64(s, strlen(s), &d), "%s not read", s);
  ck_assert_msg(memcmp(&c, &d, 8) == 0, "f64 '%s': strtod %a, got %a", s, c, d);
}

START_TEST(test_parse_vs_strtof) {
  static const char *hard[] = {
      "3.4028235e38", "3.4028235677973366e38", "3.4028235677973367e38",
      /* FLT_MAX + half an ulp exactly: ties to even, i.e. infinity */
      "3.40282356779733661637539395458142568448e38",
      "3.40282356779733661637539395458142568447e38",
      "3.40282356779733661637539395458142568449e38", "1e-45", "7e-46",
      "7.006492321624085e-46", "7.0064923216240854e-46",
      /* 2^-150 exactly (half the smallest subnormal) and just above */
      "7.00649232162408535461864791644958065640130970938257885878534141944"
      "895541342930300743319094181060791015625e-46",
      "7.00649232162408535461864791644958065640130970938257885878534141944"
      "895541342930300743319094181060791015626e-46",
      "1.1754943e-38", "1.17549428e-38", "1.1754942807573643e-38", "1e39",
      "1e-400", "123456789012345678901234567890", "9007199254740993",
      "1.000000059604644775390625", /* 1 + 2^-24: a tie, to even (1) */
      "1.000000059604644775390625000000000000000000000000001",
      "1.0000000596046447753906249999999999999", "2.2250738585072011e-308",
      "2.2250738585072012e-308", "4.9406564584124654e-324",
      "2.4703282292062327e-324", "2.4703282292062328e-324",
      "1.7976931348623157e308", "1.7976931348623158e308",
      "1.7976931348623159e308", "0", "-0", "0.0e5", "1e+0", "-.5", "1.",
      "00012", "0.10000000149011612", "1e-7", "16777217", "33554435",
      "0.000000000000000000000000000000000000000000001401298464324817"};
  for (size_t i = 0; i < sizeof hard / sizeof hard[0]; i++) check_str(hard[i]);
  char s[400];
  for (int i = 0; i < 100000; i++) {
    int kind = i % 5;
    if (kind == 0) { /* random digits, a point, an exponent */
      int nd = 1 + (int)(rnd() % 40), pos = 0;
      if (rnd() & 1) s[pos++] = '-';
      for (int k = 0; k < nd; k++) {
        s[pos++] = (char)('0' + rnd() % 10);
        if (k == 0 && rnd() % 3 == 0) s[pos++] = '.';
      }
      snprintf(s + pos, sizeof s - (size_t)pos, "e%d", (int)(rnd() % 110) - 60);
    } else if (kind <= 2) { /* a float32 boundary, cut or nudged */
      uint32_t u = (uint32_t)rnd() & 0x7fffffffu;
      if (rnd() % 4 == 0) u &= 0x007fffffu;
      if (u >= 0x7f7fffffu) u = 0x7f7ffffeu;
      double m = ((double)u2f(u) + (double)u2f(u + 1)) / 2; /* exact */
      snprintf(s, sizeof s, "%.*e", (int)(rnd() % 120), m);
      char *e = strchr(s, 'e');
      if (kind == 2 && e && e > s + 2 && e[-1] >= '0' && e[-1] < '9') e[-1]++;
    } else if (kind == 3) { /* what Python sends for a float32 value */
      float f = u2f((uint32_t)rnd() & 0x7f7fffffu);
      snprintf(s, sizeof s, "%.17g", (double)f);
    } else { /* a double, at 10 to 25 digits */
      uint64_t u = rnd() & 0x7fefffffffffffffULL;
      double d;
      memcpy(&d, &u, 8);
      snprintf(s, sizeof s, "%.*e", 9 + (int)(rnd() % 16), d);
    }
    check_str(s);
  }
}
END_TEST

START_TEST(test_scan_grammar) {
  proto_num n;
  const char *s = "1e+";
  ck_assert_ptr_eq(proto_num_scan(s, s + 3, &n), s + 1); /* "1", then e */
  s = "-";
  ck_assert_ptr_null(proto_num_scan(s, s + 1, &n));
  s = "-.";
  ck_assert_ptr_null(proto_num_scan(s, s + 2, &n));
  s = "12.5e3,";
  ck_assert_ptr_eq(proto_num_scan(s, s + 7, &n), s + 6);
  ck_assert(!n.is_int);
  float f;
  ck_assert(!proto_parse_f32("1.5x", 4, &f));
  ck_assert(!proto_parse_f32("", 0, &f));
}
END_TEST

static bool i64_of(const char *s, int64_t *v) {
  proto_num n;
  if (proto_num_scan(s, s + strlen(s), &n) != s + strlen(s)) return false;
  return proto_num_i64(&n, v);
}

START_TEST(test_int64_exact) {
  int64_t v;
  ck_assert(i64_of("9223372036854775807", &v) && v == INT64_MAX);
  ck_assert(i64_of("-9223372036854775808", &v) && v == INT64_MIN);
  ck_assert(!i64_of("9223372036854775808", &v));
  ck_assert(!i64_of("-9223372036854775809", &v));
  ck_assert(!i64_of("100000000000000000000", &v));
  ck_assert(i64_of("9007199254740993", &v) && v == 9007199254740993LL);
  ck_assert(i64_of("000000000000000000000042", &v) && v == 42);
  ck_assert(i64_of("-0", &v) && v == 0);
  ck_assert(i64_of("2.0", &v) && v == 2);
  ck_assert(i64_of("1e3", &v) && v == 1000);
  ck_assert(!i64_of("2.5", &v));
  ck_assert(!i64_of("1e300", &v));
  for (int i = 0; i < 100000; i++) {
    int64_t x = (int64_t)rnd() >> (rnd() % 64);
    char b[32];
    proto_fmt_i64(x, b);
    ck_assert(i64_of(b, &v) && v == x);
    ck_assert_int_eq(strtoll(b, NULL, 10), x);
  }
}
END_TEST

int main(void) {
  Suite *s = suite_create("json_num");
  TCase *tc = tcase_create("num");
  tcase_set_timeout(tc, 300);
  tcase_add_test(tc, test_shortest_matches_numpy);
  tcase_add_test(tc, test_fmt_layout_and_round_trip);
  tcase_add_test(tc, test_f64_matches_python_repr);
  tcase_add_test(tc, test_parse_vs_strtof);
  tcase_add_test(tc, test_scan_grammar);
  tcase_add_test(tc, test_int64_exact);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
