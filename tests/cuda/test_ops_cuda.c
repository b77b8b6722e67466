/* test_ops_cuda.c — every op of the "cuda" backend against the plain-C
 * reference (src/ops/ref.c) on random inputs, the shapes of tests/test_ops.c:
 * odd sizes, one row, GQA and MQA, windows at the edges, p0 > 0, weights in
 * F32, BF16 and F16, bf16 compute against ref's bf16 compute.  Each op's
 * worst normalized error max|cuda - ref| / max|ref| is printed.
 *
 * Needs a `make CUDA=1` build and a GPU (`make CUDA=1 test-cuda`); without a
 * GPU it says so and exits 77.  NOT YET RUN ON A GPU.
 *
 * The inputs live on the host; each call uploads them into device buffers
 * (dev()), runs the cuda op, and downloads the result (back()). */
#include <math.h>
#include <stdint.h>
#include "ops_inputs.h"
#include "ctrace_app.h"
#include "ops/ops.h"
#include "ops/cuda/cuda.h"

static const ct_backend *REF, *GPU;

/* A device copy of bytes of host memory (NULL host: NULL). */
static void *dev(const void *host, size_t bytes)
{
    if (!host) return NULL;
    void *d = GPU->alloc(GPU, bytes ? bytes : 1);
    if (!d) { fprintf(stderr, "test_ops_cuda: device alloc of %zu bytes failed\n", bytes); exit(1); }
    if (bytes) GPU->upload(GPU, d, host, bytes);
    return d;
}
static float *devf(const float *host, long n) { return dev(host, (size_t)n * sizeof(float)); }
/* host [n] = device d [n]; frees d. */
static void back(float *host, float *d, long n)
{
    GPU->download(GPU, host, d, (size_t)n * sizeof *host);
    GPU->free(GPU, d);
}
static void dfree(void *d) { if (d) GPU->free(GPU, d); }

/* The device view of a host weight (its data uploaded). */
static ct_tensor dev_weight(const ct_tensor *W)
{
    ct_tensor d = *W;
    size_t es = W->dtype == CT_F32 ? 4 : 2;
    d.data = dev(W->data, (size_t)(W->shape[0] * (W->shape[1] ? W->shape[1] : 1)) * es);
    d.device = CT_DEVICE_CUDA;
    return d;
}

static void test_linear_of(const char *op, const ct_backend *gpu, const ct_backend *ref, double tol1)
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
                ct_tensor Wd = dev_weight(&W);
                float *xd = devf(x, (long)R * ldx), *bd = devf(b, out), *yd = devf(yc, (long)R * ldy);
                gpu->linear(gpu, R, xd, ldx, &Wd, bd, yd, ldy);
                back(yc, yd, (long)R * ldy);
                dfree(xd); dfree(bd); dfree(Wd.data);
                char label[96];
                snprintf(label, sizeof label, "R%d in%d out%d %s%s", R, in, out, ct_dtype_name(W.dtype), bias ? " +b" : "");
                compare(op, label, yc, yr, (long)R * ldy, tol1 * sqrt(in));
                weight_free(&W, wf);
                free(x); free(b); free(yr); free(yc);
            }
}

static void test_norm(void)
{
    static const int shapes[][2] = {{1, 1}, {5, 7}, {3, 64}, {2, 257}, {4, 4096}};
    static const ct_norm_kind kinds[3] = {CT_NORM_LAYER, CT_NORM_RMS, CT_NORM_RMS_1P};
    for (size_t si = 0; si < sizeof shapes / sizeof *shapes; si++)
        for (int k = 0; k < 3; k++)
            for (int bias = 0; bias < 2; bias++) {
                if (bias && kinds[k] != CT_NORM_LAYER) continue;
                int R = shapes[si][0], D = shapes[si][1];
                float *x = rnd((long)R * D, 3.0f), *w = rnd(D, 1.0f), *b = bias ? rnd(D, 1.0f) : NULL;
                float *yr = malloc(sizeof *yr * R * D), *yc = malloc(sizeof *yc * R * D);
                REF->norm(REF, kinds[k], 1e-5f, R, D, x, w, b, yr);
                float *xd = devf(x, (long)R * D), *wd = devf(w, D), *bd = devf(b, D);
                GPU->norm(GPU, kinds[k], 1e-5f, R, D, xd, wd, bd, xd);   /* in place */
                back(yc, xd, (long)R * D);
                dfree(wd); dfree(bd);
                char label[64];
                snprintf(label, sizeof label, "R%d D%d kind %d%s", R, D, kinds[k], bias ? " +b" : "");
                compare("norm", label, yc, yr, (long)R * D, 1e-6);
                free(x); free(w); free(b); free(yr); free(yc);
            }
}

