/* test_ops.c — every op of the CPU backend against the plain-C reference
 * backend (src/ops/ref.c) on random inputs of awkward shapes: odd sizes, one
 * row, GQA and MQA, windows at the edges, queries at p0 > 0, head sizes with
 * and without vector tails, attention's block invariance; weights in F32,
 * BF16 and F16.
 * Each line prints the normalized error max|cpu - ref| / max|ref| of one op
 * over all its cases.  The products of every CPU backend ("cpu": oneDNN,
 * "openblas", and bf16 compute against the reference's bf16 compute), and
 * their batch and thread invariance.  Also: a BF16/F16 product gives exactly the bits of the
 * same product on the weights converted to float32 first (the claim that
 * keeping weights as stored changes no number). */
#include <math.h>
#include <stdint.h>
#include "ops_inputs.h"
#include "ctrace_app.h"
#include "ops/ops.h"
#include "ops/cpu.h"

static const ct_backend *REF, *CPU;

/* A product backend against its reference: "cpu" (oneDNN) and "openblas"
 * against "ref", bf16 compute against ref's bf16 compute (the same rounding
 * of X and W, sums in double), within float32 summation error. */
static void test_linear_of(const char *op, const ct_backend *be, const ct_backend *ref)
{
    static const int shapes[][3] = {{1, 1, 1}, {3, 17, 5}, {7, 33, 130}, {1, 64, 257}, {19, 100, 129}, {2, 300, 384},
                                    {40, 96, 700}};
    for (size_t si = 0; si < sizeof shapes / sizeof *shapes; si++)
        for (int di = 0; di < 3; di++)
            for (int bias = 0; bias < 2; bias++) {
                int R = shapes[si][0], in = shapes[si][1], out = shapes[si][2], ldx = in + 3, ldy = out + 2;
                float *wf, *x = rnd((long)R * ldx, 1.0f), *b = bias ? rnd(out, 1.0f) : NULL;
                ct_tensor W = weight(DTYPES[di], out, in, &wf);
                float *yr = calloc((size_t)R * ldy, sizeof *yr), *yc = calloc((size_t)R * ldy, sizeof *yc);
                ref->linear(ref, R, x, ldx, &W, b, yr, ldy);
                be->linear(be, R, x, ldx, &W, b, yc, ldy);
                char label[96];
                snprintf(label, sizeof label, "R%d in%d out%d %s%s", R, in, out, ct_dtype_name(W.dtype), bias ? " +b" : "");
                compare(op, label, yc, yr, (long)R * ldy, 2e-6 * sqrt(in));
                if (W.dtype != CT_F32) {
                    /* stored dtype vs converted first: the same bits */
                    ct_tensor Wf = ct_tensor_2d(CT_F32, wf, out, in);
                    float *yf = calloc((size_t)R * ldy, sizeof *yf);
                    be->linear(be, R, x, ldx, &Wf, b, yf, ldy);
                    CHECK(memcmp(yf, yc, sizeof *yf * R * ldy) == 0, "%s %s: stored-dtype product differs from the float32 copy's",
                          op, label);
                    free(yf);
                }
                weight_free(&W, wf);
                free(x); free(b); free(yr); free(yc);
            }
}

/* bf16 compute is not float32: against the float32 reference its error is
 * that of rounding X and W to 8 significant bits (about 2^-9 per factor,
 * partly cancelling over a sum), far above float32's. */
static void test_linear_bf16_vs_f32(void)
{
    int R = 24, in = 512, out = 300;
    float *wf, *x = rnd((long)R * in, 1.0f);
    ct_tensor W = weight(CT_F32, out, in, &wf);
    float *yr = calloc((size_t)R * out, sizeof *yr), *yb = calloc((size_t)R * out, sizeof *yb);
    REF->linear(REF, R, x, in, &W, NULL, yr, out);
    ct_backend_cpu_bf16()->linear(ct_backend_cpu_bf16(), R, x, in, &W, NULL, yb, out);
    double mx = 0, d = 0;
    for (long i = 0; i < (long)R * out; i++) {
        mx = fmax(mx, fabs(yr[i]));
        d = fmax(d, fabs((double)yb[i] - yr[i]));
    }
    printf("  bf16 compute vs float32: normalized error %.2e (R%d in%d out%d)\n", d / mx, R, in, out);
    CHECK(d / mx > 1e-5 && d / mx < 2e-2, "bf16 compute vs float32: normalized error %.3g, expected in (1e-5, 2e-2)", d / mx);
    weight_free(&W, wf);
    free(x); free(yr); free(yb);
}

