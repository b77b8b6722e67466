/* attribute.c — direct logit attribution of the corrupted run
 * (ct_attribute_corrupted): the trace's own noise (the same level, stream and
 * rounding as ct_trace_run), then ct_attribute's decomposition sample by
 * sample, each part averaged over the samples.  A mean of sums is the sum of
 * the means, so the averaged parts still add up to the averaged total. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "trace/trace_internal.h"
#include "forward/attribute.h"

int ct_attribute_corrupted(const ct_model *m, const ct_trace_input *in, const ct_trace_settings *s, int32_t answer,
                           int32_t cf, ct_attribution *out, ct_err *err)
{
    memset(out, 0, sizeof *out);
    int T = in->n_ids, D = ct_model_d_model(m), S = s->samples;
    if (ct__attribute_check(m, in->ids, T, answer, cf, err)) return -1;
    if (!in->ranges || in->n_ranges < 1) return ct_fail(err, "attribute: no target range to corrupt");
    for (int r = 0; r < in->n_ranges; r++) {
        int b = in->ranges[2 * r], e = in->ranges[2 * r + 1];
        if (b < 0 || e > T || b >= e)
            return ct_fail(err, "attribute: target range %d:%d is empty or outside the prompt [0, %d)", b, e, T);
    }
    if (S < 1) return ct_fail(err, "attribute: --samples must be at least 1 (got %d)", S);
    const ct_backend *be = ct_model_backend(m);
    double level;
    float emb_std;
    double **z = calloc((size_t)in->n_ranges, sizeof *z);
    float *eh = malloc(2 * (size_t)T * D * sizeof *eh);        /* [T, D] clean token embeddings, then [T, D] noisy */
    float *x0 = ct_be_floats(be, (size_t)T * D);               /* [T, D] block-0 input (backend) */
    ct_attribution one = {0};
    int rc = -1;
    if (!z || !eh || !x0) { ct_fail_code(err, CT_ERR_NOMEM, "attribute: out of memory"); goto done; }
    if (tr_noise_level(m, in, s, &level, &emb_std, err) || tr_noise_draw(in, s, D, z, err)) goto done;
    if (ct_embed_tokens_host(m, in->ids, T, eh)) { ct_fail_code(err, CT_ERR_NOMEM, "attribute: out of memory"); goto done; }
    float *xh = eh + (size_t)T * D;
    for (int k = 0; k < S; k++) {
        memcpy(xh, eh, (size_t)T * D * sizeof *xh);
        tr_noise_apply(in, s, D, level, z, k, xh);
        be->upload(be, x0, xh, (size_t)T * D * sizeof *xh);
        ct_embed_finish(m, 0, T, x0);
        if (ct__attribute_x0(m, x0, T, answer, cf, &one, err)) goto done;
        if (k == 0) {
            /* the first sample's arrays become the accumulators */
            *out = one;
            memset(&one, 0, sizeof one);
        } else {
            for (int q = 0; q < out->L * out->H; q++) out->heads[q] += one.heads[q];
            for (int l = 0; l < out->L; l++) { out->attn_bias[l] += one.attn_bias[l]; out->mlp[l] += one.mlp[l]; }
            out->embed += one.embed; out->norm_bias += one.norm_bias; out->lm_bias += one.lm_bias;
            out->total += one.total; out->parts_sum += one.parts_sum; out->logit_diff += one.logit_diff;
            ct_attribution_free(&one);
        }
    }
    /* means over the samples */
    float inv = 1.0f / (float)S;
    for (int q = 0; q < out->L * out->H; q++) out->heads[q] *= inv;
    for (int l = 0; l < out->L; l++) { out->attn_bias[l] *= inv; out->mlp[l] *= inv; }
    out->embed *= inv; out->norm_bias *= inv; out->lm_bias *= inv;
    out->total *= inv; out->parts_sum *= inv; out->logit_diff *= inv;
    rc = 0;
done:
    for (int q = 0; z && q < in->n_ranges; q++) free(z[q]);
    free(z);
    free(eh);
    if (x0) be->free(be, x0);
    ct_attribution_free(&one);
    if (rc) ct_attribution_free(out);
    return rc;
}
