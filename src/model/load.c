/* load.c — a Hugging Face model directory → ct_model with weights as stored.
 *
 * config.json gives the family; the family's tensor table (tensor_names.c)
 * says which checkpoint tensor fills which slot and how it is packed.  The
 * checkpoint is model.safetensors or model.safetensors.index.json + shards,
 * memory-mapped.  A matrix slot filled by one tensor already in [out, in]
 * layout is a view into the mapping; other matrix slots are packed once into
 * a buffer of the stored dtype, after which the source pages are dropped from
 * the process (madvise), so that resident memory stays near the file size.
 * Vectors are converted to float32 (model.h). */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cjson/cJSON.h>
#include "model.h"
#include "ops/ops.h"

/* The opened checkpoint: one or more safetensors files. */
struct ct_ckpt {
    ct_st_file *files;          /* [n] */
    int n;
    char *index_path;           /* the sharded index, or NULL */
};
typedef struct ct_ckpt ct_ckpt;

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

/* What pass 1 found for one slot. */
typedef struct slot_plan {
    ct_dtype dt;                /* stored dtype of its tensors (F32 when they differ) */
    int nparts;
    const ct_tensor_view *whole;    /* the one tensor when it fills the slot as stored */
} slot_plan;

/* Copies n elements of src from element s0 to dst (dtype ddt) at element d0,
 * converting when the dtypes differ (only ever to F32: exact). */
static void put(void *dst, ct_dtype ddt, int64_t d0, const ct_tensor_view *src, int64_t s0, int64_t n)
{
    size_t ds = ct_dtype_size(ddt), ss = ct_dtype_size(src->dtype);
    if (ddt == src->dtype) { memcpy((char *)dst + d0 * ds, (const char *)src->data + s0 * ss, (size_t)n * ds); return; }
    ct_tensor v = {.dtype = src->dtype, .data = (void *)src->data, .ndim = 1, .shape = {s0 + n}, .stride = {1}};
    ct_tensor_read_f32(&v, s0, n, (float *)dst + d0);
}

/* The mapped pages of a tensor that has been packed elsewhere: give them back
 * (they are re-read from the file should anything touch them again). */
static void drop_pages(const ct_tensor_view *t)
{
    long pg = sysconf(_SC_PAGESIZE);
    uintptr_t b = (uintptr_t)t->data, e = b + t->nbytes;
    uintptr_t lo = (b + (uintptr_t)pg - 1) / (uintptr_t)pg * (uintptr_t)pg, hi = e / (uintptr_t)pg * (uintptr_t)pg;
    if (hi > lo) madvise((void *)lo, hi - lo, MADV_DONTNEED);
}

static ct_tensor *slot_of(ct_model *m, const ct_tensor_rule *r, int layer)
{
    return r->layer ? &m->w[layer][r->slot] : &m->g[r->slot];
}

/* Pass 1 (fill = 0): finds and checks the tensor of rule r, records it in
 * plan.  Pass 2 (fill = 1): writes its part into the slot's buffer. */
static int load_rule(ct_model *m, const ct_ckpt *k, const ct_tensor_rule *r, int layer, slot_plan *plan,
                     int fill, ct_err *err)
{
    const struct ct_config *c = &m->cfg;
    char name[256];
    if (r->layer) snprintf(name, sizeof name, r->name, layer);
    else snprintf(name, sizeof name, "%s", r->name);
    int64_t srows = r->layer ? ct_slot_rows(c, (ct_slot)r->slot) : ct_gslot_rows(c, (ct_gslot)r->slot);
    int64_t cols = r->layer ? ct_slot_cols(c, (ct_slot)r->slot) : ct_gslot_cols(c, (ct_gslot)r->slot);
    int64_t off, rows;
    ct_part_rows(c, r->part, srows, &off, &rows);

    const char *file = NULL;
    const ct_tensor_view *t = ckpt_find(k, name, &file);
    if (!t) return ct_fail(err, "%s: missing tensor \"%s\" (needed by %s)", ckpt_where(k), name, c->model_type);
    if (!fill) {
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
        if (plan->nparts++ == 0) plan->dt = t->dtype;
        else if (plan->dt != t->dtype) plan->dt = CT_F32;
        int aligned = ((uintptr_t)t->data % ct_dtype_size(t->dtype)) == 0;
        plan->whole = plan->nparts == 1 && r->part == P_WHOLE && r->xform == X_NONE && cols && aligned ? t : NULL;
        m->stored_bytes += t->nbytes;
        return 0;
    }
    ct_tensor *slot = slot_of(m, r, layer);
    if (slot->data == t->data) return 0;    /* a view: nothing to copy */
    int64_t w = cols ? cols : 1;   /* elements per row */
    void *out = slot->data;
    ct_dtype dt = slot->dtype;
    switch (r->xform) {
    case X_NONE:
        put(out, dt, off * w, t, 0, rows * w);
        break;
    case X_TRANSPOSE:
        if (!cols) { put(out, dt, off, t, 0, rows); break; }
        /* stored [cols, rows]: element (i, o) goes to (o, i) */
        for (int64_t i = 0; i < cols; i++)
            for (int64_t o = 0; o < rows; o++) put(out, dt, (off + o) * cols + i, t, i * rows + o, 1);
        break;
    case X_NEOX_QKV: {
        int64_t hd = c->head_dim, H = c->n_heads;
        for (int64_t h = 0; h < H; h++)
            for (int64_t s = 0; s < 3; s++)
                put(out, dt, (off + s * H * hd + h * hd) * w, t, ((h * 3 + s) * hd) * w, hd * w);
        break;
    }
    }
    drop_pages(t);
    return 0;
}

