/* cmd_plot.c — `ctrace plot CASE.bin [--out FILE] [--plot_format pdf|png|svg]`:
 * draws one case file as a heat map (the figure `ctrace run` makes per case). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"
#include "args.h"

static void plot_usage(FILE *o)
{
    fprintf(o, "usage: ctrace plot CASE.bin [--out FILE] [--plot_format pdf|png|svg]\n"
               "  Draws the IE heat map of one case file.  --out defaults to CASE with the\n"
               "  format's extension; the format defaults to --out's extension, else pdf.\n"
               "  A head trace (--kind head) is drawn as two layer x head maps: IE at the last\n"
               "  token and at the last corrupted token; an attribution file (ctrace attribute)\n"
               "  as a layer x head map of the heads and a bar per layer for the MLPs.\n");
}

/* A head trace (kind "head", ie [T, L, H]): ct_head_figure_write.  1: not a
 * head trace (the caller draws the ordinary figure); 0 drawn; -1 failed. */
static int plot_heads(const char *in, const char *out, ct_plot_format fmt, ct_err *err)
{
    ct_st_file f;
    ct_err e2;
    if (ct_st_open(&f, in, &e2)) return 1;
    const char *md = f.metadata;
    const ct_tensor_view *ie = ct_st_find(&f, "ie"), *tr = ct_st_find(&f, "target_ranges");
    if (!md || !strstr(md, "\"kind\":\"head\"") || !ie || ie->ndim != 3) { ct_st_close(&f); return 1; }
    float *v = ct_tensor_to_f32(ie);                            /* [T, L, H] */
    float *tv = tr ? ct_tensor_to_f32(tr) : NULL;               /* [R, 2] */
    int last_c = -1, rc = -1;
    for (int64_t i = 0; tv && i + 1 < tr->numel; i += 2) last_c = (int)tv[i + 1] - 1 > last_c ? (int)tv[i + 1] - 1 : last_c;
    if (!v) ct_fail_code(err, CT_ERR_NOMEM, "%s: out of memory", in);
    else rc = ct_head_figure_write(v, (int)ie->shape[0], (int)ie->shape[1], (int)ie->shape[2], last_c, out, fmt, err);
    free(v);
    free(tv);
    ct_st_close(&f);
    return rc;
}

int cmd_plot(int argc, char **argv)
{
    static const char *const FLAGS[] = {"out", "plot_format", NULL};
    ct_args a;
    if (ct_args_parse(&a, argc, argv, FLAGS)) return 2;
    if (a.help) { plot_usage(stdout); return 0; }
    if (a.npos > 1) { fprintf(stderr, "ctrace: plot: one case file at a time ('%s')\n", a.pos[1]); return 2; }
    const char *in = a.npos ? a.pos[0] : NULL;
    const char *out = ct_args_str(&a, "out", NULL), *fmt_name = ct_args_str(&a, "plot_format", NULL);
    if (!in) { plot_usage(stderr); return 2; }
    ct_plot_format fmt = CT_PLOT_PDF;
    if (fmt_name && ct_plot_format_parse(fmt_name, &fmt)) {
        fprintf(stderr, "ctrace: plot: --plot_format must be pdf, png or svg (got '%s')\n", fmt_name);
        return 2;
    }
    if (!fmt_name && out) {
        const char *dot = strrchr(out, '.');
        if (dot && !ct_plot_format_parse(dot + 1, &fmt)) {}
    }
    char *def = NULL;
    if (!out) {
        size_t n = strlen(in);
        def = malloc(n + 8);
        if (!def) return 1;
        memcpy(def, in, n + 1);
        if (n > 4 && !strcmp(def + n - 4, ".bin")) def[n - 4] = 0;
        else if (n > 12 && !strcmp(def + n - 12, ".safetensors")) def[n - 12] = 0;
        strcat(def, ".");
        strcat(def, ct_plot_format_ext(fmt));
        out = def;
    }
    ct_err err;
    ct_case c;
    ct_case_figure f;
    int rc = 1;
    {   /* an attribution file (format ctrace-attribution-1) */
        ct_st_file f;
        int attr = 0;
        if (!ct_st_open(&f, in, &err)) {
            attr = f.metadata && strstr(f.metadata, "ctrace-attribution-1") != NULL;
            ct_st_close(&f);
        }
        if (attr) {
            int bad = ct_attribution_plot(in, out, fmt, &err);
            if (bad) fprintf(stderr, "ctrace: %s\n", err.msg);
            else printf("%s\n", out);
            free(def);
            return bad ? 1 : 0;
        }
    }
    int hr = plot_heads(in, out, fmt, &err);
    if (hr <= 0) {
        if (hr == 0) printf("%s\n", out);
        else fprintf(stderr, "ctrace: %s\n", err.msg);
        free(def);
        return hr == 0 ? 0 : 1;
    }
    if (ct_case_load(&c, in, &err)) { fprintf(stderr, "ctrace: %s\n", err.msg); free(def); return 1; }
    if (ct_case_figure_of(&f, &c, &err) == 0) {
        if (ct_heatmap_write(&f.h, 1, out, fmt, &err) == 0) { printf("%s\n", out); rc = 0; }
        ct_case_figure_free(&f);
    }
    if (rc) fprintf(stderr, "ctrace: %s\n", err.msg);
    ct_case_free(&c);
    free(def);
    return rc;
}
