/* json_num.h - JSON numbers without libc printf/strtod.
 *
 * Printing: proto_fmt_f32 writes the shortest decimal that reads back to
 * the same float32 bits, the closest such one when several have that many
 * digits (Schubfach: R. Giulietti, "The Schubfach way to render doubles",
 * 2020; table in json_num_table.h from scripts/gen_json_num_table.py), in
 * the layout of printf's %g with the precision max(6, digits): "1",
 * "0.1", "1e+10", "3.4028235e+38", "1e-45".
 *
 * Reading: proto_num_scan splits a number token (the grammar cJSON reads:
 * an optional '-', digits with an optional fraction, an optional exponent;
 * leading zeros and "-.5" included) and proto_num_f32 / _f64 / _i64
 * convert it correctly rounded (round to nearest, ties to even) or
 * exactly: a fast path in double arithmetic whose error is bounded, and
 * where the result could lie on either side of a rounding boundary, an
 * exact comparison against that boundary with a small big integer. */
#ifndef PROTO_JSON_NUM_H
#define PROTO_JSON_NUM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A scanned number token. value = (neg ? -1 : 1) * w * 10^e10, exactly
 * when nsig <= 19 and approximately (w holds the first 19 significant
 * digits, trunc says a dropped one was not zero) otherwise. */
typedef struct proto_num {
  const char *start, *end; /* the token text */
  uint64_t w;              /* the first (up to 19) significant digits */
  int64_t nsig;            /* significant digits (after leading zeros) */
  int64_t e10;             /* decimal exponent of w's last digit */
  bool neg;
  bool trunc;  /* a non-zero digit after the first 19 was dropped */
  bool is_int; /* no fraction and no exponent part */
} proto_num;

/* Scans a number at p (end bounds the text). Returns the first byte after
 * it, or NULL when p does not start a number. An exponent marker not
 * followed by digits ends the number before the marker, as strtod does. */
const char *proto_num_scan(const char *p, const char *end, proto_num *n);

/* The value of n as the nearest float32 / float64 (ties to even; beyond
 * the largest finite value, infinity). */
float proto_num_f32(const proto_num *n);
double proto_num_f64(const proto_num *n);
/* The value of n as an exact int64: true when n is an integer in
 * [-2^63, 2^63-1] (an integer literal of any length, or a fraction or
 * exponent form whose float64 value is integral and in range, as cJSON
 * would have read it). */
bool proto_num_i64(const proto_num *n, int64_t *out);

/* Whole-string conveniences (the text must be exactly one number):
 * false when it is not. */
bool proto_parse_f32(const char *s, size_t len, float *out);
bool proto_parse_f64(const char *s, size_t len, double *out);

/* Writes the shortest decimal that reads back to f; returns its length.
 * buf needs 32 bytes. Non-finite values give "NaN"/"Infinity"/"-Infinity"
 * (with quotes when quoted is true). NUL-terminated. */
int proto_fmt_f32(float f, char *buf, bool quoted);
/* float64: the shortest digits that read back, laid out as %.15g (up to
 * 15 digits: exactly what %.15g gives) or %.17g (16 or 17 digits); non-
 * finite values as proto_fmt_f32. buf needs 32 bytes; NUL-terminated. */
int proto_fmt_f64(double v, char *buf, bool quoted);
/* Decimal int64; buf needs 21 bytes; NUL-terminated. */
int proto_fmt_i64(int64_t v, char *buf);

/* The shortest-and-closest digits of a positive finite float32: f =
 * digits * 10^exp10 up to the rounding, digits without trailing zeros.
 * Exposed for the tests. */
void proto_f32_shortest(float f, uint32_t *digits, int *exp10);

#endif
