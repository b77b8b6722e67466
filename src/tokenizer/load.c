/* load.c — tokenizer.json -> the pipeline structs.  Only what ctrace can run
 * exactly is accepted; anything else (WordPiece, Unigram, BertNormalizer...)
 * is refused with a message naming the file and the component. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>
#include "tokenizer/tok.h"
#include "common/json.h"

OnigRegex tk_gpt2_regex(ct_err *err);

static const char *jstr(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static int jbool(const cJSON *o, const char *k, int def)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    if (cJSON_IsBool(v)) return cJSON_IsTrue(v);
    return def;
}

/* An int key, clamped to [0, INT_MAX] (the counts it reads cannot be
 * negative): casting an out-of-range double such as 1e20 is undefined. */
static int jint(const cJSON *o, const char *k, int def)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    if (!cJSON_IsNumber(v)) return def;
    double d = v->valuedouble;
    return d >= INT_MAX ? INT_MAX : d > 0 ? (int)d : 0;
}

static char *dupn(const char *s, size_t n)
{
    char *d = malloc(n + 1);
    if (d) { memcpy(d, s, n); d[n] = 0; }
    return d;
}

/* A {"String": "..."} or {"Regex": "..."} pattern. */
static int load_pattern(const cJSON *pat, char **lit, int32_t *litlen, OnigRegex *re, const char *what,
                        const char *path, ct_err *err)
{
    const char *s;
    if ((s = jstr(pat, "String"))) {
        *lit = dupn(s, strlen(s));
        *litlen = (int32_t)strlen(s);
        return *lit ? 0 : ct_fail(err, "%s: out of memory", path);
    }
    if ((s = jstr(pat, "Regex"))) {
        ct_err e2;
        *re = tk_regex_new(s, strlen(s), &e2);
        return *re ? 0 : ct_fail(err, "%s: %s: %s", path, what, e2.msg);
    }
    return ct_fail(err, "%s: %s: pattern must be {\"String\": ...} or {\"Regex\": ...}", path, what);
}

static int load_norm(tk_norm *n, const cJSON *j, const char *path, ct_err *err)
{
    memset(n, 0, sizeof *n);
    const char *type = jstr(j, "type");
    if (!type) return ct_fail(err, "%s: normalizer without a \"type\"", path);
    if (!strcmp(type, "NFC")) n->type = TK_N_NFC;
    else if (!strcmp(type, "NFD")) n->type = TK_N_NFD;
    else if (!strcmp(type, "NFKC")) n->type = TK_N_NFKC;
    else if (!strcmp(type, "NFKD")) n->type = TK_N_NFKD;
    else if (!strcmp(type, "Lowercase")) n->type = TK_N_LOWERCASE;
    else if (!strcmp(type, "StripAccents")) n->type = TK_N_STRIP_ACCENTS;
    else if (!strcmp(type, "Strip")) {
        n->type = TK_N_STRIP;
        n->left = jbool(j, "strip_left", 1);
        n->right = jbool(j, "strip_right", 1);
    } else if (!strcmp(type, "Prepend")) {
        const char *p = jstr(j, "prepend");
        if (!p) return ct_fail(err, "%s: Prepend normalizer without \"prepend\"", path);
        n->type = TK_N_PREPEND;
        n->str = dupn(p, strlen(p));
        n->slen = (int32_t)strlen(p);
    } else if (!strcmp(type, "Replace")) {
        const char *c = jstr(j, "content");
        if (!c) return ct_fail(err, "%s: Replace normalizer without \"content\"", path);
        n->type = TK_N_REPLACE;
        n->rep = dupn(c, strlen(c));
        n->rlen = (int32_t)strlen(c);
        if (load_pattern(cJSON_GetObjectItemCaseSensitive(j, "pattern"), &n->str, &n->slen, &n->re,
                         "Replace normalizer", path, err)) return -1;
    } else if (!strcmp(type, "Sequence")) {
        const cJSON *a = cJSON_GetObjectItemCaseSensitive(j, "normalizers");
        if (!cJSON_IsArray(a)) return ct_fail(err, "%s: Sequence normalizer without \"normalizers\"", path);
        n->type = TK_N_SEQ;
        int k = cJSON_GetArraySize(a);
        n->sub = calloc((size_t)k + 1, sizeof *n->sub);
        if (!n->sub) return ct_fail(err, "%s: out of memory", path);
        const cJSON *it;
        cJSON_ArrayForEach(it, a) {
            if (load_norm(&n->sub[n->nsub], it, path, err)) { n->nsub++; return -1; }
            n->nsub++;
        }
    } else return ct_fail(err, "%s: normalizer \"%s\" is not supported", path, type);
    return 0;
}

