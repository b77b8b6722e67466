/* cmd_export.c — `ctrace export --npz DIR|FILE [--npz ...] [--out FILE.npz]`:
 * case files in ROME's .npz result schema, so that ROME's plotting code and
 * notebooks (experiments/causal_trace.py: numpy.savez(filename, **result))
 * open ctrace's traces.  python/ctrace/npz.py (ctrace.save_npz) writes the
 * same arrays; tests/python/test_ctrace.py checks that the two agree.
 *
 * ROME's keys, in ROME's order, with ROME's dtypes (T tokens, L layers):
 *   scores f32 [T, L], low_score f64 [], high_score f32 [], input_ids i64 [T],
 *   input_tokens <U [T], subject_range i64 [2], answer <U [], window i64 [],
 *   correct_prediction bool [], kind <U [] ("" hidden, "mlp", "attn"),
 * then ctrace's target_ranges i64 [R, 2].  subject_range is [first b, last e]
 * of the target ranges.  Token texts and the answer come from the case
 * description (`ctrace run`), else from `ctrace trace --prompt/--answer`'s
 * token_strings/answer_text, else "#id" labels.
 *
 * An .npz is an uncompressed zip of .npy files (numpy's format 1.0); both are
 * written here (no zlib needed: numpy.savez stores without compression too). */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cjson/cJSON.h>
#include "cli.h"
#include "args.h"
#include "common/file.h"

static const char *usage_text =
    "usage: ctrace export --npz DIR|FILE.bin [--npz ...] [--out FILE.npz]\n"
    "  Writes each case file X.bin as X.npz beside it, in ROME's .npz result schema\n"
    "  (numpy.load opens it).  DIR: every DIR/cases/*.bin, else DIR/*.bin.\n"
    "  --out names the output when a single case file is given.  One line per file written.\n";

/* --- a growing byte buffer --------------------------------------------- */
typedef struct buf { unsigned char *p; size_t n, cap; int oom; } buf;

static void put(buf *b, const void *src, size_t n)
{
    if (b->oom) return;
    if (b->n + n > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->n + n) cap *= 2;
        unsigned char *p = realloc(b->p, cap);
        if (!p) { b->oom = 1; return; }
        b->p = p; b->cap = cap;
    }
    memcpy(b->p + b->n, src, n);
    b->n += n;
}
static void put16(buf *b, unsigned v) { unsigned char x[2] = {v & 255, (v >> 8) & 255}; put(b, x, 2); }
static void put32(buf *b, uint32_t v) { unsigned char x[4] = {v & 255, (v >> 8) & 255, (v >> 16) & 255, v >> 24}; put(b, x, 4); }

static uint32_t crc32_of(const unsigned char *p, size_t n)
{
    static uint32_t table[256];
    if (!table[1])
        for (uint32_t i = 0; i < 256; i++) {
            uint32_t c = i;
            for (int k = 0; k < 8; k++) c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
            table[i] = c;
        }
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++) c = table[(c ^ p[i]) & 255] ^ (c >> 8);
    return c ^ 0xFFFFFFFFu;
}

/* --- .npy members -------------------------------------------------------- */
typedef struct member { char name[40]; buf data; } member;

/* The .npy header (format 1.0): magic, version, length, the dict padded with
 * spaces and a newline to a multiple of 64 bytes, as numpy writes it. */
static void npy_header(buf *b, const char *descr, int ndim, const int64_t *shape)
{
    char dict[256], sh[128] = "";
    size_t k = 0;
    for (int i = 0; i < ndim; i++)
        k += (size_t)snprintf(sh + k, sizeof sh - k, i ? ", %lld" : "%lld", (long long)shape[i]);
    if (ndim == 1) snprintf(sh + k, sizeof sh - k, ",");
    int n = snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': False, 'shape': (%s), }", descr, sh);
    size_t total = 10 + (size_t)n + 1, pad = (64 - total % 64) % 64;
    put(b, "\x93NUMPY\x01\x00", 8);
    put16(b, (unsigned)(n + pad + 1));
    put(b, dict, (size_t)n);
    for (size_t i = 0; i < pad; i++) put(b, " ", 1);
    put(b, "\n", 1);
}

