/* rng.c — NumPy's legacy RandomState: MT19937 + 53-bit doubles + polar Gaussian.
 * Written from the description in fixtures/traces/README.md; the point is to
 * reproduce ROME's noise bit for bit, so every step follows NumPy's order. */
#include <math.h>
#include "ctrace.h"

void ct_rng_seed(ct_rng *r, uint32_t seed)
{
    /* init_genrand (not init_by_array): what RandomState(int) does */
    r->mt[0] = seed;
    for (int i = 1; i < 624; i++)
        r->mt[i] = 1812433253u * (r->mt[i - 1] ^ (r->mt[i - 1] >> 30)) + (uint32_t)i;
    r->pos = 624;
    r->has_gauss = 0;
    r->gauss = 0.0;
}

static void twist(ct_rng *r)
{
    uint32_t *mt = r->mt;
    for (int i = 0; i < 624; i++) {
        uint32_t y = (mt[i] & 0x80000000u) | (mt[(i + 1) % 624] & 0x7fffffffu);
        mt[i] = mt[(i + 397) % 624] ^ (y >> 1) ^ ((y & 1u) ? 0x9908B0DFu : 0u);
    }
    r->pos = 0;
}

uint32_t ct_rng_u32(ct_rng *r)
{
    if (r->pos >= 624) twist(r);
    uint32_t y = r->mt[r->pos++];
    y ^= y >> 11;
    y ^= (y << 7) & 0x9D2C5680u;
    y ^= (y << 15) & 0xEFC60000u;
    y ^= y >> 18;
    return y;
}

double ct_rng_double(ct_rng *r)
{
    uint32_t a = ct_rng_u32(r) >> 5, b = ct_rng_u32(r) >> 6;
    return ((double)a * 67108864.0 + (double)b) / 9007199254740992.0;
}

double ct_rng_gauss(ct_rng *r)
{
    if (r->has_gauss) {
        r->has_gauss = 0;
        return r->gauss;
    }
    double x1, x2, r2;
    do {
        x1 = 2.0 * ct_rng_double(r) - 1.0;
        x2 = 2.0 * ct_rng_double(r) - 1.0;
        r2 = x1 * x1 + x2 * x2;
    } while (r2 >= 1.0 || r2 == 0.0);
    double f = sqrt(-2.0 * log(r2) / r2);
    r->gauss = f * x1;          /* cached: returned by the next call */
    r->has_gauss = 1;
    return f * x2;
}

void ct_rng_randn(ct_rng *r, double *out, size_t n)
{
    for (size_t i = 0; i < n; i++) out[i] = ct_rng_gauss(r);
}
