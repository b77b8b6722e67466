/* load.c — a Hugging Face model directory → ct_model with float32 weights.
 *
 * config.json gives the family; the family's tensor table (tensor_names.c)
 * says which checkpoint tensor fills which slot and how it is packed.  The
 * checkpoint is model.safetensors or model.safetensors.index.json + shards,
 * memory-mapped; every tensor is converted to float32 once, here, so the
 * forward pass runs one code path whatever the stored dtype (F32/F16/BF16). */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <cjson/cJSON.h>
#include "model.h"

/* The opened checkpoint: one or more safetensors files. */
typedef struct ct_ckpt {
    ct_st_file *files;          /* [n] */
    int n;
    char *index_path;           /* the sharded index, or NULL */
} ct_ckpt;

static void ckpt_close(ct_ckpt *k)
{
    for (int i = 0; i < k->n; i++) ct_st_close(&k->files[i]);
    free(k->files);
    free(k->index_path);
    memset(k, 0, sizeof *k);
}

static int file_exists(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0;
}

static char *read_text(const char *path, ct_err *err)
{
    FILE *f = fopen(path, "rb");
    if (!f) { ct_fail(err, "%s: cannot open: %s", path, strerror(errno)); return NULL; }
    char *buf = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (len + 4096 + 1 > cap) {
            cap = cap ? cap * 2 : 65536;
            char *nb = realloc(buf, cap);
            if (!nb) { free(buf); fclose(f); ct_fail(err, "%s: out of memory", path); return NULL; }
            buf = nb;
        }
        size_t got = fread(buf + len, 1, cap - len - 1, f);
        len += got;
        if (got == 0) break;
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) { free(buf); ct_fail(err, "%s: read error", path); return NULL; }
    buf[len] = 0;
    return buf;
}

static int ckpt_open(ct_ckpt *k, const char *dir, ct_err *err)
{
    memset(k, 0, sizeof *k);
    char path[4096];
    snprintf(path, sizeof path, "%s/model.safetensors.index.json", dir);
    if (!file_exists(path)) {
        snprintf(path, sizeof path, "%s/model.safetensors", dir);
        if (!file_exists(path)) {
            char bin[4096];
            snprintf(bin, sizeof bin, "%s/pytorch_model.bin", dir);
            if (file_exists(bin))
                return ct_fail(err, "%s: only pytorch_model.bin found; ctrace reads safetensors (convert the checkpoint)", dir);
            return ct_fail(err, "%s: no model.safetensors or model.safetensors.index.json", dir);
        }
        k->files = calloc(1, sizeof *k->files);
        if (!k->files) return ct_fail(err, "%s: out of memory", path);
        if (ct_st_open(&k->files[0], path, err)) { free(k->files); k->files = NULL; return -1; }
        k->n = 1;
        return 0;
    }
    /* sharded: {"weight_map": {"tensor": "shard file", ...}} */
    k->index_path = strdup(path);
    char *text = read_text(path, err);
    if (!text) { ckpt_close(k); return -1; }
    cJSON *root = cJSON_Parse(text);
    free(text);
    const cJSON *wm = cJSON_GetObjectItemCaseSensitive(root, "weight_map");
    int rc = -1;
    if (!cJSON_IsObject(wm)) { ct_fail(err, "%s: malformed index (no \"weight_map\" object)", path); goto out; }
    int cap = cJSON_GetArraySize(wm);
    k->files = calloc((size_t)(cap ? cap : 1), sizeof *k->files);
    if (!k->files) { ct_fail(err, "%s: out of memory", path); goto out; }
    for (const cJSON *e = wm->child; e; e = e->next) {
        if (!cJSON_IsString(e) || strchr(e->valuestring, '/')) {
            ct_fail(err, "%s: weight_map entry \"%s\" is not a file name in the directory", path, e->string);
            goto out;
        }
        char shard[4096];
        snprintf(shard, sizeof shard, "%s/%s", dir, e->valuestring);
        int seen = 0;
        for (int i = 0; i < k->n && !seen; i++) seen = !strcmp(k->files[i].path, shard);
        if (seen) continue;
        if (ct_st_open(&k->files[k->n], shard, err)) goto out;
        k->n++;
    }
    rc = 0;
out:
    cJSON_Delete(root);
    if (rc) ckpt_close(k);
    return rc;
}