static member *add_member(member *m, int *n, const char *name)
{
    member *x = &m[(*n)++];
    memset(x, 0, sizeof *x);
    snprintf(x->name, sizeof x->name, "%s.npy", name);
    return x;
}

/* UTF-8 -> code points (invalid bytes become U+FFFD); returns the count. */
static size_t utf8_decode(const char *s, uint32_t *out)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t n = 0;
    while (*p) {
        uint32_t c = *p, need = 0, min = 0;
        if (c < 0x80) need = 0;
        else if ((c & 0xE0) == 0xC0) { need = 1; c &= 0x1F; min = 0x80; }
        else if ((c & 0xF0) == 0xE0) { need = 2; c &= 0x0F; min = 0x800; }
        else if ((c & 0xF8) == 0xF0) { need = 3; c &= 0x07; min = 0x10000; }
        else { if (out) out[n] = 0xFFFD; n++; p++; continue; }
        uint32_t i = 1;
        for (; i <= need && (p[i] & 0xC0) == 0x80; i++) c = (c << 6) | (p[i] & 0x3F);
        if (i <= need || c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF)) { c = 0xFFFD; i = 1; }
        if (out) out[n] = c;
        n++;
        p += i;
    }
    return n;
}

/* A <U array of n strings (shape [n], or [] when scalar). */
static void add_strings(member *m, int *nm, const char *name, char *const *s, int n, int scalar)
{
    size_t w = 1;
    for (int i = 0; i < n; i++) { size_t k = utf8_decode(s[i], NULL); if (k > w) w = k; }
    member *x = add_member(m, nm, name);
    char descr[32];
    snprintf(descr, sizeof descr, "<U%zu", w);
    int64_t shape[1] = {n};
    npy_header(&x->data, descr, scalar ? 0 : 1, shape);
    uint32_t *cp = calloc(w, sizeof *cp);
    if (!cp) { x->data.oom = 1; return; }
    for (int i = 0; i < n; i++) {
        memset(cp, 0, w * sizeof *cp);
        size_t k = utf8_decode(s[i], NULL);
        if (k <= w) utf8_decode(s[i], cp);
        for (size_t j = 0; j < w; j++) put32(&x->data, cp[j]);
    }
    free(cp);
}

static void add_raw(member *m, int *nm, const char *name, const char *descr, int ndim, const int64_t *shape,
                    const void *data, size_t nbytes)
{
    member *x = add_member(m, nm, name);
    npy_header(&x->data, descr, ndim, shape);
    put(&x->data, data, nbytes);
}

/* The zip: local headers + data, central directory, end record (stored, no zip64). */
static int write_zip(const char *path, member *m, int n, ct_err *err)
{
    buf z = {0}, cd = {0};
    for (int i = 0; i < n; i++) {
        if (m[i].data.oom) return ct_fail_code(err, CT_ERR_NOMEM, "%s: out of memory", path);
        if (m[i].data.n > 0xFFFFFFF0u) return ct_fail(err, "%s: member %s is over 4 GB", path, m[i].name);
    }
    for (int i = 0; i < n; i++) {
        uint32_t crc = crc32_of(m[i].data.p, m[i].data.n), size = (uint32_t)m[i].data.n;
        size_t off = z.n, nl = strlen(m[i].name);
        put32(&z, 0x04034b50); put16(&z, 20); put16(&z, 0); put16(&z, 0);
        put16(&z, 0); put16(&z, 0x21);                   /* 00:00, 1980-01-01 */
        put32(&z, crc); put32(&z, size); put32(&z, size); put16(&z, (unsigned)nl); put16(&z, 0);
        put(&z, m[i].name, nl);
        put(&z, m[i].data.p, m[i].data.n);
        put32(&cd, 0x02014b50); put16(&cd, 20); put16(&cd, 20); put16(&cd, 0); put16(&cd, 0);
        put16(&cd, 0); put16(&cd, 0x21);
        put32(&cd, crc); put32(&cd, size); put32(&cd, size); put16(&cd, (unsigned)nl);
        put16(&cd, 0); put16(&cd, 0); put16(&cd, 0); put16(&cd, 0); put32(&cd, 0); put32(&cd, (uint32_t)off);
        put(&cd, m[i].name, nl);
    }
    size_t cd_off = z.n;
    put(&z, cd.p, cd.n);
    put32(&z, 0x06054b50); put16(&z, 0); put16(&z, 0); put16(&z, (unsigned)n); put16(&z, (unsigned)n);
    put32(&z, (uint32_t)cd.n); put32(&z, (uint32_t)cd_off); put16(&z, 0);
    free(cd.p);
    if (z.oom || z.n > 0xFFFFFFF0u) { free(z.p); return ct_fail_code(err, CT_ERR_NOMEM, "%s: out of memory", path); }
    ct_atomic a;
    if (ct_atomic_open(&a, path, err)) { free(z.p); return -1; }
    if (fwrite(z.p, 1, z.n, a.f) != z.n) a.err = errno ? errno : EIO;
    free(z.p);
    return ct_atomic_commit(&a, err);
}

