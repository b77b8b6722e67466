/*
 * ctrace_app.h — ctrace's application layer, on top of the core (ctrace.h):
 * dataset rows, prompts and their spans, row plans, case descriptions and
 * case files as reports read them, heat maps and figures, segment averages,
 * summary lines, and whole runs (`ctrace run`).  These need cairo; the core
 * does not.  They are in the static library (build/libctrace.a) that the
 * `ctrace` program and the tests link; libctrace.so is the core alone, and
 * build/libctrace_app.so is this layer as a shared library on top of it
 * (linked against libctrace.so.0; what python/ctrace's run() loads).
 * The conventions of ctrace.h hold here too.
 */
#ifndef CTRACE_APP_H
#define CTRACE_APP_H

#include "ctrace.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------ */
/* 8. Experiments: dataset rows, prompts, spans; reports: case files,       */
/*    heat maps, segment averages, summary lines                             */
/* ------------------------------------------------------------------------ */
/* The path of one dataset row to a case and its figures:
 *
 *   ct_dataset_next      JSONL line -> ct_row (per-row errors name file:line)
 *   ct_prompt_build      ct_row + --prompt_format -> prompt text + byte spans
 *                        (passage, prompt/question, subject, object, relation)
 *   ct_token_spans       byte spans + per-token byte offsets -> token ranges
 *   (tokenizer + tracing engine run here, in `ctrace run`)
 *   ct_case_info_json    the "ctrace_case" metadata value of the case file
 *   ct_summary_line      one summary.jsonl line per case
 *   ct_case_load         case file -> IE grid + ct_case_info (for plot/average)
 *   ct_heatmap_write     one heat map (PDF/PNG/SVG, cairo)
 *   ct_average_*         IE averaged by token segment over many cases
 *
 * All offsets are bytes of UTF-8 text; every range is half-open [b, e). */

/* Ranges are ct_interval (ctrace.h): bytes of a text or token positions, as
 * stated where used; b == e == 0 means "none". */

/* One dataset row in the seed tool's shape (see docs/design.md).  Strings are
 * owned by the row; optional fields are NULL / 0 when absent. */
typedef struct ct_row {
    int line;                   /* 1-based line number in the JSONL file */
    char *question;             /* optional ({question}) */
    char **answers;             /* [n_answers] answers[0] is scored; non-empty */
    int n_answers;
    char *subj, *obj;           /* required, non-empty */
    char *prop;                 /* optional, e.g. "P17" */
    char *context;              /* passages[0].text, required, non-empty */
    char *prompt_wo_ctx;        /* optional ({prompt}) */
    char *prompt_with_ctx;      /* optional (informative only) */
    char **obj_cf;              /* [n_obj_cf] counterfactual objects */
    int n_obj_cf;
} ct_row;

/* Parses one JSON line into row (zeroed on failure).  Errors: "line N:
 * malformed JSON", "line N: missing field \"subj\"", "line N: empty answer"...
 * Unknown fields are ignored. */
CT_API int ct_row_parse(ct_row *row, const char *text, size_t len, int line, ct_err *err);
CT_API void ct_row_free(ct_row *row);

/* Reads a JSONL dataset line by line (blank lines are skipped). */
typedef struct ct_dataset ct_dataset;
CT_API int ct_dataset_open(ct_dataset **out, const char *path, ct_err *err);
/* 1: a row was read into row;  0: end of file;  -1: this line is bad (err says
 * "PATH:LINE: reason"; row is zeroed) and reading may go on with the next call. */
CT_API int ct_dataset_next(ct_dataset *d, ct_row *row, ct_err *err);
CT_API void ct_dataset_close(ct_dataset *d);

/* The prompt formats.  CT_PROMPT_FORMAT_DEFAULT is the seed project's
 * context-first QA format (utils/constants.py QA_T1_PROMPT_FORMAT); the seed's
 * argparse default has no {context}: then the question is traced in instead
 * of a passage (see ct_prompt_build). */
#define CT_PROMPT_FORMAT_DEFAULT "C: {context} Q: {prompt} A:"
#define CT_PROMPT_FORMAT_SEED_ARGPARSE "question: {question} answer: <extra_id_0>"

/* A formatted prompt and the byte spans inside its text. */
typedef struct ct_prompt {
    char *text;                 /* the formatted prompt, NUL-terminated */
    int len;                    /* strlen(text) */
    char *context;              /* the passage as placed in text (owned) */
    ct_interval passage;        /* the (first) {context} substitution; without
                                   {context}: the same as prompt */
    ct_interval prompt;         /* the first {prompt} or {question} substitution */
    ct_interval subject;        /* the subject's mention inside the passage */
    ct_interval object;         /* the object's mention, not overlapping the subject */
    ct_interval relation[3];    /* passage bytes outside both mentions */
    int n_relation;
    int subject_nocase, object_nocase;   /* 1 = found by the ASCII case-insensitive fallback */
    const char *cf;             /* the counterfactual object placed in the passage, or NULL */
    int no_context;             /* 1: fmt has no {context}; the mentions are in the question */
    const char *searched;       /* what the mentions were searched in: "passage", "question"
                                   or "prompt" (static string) */
} ct_prompt;

