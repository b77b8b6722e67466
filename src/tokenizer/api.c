/* api.c — the public tokenizer API: loading (files, tokenizer_config.json,
 * BOS/EOS), encoding (runs the pipeline stages in HF's order and turns
 * working-text positions into original byte offsets), decoding, lookups. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <cjson/cJSON.h>
#include "tokenizer/tok.h"

static char *read_file(const char *path, size_t *len, ct_err *err)
{
    FILE *f = fopen(path, "rb");
    if (!f) { ct_fail(err, "%s: cannot open", path); return NULL; }
    if (fseek(f, 0, SEEK_END) || ftell(f) < 0) { fclose(f); ct_fail(err, "%s: cannot read", path); return NULL; }
    long n = ftell(f);
    rewind(f);
    char *b = malloc((size_t)n + 1);
    if (!b) { fclose(f); ct_fail(err, "%s: out of memory (%ld bytes)", path, n); return NULL; }
    if (fread(b, 1, (size_t)n, f) != (size_t)n) { free(b); fclose(f); ct_fail(err, "%s: read error", path); return NULL; }
    fclose(f);
    b[n] = 0;
    *len = (size_t)n;
    return b;
}

/* bos_token / eos_token: a string, {"content": "..."}, or null. Returns 1 and
 * sets *id when the key is present (id -1 for null or an unknown token). */
static int config_token(const ct_tokenizer *t, const cJSON *cfg, const char *key, int32_t *id)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(cfg, key);
    if (!v) return 0;
    if (cJSON_IsObject(v)) v = cJSON_GetObjectItemCaseSensitive(v, "content");
    *id = cJSON_IsString(v) ? tk_token_id(t, v->valuestring) : -1;
    return 1;
}

static const tk_post *find_template(const tk_post *p)
{
    if (!p) return NULL;
    if (p->type == TK_PP_TEMPLATE) return p;
    for (int i = 0; i < p->nsub; i++) {
        const tk_post *q = find_template(&p->sub[i]);
        if (q) return q;
    }
    return NULL;
}

static int32_t first_named(const ct_tokenizer *t, const char *const *names)
{
    for (; *names; names++) {
        int32_t id = tk_token_id(t, *names);
        if (id >= 0) return id;
    }
    return -1;
}

static void default_bos_eos(ct_tokenizer *t, int have_bos, int have_eos)
{
    static const char *const bos_names[] = {"<s>", "<|begin_of_text|>", "<|endoftext|>", NULL};
    static const char *const eos_names[] = {"</s>", "<|end_of_text|>", "<|endoftext|>", NULL};
    const tk_post *tp = find_template(t->post);
    if (!have_bos) {
        t->bos_id = -1;
        if (tp && tp->nitems > 1 && tp->items[0].is_special && tp->items[0].nids) t->bos_id = tp->items[0].ids[0];
        if (t->bos_id < 0) t->bos_id = first_named(t, bos_names);
    }
    if (!have_eos) {
        t->eos_id = -1;
        if (tp && tp->nitems > 1 && tp->items[tp->nitems - 1].is_special && !tp->items[0].is_special &&
            tp->items[tp->nitems - 1].nids)
            t->eos_id = tp->items[tp->nitems - 1].ids[0];
        if (tp && tp->nitems > 2 && tp->items[tp->nitems - 1].is_special && tp->items[tp->nitems - 1].nids)
            t->eos_id = tp->items[tp->nitems - 1].ids[0];
        if (t->eos_id < 0) t->eos_id = first_named(t, eos_names);
    }
}

int ct_tokenizer_load(ct_tokenizer **out, const char *path, ct_err *err)
{
    *out = NULL;
    struct stat st;
    if (!path || stat(path, &st)) return ct_fail(err, "%s: no such file or directory", path ? path : "(null)");
    size_t pl = strlen(path);
    char *json_path = malloc(pl + 32), *cfg_path = malloc(pl + 32);
    if (!json_path || !cfg_path) { free(json_path); free(cfg_path); return ct_fail(err, "%s: out of memory", path); }
    if (S_ISDIR(st.st_mode)) {
        snprintf(json_path, pl + 32, "%s/tokenizer.json", path);
        snprintf(cfg_path, pl + 32, "%s/tokenizer_config.json", path);
    } else {
        memcpy(json_path, path, pl + 1);
        const char *slash = strrchr(path, '/');
        if (slash) snprintf(cfg_path, pl + 32, "%.*s/tokenizer_config.json", (int)(slash - path), path);
        else snprintf(cfg_path, pl + 32, "tokenizer_config.json");
    }
    ct_tokenizer *t = calloc(1, sizeof *t);
    size_t len;
    char *json = t ? read_file(json_path, &len, err) : NULL;
    if (!t) ct_fail(err, "%s: out of memory", json_path);
    int rc = json ? tk_load_json(t, json, len, json_path, err) : -1;
    free(json);
    if (!rc && !(t->added_of_id = malloc((size_t)t->vocab_size * sizeof *t->added_of_id + 1)))
        rc = ct_fail(err, "%s: out of memory (%d token ids)", json_path, (int)t->vocab_size);
    if (!rc) {
        for (int32_t i = 0; i < t->vocab_size; i++) t->added_of_id[i] = -1;
        for (int32_t i = 0; i < t->nadded; i++) t->added_of_id[t->added[i].id] = i;
        int have_bos = 0, have_eos = 0;
        if (!stat(cfg_path, &st) && S_ISREG(st.st_mode)) {
            char *cj = read_file(cfg_path, &len, err);
            cJSON *cfg = cj ? cJSON_ParseWithLength(cj, len) : NULL;
            if (!cj) rc = -1;
            else if (!cJSON_IsObject(cfg)) rc = ct_fail(err, "%s: not a valid JSON object", cfg_path);
            else {
                have_bos = config_token(t, cfg, "bos_token", &t->bos_id);
                have_eos = config_token(t, cfg, "eos_token", &t->eos_id);
            }
            cJSON_Delete(cfg);
            free(cj);
        }
        if (!rc) default_bos_eos(t, have_bos, have_eos);
    }
    if (!rc) { t->path = json_path; json_path = NULL; }
    free(json_path);
    free(cfg_path);
    if (rc) { ct_tokenizer_free(t); return -1; }
    *out = t;
    return 0;
}

