/* lineplot.c — ROME's line plot of the average indirect effect by layer
 * (the notebooks' "average_causal_effects" figure): AIE of the last corrupted
 * token and of the last token, with 95% bands (1.96 std / sqrt(n) over the
 * cases), one panel per kind. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cairo/cairo.h>
#include <cairo/cairo-pdf.h>
#include <cairo/cairo-svg.h>
#include "ctrace_app.h"
#include "common/file.h"
#include "report/report_internal.h"

#define PW 230.0       /* plot area */
#define PH 150.0
#define LEFT 48.0
#define TOP 40.0
#define BOTTOM 38.0
#define RIGHT 14.0
#define FONT "DejaVu Sans"

static void text(cairo_t *cr, double x, double y, const char *s, double size, double ax)
{
    cairo_select_font_face(cr, FONT, CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_NORMAL);
    cairo_set_font_size(cr, size);
    cairo_text_extents_t te;
    cairo_text_extents(cr, s, &te);
    cairo_move_to(cr, x - ax * te.x_advance, y + size * 0.35);
    cairo_show_text(cr, s);
}

static double nice_step(double range)
{
    double raw = range / 5, mag = pow(10, floor(log10(raw))), n = raw / mag;
    return (n < 1.5 ? 1 : n < 3 ? 2 : n < 7 ? 5 : 10) * mag;
}

static void panel(cairo_t *cr, const ct_average *a, int k, double x0, double y0)
{
    static const char *what[3] = {"state", "MLP", "Attn"};
    static const double col[3][3] = {{0.33, 0.15, 0.56}, {0.0, 0.43, 0.17}, {0.80, 0.09, 0.11}};
    int L = a->L;
    float *m = malloc(sizeof(float) * 2 * L), *ci = malloc(sizeof(float) * 2 * L);
    if (!m || !ci) { free(m); free(ci); return; }
    int segs[2] = {CT_ROME_CORR_LAST, CT_ROME_LAST};
    for (int j = 0; j < 2; j++) {
        ct_average_stat(a, segs[j], 1, CT_STAT_CASE_MEAN, m + j * L);
        ct_average_stat(a, segs[j], 1, CT_STAT_CI95, ci + j * L);
    }
    double lo = 0, hi = 0;
    for (int i = 0; i < 2 * L; i++) {
        if (isnan(m[i])) continue;
        double c = isnan(ci[i]) ? 0 : ci[i];
        lo = fmin(lo, m[i] - c); hi = fmax(hi, m[i] + c);
    }
    if (!(hi > lo)) hi = lo + 1e-6;
    double step = nice_step(hi - lo);
    lo = floor(lo / step) * step; hi = ceil(hi / step) * step;
    double px = x0 + LEFT, py = y0 + TOP;
#define X(l) (px + (L > 1 ? PW * (l) / (L - 1) : PW / 2))
#define Y(v) (py + PH * (1 - ((v) - lo) / (hi - lo)))
    cairo_set_source_rgb(cr, 0, 0, 0);
    char t1[160], t2[200], unit[128];
    snprintf(t1, sizeof t1, "Average indirect effect of %s %s (%s)", a->reverse ? "corrupting" : "restoring", what[k], ct_kind_name((ct_kind)k));
    static const char *span[4] = {"?", "subject", "object", "relation"};
    snprintf(t2, sizeof t2, "exp. %d (noise on the %s), %d case(s), metric %s; 95%% bands", a->experiment,
             span[a->experiment >= 1 && a->experiment <= 3 ? a->experiment : 0], a->n_cases, a->metric[0] ? a->metric : "prob");
    text(cr, px + PW / 2, y0 + 14, t1, 9.5, 0.5);
    text(cr, px + PW / 2, y0 + 27, t2, 8, 0.5);
    /* zero line and axes */
    cairo_set_line_width(cr, 0.5);
    cairo_set_source_rgb(cr, 0.6, 0.6, 0.6);
    cairo_move_to(cr, px, Y(0)); cairo_line_to(cr, px + PW, Y(0)); cairo_stroke(cr);
    cairo_set_source_rgb(cr, 0, 0, 0);
    cairo_set_line_width(cr, 0.8);
    cairo_rectangle(cr, px, py, PW, PH); cairo_stroke(cr);
    for (double v = lo; v <= hi + step * 1e-6; v += step) {
        char b[32];
        double vv = fabs(v) < step * 1e-6 ? 0 : v;
        if (step >= 1) snprintf(b, sizeof b, "%.0f", vv);
        else if (step < 1e-3) snprintf(b, sizeof b, "%.1e", vv);
        else snprintf(b, sizeof b, "%.*f", (int)ceil(-log10(step) - 1e-9), vv);
        cairo_move_to(cr, px, Y(vv)); cairo_line_to(cr, px - 3, Y(vv)); cairo_stroke(cr);
        text(cr, px - 5, Y(vv), b, 7.5, 1);
    }
    int xs = L > 20 ? 5 : L > 10 ? 2 : 1;
    for (int l = 0; l < L; l += xs) {
        char b[16]; snprintf(b, sizeof b, "%d", l);
        cairo_move_to(cr, X(l), py + PH); cairo_line_to(cr, X(l), py + PH + 3); cairo_stroke(cr);
        text(cr, X(l), py + PH + 10, b, 7.5, 0.5);
    }
    char xl[96];
    snprintf(xl, sizeof xl, k == 0 || a->window == 1 ? "single %s layer" : "center of the %s layers' window", a->reverse ? "patched" : "restored");
    text(cr, px + PW / 2, py + PH + 24, xl, 8.5, 0.5);
    ct__avg_unit(a, unit, sizeof unit);
    cairo_save(cr);
    cairo_translate(cr, x0 + 10, py + PH / 2);
    cairo_rotate(cr, -M_PI / 2);
    text(cr, 0, 0, unit, 7.5, 0.5);
    cairo_restore(cr);
    /* bands, then lines */
    for (int j = 0; j < 2; j++) {
        const double *c = j == 0 ? col[k] : (const double[3]){0.25, 0.25, 0.25};
        float *mj = m + j * L, *cj = ci + j * L;
        int have = 0;
        for (int l = 0; l < L; l++) have += !isnan(cj[l]) && !isnan(mj[l]);
        if (have == L) {
            cairo_move_to(cr, X(0), Y(mj[0] + cj[0]));
            for (int l = 1; l < L; l++) cairo_line_to(cr, X(l), Y(mj[l] + cj[l]));
            for (int l = L - 1; l >= 0; l--) cairo_line_to(cr, X(l), Y(mj[l] - cj[l]));
            cairo_close_path(cr);
            cairo_set_source_rgba(cr, c[0], c[1], c[2], 0.18);
            cairo_fill(cr);
        }
        cairo_set_source_rgb(cr, c[0], c[1], c[2]);
        cairo_set_line_width(cr, 1.4);
        if (j == 1) cairo_set_dash(cr, (double[]){4, 2}, 2, 0);
        int pen = 0;
        for (int l = 0; l < L; l++) {
            if (isnan(mj[l])) { pen = 0; continue; }
            if (pen) cairo_line_to(cr, X(l), Y(mj[l])); else cairo_move_to(cr, X(l), Y(mj[l]));
            pen = 1;
        }
        cairo_stroke(cr);
        cairo_set_dash(cr, NULL, 0, 0);
        /* legend */
        double ly = py + 10 + 11 * j;
        cairo_move_to(cr, px + 8, ly); cairo_line_to(cr, px + 24, ly);
        if (j == 1) cairo_set_dash(cr, (double[]){4, 2}, 2, 0);
        cairo_stroke(cr);
        cairo_set_dash(cr, NULL, 0, 0);
        char b[96];
        snprintf(b, sizeof b, "%s (n=%d)", j == 0 ? "last corrupted token" : "last token", a->n_case[segs[j]]);
        cairo_set_source_rgb(cr, 0, 0, 0);
        text(cr, px + 28, ly, b, 7.5, 0);
    }
#undef X
#undef Y
    free(m); free(ci);
}

