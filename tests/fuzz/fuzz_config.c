/* fuzz_config.c — libFuzzer target: arbitrary config.json text.  Parsing
 * must fail with a message or give sizes that are positive and whose
 * derived widths fit an int (issue 16: 4 * n_embd and (heads + 2 kv heads)
 * * head_dim overflowed; get_int cast 1e20 to an int).  UBSan's
 * float-cast-overflow and signed-overflow checks do the rest.
 * Seeds: tests/fuzz/seeds_config/.  `make fuzz`. */
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "ctrace.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    if (!text) return 0;
    memcpy(text, data, size);
    text[size] = 0;
    struct ct_config c;
    ct_err err;
    if (ct_config_parse(&c, text, "config.json", &err) == 0) {
        if (c.d_model < 1 || c.n_layers < 1 || c.n_heads < 1 || c.n_kv_heads < 1 || c.head_dim < 1 || c.d_ff < 1 ||
            c.vocab < 1)
            abort();
        if (((int64_t)c.n_heads + 2 * (int64_t)c.n_kv_heads) * c.head_dim > INT_MAX || (int64_t)c.d_ff * 2 > INT_MAX)
            abort();
    } else if (!err.msg[0] || strchr(err.msg, '\n')) {
        abort();                    /* every refusal says why, on one line */
    }
    free(text);
    return 0;
}