/* Formats row with fmt ({context}, {prompt}, {question}; "{{" and "}}" are
 * literal braces; fmt NULL = CT_PROMPT_FORMAT_DEFAULT) and finds the spans.
 * Mentions: every occurrence of subj and obj in the passage is a candidate
 * (case-sensitive; when a string has none, ASCII case-insensitive); the
 * non-overlapping (subject, object) pair with the most whole-word matches wins,
 * ties going to the earliest subject, then the earliest object.  So obj
 * "Sweden" inside subj "Sweden national team" takes the other occurrence, and
 * subj "Louis I" is not matched inside obj "Louis II of Naples".
 * cf (NULL = none): the counterfactual context: every occurrence of the object
 * string in the passage that does not overlap the chosen subject mention is
 * replaced by cf (the seed replaces all of them), and prompt->object is the
 * mention that replaced the chosen one.
 * Without {context} in fmt (the seed's argparse default), the first {prompt} or
 * {question} substitution stands in for the passage (p->passage == p->prompt,
 * p->no_context = 1); cf must be NULL.
 * The subject must be found; the object is optional (a question rarely names
 * its answer; a passage may not name it either, and experiments 1 and 3 do not
 * need it): when it has no mention apart from the subject, p->object is empty
 * (b == e, right after the subject) and the relation is the passage outside
 * the subject.  ct_row_plan_make refuses experiment 2 without an object.
 * Errors (per row): a placeholder the row lacks, none of the three
 * placeholders in fmt, subject not found, object not found with cf, no
 * non-overlapping pair with cf, cf without {context}. */
CT_API int ct_prompt_build(ct_prompt *p, const ct_row *row, const char *fmt, const char *cf, ct_err *err);
CT_API void ct_prompt_free(ct_prompt *p);

/* Token ranges of one prompt (token positions, half-open). */
typedef struct ct_token_spans {
    int T;                      /* tokens in the prompt */
    ct_interval passage, prompt, subject, object;
    ct_interval relation[3];    /* passage tokens that are neither subject nor object */
    int n_relation;
    int last;                   /* T - 1 */
} ct_token_spans;

/* The tokens [b, e) whose byte offsets overlap bytes = every token with
 * start < bytes.e and end > bytes.b; empty tokens (start == end, e.g. BOS) never
 * overlap.  offsets [T, 2]: per token [start, end) in the prompt text.
 * Returns {0,0} for an empty span; -1 with an error when no token overlaps. */
CT_API int ct_token_range(const int32_t *offsets, int T, ct_interval bytes, ct_interval *out, ct_err *err);

/* All token ranges of p from offsets [T, 2]. */
CT_API int ct_token_spans_of(const ct_prompt *p, const int32_t *offsets, int T, ct_token_spans *out, ct_err *err);

/* Experiment types of the seed tool: what the noise goes on. */
enum { CT_EXP_SUBJECT = 1, CT_EXP_OBJECT = 2, CT_EXP_RELATION = 3 };

/* Everything one row needs before tracing, for one experiment and one
 * context (the row's passage, or a counterfactual context): the prompt, its
 * tokens and spans, the target ranges to corrupt, the answer and
 * counterfactual token ids, and the token texts for the case description. */
typedef struct ct_row_plan {
    ct_prompt prompt;
    ct_encoding enc;            /* the prompt's tokens, specials as the tokenizer adds them */
    ct_token_spans spans;
    int32_t ranges[3][2];       /* [n_ranges, 2] target token ranges: the subject (1), */
    int n_ranges;               /* the object (2) or the relation runs (3) */
    int32_t *answer;            /* [n_answer] " " + answers[0], no specials */
    int n_answer;
    int n_cf;                   /* min(max_cf, n_obj_cf) */
    int32_t **cf;               /* [n_cf][cf_len[c]] " " + obj_cf[c] */
    int *cf_len;                /* [n_cf] */
    char **tokens;              /* [enc.n] each token decoded on its own (specials kept) */
    int *cf_row_index;          /* [n_cf] the obj_cf index of cf[c] (a counterfactual context scores
                                   its own counterfactual first) */
} ct_row_plan;

/* experiment: CT_EXP_*; cf_context: NULL, or the counterfactual object to put
 * in the passage (see ct_prompt_build); max_cf < 0 = all of obj_cf.  Errors are
 * per row ("line N: ..."): spans not found, an empty target (experiment 2
 * without {context}: "object \"X\" not found in the question ..."), an answer that
 * tokenizes to nothing. */
CT_API int ct_row_plan_make(ct_row_plan *p, const ct_row *row, const ct_tokenizer *tk, const char *fmt,
                     int experiment, const char *cf_context, int max_cf, ct_err *err);
CT_API void ct_row_plan_free(ct_row_plan *p);

/* --- case files: the metadata `ctrace run` records, read back ----------- */


/* The most probable next tokens after the prompt in one run (or the mean
 * over the corrupted runs' probabilities), with their texts: from the trace
 * result's top_* arrays. */
typedef struct ct_top_tokens {
    int n;                      /* 0 = not recorded */
    int32_t id[CT_TOP_K];
    float p[CT_TOP_K];
    char *text[CT_TOP_K];       /* the token decoded alone */
} ct_top_tokens;