int ct_average_lineplot(const ct_average avg[3], const int *kinds, int n_kinds,
                        const char *path, ct_plot_format fmt, ct_err *err)
{
    if (n_kinds < 1 || n_kinds > 3) return ct_fail(err, "%s: 1 to 3 kinds per figure", path);
    for (int i = 0; i < n_kinds; i++)
        if (kinds[i] < 0 || kinds[i] > 2 || !avg[kinds[i]].n_cases)
            return ct_fail(err, "%s: no %s cases to plot", path, kinds[i] >= 0 && kinds[i] <= 2 ? ct_kind_name((ct_kind)kinds[i]) : "?");
    double pw = LEFT + PW + RIGHT, W = pw * n_kinds, H = TOP + PH + BOTTOM;
    ct_atomic a;   /* cairo writes the temporary by name; the commit checks and renames */
    if (ct_atomic_name(&a, path, err)) return -1;
    const char *tmp = a.tmp;
    cairo_surface_t *s;
    double scale = fmt == CT_PLOT_PNG ? 2.0 : 1.0;
    if (fmt == CT_PLOT_PDF) s = cairo_pdf_surface_create(tmp, W, H);
    else if (fmt == CT_PLOT_SVG) s = cairo_svg_surface_create(tmp, W, H);
    else s = cairo_image_surface_create(CAIRO_FORMAT_RGB24, (int)ceil(W * scale), (int)ceil(H * scale));
    if (cairo_surface_status(s) != CAIRO_STATUS_SUCCESS) {
        cairo_surface_destroy(s); ct_atomic_abort(&a);
        return ct_fail_code(err, CT_ERR_IO, "%s: cannot create the figure", path);
    }
    cairo_t *cr = cairo_create(s);
    cairo_scale(cr, scale, scale);
    cairo_set_source_rgb(cr, 1, 1, 1);
    cairo_paint(cr);
    for (int i = 0; i < n_kinds; i++) panel(cr, &avg[kinds[i]], kinds[i], i * pw, 0);
    cairo_status_t st = cairo_status(cr);
    cairo_destroy(cr);
    if (st == CAIRO_STATUS_SUCCESS && fmt == CT_PLOT_PNG) st = cairo_surface_write_to_png(s, tmp);
    cairo_surface_finish(s);
    if (st == CAIRO_STATUS_SUCCESS) st = cairo_surface_status(s);
    cairo_surface_destroy(s);
    if (st != CAIRO_STATUS_SUCCESS) {
        ct_atomic_abort(&a);
        return ct_fail_code(err, CT_ERR_IO, "%s: drawing failed: %s", path, cairo_status_to_string(st));
    }
    return ct_atomic_commit(&a, err);
}
