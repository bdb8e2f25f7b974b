/* backend_cpu.c - the CPU backend: OpenBLAS for GEMM, plain C loops for
 * everything else. */
#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "backend.h"
#include "philox.h"

static void *cpu_alloc(void *ctx, size_t n) {
  (void)ctx;
  /* 64-byte alignment suits AVX-512 loads and the file formats. */
  void *p = NULL;
  size_t rounded = (n + 63) & ~(size_t)63;
  if (posix_memalign(&p, 64, rounded ? rounded : 64) != 0) {
    bd_fail(BD_ENOMEM, "cannot allocate %zu bytes of host memory", n);
    return NULL;
  }
  return p;
}

static void cpu_free(void *ctx, void *p) {
  (void)ctx;
  free(p);
}

static bd_status cpu_memcpy(void *ctx, void *dst, const void *src, size_t n,
                            int kind) {
  (void)ctx;
  (void)kind;
  if (n) memmove(dst, src, n);
  return BD_OK;
}

static bd_status cpu_memset0(void *ctx, void *dst, size_t n) {
  (void)ctx;
  if (n) memset(dst, 0, n);
  return BD_OK;
}


static float un_fwd(int kind, float x, const float *p) {
  switch (kind) {
    /* As PyTorch: NaN propagates and -0 stays -0. */
    case BD_UN_RELU: return x < 0.0f ? 0.0f : x;
    case BD_UN_SIGMOID: return 1.0f / (1.0f + expf(-x));
    case BD_UN_TANH: return tanhf(x);
    case BD_UN_GELU: return 0.5f * x * (1.0f + erff(x * 0.70710678118654752f));
    case BD_UN_SCALE: return p[0] * x;
    case BD_UN_ADD: return x + p[0];
    case BD_UN_AFFINE: return p[0] * x + p[1];
    case BD_UN_ABS: return fabsf(x);
    case BD_UN_EXP: return expf(x);
    default: return x;
  }
}

/* dy * f'(x); y is f(x) when the caller has it (NULL otherwise). */
static float un_bwd(int kind, float x, float dy, const float *p) {
  switch (kind) {
    /* PyTorch's threshold_backward: the gradient passes unless x <= 0
     * (so it passes for NaN). */
    case BD_UN_RELU: return x <= 0.0f ? 0.0f : dy;
    case BD_UN_SIGMOID: {
      float s = 1.0f / (1.0f + expf(-x));
      return dy * s * (1.0f - s);
    }
    case BD_UN_TANH: {
      float t = tanhf(x);
      return dy * (1.0f - t * t);
    }
    case BD_UN_GELU: {
      float cdf = 0.5f * (1.0f + erff(x * 0.70710678118654752f));
      float pdf = expf(-0.5f * x * x) * 0.39894228040143268f;
      return dy * (cdf + x * pdf);
    }
    case BD_UN_SCALE: return dy * p[0];
    case BD_UN_ADD: return dy;
    case BD_UN_AFFINE: return dy * p[0];
    case BD_UN_ABS: return x > 0 ? dy : (x < 0 ? -dy : 0.0f);
    case BD_UN_EXP: return dy * expf(x);
    default: return dy;
  }
}