/* What plots, averages and summaries need to know about one case, recorded in
 * the case file's metadata (docs/run-output.md): as the "case" member of the
 * "ctrace" settings JSON (see ct_case_extra_json) or as a top-level
 * "ctrace_case" JSON string.  Spans are TOKEN ranges. */
typedef struct ct_case_info {
    int row;                    /* 0-based row index in the dataset (the seed's i) */
    int line;                   /* 1-based JSONL line, 0 = unknown */
    char kind[16];              /* "hidden", "mlp" or "attention" */
    int experiment;             /* CT_EXP_*, 0 = unknown */
    int window;                 /* restored layers per cell (1 for hidden) */
    int reverse;                /* 1: reverse patching (corrupted states put into the clean run) */
    char *answer;               /* answers[0], no leading space */
    char *metric;               /* "prob", "logprob", "logratio" */
    char *cf;                   /* counterfactual object in the passage, or NULL */
    char *text;                 /* the formatted prompt, or NULL */
    int T;
    char **tokens;              /* [T] token texts (as decoded one by one) */
    ct_token_spans spans;
    char *model_id;             /* ct_model_identity of the traced model, or NULL (older files) */
    ct_top_tokens top_clean;    /* what the model predicts after the prompt: clean run */
    ct_top_tokens top_corrupt;  /* and mean over the corrupted runs (n = 0: not recorded) */
    int noise_source;           /* ct_noise_source of the trace ("noise_source"; absent: Gaussian) */
    int patch_source;           /* ct_patch_source of the trace ("patch_source"; absent: the opposite run) */
} ct_case_info;

/* The identity of a model directory, for case files and resume checks: a hash
 * (FNV-1a 64) of config.json's bytes and of every *.safetensors file's name,
 * size and header (tensor names, dtypes, shapes, offsets), with the count and
 * bytes of the weight files: "fnv1a64:<16 hex> (config.json + N safetensors
 * header(s), B bytes of weights files)".  The weights themselves are not read. */
CT_API int ct_model_identity(const char *model_dir, char *out, size_t cap, ct_err *err);

/* The case description as compact JSON text (caller frees). */
CT_API char *ct_case_info_json(const ct_case_info *ci);
/* {"case": <ct_case_info_json>}: pass it as ct_case_write's extra_json, so the
 * description lands in the "ctrace" settings JSON of the case file, where
 * ct_case_load finds it (a top-level "ctrace_case" string is read too). */
CT_API char *ct_case_extra_json(const ct_case_info *ci);
CT_API int ct_case_info_parse(ct_case_info *ci, const char *json, ct_err *err);
CT_API void ct_case_info_free(ct_case_info *ci);

/* A case description from a plan (strings copied; free with ct_case_info_free). */
CT_API int ct_row_plan_case_info(const ct_row_plan *p, const ct_row *row, int row_index, int experiment,
                          const char *kind, int window, const char *metric, ct_case_info *ci, ct_err *err);

/* A case file, read for plotting and averaging.  May also be filled by hand
 * from a trace still in memory (info, T, L, ie, targets, n_targets) to draw
 * its figure with ct_case_figure_of without reading the file back. */
typedef struct ct_case {
    char *path;
    ct_case_info info;          /* the recorded description; else kind/window/metric
                                   from the settings and "#id" token labels */
    int has_info;               /* 1 when the description was present */
    int T, L;
    float *ie;                  /* [T, L] `ie`, or `scores` - `low_score` */
    float low_score, high_score, te;   /* NaN when absent */
    int32_t *targets;           /* [n_targets, 2] `target_ranges` (may be NULL) */
    int n_targets;
    char *model;                /* the trace settings' "model" (the model path), or NULL */
} ct_case;

CT_API int ct_case_load(ct_case *c, const char *path, ct_err *err);
CT_API void ct_case_free(ct_case *c);

/* --- heat maps (cairo; looks like ROME's / the seed's matplotlib figures) -- */

typedef enum ct_plot_format { CT_PLOT_PDF = 0, CT_PLOT_PNG = 1, CT_PLOT_SVG = 2 } ct_plot_format;
/* "pdf", "png", "svg" -> format; -1 on an unknown name. */
CT_API int ct_plot_format_parse(const char *name, ct_plot_format *out);
CT_API const char *ct_plot_format_ext(ct_plot_format f);   /* "pdf", ... */

/* One heat-map panel: row r is drawn at the top for r = 0. */
typedef struct ct_heatmap {
    const float *values;        /* [rows, cols]; NaN = no data, drawn grey and hatched */
    int rows, cols;
    const char *const *labels;  /* [rows] row labels (any bytes; invalid UTF-8 is shown as U+FFFD) */
    const unsigned char *star;  /* [rows] 1 = append "*" (a corrupted token), or NULL */
    const char *kind;           /* "hidden" (Purples), "mlp" (Greens), "attention" (Reds) */
    const char *title;          /* may contain one '\n' */
    const char *xlabel;
    const char *cbar_label;     /* under the colour bar */
    float vmin, vmax;           /* colour range; NaN = from the data (ct_heatmap_range) */
    int hide_labels;            /* 1: ticks only (a panel beside one with the same labels) */
    int bars;                   /* 1 (cols == 1): each row a horizontal bar from 0, coloured like a
                                   cell, on a value axis under the panel (its unit: xlabel); no colour bar */
} ct_heatmap;