static void test_rope(void)
{
    static const int cfg[][6] = {   /* R, n, p0, nheads, hd, rotary_dim */
        {1, 1, 0, 1, 2, 2}, {6, 3, 5, 2, 8, 8}, {4, 4, 0, 3, 10, 4}, {10, 5, 1000, 4, 16, 16}, {8, 8, 100, 32, 128, 128}};
    for (size_t ci = 0; ci < sizeof cfg / sizeof *cfg; ci++)
        for (int il = 0; il < 2; il++) {
            int R = cfg[ci][0], n = cfg[ci][1], p0 = cfg[ci][2], nh = cfg[ci][3], hd = cfg[ci][4], rd = cfg[ci][5];
            int ld = nh * hd + 3;
            float *inv = malloc(sizeof *inv * (rd / 2));
            for (int i = 0; i < rd / 2; i++) inv[i] = 1.0f / powf(10000.0f, (float)(2 * i) / (float)rd);
            float *xr = rnd((long)R * ld, 1.0f), *xc = dup(xr, (long)R * ld);
            ct_rope_table rt = {inv, NULL, 0};
            REF->rope(REF, R, n, p0, xr, ld, nh, hd, rd, il, &rt);
            float *xd = devf(xc, (long)R * ld);
            GPU->rope(GPU, R, n, p0, xd, ld, nh, hd, rd, il, &rt);
            back(xc, xd, (long)R * ld);
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
        float *xr = rnd(n, 6.0f), *xc = dup(xr, n), *xd = devf(xc, n);
        REF->act(REF, acts[a], n, xr);
        GPU->act(GPU, acts[a], n, xd);
        back(xc, xd, n);
        char label[32];
        snprintf(label, sizeof label, "act %d", acts[a]);
        compare("act", label, xc, xr, n, 1e-6);
        free(xr); free(xc);
        int R = 3, F = 13, ld = 2 * F + 1;
        xr = rnd((long)R * ld, 4.0f); xc = dup(xr, (long)R * ld); xd = devf(xc, (long)R * ld);
        REF->act_gated(REF, acts[a], R, F, xr, ld);
        GPU->act_gated(GPU, acts[a], R, F, xd, ld);
        back(xc, xd, (long)R * ld);
        compare("act_gated", label, xc, xr, (long)R * ld, 1e-6);
        free(xr); free(xc);
    }
    long n = 777;
    float *a = rnd(n, 2), *b = rnd(n, 2), *c = rnd(n, 2), *yr = malloc(sizeof *yr * n), *yc = malloc(sizeof *yc * n);
    float *ad = devf(a, n), *bd = devf(b, n), *cd = devf(c, n);
    for (int three = 0; three < 2; three++) {
        float *yd = devf(yc, n);
        REF->add(REF, n, a, b, three ? c : NULL, yr);
        GPU->add(GPU, n, ad, bd, three ? cd : NULL, yd);
        back(yc, yd, n);
        compare("add", three ? "a+b+c" : "a+b", yc, yr, n, 0);
    }
    memcpy(yr, a, sizeof *yr * n);
    REF->scale(REF, n, yr, 1.7f);
    GPU->scale(GPU, n, ad, 1.7f);
    back(yc, ad, n);
    compare("scale", "x1.7", yc, yr, n, 0);
    float *big = rnd(n, 200), *bigd = devf(big, n);
    memcpy(yr, big, sizeof *yr * n);
    REF->softcap(REF, n, yr, 30.0f);
    GPU->softcap(GPU, n, bigd, 30.0f);
    back(yc, bigd, n);
    compare("softcap", "cap 30", yc, yr, n, 1e-6);
    dfree(bd); dfree(cd);
    free(a); free(b); free(c); free(yr); free(yc); free(big);
}