static int load_prepend_scheme(const cJSON *j)
{
    const char *s = jstr(j, "prepend_scheme");
    if (s) return !strcmp(s, "first") ? TK_PREPEND_FIRST : !strcmp(s, "never") ? TK_PREPEND_NEVER : TK_PREPEND_ALWAYS;
    return jbool(j, "add_prefix_space", 1) ? TK_PREPEND_ALWAYS : TK_PREPEND_NEVER;   /* older files */
}

static int parse_behavior(const char *b)
{
    if (!strcmp(b, "Removed")) return TK_B_REMOVED;
    if (!strcmp(b, "Isolated")) return TK_B_ISOLATED;
    if (!strcmp(b, "MergedWithPrevious")) return TK_B_PREV;
    if (!strcmp(b, "MergedWithNext")) return TK_B_NEXT;
    if (!strcmp(b, "Contiguous")) return TK_B_CONTIGUOUS;
    return -1;
}

static int load_pre(tk_pretok *p, const cJSON *j, const char *path, ct_err *err)
{
    memset(p, 0, sizeof *p);
    const char *type = jstr(j, "type");
    if (!type) return ct_fail(err, "%s: pre_tokenizer without a \"type\"", path);
    if (!strcmp(type, "ByteLevel")) {
        p->type = TK_P_BYTELEVEL;
        p->add_prefix_space = jbool(j, "add_prefix_space", 1);
        p->use_regex = jbool(j, "use_regex", 1);
        if (p->use_regex && !(p->re = tk_gpt2_regex(err))) return -1;
    } else if (!strcmp(type, "Split")) {
        p->type = TK_P_SPLIT;
        p->invert = jbool(j, "invert", 0);
        const char *b = jstr(j, "behavior");
        if (!b) return ct_fail(err, "%s: Split pre-tokenizer without \"behavior\"", path);
        if ((p->behavior = parse_behavior(b)) < 0) return ct_fail(err, "%s: Split behavior \"%s\" is unknown", path, b);
        if (load_pattern(cJSON_GetObjectItemCaseSensitive(j, "pattern"), &p->lit, &p->litlen, &p->re,
                         "Split pre-tokenizer", path, err)) return -1;
    } else if (!strcmp(type, "Metaspace")) {
        p->type = TK_P_METASPACE;
        const char *r = jstr(j, "replacement");
        if (!r || !*r || strlen(r) > 4) return ct_fail(err, "%s: Metaspace needs a one-char \"replacement\"", path);
        memcpy(p->rep, r, strlen(r));
        p->replen = (int)strlen(r);
        p->prepend_scheme = load_prepend_scheme(j);
        p->split = jbool(j, "split", 1);
    } else if (!strcmp(type, "Digits")) {
        p->type = TK_P_DIGITS;
        p->individual_digits = jbool(j, "individual_digits", 0);
    } else if (!strcmp(type, "Whitespace")) {
        p->type = TK_P_WHITESPACE;
        static const char WS_RE[] = "\\w+|[^\\w\\s]+";
        if (!(p->re = tk_regex_new(WS_RE, sizeof WS_RE - 1, err))) return -1;
    } else if (!strcmp(type, "WhitespaceSplit")) {
        p->type = TK_P_WSSPLIT;
    } else if (!strcmp(type, "BertPreTokenizer")) {
        p->type = TK_P_BERT;
    } else if (!strcmp(type, "Punctuation")) {
        p->type = TK_P_PUNCT;
        const char *b = jstr(j, "behavior");
        if ((p->behavior = parse_behavior(b ? b : "Isolated")) < 0)
            return ct_fail(err, "%s: Punctuation behavior \"%s\" is unknown", path, b);
    } else if (!strcmp(type, "Sequence")) {
        const cJSON *a = cJSON_GetObjectItemCaseSensitive(j, "pretokenizers");
        if (!cJSON_IsArray(a)) return ct_fail(err, "%s: Sequence pre-tokenizer without \"pretokenizers\"", path);
        p->type = TK_P_SEQ;
        p->sub = calloc((size_t)cJSON_GetArraySize(a) + 1, sizeof *p->sub);
        if (!p->sub) return ct_fail(err, "%s: out of memory", path);
        const cJSON *it;
        cJSON_ArrayForEach(it, a) {
            if (load_pre(&p->sub[p->nsub], it, path, err)) { p->nsub++; return -1; }
            p->nsub++;
        }
    } else return ct_fail(err, "%s: pre-tokenizer \"%s\" is not supported", path, type);
    return 0;
}