#ifdef CT_HAVE_DNNL
/* A row's product has the same bits whatever batch it is computed in (how
 * many rows, at which offset) and whatever the thread count: the engines rely
 * on it (a corrupted run with noise 0 is the clean run, bit for bit). */
static void test_linear_invariance(const char *op, const ct_backend *be)
{
    const int in = 200, out = 300, RM = 70;
    float *wf, *x = rnd((long)RM * in, 1.0f), *b = rnd(out, 1.0f);
    ct_tensor W = weight(CT_BF16, out, in, &wf);
    float *all = calloc((size_t)RM * out, sizeof *all), *y = calloc((size_t)RM * out, sizeof *y);
    ct_set_threads(2);
    be->linear(be, RM, x, in, &W, b, all, out);
    int bad = 0, tried = 0;
    for (int R = 1; R <= RM; R += R < 20 ? 1 : 7)
        for (int r0 = 0; r0 + R <= RM; r0 += 23) {
            ct_set_threads(1 + (R + r0) % 3);
            be->linear(be, R, x + (size_t)r0 * in, in, &W, b, y, out);
            tried++;
            if (memcmp(y, all + (size_t)r0 * out, sizeof *y * R * out)) {
                if (bad++ < 3) CHECK(0, "%s: rows %d..%d computed %d at a time with %d threads differ from the same rows of a %d-row product",
                                     op, r0, r0 + R - 1, R, 1 + (R + r0) % 3, RM);
            }
        }
    ct_set_threads(2);
    CHECK(bad == 0, "%s: %d of %d batches differ", op, bad, tried);
    printf("  %-12s batch and thread invariance: %d batches of 1..%d rows, 1-3 threads, bit-identical\n", op, tried, RM);
    weight_free(&W, wf);
    free(x); free(b); free(all); free(y);
}

#endif

/* The vectorised exp of the softmaxes and SiLU against exp in double. */
static void test_expf(void)
{
    int worst = 0;
    float at = 0;
    long n = 0;
    for (float x = -87.0f; x < 88.7f; x = nextafterf(x, 100.0f))
        if ((n++ & 255) == 0) {
            float want = (float)exp((double)x), got = ct_cpu_expf(x);
            int32_t a, b;
            memcpy(&a, &want, 4);
            memcpy(&b, &got, 4);
            int u = a > b ? a - b : b - a;
            if (u > worst) { worst = u; at = x; }
        }
    printf("  expf         %ld arguments in [-87, 88.7], worst %d ulp (at %.9g)\n", n / 256, worst, at);
    CHECK(worst <= 2, "ct_cpu_expf: %d ulp from exp at %.9g", worst, at);
    CHECK(ct_cpu_expf(0) == 1.0f && ct_cpu_expf(-200) == 0 && isinf(ct_cpu_expf(200)) && isnan(ct_cpu_expf(NAN)) &&
          ct_cpu_expf(-INFINITY) == 0, "ct_cpu_expf: 0, -200, 200, NaN, -inf");
}

static void test_linear(void)
{
    test_linear_of("linear", CPU, REF);
    test_linear_of("linear/blas", ct_backend_openblas(), REF);
    test_linear_of("linear/bf16", ct_backend_cpu_bf16(), ct_backend_ref_bf16());
    test_linear_bf16_vs_f32();
#ifdef CT_HAVE_DNNL
    /* oneDNN's products (padded below 16 rows); OpenBLAS's are not batch
     * invariant (docs/ops.md), so a build without oneDNN skips this */
    test_linear_invariance("linear", CPU);
    test_linear_invariance("linear/bf16", ct_backend_cpu_bf16());
#else
    printf("  batch invariance: not checked (built without oneDNN: OpenBLAS products)\n");
#endif
}