static void test_embed_copy(void)
{
    for (int di = 0; di < 3; di++) {
        int V = 37, D = 19, n = 6;
        float *ef;
        ct_tensor E = weight(DTYPES[di], V, D, &ef);
        int32_t ids[6] = {0, 36, 5, -1, 37, 5};   /* two out of range: zero rows; ids stay host memory */
        float *yr = malloc(sizeof *yr * n * D), *yc = malloc(sizeof *yc * n * D);
        REF->embed(REF, &E, ids, n, yr);
        ct_tensor Ed = dev_weight(&E);
        float *yd = devf(yc, (long)n * D);
        GPU->embed(GPU, &Ed, ids, n, yd);
        back(yc, yd, (long)n * D);
        dfree(Ed.data);
        compare("embed", ct_dtype_name(E.dtype), yc, yr, (long)n * D, 0);
        weight_free(&E, ef);
        free(yr); free(yc);
    }
    float *src = rnd(60, 1), *dr = calloc(100, sizeof(float)), *dc = calloc(100, sizeof(float));
    float *sd = devf(src, 60), *dd = devf(dc, 100);
    REF->copy_rows(REF, 4, 7, dr, 10, src, 12);
    GPU->copy_rows(GPU, 4, 7, dd, 10, sd, 12);
    GPU->download(GPU, dc, dd, 100 * sizeof *dc);
    compare("copy_rows", "strided", dc, dr, 100, 0);
    REF->copy_rows(REF, 5, 9, dr, 20, src + 3, 0);
    GPU->copy_rows(GPU, 5, 9, dd, 20, sd + 3, 0);
    back(dc, dd, 100);
    compare("copy_rows", "broadcast", dc, dr, 100, 0);
    dfree(sd);
    free(src); free(dr); free(dc);
}

static void test_attention(void)
{
    static const int kvh_of[3] = {4, 2, 1};     /* MHA, GQA, MQA for H = 4 */
    static const int ns[4] = {1, 3, 16, 20};
    static const int p0s[3] = {0, 1, 7};
    static const int windows[4] = {0, 1, 3, 1000};
    int ncase = 0;
    for (int hk = 0; hk < 3; hk++)
        for (int hdi = 0; hdi < 2; hdi++)
            for (int ni = 0; ni < 4; ni++)
                for (int pi = 0; pi < 3; pi++)
                    for (int wi = 0; wi < 4; wi++) {
                        int H = 4, KVH = kvh_of[hk], hd = hdi ? 5 : 8, n = ns[ni], p0 = p0s[pi], nb = (ncase % 3) + 1;
                        float cap = (ncase % 4 == 1) ? 3.0f : 0.0f;
                        ncase++;
                        ct_attn_shape a = {.n_heads = H, .n_kv_heads = KVH, .head_dim = hd, .window = windows[wi],
                                           .scale = 1.0f / sqrtf((float)hd), .softcap = cap};
                        int KV = KVH * hd, q_ld = H * hd + 2 * KV, np = p0 ? p0 : 1;
                        long nq = (long)nb * n * q_ld, nkp = (long)nb * np * KV, nkn = (long)nb * n * KV;
                        float *q = rnd(nq, 2.0f), *kp = rnd(nkp, 2.0f), *vp = rnd(nkp, 2.0f);
                        float *kn = rnd(nkn, 2.0f), *vn = rnd(nkn, 2.0f);
                        float *qd = devf(q, nq), *kpd = devf(kp, nkp), *vpd = devf(vp, nkp);
                        float *knd = devf(kn, nkn), *vnd = devf(vn, nkn);
                        const float *KP[3], *VP[3], *KN[3], *VN[3], *dKP[3], *dVP[3], *dKN[3], *dVN[3];
                        for (int b = 0; b < nb; b++) {
                            size_t op = (size_t)b * np * KV, on = (size_t)b * n * KV;
                            KP[b] = kp + op; VP[b] = vp + op; KN[b] = kn + on; VN[b] = vn + on;
                            dKP[b] = kpd + op; dVP[b] = vpd + op; dKN[b] = knd + on; dVN[b] = vnd + on;
                        }
                        long no = (long)nb * n * H * hd;
                        float *cr = malloc(sizeof *cr * no), *cc = malloc(sizeof *cc * no), *cd = devf(cc, no);
                        REF->attention(REF, &a, nb, n, p0, q, q_ld, KP, VP, KN, VN, cr);
                        GPU->attention(GPU, &a, nb, n, p0, qd, q_ld, dKP, dVP, dKN, dVN, cd);
                        back(cc, cd, no);
                        dfree(qd); dfree(kpd); dfree(vpd); dfree(knd); dfree(vnd);
                        char label[96];
                        snprintf(label, sizeof label, "nb%d n%d p0 %d H%d KVH%d hd%d window %d cap %g", nb, n, p0, H, KVH, hd,
                                 windows[wi], cap);
                        compare("attention", label, cc, cr, no, 2e-6);
                        free(q); free(kp); free(vp); free(kn); free(vn); free(cr); free(cc);
                    }
}