/* Draws n panels side by side (row labels on each panel) into path, written
 * to a temporary name, flushed, fsynced and closed with every step checked
 * (a full disk fails the call), then renamed.  Height grows with rows (0.15 in a row,
 * like the seed's ratio), so 150-token prompts stay readable. */
CT_API int ct_heatmap_write(const ct_heatmap *panels, int n, const char *path, ct_plot_format fmt, ct_err *err);

/* 1 when path holds a whole figure of that format (PDF: "%PDF-" ... "%%EOF";
 * PNG: signature ... IEND; SVG: ... "</svg>"), 0 when absent or cut short
 * (a disk that filled up under an older ctrace): `ctrace run` redraws it. */
CT_API int ct_figure_complete(const char *path, ct_plot_format fmt);

/* The figure of a head trace (docs/heads.md): ie [T, L, H] as two layer × head
 * panels, IE at the last token and at last_corrupted (-1: none, the last token
 * again), one colour range. */
CT_API int ct_head_figure_write(const float *ie, int T, int L, int H, int last_corrupted, const char *path,
                                ct_plot_format fmt, ct_err *err);
/* An attribution file (`ctrace attribute --out F`, `ctrace run --attribute 1`:
 * ct_attribution_write) read for its figure.  corrupted_* are NULL / NaN when
 * the file has no corrupted run.  Texts are NULL when not recorded. */
typedef struct ct_attribution_file {
    int L, H;
    float *heads, *mlp;             /* [L, H], [L]: the clean run's */
    float embed, total;             /* NaN when absent */
    float *corrupted_heads, *corrupted_mlp;
    float corrupted_embed, corrupted_total;
    int32_t answer, cf;             /* the two tokens (answer_cf_ids) */
    int32_t *targets;               /* [n_targets, 2] the corrupted tokens, or NULL */
    int n_targets;
    int samples;                    /* the corrupted run's noise samples (0: unknown) */
    int experiment;                 /* CT_EXP_* when ctrace run wrote it, else 0 */
    char *answer_text, *cf_text;    /* ctrace run's row: the answer and the counterfactual */
    char *context;                  /* "passage" / "counterfactual" (ctrace run) */
} ct_attribution_file;
CT_API int ct_attribution_load(ct_attribution_file *a, const char *path, ct_err *err);
CT_API void ct_attribution_file_free(ct_attribution_file *a);

/* The figure of an attribution file (docs/heads.md): a layer × head map of the
 * heads' direct contributions to logit(answer) − logit(cf) and a bar per
 * layer for the MLPs, side by side; with a corrupted run, its map and bars
 * beside them.  Both maps share one colour range and both bar panels one
 * value axis (ct_heatmap_range over all their values: signed, centred on 0,
 * never clipped).  h[0..n): heads, mlp[, corrupted heads, corrupted mlp];
 * their values point into a.  Free with ct_attribution_figure_free. */
typedef struct ct_attribution_figure {
    ct_heatmap h[4];
    int n;
    char *titles[4], *cbar, *xlabel_bars;
    char **labels;                  /* [L] "layer l" */
    int L;
} ct_attribution_figure;
CT_API int ct_attribution_figure_of(ct_attribution_figure *f, const ct_attribution_file *a, ct_err *err);
CT_API void ct_attribution_figure_free(ct_attribution_figure *f);
/* Reads the attribution file in_path and writes its figure to out. */
CT_API int ct_attribution_plot(const char *in_path, const char *out, ct_plot_format fmt, ct_err *err);

/* The colour range a panel is drawn with.  From the data (vmin/vmax NaN):
 * [min(0, lo), max(0, hi)] over its non-NaN values, widened to [-M, M]
 * (M = max |v|) when both signs matter (the smaller side is more than a tenth
 * of M).  Nothing is clipped: a reverse-patching grid (all IE <= 0) is drawn
 * in full.  Returns 1 when the range holds both signs (a diverging scale). */
CT_API int ct_heatmap_range(const ct_heatmap *h, float *vmin, float *vmax);
/* The colour of v in a panel with range [vmin, vmax]: white at 0; v > 0 in the
 * kind's map (Purples, Greens, Reds), v < 0 in its negative ramp (Oranges,
 * Purples, Blues), both by |v| / max(|vmin|, |vmax|); a range with vmin >= 0 is
 * ROME's sequential scale from vmin (lower values clipped); NaN is grey. */
CT_API void ct_heatmap_color(const ct_heatmap *h, float vmin, float vmax, float v, double rgb[3]);

/* The seed's/ROME's text for a case: title "Impact of restoring state after
 * corrupted input", xlabel "single restored layer" or "center of interval of
 * W restored MLP layers", colour-bar label naming the metric and answer.
 * Fills h from c (values = c->ie, labels = tokens, stars = target ranges);
 * bufs own the strings and the star array; free with ct_case_figure_free. */
