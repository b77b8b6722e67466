/* test_model_load.c — sharded checkpoints load like single files, and broken
 * model directories are refused with one-line messages naming the file and
 * the problem.  Each case copies the gpt2 fixture into a temporary directory
 * and changes one thing. */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "ctrace_app.h"
#include "harness.h"

static char tmpdir[256];

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "wb");
    if (f) { fputs(text, f); fclose(f); }
}

/* A fresh case directory: config.json text and a safetensors file made from the
 * gpt2 fixture's tensors with `edit` applied to the tensor called `victim`. */
enum edit { KEEP, DROP, RESHAPE, TO_I32, ALL_F16, ALL_F16_ROUNDED };

static const char *make_case(const char *tag, const char *config, const char *victim, enum edit e)
{
    static char dir[512];
    snprintf(dir, sizeof dir, "%s/%s", tmpdir, tag);
    mkdir(dir, 0700);
    char p[600];
    snprintf(p, sizeof p, "%s/config.json", dir);
    if (config) write_text(p, config);
    ct_st_file src;
    ct_err err;
    if (ct_st_open(&src, ct_fixture("hf-tiny/gpt2/model.safetensors"), &err)) return dir;
    ct_st_out *out = calloc((size_t)src.n, sizeof *out);
    void **owned = calloc((size_t)src.n, sizeof *owned);
    int n = 0;
    for (int i = 0; i < src.n; i++) {
        const ct_tensor_view *t = &src.t[i];
        int hit = victim && !strcmp(t->name, victim);
        if (hit && e == DROP) continue;
        ct_st_out *o = &out[n++];
        o->name = t->name;
        o->dtype = t->dtype;
        o->ndim = t->ndim;
        memcpy(o->shape, t->shape, sizeof o->shape);
        o->data = t->data;
        if (hit && e == RESHAPE) { o->ndim = 2; o->shape[0] = t->shape[0] / 2; o->shape[1] = t->numel / o->shape[0]; }
        if (e == ALL_F16 || e == ALL_F16_ROUNDED) {
            /* every tensor as F16, or as F32 holding the same F16-rounded values */
            float *v = ct_tensor_to_f32(t);
            if (e == ALL_F16) {
                uint16_t *h = malloc((size_t)t->numel * 2);
                for (int64_t k = 0; k < t->numel; k++) h[k] = ct_f32_to_f16(v[k]);
                free(v);
                o->dtype = CT_F16;
                o->data = owned[i] = h;
            } else {
                for (int64_t k = 0; k < t->numel; k++) v[k] = ct_f16_to_f32(ct_f32_to_f16(v[k]));
                o->data = owned[i] = v;
            }
        }
        if (hit && e == TO_I32) {
            int32_t *d = calloc((size_t)t->numel, sizeof *d);
            o->dtype = CT_I32;
            o->data = owned[i] = d;
        }
    }
    snprintf(p, sizeof p, "%s/model.safetensors", dir);
    ct_st_write(p, out, n, NULL, &err);
    for (int i = 0; i < src.n; i++) free(owned[i]);
    free(owned);
    free(out);
    ct_st_close(&src);
    return dir;
}

/* Loading dir must fail with a message containing both needles. */
static void expect_fail(const char *dir, const char *needle1, const char *needle2)
{
    ct_model *m = NULL;
    ct_err err = {{0}};
    int rc = ct_model_load(&m, dir, &err);
    CHECK(rc == -1 && m == NULL, "%s: loaded but should fail", dir);
    CHECK(strstr(err.msg, needle1) != NULL, "message '%s' lacks '%s'", err.msg, needle1);
    CHECK(!needle2 || strstr(err.msg, needle2) != NULL, "message '%s' lacks '%s'", err.msg, needle2);
    CHECK(strchr(err.msg, '\n') == NULL, "message is not one line: '%s'", err.msg);
    printf("  ok: %s\n", err.msg);
    ct_model_free(m);
    /* the header-only check refuses the same directories with the same message */
    ct_err err2 = {{0}};
    CHECK(ct_model_check(dir, NULL, NULL, &err2) == -1 && !strcmp(err.msg, err2.msg),
          "ct_model_check: '%s' vs load: '%s'", err2.msg, err.msg);
}