static void test_norm(void)
{
    static const int shapes[][2] = {{1, 1}, {5, 7}, {3, 64}, {2, 257}};
    static const ct_norm_kind kinds[3] = {CT_NORM_LAYER, CT_NORM_RMS, CT_NORM_RMS_1P};
    for (size_t si = 0; si < 4; si++)
        for (int k = 0; k < 3; k++)
            for (int bias = 0; bias < 2; bias++) {
                if (bias && kinds[k] != CT_NORM_LAYER) continue;
                int R = shapes[si][0], D = shapes[si][1];
                float *x = rnd((long)R * D, 3.0f), *w = rnd(D, 1.0f), *b = bias ? rnd(D, 1.0f) : NULL;
                float *yr = malloc(sizeof *yr * R * D), *yc = dup(x, (long)R * D);
                REF->norm(REF, kinds[k], 1e-5f, R, D, x, w, b, yr);
                CPU->norm(CPU, kinds[k], 1e-5f, R, D, yc, w, b, yc);   /* in place */
                char label[64];
                snprintf(label, sizeof label, "R%d D%d kind %d%s", R, D, kinds[k], bias ? " +b" : "");
                compare("norm", label, yc, yr, (long)R * D, 1e-5);
                free(x); free(w); free(b); free(yr); free(yc);
            }
}

static void test_rope(void)
{
    /* R rows of nb sequences of n positions from p0; rotary on part of each head */
    static const int cfg[][6] = {   /* R, n, p0, nheads, hd, rotary_dim */
        {1, 1, 0, 1, 2, 2}, {6, 3, 5, 2, 8, 8}, {4, 4, 0, 3, 10, 4}, {10, 5, 1000, 4, 16, 16}};
    for (int ci = 0; ci < 4; ci++)
        for (int il = 0; il < 2; il++) {
            int R = cfg[ci][0], n = cfg[ci][1], p0 = cfg[ci][2], nh = cfg[ci][3], hd = cfg[ci][4], rd = cfg[ci][5];
            int ld = nh * hd + 3;
            float *inv = malloc(sizeof *inv * (rd / 2));
            for (int i = 0; i < rd / 2; i++) inv[i] = 1.0f / powf(10000.0f, (float)(2 * i) / (float)rd);
            float *xr = rnd((long)R * ld, 1.0f), *xc = dup(xr, (long)R * ld);
            /* the CPU backend with a table of the first positions (some of
             * these calls run past it) and without one; ref computes every angle */
            int half = rd / 2, np = 5;
            float *tab = malloc(sizeof *tab * (size_t)np * 2 * half);
            ct_rope_fill(inv, half, 0, np, tab);
            ct_rope_table rt = {inv, tab, np}, rt0 = {inv, NULL, 0};
            float *xc0 = dup(xc, (long)R * ld);
            REF->rope(REF, R, n, p0, xr, ld, nh, hd, rd, il, &rt0);
            CPU->rope(CPU, R, n, p0, xc, ld, nh, hd, rd, il, &rt);
            CPU->rope(CPU, R, n, p0, xc0, ld, nh, hd, rd, il, &rt0);
            CHECK(memcmp(xc, xc0, sizeof *xc * R * ld) == 0, "rope: the table and the angles computed per call differ");
            free(xc0); free(tab);
            char label[64];
            snprintf(label, sizeof label, "R%d n%d p0 %d heads %d hd %d rot %d %s", R, n, p0, nh, hd, rd, il ? "interleaved" : "halves");
            compare("rope", label, xc, xr, (long)R * ld, 1e-6);
            free(inv); free(xr); free(xc);
        }
}