typedef struct ct_case_figure { ct_heatmap h; char *title, *xlabel, *cbar; unsigned char *star; char **labels; } ct_case_figure;
/* A token's row label that shows word boundaries: whitespace-only tokens as
 * U+2423 OPEN BOX per space ("\u2423"), a token that continues the word of
 * the token before it (no leading space, letters or digits on both sides of
 * the joint) with a leading U+00B7 MIDDLE DOT: "Mount", " St", "·rom", "·lo".
 * prev may be NULL (the first token).  Caller frees. */
CT_API char *ct_token_label(const char *prev, const char *tok);
CT_API int ct_case_figure_of(ct_case_figure *out, const ct_case *c, ct_err *err);
CT_API void ct_case_figure_free(ct_case_figure *out);

/* --- segment averages (`ctrace average`) -------------------------------- */

/* Token segments, in figure order.  A subject of one token is both its first
 * and last token (ROME's convention); "middle" = tokens strictly inside.
 * BEFORE = passage tokens before the first entity; BETWEEN = passage tokens
 * between the two entities; AFTER = passage tokens after the second;
 * PROMPT = tokens of {prompt}/{question} except the last token; LAST = T-1.
 * Template tokens outside passage and prompt (BOS, "C:", " Q:") belong to no
 * segment (IE there is 0 or template noise). */
enum {
    CT_SEG_BEFORE, CT_SEG_SUBJ_FIRST, CT_SEG_SUBJ_MID, CT_SEG_SUBJ_LAST, CT_SEG_BETWEEN,
    CT_SEG_OBJ_FIRST, CT_SEG_OBJ_MID, CT_SEG_OBJ_LAST, CT_SEG_AFTER, CT_SEG_PROMPT,
    CT_SEG_LAST, CT_SEG_COUNT
};
/* ROME's layout (Meng et al. 2022, Figure 2 and its notebooks): six rows
 * relative to the CORRUPTED tokens (the case's target ranges; for experiment 3
 * the relation runs): first, middle (every other corrupted token) and last
 * corrupted token, the first token after the last corrupted one, the further
 * tokens up to the last token, the last token.  Tokens before the last
 * corrupted token that are not corrupted (before the span: IE 0; between the
 * relation runs) belong to no ROME row.  Rows CT_SEG_COUNT .. CT_SEG_ALL - 1. */
enum {
    CT_ROME_CORR_FIRST = CT_SEG_COUNT, CT_ROME_CORR_MID, CT_ROME_CORR_LAST, CT_ROME_FIRST_AFTER,
    CT_ROME_FURTHER, CT_ROME_LAST, CT_SEG_ALL
};
#define CT_ROME_COUNT (CT_SEG_ALL - CT_SEG_COUNT)
CT_API const char *ct_segment_name(int seg);        /* "first subject token", ..., "last corrupted token", ... */
CT_API const char *ct_segment_key(int seg);         /* "subj_first", ..., "rome_corr_last", ... (CSV) */

/* mask [T]: bit s set when token t belongs to (entity) segment s. */
CT_API int ct_segments_of(const ct_token_spans *s, int T, uint32_t *mask, ct_err *err);
/* ORs ROME's rows into mask [T] from the corrupted tokens corrupted [T]
 * (1 = corrupted); -1 when no token is corrupted. */
CT_API int ct_rome_segments_of(const unsigned char *corrupted, int T, uint32_t *mask, ct_err *err);
/* corrupted [T]: 1 for the case's corrupted tokens (its target_ranges, else
 * the span of its experiment).  Returns how many. */
CT_API int ct_case_corrupted(const ct_case *c, unsigned char *corrupted);

/* Running averages of IE [T, L] grids by segment, for one kind, over cases
 * of one design (ct_average_dirs refuses to mix designs). */
typedef struct ct_average {
    int L;                      /* 0 until the first case fixes it */
    int n_cases;
    int window;                 /* the cases' window (-1 when they differ; set by ct_average_dirs) */
    int contexts;               /* CT_CTX_*: which cases were taken (set by ct_average_dirs) */
    /* what the cases are (set by ct_average_dirs from its first case) */
    int experiment;             /* CT_EXP_*, 0 unknown */
    int reverse;                /* 1: reverse patching */
    int cf_context;             /* 1: traced on counterfactual contexts */
    char metric[16];            /* "prob", ... ("" unknown) */
    char model[512];            /* the model's identity or path ("" unknown) */
    /* case-mean: mean over cases of the per-case segment mean */
    double *case_sum;           /* [CT_SEG_ALL, L] sum of per-case segment means */
    double *case_sq;            /* [CT_SEG_ALL, L] sum of their squares (for the 95% interval) */
    int n_case[CT_SEG_ALL];     /* cases having a token in the segment */
    /* pooled: mean over all tokens of the segment, all cases together */
    double *tok_sum;            /* [CT_SEG_ALL, L] */
    long n_tok[CT_SEG_ALL];
    /* total effects (ATE = te_sum / n_te) */
    double te_sum, te_sq;
    int n_te;
    /* head cases (kind "head", ie [T, L, H]): H query heads, and each segment's
     * row holds L·H values (layer-major: [L / H layers, H heads]), i.e. L above
     * is the number of columns = layers × H.  0 for the sublayer kinds. */
    int H;
} ct_average;

