/* json_num.c - JSON number printing and reading (see json_num.h). */
#include "json_num.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json_num_table.h"

__extension__ typedef unsigned __int128 u128;

static const double p10d[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                              1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                              1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

/* ---- shortest float32 digits (Schubfach) ---------------------------- */

/* floor(e * log10(2)), floor(e * log10(2) + log10(3/4)) and
 * floor(e * log2(10)) by multiply and shift; scripts/gen_json_num_table.py
 * checks them exactly over [-300, 300] and [-400, 400]. */
static int floor_log10_pow2(int e) { return (e * 315653) >> 20; }
static int floor_log10_3q_pow2(int e) { return (e * 315653 - 131237) >> 20; }
static int floor_log2_pow10(int e) { return (e * 1741647) >> 19; }

/* cp * g / 2^64 rounded to odd: the integer part with the lowest bit set
 * when anything was cut off. g over-estimates 10^-k * 2^-r by less than
 * one unit, which the paper shows does not change the outcome when the
 * bits just below the cut are ignored up to that unit. */
static uint32_t round_to_odd(uint64_t g, uint32_t cp) {
  u128 p = (u128)g * cp;
  uint32_t y1 = (uint32_t)(p >> 64);
  uint32_t y0 = (uint32_t)((uint64_t)p >> 32);
  return y1 | (y0 > 1 ? 1u : 0u);
}

void proto_f32_shortest(float f, uint32_t *digits, int *exp10) {
  uint32_t bits;
  memcpy(&bits, &f, 4);
  uint32_t fr = bits & 0x7fffffu, ex = (bits >> 23) & 0xffu;
  uint32_t c;
  int q;
  if (ex) {
    c = fr | 0x800000u;
    q = (int)ex - 150;
  } else {
    c = fr;
    q = -149;
  }
  /* The rounding interval of f, scaled by 4: [cbl, cbr] around cb, its
   * ends included when c is even (ties go to even, so a decimal exactly
   * at an end reads back as f). At the bottom of a binade the lower
   * neighbour is half as far away. */
  bool even = (c & 1) == 0;
  bool closer = fr == 0 && ex > 1;
  uint32_t cbl = 4 * c - 2 + (closer ? 1 : 0), cb = 4 * c, cbr = 4 * c + 2;
  /* k: the decimal exponent at which the interval holds one to ten
   * candidates; h brings the product into 32 bits with 2 fraction bits. */
  int k = closer ? floor_log10_3q_pow2(q) : floor_log10_pow2(q);
  int h = q + floor_log2_pow10(-k) + 1;
  uint64_t g = proto_pow10_g[-k - PROTO_POW10_KMIN];
  uint32_t vbl = round_to_odd(g, cbl << h);
  uint32_t vb = round_to_odd(g, cb << h);
  uint32_t vbr = round_to_odd(g, cbr << h);
  uint32_t lower = vbl + (even ? 0 : 1), upper = vbr - (even ? 0 : 1);
  uint32_t s = vb / 4, out;
  int e = k;
  /* One digit fewer first: at 10^(k+1) at most one candidate fits. */
  bool done = false;
  if (s >= 10) {
    uint32_t sp = s / 10;
    bool up_in = lower <= 40 * sp, wp_in = 40 * sp + 40 <= upper;
    if (up_in != wp_in) {
      out = sp + (wp_in ? 1 : 0);
      e = k + 1;
      done = true;
    }
  }
  if (!done) {
    bool u_in = lower <= 4 * s, w_in = 4 * s + 4 <= upper;
    if (u_in != w_in) {
      out = s + (w_in ? 1 : 0);
    } else {
      /* Both neighbours fit: the closer one, ties to even. */
      uint32_t mid = 4 * s + 2;
      bool up = vb > mid || (vb == mid && (s & 1));
      out = s + (up ? 1 : 0);
    }
  }
  while (out % 10 == 0) {
    out /= 10;
    e++;
  }
  *digits = out;
  *exp10 = e;
}

/* cp * g / 2^128 rounded to odd, g = {hi, lo} the 128-bit table entry. */
static uint64_t round_to_odd64(const uint64_t g[2], uint64_t cp) {
  u128 x = (u128)g[1] * cp, y = (u128)g[0] * cp;
  uint64_t y0 = (uint64_t)y + (uint64_t)(x >> 64);
  uint64_t y1 = (uint64_t)(y >> 64) + (y0 < (uint64_t)(x >> 64) ? 1 : 0);
  return y1 | (y0 > 1 ? 1u : 0u);
}

/* The float64 counterpart of proto_f32_shortest (same steps, 128-bit
 * powers of ten, 64-bit candidates). */
static void f64_shortest(double v, uint64_t *digits, int *exp10) {
  uint64_t bits;
  memcpy(&bits, &v, 8);
  uint64_t fr = bits & ((1ull << 52) - 1), ex = (bits >> 52) & 0x7ff;
  uint64_t c;
  int q;
  if (ex) {
    c = fr | 1ull << 52;
    q = (int)ex - 1075;
  } else {
    c = fr;
    q = -1074;
  }
  bool even = (c & 1) == 0;
  bool closer = fr == 0 && ex > 1;
  uint64_t cbl = 4 * c - 2 + (closer ? 1 : 0), cb = 4 * c, cbr = 4 * c + 2;
  int k = closer ? floor_log10_3q_pow2(q) : floor_log10_pow2(q);
  int h = q + floor_log2_pow10(-k) + 1;
  const uint64_t *g = proto_pow10_g128[-k - PROTO_POW10_KMIN64];
  uint64_t vbl = round_to_odd64(g, cbl << h);
  uint64_t vb = round_to_odd64(g, cb << h);
  uint64_t vbr = round_to_odd64(g, cbr << h);
  uint64_t lower = vbl + (even ? 0 : 1), upper = vbr - (even ? 0 : 1);
  uint64_t s = vb / 4, out = 0;
  int e = k;
  bool done = false;
  if (s >= 10) {
    uint64_t sp = s / 10;
    bool up_in = lower <= 40 * sp, wp_in = 40 * sp + 40 <= upper;
    if (up_in != wp_in) {
      out = sp + (wp_in ? 1 : 0);
      e = k + 1;
      done = true;
    }
  }
  if (!done) {
    bool u_in = lower <= 4 * s, w_in = 4 * s + 4 <= upper;
    if (u_in != w_in) {
      out = s + (w_in ? 1 : 0);
    } else {
      uint64_t mid = 4 * s + 2;
      bool up = vb > mid || (vb == mid && (s & 1));
      out = s + (up ? 1 : 0);
    }
  }
  while (out % 10 == 0) {
    out /= 10;
    e++;
  }
  *digits = out;
  *exp10 = e;
}

/* Lays out digits * 10^k as printf's %g would with precision P =
 * max(6, number of digits): exponent form when the decimal exponent is
 * below -4 or at least P, else plain, never trailing zeros. */
static int fmt_g(char *o, bool neg, uint64_t digits, int k, int pmin) {
  static const char pairs[] =
      "00010203040506070809101112131415161718192021222324252627282930313233"
      "34353637383940414243444546474849505152535455565758596061626364656667"
      "6869707172737475767778798081828384858687888990919293949596979899";
  char d[20];
  int n = 1;
  for (uint64_t v = digits; v >= 10; v /= 10) n++;
  uint64_t v = digits;
  int i = n;
  for (; v >= 100; v /= 100) {
    i -= 2;
    memcpy(d + i, pairs + 2 * (v % 100), 2);
  }
  if (v >= 10) {
    i -= 2;
    memcpy(d + i, pairs + 2 * v, 2);
  } else {
    d[--i] = (char)('0' + v);
  }
  int x = k + n - 1, p = n > pmin ? n : pmin, pos = 0;
  if (neg) o[pos++] = '-';
  if (x < -4 || x >= p) {
    o[pos++] = d[0];
    if (n > 1) {
      o[pos++] = '.';
      memcpy(o + pos, d + 1, (size_t)n - 1);
      pos += n - 1;
    }
    o[pos++] = 'e';
    o[pos++] = x < 0 ? '-' : '+';
    int ax = x < 0 ? -x : x;
    if (ax >= 100) o[pos++] = (char)('0' + ax / 100);
    o[pos++] = (char)('0' + ax / 10 % 10);
    o[pos++] = (char)('0' + ax % 10);
  } else if (x >= 0) {
    for (int i = 0; i <= x; i++) o[pos++] = i < n ? d[i] : '0';
    if (n > x + 1) {
      o[pos++] = '.';
      memcpy(o + pos, d + x + 1, (size_t)(n - x - 1));
      pos += n - x - 1;
    }
  } else {
    o[pos++] = '0';
    o[pos++] = '.';
    for (int i = 0; i < -x - 1; i++) o[pos++] = '0';
    memcpy(o + pos, d, (size_t)n);
    pos += n;
  }
  o[pos] = '\0';
  return pos;
}

static int fmt_nonfinite(double v, char *buf, bool quoted) {
  const char *s = isnan(v) ? "NaN" : v < 0 ? "-Infinity" : "Infinity";
  size_t n = strlen(s), pos = 0;
  if (quoted) buf[pos++] = '"';
  memcpy(buf + pos, s, n);
  pos += n;
  if (quoted) buf[pos++] = '"';
  buf[pos] = '\0';
  return (int)pos;
}

int proto_fmt_f32(float f, char *buf, bool quoted) {
  if (!isfinite(f)) return fmt_nonfinite(f, buf, quoted);
  bool neg = signbit(f);
  if (f == 0) {
    int pos = 0;
    if (neg) buf[pos++] = '-';
    buf[pos++] = '0';
    buf[pos] = '\0';
    return pos;
  }
  uint32_t d;
  int k;
  proto_f32_shortest(fabsf(f), &d, &k);
  return fmt_g(buf, neg, d, k, 6);
}

int proto_fmt_i64(int64_t v, char *buf) {
  char tmp[20];
  int n = 0, pos = 0;
  uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
  do {
    tmp[n++] = (char)('0' + u % 10);
    u /= 10;
  } while (u);
  if (v < 0) buf[pos++] = '-';
  while (n) buf[pos++] = tmp[--n];
  buf[pos] = '\0';
  return pos;
}

int proto_fmt_f64(double v, char *buf, bool quoted) {
  if (!isfinite(v)) return fmt_nonfinite(v, buf, quoted);
  bool neg = signbit(v);
  if (v == 0) {
    int pos = 0;
    if (neg) buf[pos++] = '-';
    buf[pos++] = '0';
    buf[pos] = '\0';
    return pos;
  }
  uint64_t d;
  int k;
  f64_shortest(fabs(v), &d, &k);
  /* The layout of the %.15g / %.17g the codec printed before: up to 15
   * digits exactly what %.15g gave (the one 15-digit decimal that reads
   * back), beyond that the shortest digits where %.17g gave 17. */
  int n = 1;
  for (uint64_t t = d; t >= 10; t /= 10) n++;
  return fmt_g(buf, neg, d, k, n <= 15 ? 15 : 17);
}

/* ---- scanning ------------------------------------------------------- */

static bool is_digit(char c) { return c >= '0' && c <= '9'; }

/* Adds the digits [q, e) to the significand: the first ones into *w while
 * it holds fewer than 19, the others only counted (and *trunc set when
 * one of them is not zero). */
static void take_digits(const char *q, const char *e, uint64_t *w,
                        int64_t *nsig, int64_t *dropped, bool *trunc) {
  int64_t room = 19 - *nsig;
  if (room > e - q) room = e - q;
  if (room < 0) room = 0;
  uint64_t v = *w;
  for (const char *s = q + room; q < s; q++) v = v * 10 + (uint64_t)(*q - '0');
  *w = v;
  *nsig += room;
  for (; q < e; q++) {
    *trunc |= *q != '0';
    (*dropped)++;
    (*nsig)++;
  }
}

const char *proto_num_scan(const char *p, const char *end, proto_num *n) {
  n->start = p;
  n->neg = false;
  if (p < end && *p == '-') {
    n->neg = true;
    p++;
  }
  uint64_t w = 0;
  int64_t nsig = 0, fracd = 0, dropped = 0;
  bool trunc = false;
  /* Significant digits start at the first non-zero one; the first 19 go
   * into w (10^19 - 1 < 2^64), the others only count. Each run of digits
   * is found first, then taken in one tight loop. */
  const char *d0 = p;
  while (p < end && *p == '0') p++;
  const char *s = p;
  while (p < end && is_digit(*p)) p++;
  bool any = p > d0;
  take_digits(s, p, &w, &nsig, &dropped, &trunc);
  n->is_int = true;
  if (p < end && *p == '.') {
    n->is_int = false;
    const char *f0 = ++p;
    if (nsig == 0)
      while (p < end && *p == '0') p++;
    s = p;
    while (p < end && is_digit(*p)) p++;
    any |= p > f0;
    fracd = p - f0;
    take_digits(s, p, &w, &nsig, &dropped, &trunc);
  }
  if (!any) return NULL;
  int64_t ex = 0;
  if (p < end && (*p == 'e' || *p == 'E')) {
    const char *q = p + 1;
    bool eneg = false;
    if (q < end && (*q == '+' || *q == '-')) eneg = *q++ == '-';
    if (q < end && is_digit(*q)) {
      n->is_int = false;
      for (; q < end && is_digit(*q); q++)
        if (ex < 100000000) ex = ex * 10 + (*q - '0');
      if (eneg) ex = -ex;
      p = q;
    }
  }
  n->end = p;
  n->w = w;
  n->nsig = nsig;
  n->trunc = trunc;
  n->e10 = ex - fracd + dropped;
  return p;
}

/* ---- exact comparison ----------------------------------------------- */

/* A non-negative big integer, 32-bit limbs, least significant first. The
 * operands below stay under ~2700 bits (800 kept digits, 5^1124). */
enum { BIG_N = 200, MAX_DIGITS = 800 };
typedef struct big {
  int n;
  uint32_t w[BIG_N];
} big;

static void big_set(big *b, uint64_t v) {
  b->n = 0;
  while (v) {
    b->w[b->n++] = (uint32_t)v;
    v >>= 32;
  }
}

static void big_muladd(big *b, uint32_t m, uint32_t add) {
  uint64_t carry = add;
  for (int i = 0; i < b->n; i++) {
    uint64_t t = (uint64_t)b->w[i] * m + carry;
    b->w[i] = (uint32_t)t;
    carry = t >> 32;
  }
  if (carry && b->n < BIG_N) b->w[b->n++] = (uint32_t)carry;
}

static void big_mul_pow5(big *b, int64_t k) {
  for (; k >= 13; k -= 13) big_muladd(b, 1220703125u, 0); /* 5^13 */
  static const uint32_t p5[] = {1,       5,        25,       125,    625,
                                3125,    15625,    78125,    390625, 1953125,
                                9765625, 48828125, 244140625};
  if (k) big_muladd(b, p5[k], 0);
}

static void big_shl(big *b, int64_t s) {
  if (!b->n || !s) return;
  int64_t limbs = s / 32, bits = s % 32;
  if (b->n + limbs + 1 > BIG_N) abort(); /* bounded above; never */
  if (bits) {
    uint32_t carry = 0;
    for (int i = 0; i < b->n; i++) {
      uint32_t v = b->w[i];
      b->w[i] = (v << bits) | carry;
      carry = v >> (32 - bits);
    }
    if (carry) b->w[b->n++] = carry;
  }
  if (limbs) {
    memmove(b->w + limbs, b->w, (size_t)b->n * 4);
    memset(b->w, 0, (size_t)limbs * 4);
    b->n += (int)limbs;
  }
}

static int big_cmp(const big *a, const big *b) {
  if (a->n != b->n) return a->n < b->n ? -1 : 1;
  for (int i = a->n - 1; i >= 0; i--)
    if (a->w[i] != b->w[i]) return a->w[i] < b->w[i] ? -1 : 1;
  return 0;
}

/* The significant digits of n (at most MAX_DIGITS; *sticky when a dropped
 * one was not zero) as a big integer D with |value| = D * 10^*e. */
static void num_digits(const proto_num *n, big *d, int64_t *e, bool *sticky) {
  big_set(d, 0);
  int64_t kept = 0;
  uint32_t chunk = 0, mul = 1;
  *sticky = false;
  for (const char *p = n->start; p < n->end; p++) {
    char c = *p;
    if (c == 'e' || c == 'E') break;
    if (!is_digit(c)) continue;
    if (kept == 0 && c == '0') continue;
    if (kept == MAX_DIGITS) {
      *sticky |= c != '0';
      continue;
    }
    chunk = chunk * 10 + (uint32_t)(c - '0');
    mul *= 10;
    kept++;
    if (mul == 1000000000u) {
      big_muladd(d, mul, chunk);
      chunk = 0;
      mul = 1;
    }
  }
  if (mul > 1) big_muladd(d, mul, chunk);
  int64_t ndw = n->nsig < 19 ? n->nsig : 19;
  *e = n->e10 + ndw - kept;
}

/* Compares |value of n| with m * 2^k: -1, 0 or 1. */
static int cmp_num(const proto_num *n, uint64_t m, int64_t k) {
  big l, r;
  int64_t e;
  bool sticky;
  num_digits(n, &l, &e, &sticky);
  big_set(&r, m);
  int64_t sl = 0, sr = k;
  if (e >= 0) {
    big_mul_pow5(&l, e);
    sl = e;
  } else {
    big_mul_pow5(&r, -e);
    sr = k - e;
  }
  int64_t lo = sl < sr ? sl : sr;
  big_shl(&l, sl - lo);
  big_shl(&r, sr - lo);
  int c = big_cmp(&l, &r);
  return c == 0 && sticky ? 1 : c;
}

typedef struct fpfmt {
  int mbits;       /* stored fraction bits */
  int be_min;      /* binary exponent of the subnormals' unit */
  uint64_t maxfin; /* bits of the largest finite value */
} fpfmt;

static const fpfmt F32 = {23, -149, 0x7f7fffffu};
static const fpfmt F64 = {52, -1074, 0x7fefffffffffffffu};

/* The upper rounding boundary of the positive value with these bits:
 * (2 * mant + 1) * 2^(be - 1). */
static int cmp_upper(const proto_num *n, uint64_t bits, const fpfmt *f) {
  uint64_t ex = bits >> f->mbits, fr = bits & ((1ull << f->mbits) - 1);
  uint64_t mant = ex ? fr | 1ull << f->mbits : fr;
  int64_t be = ex ? (int64_t)ex + f->be_min - 1 : f->be_min;
  return cmp_num(n, 2 * mant + 1, be - 1);
}

/* The correctly rounded bits of |n| starting from bits, a guess a few
 * units off at most: steps up while |n| lies above the boundary to the
 * next value, else down while it lies below the boundary to the previous
 * one (ties to the even pattern). Returns maxfin + 1 (infinity) past the
 * largest finite value. */
static uint64_t settle(const proto_num *n, uint64_t bits, const fpfmt *f) {
  bool moved = false;
  for (;;) {
    int c = cmp_upper(n, bits, f);
    if (c < 0 || (c == 0 && !(bits & 1))) break;
    moved = true;
    if (++bits > f->maxfin) return bits;
  }
  if (moved) return bits;
  while (bits > 0) {
    int c = cmp_upper(n, bits - 1, f);
    if (c > 0 || (c == 0 && (bits & 1) == 0)) break;
    bits--;
  }
  return bits;
}

/* ---- conversion ----------------------------------------------------- */

/* w * 10^e in double arithmetic: at most 5 roundings here (w itself and
 * up to 4 multiplications or divisions for the float32 range), each
 * within half a unit in the last place. */
static double scale(double d, int64_t e) {
  for (; e > 22; e -= 22) d *= 1e22;
  for (; e < -22; e += 22) d /= 1e22;
  return e >= 0 ? d * p10d[e] : d / p10d[-e];
}

/* Whether the double d (positive, normal) lies within 64 units of its
 * last place of a float32 rounding boundary, where the few roundings of
 * scale() could have moved it across. */
static bool near_f32_boundary(double d) {
  uint64_t b;
  memcpy(&b, &d, 8);
  int ue = (int)((b >> 52) & 0x7ff) - 1023;
  uint64_t sig = (b & ((1ull << 52) - 1)) | 1ull << 52;
  int shift = 29 + (ue < -126 ? -126 - ue : 0);
  if (shift > 52) return true;
  uint64_t low = sig & ((1ull << shift) - 1), half = 1ull << (shift - 1);
  uint64_t dist = low > half ? low - half : half - low;
  return dist <= 64;
}

float proto_num_f32(const proto_num *n) {
  float r;
  int64_t ndw = n->nsig < 19 ? n->nsig : 19;
  if (n->w == 0) {
    r = 0.0f;
  } else if (ndw - 1 + n->e10 >= 39) { /* >= 1e39 */
    r = INFINITY;
  } else if (ndw + n->e10 <= -46) { /* < 1e-46, under half of 2^-149 */
    r = 0.0f;
  } else {
    double d = scale((double)n->w, n->e10);
    if (!near_f32_boundary(d)) {
      r = (float)d;
    } else {
      float g = (float)d;
      if (isinf(g)) g = FLT_MAX;
      uint32_t gb;
      memcpy(&gb, &g, 4);
      uint64_t bits = settle(n, gb, &F32);
      uint32_t b32 = bits > F32.maxfin ? 0x7f800000u : (uint32_t)bits;
      memcpy(&r, &b32, 4);
    }
  }
  return n->neg ? -r : r;
}

double proto_num_f64(const proto_num *n) {
  double r;
  int64_t ndw = n->nsig < 19 ? n->nsig : 19;
  if (n->w == 0) {
    r = 0.0;
  } else if (ndw - 1 + n->e10 >= 309) {
    r = INFINITY;
  } else if (ndw + n->e10 <= -325) { /* < 1e-325, under half of 2^-1074 */
    r = 0.0;
  } else if (!n->trunc && n->w <= (1ull << 53) && n->e10 >= -22 &&
             n->e10 <= 22) {
    /* Both operands exact, one rounding: correctly rounded (Clinger). */
    r = n->e10 >= 0 ? (double)n->w * p10d[n->e10]
                    : (double)n->w / p10d[-n->e10];
  } else {
    double d = scale((double)n->w, n->e10);
    if (isinf(d)) d = DBL_MAX;
    uint64_t gb;
    memcpy(&gb, &d, 8);
    uint64_t bits = settle(n, gb, &F64);
    if (bits > F64.maxfin) bits = 0x7ff0000000000000u;
    memcpy(&r, &bits, 8);
  }
  return n->neg ? -r : r;
}

bool proto_num_i64(const proto_num *n, int64_t *out) {
  if (n->is_int) {
    if (n->nsig > 19) return false;
    uint64_t lim = n->neg ? 9223372036854775808u : 9223372036854775807u;
    if (n->w > lim) return false;
    *out = n->neg ? (int64_t)(0 - n->w) : (int64_t)n->w;
    return true;
  }
  double x = proto_num_f64(n);
  if (x != floor(x) || x < -9223372036854775808.0 || x >= 9223372036854775808.0)
    return false;
  *out = (int64_t)x;
  return true;
}

bool proto_parse_f32(const char *s, size_t len, float *out) {
  proto_num n;
  if (proto_num_scan(s, s + len, &n) != s + len) return false;
  *out = proto_num_f32(&n);
  return true;
}

bool proto_parse_f64(const char *s, size_t len, double *out) {
  proto_num n;
  if (proto_num_scan(s, s + len, &n) != s + len) return false;
  *out = proto_num_f64(&n);
  return true;
}