static char *config_with(const char *cfg, const char *from, const char *to)
{
    const char *at = strstr(cfg, from);
    if (!at) return strdup(cfg);
    char *o = malloc(strlen(cfg) + strlen(to) + 1);
    memcpy(o, cfg, (size_t)(at - cfg));
    strcpy(o + (at - cfg), to);
    strcat(o, at + strlen(from));
    return o;
}

int main(void)
{
    TEST_BEGIN();
    snprintf(tmpdir, sizeof tmpdir, "/tmp/ctrace-model-errors-%ld", (long)getpid());
    mkdir(tmpdir, 0700);
    char *cfg = ct_slurp(ct_fixture("hf-tiny/gpt2/config.json"), NULL);
    CHECK(cfg != NULL, "no gpt2 fixture config");
    if (!cfg) return TEST_END();

    /* the untouched copy loads: the cases below fail for their one reason */
    ct_model *m = NULL;
    ct_err err;
    CHECK_OK(ct_model_load(&m, make_case("good", cfg, NULL, KEEP), &err), &err);
    ct_model_free(m);

    expect_fail(make_case("noconfig", NULL, NULL, KEEP), "config.json", "cannot open");
    expect_fail(make_case("badjson", "{\"model_type\": \"gpt2\", ", NULL, KEEP), "config.json", "malformed JSON");
    expect_fail(make_case("notype", "{\"n_embd\": 64}", NULL, KEEP), "config.json", "model_type");
    expect_fail(make_case("unknown", "{\"model_type\": \"mamba\"}", NULL, KEEP), "config.json", "unknown model_type \"mamba\"");
    char *c2 = config_with(cfg, "\"n_layer\": 4", "\"n_layer\": \"four\"");
    expect_fail(make_case("badtype", c2, NULL, KEEP), "config.json", "n_layer");
    free(c2);
    c2 = config_with(cfg, "\"scale_attn_by_inverse_layer_idx\": false", "\"scale_attn_by_inverse_layer_idx\": true");
    expect_fail(make_case("unsupported", c2, NULL, KEEP), "config.json", "scale_attn_by_inverse_layer_idx");
    free(c2);
    c2 = config_with(cfg, "\"n_layer\": 4", "\"n_layer\": 5");
    expect_fail(make_case("morelayers", c2, NULL, KEEP), "model.safetensors", "missing tensor \"transformer.h.4.");
    free(c2);
    expect_fail(make_case("missing", cfg, "transformer.h.2.mlp.c_fc.weight", DROP),
                "model.safetensors", "missing tensor \"transformer.h.2.mlp.c_fc.weight\"");
    expect_fail(make_case("shape", cfg, "transformer.h.1.attn.c_attn.weight", RESHAPE),
                "model.safetensors", "has shape [32, 384], expected [64, 192]");
    expect_fail(make_case("dtype", cfg, "transformer.h.0.ln_1.weight", TO_I32),
                "model.safetensors", "unsupported dtype I32");

    /* truncated checkpoint: cut the good file short */
    const char *tdir = make_case("truncated", cfg, NULL, KEEP);
    char p[600];
    snprintf(p, sizeof p, "%s/model.safetensors", tdir);
    size_t len;
    char *bytes = ct_slurp(p, &len);
    CHECK(bytes != NULL && len > 1000, "%s: cannot read it back", p);
    FILE *f = fopen(p, "wb");
    if (bytes && len > 1000) fwrite(bytes, 1, len - 1000, f);
    fclose(f);
    free(bytes);
    expect_fail(tdir, "model.safetensors", NULL);

    /* no weights at all */
    const char *ndir = make_case("noweights", cfg, NULL, KEEP);
    snprintf(p, sizeof p, "%s/model.safetensors", ndir);
    unlink(p);
    expect_fail(ndir, "noweights", "no model.safetensors");

    /* sharded index naming a missing shard / malformed index */
    const char *sdir = make_case("shardbad", cfg, NULL, KEEP);
    snprintf(p, sizeof p, "%s/model.safetensors.index.json", sdir);
    write_text(p, "{\"weight_map\": {\"transformer.wte.weight\": \"model-00001-of-00002.safetensors\"}}");
    expect_fail(sdir, "model-00001-of-00002.safetensors", "cannot open");
    write_text(p, "{\"weights\": 1}");
    expect_fail(sdir, "model.safetensors.index.json", "weight_map");

    /* a model far larger than memory is refused before any allocation */
    {
        struct ct_config big;
        CHECK_OK(ct_config_parse(&big, "{\"model_type\": \"llama\", \"hidden_size\": 65536, \"num_hidden_layers\": 4000,"
                                 " \"num_attention_heads\": 512, \"intermediate_size\": 262144}", "big.json", &err), &err);
        ct_model *bm = NULL;
        CHECK(ct_model_random(&bm, &big, 1, &err) == -1 && bm == NULL, "a %zu-byte model was created", ct_config_weight_bytes(&big));
        CHECK(strstr(err.msg, "too little memory") != NULL, "message: %s", err.msg);
        printf("  ok: %s\n", err.msg);
        struct ct_config got;
        size_t bytes = 0;
        CHECK_OK(ct_model_check(ct_fixture("hf-tiny/gpt2"), &got, &bytes, &err), &err);
        CHECK(bytes > 0 && got.family == CT_FAM_GPT2 && got.n_layers == 4, "ct_model_check on gpt2: %zu bytes", bytes);
    }

    /* F16 weights are converted exactly: same logits as F32 weights holding the F16 values */
    {
        ct_model *a = NULL, *b = NULL;
        CHECK_OK(ct_model_load(&a, make_case("f16", cfg, NULL, ALL_F16), &err), &err);
        CHECK_OK(ct_model_load(&b, make_case("f16r", cfg, NULL, ALL_F16_ROUNDED), &err), &err);
        if (a && b) {
            int32_t ids[5] = {1, 17, 250, 3, 499};
            float la[5 * 512], lb[5 * 512];
            CHECK_OK(ct_forward(a, ids, 5, la, NULL, &err), &err);
            CHECK_OK(ct_forward(b, ids, 5, lb, NULL, &err), &err);
            CHECK(memcmp(la, lb, sizeof la) == 0, "F16 checkpoint differs from its F32 equivalent");
        }
        ct_model_free(a);
        ct_model_free(b);
    }

    /* a good sharded checkpoint: two shards + index give the same logits */
    {
        const char *gdir = make_case("sharded", cfg, NULL, KEEP);
        ct_st_file src;
        CHECK_OK(ct_st_open(&src, ct_fixture("hf-tiny/gpt2/model.safetensors"), &err), &err);
        ct_st_out o[64];
        int n = src.n < 64 ? src.n : 64, half = n / 2;
        char idx[16384] = "{\"metadata\": {}, \"weight_map\": {";
        for (int i = 0; i < n; i++) {
            const ct_tensor_view *t = &src.t[i];
            o[i] = (ct_st_out){t->name, t->dtype, t->ndim, {0}, t->data};
            memcpy(o[i].shape, t->shape, sizeof o[i].shape);
            size_t k = strlen(idx);
            snprintf(idx + k, sizeof idx - k, "%s\"%s\": \"model-%05d-of-00002.safetensors\"", i ? ", " : "", t->name,
                     i < half ? 1 : 2);
        }
        strncat(idx, "}}", sizeof idx - strlen(idx) - 1);
        snprintf(p, sizeof p, "%s/model-00001-of-00002.safetensors", gdir);
        CHECK_OK(ct_st_write(p, o, half, NULL, &err), &err);
        snprintf(p, sizeof p, "%s/model-00002-of-00002.safetensors", gdir);
        CHECK_OK(ct_st_write(p, o + half, n - half, NULL, &err), &err);
        snprintf(p, sizeof p, "%s/model.safetensors", gdir);
        unlink(p);
        snprintf(p, sizeof p, "%s/model.safetensors.index.json", gdir);
        write_text(p, idx);
        ct_st_close(&src);
        ct_model *a = NULL, *b = NULL;
        CHECK_OK(ct_model_load(&a, gdir, &err), &err);
        CHECK_OK(ct_model_load(&b, ct_fixture("hf-tiny/gpt2"), &err), &err);
        if (a && b) {
            int32_t ids[5] = {1, 17, 250, 3, 499};
            float la[5 * 512], lb[5 * 512];
            CHECK_OK(ct_forward(a, ids, 5, la, NULL, &err), &err);
            CHECK_OK(ct_forward(b, ids, 5, lb, NULL, &err), &err);
            CHECK(memcmp(la, lb, sizeof la) == 0, "sharded and single-file checkpoints give different logits");
        }
        ct_model_free(a);
        ct_model_free(b);
    }

    free(cfg);
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd)) printf("(could not remove %s)\n", tmpdir);
    return TEST_END();
}
