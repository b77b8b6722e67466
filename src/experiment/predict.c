/* predict.c — what the model actually predicts after the prompt, in the clean
 * run and averaged over the corrupted runs (the seed tool prints both).  The
 * engine records the top tokens of its own runs (ct_trace_result's top_*);
 * here they get their texts for the case file and the summary. */
#include <stdlib.h>
#include <string.h>
#include "ctrace_app.h"
#include "experiment/predict.h"

static void texts(const int32_t *id, const float *p, int n, const ct_tokenizer *tk, ct_top_tokens *out)
{
    memset(out, 0, sizeof *out);
    for (int j = 0; j < n && j < CT_TOP_K; j++) {
        out->id[j] = id[j];
        out->p[j] = p[j];
        char *txt = NULL;
        ct_err e;
        if (!tk || ct_decode(tk, &id[j], 1, 0, &txt, &e)) {
            const char *piece = tk ? ct_id_to_token(tk, id[j]) : NULL;
            txt = strdup(piece ? piece : "?");
        }
        out->text[j] = txt;
        out->n = j + 1;
    }
}

void ct__predictions(const ct_trace_result *r, const ct_tokenizer *tk, ct_top_tokens *clean, ct_top_tokens *corrupt)
{
    texts(r->top_clean_id, r->top_clean_p, r->n_top, tk, clean);
    texts(r->top_corrupt_id, r->top_corrupt_p, r->n_top, tk, corrupt);
}