/* --- one case file ------------------------------------------------------- */
static const cJSON *obj_item(const cJSON *o, const char *k) { return cJSON_GetObjectItemCaseSensitive(o, k); }

static int export_one(const char *in, const char *out, ct_err *err)
{
    ct_st_file f;
    if (ct_st_open(&f, in, err)) return -1;
    int rc = -1, nm = 0, T = 0, R = 0;
    member m[12];
    char **tok = NULL;
    char *answer = NULL;
    cJSON *md = f.metadata ? cJSON_Parse(f.metadata) : NULL, *st = NULL, *info_own = NULL;
    const cJSON *fmt = obj_item(md, "format"), *ctj = obj_item(md, "ctrace");
    if (!cJSON_IsString(fmt) || strcmp(fmt->valuestring, "ctrace-case-1") || !cJSON_IsString(ctj) ||
        !(st = cJSON_Parse(ctj->valuestring))) {
        ct_fail(err, "%s: not a ctrace case file (no \"format\": \"ctrace-case-1\" metadata)", in);
        goto out;
    }
    const cJSON *info = obj_item(st, "case");
    if (!cJSON_IsObject(info)) {
        const cJSON *cc = obj_item(md, "ctrace_case");
        info = info_own = cJSON_IsString(cc) ? cJSON_Parse(cc->valuestring) : NULL;
    }
    const ct_tensor_view *sc = ct_st_find(&f, "scores"), *lo = ct_st_find(&f, "low_score"),
                         *hi = ct_st_find(&f, "high_score"), *ids = ct_st_find(&f, "input_ids"),
                         *tr = ct_st_find(&f, "target_ranges"), *ans = ct_st_find(&f, "answer_ids");
    if (!sc || sc->dtype != CT_F32 || sc->ndim != 2 || !lo || lo->dtype != CT_F32 || lo->numel != 1 || !hi ||
        hi->dtype != CT_F32 || hi->numel != 1 || !ids || ids->dtype != CT_I32 || ids->ndim != 1 ||
        ids->shape[0] != sc->shape[0] || !tr || tr->dtype != CT_I32 || tr->ndim != 2 || tr->shape[1] != 2 ||
        tr->shape[0] < 1 || !ans || ans->dtype != CT_I32) {
        ct_fail(err, "%s: a case file needs scores F32 [T, L], low_score and high_score F32 [], input_ids I32 [T], "
                "target_ranges I32 [R, 2] and answer_ids I32 [A]", in);
        goto out;
    }
    T = (int)sc->shape[0];
    R = (int)tr->shape[0];
    const cJSON *kind = obj_item(st, "kind"), *win = obj_item(st, "window");
    const char *rk = cJSON_IsString(kind) ? kind->valuestring : "";
    const char *rome_kind = !strcmp(rk, "hidden") ? "" : !strcmp(rk, "mlp") ? "mlp"
                          : !strcmp(rk, "attention") || !strcmp(rk, "attn") ? "attn" : NULL;
    if (!rome_kind) { ct_fail(err, "%s: kind \"%s\" has no ROME name", in, rk); goto out; }
    /* token texts: the description's, else token_strings, else "#id" */
    const cJSON *ts = obj_item(info, "tokens");
    if (!cJSON_IsArray(ts) || !cJSON_GetArraySize(ts)) ts = obj_item(st, "token_strings");
    if (!cJSON_IsArray(ts) || !cJSON_GetArraySize(ts)) ts = NULL;
    if (ts && cJSON_GetArraySize(ts) != T) { ct_fail(err, "%s: %d token texts for %d tokens", in, cJSON_GetArraySize(ts), T); goto out; }
    const int32_t *id = ids->data;
    if (!(tok = calloc((size_t)T + 1, sizeof *tok))) goto oom;
    for (int t = 0; t < T; t++) {
        const cJSON *x = ts ? cJSON_GetArrayItem(ts, t) : NULL;
        char b[24];
        snprintf(b, sizeof b, "#%ld", (long)id[t]);
        if (!(tok[t] = strdup(ts ? (cJSON_IsString(x) ? x->valuestring : "") : b))) goto oom;
    }
    const cJSON *a1 = obj_item(info, "answer"), *a2 = obj_item(st, "answer_text");
    if (cJSON_IsString(a1) && *a1->valuestring) answer = strdup(a1->valuestring);
    else if (cJSON_IsString(a2) && *a2->valuestring) answer = strdup(a2->valuestring);
    else {
        const int32_t *av = ans->data;
        if ((answer = calloc((size_t)ans->numel * 24 + 1, 1)))
            for (int64_t i = 0; i < ans->numel; i++) sprintf(answer + strlen(answer), "#%ld", (long)av[i]);
    }
    if (!answer) goto oom;

    int64_t shape[2] = {sc->shape[0], sc->shape[1]}, one[1] = {T}, two[1] = {2}, rg[2] = {R, 2};
    add_raw(m, &nm, "scores", "<f4", 2, shape, sc->data, sc->nbytes);
    float lf, hf;
    memcpy(&lf, lo->data, 4);
    memcpy(&hf, hi->data, 4);
    double ld = lf;
    add_raw(m, &nm, "low_score", "<f8", 0, NULL, &ld, 8);
    add_raw(m, &nm, "high_score", "<f4", 0, NULL, &hf, 4);
    int64_t *i64 = malloc(((size_t)T + 2 * (size_t)R + 2) * sizeof *i64);
    if (!i64) goto oom;
    for (int t = 0; t < T; t++) i64[t] = id[t];
    add_raw(m, &nm, "input_ids", "<i8", 1, one, i64, (size_t)T * 8);
    add_strings(m, &nm, "input_tokens", tok, T, 0);
    const int32_t *r32 = tr->data;
    int64_t sr[2] = {r32[0], r32[1]};
    for (int i = 0; i < R; i++) {
        if (r32[2 * i] < sr[0]) sr[0] = r32[2 * i];
        if (r32[2 * i + 1] > sr[1]) sr[1] = r32[2 * i + 1];
        i64[2 * i] = r32[2 * i];
        i64[2 * i + 1] = r32[2 * i + 1];
    }
    add_raw(m, &nm, "subject_range", "<i8", 1, two, sr, 16);
    add_strings(m, &nm, "answer", &answer, 1, 1);
    int64_t w = cJSON_IsNumber(win) ? (int64_t)win->valuedouble : 10;
    add_raw(m, &nm, "window", "<i8", 0, NULL, &w, 8);
    unsigned char yes = 1;
    add_raw(m, &nm, "correct_prediction", "|b1", 0, NULL, &yes, 1);
    char *kp = (char *)rome_kind;
    add_strings(m, &nm, "kind", &kp, 1, 1);
    add_raw(m, &nm, "target_ranges", "<i8", 2, rg, i64, (size_t)R * 16);
    free(i64);
    rc = write_zip(out, m, nm, err);
    goto out;
oom:
    ct_fail_code(err, CT_ERR_NOMEM, "%s: out of memory", in);
out:
    for (int i = 0; i < nm; i++) free(m[i].data.p);
    if (tok) for (int t = 0; t < T; t++) free(tok[t]);
    free(tok);
    free(answer);
    cJSON_Delete(info_own);
    cJSON_Delete(st);
    cJSON_Delete(md);
    ct_st_close(&f);
    return rc;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* DIR/cases/ *.bin, else DIR/ *.bin, sorted; *n files (caller frees each and the array). */
static int list_cases(const char *dir, char ***out, int *n)
{
    *out = NULL; *n = 0;
    char sub[4200];
    snprintf(sub, sizeof sub, "%s/cases", dir);
    const char *d = sub;
    DIR *h = opendir(sub);
    if (!h) { d = dir; h = opendir(dir); }
    if (!h) return -1;
    struct dirent *e;
    int cap = 0;
    while ((e = readdir(h))) {
        size_t k = strlen(e->d_name);
        if (k < 5 || strcmp(e->d_name + k - 4, ".bin") || e->d_name[0] == '.') continue;
        if (*n == cap) {
            cap = cap ? 2 * cap : 64;
            char **p = realloc(*out, (size_t)cap * sizeof *p);
            if (!p) break;
            *out = p;
        }
        size_t len = strlen(d) + k + 2;
        if (!((*out)[*n] = malloc(len))) break;
        snprintf((*out)[*n], len, "%s/%s", d, e->d_name);
        (*n)++;
    }
    closedir(h);
    if (*n) qsort(*out, (size_t)*n, sizeof **out, cmp_str);
    return 0;
}

static char *npz_name(const char *in)
{
    size_t k = strlen(in);
    char *o = malloc(k + 5);
    if (!o) return NULL;
    memcpy(o, in, k + 1);
    if (k > 4 && !strcmp(o + k - 4, ".bin")) o[k - 4] = 0;
    strcat(o, ".npz");
    return o;
}

int cmd_export(int argc, char **argv)
{
    static const char *const FLAGS[] = {"npz", "out", NULL};
    ct_args a;
    if (ct_args_parse(&a, argc, argv, FLAGS)) return 2;
    if (a.help) { fputs(usage_text, stdout); return 0; }
    if (a.npos) { fprintf(stderr, "ctrace: export: unexpected argument '%s' (give paths with --npz)\n", a.pos[0]); return 2; }
    const char *out = ct_args_str(&a, "out", NULL);
    char **files = NULL;
    int n = 0, cap = 0, rc = 0, dirs = 0;
    for (int i = 0; i < a.n; i++) {
        if (!ct_args_is(&a, i, "npz")) continue;
        const char *p = a.value[i];
        struct stat sb;
        if (stat(p, &sb)) { fprintf(stderr, "ctrace: export: %s: %s\n", p, strerror(errno)); rc = 1; goto done; }
        char **got = NULL;
        int ng = 0;
        if (S_ISDIR(sb.st_mode)) {
            dirs++;
            if (list_cases(p, &got, &ng)) { fprintf(stderr, "ctrace: export: %s: cannot read: %s\n", p, strerror(errno)); rc = 1; goto done; }
            if (!ng) { fprintf(stderr, "ctrace: export: %s: no case files (*.bin) in %s/cases or %s\n", p, p, p); free(got); rc = 1; goto done; }
        } else {
            got = malloc(sizeof *got);
            if (!got || !(got[0] = strdup(p))) { free(got); rc = 1; goto done; }
            ng = 1;
        }
        for (int k = 0; k < ng; k++) {
            if (n == cap) {
                cap = cap ? 2 * cap : 64;
                char **q = realloc(files, (size_t)cap * sizeof *q);
                if (!q) { rc = 1; goto done; }
                files = q;
            }
            files[n++] = got[k];
        }
        free(got);
    }
    if (!n) { fputs(usage_text, stderr); rc = 2; goto done; }
    if (out && (n != 1 || dirs)) { fprintf(stderr, "ctrace: export: --out needs exactly one case file (got %d)\n", n); rc = 2; goto done; }
    for (int i = 0; i < n; i++) {
        char *o = out ? strdup(out) : npz_name(files[i]);
        ct_err err = {0};
        if (!o) { fprintf(stderr, "ctrace: export: out of memory\n"); rc = 1; break; }
        if (export_one(files[i], o, &err)) { fprintf(stderr, "ctrace: export: %s\n", err.msg); rc = 1; }
        else printf("%s\n", o);
        free(o);
    }
done:
    for (int i = 0; i < n; i++) free(files[i]);
    free(files);
    return rc;
}