static const ct_tensor_view *ckpt_find1(const ct_ckpt *k, const char *name, const char **file)
{
    for (int i = 0; i < k->n; i++) {
        const ct_tensor_view *t = ct_st_find(&k->files[i], name);
        if (t) { *file = k->files[i].path; return t; }
    }
    return NULL;
}

/* Finds a tensor; checkpoints saved from the base model lack the head's
 * prefix ("h.0.attn..." for "transformer.h.0.attn..."), as from_pretrained allows. */
static const ct_tensor_view *ckpt_find(const ct_ckpt *k, const char *name, const char **file)
{
    const ct_tensor_view *t = ckpt_find1(k, name, file);
    const char *dot = strchr(name, '.');
    if (!t && dot && strncmp(name, "lm_head.", 8) && strncmp(name, "embed_out.", 10))
        t = ckpt_find1(k, dot + 1, file);
    return t;
}

static const char *ckpt_where(const ct_ckpt *k)
{
    return k->index_path ? k->index_path : k->files[0].path;
}

/* dst[i] = element (start + i) of t, for i < n, converted to float32. */
static void read_f32(const ct_tensor_view *t, int64_t start, int64_t n, float *dst)
{
    const unsigned char *d = t->data;
    switch (t->dtype) {
    case CT_F32: memcpy(dst, d + 4 * start, (size_t)n * 4); break;
    case CT_BF16:
        for (int64_t i = 0; i < n; i++) {
            uint16_t h; memcpy(&h, d + 2 * (start + i), 2); dst[i] = ct_bf16_to_f32(h);
        }
        break;
    case CT_F16:
        for (int64_t i = 0; i < n; i++) {
            uint16_t h; memcpy(&h, d + 2 * (start + i), 2); dst[i] = ct_f16_to_f32(h);
        }
        break;
    default: break;   /* refused before */
    }
}

static int load_rule(ct_model *m, const ct_ckpt *k, const ct_tensor_rule *r, int layer, ct_err *err)
{
    const struct ct_config *c = &m->cfg;
    char name[256];
    if (r->layer) snprintf(name, sizeof name, r->name, layer);
    else snprintf(name, sizeof name, "%s", r->name);
    int64_t srows = r->layer ? ct_slot_rows(c, (ct_slot)r->slot) : ct_gslot_rows(c, (ct_gslot)r->slot);
    int64_t cols = r->layer ? ct_slot_cols(c, (ct_slot)r->slot) : ct_gslot_cols(c, (ct_gslot)r->slot);
    float *dst = m->w ? (r->layer ? m->w[layer][r->slot] : m->g[r->slot]) : NULL;   /* NULL: check only */
    int64_t off, rows;
    ct_part_rows(c, r->part, srows, &off, &rows);

    const char *file = NULL;
    const ct_tensor_view *t = ckpt_find(k, name, &file);
    if (!t) return ct_fail(err, "%s: missing tensor \"%s\" (needed by %s)", ckpt_where(k), name, c->model_type);
    if (t->dtype != CT_F32 && t->dtype != CT_F16 && t->dtype != CT_BF16)
        return ct_fail(err, "%s: tensor \"%s\" has unsupported dtype %s (supported: F32, F16, BF16)",
                       file, name, ct_dtype_name(t->dtype));
    /* expected stored shape */
    int64_t want[2] = {rows, cols};
    int wnd = cols ? 2 : 1;
    if (r->xform == X_TRANSPOSE && cols) { want[0] = cols; want[1] = rows; }
    if (t->ndim != wnd || t->shape[0] != want[0] || (wnd == 2 && t->shape[1] != want[1])) {
        char got[128] = "", *p = got;
        for (int d = 0; d < t->ndim && p < got + 100; d++)
            p += snprintf(p, (size_t)(got + sizeof got - p), "%s%lld", d ? ", " : "", (long long)t->shape[d]);
        if (wnd == 2)
            return ct_fail(err, "%s: tensor \"%s\" has shape [%s], expected [%lld, %lld] from config.json",
                           file, name, got, (long long)want[0], (long long)want[1]);
        return ct_fail(err, "%s: tensor \"%s\" has shape [%s], expected [%lld] from config.json",
                       file, name, got, (long long)want[0]);
    }
    if (!dst) return 0;
    int64_t w = cols ? cols : 1;   /* elements per row */
    float *out = dst + off * w;
    switch (r->xform) {
    case X_NONE:
        read_f32(t, 0, rows * w, out);
        break;
    case X_TRANSPOSE: {
        if (!cols) { read_f32(t, 0, rows, out); break; }
        float *row = malloc((size_t)rows * sizeof(float));   /* one stored row: [rows] outputs */
        if (!row) return ct_fail(err, "%s: out of memory", file);
        for (int64_t i = 0; i < cols; i++) {
            read_f32(t, i * rows, rows, row);
            for (int64_t o = 0; o < rows; o++) out[o * cols + i] = row[o];
        }
        free(row);
        break;
    }
    case X_NEOX_QKV: {
        int64_t hd = c->head_dim, H = c->n_heads;
        for (int64_t h = 0; h < H; h++)
            for (int64_t s = 0; s < 3; s++)
                read_f32(t, ((h * 3 + s) * hd) * w, hd * w, out + (s * H * hd + h * hd) * w);
        break;
    }
    }
    return 0;
}

