/* model.c — accessors, the random-weight constructor and the text summary. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "model.h"
#include "ops/ops.h"
#ifdef CT_HAVE_CUDA
#include "ops/cuda/cuda.h"
#endif

const struct ct_config *ct_model_config(const ct_model *m) { return &m->cfg; }
int ct_model_n_layers(const ct_model *m) { return m->cfg.n_layers; }
int ct_model_d_model(const ct_model *m) { return m->cfg.d_model; }
int ct_model_vocab(const ct_model *m) { return m->cfg.vocab; }
int ct_model_kv_dim(const ct_model *m) { return m->cfg.n_kv_heads * m->cfg.head_dim; }
int ct_model_max_positions(const ct_model *m) { return m->cfg.max_positions; }
size_t ct_model_weight_bytes(const ct_model *m) { return m->weight_bytes; }

void ct_model_memory(const ct_model *m, size_t *stored, size_t *owned, size_t *mapped)
{
    if (stored) *stored = m->stored_bytes;
    if (owned) *owned = m->owned_bytes;
    if (mapped) *mapped = m->mapped_bytes;
}

ct_dtype ct_model_weight_dtype(const ct_model *m)
{
    return m->w && m->cfg.n_layers > 0 ? m->w[0][S_DOWN].dtype : m->g[G_EMB].dtype;
}

int ct_model_set_backend(ct_model *m, const char *name, ct_err *err)
{
    const ct_backend *be = ct_backend_find(name, m->be->compute);
    if (!be && ct_backend_named(name))
        return ct_fail_code(err, CT_ERR_UNSUPPORTED, "backend \"%s\" has no %s compute (use --dtype f32)", name,
                            ct_dtype_name(m->be->compute));
    if (!be) return ct_fail_code(err, CT_ERR_UNSUPPORTED, "backend \"%s\": unknown (this build has: %s)", name, ct_backend_names());
    if (ct_model_place_weights(m, be, err)) return -1;
    m->be = be;
    return 0;
}

/* Bytes of a 2-D or 1-D view from its first element to its last. */
static size_t view_bytes(const ct_tensor *t)
{
    size_t es = t->dtype == CT_F32 ? 4 : 2;
    if (t->ndim < 2 || t->shape[1] == 0) return (size_t)t->shape[0] * es;
    return ((size_t)(t->shape[0] - 1) * (size_t)t->stride[0] + (size_t)t->shape[1]) * es;
}

void ct_model_drop_device(ct_model *m)
{
    if (!m->dev_be) return;
    for (int i = 0; i < m->n_dev; i++) m->dev_be->free(m->dev_be, m->dev[i]);
    free(m->dev);
    memcpy(m->g, m->host_g, sizeof m->g);
    if (m->w && m->host_w) memcpy(m->w, m->host_w, (size_t)m->cfg.n_layers * sizeof *m->w);
    free(m->host_w);
    m->host_w = NULL; m->dev = NULL; m->n_dev = 0; m->dev_bytes = 0; m->dev_be = NULL;
}

/* One device copy of host view t (dedup: a view whose data another slot
 * already uploaded, as tied embeddings, shares it). */
static int upload_view(ct_model *m, const ct_backend *be, ct_tensor *t, const ct_tensor *host_done, int n_done)
{
    if (!t->data) return 0;
    for (int i = 0; i < n_done; i++)
        if (host_done[i].data == t->data && host_done[i].dtype == t->dtype) {
            void *d = m->dev[i];
            t->data = d; t->device = be->device;
            return 0;
        }
    return -1;   /* not uploaded yet: the caller does it */
}