static void test_elementwise(void)
{
    static const ct_act acts[4] = {CT_ACT_SILU, CT_ACT_GELU, CT_ACT_GELU_TANH, CT_ACT_RELU};
    for (int a = 0; a < 4; a++) {
        long n = 1001;
        float *xr = rnd(n, 6.0f), *xc = dup(xr, n);
        REF->act(REF, acts[a], n, xr);
        CPU->act(CPU, acts[a], n, xc);
        char label[32];
        snprintf(label, sizeof label, "act %d", acts[a]);
        compare("act", label, xc, xr, n, 1e-6);
        free(xr); free(xc);
        int R = 3, F = 13, ld = 2 * F + 1;
        xr = rnd((long)R * ld, 4.0f); xc = dup(xr, (long)R * ld);
        REF->act_gated(REF, acts[a], R, F, xr, ld);
        CPU->act_gated(CPU, acts[a], R, F, xc, ld);
        compare("act_gated", label, xc, xr, (long)R * ld, 1e-6);
        free(xr); free(xc);
    }
    long n = 777;
    float *a = rnd(n, 2), *b = rnd(n, 2), *c = rnd(n, 2), *yr = malloc(sizeof *yr * n), *yc = malloc(sizeof *yc * n);
    for (int three = 0; three < 2; three++) {
        REF->add(REF, n, a, b, three ? c : NULL, yr);
        CPU->add(CPU, n, a, b, three ? c : NULL, yc);
        compare("add", three ? "a+b+c" : "a+b", yc, yr, n, 1e-7);
    }
    memcpy(yr, a, sizeof *yr * n); memcpy(yc, a, sizeof *yc * n);
    REF->scale(REF, n, yr, 1.7f); CPU->scale(CPU, n, yc, 1.7f);
    compare("scale", "x1.7", yc, yr, n, 1e-7);
    float *big = rnd(n, 200);
    memcpy(yr, big, sizeof *yr * n); memcpy(yc, big, sizeof *yc * n);
    REF->softcap(REF, n, yr, 30.0f); CPU->softcap(CPU, n, yc, 30.0f);
    compare("softcap", "cap 30", yc, yr, n, 1e-6);
    free(a); free(b); free(c); free(yr); free(yc); free(big);
}

static void test_embed_copy(void)
{
    for (int di = 0; di < 3; di++) {
        int V = 37, D = 19, n = 6;
        float *ef;
        ct_tensor E = weight(DTYPES[di], V, D, &ef);
        int32_t ids[6] = {0, 36, 5, -1, 37, 5};   /* two out of range: zero rows */
        float *yr = malloc(sizeof *yr * n * D), *yc = malloc(sizeof *yc * n * D);
        REF->embed(REF, &E, ids, n, yr);
        CPU->embed(CPU, &E, ids, n, yc);
        compare("embed", ct_dtype_name(E.dtype), yc, yr, (long)n * D, 0);
        CHECK(yc[3 * D] == 0 && yc[4 * D + D - 1] == 0 && yc[D] == ef[36 * D], "embed %s: rows wrong", ct_dtype_name(E.dtype));
        weight_free(&E, ef);
        free(yr); free(yc);
    }
    /* copy_rows: strided, and one source row repeated (sld = 0) */
    float *src = rnd(60, 1), *dr = calloc(100, sizeof(float)), *dc = calloc(100, sizeof(float));
    REF->copy_rows(REF, 4, 7, dr, 10, src, 12);
    CPU->copy_rows(CPU, 4, 7, dc, 10, src, 12);
    compare("copy_rows", "strided", dc, dr, 100, 0);
    REF->copy_rows(REF, 5, 9, dr, 20, src + 3, 0);
    CPU->copy_rows(CPU, 5, 9, dc, 20, src + 3, 0);
    compare("copy_rows", "broadcast", dc, dr, 100, 0);
    CHECK(dc[80 + 8] == src[3 + 8], "copy_rows broadcast: row 4 is not the source row");
    free(src); free(dr); free(dc);
}