static bd_status cpu_op(void *ctx, const bd_op *op) {
  (void)ctx;
  bd_tensor *dst = op->dst;
  float *d = dst->dtype == BD_F32 ? bd_tensor_f32(dst) : NULL;
  int64_t n = bd_tensor_numel(dst);
  switch (op->kind) {
    case BD_OP_GEMM: {
      int64_t m = op->i[0], nn = op->i[1], k = op->i[2];
      int ta = (int)op->i[3], tb = (int)op->i[4];
      if (m == 0 || nn == 0) return BD_OK;
      if (k == 0) { /* alpha * empty product: dst = beta * dst */
        for (int64_t i = 0; i < m * nn; i++) d[i] = op->f[1] == 0 ? 0 : op->f[1] * d[i];
        return BD_OK;
      }
      if (m == 1) {
        /* One row (a batch-1 linear): a matrix-vector product. sgemm would
         * pack the whole weight matrix on every call. op(a) is k contiguous
         * values whether or not it is transposed. beta = 0 must ignore
         * whatever dst holds (NaN included), so clear it first. */
        if (op->f[1] == 0.0f) memset(d, 0, (size_t)nn * sizeof *d);
        if (tb)
          cblas_sgemv(CblasRowMajor, CblasNoTrans, (blasint)nn, (blasint)k,
                      op->f[0], bd_tensor_f32(op->b), (blasint)k,
                      bd_tensor_f32(op->a), 1, op->f[1], d, 1);
        else
          cblas_sgemv(CblasRowMajor, CblasTrans, (blasint)k, (blasint)nn,
                      op->f[0], bd_tensor_f32(op->b), (blasint)nn,
                      bd_tensor_f32(op->a), 1, op->f[1], d, 1);
        return BD_OK;
      }
      cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans,
                  tb ? CblasTrans : CblasNoTrans, (blasint)m, (blasint)nn,
                  (blasint)k, op->f[0], bd_tensor_f32(op->a),
                  (blasint)(ta ? m : k), bd_tensor_f32(op->b),
                  (blasint)(tb ? k : nn), op->f[1], d, (blasint)nn);
      return BD_OK;
    }
    case BD_OP_FILL:
      for (int64_t i = 0; i < n; i++) d[i] = op->f[0];
      return BD_OK;
    case BD_OP_COPY:
      memmove(bd_tensor_data(dst), bd_tensor_data(op->a),
              bd_tensor_nbytes(dst));
      return BD_OK;
    case BD_OP_BINARY: {
      const float *a = bd_tensor_f32(op->a), *b = bd_tensor_f32(op->b);
      int64_t nb = bd_tensor_numel(op->b);
      if (nb == 0 && n) return bd_fail(BD_ESHAPE, "empty operand");
      /* The operator is chosen once and the row broadcast is a nested loop
       * (no per-element switch or modulo), so the loops vectorise: this
       * is the bias add of every linear forward. */
#define BD__BIN_LOOPS(EXPR)                                               \
  do {                                                                    \
    if (nb == n) {                                                        \
      for (int64_t i = 0; i < n; i++) {                                   \
        float x = a[i], y = b[i];                                         \
        d[i] = EXPR;                                                      \
      }                                                                   \
    } else if (nb == 1) {                                                 \
      const float y = b[0];                                               \
      for (int64_t i = 0; i < n; i++) {                                   \
        float x = a[i];                                                   \
        d[i] = EXPR;                                                      \
      }                                                                   \
    } else {                                                              \
      int64_t i = 0;                                                      \
      for (; i + nb <= n; i += nb)                                        \
        for (int64_t j = 0; j < nb; j++) {                                \
          float x = a[i + j], y = b[j];                                   \
          d[i + j] = EXPR;                                                \
        }                                                                 \
      for (; i < n; i++) {                                                \
        float x = a[i], y = b[i % nb];                                    \
        d[i] = EXPR;                                                      \
      }                                                                   \
    }                                                                     \
  } while (0)
      switch (op->i[0]) {
        case BD_BIN_ADD: BD__BIN_LOOPS(x + y); break;
        case BD_BIN_SUB: BD__BIN_LOOPS(x - y); break;
        case BD_BIN_MUL: BD__BIN_LOOPS(x * y); break;
        default: BD__BIN_LOOPS(x / y); break;
      }
#undef BD__BIN_LOOPS
      return BD_OK;
    }
    case BD_OP_UNARY: {
      const float *a = bd_tensor_f32(op->a);
      int kind = (int)op->i[0];
      if (kind == BD_UN_RELU) {
        for (int64_t i = 0; i < n; i++) d[i] = a[i] < 0.0f ? 0.0f : a[i];
      } else {
        for (int64_t i = 0; i < n; i++) d[i] = un_fwd(kind, a[i], op->f);
      }
      return BD_OK;
    }
    case BD_OP_UNARY_BACKWARD: {
      const float *x = bd_tensor_f32(op->a), *dy = bd_tensor_f32(op->b);
      for (int64_t i = 0; i < n; i++)
        d[i] = un_bwd((int)op->i[0], x[i], dy[i], op->f);
      return BD_OK;
    }
    case BD_OP_REDUCE: {
      const float *a = bd_tensor_f32(op->a);
      int64_t na = bd_tensor_numel(op->a);
      double acc = 0;
      float mx = -INFINITY, mn = INFINITY;
      for (int64_t i = 0; i < na; i++) {
        switch (op->i[0]) {
          case BD_RED_ABS_SUM: acc += fabs((double)a[i]); break;
          case BD_RED_NORM: acc += (double)a[i] * a[i]; break;
          case BD_RED_MAX: mx = a[i] > mx || isnan(a[i]) ? a[i] : mx; break;
          case BD_RED_MIN: mn = a[i] < mn || isnan(a[i]) ? a[i] : mn; break;
          default: acc += a[i]; break;
        }
      }
      switch (op->i[0]) {
        case BD_RED_MEAN: d[0] = na ? (float)(acc / (double)na) : NAN; break;
        case BD_RED_MAX: d[0] = mx; break;
        case BD_RED_MIN: d[0] = mn; break;
        case BD_RED_NORM: d[0] = (float)sqrt(acc); break;
        default: d[0] = (float)acc; break;
      }
      return BD_OK;
    }
    case BD_OP_SUM_ROWS: {
      const float *a = bd_tensor_f32(op->a);
      int64_t rows = op->i[0], cols = op->i[1];
      for (int64_t j = 0; j < cols; j++) d[j] = op->f[0] == 0 ? 0 : op->f[0] * d[j];
      for (int64_t r = 0; r < rows; r++)
        for (int64_t j = 0; j < cols; j++) d[j] += a[r * cols + j];
      return BD_OK;
    }
    case BD_OP_SOFTMAX:
    case BD_OP_SOFTMAX_BACKWARD: {
      int64_t outer = op->i[0], dim = op->i[1], inner = op->i[2];
      const float *a = bd_tensor_f32(op->a);
      const float *g = op->kind == BD_OP_SOFTMAX_BACKWARD ? bd_tensor_f32(op->b) : NULL;
      for (int64_t o = 0; o < outer; o++)
        for (int64_t in = 0; in < inner; in++) {
          const float *ap = a + o * dim * inner + in;
          float *dp = d + o * dim * inner + in;
          if (!g) {
            float mx = -INFINITY;
            for (int64_t j = 0; j < dim; j++) mx = fmaxf(mx, ap[j * inner]);
            double sum = 0;
            for (int64_t j = 0; j < dim; j++) {
              float e = expf(ap[j * inner] - mx);
              dp[j * inner] = e;
              sum += e;
            }
            for (int64_t j = 0; j < dim; j++) dp[j * inner] = (float)(dp[j * inner] / sum);
          } else {
            const float *gp = g + o * dim * inner + in;
            double dot = 0;
            for (int64_t j = 0; j < dim; j++) dot += (double)ap[j * inner] * gp[j * inner];
            for (int64_t j = 0; j < dim; j++)
              dp[j * inner] = ap[j * inner] * (gp[j * inner] - (float)dot);
          }
        }
      return BD_OK;
    }
    case BD_OP_RNG: {
      uint64_t seed = op->u[0], off = op->u[1];
      if (op->i[0] == BD_RNG_NORMAL) {
        /* Box-Muller: element pair (2j, 2j+1) uses block off + j/2 words
         * (4 words give two pairs). */
        for (int64_t i = 0; i < n; i += 2) {
          bd_philox4 r = bd_philox(seed, off + (uint64_t)(i / 4));
          int w = (int)(i % 4);
          double u1 = bd_u32_to_unit_open0(r.v[w]);
          double u2 = bd_u32_to_unit(r.v[w + 1]);
          double rad = sqrt(-2.0 * log(u1)), th = 6.283185307179586 * u2;
          d[i] = (float)(op->f[0] + op->f[1] * rad * cos(th));
          if (i + 1 < n) d[i + 1] = (float)(op->f[0] + op->f[1] * rad * sin(th));
        }
      } else {
        for (int64_t i = 0; i < n; i++) {
          bd_philox4 r = bd_philox(seed, off + (uint64_t)(i / 4));
          float u = bd_u32_to_unit(r.v[i % 4]);
          if (op->i[0] == BD_RNG_BERNOULLI)
            d[i] = u < op->f[0] ? 1.0f : 0.0f;
          else
            d[i] = op->f[0] + (op->f[1] - op->f[0]) * u;
        }
      }
      return BD_OK;
    }
    case BD_OP_SGD: {
      float *g = bd_tensor_f32(op->a);
      float *buf = op->b ? bd_tensor_f32(op->b) : NULL;
      float lr = op->f[0], mom = op->f[1], wd = op->f[2], damp = op->f[3];
      for (int64_t i = 0; i < n; i++) {
        float dp = g[i];
        if (wd != 0.0f) dp += wd * d[i];
        if (mom != 0.0f) {
          if (op->i[1])
            buf[i] = dp;
          else
            buf[i] = mom * buf[i] + (1.0f - damp) * dp;
          dp = op->i[0] ? dp + mom * buf[i] : buf[i];
        }
        d[i] -= lr * dp;
      }
      return BD_OK;
    }
    case BD_OP_CROSS_ENTROPY:
    case BD_OP_CROSS_ENTROPY_BACKWARD: {
      int64_t rows = op->i[0], c = op->i[1];
      const float *a = bd_tensor_f32(op->a);
      const int64_t *t = (const int64_t *)bd_tensor_data(op->b);
      double loss = 0;
      for (int64_t r = 0; r < rows; r++) {
        if (t[r] < 0 || t[r] >= c)
          return bd_fail(BD_EINVAL, "target %lld is out of bounds for %lld classes",
                         (long long)t[r], (long long)c);
        const float *row = a + r * c;
        float mx = -INFINITY;
        for (int64_t j = 0; j < c; j++) mx = fmaxf(mx, row[j]);
        double sum = 0;
        for (int64_t j = 0; j < c; j++) sum += exp((double)row[j] - mx);
        double lse = log(sum) + mx;
        if (op->kind == BD_OP_CROSS_ENTROPY) {
          loss += lse - row[t[r]];
        } else {
          for (int64_t j = 0; j < c; j++) {
            double p = exp((double)row[j] - lse);
            d[r * c + j] = (float)(op->f[0] * (p - (j == t[r] ? 1.0 : 0.0)) / (double)rows);
          }
        }
      }
      if (op->kind == BD_OP_CROSS_ENTROPY) d[0] = rows ? (float)(loss / (double)rows) : NAN;
      return BD_OK;
    }
    case BD_OP_MASK_ABS_BELOW: {
      const float *a = bd_tensor_f32(op->a);
      for (int64_t i = 0; i < n; i++) d[i] = fabsf(a[i]) < op->f[0] ? 0.0f : a[i];
      return BD_OK;
    }
    case BD_OP_CLAMP: {
      const float *a = bd_tensor_f32(op->a);
      for (int64_t i = 0; i < n; i++) d[i] = fminf(fmaxf(a[i], op->f[0]), op->f[1]);
      return BD_OK;
    }
    case BD_OP_COPY_2D: {
      const float *a = bd_tensor_f32(op->a);
      for (int64_t r = 0; r < op->i[0]; r++)
        memcpy(d + r * op->i[2] + op->i[3], a + r * op->i[4] + op->i[5],
               (size_t)op->i[1] * sizeof(float));
      return BD_OK;
    }
    default:
      break;
  }
  return bd_fail(BD_EUNSUPPORTED, "op %d not supported on cpu", (int)op->kind);
}

static bd_status cpu_mem_info(void *ctx, size_t *free_b, size_t *total_b) {
  (void)ctx;
  long pages = sysconf(_SC_PHYS_PAGES), avail = sysconf(_SC_AVPHYS_PAGES),
       psz = sysconf(_SC_PAGESIZE);
  *total_b = (size_t)pages * (size_t)psz;
  *free_b = (size_t)avail * (size_t)psz;
  return BD_OK;
}

static void cpu_describe(void *ctx, char *name, size_t n, int *maj, int *min) {
  (void)ctx;
  snprintf(name, n, "cpu (OpenBLAS %s)", openblas_get_config());
  *maj = *min = 0;
}

const bd_backend_i bd_backend_cpu_i = {
    .name = "cpu",
    .alloc = cpu_alloc,
    .free = cpu_free,
    .memcpy = cpu_memcpy,
    .memset0 = cpu_memset0,
    .op = cpu_op,
    .synchronize = NULL,
    .mem_info = cpu_mem_info,
    .describe = cpu_describe,
};
