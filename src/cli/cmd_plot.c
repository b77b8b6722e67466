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
               "  format's extension; the format defaults to --out's extension, else pdf.\n");
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
        strcat(def, ".");
        strcat(def, ct_plot_format_ext(fmt));
        out = def;
    }
    ct_err err;
    ct_case c;
    ct_case_figure f;
    int rc = 1;
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