static int32_t token_id(const ct_tokenizer *t, const char *s);

static int load_post(ct_tokenizer *t, tk_post *p, const cJSON *j, const char *path, ct_err *err)
{
    memset(p, 0, sizeof *p);
    const char *type = jstr(j, "type");
    if (!type) return ct_fail(err, "%s: post_processor without a \"type\"", path);
    if (!strcmp(type, "ByteLevel")) {
        p->type = TK_PP_BYTELEVEL;
        p->trim_offsets = jbool(j, "trim_offsets", 1);
        p->add_prefix_space = jbool(j, "add_prefix_space", 1);
    } else if (!strcmp(type, "TemplateProcessing")) {
        p->type = TK_PP_TEMPLATE;
        const cJSON *single = cJSON_GetObjectItemCaseSensitive(j, "single");
        const cJSON *sp = cJSON_GetObjectItemCaseSensitive(j, "special_tokens");
        if (!cJSON_IsArray(single)) return ct_fail(err, "%s: TemplateProcessing without \"single\"", path);
        p->items = calloc((size_t)cJSON_GetArraySize(single) + 1, sizeof *p->items);
        if (!p->items) return ct_fail(err, "%s: out of memory", path);
        const cJSON *it;
        cJSON_ArrayForEach(it, single) {
            tk_tmpl_item *ti = &p->items[p->nitems++];
            const cJSON *st = cJSON_GetObjectItemCaseSensitive(it, "SpecialToken");
            if (!st) { if (!cJSON_GetObjectItemCaseSensitive(it, "Sequence"))
                           return ct_fail(err, "%s: TemplateProcessing item is neither SpecialToken nor Sequence", path);
                       continue; }
            ti->is_special = 1;
            const char *name = jstr(st, "id");
            if (!name) return ct_fail(err, "%s: TemplateProcessing SpecialToken without \"id\"", path);
            const cJSON *def = sp ? cJSON_GetObjectItemCaseSensitive(sp, name) : NULL;
            const cJSON *ids = def ? cJSON_GetObjectItemCaseSensitive(def, "ids") : NULL;
            if (cJSON_IsArray(ids)) {
                ti->ids = calloc((size_t)cJSON_GetArraySize(ids) + 1, sizeof *ti->ids);
                if (!ti->ids) return ct_fail(err, "%s: out of memory", path);
                const cJSON *x;
                cJSON_ArrayForEach(x, ids) {
                    if (!cJSON_IsNumber(x) || x->valuedouble < 0) return ct_fail(err, "%s: bad id in special_tokens[\"%s\"]", path, name);
                    ti->ids[ti->nids++] = (int32_t)x->valuedouble;
                }
            } else {
                int32_t id = token_id(t, name);
                if (id < 0) return ct_fail(err, "%s: template special token \"%s\" is not in the vocabulary", path, name);
                ti->ids = malloc(sizeof *ti->ids);
                if (!ti->ids) return ct_fail(err, "%s: out of memory", path);
                ti->ids[0] = id;
                ti->nids = 1;
            }
        }
    } else if (!strcmp(type, "Sequence")) {
        const cJSON *a = cJSON_GetObjectItemCaseSensitive(j, "processors");
        if (!cJSON_IsArray(a)) return ct_fail(err, "%s: Sequence post_processor without \"processors\"", path);
        p->type = TK_PP_SEQ;
        p->sub = calloc((size_t)cJSON_GetArraySize(a) + 1, sizeof *p->sub);
        if (!p->sub) return ct_fail(err, "%s: out of memory", path);
        const cJSON *it;
        cJSON_ArrayForEach(it, a) {
            if (load_post(t, &p->sub[p->nsub], it, path, err)) { p->nsub++; return -1; }
            p->nsub++;
        }
    } else return ct_fail(err, "%s: post_processor \"%s\" is not supported", path, type);
    return 0;
}