void ct_model_rope_init(ct_model *m)
{
    const struct ct_config *c = &m->cfg;
    if (c->rope == CT_ROPE_NONE) return;
    ct_model_compute_inv_freq(c, m->inv_freq);
    const int half = c->rotary_dim / 2;
    int np = c->max_positions > 0 && c->max_positions < 8192 ? c->max_positions : 8192;
    m->rope_cs = malloc((size_t)np * 2 * half * sizeof *m->rope_cs);
    if (!m->rope_cs) return;
    m->rope_npos = np;
    ct_rope_fill(m->inv_freq, half, 0, np, m->rope_cs);
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

void *ct_model_own(ct_model *m, size_t bytes)
{
    if (m->n_owned == m->cap_owned) {
        int cap = m->cap_owned ? 2 * m->cap_owned : 64;
        void **o = realloc(m->owned, (size_t)cap * sizeof *o);
        if (!o) return NULL;
        m->owned = o;
        m->cap_owned = cap;
    }
    void *p = aligned_alloc(64, (bytes + 63) / 64 * 64);
    if (p) { m->owned[m->n_owned++] = p; m->owned_bytes += bytes; }
    return p;
}

/* Bytes a slot of dt needs (vectors: float32). */
static size_t slot_bytes(int64_t rows, int64_t cols, ct_dtype dt)
{
    return (size_t)(rows * (cols ? cols : 1)) * (cols ? ct_dtype_size(dt) : sizeof(float));
}

/* Gives slot t an owned buffer (or, with view, the mapped tensor). */
static int slot_make(ct_model *m, ct_tensor *t, int64_t rows, int64_t cols, ct_dtype dt, const ct_tensor_view *view)
{
    if (view) {
        *t = ct_tensor_2d(view->dtype, (void *)view->data, rows, cols);
        m->mapped_bytes += view->nbytes;
        return 0;
    }
    void *p = ct_model_own(m, slot_bytes(rows, cols, dt));
    if (!p) return -1;
    *t = ct_tensor_2d(cols ? dt : CT_F32, p, rows, cols);
    return 0;
}

int ct_model_alloc(ct_model *m, ct_dtype dt, const char *what, ct_err *err)
{
    const struct ct_config *c = &m->cfg;
    size_t total = 0, avail = memory_available();
    for (int s = 0; s < G_COUNT; s++)
        if (ct_gslot_present(c, (ct_gslot)s) && !(s == G_LM_HEAD && c->tie_embeddings))
            total += slot_bytes(ct_gslot_rows(c, (ct_gslot)s), ct_gslot_cols(c, (ct_gslot)s), dt);
    for (int s = 0; s < S_LAYER_COUNT; s++)
        if (ct_slot_present(c, (ct_slot)s))
            total += slot_bytes(ct_slot_rows(c, (ct_slot)s), ct_slot_cols(c, (ct_slot)s), dt) * (size_t)c->n_layers;
    /* refuse up front rather than be killed by the OOM killer halfway through */
    if (avail && total > avail)
        return ct_fail(err, "%s: too little memory: the %s weights need %.1f MiB, only %.1f MiB available",
                       what, ct_dtype_name(dt), (double)total / 1048576.0, (double)avail / 1048576.0);
    m->w = calloc((size_t)c->n_layers, sizeof *m->w);
    m->inv_freq = calloc((size_t)(c->rotary_dim / 2 + 1), sizeof(float));
    if (!m->w || !m->inv_freq) goto oom;
    for (int s = 0; s < G_COUNT; s++) {
        if (!ct_gslot_present(c, (ct_gslot)s) || (s == G_LM_HEAD && c->tie_embeddings)) continue;
        if (slot_make(m, &m->g[s], ct_gslot_rows(c, (ct_gslot)s), ct_gslot_cols(c, (ct_gslot)s), dt, NULL)) goto oom;
    }
    if (c->tie_embeddings) m->g[G_LM_HEAD] = m->g[G_EMB];
    for (int l = 0; l < c->n_layers; l++)
        for (int s = 0; s < S_LAYER_COUNT; s++) {
            if (!ct_slot_present(c, (ct_slot)s)) continue;
            if (slot_make(m, &m->w[l][s], ct_slot_rows(c, (ct_slot)s), ct_slot_cols(c, (ct_slot)s), dt, NULL)) goto oom;
        }
    ct_model_rope_init(m);
    m->weight_bytes = m->owned_bytes;
    m->be = ct_backend_cpu();
    return 0;
oom:
    return ct_fail_code(err, CT_ERR_NOMEM, "%s: out of memory allocating %.1f MiB of weights", what, (double)total / 1048576.0);
}

void ct_model_free(ct_model *m)
{
    if (!m) return;
    ct_model_drop_device(m);
    for (int i = 0; i < m->n_owned; i++) free(m->owned[i]);
    free(m->owned);
    free(m->w);
    free(m->inv_freq);
    free(m->rope_cs);
    if (m->ckpt) { ckpt_close(m->ckpt); free(m->ckpt); }
    free(m->dir);
    free(m);
}

/* Reads DIR: with alloc, a full model; without, config + checked tensor headers only. */
static int load_dir(ct_model *m, const char *dir, int alloc, ct_weights mode, ct_err *err)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/config.json", dir);
    char *text = read_text(path, err);
    if (!text) return -1;
    int rc = ct_config_parse(&m->cfg, text, path, err);
    free(text);
    if (rc) return -1;
    const struct ct_config *c = &m->cfg;
    m->dir = strdup(dir);
    ct_ckpt *k = calloc(1, sizeof *k);
    if (!m->dir || !k) { free(k); return ct_fail_code(err, CT_ERR_NOMEM, "%s: out of memory", dir); }
    if (ckpt_open(k, dir, err)) { free(k); return -1; }
    m->ckpt = k;
    /* plans: [G_COUNT] model-level, then [L][S_LAYER_COUNT] */
    slot_plan *gp = calloc(G_COUNT + (size_t)c->n_layers * S_LAYER_COUNT, sizeof *gp), *lp = gp + G_COUNT;
    if (!gp) return ct_fail_code(err, CT_ERR_NOMEM, "%s: out of memory", dir);
    int n;
    const ct_tensor_rule *rules = ct_family_rules(c->family, &n);
    size_t need = 0, views = 0;   /* bytes of own buffers and of in-place views the model will hold */
    for (int pass = 0; pass < (alloc ? 2 : 1) && rc == 0; pass++) {
        if (pass == 1) {
            /* every slot gets its view or its buffer, in the stored dtype */
            size_t avail = memory_available();
            if (avail && need > avail) {
                rc = ct_fail_code(err, CT_ERR_NOMEM, "%s: too little memory: the weights need %.1f MiB in memory, only %.1f MiB available",
                                  dir, (double)need / 1048576.0, (double)avail / 1048576.0);
                break;
            }
            m->w = calloc((size_t)c->n_layers, sizeof *m->w);
            m->inv_freq = calloc((size_t)(c->rotary_dim / 2 + 1), sizeof(float));
            if (!m->w || !m->inv_freq) { rc = ct_fail_code(err, CT_ERR_NOMEM, "%s: out of memory", dir); break; }
            for (int i = 0; i < G_COUNT + c->n_layers * S_LAYER_COUNT && rc == 0; i++) {
                int g = i < G_COUNT, s = g ? i : (i - G_COUNT) % S_LAYER_COUNT, l = g ? 0 : (i - G_COUNT) / S_LAYER_COUNT;
                if (!gp[i].nparts) continue;
                int64_t rows = g ? ct_gslot_rows(c, (ct_gslot)s) : ct_slot_rows(c, (ct_slot)s);
                int64_t cols = g ? ct_gslot_cols(c, (ct_gslot)s) : ct_slot_cols(c, (ct_slot)s);
                if (slot_make(m, g ? &m->g[s] : &m->w[l][s], rows, cols, gp[i].dt,
                              mode == CT_WEIGHTS_STORED ? gp[i].whole : NULL))
                    rc = ct_fail_code(err, CT_ERR_NOMEM, "%s: out of memory packing the weights (%.1f MiB)",
                                      dir, (double)need / 1048576.0);
            }
            if (rc) break;
            if (c->tie_embeddings) m->g[G_LM_HEAD] = m->g[G_EMB];
        }
        for (int i = 0; i < n && rc == 0; i++) {
            const ct_tensor_rule *r = &rules[i];
            if (r->layer) {
                if (!ct_slot_present(c, (ct_slot)r->slot)) continue;
                for (int l = 0; l < c->n_layers && rc == 0; l++)
                    rc = load_rule(m, k, r, l, &lp[(size_t)l * S_LAYER_COUNT + r->slot], pass, err);
            } else {
                if (!ct_gslot_present(c, (ct_gslot)r->slot)) continue;
                if (r->slot == G_LM_HEAD && c->tie_embeddings) continue;
                rc = load_rule(m, k, r, 0, &gp[r->slot], pass, err);
            }
        }
        if (pass == 0 && rc == 0)
            for (int i = 0; i < G_COUNT + c->n_layers * S_LAYER_COUNT; i++) {
                if (!gp[i].nparts) continue;
                int g = i < G_COUNT, s = g ? i : (i - G_COUNT) % S_LAYER_COUNT;
                int64_t rows = g ? ct_gslot_rows(c, (ct_gslot)s) : ct_slot_rows(c, (ct_slot)s);
                int64_t cols = g ? ct_gslot_cols(c, (ct_gslot)s) : ct_slot_cols(c, (ct_slot)s);
                if (mode == CT_WEIGHTS_F32) gp[i].dt = CT_F32;
                if (mode == CT_WEIGHTS_F32 || !gp[i].whole) need += slot_bytes(rows, cols, gp[i].dt);
                else views += gp[i].whole->nbytes;
            }
    }
    free(gp);
    if (rc == 0 && alloc) {
        ct_model_rope_init(m);
        m->weight_bytes = m->owned_bytes + m->mapped_bytes;
        m->be = ct_backend_cpu();
    }
    if (rc == 0 && !alloc) {
        /* what loading would hold */
        m->weight_bytes = ct_config_weight_bytes(c);
        m->owned_bytes = need;
        m->mapped_bytes = views;
    }
    if (rc || !alloc || !m->mapped_bytes) {
        /* nothing points into the file (or only the headers were checked): unmap it now */
        ckpt_close(k);
        free(k);
        m->ckpt = NULL;
    }
    return rc;
}