static void test_attention(void)
{
    static const int kvh_of[3] = {4, 2, 1};     /* MHA, GQA, MQA for H = 4 */
    static const int ns[4] = {1, 3, 16, 20};    /* short and long blocks; 20 rows: a short last block of 4 */
    static const int p0s[3] = {0, 1, 7};
    static const int windows[4] = {0, 1, 3, 1000};
    int ncase = 0;
    for (int hk = 0; hk < 3; hk++)
        for (int hdi = 0; hdi < 3; hdi++)
            for (int ni = 0; ni < 4; ni++)
                for (int pi = 0; pi < 3; pi++)
                    for (int wi = 0; wi < 4; wi++) {
                        int H = 4, KVH = kvh_of[hk], hd = hdi == 2 ? 80 : hdi ? 5 : 8, n = ns[ni], p0 = p0s[pi], nb = (ncase % 3) + 1;
                        float cap = (ncase % 4 == 1) ? 3.0f : 0.0f;
                        ncase++;
                        ct_attn_shape a = {.n_heads = H, .n_kv_heads = KVH, .head_dim = hd, .window = windows[wi],
                                           .scale = 1.0f / sqrtf((float)hd), .softcap = cap};
                        int KV = KVH * hd, q_ld = H * hd + 2 * KV;
                        float *q = rnd((long)nb * n * q_ld, 2.0f);
                        float *kp = rnd((long)nb * (p0 ? p0 : 1) * KV, 2.0f), *vp = rnd((long)nb * (p0 ? p0 : 1) * KV, 2.0f);
                        float *kn = rnd((long)nb * n * KV, 2.0f), *vn = rnd((long)nb * n * KV, 2.0f);
                        const float *KP[3], *VP[3], *KN[3], *VN[3];
                        for (int b = 0; b < nb; b++) {
                            KP[b] = kp + (size_t)b * (p0 ? p0 : 1) * KV; VP[b] = vp + (size_t)b * (p0 ? p0 : 1) * KV;
                            KN[b] = kn + (size_t)b * n * KV; VN[b] = vn + (size_t)b * n * KV;
                        }
                        long no = (long)nb * n * H * hd;
                        float *cr = malloc(sizeof *cr * no), *cc = malloc(sizeof *cc * no);
                        REF->attention(REF, &a, nb, n, p0, q, q_ld, KP, VP, KN, VN, cr);
                        CPU->attention(CPU, &a, nb, n, p0, q, q_ld, KP, VP, KN, VN, cc);
                        char label[96];
                        snprintf(label, sizeof label, "nb%d n%d p0 %d H%d KVH%d hd%d window %d cap %g", nb, n, p0, H, KVH, hd,
                                 windows[wi], cap);
                        compare("attention", label, cc, cr, no, 2e-6);
                        free(q); free(kp); free(vp); free(kn); free(vn); free(cr); free(cc);
                    }
}

/* A query row's attention has the same bits whatever block it is computed in:
 * one sequence of N positions in one call, then row by row (n = 1, the keys
 * before it as the cache), then from p0 = 7 inside a batch of three
 * sequences, at 1 and 2 threads (the fast engine computes the same rows in
 * such different blocks; "noise 0 = clean" relies on it). */