static int load_dec(tk_dec *d, const cJSON *j, const char *path, ct_err *err)
{
    memset(d, 0, sizeof *d);
    const char *type = jstr(j, "type");
    if (!type) return ct_fail(err, "%s: decoder without a \"type\"", path);
    if (!strcmp(type, "ByteLevel")) d->type = TK_D_BYTELEVEL;
    else if (!strcmp(type, "ByteFallback")) d->type = TK_D_BYTEFALLBACK;
    else if (!strcmp(type, "Fuse")) d->type = TK_D_FUSE;
    else if (!strcmp(type, "Metaspace")) {
        const char *r = jstr(j, "replacement");
        if (!r) return ct_fail(err, "%s: Metaspace decoder without \"replacement\"", path);
        d->type = TK_D_METASPACE;
        d->pat = dupn(r, strlen(r));
        d->plen = (int32_t)strlen(r);
        d->prepend_scheme = load_prepend_scheme(j);
    } else if (!strcmp(type, "Replace")) {
        const char *c = jstr(j, "content");
        const char *s = jstr(cJSON_GetObjectItemCaseSensitive(j, "pattern"), "String");
        if (!c || !s) return ct_fail(err, "%s: Replace decoder needs a String pattern and \"content\"", path);
        d->type = TK_D_REPLACE;
        d->pat = dupn(s, strlen(s)); d->plen = (int32_t)strlen(s);
        d->rep = dupn(c, strlen(c)); d->rlen = (int32_t)strlen(c);
    } else if (!strcmp(type, "Strip")) {
        const char *c = jstr(j, "content");
        if (!c) return ct_fail(err, "%s: Strip decoder without \"content\"", path);
        d->type = TK_D_STRIP;
        d->pat = dupn(c, strlen(c)); d->plen = (int32_t)strlen(c);
        d->start = jint(j, "start", 0);
        d->stop = jint(j, "stop", 0);
    } else if (!strcmp(type, "Sequence")) {
        const cJSON *a = cJSON_GetObjectItemCaseSensitive(j, "decoders");
        if (!cJSON_IsArray(a)) return ct_fail(err, "%s: Sequence decoder without \"decoders\"", path);
        d->type = TK_D_SEQ;
        d->sub = calloc((size_t)cJSON_GetArraySize(a) + 1, sizeof *d->sub);
        if (!d->sub) return ct_fail(err, "%s: out of memory", path);
        const cJSON *it;
        cJSON_ArrayForEach(it, a) {
            if (load_dec(&d->sub[d->nsub], it, path, err)) { d->nsub++; return -1; }
            d->nsub++;
        }
    } else return ct_fail(err, "%s: decoder \"%s\" is not supported", path, type);
    return 0;
}

static int32_t token_id(const ct_tokenizer *t, const char *s)
{
    int32_t k = tk_strmap_get(&t->added_map, s, (int32_t)strlen(s));
    if (k >= 0) return t->added[k].id;
    return tk_strmap_get(&t->bpe.vocab, s, (int32_t)strlen(s));
}

#define MAX_ID 16000000     /* ids beyond this are refused: a corrupt file, not a vocabulary */

