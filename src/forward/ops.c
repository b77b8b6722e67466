/* ops.c — norms, activations, rotary embeddings and the sgemm wrapper. */
#include <math.h>
#include <string.h>
#include <cblas.h>
#include "ops.h"

/* OpenBLAS splits a product differently for different thread counts, and
 * its edge kernels sum in a different order, so results would depend on the
 * thread count.  Instead BLAS runs single-threaded on fixed column blocks of
 * the output and OpenMP spreads the blocks: every element is computed by the
 * same kernel call whatever the number of threads. */

void ct_linear_ld(int R, int in, int out, const float *X, int ldx, const float *W, const float *b, float *Y)
{
    if (R <= 0) return;
    if (openblas_get_num_threads() != 1) openblas_set_num_threads(1);
    int nblk = (out + CT_LINEAR_BLOCK - 1) / CT_LINEAR_BLOCK;
    #pragma omp parallel for schedule(dynamic, 1) if (nblk > 1 && (long)R * out * in > 262144)
    for (int k = 0; k < nblk; k++) {
        int o0 = k * CT_LINEAR_BLOCK, w = out - o0 < CT_LINEAR_BLOCK ? out - o0 : CT_LINEAR_BLOCK;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, R, w, in, 1.0f, X, ldx,
                    W + (long)o0 * in, in, 0.0f, Y + o0, out);
        if (b)
            for (int r = 0; r < R; r++)
                for (int o = o0; o < o0 + w; o++) Y[(long)r * out + o] += b[o];
    }
}

void ct_linear(int R, int in, int out, const float *X, const float *W, const float *b, float *Y)
{
    ct_linear_ld(R, in, out, X, in, W, b, Y);
}

float ct_dot(const float *a, const float *b, int n)
{
    float s[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    int i = 0;
    for (; i + 8 <= n; i += 8)
        for (int k = 0; k < 8; k++) s[k] += a[i + k] * b[i + k];
    float t = ((s[0] + s[4]) + (s[1] + s[5])) + ((s[2] + s[6]) + (s[3] + s[7]));
    for (; i < n; i++) t += a[i] * b[i];
    return t;
}

/* Statistics in double: the result is then within float rounding of
 * transformers' float32 reductions, whatever order torch sums in. */
void ct_norm(ct_norm_kind kind, float eps, int R, int D, const float *x, const float *w, const float *b, float *y)
{
    #pragma omp parallel for schedule(static) if ((long)R * D > 32768)
    for (int r = 0; r < R; r++) {
        const float *xr = x + (long)r * D;
        float *yr = y + (long)r * D;
        if (kind == CT_NORM_LAYER) {
            double mean = 0, var = 0;
            for (int i = 0; i < D; i++) mean += xr[i];
            mean /= D;
            for (int i = 0; i < D; i++) { double d = xr[i] - mean; var += d * d; }
            var /= D;
            float inv = (float)(1.0 / sqrt(var + eps)), mf = (float)mean;
            for (int i = 0; i < D; i++) {
                float v = (xr[i] - mf) * inv * w[i];
                yr[i] = b ? v + b[i] : v;
            }
        } else {
            double ss = 0;
            for (int i = 0; i < D; i++) ss += (double)xr[i] * xr[i];
            float inv = (float)(1.0 / sqrt(ss / D + eps));
            if (kind == CT_NORM_RMS_1P)
                for (int i = 0; i < D; i++) yr[i] = (xr[i] * inv) * (1.0f + w[i]);
            else
                for (int i = 0; i < D; i++) yr[i] = w[i] * (xr[i] * inv);
        }
    }
}

void ct_activate(ct_act act, float *x, long n)
{
    #pragma omp parallel for schedule(static) if (n > 65536)
    for (long i = 0; i < n; i++) {
        float v = x[i];
        switch (act) {
        case CT_ACT_SILU: x[i] = v / (1.0f + expf(-v)); break;
        case CT_ACT_GELU: x[i] = 0.5f * v * (1.0f + erff(v * (float)M_SQRT1_2)); break;
        case CT_ACT_GELU_TANH:
            x[i] = 0.5f * v * (1.0f + tanhf(0.7978845608028654f * (v + 0.044715f * v * v * v)));
            break;
        case CT_ACT_RELU: x[i] = v > 0 ? v : 0; break;
        }
    }
}

void ct_rope_table(const float *inv_freq, int half, int p0, int n, float *cs, float *sn)
{
    for (int j = 0; j < n; j++)
        for (int i = 0; i < half; i++) {
            float a = (float)(p0 + j) * inv_freq[i];   /* float32 product, as transformers */
            cs[(long)j * half + i] = (float)cos((double)a);
            sn[(long)j * half + i] = (float)sin((double)a);
        }
}

void ct_rope_row(float *x, int nheads, int hd, int rotary_dim, int interleaved,
                 const float *cs, const float *sn)
{
    int half = rotary_dim / 2;
    for (int h = 0; h < nheads; h++) {
        float *v = x + (long)h * hd;
        if (interleaved)
            for (int i = 0; i < half; i++) {
                float a = v[2 * i], b = v[2 * i + 1];
                v[2 * i] = a * cs[i] - b * sn[i];
                v[2 * i + 1] = b * cs[i] + a * sn[i];
            }
        else
            for (int i = 0; i < half; i++) {
                float a = v[i], b = v[i + half];
                v[i] = a * cs[i] - b * sn[i];
                v[i + half] = b * cs[i] + a * sn[i];
            }
    }
}