void ct_tokenizer_free(ct_tokenizer *t)
{
    if (!t) return;
    free(t->path);
    tk_bpe_free(&t->bpe);
    tk_norm_free(t->norm); free(t->norm);
    tk_pretok_free(t->pre); free(t->pre);
    tk_post_free(t->post); free(t->post);
    tk_dec_free(t->dec); free(t->dec);
    for (int32_t i = 0; i < t->nadded; i++) { free(t->added[i].content); free(t->added[i].match); }
    free(t->added);
    free(t->set_raw.idx);
    free(t->set_norm.idx);
    tk_strmap_free(&t->added_map);
    free(t->added_of_id);
    free(t);
}

/* ---- encoding ----------------------------------------------------------------- */

static int normalize_pieces(const ct_tokenizer *t, tk_text *tx)
{
    tk_text nt = {0};
    if (tk_buf_reserve(&nt.buf, tx->buf.n + 16)) return -1;
    for (int32_t i = 0; i < tx->np; i++) {
        tk_piece *pc = &tx->p[i];
        int32_t off = nt.buf.n;
        int rc = pc->id >= 0 ? tk_buf_copy(&nt.buf, tx->buf.b + pc->off, tx->buf.al + pc->off, pc->len)
                             : tk_normalize(t->norm, tx->buf.b + pc->off, tx->buf.al + pc->off, pc->len, &nt.buf);
        if (rc || ((nt.buf.n > off || pc->id >= 0) && tk_text_push(&nt, off, nt.buf.n - off, pc->id))) {
            tk_text_free(&nt);
            return -1;
        }
    }
    tk_text_free(tx);
    *tx = nt;
    return 0;
}

static int push_etok(tk_etok **v, int32_t *n, int32_t *cap, tk_etok e)
{
    if (*n == *cap) {
        int32_t c = *cap ? *cap * 2 : 64;
        tk_etok *nv = realloc(*v, (size_t)c * sizeof *nv);
        if (!nv) return -1;
        *v = nv;
        *cap = c;
    }
    (*v)[(*n)++] = e;
    return 0;
}

