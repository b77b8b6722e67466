/* tok.h — internals of the tokenizer (src/tokenizer/), shared by its stages.
 *
 * The pipeline mirrors Hugging Face `tokenizers`:
 *   original text
 *     -> added tokens that are matched on the raw text are cut out   (added.c)
 *     -> normalizer on the remaining pieces                          (normalize.c)
 *     -> added tokens matched on normalized text are cut out         (added.c)
 *     -> pre-tokenizer splits/transforms the remaining pieces        (pretokenize.c)
 *     -> BPE model turns every piece into tokens                     (bpe.c)
 *     -> post-processor: offset trimming, BOS/EOS templates          (postprocess.c)
 * and decoding runs the decoder chain                                (decode.c).
 *
 * Offsets: every byte of the working text carries the [s, e) byte span of
 * the original text it came from (HF's "alignments").  A token covering
 * working bytes [a, b) gets the span (al[a].s, al[b-1].e), exactly as HF's
 * NormalizedString::convert_offsets does. */
#ifndef CT_TOK_H
#define CT_TOK_H
#include <stdint.h>
#include <stddef.h>
#include <oniguruma.h>
#include "ctrace.h"

typedef struct tk_span { int32_t s, e; } tk_span;

/* Growable text with per-byte alignments. */
typedef struct tk_buf {
    char *b;                    /* [n] UTF-8 bytes */
    tk_span *al;                /* [n] original span of each byte */
    int32_t n, cap;
} tk_buf;

/* A piece of the working text: bytes [off, off+len) of the buffer.
 * id >= 0 when the piece is already one token (an added token). */
typedef struct tk_piece { int32_t off, len, id; } tk_piece;

typedef struct tk_text {
    tk_buf buf;
    tk_piece *p;                /* [np] in text order */
    int32_t np, pcap;
} tk_text;

int tk_buf_reserve(tk_buf *b, int32_t extra);
int tk_buf_put(tk_buf *b, const char *s, int32_t n, tk_span al);   /* all bytes get span al */
int tk_buf_copy(tk_buf *b, const char *s, const tk_span *al, int32_t n);
void tk_buf_free(tk_buf *b);
int tk_text_push(tk_text *t, int32_t off, int32_t len, int32_t id);
void tk_text_free(tk_text *t);

/* UTF-8: length of the valid sequence at s (1..4), or 0 if invalid/truncated. */
int tk_utf8_len(const unsigned char *s, size_t avail);
/* Decodes one code point of a valid sequence; *len gets its byte length. */
int32_t tk_utf8_decode(const unsigned char *s, int *len);
int tk_utf8_encode(int32_t cp, char *out);          /* returns 1..4 */
int tk_is_whitespace(int32_t cp);                   /* Rust char::is_whitespace */
int tk_is_alnum(int32_t cp);                        /* Rust char::is_alphanumeric (or _) */
int tk_is_numeric(int32_t cp);                      /* Rust char::is_numeric */
int tk_is_punct(int32_t cp);                        /* ASCII punctuation or Unicode P* (HF's is_punc) */
int tk_is_mark(int32_t cp);                         /* Unicode M* (combining marks) */

/* ---- hash maps ---------------------------------------------------------- */

typedef struct tk_strmap {       /* byte string -> int32, keys borrowed */
    struct tk_sm_slot { const char *k; int32_t len, val; uint32_t h; } *slot;
    uint32_t mask;
    int32_t n;
} tk_strmap;
int tk_strmap_init(tk_strmap *m, int32_t expected);
int tk_strmap_put(tk_strmap *m, const char *k, int32_t len, int32_t val);  /* 1 if new, 0 replaced */
int32_t tk_strmap_get(const tk_strmap *m, const char *k, int32_t len);      /* -1 when absent */
void tk_strmap_free(tk_strmap *m);

typedef struct tk_pairmap {      /* (left id, right id) -> (rank, merged id) */
    struct tk_pm_slot { uint64_t key; int32_t rank, id; } *slot;
    uint32_t mask;
    int32_t n;
} tk_pairmap;
int tk_pairmap_init(tk_pairmap *m, int32_t expected);
void tk_pairmap_put(tk_pairmap *m, int32_t a, int32_t b, int32_t rank, int32_t id);
const struct tk_pm_slot *tk_pairmap_get(const tk_pairmap *m, int32_t a, int32_t b);
void tk_pairmap_free(tk_pairmap *m);

