/* std.c — the standard deviation of float32 data as torch.std computes it on
 * the CPU for a whole tensor: the mean is a float32 value, the squared
 * deviations from it are summed in double, divided by n − 1, square-rooted in
 * double and rounded to float32.  The noise level is 3 × this value (in
 * double), so it must match torch to the last bit: the fixtures' emb_std_f32. */
#include <math.h>
#include "ctrace.h"

float ct_std_f32(const float *x, size_t n)
{
    if (n < 2) return NAN;
    /* torch's float32 mean uses a cascaded (pairwise) sum; a double sum rounded
     * to float lands on the same float32 or a neighbour, and a 1-ulp change of
     * the mean moves the variance only at second order, far below float32. */
    double s = 0;
    for (size_t i = 0; i < n; i++) s += x[i];
    float mean = (float)(s / (double)n);
    double ss = 0, m = (double)mean;
    for (size_t i = 0; i < n; i++) {
        double d = (double)x[i] - m;
        ss += d * d;
    }
    return (float)sqrt(ss / (double)(n - 1));
}