static int load_model(tk_bpe *m, const cJSON *j, const char *path, ct_err *err)
{
    const char *type = jstr(j, "type");
    if (type && strcmp(type, "BPE"))
        return ct_fail(err, "%s: model type \"%s\" is not supported (only BPE)", path, type);
    const cJSON *vocab = cJSON_GetObjectItemCaseSensitive(j, "vocab");
    const cJSON *merges = cJSON_GetObjectItemCaseSensitive(j, "merges");
    if (!cJSON_IsObject(vocab)) return ct_fail(err, "%s: model.vocab is missing or not an object", path);
    if (!cJSON_IsArray(merges)) return ct_fail(err, "%s: model.merges is missing or not an array (not a BPE model?)", path);
    int32_t maxid = -1, nv = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, vocab) {
        if (!cJSON_IsNumber(it) || it->valuedouble < 0 || it->valuedouble > MAX_ID || it->valuedouble != (int32_t)it->valuedouble)
            return ct_fail(err, "%s: model.vocab[\"%.60s\"] is not a valid id", path, it->string ? it->string : "");
        if ((int32_t)it->valuedouble > maxid) maxid = (int32_t)it->valuedouble;
        nv++;
    }
    m->nid = maxid + 1;
    m->tok = calloc((size_t)m->nid + 1, sizeof *m->tok);
    m->toklen = calloc((size_t)m->nid + 1, sizeof *m->toklen);
    if (!m->tok || !m->toklen || tk_strmap_init(&m->vocab, nv)) return ct_fail(err, "%s: out of memory", path);
    cJSON_ArrayForEach(it, vocab) {
        int32_t id = (int32_t)it->valuedouble;
        if (m->tok[id]) continue;       /* two pieces with one id: keep the first */
        size_t l = strlen(it->string);
        if (!(m->tok[id] = dupn(it->string, l))) return ct_fail(err, "%s: out of memory", path);
        m->toklen[id] = (int32_t)l;
        if (tk_strmap_put(&m->vocab, m->tok[id], (int32_t)l, id) < 0) return ct_fail(err, "%s: out of memory", path);
    }
    int32_t nm = cJSON_GetArraySize(merges), rank = 0;
    if (tk_pairmap_init(&m->merges, nm)) return ct_fail(err, "%s: out of memory", path);
    char *cat = NULL;
    size_t catcap = 0;
    cJSON_ArrayForEach(it, merges) {
        const char *a, *b;
        size_t al, bl;
        if (cJSON_IsString(it)) {
            /* "a b": split on the one ASCII space (pieces may hold NBSP and other spaces) */
            const char *s = it->valuestring, *sp = strchr(s, ' ');
            if (!sp || strchr(sp + 1, ' ')) { free(cat); return ct_fail(err, "%s: merge %d \"%.60s\" is not two pieces separated by one space", path, rank, s); }
            a = s; al = (size_t)(sp - s); b = sp + 1; bl = strlen(b);
        } else if (cJSON_IsArray(it) && cJSON_GetArraySize(it) == 2 && cJSON_IsString(it->child) && cJSON_IsString(it->child->next)) {
            a = it->child->valuestring; al = strlen(a);
            b = it->child->next->valuestring; bl = strlen(b);
        } else { free(cat); return ct_fail(err, "%s: merge %d is neither \"a b\" nor [\"a\", \"b\"]", path, rank); }
        int32_t ia = tk_strmap_get(&m->vocab, a, (int32_t)al), ib = tk_strmap_get(&m->vocab, b, (int32_t)bl);
        if (catcap < al + bl + 1) {
            catcap = 2 * (al + bl + 1);
            char *nc = realloc(cat, catcap);
            if (!nc) { free(cat); return ct_fail(err, "%s: out of memory", path); }
            cat = nc;
        }
        memcpy(cat, a, al);
        memcpy(cat + al, b, bl);
        int32_t iab = tk_strmap_get(&m->vocab, cat, (int32_t)(al + bl));
        if (ia < 0 || ib < 0 || iab < 0) {
            free(cat);
            return ct_fail(err, "%s: merge %d (\"%.40s\" + \"%.40s\") uses a piece that is not in the vocabulary", path, rank, a, b);
        }
        tk_pairmap_put(&m->merges, ia, ib, rank, iab);
        rank++;
    }
    free(cat);
    const char *unk = jstr(j, "unk_token");
    m->unk_id = unk ? tk_strmap_get(&m->vocab, unk, (int32_t)strlen(unk)) : -1;
    m->byte_fallback = jbool(j, "byte_fallback", 0);
    m->fuse_unk = jbool(j, "fuse_unk", 0);
    m->ignore_merges = jbool(j, "ignore_merges", 0);
    const char *cp = jstr(j, "continuing_subword_prefix"), *ew = jstr(j, "end_of_word_suffix");
    if (cp && *cp) m->cont_prefix = dupn(cp, strlen(cp));
    if (ew && *ew) m->eow_suffix = dupn(ew, strlen(ew));
    for (int b = 0; b < 256; b++) {
        char name[8];
        snprintf(name, sizeof name, "<0x%02X>", b);
        m->byte_id[b] = tk_strmap_get(&m->vocab, name, 6);
    }
    return 0;
}