int ct_model_load_as(ct_model **out, const char *dir, ct_weights mode, ct_err *err)
{
    *out = NULL;
    ct_model *m = calloc(1, sizeof *m);
    if (!m) return ct_fail_code(err, CT_ERR_NOMEM, "%s: out of memory", dir);
    if (load_dir(m, dir, 1, mode, err)) { ct_model_free(m); return -1; }
    *out = m;
    return 0;
}

int ct_model_load(ct_model **out, const char *dir, ct_err *err)
{
    return ct_model_load_as(out, dir, CT_WEIGHTS_STORED, err);
}

int ct_model_check_memory(const char *dir, struct ct_config *cfg, size_t *weight_bytes, size_t *stored,
                          size_t *owned, size_t *mapped, ct_err *err)
{
    ct_model m;
    memset(&m, 0, sizeof m);
    int rc = load_dir(&m, dir, 0, CT_WEIGHTS_STORED, err);
    if (rc == 0) {
        if (cfg) *cfg = m.cfg;
        if (weight_bytes) *weight_bytes = m.weight_bytes;
        if (stored) *stored = m.stored_bytes;
        if (owned) *owned = m.owned_bytes;
        if (mapped) *mapped = m.mapped_bytes;
    }
    free(m.dir);
    return rc;
}

int ct_model_check(const char *dir, struct ct_config *cfg, size_t *weight_bytes, ct_err *err)
{
    return ct_model_check_memory(dir, cfg, weight_bytes, NULL, NULL, NULL, err);
}