int ct_model_place_weights(ct_model *m, const ct_backend *be, ct_err *err)
{
    if (be->device == CT_DEVICE_CPU) { ct_model_drop_device(m); return 0; }
    if (m->dev_be) {
        if (m->dev_be->device == be->device) { m->dev_be = be; return 0; }   /* f32 <-> bf16 tables: same memory */
        ct_model_drop_device(m);
    }
    const int L = m->cfg.n_layers, nslots = G_COUNT + L * S_LAYER_COUNT;
    /* the host views of every slot, in order: g then w[l] */
    ct_tensor *host = malloc((size_t)nslots * sizeof *host);
    m->dev = calloc((size_t)nslots, sizeof *m->dev);
    m->host_w = m->w ? malloc((size_t)(L ? L : 1) * sizeof *m->host_w) : NULL;
    if (!host || !m->dev || (m->w && !m->host_w)) {
        free(host); free(m->dev); free(m->host_w); m->dev = NULL; m->host_w = NULL;
        return ct_fail_code(err, CT_ERR_NOMEM, "device: out of host memory");
    }
    memcpy(m->host_g, m->g, sizeof m->g);
    if (m->w) memcpy(m->host_w, m->w, (size_t)L * sizeof *m->w);
    for (int g = 0; g < G_COUNT; g++) host[g] = m->g[g];
    for (int l = 0; l < L; l++)
        for (int k = 0; k < S_LAYER_COUNT; k++) host[G_COUNT + l * S_LAYER_COUNT + k] = m->w[l][k];
    size_t need = 0;
    for (int i = 0; i < nslots; i++) {
        int dup = 0;
        for (int j = 0; j < i && !dup; j++) dup = host[j].data && host[j].data == host[i].data;
        if (host[i].data && !dup) need += view_bytes(&host[i]);
    }
    m->dev_be = be;
    int rc = 0;
#ifdef CT_HAVE_CUDA
    size_t freeb = 0, total = 0;
    char msg[256] = "";
    if (!strcmp(be->name, "cuda") && ct_cuda_mem_info(&freeb, &total)) {
        ct_cuda_status(msg, sizeof msg);
        rc = ct_fail_code(err, CT_ERR_DEVICE, "device: %s", msg);
    } else if (!strcmp(be->name, "cuda") && need + ((size_t)256 << 20) > freeb) {
        rc = ct_fail_code(err, CT_ERR_DEVICE,
                          "device: the weights need %.2f GiB (+ 0.25 GiB working room) but the GPU has %.2f GiB free of %.2f GiB",
                          (double)need / 1073741824.0, (double)freeb / 1073741824.0, (double)total / 1073741824.0);
    }
#endif
    for (int i = 0; i < nslots && rc == 0; i++) {
        ct_tensor *t = i < G_COUNT ? &m->g[i] : &m->w[(i - G_COUNT) / S_LAYER_COUNT][(i - G_COUNT) % S_LAYER_COUNT];
        if (!t->data || upload_view(m, be, t, host, i) == 0) { m->n_dev = i + 1; continue; }
        size_t bytes = view_bytes(&host[i]);
        void *d = be->alloc(be, bytes);
        if (!d) {
            rc = ct_fail_code(err, CT_ERR_DEVICE, "device: out of memory uploading the weights (%.2f GiB needed)",
                              (double)need / 1073741824.0);
            break;
        }
        be->upload(be, d, host[i].data, bytes);
        m->dev[i] = d;
        m->n_dev = i + 1;
        m->dev_bytes += bytes;
        t->data = d;
        t->device = be->device;
    }
    free(host);
    if (rc == 0) {
        ct_model *cm = m;
        const ct_backend *keep = cm->be;
        cm->be = be;
        rc = ct_model_device_check(cm, err);
        cm->be = keep;
    }
    if (rc) {
        /* shared (deduplicated) slots hold NULL in dev[]: only owners are freed */
        ct_model_drop_device(m);
        return -1;
    }
    return 0;
}

int ct_model_device_check(const ct_model *m, ct_err *err)
{
    if (m->be->device == CT_DEVICE_CPU || strcmp(m->be->name, "cuda")) return 0;   /* (test tables: no status) */
#ifdef CT_HAVE_CUDA
    char msg[256];
    if (ct_cuda_status(msg, sizeof msg)) return ct_fail_code(err, CT_ERR_DEVICE, "%s", msg);
    return 0;
#else
    (void)err;
    return 0;
#endif
}

int ct_device_select(const char *device, ct_err *err)
{
    if (!device || !strcmp(device, "cpu")) return 0;
    if (strncmp(device, "cuda", 4) || (device[4] && device[4] != ':'))
        return ct_fail_code(err, CT_ERR_INPUT, "device \"%s\": unknown (cpu, cuda or cuda:N)", device);
    int idx = 0;
    if (device[4] == ':') {
        char *end = NULL;
        long v = strtol(device + 5, &end, 10);
        if (!device[5] || *end || v < 0 || v > 1023)
            return ct_fail_code(err, CT_ERR_INPUT, "device \"%s\": N in cuda:N must be a GPU number", device);
        idx = (int)v;
    }
#ifdef CT_HAVE_CUDA
    char msg[256];
    if (ct_cuda_select(idx, msg, sizeof msg)) return ct_fail_code(err, CT_ERR_DEVICE, "device %s: %s", device, msg);
    return 0;
#else
    (void)idx;
    return ct_fail_code(err, CT_ERR_DEVICE,
                        "device %s: this ctrace was built without CUDA (rebuild with make CUDA=1 on a machine with nvcc)", device);
#endif
}