/* Added tokens get their ids the way HF's AddedVocabulary::add_tokens gives
 * them when it reads the file (the "id" written there is not used): a content
 * already in the model vocabulary takes that id, one already added keeps its
 * id, a new one takes the next id after max(added ids, model vocab count - 1). */
static int load_added(ct_tokenizer *t, const cJSON *arr, const char *path, ct_err *err)
{
    int32_t n = cJSON_IsArray(arr) ? cJSON_GetArraySize(arr) : 0;
    t->added = calloc((size_t)n + 1, sizeof *t->added);
    if (!t->added || tk_strmap_init(&t->added_map, n)) return ct_fail(err, "%s: out of memory", path);
    int32_t model_count = t->bpe.vocab.n, max_added = -1;
    const cJSON *it;
    int row = 0;
    if (n) cJSON_ArrayForEach(it, arr) {
        const char *c = jstr(it, "content");
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(it, "id");
        if (!c || !cJSON_IsNumber(id))
            return ct_fail(err, "%s: added_tokens[%d] needs \"id\" and \"content\"", path, row);
        if (!(id->valuedouble >= 0 && id->valuedouble <= MAX_ID))
            return ct_fail(err, "%s: added_tokens[%d] (\"%.40s\"): id %.0f is out of range (0 to %d)", path, row, c,
                           id->valuedouble, (int)MAX_ID);
        row++;
        int32_t len = (int32_t)strlen(c);
        if (len == 0) continue;                 /* HF ignores empty added tokens */
        int32_t prev = tk_strmap_get(&t->added_map, c, len);
        tk_added *a = prev >= 0 ? &t->added[prev] : &t->added[t->nadded];
        int32_t newid = prev >= 0 ? a->id : tk_strmap_get(&t->bpe.vocab, c, len);
        if (newid < 0)
            newid = max_added < 0 ? model_count : (max_added >= model_count || model_count == 0) ? max_added + 1 : model_count;
        if (newid > MAX_ID) return ct_fail(err, "%s: too many added tokens", path);
        a->id = newid;
        if (newid > max_added) max_added = newid;
        a->len = len;
        /* a repeated content keeps its first copy (the map's key points at it) */
        if (prev < 0 && !(a->content = dupn(c, (size_t)len))) return ct_fail(err, "%s: out of memory", path);
        a->special = jbool(it, "special", 0) || (prev >= 0 && a->special);
        a->lstrip = jbool(it, "lstrip", 0);
        a->rstrip = jbool(it, "rstrip", 0);
        a->normalized = jbool(it, "normalized", !a->special);
        a->single_word = jbool(it, "single_word", 0);
        if (prev < 0) {
            t->nadded++;
            if (tk_strmap_put(&t->added_map, a->content, a->len, t->nadded - 1) < 0) return ct_fail(err, "%s: out of memory", path);
        }
    }
    /* what is searched: normalized tokens are matched in normalized text */
    for (int32_t i = 0; i < t->nadded; i++) {
        tk_added *a = &t->added[i];
        if (a->normalized && t->norm && a->len) {
            tk_buf in = {0}, out = {0};
            tk_span z = {0, 0};
            if (tk_buf_put(&in, a->content, a->len, z) || tk_normalize(t->norm, in.b, in.al, in.n, &out)) {
                tk_buf_free(&in); tk_buf_free(&out);
                return ct_fail(err, "%s: cannot normalize added token %d", path, a->id);
            }
            a->match = dupn(out.b ? out.b : "", (size_t)out.n);
            a->mlen = out.n;
            tk_buf_free(&in); tk_buf_free(&out);
        } else {
            a->match = dupn(a->content, (size_t)a->len);
            a->mlen = a->len;
        }
        if (!a->match) return ct_fail(err, "%s: out of memory", path);
    }
    if (tk_addset_build(&t->set_raw, t->added, t->nadded, 0) || tk_addset_build(&t->set_norm, t->added, t->nadded, 1))
        return ct_fail(err, "%s: out of memory", path);
    return 0;
}

