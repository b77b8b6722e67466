/* resolve.c — --model_name / --tokenizer values to folders: a path as given,
 * or a hub id "org/name[@revision]" found in the local Hugging Face cache
 * (ct_hub_resolve).  One place, so every subcommand accepts the same names. */
#include <stdio.h>
#include "cli.h"

const char *cli_resolve(const char *name, char *buf, size_t cap, int *from_hub)
{
    ct_err err = {{0}};
    int r = ct_hub_resolve(name, buf, cap, &err);
    if (r < 0) { fprintf(stderr, "ctrace: %s\n", err.msg); return NULL; }
    if (from_hub) *from_hub = r;
    return buf;
}