int ct_model_set_device(ct_model *m, const char *device, ct_err *err)
{
    if (!device || !strcmp(device, "cpu")) return ct_model_set_backend(m, "cpu", err);
    if (ct_device_select(device, err)) return -1;
    return ct_model_set_backend(m, "cuda", err);
}

int ct_model_set_compute(ct_model *m, ct_dtype dt, ct_err *err)
{
    const ct_backend *be = ct_backend_find(m->be->name, dt);
    if (!be)
        return ct_fail_code(err, CT_ERR_UNSUPPORTED, "backend \"%s\" cannot compute in %s (it has: F32%s)", m->be->name,
                            ct_dtype_name(dt), ct_backend_find(m->be->name, CT_BF16) ? ", BF16" : "");
    if (ct_model_place_weights(m, be, err)) return -1;
    m->be = be;
    return 0;
}

const char *ct_model_backend_name(const ct_model *m) { return m->be->name; }
ct_dtype ct_model_compute_dtype(const ct_model *m) { return m->be->compute; }
void ct_model_backend_describe(const ct_model *m, char *buf, size_t n) { m->be->describe(m->be, buf, n); }

/* torch.std's arithmetic (src/noise/std.c) over W_E converted row by row, so
 * that a bf16 matrix needs no float32 copy: the sums run in the same order. */
float ct_model_embedding_std(const ct_model *m)
{
    const ct_tensor *E = ct_host_g(m, G_EMB);   /* the host copy, also on a device backend */
    int64_t V = E->shape[0], D = E->shape[1];
    if (E->dtype == CT_F32) return ct_std_f32(E->data, (size_t)(V * D));
    float *row = malloc((size_t)D * sizeof *row);
    if (!row || V * D < 2) { free(row); return NAN; }
    double s = 0;
    for (int64_t v = 0; v < V; v++) {
        ct_tensor_read_f32(E, v * D, D, row);
        for (int64_t d = 0; d < D; d++) s += row[d];
    }
    float mean = (float)(s / (double)(V * D));
    double ss = 0, mu = (double)mean;
    for (int64_t v = 0; v < V; v++) {
        ct_tensor_read_f32(E, v * D, D, row);
        for (int64_t d = 0; d < D; d++) { double x = (double)row[d] - mu; ss += x * x; }
    }
    free(row);
    return (float)sqrt(ss / (double)(V * D - 1));
}