void ct_model_compute_inv_freq(const struct ct_config *c, float *inv_freq)
{
    int half = c->rotary_dim / 2;
    /* the float32 arithmetic of transformers' rope init functions, op for op */
    for (int i = 0; i < half; i++) {
        float e = (float)(2 * i) / (float)c->rotary_dim;
        float p = (float)pow(c->rope_theta, (double)e);
        inv_freq[i] = 1.0f / p;
    }
    if (c->rope == CT_ROPE_LINEAR)
        for (int i = 0; i < half; i++) inv_freq[i] = inv_freq[i] / (float)c->rope_factor;
    if (c->rope == CT_ROPE_LLAMA3) {
        float factor = (float)c->rope_factor, lo = (float)c->rope_low_freq_factor, hi = (float)c->rope_high_freq_factor;
        float old = (float)c->rope_original_max;
        float lo_wl = (float)(c->rope_original_max / c->rope_low_freq_factor);
        float hi_wl = (float)(c->rope_original_max / c->rope_high_freq_factor);
        for (int i = 0; i < half; i++) {
            float f = inv_freq[i];
            float wl = (float)(2 * M_PI) / f;
            float g = wl > lo_wl ? f / factor : f;
            float smooth = (old / wl - lo) / (hi - lo);
            float sm = (1 - smooth) * g / factor + smooth * g;
            int medium = !(wl < hi_wl) && !(wl > lo_wl);
            inv_freq[i] = medium ? sm : g;
        }
    }
}

size_t ct_config_weight_bytes(const struct ct_config *c)
{
    size_t total = 0;
    for (int s = 0; s < G_COUNT; s++) {
        if (!ct_gslot_present(c, (ct_gslot)s) || (s == G_LM_HEAD && c->tie_embeddings)) continue;
        int64_t cols = ct_gslot_cols(c, (ct_gslot)s);
        total += (size_t)(ct_gslot_rows(c, (ct_gslot)s) * (cols ? cols : 1)) * sizeof(float);
    }
    for (int s = 0; s < S_LAYER_COUNT; s++) {
        if (!ct_slot_present(c, (ct_slot)s)) continue;
        int64_t cols = ct_slot_cols(c, (ct_slot)s);
        total += (size_t)(ct_slot_rows(c, (ct_slot)s) * (cols ? cols : 1)) * sizeof(float) * (size_t)c->n_layers;
    }
    return total;
}

/* MemAvailable + SwapFree from /proc/meminfo in bytes, or 0 when unknown. */
static size_t memory_available(void)
{
    FILE *f = fopen("/proc/meminfo", "r");
    if (!f) return 0;
    char line[256];
    unsigned long long kb, total = 0;
    int found = 0;
    while (fgets(line, sizeof line, f)) {
        if (sscanf(line, "MemAvailable: %llu kB", &kb) == 1) { total += kb; found = 1; }
        else if (sscanf(line, "SwapFree: %llu kB", &kb) == 1) total += kb;
    }
    fclose(f);
    return found ? (size_t)(total * 1024ull) : 0;
}