static void test_attention_invariance(void)
{
    enum { N = 21, H = 4, KVH = 2, HD = 64, KV = KVH * HD, QW = H * HD };
    for (int wi = 0; wi < 2; wi++) {
        ct_attn_shape a = {.n_heads = H, .n_kv_heads = KVH, .head_dim = HD, .window = wi ? 5 : 0,
                           .scale = 0.125f, .softcap = 0};
        float *q = rnd((long)N * QW, 2.0f), *k = rnd((long)N * KV, 2.0f), *v = rnd((long)N * KV, 2.0f);
        float *whole = malloc(sizeof *whole * N * QW), *rows = malloc(sizeof *rows * N * QW);
        float *batch = malloc(sizeof *batch * 3 * N * QW);
        const float *kp[3] = {k, k, k}, *vp[3] = {v, v, v}, *kn[3], *vn[3];
        kn[0] = k; vn[0] = v;
        CPU->attention(CPU, &a, 1, N, 0, q, QW, kp, vp, kn, vn, whole);
        int bad = 0;
        for (int th = 1; th <= 2; th++) {
            ct_set_threads(th);
            for (int i = 0; i < N; i++) {
                kn[0] = k + (size_t)i * KV; vn[0] = v + (size_t)i * KV;
                CPU->attention(CPU, &a, 1, 1, i, q + (size_t)i * QW, QW, kp, vp, kn, vn, rows + (size_t)i * QW);
            }
            bad += memcmp(whole, rows, sizeof *rows * N * QW) != 0;
            /* sequences 0 and 2: other queries over the same keys */
            float *q3 = malloc(sizeof *q3 * 3 * (N - 7) * QW);
            for (int b = 0; b < 3; b++) {
                kn[b] = k + 7 * KV; vn[b] = v + 7 * KV;
                for (long e = 0; e < (long)(N - 7) * QW; e++)
                    q3[(size_t)b * (N - 7) * QW + e] = b == 1 ? q[7 * QW + e] : q[7 * QW + e] * 0.5f - 0.1f;
            }
            CPU->attention(CPU, &a, 3, N - 7, 7, q3, QW, kp, vp, kn, vn, batch);
            bad += memcmp(whole + 7 * QW, batch + (size_t)(N - 7) * QW, sizeof *batch * (N - 7) * QW) != 0;
            free(q3);
        }
        ct_set_threads(2);
        CHECK(bad == 0, "attention (window %d): %d of 4 blockings differ from the one-call rows", a.window, bad);
        printf("  attention    block and thread invariance (window %d): rows of one call = row by row = inside a "
               "batch from p0 7, 1-2 threads\n", a.window);
        free(q); free(k); free(v); free(whole); free(rows); free(batch);
    }
}

static void test_token_probs(void)
{
    static const int Vs[3] = {1, 11, 1000};
    for (int vi = 0; vi < 3; vi++) {
        int R = 4, V = Vs[vi], k = 3;
        float *lg = rnd((long)R * V, 8.0f);
        int32_t tok[12];
        for (int i = 0; i < R * k; i++) tok[i] = (i % 4 == 3) ? -1 : (int32_t)((i * 7) % V);
        float pr[12], pc[12];
        REF->token_probs(REF, R, V, lg, k, tok, pr);
        CPU->token_probs(CPU, R, V, lg, k, tok, pc);
        char label[32];
        snprintf(label, sizeof label, "V%d", V);
        compare("token_probs", label, pc, pr, R * k, 1e-6);
        CHECK(pc[3] == 1.0f, "token_probs: a row with no token should give 1, got %g", pc[3]);
        float *mr = malloc(sizeof *mr * V), *mc = malloc(sizeof *mc * V);
        REF->softmax_mean(REF, R, V, lg, mr);
        CPU->softmax_mean(CPU, R, V, lg, mc);
        compare("softmax_mean", label, mc, mr, V, 1e-6);
        free(mr); free(mc);
        free(lg);
    }
}

/* token_probs_linear (the CPU tables) against the reference's linear, softcap
 * and token_probs on stored logits; vocabularies below, at and across the
 * 2048-column chunks, with bias and soft-cap; then its thread invariance
 * (1 or 2 threads: the same bits) and, on oneDNN's products, its batch
 * invariance (a row alone = the row inside a batch). */