/* splitmix64 → uniform → Box-Muller: reproducible everywhere, no global state. */
static uint64_t next_u64(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static void fill_normal(float *x, int64_t n, float std, uint64_t *s)
{
    for (int64_t i = 0; i < n; i += 2) {
        double u1 = ((next_u64(s) >> 11) + 1.0) / 9007199254740993.0;   /* (0, 1] */
        double u2 = (next_u64(s) >> 11) / 9007199254740992.0;
        double r = sqrt(-2 * log(u1));
        x[i] = (float)(std * r * cos(2 * M_PI * u2));
        if (i + 1 < n) x[i + 1] = (float)(std * r * sin(2 * M_PI * u2));
    }
}

static void fill_const(float *x, int64_t n, float v)
{
    for (int64_t i = 0; i < n; i++) x[i] = v;
}

/* Matrices normal(0, 0.02); norm weights 1 (0 for the (1 + w) norms); biases 0. */
static void fill_slot(float *x, int64_t rows, int64_t cols, int is_norm_w, const struct ct_config *c, uint64_t *s)
{
    if (cols) fill_normal(x, rows * cols, 0.02f, s);
    else if (is_norm_w) fill_const(x, rows, c->norm == CT_NORM_RMS_1P ? 0.0f : 1.0f);
    else fill_const(x, rows, 0.0f);
}

/* Rounds a float32 matrix slot's values to dt, in place in a new buffer. */
static int round_slot(ct_model *m, ct_tensor *t, ct_dtype dt)
{
    if (t->ndim != 2 || dt == CT_F32) return 0;
    int64_t n = t->shape[0] * t->shape[1];
    uint16_t *h = ct_model_own(m, (size_t)n * 2);
    if (!h) return -1;
    const float *f = t->data;
    for (int64_t i = 0; i < n; i++) h[i] = dt == CT_BF16 ? ct_f32_to_bf16(f[i]) : ct_f32_to_f16(f[i]);
    m->owned_bytes -= (size_t)n * 4;   /* the float32 buffer is dropped below */
    for (int i = 0; i < m->n_owned; i++)
        if (m->owned[i] == t->data) { free(m->owned[i]); m->owned[i] = m->owned[--m->n_owned]; break; }
    *t = ct_tensor_2d(dt, h, t->shape[0], t->shape[1]);
    return 0;
}

int ct_model_random_as(ct_model **out, const struct ct_config *cfg, uint64_t seed, ct_dtype dt, ct_err *err)
{
    if (dt != CT_F32 && dt != CT_BF16 && dt != CT_F16)
        return ct_fail_code(err, CT_ERR_UNSUPPORTED, "random model: weights can be F32, BF16 or F16, not %s", ct_dtype_name(dt));
    if (ct_model_random(out, cfg, seed, err)) return -1;
    ct_model *m = *out;
    int rc = 0;
    for (int g = 0; g < G_COUNT && rc == 0; g++)
        if (m->g[g].data && !(g == G_LM_HEAD && m->cfg.tie_embeddings)) rc = round_slot(m, &m->g[g], dt);
    if (m->cfg.tie_embeddings) m->g[G_LM_HEAD] = m->g[G_EMB];
    for (int l = 0; l < m->cfg.n_layers && rc == 0; l++)
        for (int k = 0; k < S_LAYER_COUNT && rc == 0; k++)
            if (m->w[l][k].data) rc = round_slot(m, &m->w[l][k], dt);
    if (rc) { ct_model_free(m); *out = NULL; return ct_fail_code(err, CT_ERR_NOMEM, "random model: out of memory"); }
    m->weight_bytes = m->owned_bytes;
    return 0;
}

int ct_model_random(ct_model **out, const struct ct_config *cfg, uint64_t seed, ct_err *err)
{
    *out = NULL;
    ct_model *m = calloc(1, sizeof *m);
    if (!m) return ct_fail(err, "random model: out of memory");
    m->cfg = *cfg;
    if (m->cfg.rope_factor == 0) m->cfg.rope_factor = 1;
    if (m->cfg.n_layers < 1 || m->cfg.d_model < 1 || m->cfg.n_heads < 1 || m->cfg.n_kv_heads < 1 ||
        m->cfg.head_dim < 1 || m->cfg.d_ff < 1 || m->cfg.vocab < 1 || m->cfg.max_positions < 1 ||
        m->cfg.n_heads % m->cfg.n_kv_heads ||
        (m->cfg.rope != CT_ROPE_NONE && (m->cfg.rotary_dim < 2 || m->cfg.rotary_dim % 2 ||
                                         m->cfg.rotary_dim > m->cfg.head_dim))) {
        free(m);
        return ct_fail(err, "random model: inconsistent config sizes");
    }
    if (ct_model_alloc(m, CT_F32, "random model", err)) { ct_model_free(m); return -1; }
    uint64_t s = seed;
    const struct ct_config *c = &m->cfg;
    for (int g = 0; g < G_COUNT; g++) {
        if (!m->g[g].data || (g == G_LM_HEAD && c->tie_embeddings)) continue;
        fill_slot(m->g[g].data, ct_gslot_rows(c, (ct_gslot)g), ct_gslot_cols(c, (ct_gslot)g), g == G_FNORM_W, c, &s);
    }
    for (int l = 0; l < c->n_layers; l++)
        for (int k = 0; k < S_LAYER_COUNT; k++) {
            if (!m->w[l][k].data) continue;
            int is_norm = k == S_NORM1_W || k == S_NORM2_W || k == S_POST_ATTN_W || k == S_POST_MLP_W;
            fill_slot(m->w[l][k].data, ct_slot_rows(c, (ct_slot)k), ct_slot_cols(c, (ct_slot)k), is_norm, c, &s);
        }
    *out = m;
    return 0;
}

static const char *act_name(ct_act a)
{
    switch (a) {
    case CT_ACT_SILU: return "silu";
    case CT_ACT_GELU: return "gelu (erf)";
    case CT_ACT_GELU_TANH: return "gelu (tanh approximation)";
    case CT_ACT_RELU: return "relu";
    }
    return "?";
}

static const char *layout_of(const struct ct_config *c)
{
    if (c->post_norms) return "sequential with sublayer post-norms: h = x + norm(attn(norm(x))); out = h + norm(mlp(norm(h)))";
    if (!c->parallel) return "sequential: h = x + attn(norm1(x)); out = h + mlp(norm2(h))";
    if (c->parallel_two_norms) return "parallel: out = x + attn(norm1(x)) + mlp(norm2(x))";
    return "parallel, one norm: out = x + attn(norm(x)) + mlp(norm(x))";
}

int ct_model_describe(const ct_model *m, char *buf, size_t cap)
{
    int n = ct_config_describe(&m->cfg, m->weight_bytes, buf, cap);
    if (n < 0 || (size_t)n >= cap) return n;
    return n + snprintf(buf + n, cap - (size_t)n,
        "held:         %s matrices, %.1f MiB (%.1f MiB own buffers + %.1f MiB in place from the mapped file; "
        "checkpoint tensors %.1f MiB)\n"
        "backend:      %s\n",
        ct_dtype_name(ct_model_weight_dtype(m)), (double)m->weight_bytes / 1048576.0,
        (double)m->owned_bytes / 1048576.0, (double)m->mapped_bytes / 1048576.0,
        (double)m->stored_bytes / 1048576.0, m->be->name);
}

int ct_config_describe(const struct ct_config *c, size_t weight_bytes, char *buf, size_t cap)
{
    char rope[256], scaling[160] = "", attn[160];
    if (c->rope == CT_ROPE_LINEAR) snprintf(scaling, sizeof scaling, ", linear scaling factor %g", c->rope_factor);
    if (c->rope == CT_ROPE_LLAMA3)
        snprintf(scaling, sizeof scaling, ", llama3 scaling (factor %g, low %g, high %g, original %d positions)",
                 c->rope_factor, c->rope_low_freq_factor, c->rope_high_freq_factor, c->rope_original_max);
    if (c->rope == CT_ROPE_NONE) snprintf(rope, sizeof rope, "none (learned position embeddings, %d positions)", c->max_positions);
    else
        snprintf(rope, sizeof rope, "on %d of %d head dims (%s pairs), theta %g%s",
                 c->rotary_dim, c->head_dim, c->rope_interleaved ? "interleaved adjacent" : "half-split",
                 c->rope_theta, scaling);
    int n = snprintf(attn, sizeof attn, "causal, scale %g", c->attn_scale);
    if (c->attn_softcap > 0) n += snprintf(attn + n, sizeof attn - (size_t)n, ", score soft-cap %g", c->attn_softcap);
    if (c->sliding_window)
        snprintf(attn + n, sizeof attn - (size_t)n, ", sliding window %d%s", c->sliding_window,
                 c->sliding_every_other ? " on even layers" : "");
    char biases[64];
    snprintf(biases, sizeof biases, "%s%s%s%s", c->qkv_bias ? " qkv" : "", c->o_bias ? " out" : "",
             c->mlp_bias ? " mlp" : "", c->lm_head_bias ? " lm_head" : "");
    return snprintf(buf, cap,
        "model_type:   %s (family %s)\n"
        "layers:       %d\n"
        "hidden:       %d\n"
        "heads:        %d query, %d key/value (head_dim %d)%s\n"
        "mlp:          %d inner, %s%s\n"
        "vocab:        %d\n"
        "positions:    %d\n"
        "norm:         %s, eps %g\n"
        "block:        %s\n"
        "rotary:       %s\n"
        "attention:    %s\n"
        "logits:       %s%s\n"
        "biases:      %s\n"
        "embeddings:   %s%s\n"
        "weights:      %.1f MiB as float32 (config torch_dtype %s)\n",
        c->model_type, ct_family_name(c->family), c->n_layers, c->d_model,
        c->n_heads, c->n_kv_heads, c->head_dim, c->n_kv_heads < c->n_heads ? (c->n_kv_heads == 1 ? ", MQA" : ", GQA") : "",
        c->d_ff, act_name(c->act), c->gated_mlp ? " gated (down(act(gate) * up))" : "",
        c->vocab, c->max_positions,
        c->norm == CT_NORM_LAYER ? "LayerNorm" : c->norm == CT_NORM_RMS_1P ? "RMSNorm (1 + w)" : "RMSNorm", c->norm_eps,
        layout_of(c), rope, attn,
        c->lm_head_bias ? "final norm, output projection with bias" : "final norm, output projection",
        c->final_softcap > 0 ? ", soft-capped" : "",
        biases[0] ? biases : " none",
        c->tie_embeddings ? "tied input/output" : "untied input/output",
        c->scale_embeddings ? ", input x sqrt(hidden)" : "",
        (double)weight_bytes / 1048576.0, ct_dtype_name(c->torch_dtype));
}