/* ---- regex (Oniguruma, as HF uses) --------------------------------------- */

OnigRegex tk_regex_new(const char *pat, size_t len, ct_err *err);
/* Finds the matches of re in s[0..n) left to right (non-overlapping, empty
 * matches skipped).  Fills starts/ends (caller frees *m) and returns the count,
 * -1 when out of memory, -2 on a search error (Oniguruma's match limit). */
int tk_regex_matches(OnigRegex re, const char *s, int32_t n, int32_t **m);

/* ---- normalizers ---------------------------------------------------------- */

enum { TK_N_NFC, TK_N_NFD, TK_N_NFKC, TK_N_NFKD, TK_N_PREPEND, TK_N_REPLACE,
       TK_N_LOWERCASE, TK_N_STRIP, TK_N_STRIP_ACCENTS, TK_N_SEQ };

typedef struct tk_norm {
    int type;
    char *str; int32_t slen;    /* Prepend: text; Replace: pattern string */
    char *rep; int32_t rlen;    /* Replace: content */
    OnigRegex re;               /* Replace with a Regex pattern */
    int left, right;            /* Strip */
    struct tk_norm *sub; int nsub;   /* Sequence */
} tk_norm;

/* Appends the normalized form of in[0..n) (alignments al) to out. */
int tk_normalize(const tk_norm *nm, const char *in, const tk_span *al, int32_t n, tk_buf *out);
void tk_norm_free(tk_norm *nm);

/* ---- pre-tokenizers ------------------------------------------------------- */

enum { TK_P_BYTELEVEL, TK_P_SPLIT, TK_P_METASPACE, TK_P_DIGITS, TK_P_WHITESPACE,
       TK_P_WSSPLIT, TK_P_PUNCT, TK_P_BERT, TK_P_SEQ };
enum { TK_B_REMOVED, TK_B_ISOLATED, TK_B_PREV, TK_B_NEXT, TK_B_CONTIGUOUS };
enum { TK_PREPEND_ALWAYS, TK_PREPEND_FIRST, TK_PREPEND_NEVER };

typedef struct tk_pretok {
    int type;
    int add_prefix_space, use_regex;        /* ByteLevel */
    OnigRegex re;                           /* Split (regex), ByteLevel regex, Whitespace */
    char *lit; int32_t litlen;              /* Split with a String pattern */
    int behavior, invert;                   /* Split */
    char rep[8]; int replen;                /* Metaspace replacement char */
    int prepend_scheme, split;              /* Metaspace */
    int individual_digits;                  /* Digits */
    struct tk_pretok *sub; int nsub;        /* Sequence */
} tk_pretok;

int tk_pretokenize(const tk_pretok *pt, tk_text *t, ct_err *err);
void tk_pretok_free(tk_pretok *pt);

/* ---- BPE model -------------------------------------------------------------- */

typedef struct tk_bpe {
    int32_t nid;                /* 1 + largest model id */
    char **tok;                 /* [nid] piece of each id (NUL-terminated) or NULL */
    int32_t *toklen;            /* [nid] */
    tk_strmap vocab;
    tk_pairmap merges;
    int byte_fallback, fuse_unk, ignore_merges;
    int32_t unk_id;             /* -1 when none */
    char *cont_prefix, *eow_suffix;     /* NULL when none/empty */
    int32_t byte_id[256];       /* <0xXX> ids for byte fallback, -1 if missing */
} tk_bpe;

/* One output token: id and the working-text bytes [a, b) it covers. */
typedef struct tk_tok { int32_t id, a, b; } tk_tok;

/* Reusable scratch of the BPE merge loop. */
typedef struct tk_bpe_ws {
    struct tk_sym { int32_t id, start, len, prev, next; } *sym; int32_t symcap;
    struct tk_heap_ent { uint32_t rank, pos; int32_t id; } *heap; int32_t heapcap;
    char *tmp; int32_t tmpcap;
} tk_bpe_ws;