int ct_encode(const ct_tokenizer *t, const char *text, size_t len, int add_special,
              ct_encoding *out, ct_err *err)
{
    memset(out, 0, sizeof *out);
    if (len > (size_t)INT32_MAX / 8) return ct_fail(err, "encode: text too long (%zu bytes)", len);
    if (len && !text) return ct_fail(err, "encode: NULL text");
    int32_t n = (int32_t)len;
    tk_text tx = {0};
    tk_etok *toks = NULL;
    tk_tok *bt = NULL;
    int32_t ntok = 0, tcap = 0, nbt = 0, btcap = 0;
    tk_bpe_ws ws = {0};
    int rc = -1;
    if (tk_buf_reserve(&tx.buf, n + 1)) goto oom;
    for (int32_t i = 0; i < n;) {
        int l = tk_utf8_len((const unsigned char *)text + i, (size_t)(n - i));
        if (!l) { ct_fail(err, "encode: text is not valid UTF-8 (byte %d)", i); goto done; }
        tk_buf_put(&tx.buf, text + i, l, (tk_span){i, i + l});
        i += l;
    }
    if (n && tk_text_push(&tx, 0, n, -1)) goto oom;
    if (tk_added_split(t->added, &t->set_raw, &tx)) goto oom;
    if (t->norm && normalize_pieces(t, &tx)) goto oom;
    if (tk_added_split(t->added, &t->set_norm, &tx)) goto oom;
    if (t->pre && tk_pretokenize(t->pre, &tx, err)) goto done;
    for (int32_t i = 0; i < tx.np; i++) {
        const tk_piece *pc = &tx.p[i];
        const tk_span *al = tx.buf.al + pc->off;
        if (pc->len == 0) continue;
        if (pc->id >= 0) {
            tk_etok e = {pc->id, al[0].s, al[pc->len - 1].e, tx.buf.b + pc->off, pc->len};
            if (push_etok(&toks, &ntok, &tcap, e)) goto oom;
            continue;
        }
        nbt = 0;
        if (tk_bpe_word(&t->bpe, &ws, tx.buf.b + pc->off, pc->len, &bt, &nbt, &btcap)) goto oom;
        for (int32_t k = 0; k < nbt; k++) {
            int32_t id = bt[k].id;
            tk_etok e = {id, al[bt[k].a].s, al[bt[k].b - 1].e, t->bpe.tok[id], t->bpe.toklen[id]};
            if (push_etok(&toks, &ntok, &tcap, e)) goto oom;
        }
    }
    if (t->post && tk_postprocess(t->post, &toks, &ntok, &tcap, add_special, text)) goto oom;
    out->ids = malloc((size_t)ntok * sizeof *out->ids + 1);
    out->offsets = malloc((size_t)ntok * sizeof *out->offsets + 1);
    out->special = malloc((size_t)ntok + 1);
    if (!out->ids || !out->offsets || !out->special) goto oom;
    for (int32_t i = 0; i < ntok; i++) {
        out->ids[i] = toks[i].id;
        out->offsets[i] = (ct_interval){toks[i].s, toks[i].e};
        out->special[i] = toks[i].str == NULL;
    }
    out->n = ntok;
    rc = 0;
    goto done;
oom:
    ct_fail(err, "encode: out of memory");
done:
    if (rc) ct_encoding_free(out);
    tk_text_free(&tx);
    free(toks);
    free(bt);
    tk_bpe_ws_free(&ws);
    return rc;
}

void ct_encoding_free(ct_encoding *e)
{
    if (!e) return;
    free(e->ids);
    free(e->offsets);
    free(e->special);
    memset(e, 0, sizeof *e);
}

int ct_encoding_token_range(const ct_encoding *e, int32_t b, int32_t en, int32_t *tb, int32_t *te)
{
    int32_t first = -1, last = -1;
    for (int32_t i = 0; i < e->n; i++) {
        const ct_interval *o = &e->offsets[i];
        if (o->e > o->b && o->b < en && o->e > b) {
            if (first < 0) first = i;
            last = i;
        }
    }
    if (first < 0) { *tb = *te = 0; return -1; }
    *tb = first;
    *te = last + 1;
    return 0;
}

/* ---- decoding and lookups --------------------------------------------------------- */

const char *ct_id_to_token(const ct_tokenizer *t, int32_t id)
{
    if (id < 0 || id >= t->vocab_size) return NULL;
    /* HF gives a normalized added token back in its normalized form */
    if (t->added_of_id[id] >= 0) return t->added[t->added_of_id[id]].match;
    return id < t->bpe.nid ? t->bpe.tok[id] : NULL;
}

int32_t ct_token_to_id(const ct_tokenizer *t, const char *piece)
{
    return piece ? tk_token_id(t, piece) : -1;
}

int ct_decode(const ct_tokenizer *t, const int32_t *ids, int32_t n, int skip_special, char **out, ct_err *err)
{
    *out = NULL;
    tk_strs v = {0};
    for (int32_t i = 0; i < n; i++) {
        const char *s = ct_id_to_token(t, ids[i]);
        if (!s) { tk_strs_free(&v); return ct_fail(err, "decode: token id %d is not in the vocabulary (size %d)", ids[i], t->vocab_size); }
        if (skip_special && t->added_of_id[ids[i]] >= 0 && t->added[t->added_of_id[ids[i]]].special) continue;
        if (tk_strs_push(&v, s, (int32_t)strlen(s))) { tk_strs_free(&v); return ct_fail(err, "decode: out of memory"); }
    }
    if (t->dec && tk_decode_chain(t->dec, &v)) { tk_strs_free(&v); return ct_fail(err, "decode: out of memory"); }
    size_t total = 1;
    for (int32_t i = 0; i < v.n; i++) total += (size_t)v.len[i] + 1;
    char *s = malloc(total), *p = s;
    if (!s) { tk_strs_free(&v); return ct_fail(err, "decode: out of memory"); }
    for (int32_t i = 0; i < v.n; i++) {
        if (i && !t->dec) *p++ = ' ';       /* no decoder: HF joins with spaces */
        memcpy(p, v.s[i], (size_t)v.len[i]);
        p += v.len[i];
    }
    *p = 0;
    tk_strs_free(&v);
    *out = s;
    return 0;
}

int32_t ct_tokenizer_vocab_size(const ct_tokenizer *t) { return t->vocab_size; }
int32_t ct_tokenizer_bos_id(const ct_tokenizer *t) { return t->bos_id; }
int32_t ct_tokenizer_eos_id(const ct_tokenizer *t) { return t->eos_id; }