static void test_token_probs(void)
{
    static const int Vs[4] = {1, 11, 1000, 128256};
    for (int vi = 0; vi < 4; vi++) {
        int R = 4, V = Vs[vi], k = 3;
        float *lg = rnd((long)R * V, 8.0f), *lgd = devf(lg, (long)R * V);
        int32_t tok[12];
        for (int i = 0; i < R * k; i++) tok[i] = (i % 4 == 3) ? -1 : (int32_t)((i * 7) % V);
        float pr[12], pc[12], *pd = devf(pc, 12);
        REF->token_probs(REF, R, V, lg, k, tok, pr);
        GPU->token_probs(GPU, R, V, lgd, k, tok, pd);
        back(pc, pd, R * k);
        char label[32];
        snprintf(label, sizeof label, "V%d", V);
        compare("token_probs", label, pc, pr, R * k, 1e-6);
        CHECK(pc[3] == 1.0f, "token_probs: a row with no token should give 1, got %g", pc[3]);
        float *mr = malloc(sizeof *mr * V), *mc = malloc(sizeof *mc * V), *md = devf(mc, V);
        REF->softmax_mean(REF, R, V, lg, mr);
        GPU->softmax_mean(GPU, R, V, lgd, md);
        back(mc, md, V);
        compare("softmax_mean", label, mc, mr, V, 1e-6);
        dfree(lgd);
        free(mr); free(mc); free(lg);
    }
}

int main(void)
{
    TEST_BEGIN();
    char msg[256];
    if (ct_cuda_select(0, msg, sizeof msg)) {
        printf("test_ops_cuda: SKIPPED, no GPU: %s\n", msg);
        return 77;
    }
    REF = ct_backend_ref();
    GPU = ct_backend_find("cuda", CT_F32);
    CHECK(GPU && GPU == ct_backend_cuda() && ct_backend_find("cuda", CT_BF16) == ct_backend_cuda_bf16(),
          "ct_backend_find(\"cuda\") gives the cuda tables");
    CHECK(GPU->version == CT_BACKEND_VERSION && GPU->device == CT_DEVICE_CUDA, "cuda table version/device");
    char d[320];
    GPU->describe(GPU, d, sizeof d);
    printf("backend: %s\n", d);
    test_linear_of("linear", GPU, REF, 2e-6);
    test_linear_of("linear/bf16", ct_backend_cuda_bf16(), ct_backend_ref_bf16(), 2e-6);
    test_norm();
    test_rope();
    test_elementwise();
    test_embed_copy();
    test_attention();
    test_token_probs();
    CHECK(ct_cuda_status(msg, sizeof msg) == 0, "no CUDA error recorded: %s", msg);
    print_op_stats();
    return TEST_END();
}
