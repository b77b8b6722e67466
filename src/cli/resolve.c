/* resolve.c — --model_name / --tokenizer values to folders: a path as given,
 * or a hub id "org/name[@revision]" found in the local Hugging Face cache
 * (ct_hub_resolve).  One place, so every subcommand accepts the same names. */
#include <stdio.h>
#include <string.h>
#include "cli.h"

const char *cli_resolve(const char *name, char *buf, size_t cap, int *from_hub)
{
    ct_err err = {{0}};
    int r = ct_hub_resolve(name, buf, cap, &err);
    if (r < 0) { fprintf(stderr, "ctrace: %s\n", err.msg); return NULL; }
    if (from_hub) *from_hub = r;
    return buf;
}

int cli_dtype(const char *cmd, const char *text, ct_dtype *out)
{
    if (!text || !strcmp(text, "f32") || !strcmp(text, "float32")) { *out = CT_F32; return 0; }
    if (!strcmp(text, "bf16") || !strcmp(text, "bfloat16")) { *out = CT_BF16; return 0; }
    fprintf(stderr, "ctrace: %s: --dtype must be f32 or bf16, not '%s'\n", cmd, text);
    return -1;
}

int cli_device(const char *cmd, const char *backend, const char *device)
{
    ct_err err = {{0}};
    if (!device) return 0;
    if (backend && strcmp(device, "cpu") && strcmp(backend, "cuda")) {
        fprintf(stderr, "ctrace: %s: --device %s and --backend %s disagree (leave out --backend)\n", cmd, device, backend);
        return -1;
    }
    if (ct_device_select(device, &err)) { fprintf(stderr, "ctrace: %s: %s\n", cmd, err.msg); return -1; }
    return 0;
}

int cli_compute(const char *cmd, ct_model *m, const char *backend, const char *dtype, const char *device)
{
    ct_dtype dt;
    ct_err err = {{0}};
    if (cli_dtype(cmd, dtype, &dt)) return -1;
    if (device && strcmp(device, "cpu") && ct_model_set_device(m, device, &err)) {
        fprintf(stderr, "ctrace: %s: %s\n", cmd, err.msg);
        return -1;
    }
    if ((backend && ct_model_set_backend(m, backend, &err)) || ct_model_set_compute(m, dt, &err)) {
        fprintf(stderr, "ctrace: %s: %s\n", cmd, err.msg);
        return -1;
    }
    return 0;
}