static int valid_utf8(const char *s)
{
    size_t n = strlen(s);
    for (size_t i = 0; i < n;) {
        int l = tk_utf8_len((const unsigned char *)s + i, n - i);
        if (!l) return 0;
        i += (size_t)l;
    }
    return 1;
}

/* cJSON passes raw bytes through; HF (serde) rejects invalid UTF-8, and the
 * pipeline relies on every string being valid.  Returns 1 if some key or
 * string value is invalid, with *where the nearest valid key above it. */
static int has_invalid_utf8(const cJSON *j, const char **where)
{
    for (; j; j = j->next) {
        int key_ok = !j->string || valid_utf8(j->string);
        if (key_ok && j->string) *where = j->string;
        if (!key_ok || (cJSON_IsString(j) && !valid_utf8(j->valuestring))) return 1;
        if (has_invalid_utf8(j->child, where)) return 1;
    }
    return 0;
}

int tk_load_json(ct_tokenizer *t, const char *json, size_t len, const char *path, ct_err *err)
{
    cJSON *root = ct_json_parse(json, len);   /* duplicate keys: the last, as Python's json */
    if (!root) {
        const char *e = cJSON_GetErrorPtr();
        long at = (e && e >= json && e <= json + len) ? (long)(e - json) : -1;
        return ct_fail(err, "%s: not valid JSON (error near byte %ld)", path, at);
    }
    int rc = -1;
    const cJSON *j;
    if (!cJSON_IsObject(root)) { ct_fail(err, "%s: top level is not a JSON object", path); goto done; }
    const char *where = "";
    if (has_invalid_utf8(root->child, &where)) {
        ct_fail(err, "%s: a JSON string is not valid UTF-8 (near key \"%.40s\")", path, where);
        goto done;
    }
    j = cJSON_GetObjectItemCaseSensitive(root, "model");
    if (!cJSON_IsObject(j)) { ct_fail(err, "%s: no \"model\" object", path); goto done; }
    if (load_model(&t->bpe, j, path, err)) goto done;
    j = cJSON_GetObjectItemCaseSensitive(root, "normalizer");
    if (j && !cJSON_IsNull(j)) {
        if (!(t->norm = calloc(1, sizeof *t->norm))) { ct_fail(err, "%s: out of memory", path); goto done; }
        if (load_norm(t->norm, j, path, err)) goto done;
    }
    if (load_added(t, cJSON_GetObjectItemCaseSensitive(root, "added_tokens"), path, err)) goto done;
    j = cJSON_GetObjectItemCaseSensitive(root, "pre_tokenizer");
    if (j && !cJSON_IsNull(j)) {
        if (!(t->pre = calloc(1, sizeof *t->pre))) { ct_fail(err, "%s: out of memory", path); goto done; }
        if (load_pre(t->pre, j, path, err)) goto done;
    }
    j = cJSON_GetObjectItemCaseSensitive(root, "post_processor");
    if (j && !cJSON_IsNull(j)) {
        if (!(t->post = calloc(1, sizeof *t->post))) { ct_fail(err, "%s: out of memory", path); goto done; }
        if (load_post(t, t->post, j, path, err)) goto done;
    }
    j = cJSON_GetObjectItemCaseSensitive(root, "decoder");
    if (j && !cJSON_IsNull(j)) {
        if (!(t->dec = calloc(1, sizeof *t->dec))) { ct_fail(err, "%s: out of memory", path); goto done; }
        if (load_dec(t->dec, j, path, err)) goto done;
    }
    t->vocab_size = t->bpe.nid;
    for (int32_t i = 0; i < t->nadded; i++)
        if (t->added[i].id + 1 > t->vocab_size) t->vocab_size = t->added[i].id + 1;
    rc = 0;
done:
    cJSON_Delete(root);
    return rc;
}

int32_t tk_token_id(const ct_tokenizer *t, const char *s) { return token_id(t, s); }