CT_API void ct_average_init(ct_average *a);
/* mask bits: entity segments and (optionally) ROME's rows. */
CT_API int ct_average_add(ct_average *a, const float *ie, int T, int L, const uint32_t *mask, ct_err *err);
/* out [CT_SEG_COUNT, L]: the entity-segment averages (NaN where a segment has no data). pooled 0/1. */
CT_API void ct_average_result(const ct_average *a, int pooled, float *out);
/* out [n_seg, L] for segments seg0 .. seg0 + n_seg - 1 of CT_SEG_ALL:
 *   CT_STAT_CASE_MEAN  mean over cases of the per-case segment means (AIE)
 *   CT_STAT_POOLED     mean over all the segment's tokens
 *   CT_STAT_CI95       1.96 * std / sqrt(n) of the per-case segment means,
 *                      std with n - 1 (as torch.std in ROME's notebooks); NaN when n < 2 */
enum { CT_STAT_CASE_MEAN, CT_STAT_POOLED, CT_STAT_CI95 };
CT_API void ct_average_stat(const ct_average *a, int seg0, int n_seg, int stat, float *out);
/* ATE (mean TE over the cases) and its 95% half-width (NaN when n < 2). */
CT_API void ct_average_ate(const ct_average *a, double *ate, double *ci95);
CT_API void ct_average_free(ct_average *a);

/* Kinds in figure order (the ct_kind order): 0 hidden, 1 mlp, 2 attention;
 * -1 when unknown, and for "head" (its grids are [T, L, H]: drawn by
 * ct_head_figure_write, averaged by ct_average_dirs_heads).  Names: ct_kind_name((ct_kind)k). */
CT_API int ct_kind_index(const char *kind);

/* Reads every case file of every dir into avg[3] (by kind): DIR/cases/ *.bin,
 * else DIR/ *.bin, else DIR/ * /cases/ *.bin (a folder of run dirs, e.g. one
 * per shard).  Files are read in sorted order.  contexts: CT_CTX_ALL, or only
 * the cases traced on the row's own passage (CT_CTX_ORIGINAL, "cf" null) or on
 * a counterfactual context (CT_CTX_CF); the others are left out, not skipped.
 * Files that cannot be used (no "ctrace_case", no IE, unreadable) are skipped;
 * skipped (may be NULL) gets their count and first_skip their first reason.
 * -1 when a dir cannot be read, and -1 naming both files when the cases do
 * not share one design: experiment, direction (restoring / corrupting),
 * metric, context (original passage / counterfactual; with CT_CTX_ALL pick
 * one) and model must be the same in every case of every kind. */
enum { CT_CTX_ALL, CT_CTX_ORIGINAL, CT_CTX_CF };   /* which contexts to average (or trace: ct_run_settings) */
/* "all", "original", "cf" <-> CT_CTX_*; parse: 0 / -1. */
CT_API const char *ct_contexts_name(int contexts);
CT_API int ct_contexts_parse(const char *s, int *contexts);
CT_API int ct_average_dirs(ct_average avg[3], const char *const *dirs, int n_dirs, int contexts,
                    int *skipped, ct_err *first_skip, ct_err *err);
/* The same, and the head cases into *heads (ct_average_init'ed; H set from
 * the first head case; every head case must have the same L and H): their IE
 * [T, L, H] averaged per segment into [segment, L, H].  The design rule spans
 * all kinds, heads included.  heads NULL: ct_average_dirs (head cases left out). */
CT_API int ct_average_dirs_heads(ct_average avg[3], ct_average *heads, const char *const *dirs, int n_dirs, int contexts,
                                 int *skipped, ct_err *first_skip, ct_err *err);
/* average_heads.csv: kind,aggregation,segment,n_cases,n_tokens,n,layer,head_0..head_{H-1}:
 * one line per aggregation (case_mean, pooled, ci95), segment (entity and ROME's
 * rows) and layer; then "ate,te" and "ate_ci95,te" (the value in head_0, layer empty). */
CT_API int ct_average_write_heads_csv(const ct_average *heads, const char *path, ct_err *err);
/* average_heads figure: two layer × head maps, the AIE of the last token and
 * of the last corrupted token (ROME's rows), one colour range (signed, centred
 * on 0, never clipped).  flags: CT_AVG_POOLED (else the case mean). */
CT_API int ct_average_heads_plot(const ct_average *heads, int flags, const char *path, ct_plot_format fmt, ct_err *err);

/* CSV: kind,aggregation,segment,n_cases,n_tokens,n,layer_0..layer_{L-1}.
 * aggregation: case_mean, pooled, ci95 (the case-mean's 95% half-width) over
 * the entity segments and ROME's rows (keys rome_*); then per kind the rows
 * "ate,te" (ATE in layer_0) and "ate_ci95,te". */