/* Tokenizes word w[0..n) and appends tokens (offsets relative to w) to *out. */
int tk_bpe_word(const tk_bpe *m, tk_bpe_ws *ws, const char *w, int32_t n,
                tk_tok **out, int32_t *nout, int32_t *cap);
void tk_bpe_ws_free(tk_bpe_ws *ws);
void tk_bpe_free(tk_bpe *m);

/* ---- added tokens ----------------------------------------------------------- */

typedef struct tk_added {
    int32_t id;
    char *content; int32_t len;         /* as written in the file */
    char *match; int32_t mlen;          /* what is searched: content, normalized when `normalized` */
    int special, lstrip, rstrip, normalized, single_word;
} tk_added;

typedef struct tk_addset {           /* tokens of one kind, bucketed by first byte */
    int32_t *idx;                    /* indexes into the added array, grouped by first byte, longest first */
    int32_t start[257];              /* bucket b is idx[start[b] .. start[b+1]) */
} tk_addset;

/* Splits every untokenized piece of t on the tokens of set (leftmost-longest). */
int tk_added_split(const tk_added *added, const tk_addset *set, tk_text *t);
int tk_addset_build(tk_addset *set, const tk_added *added, int32_t n, int normalized);

/* ---- post-processors ----------------------------------------------------------- */

enum { TK_PP_BYTELEVEL, TK_PP_TEMPLATE, TK_PP_SEQ };

typedef struct tk_tmpl_item { int is_special; int32_t *ids; int32_t nids; } tk_tmpl_item;

typedef struct tk_post {
    int type;
    int trim_offsets, add_prefix_space;     /* ByteLevel */
    tk_tmpl_item *items; int nitems;        /* Template, single sequence */
    struct tk_post *sub; int nsub;
} tk_post;

/* A token during encoding: id, original span, and its text (for offset trimming). */
typedef struct tk_etok { int32_t id, s, e; const char *str; int32_t slen; } tk_etok;

/* text: the original text (offsets move by its chars). */
int tk_postprocess(const tk_post *pp, tk_etok **toks, int32_t *n, int32_t *cap, int add_special,
                   const char *text);
void tk_post_free(tk_post *pp);

/* ---- decoders --------------------------------------------------------------------- */

enum { TK_D_BYTELEVEL, TK_D_METASPACE, TK_D_REPLACE, TK_D_BYTEFALLBACK, TK_D_FUSE,
       TK_D_STRIP, TK_D_SEQ };

typedef struct tk_dec {
    int type;
    char *pat; int32_t plen;        /* Replace pattern / Strip content / Metaspace replacement */
    char *rep; int32_t rlen;        /* Replace content */
    int start, stop;                /* Strip */
    int prepend_scheme;             /* Metaspace */
    struct tk_dec *sub; int nsub;
} tk_dec;

/* A list of owned strings being decoded. */
typedef struct tk_strs { char **s; int32_t *len; int32_t n, cap; } tk_strs;
int tk_strs_push(tk_strs *v, const char *s, int32_t len);
void tk_strs_free(tk_strs *v);
int tk_decode_chain(const tk_dec *d, tk_strs *v);
void tk_dec_free(tk_dec *d);

/* ---- the tokenizer ------------------------------------------------------------------ */

struct ct_tokenizer {
    char *path;
    tk_bpe bpe;
    tk_norm *norm;              /* NULL: none */
    tk_pretok *pre;
    tk_post *post;
    tk_dec *dec;
    tk_added *added; int32_t nadded;
    tk_addset set_raw, set_norm;        /* added tokens matched before / after normalization */
    tk_strmap added_map;        /* content -> index into added */
    int32_t *added_of_id;       /* [vocab_size] index into added, or -1 */
    int32_t vocab_size;         /* 1 + largest id */
    int32_t bos_id, eos_id;
};

/* GPT-2 byte <-> unicode alphabet. */
int tk_byte_to_char(unsigned char b, char out[2]);     /* UTF-8 of the char, returns 2 or 1 bytes */
int tk_char_to_byte(int32_t cp);                       /* -1 when cp is not in the alphabet */

int32_t tk_token_id(const ct_tokenizer *t, const char *s);
int tk_load_json(ct_tokenizer *t, const char *json, size_t len, const char *path, ct_err *err);

#endif