int ct_model_alloc(ct_model *m, const char *what, ct_err *err)
{
    const struct ct_config *c = &m->cfg;
    size_t total = ct_config_weight_bytes(c), avail = memory_available();
    m->weight_bytes = total;
    /* refuse up front rather than be killed by the OOM killer halfway through */
    if (avail && total > avail)
        return ct_fail(err, "%s: too little memory: the float32 weights need %.1f MiB, only %.1f MiB available",
                       what, (double)total / 1048576.0, (double)avail / 1048576.0);
    m->w = calloc((size_t)c->n_layers, sizeof *m->w);
    m->inv_freq = calloc((size_t)(c->rotary_dim / 2 + 1), sizeof(float));
    if (!m->w || !m->inv_freq) goto oom;
    for (int s = 0; s < G_COUNT; s++) {
        if (!ct_gslot_present(c, (ct_gslot)s) || (s == G_LM_HEAD && c->tie_embeddings)) continue;
        int64_t cols = ct_gslot_cols(c, (ct_gslot)s);
        m->g[s] = malloc((size_t)(ct_gslot_rows(c, (ct_gslot)s) * (cols ? cols : 1)) * sizeof(float));
        if (!m->g[s]) goto oom;
    }
    if (c->tie_embeddings) m->g[G_LM_HEAD] = m->g[G_EMB];
    for (int l = 0; l < c->n_layers; l++)
        for (int s = 0; s < S_LAYER_COUNT; s++) {
            if (!ct_slot_present(c, (ct_slot)s)) continue;
            int64_t cols = ct_slot_cols(c, (ct_slot)s);
            m->w[l][s] = malloc((size_t)(ct_slot_rows(c, (ct_slot)s) * (cols ? cols : 1)) * sizeof(float));
            if (!m->w[l][s]) goto oom;
        }
    if (c->rope != CT_ROPE_NONE) ct_model_compute_inv_freq(c, m->inv_freq);
    return 0;
oom:
    return ct_fail(err, "%s: out of memory allocating %.1f MiB of float32 weights", what, (double)total / 1048576.0);
}

void ct_model_free(ct_model *m)
{
    if (!m) return;
    if (m->w)
        for (int l = 0; l < m->cfg.n_layers; l++)
            for (int s = 0; s < S_LAYER_COUNT; s++) free(m->w[l][s]);
    free(m->w);
    for (int s = 0; s < G_COUNT; s++)
        if (!(s == G_LM_HEAD && m->g[s] == m->g[G_EMB])) free(m->g[s]);
    free(m->inv_freq);
    free(m->dir);
    free(m);
}

/* Reads DIR: with alloc, a full model; without, config + checked tensor headers only. */
static int load_dir(ct_model *m, const char *dir, int alloc, ct_err *err)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/config.json", dir);
    char *text = read_text(path, err);
    if (!text) return -1;
    int rc = ct_config_parse(&m->cfg, text, path, err);
    free(text);
    if (rc) return -1;
    m->dir = strdup(dir);
    ct_ckpt k;
    if (ckpt_open(&k, dir, err)) return -1;
    if (alloc) rc = ct_model_alloc(m, dir, err);
    else m->weight_bytes = ct_config_weight_bytes(&m->cfg);
    int n;
    const ct_tensor_rule *rules = ct_family_rules(m->cfg.family, &n);
    for (int i = 0; i < n && rc == 0; i++) {
        const ct_tensor_rule *r = &rules[i];
        if (r->layer) {
            if (!ct_slot_present(&m->cfg, (ct_slot)r->slot)) continue;
            for (int l = 0; l < m->cfg.n_layers && rc == 0; l++) rc = load_rule(m, &k, r, l, err);
        } else {
            if (!ct_gslot_present(&m->cfg, (ct_gslot)r->slot)) continue;
            if (r->slot == G_LM_HEAD && m->cfg.tie_embeddings) continue;
            rc = load_rule(m, &k, r, 0, err);
        }
    }
    ckpt_close(&k);
    return rc;
}

int ct_model_load(ct_model **out, const char *dir, ct_err *err)
{
    *out = NULL;
    ct_model *m = calloc(1, sizeof *m);
    if (!m) return ct_fail(err, "%s: out of memory", dir);
    if (load_dir(m, dir, 1, err)) { ct_model_free(m); return -1; }
    *out = m;
    return 0;
}

int ct_model_check(const char *dir, struct ct_config *cfg, size_t *weight_bytes, ct_err *err)
{
    ct_model m;
    memset(&m, 0, sizeof m);
    int rc = load_dir(&m, dir, 0, err);
    if (rc == 0) {
        if (cfg) *cfg = m.cfg;
        if (weight_bytes) *weight_bytes = m.weight_bytes;
    }
    free(m.dir);
    return rc;
}