CT_API int ct_average_write_csv(const ct_average avg[3], const char *path, ct_err *err);
/* One figure of kinds[] (indexes into avg), one panel each.  flags:
 * CT_AVG_POOLED (else the case mean), CT_AVG_ROME (ROME's six rows, else the
 * entity segments).  Titles name the experiment, the direction, the metric
 * and the aggregation; corrupted segments are starred; segments without data
 * are grey and hatched. */
enum { CT_AVG_POOLED = 1, CT_AVG_ROME = 2 };
CT_API int ct_average_plot(const ct_average avg[3], const int *kinds, int n_kinds, int flags,
                    const char *path, ct_plot_format fmt, ct_err *err);
/* ROME's line plot: AIE by layer of the last corrupted token and of the last
 * token, with 95% bands, one panel per kind of kinds[]. */
CT_API int ct_average_lineplot(const ct_average avg[3], const int *kinds, int n_kinds,
                        const char *path, ct_plot_format fmt, ct_err *err);

/* --- run output lines (summary.jsonl, errors.jsonl) --------------------- */

/* One summary.jsonl line (no newline; caller frees): row, line, kind,
 * experiment, answer, cf, tokens, spans, p_clean, p_corrupt, te, and the top
 * IE cell {"token","layer","ie"}; ie [T, L] with T = ci->T. */
CT_API char *ct_summary_line(const ct_case_info *ci, int L, const float *ie,
                      float p_clean, float p_corrupt, float te);
/* One errors.jsonl line: {"row":i,"line":n,"file":...,"error":msg}. */
CT_API char *ct_error_line(int row, int line, const char *file, const char *msg);

/* run.json: what was run, on what, and how long it took. */
typedef struct ct_run_record {
    int argc; char *const *argv;    /* the command line, verbatim */
    const char *settings_json;      /* the resolved settings, a JSON object (NULL = none) */
    const char *model, *tokenizer, *data_path, *output_dir;
    double started, finished;       /* Unix time in seconds */
    int rows_total, rows_ok, rows_skipped;
    int cases_written, cases_reused; /* reused = found finished from an earlier run */
} ct_run_record;
/* Pretty-printed JSON object (caller frees), with "ctrace_version". */
CT_API char *ct_run_json(const ct_run_record *r);

/* Output names, as the seed names them, made safe for file systems:
 * ct_case_name -> "{row}_{kind}_{obj}.bin" and ct_pdf_name ->
 * "{answer}_{row}_{kind}.{ext}" (with cf != NULL: "{answer}_{row}_{kind}_{cf}.{ext}"),
 * where spaces and '_' in obj/cf become '-' (the seed's rule), answers are
 * trimmed, and '/', NUL-unsafe and control bytes become '-'.  A name past 200 bytes has its
 * obj/answer/cf cut to a prefix + "~" + 16 hex digits of their hash (docs/run-output.md).
 * 0, or -1 when cap is too small. */
CT_API int ct_case_name(char *buf, size_t cap, int row, const char *kind, const char *obj);
CT_API int ct_pdf_name(char *buf, size_t cap, const char *answer, int row, const char *kind, const char *cf, const char *ext);


/* ------------------------------------------------------------------------ */
/* 9. Runs: a JSONL dataset traced into an output directory (`ctrace run`)   */
/* ------------------------------------------------------------------------ */
/* ct_run walks a dataset row by row and, for each selected row, context and
 * kind, traces one case and writes (docs/run.md, docs/run-output.md):
 *   OUT/cases/{i}_{kind}_{obj}.bin   the case file (ct_case_write, with the
 *                                    case description as extra metadata)
 *   OUT/pdfs/{answer}_{i}_{kind}.pdf its heat map (plot_format: .png / .svg)
 *   OUT/summary.jsonl, OUT/errors.jsonl, OUT/run.json
 * Rows that cannot be traced (malformed JSON, missing fields, empty answer,
 * span not found, prompt too long for the model, ...) go to errors.jsonl and
 * the run goes on.  A case file already present under its final name counts
 * as done and is not traced again (files are written to a temporary name and
 * renamed, so a killed run leaves none half-written); summary.jsonl and
 * errors.jsonl are rebuilt on every run from all the selected rows' cases.
 * Before any work (before OUT is created), ct_run checks the model directory
 * (config.json and every tensor), loads the tokenizer and opens the dataset:
 * a bad path fails at once. */

/* Where a run stands; passed to the progress callback and returned. */
typedef struct ct_run_progress {
    int rows_total;             /* rows this run selects (shard, max_datapoints) */
    int rows_done;              /* selected rows handled so far */
    int rows_ok, rows_skipped;  /* skipped: at least one error line in errors.jsonl */
    int cases_written;          /* traced by this run */
    int cases_reused;           /* found finished from an earlier run */
    double seconds;             /* since ct_run started */
    double trace_seconds;       /* of which tracing and writing new cases */
    long case_cells_done;       /* the case being traced: restored cells done / in all */
    long case_cells_total;      /* (0 / 0 between cases; large models take minutes a case) */
} ct_run_progress;

typedef void (*ct_run_progress_fn)(void *ctx, const ct_run_progress *p);