static void test_token_probs_linear(void)
{
    static const int Vs[4] = {7, 1000, CT_PROBS_CHUNK, 2 * CT_PROBS_CHUNK + 333};
    const ct_backend *tables[3] = {ct_backend_cpu(), ct_backend_openblas(), ct_backend_cpu_bf16()};
    const ct_backend *refs[3] = {REF, REF, ct_backend_ref_bf16()};
    for (int vi = 0; vi < 4; vi++)
        for (int ti = 0; ti < 3; ti++)
            for (int variant = 0; variant < 3; variant++) {   /* plain, bias, soft-cap; F32/BF16/F16 weights */
                const int V = Vs[vi], D = 24, R = 5, k = 2;
                const ct_backend *be = tables[ti], *rb = refs[ti];
                float *wf;
                ct_tensor W = weight(DTYPES[variant], V, D, &wf);
                float *x = rnd((long)R * D, 1.5f), *bias = variant == 1 ? rnd(V, 2.0f) : NULL;
                const float cap = variant == 2 ? 4.0f : 0.0f;
                int32_t tok[10];
                for (int i = 0; i < R * k; i++) tok[i] = i == 3 ? -1 : (int32_t)((i * 977 + vi) % V);
                float *lg = malloc(sizeof *lg * R * V), pr[10], pc[10];
                rb->linear(rb, R, x, D, &W, bias, lg, V);
                if (cap > 0) rb->softcap(rb, (long)R * V, lg, cap);
                rb->token_probs(rb, R, V, lg, k, tok, pr);
                CHECK(be->token_probs_linear != NULL, "%s has token_probs_linear", be->name);
                if (!be->token_probs_linear) { weight_free(&W, wf); free(x); free(bias); free(lg); continue; }
                be->token_probs_linear(be, R, x, &W, bias, cap, k, tok, pc);
                char label[64];
                snprintf(label, sizeof label, "%s/%s V%d %s", be->name, ct_dtype_name(be->compute), V,
                         variant == 1 ? "bias" : variant == 2 ? "softcap" : ct_dtype_name(DTYPES[variant]));
                compare("probs_linear", label, pc, pr, R * k, be->compute == CT_BF16 ? 2e-3 : 2e-5);
                CHECK(pc[3] == 1.0f, "token_probs_linear %s: no token should give 1, got %g", label, pc[3]);
                /* row 2 alone, and all rows at 1 thread: the same bits */
                float one[2], th1[10];
                be->token_probs_linear(be, 1, x + 2 * D, &W, bias, cap, k, tok + 2 * k, one);
                ct_set_threads(1);
                be->token_probs_linear(be, R, x, &W, bias, cap, k, tok, th1);
                ct_set_threads(2);
                CHECK(!memcmp(th1, pc, sizeof th1), "token_probs_linear %s: the result depends on the thread count",
                      label);
#ifdef CT_HAVE_DNNL
                /* (OpenBLAS's products are not batch-invariant: see test_linear) */
                if (be != ct_backend_openblas())
                    CHECK(!memcmp(one, pc + 2 * k, sizeof one), "token_probs_linear %s: a row's result depends on its batch",
                          label);
#endif
                weight_free(&W, wf); free(x); free(bias); free(lg);
            }
}

int main(void)
{
    TEST_BEGIN();
    REF = ct_backend_ref();
    CPU = ct_backend_cpu();
    CHECK(REF->version == CT_BACKEND_VERSION && CPU->version == CT_BACKEND_VERSION, "backend versions");
    CHECK(ct_backend_named("cpu") == CPU && ct_backend_named("ref") == REF && ct_backend_named("tpu") == NULL,
          "backend names");
    CHECK(ct_backend_find("cpu", CT_BF16) == ct_backend_cpu_bf16() && ct_backend_find("ref", CT_BF16) == ct_backend_ref_bf16() &&
          ct_backend_find("openblas", CT_F32) == ct_backend_openblas() && !ct_backend_find("openblas", CT_BF16) &&
          !ct_backend_find("cpu", CT_F16) && ct_backend_cpu_bf16()->compute == CT_BF16 && CPU->compute == CT_F32,
          "backends by name and compute dtype");
    char desc[320];
    CPU->describe(CPU, desc, sizeof desc);
    printf("  %s\n", desc);
#ifdef CT_HAVE_DNNL
    CHECK(strstr(desc, "oneDNN") != NULL, "a oneDNN build says so: %s", desc);
#endif
    test_expf();
    test_linear();
    test_norm();
    test_rope();
    test_elementwise();
    test_embed_copy();
    test_attention();
    test_attention_invariance();
    test_token_probs();
    test_token_probs_linear();
    print_op_stats();
    return TEST_END();
}
