/* continuation.c — the token ids of a word as it continues a prompt.
 *
 * The answer " Spanish" is scored as the next tokens after the prompt.  Encoding
 * " Spanish" on its own is right for byte-level BPE (GPT-2: "ĠSpanish"), but a
 * SentencePiece-style tokenizer prepends "▁" to a text's start, so Llama 2 gives
 * ["▁", "▁Spanish"] for it alone while the prompt followed by the answer ends in
 * "▁Spanish".  So: encode prompt + " " + word and take what follows the prompt's
 * own tokens; when the prompt's tokens are not a prefix of that (a merge across
 * the boundary), fall back to " " + word alone, the seed tool's way. */
#include <stdlib.h>
#include <string.h>
#include "ctrace.h"

/* tokens of e before any trailing post-processor tokens (an EOS a template adds) */
static int32_t body_len(const ct_encoding *e)
{
    int32_t n = e->n;
    while (n > 0 && e->special[n - 1]) n--;
    return n;
}

static int take(const int32_t *src, int32_t n, int32_t **ids, int *n_out, ct_err *err)
{
    *ids = malloc((size_t)(n ? n : 1) * sizeof **ids);
    if (!*ids) return ct_fail(err, "out of memory");
    memcpy(*ids, src, (size_t)n * sizeof **ids);
    *n_out = n;
    return 0;
}

int ct_encode_continuation(const ct_tokenizer *t, const char *prompt, const char *word,
                           int32_t **ids, int *n, ct_err *err)
{
    *ids = NULL;
    *n = 0;
    size_t lp = prompt ? strlen(prompt) : 0, lw = strlen(word);
    char *joint = malloc(lp + lw + 2);
    if (!joint) return ct_fail(err, "out of memory");
    if (lp) memcpy(joint, prompt, lp);
    joint[lp] = ' ';
    memcpy(joint + lp + 1, word, lw + 1);
    ct_encoding ep = {0}, ej = {0};
    int rc = -1;
    if (lp) {
        if (ct_encode(t, prompt, lp, 1, &ep, err) || ct_encode(t, joint, lp + lw + 1, 1, &ej, err)) goto out;
        int32_t np = body_len(&ep), nj = body_len(&ej);
        if (nj > np && !memcmp(ep.ids, ej.ids, (size_t)np * sizeof *ep.ids)) {
            rc = take(ej.ids + np, nj - np, ids, n, err);
            goto out;
        }
        ct_encoding_free(&ej);
    }
    /* " " + word on its own, no special tokens */
    if (ct_encode(t, joint + lp, lw + 1, 0, &ej, err)) goto out;
    rc = take(ej.ids, ej.n, ids, n, err);
out:
    ct_encoding_free(&ep);
    ct_encoding_free(&ej);
    free(joint);
    return rc;
}
