/* cmd_logits.c — `ctrace logits`: one forward pass of given token ids, written
 * as safetensors (logits [T, V], resid [L+1, T, D]) for checking a model
 * against transformers, and `ctrace info`: the architecture summary. */
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"
#include "args.h"

int cmd_logits(int argc, char **argv)
{
    static const char *const FLAGS[] = {"model_name", "token_ids", "out", "threads", "backend", "dtype", "device", NULL};
    ct_args a;
    if (ct_args_parse(&a, argc, argv, FLAGS)) return 2;
    if (a.help) {
        printf("usage: ctrace logits --model_name DIR|ORG/NAME[@REV] --token_ids 1,17,250 --out FILE [--threads N]\n"
               "                     [--backend cpu|openblas|ref] [--dtype f32|bf16] [--device cpu|cuda[:N]]\n"
               "  writes FILE (safetensors): logits f32 [T, V], resid f32 [L+1, T, D]\n"
               "  (resid[0] = input to block 0, resid[i] = output of block i-1, no final norm)\n"
               CLI_COMPUTE_USAGE);
        return 0;
    }
    const char *model = ct_args_str(&a, "model_name", NULL), *out = ct_args_str(&a, "out", NULL);
    int threads;
    if (ct_args_int(&a, "threads", 2, 1, 1024, &threads)) return 2;
    if (!model || !ct_args_str(&a, "token_ids", NULL) || !out) {
        fprintf(stderr, "ctrace: logits needs --model_name DIR, --token_ids LIST and --out FILE\n");
        return 2;
    }
    if (cli_device("logits", ct_args_str(&a, "backend", NULL), ct_args_str(&a, "device", NULL))) return 2;
    int32_t *ids;
    int T;
    if (ct_args_ids(&a, "token_ids", &ids, &T)) return 2;
    char dir[4096];
    if (!(model = cli_resolve(model, dir, sizeof dir, NULL))) { free(ids); return 1; }
    ct_set_threads(threads);
    ct_err err = {{0}};
    ct_model *m = NULL;
    if (ct_model_load(&m, model, &err)) { fprintf(stderr, "ctrace: %s\n", err.msg); free(ids); return 1; }
    if (cli_compute("logits", m, ct_args_str(&a, "backend", NULL), ct_args_str(&a, "dtype", NULL), ct_args_str(&a, "device", NULL))) {
        free(ids);
        ct_model_free(m);
        return 2;
    }
    const int L = ct_model_n_layers(m), D = ct_model_d_model(m), V = ct_model_vocab(m);
    float *logits = malloc((size_t)T * V * sizeof(float));            /* [T, V] */
    float *resid = malloc((size_t)(L + 1) * T * D * sizeof(float));   /* [L+1, T, D] */
    int rc = 1;
    if (!logits || !resid) { fprintf(stderr, "ctrace: out of memory for %d tokens\n", T); goto done; }
    if (ct_forward(m, ids, T, logits, resid, &err)) { fprintf(stderr, "ctrace: %s: %s\n", model, err.msg); goto done; }
    ct_st_out t[2] = {
        {"logits", CT_F32, 2, {T, V}, logits},
        {"resid", CT_F32, 3, {L + 1, T, D}, resid},
    };
    char meta[256];
    snprintf(meta, sizeof meta, "{\"model_type\": \"%s\", \"format\": \"ctrace-logits\"}", ct_model_config(m)->model_type);
    if (ct_st_write(out, t, 2, meta, &err)) { fprintf(stderr, "ctrace: %s\n", err.msg); goto done; }
    rc = 0;
done:
    free(logits);
    free(resid);
    free(ids);
    ct_model_free(m);
    return rc;
}

/* NaN/Inf weights load silently and make every trace non-finite: look for
 * them on request, tensor by tensor, in every .safetensors file of DIR. */
static int check_weights(const char *dir)
{
    char pat[4200];
    snprintf(pat, sizeof pat, "%s/*.safetensors", dir);
    glob_t g;
    if (glob(pat, 0, NULL, &g)) { fprintf(stderr, "ctrace: %s: no *.safetensors files\n", dir); return 1; }
    long tensors = 0, bad_tensors = 0;
    int rc = 0;
    for (size_t i = 0; i < g.gl_pathc; i++) {
        ct_st_file f;
        ct_err err;
        if (ct_st_open(&f, g.gl_pathv[i], &err)) { fprintf(stderr, "ctrace: %s\n", err.msg); rc = 1; continue; }
        for (int k = 0; k < f.n; k++) {
            int64_t bad = ct_tensor_count_nonfinite(&f.t[k]);
            tensors++;
            if (!bad) continue;
            bad_tensors++;
            printf("non-finite:   %s: tensor \"%s\": %lld of %lld values are NaN or Inf\n", g.gl_pathv[i], f.t[k].name,
                   (long long)bad, (long long)f.t[k].numel);
        }
        ct_st_close(&f);
    }
    globfree(&g);
    printf("check:        %ld tensors checked, %s\n", tensors, bad_tensors ? "some hold NaN/Inf (above)" : "all finite");
    return rc || bad_tensors ? 1 : 0;
}

int cmd_info(int argc, char **argv)
{
    static const char *const FLAGS[] = {"model_name", "check_weights", NULL};
    ct_args a;
    if (ct_args_parse(&a, argc, argv, FLAGS)) return 2;
    if (a.help) {
        printf("usage: ctrace info --model_name DIR|ORG/NAME[@REV] [--check_weights 1]\n"
               "  prints the model's architecture summary and memory;\n"
               "  ORG/NAME: a model in the local Hugging Face cache (never downloaded);\n"
               "  --check_weights 1 also reads every float tensor of DIR/*.safetensors and reports NaN/Inf values\n"
               "  (exit status 1 when there are any)\n");
        return 0;
    }
    int check;
    if (ct_args_int(&a, "check_weights", 0, 0, 1, &check)) return 2;
    const char *model = ct_args_str(&a, "model_name", NULL);
    if (!model) { fprintf(stderr, "ctrace: info needs --model_name DIR\n"); return 2; }
    char dir[4096];
    int hub = 0;
    const char *id = model;
    if (!(model = cli_resolve(model, dir, sizeof dir, &hub))) return 1;
    /* headers only: info works on models too large to load here */
    ct_err err = {{0}};
    struct ct_config cfg;
    size_t bytes, stored, owned, mapped;
    if (ct_model_check_memory(model, &cfg, &bytes, &stored, &owned, &mapped, &err)) {
        fprintf(stderr, "ctrace: %s\n", err.msg);
        return 1;
    }
    char buf[4096];
    ct_config_describe(&cfg, bytes, buf, sizeof buf);
    if (hub) printf("model:        %s\nsnapshot:     %s\n%s", id, model, buf);
    else printf("model:        %s\n%s", model, buf);
    printf("stored:       %.1f MiB of checkpoint tensors\n", stored / 1048576.0);
    printf("resident:     %.1f MiB when loaded (%.1f MiB packed in the stored dtype + %.1f MiB used in place from the "
           "mapped file)\n", (owned + mapped) / 1048576.0, owned / 1048576.0, mapped / 1048576.0);
    printf("backend:      %s\n              (others: --backend openblas | ref; --dtype bf16 for bf16 products)\n",
           ct_backend_description());
    return check ? check_weights(model) : 0;
}
