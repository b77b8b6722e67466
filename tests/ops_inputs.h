/* ops_inputs.h — what the op tests share (tests/test_ops.c against the CPU
 * backends, tests/cuda/test_ops_cuda.c against the CUDA one): random inputs
 * from a fixed xorshift stream, weights exactly representable in their dtype,
 * and compare(), which checks one op's result against the reference backend's
 * and keeps each op's worst normalized error for print_op_stats(). */
#ifndef CT_TEST_OPS_INPUTS_H
#define CT_TEST_OPS_INPUTS_H
#include <math.h>
#include <stdint.h>
#include "harness.h"
#include "ctrace_app.h"
#include "ops/ops.h"

static uint64_t rng = 88172645463325252ull;

static double urand(void)   /* [0, 1) */
{
    rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17;
    return (double)(rng >> 11) / 9007199254740992.0;
}
static float *rnd(long n, float scale)   /* [n] uniform in (-scale, scale) */
{
    float *x = malloc((size_t)(n ? n : 1) * sizeof *x);
    for (long i = 0; i < n; i++) x[i] = (float)((urand() * 2 - 1) * scale);
    return x;
}
static float *dup(const float *x, long n)
{
    float *y = malloc((size_t)(n ? n : 1) * sizeof *y);
    memcpy(y, x, (size_t)n * sizeof *y);
    return y;
}

/* The worst normalized error per op, printed at the end. */
typedef struct { const char *op; double worst; int cases; } op_stat;
enum { MAX_OP_STATS = 32 };
static op_stat stats[MAX_OP_STATS];
static int nstats;

/* max|got - want| / max|want| <= tol over n values (a NaN fails). */
static void compare(const char *op, const char *label, const float *got, const float *want, long n, double tol)
{
    double mx = 0, d = 0;
    long w = 0;
    for (long i = 0; i < n; i++) mx = fabs(want[i]) > mx ? fabs(want[i]) : mx;
    for (long i = 0; i < n; i++) {
        double e = fabs((double)got[i] - want[i]);
        if (e != e) { d = INFINITY; w = i; break; }
        if (e > d) { d = e; w = i; }
    }
    double rel = d / (mx > 0 ? mx : 1);
    int k = 0;
    while (k < nstats && strcmp(stats[k].op, op)) k++;
    if (k == nstats && nstats < MAX_OP_STATS) stats[nstats++] = (op_stat){op, 0, 0};
    if (k < nstats) {
        if (rel > stats[k].worst) stats[k].worst = rel;
        stats[k].cases++;
    }
    CHECK(rel <= tol, "%s %s: normalized error %.3g > %.3g at %ld (got %.9g, ref %.9g)", op, label, rel, tol, w,
          (double)got[w], (double)want[w]);
}

static void print_op_stats(void)
{
    for (int k = 0; k < nstats; k++)
        printf("  %-12s %4d cases, worst normalized error %.2e\n", stats[k].op, stats[k].cases, stats[k].worst);
}

/* A [rows, cols] weight of random values exactly representable in dt (host
 * memory), with its float32 copy in *f32. */
static ct_tensor weight(ct_dtype dt, int64_t rows, int64_t cols, float **f32)
{
    long n = (long)(rows * (cols ? cols : 1));
    float *f = rnd(n, 1.0f);
    void *data = f;
    if (dt != CT_F32) {
        uint16_t *h = malloc((size_t)(n ? n : 1) * 2);
        for (long i = 0; i < n; i++) {
            h[i] = dt == CT_BF16 ? ct_f32_to_bf16(f[i]) : ct_f32_to_f16(f[i]);
            f[i] = dt == CT_BF16 ? ct_bf16_to_f32(h[i]) : ct_f16_to_f32(h[i]);
        }
        data = h;
    }
    *f32 = f;
    return ct_tensor_2d(dt, data, rows, cols);
}
static void weight_free(ct_tensor *t, float *f32)
{
    if (t->data != f32) free(t->data);
    free(f32);
}

static const ct_dtype DTYPES[3] = {CT_F32, CT_BF16, CT_F16};
#endif
