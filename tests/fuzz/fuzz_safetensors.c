/* fuzz_safetensors.c — libFuzzer target: arbitrary bytes as a .safetensors
 * file, read as a tensor file and as a case file.  Opening must fail with a
 * message or give tensors whose bytes lie inside the file; a case file that
 * loads must be consistent enough to take its token segments and summary line
 * (issue 16: a shape product that wrapped gave T < 0 and an ASan abort in
 * `average`).  Seeds: tests/fuzz/seeds_safetensors/.  `make fuzz`. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "ctrace_app.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[64];
    snprintf(path, sizeof path, "/tmp/ctrace-fuzz-st-%d.safetensors", (int)getpid());
    FILE *f = fopen(path, "wb");
    if (!f) return 0;
    fwrite(data, 1, size, f);
    fclose(f);
    ct_st_file st;
    ct_err err;
    if (ct_st_open(&st, path, &err) == 0) {
        for (int i = 0; i < st.n; i++) {
            const ct_tensor_view *t = &st.t[i];
            const char *b = st.map, *e = b + st.size, *d = t->data;
            if (d < b || d + t->nbytes > e || (size_t)t->numel * ct_dtype_size(t->dtype) != t->nbytes) abort();
            if (t->numel <= (1 << 16)) free(ct_tensor_to_f32(t));
        }
        ct_st_close(&st);
    }
    ct_case c;
    if (ct_case_load(&c, path, &err) == 0) {
        if (c.T < 1 || c.L < 1) abort();
        uint32_t *mask = malloc((size_t)c.T * sizeof *mask);
        if (mask && c.has_info) ct_segments_of(&c.info.spans, c.T, mask, &err);
        free(mask);
        for (int i = 0; i < c.n_targets; i++)
            if (c.targets[2 * i] < 0 || c.targets[2 * i + 1] > c.T) abort();
        char *line = ct_summary_line(&c.info, c.L, c.ie, c.high_score, c.low_score, c.te);
        free(line);
        ct_case_free(&c);
    }
    unlink(path);
    return 0;
}
