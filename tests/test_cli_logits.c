/* test_cli_logits.c — `ctrace logits` end to end: the file it writes matches
 * transformers' logits and residual streams (refs.safetensors) for the three
 * reference sequences of each fixture.  Uses $CTRACE_BIN. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "ctrace_app.h"
#include "harness.h"

static const char *const fixtures[] = {
    "llama_gqa", "llama3_tied", "mistral", "qwen2", "llama_bf16",
    "gpt2", "gptj", "gpt_neox", "phi", "gemma", "gemma2", "phi3",
};

int main(void)
{
    TEST_BEGIN();
    const char *bin = getenv("CTRACE_BIN");
    if (!bin) bin = "build/ctrace";
    char out[256];
    snprintf(out, sizeof out, "/tmp/ctrace-cli-logits-%ld.safetensors", (long)getpid());
    for (size_t f = 0; f < sizeof fixtures / sizeof fixtures[0]; f++) {
        char dir[4096], refs[4200];
        snprintf(dir, sizeof dir, "%s%s", ct_fixture("hf-tiny/"), fixtures[f]);
        snprintf(refs, sizeof refs, "%s/refs.safetensors", dir);
        ct_st_file rf;
        ct_err err;
        CHECK_OK(ct_st_open(&rf, refs, &err), &err);
        if (!rf.map) continue;
        double worst = 0;
        for (int s = 0; s < 3; s++) {
            char key[64], ids[4096] = "", cmd[9000];
            snprintf(key, sizeof key, "seq%d_ids", s);
            const ct_tensor_view *iv = ct_st_find(&rf, key);
            if (!iv) { CHECK(0, "%s: no %s", fixtures[f], key); continue; }
            int T = (int)iv->numel;
            for (int i = 0; i < T; i++) {
                int32_t v;
                memcpy(&v, (const char *)iv->data + 4 * i, 4);
                snprintf(ids + strlen(ids), sizeof ids - strlen(ids), "%s%d", i ? "," : "", v);
            }
            snprintf(cmd, sizeof cmd, "'%s' logits --model_name '%s' --token_ids %s --out '%s' --threads %d",
                     bin, dir, ids, out, 1 + s % 2);
            int rc = system(cmd);
            CHECK(rc == 0, "%s exited with %d", cmd, rc);
            if (rc) continue;
            ct_st_file of;
            CHECK_OK(ct_st_open(&of, out, &err), &err);
            if (!of.map) continue;
            const ct_tensor_view *lg = ct_st_find(&of, "logits"), *rs = ct_st_find(&of, "resid");
            snprintf(key, sizeof key, "seq%d_logits", s);
            const ct_tensor_view *wl = ct_st_find(&rf, key);
            snprintf(key, sizeof key, "seq%d_hidden", s);
            const ct_tensor_view *wh = ct_st_find(&rf, key);
            snprintf(key, sizeof key, "seq%d_last_layer_out", s);
            const ct_tensor_view *wlast = ct_st_find(&rf, key);
            CHECK(lg && rs && wl && wh && wlast, "%s seq%d: tensors missing", fixtures[f], s);
            if (lg && rs && wl && wh && wlast) {
                CHECK(lg->ndim == 2 && lg->shape[0] == T && lg->numel == wl->numel, "%s: logits shape", fixtures[f]);
                CHECK(rs->ndim == 3 && rs->shape[1] == T && rs->numel == wh->numel, "%s: resid shape", fixtures[f]);
                if (lg->numel == wl->numel && rs->numel == wh->numel) {
                    char label[128];
                    snprintf(label, sizeof label, "%s seq%d logits", fixtures[f], s);
                    CHECK_CLOSE((const float *)lg->data, (const float *)wl->data, (long)lg->numel, 1e-4, label);
                    double d = ct_max_abs_diff(lg->data, wl->data, (long)lg->numel, NULL);
                    if (d > worst) worst = d;
                    /* resid[0..L-1] = hidden[0..L-1]; resid[L] = last_layer_out (no final norm) */
                    long lastn = (long)wlast->numel;
                    long head = (long)rs->numel - lastn;
                    snprintf(label, sizeof label, "%s seq%d resid[0..L-1]", fixtures[f], s);
                    CHECK_CLOSE((const float *)rs->data, (const float *)wh->data, head, 1e-4, label);
                    snprintf(label, sizeof label, "%s seq%d resid[L]", fixtures[f], s);
                    CHECK_CLOSE((const float *)rs->data + head, (const float *)wlast->data, lastn, 1e-4, label);
                }
            }
            ct_st_close(&of);
        }
        printf("  %-12s max |dlogit| %.2e\n", fixtures[f], worst);
        ct_st_close(&rf);
    }
    unlink(out);
    return TEST_END();
}