typedef struct ct_run_settings {
    const char *model_dir;      /* required: config.json, *.safetensors, tokenizer.json */
    const char *tokenizer;      /* tokenizer.json or its directory; NULL = model_dir */
    const char *data_path;      /* required: JSONL rows (docs/design.md) */
    const char *output_dir;     /* required; created (with cases/, pdfs/) when missing */
    const char *prompt_format;  /* NULL = CT_PROMPT_FORMAT_DEFAULT */
    int experiment;             /* CT_EXP_SUBJECT (default), CT_EXP_OBJECT, CT_EXP_RELATION */
    unsigned kinds;             /* bit (1 << CT_KIND_*) per kind to trace; default the three sublayer kinds (head: bit 3, by name) */
    int max_cf;                 /* counterfactuals scored (and with the cf contexts traced); default 3 */
    int contexts;               /* which passages are traced, each its own case (CT_CTX_*, as `ctrace
                                   average --contexts`): CT_CTX_ORIGINAL (default) the row's own passage;
                                   CT_CTX_CF each counterfactual passage (obj_cf[:max_cf] in place of the
                                   object); CT_CTX_ALL both (the seed's --cf_context 1) */
    int max_datapoints;         /* 0 = all rows; else rows 0 .. max_datapoints - 1 */
    int shard_k, shard_n;       /* rows i with i % shard_n == shard_k; default 0 / 1 */
    int plots;                  /* 1 (default): a figure per case */
    ct_plot_format plot_format; /* default CT_PLOT_PDF */
    ct_trace_settings trace;    /* samples, window, noise, seed, replace, reverse, metric,
                                   engine (kind is set per case) */
    int threads;                /* recorded in run.json only (the caller sets ct_set_threads) */
    int argc; char *const *argv;    /* the command line, recorded in run.json */
    ct_run_progress_fn progress;    /* optional: during every case, after every case and row */
    void *progress_ctx;
    const char *model_id, *tokenizer_id;    /* hub ids model_dir / tokenizer were resolved from
                                               (ct_hub_resolve), recorded beside them; NULL = none */
    int attribute;              /* 1: also attributions/{row}_attribution_{obj}.bin per context (and its
                                   figure pdfs/{answer}_{row}_attribution[_{cf}].pdf when plots):
                                   ct_attribute (and ct_attribute_corrupted with the experiment's
                                   target ranges and the trace's noise) of answer vs counterfactual */
    int relation_span;          /* experiment 3's span: CT_RELATION_PASSAGE (default) or
                                   CT_RELATION_FROM_PROMPT_START */
    const char *backend;        /* ct_model_set_backend's name; NULL = "cpu" */
    ct_dtype compute;           /* ct_model_set_compute: CT_F32 (default) or CT_BF16; recorded in each
                                   case file, and resume refuses a case computed otherwise */
    const char *device;         /* ct_model_set_device: "cpu", "cuda", "cuda:N"; NULL = the backend's
                                   (recorded in run.json) */
} ct_run_settings;

/* Experiment 3's corrupted span (--relation_span): the passage's tokens
 * outside the subject and the object (ctrace's), or every token from the
 * prompt's start (after the tokenizer's specials) to the passage's end outside
 * them: the seed's e22 span ("C: " of "C: {context} ..." included). */
typedef enum ct_relation_span { CT_RELATION_PASSAGE = 0, CT_RELATION_FROM_PROMPT_START = 1 } ct_relation_span;
CT_API const char *ct_relation_span_name(int span);            /* "passage", "from_prompt_start" */
CT_API int ct_relation_span_parse(const char *s, int *span);   /* 0 / -1 */
/* Widens a plan's experiment-3 ranges to CT_RELATION_FROM_PROMPT_START (the
 * first range is extended back, or the prompt's tokens before the passage
 * become a range of their own).  Errors: a plan of another experiment. */
CT_API int ct_row_plan_relation_from_prompt_start(ct_row_plan *p, int experiment, ct_err *err);

CT_API void ct_run_settings_default(ct_run_settings *s);

/* Runs everything; fills *out (may be NULL) with the final counts.  Returns
 * -1 on errors that stop the run: a bad model/tokenizer/data path or
 * setting, an output directory that cannot be written, a finished case file
 * traced otherwise than this run would (experiment, kind, window, metric,
 * direction, samples, seed, noise, replace, token ids, targets, answer or
 * counterfactual ids differ).  Per-row problems are not errors (they go to
 * errors.jsonl). */
CT_API int ct_run(const ct_run_settings *s, ct_run_progress *out, ct_err *err);

/* A sharded run (shard_n > 1) writes summary.shard-K-of-N.jsonl,
 * errors.shard-K-of-N.jsonl and run.shard-K-of-N.json, so that the shards of
 * a job array may share one output directory (each shard holds a lock, so a
 * second process on the same shard is refused).  This joins the shards'
 * files of DIR into DIR/summary.jsonl and DIR/errors.jsonl in row order,
 * unless summary.jsonl is newer than all of them (an unsharded run, which
 * writes both from every case, or an earlier merge).  *found: shards with a
 * summary file, *of_n: N (0 when DIR has none).  0, or -1 with err set. */
CT_API int ct_run_merge_shards(const char *dir, int *found, int *of_n, ct_err *err);

#ifdef __cplusplus
}
#endif
#endif /* CTRACE_APP_H */
