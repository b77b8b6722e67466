/* heatmap.c — heat-map figures with cairo, drawn to look like ROME's and the
 * seed tool's matplotlib figures (pcolor with faint cell edges, inverted y
 * axis with one labelled row per token, colour bar on the right).
 *
 * Units are PostScript points (1/72 in).  A row is 11 pt (the seed uses
 * 0.15 in = 10.8 pt per token), so a figure grows with the prompt and a
 * 150-token prompt is still legible (about 23 in tall, as in the seed). */
#include <errno.h>
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

#define ROW_H      11.0    /* one token row */
#define HM_W       216.0   /* heat-map width (3 in) */
#define BAR_W      144.0   /* a bar panel's width (2 in) */
#define CB_W       10.0    /* colour bar width */
#define CB_GAP     12.0    /* heat map -> colour bar */
#define TICK       3.5     /* tick mark length, like matplotlib's */
#define PAD        3.0     /* tick -> tick label */
#define MARGIN     10.0
#define PANEL_GAP  24.0
#define FS_LABEL   8.5
#define FS_TICK    8.0
#define FS_TITLE   10.0
#define FS_XLABEL  9.0
#define FONT       "DejaVu Sans"
#define PNG_SCALE  2.0     /* 144 dpi */

/* Text helpers: cairo's toy API is enough for labels in one font. */
static void font(cairo_t *cr, double size)
{
    cairo_select_font_face(cr, FONT, CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_NORMAL);
    cairo_set_font_size(cr, size);
}

static double text_w(cairo_t *cr, const char *s)
{
    cairo_text_extents_t te;
    cairo_text_extents(cr, s, &te);
    return te.x_advance;
}

/* Draws s with its anchor at (x, y): ax 0/0.5/1 = left/centre/right;
 * y is the vertical centre of the text's x-height band. */
static void text_at(cairo_t *cr, double x, double y, const char *s, double ax)
{
    cairo_font_extents_t fe;
    cairo_font_extents(cr, &fe);
    double w = text_w(cr, s);
    cairo_move_to(cr, x - ax * w, y + (fe.ascent - fe.descent) / 2);
    cairo_show_text(cr, s);
}

/* Nice colour-bar ticks (1, 2, 5 × 10^k steps), as matplotlib picks them. */
static int nice_ticks(double lo, double hi, double *ticks, int max, int *decimals)
{
    double range = hi - lo;
    if (!(range > 0)) { ticks[0] = lo; *decimals = 3; return 1; }
    double raw = range / 5, mag = pow(10, floor(log10(raw))), nrm = raw / mag;
    double step = (nrm < 1.5 ? 1 : nrm < 3 ? 2 : nrm < 7 ? 5 : 10) * mag;
    *decimals = step >= 1 ? 0 : (int)ceil(-log10(step) - 1e-9);
    if (step < 1e-3 || fmax(fabs(lo), fabs(hi)) >= 1e5) *decimals = -1;   /* -1: scientific, see tick_label */
    int n = 0;
    for (double t = ceil(lo / step - 1e-9) * step; t <= hi + step * 1e-9 && n < max; t += step)
        ticks[n++] = fabs(t) < step * 1e-9 ? 0 : t;
    return n;
}

static void tick_label(char *b, size_t n, double v, int decimals)
{
    if (decimals >= 0) snprintf(b, n, "%.*f", decimals, v);
    else if (v == 0) snprintf(b, n, "0");
    else snprintf(b, n, "%.2g", v);
}

int ct_heatmap_range(const ct_heatmap *h, float *vmin, float *vmax)
{
    double lo = INFINITY, hi = -INFINITY;
    for (long i = 0; h->values && i < (long)h->rows * h->cols; i++) {
        double v = h->values[i];
        if (isnan(v)) continue;
        if (v < lo) lo = v;
        if (v > hi) hi = v;
    }
    if (isinf(lo)) { lo = 0; hi = 0; }
    /* from the data: always [min(0, lo), max(0, hi)], so nothing is clipped
     * and 0 is white; symmetric when both signs matter (the smaller side is
     * more than a tenth of the larger), so equal |IE| reads as equal depth */
    double a = fmin(0, lo), b = fmax(0, hi), M = fmax(-a, b);
    if (-a > 0.1 * M && b > 0.1 * M) { a = -M; b = M; }
    double v0 = isnan(h->vmin) ? a : h->vmin, v1 = isnan(h->vmax) ? b : h->vmax;
    if (!(v1 > v0)) v1 = v0 + (fabs(v0) > 0 ? fabs(v0) * 1e-3 : 1e-6);
    *vmin = (float)v0; *vmax = (float)v1;
    return v0 < 0 && v1 > 0;
}

void ct_heatmap_color(const ct_heatmap *h, float vmin, float vmax, float v, double rgb[3])
{
    if (isnan(v)) { rgb[0] = rgb[1] = rgb[2] = 0.85; return; }   /* missing: grey (hatched when drawn) */
    if (vmin >= 0) ct__colormap(h->kind, (v - vmin) / (vmax - vmin), rgb);               /* sequential from vmin */
    else if (vmax <= 0) ct__colormap_signed(h->kind, -(vmax - v) / (vmax - vmin), rgb);  /* negative only */
    else {
        double M = fmax(-vmin, vmax);
        double x = v / M;
        if (x < -1) x = -1;
        if (x > 1) x = 1;
        ct__colormap_signed(h->kind, x, rgb);
    }
}

/* Per panel: resolved colour range, labels and sizes. */
typedef struct panel_layout {
    double vmin, vmax;
    char **labels;          /* [rows] printable, starred */
    char **title_lines;     /* [n_title] */
    int n_title;
    char *xlabel, *cbar;
    double label_w, right_w, width;
} panel_layout;

static void free_layout(panel_layout *p, int rows)
{
    for (int r = 0; p->labels && r < rows; r++) free(p->labels[r]);
    free(p->labels);
    for (int i = 0; i < p->n_title; i++) free(p->title_lines[i]);
    free(p->title_lines);
    free(p->xlabel); free(p->cbar);
}

static char *printable(const char *s) { return s ? ct__printable_utf8(s, strlen(s)) : strdup(""); }

/* a heat map is 3 in wide, a bar panel 2 in */
static double panel_w(const ct_heatmap *h) { return h->bars ? BAR_W : HM_W; }

static int prepare(cairo_t *cr, const ct_heatmap *h, panel_layout *p, ct_err *err)
{
    memset(p, 0, sizeof *p);
    if (h->rows < 1 || h->cols < 1 || !h->values) return ct_fail(err, "heat map: empty grid (%d x %d)", h->rows, h->cols);
    float lo, hi;
    ct_heatmap_range(h, &lo, &hi);
    p->vmin = lo; p->vmax = hi;

    p->labels = calloc((size_t)h->rows, sizeof *p->labels);
    if (!p->labels) return ct_fail(err, "out of memory");
    font(cr, FS_LABEL);
    for (int r = 0; r < h->rows; r++) {
        const char *l = h->labels ? h->labels[r] : NULL;
        char num[32];
        if (!l) { snprintf(num, sizeof num, "%d", r); l = num; }
        char *s = printable(l);
        if (!s) return ct_fail(err, "out of memory");
        if (h->star && h->star[r]) {
            char *t = malloc(strlen(s) + 2);
            if (!t) { free(s); return ct_fail(err, "out of memory"); }
            sprintf(t, "%s*", s);
            free(s); s = t;
        }
        p->labels[r] = s;
        double w = h->hide_labels ? 0 : text_w(cr, s);
        if (w > p->label_w) p->label_w = w;
    }
    /* title lines */
    char *t = printable(h->title);
    int nl = 1;
    for (char *q = t; q && *q; q++) if (q[0] == '\\' && q[1] == 'n') nl++;
    p->title_lines = calloc((size_t)nl, sizeof *p->title_lines);
    for (char *q = t, *start = t; q && p->title_lines; q++) {
        if (*q == 0 || (q[0] == '\\' && q[1] == 'n')) {
            int end = *q == 0;
            *q = 0;
            p->title_lines[p->n_title++] = strdup(start);
            if (end) break;
            start = q + 2; q++;
        }
    }
    free(t);
    p->xlabel = printable(h->xlabel);
    p->cbar = printable(h->cbar_label);
    /* width right of the heat map: bar, ticks, tick labels, bar label */
    double ticks[16]; int dec;
    int nt = nice_ticks(p->vmin, p->vmax, ticks, 16, &dec);
    font(cr, FS_TICK);
    double tw = 0;
    for (int i = 0; i < nt; i++) {
        char b[32]; tick_label(b, sizeof b, ticks[i], dec);
        if (text_w(cr, b) > tw) tw = text_w(cr, b);
    }
    p->right_w = CB_GAP + CB_W + TICK + PAD + tw;
    double cbw = CB_GAP + text_w(cr, p->cbar);
    if (cbw > p->right_w) p->right_w = cbw;
    const double hm_w = panel_w(h);
    if (h->bars) p->right_w = tw / 2 + PAD;    /* no colour bar: room for the last value tick's label */
    p->width = p->label_w + PAD + TICK + hm_w + p->right_w;
    font(cr, FS_TITLE);
    for (int i = 0; i < p->n_title; i++) {
        /* the title is centred on the heat map; widen the panel if it spills */
        double over = text_w(cr, p->title_lines[i]) / 2 - (hm_w / 2 + p->right_w);
        if (over > 0) { p->right_w += over; p->width += over; }
        double left = text_w(cr, p->title_lines[i]) / 2 - (hm_w / 2 + p->label_w + PAD + TICK);
        if (left > 0) { p->label_w += left; p->width += left; }
    }
    return 0;
}

/* A bar panel (h->bars): row r a horizontal bar from 0 to its value on a
 * value axis spanning [vmin, vmax] (the same range rules as a heat map, so
 * nothing is clipped), filled with the colour a cell of that value gets. */
static void draw_bars(cairo_t *cr, const ct_heatmap *h, const panel_layout *p, double hx, double hy, double hm_h)
{
    const double W = BAR_W;
    font(cr, FS_TITLE);
    cairo_set_source_rgb(cr, 0, 0, 0);
    for (int i = 0; i < p->n_title; i++)
        text_at(cr, hx + W / 2, hy - 6 - (p->n_title - i - 0.5) * FS_TITLE * 1.25, p->title_lines[i], 0.5);
    double span = p->vmax - p->vmin;
#define XOF(v) (hx + W * ((v) - p->vmin) / span)
    for (int r = 0; r < h->rows; r++) {
        float v = h->values[(long)r * h->cols];
        double y0 = hy + r * ROW_H + ROW_H * 0.15, bh = ROW_H * 0.7;
        if (isnan(v)) continue;
        double rgb[3];
        ct_heatmap_color(h, (float)p->vmin, (float)p->vmax, v, rgb);
        double a = XOF(0.0), b = XOF((double)v);
        cairo_set_source_rgb(cr, rgb[0], rgb[1], rgb[2]);
        cairo_rectangle(cr, fmin(a, b), y0, fabs(b - a), bh);
        cairo_fill_preserve(cr);
        cairo_set_source_rgba(cr, 0, 0, 0, 0.6);
        cairo_set_line_width(cr, 0.4);
        cairo_stroke(cr);
    }
    cairo_set_source_rgb(cr, 0, 0, 0);
    cairo_set_line_width(cr, 0.8);
    cairo_rectangle(cr, hx, hy, W, hm_h);
    cairo_stroke(cr);
    cairo_set_line_width(cr, 0.6);   /* the zero line */
    cairo_move_to(cr, XOF(0.0), hy); cairo_line_to(cr, XOF(0.0), hy + hm_h); cairo_stroke(cr);
    font(cr, FS_LABEL);
    for (int r = 0; r < h->rows; r++) {
        double y = hy + (r + 0.5) * ROW_H;
        cairo_move_to(cr, hx, y); cairo_line_to(cr, hx - TICK, y); cairo_stroke(cr);
        if (!h->hide_labels) text_at(cr, hx - TICK - PAD, y, p->labels[r], 1);
    }
    double ticks[16]; int dec;
    int nt = nice_ticks(p->vmin, p->vmax, ticks, 16, &dec);
    int every = nt > 5 ? 2 : 1;
    font(cr, FS_TICK);
    for (int i = 0; i < nt; i += every) {
        double x = XOF(ticks[i]);
        cairo_move_to(cr, x, hy + hm_h); cairo_line_to(cr, x, hy + hm_h + TICK); cairo_stroke(cr);
        char b[32]; tick_label(b, sizeof b, ticks[i], dec);
        text_at(cr, x, hy + hm_h + TICK + PAD + FS_TICK * 0.45, b, 0.5);
    }
#undef XOF
    font(cr, FS_XLABEL);
    text_at(cr, hx + W / 2, hy + hm_h + TICK + PAD + FS_TICK * 1.2 + 4 + FS_XLABEL * 0.45, p->xlabel, 0.5);
}

static void draw_panel(cairo_t *cr, const ct_heatmap *h, const panel_layout *p, double x0, double top, double hm_h)
{
    const double hm_w = panel_w(h);
    double hx = x0 + p->label_w + PAD + TICK, hy = top;
    double cw = hm_w / h->cols;
    if (h->bars) { draw_bars(cr, h, p, hx, hy, hm_h); return; }
    /* title */
    font(cr, FS_TITLE);
    cairo_set_source_rgb(cr, 0, 0, 0);
    for (int i = 0; i < p->n_title; i++)
        text_at(cr, hx + hm_w / 2, hy - 6 - (p->n_title - i - 0.5) * FS_TITLE * 1.25, p->title_lines[i], 0.5);
    /* cells */
    for (int r = 0; r < h->rows; r++)
        for (int c = 0; c < h->cols; c++) {
            float v = h->values[(long)r * h->cols + c];
            double rgb[3];
            ct_heatmap_color(h, (float)p->vmin, (float)p->vmax, v, rgb);
            cairo_set_source_rgb(cr, rgb[0], rgb[1], rgb[2]);
            cairo_rectangle(cr, hx + c * cw, hy + r * ROW_H, cw, ROW_H);
            cairo_fill(cr);
            if (isnan(v)) {   /* no data: grey with diagonal hatching, never a measured 0 */
                cairo_save(cr);
                cairo_rectangle(cr, hx + c * cw, hy + r * ROW_H, cw, ROW_H);
                cairo_clip(cr);
                cairo_set_source_rgb(cr, 0.55, 0.55, 0.55);
                cairo_set_line_width(cr, 0.5);
                for (double d = -ROW_H; d < cw; d += 3.0) {
                    cairo_move_to(cr, hx + c * cw + d, hy + (r + 1) * ROW_H);
                    cairo_line_to(cr, hx + c * cw + d + ROW_H, hy + r * ROW_H);
                }
                cairo_stroke(cr);
                cairo_restore(cr);
            }
        }
    /* faint cell edges (the seed's edgecolors="#00000010") */
    cairo_set_source_rgba(cr, 0, 0, 0, 16.0 / 255);
    cairo_set_line_width(cr, 0.5);
    for (int c = 1; c < h->cols; c++) { cairo_move_to(cr, hx + c * cw, hy); cairo_line_to(cr, hx + c * cw, hy + hm_h); }
    for (int r = 1; r < h->rows; r++) { cairo_move_to(cr, hx, hy + r * ROW_H); cairo_line_to(cr, hx + hm_w, hy + r * ROW_H); }
    cairo_stroke(cr);
    /* frame, ticks, labels */
    cairo_set_source_rgb(cr, 0, 0, 0);
    cairo_set_line_width(cr, 0.8);
    cairo_rectangle(cr, hx, hy, hm_w, hm_h);
    cairo_stroke(cr);
    font(cr, FS_LABEL);
    cairo_set_line_width(cr, 0.6);
    for (int r = 0; r < h->rows; r++) {
        double y = hy + (r + 0.5) * ROW_H;
        cairo_move_to(cr, hx, y); cairo_line_to(cr, hx - TICK, y); cairo_stroke(cr);
        if (!h->hide_labels) text_at(cr, hx - TICK - PAD, y, p->labels[r], 1);
    }
    int step = h->cols > 20 ? 5 : h->cols > 10 ? 2 : 1;
    font(cr, FS_TICK);
    for (int c = 0; c < h->cols; c += step) {
        double x = hx + (c + 0.5) * cw;
        cairo_move_to(cr, x, hy + hm_h); cairo_line_to(cr, x, hy + hm_h + TICK); cairo_stroke(cr);
        char b[16]; snprintf(b, sizeof b, "%d", c);
        text_at(cr, x, hy + hm_h + TICK + PAD + FS_TICK * 0.45, b, 0.5);
    }
    font(cr, FS_XLABEL);
    text_at(cr, hx + hm_w / 2, hy + hm_h + TICK + PAD + FS_TICK * 1.2 + 4 + FS_XLABEL * 0.45, p->xlabel, 0.5);
    /* colour bar: a vertical ramp from vmin (bottom) to vmax (top) */
    double bx = hx + hm_w + CB_GAP;
    int strips = 256;
    for (int i = 0; i < strips; i++) {
        double rgb[3];
        ct_heatmap_color(h, (float)p->vmin, (float)p->vmax, (float)(p->vmin + (p->vmax - p->vmin) * (i + 0.5) / strips), rgb);
        cairo_set_source_rgb(cr, rgb[0], rgb[1], rgb[2]);
        double y1 = hy + hm_h * (1 - (double)(i + 1) / strips), y0 = hy + hm_h * (1 - (double)i / strips);
        cairo_rectangle(cr, bx, y1, CB_W, y0 - y1 + 0.3);
        cairo_fill(cr);
    }
    cairo_set_source_rgb(cr, 0, 0, 0);
    cairo_set_line_width(cr, 0.8);
    cairo_rectangle(cr, bx, hy, CB_W, hm_h);
    cairo_stroke(cr);
    double ticks[16]; int dec;
    int nt = nice_ticks(p->vmin, p->vmax, ticks, 16, &dec);
    /* a short bar (few rows) keeps only as many ticks as fit */
    int every = 1;
    while (nt > 1 && hm_h * (ticks[every] - ticks[0]) / (p->vmax - p->vmin) < FS_TICK * 1.3 && every < nt - 1) every++;
    if (nt > 1 && hm_h * (ticks[nt - 1] - ticks[0]) / (p->vmax - p->vmin) < FS_TICK * 1.3) every = nt;
    font(cr, FS_TICK);
    cairo_set_line_width(cr, 0.6);
    for (int i = 0; i < nt; i += every) {
        double y = hy + hm_h * (1 - (ticks[i] - p->vmin) / (p->vmax - p->vmin));
        cairo_move_to(cr, bx + CB_W, y); cairo_line_to(cr, bx + CB_W + TICK, y); cairo_stroke(cr);
        char b[32]; tick_label(b, sizeof b, ticks[i], dec);
        text_at(cr, bx + CB_W + TICK + PAD, y, b, 0);
    }
    /* under the bar, left-aligned on it so it never runs into the x ticks */
    text_at(cr, bx, hy + hm_h + TICK + PAD + FS_TICK * 0.45, p->cbar, 0);
}

/* cairo's output callback: a short write (a full disk) fails the figure. */
static cairo_status_t write_stream(void *out, const unsigned char *data, unsigned int n)
{
    ct_atomic *a = out;
    if (fwrite(data, 1, n, a->f) == n) return CAIRO_STATUS_SUCCESS;
    if (!a->err) a->err = errno ? errno : EIO;
    return CAIRO_STATUS_WRITE_ERROR;
}

int ct_heatmap_write(const ct_heatmap *panels, int n, const char *path, ct_plot_format fmt, ct_err *err)
{
    if (n < 1) return ct_fail(err, "%s: no panels to draw", path);
    /* Measure text on a scratch surface first: the page size depends on it. */
    cairo_surface_t *ms = cairo_image_surface_create(CAIRO_FORMAT_ARGB32, 1, 1);
    cairo_t *mcr = cairo_create(ms);
    panel_layout *lay = calloc((size_t)n, sizeof *lay);
    int rc = -1, max_rows = 0, max_title = 1;
    double W = 2 * MARGIN - PANEL_GAP;
    if (!lay) { ct_fail(err, "out of memory"); goto out0; }
    for (int i = 0; i < n; i++) {
        ct_err e2;
        if (prepare(mcr, &panels[i], &lay[i], &e2)) { ct_fail(err, "%s: %s", path, e2.msg); n = i + 1; goto out0; }
        W += lay[i].width + PANEL_GAP;
        if (panels[i].rows > max_rows) max_rows = panels[i].rows;
        if (lay[i].n_title > max_title) max_title = lay[i].n_title;
    }
    double top = MARGIN + max_title * FS_TITLE * 1.25 + 6;
    double hm_h = max_rows * ROW_H;
    double H = top + hm_h + TICK + PAD + FS_TICK * 1.2 + 4 + FS_XLABEL * 1.2 + MARGIN;

    /* cairo writes into our own FILE (the atomic writer's temporary), so
     * that the final flush, fsync and close are checked before the rename:
     * cairo's own file output lost a full disk's error, leaving a truncated
     * figure under its final name. */
    ct_atomic out;
    if (ct_atomic_open(&out, path, err)) goto out0;
    cairo_surface_t *s;
    if (fmt == CT_PLOT_PDF) s = cairo_pdf_surface_create_for_stream(write_stream, &out, W, H);
    else if (fmt == CT_PLOT_SVG) s = cairo_svg_surface_create_for_stream(write_stream, &out, W, H);
    else s = cairo_image_surface_create(CAIRO_FORMAT_RGB24, (int)ceil(W * PNG_SCALE), (int)ceil(H * PNG_SCALE));
    if (cairo_surface_status(s) != CAIRO_STATUS_SUCCESS) {
        ct_fail(err, "%s: cannot create the figure: %s", path, cairo_status_to_string(cairo_surface_status(s)));
        cairo_surface_destroy(s); ct_atomic_abort(&out); goto out0;
    }
    cairo_t *cr = cairo_create(s);
    if (fmt == CT_PLOT_PNG) cairo_scale(cr, PNG_SCALE, PNG_SCALE);
    cairo_set_source_rgb(cr, 1, 1, 1);
    cairo_paint(cr);
    double x = MARGIN;
    for (int i = 0; i < n; i++) {
        draw_panel(cr, &panels[i], &lay[i], x, top, panels[i].rows * ROW_H);
        x += lay[i].width + PANEL_GAP;
    }
    cairo_status_t st = cairo_status(cr);
    cairo_destroy(cr);
    if (st == CAIRO_STATUS_SUCCESS && fmt == CT_PLOT_PNG) st = cairo_surface_write_to_png_stream(s, write_stream, &out);
    cairo_surface_finish(s);
    if (st == CAIRO_STATUS_SUCCESS) st = cairo_surface_status(s);
    cairo_surface_destroy(s);
    if (st != CAIRO_STATUS_SUCCESS) {
        int e = out.err;
        ct_atomic_abort(&out);
        if (e) ct_fail(err, "%s: write failed: %s", path, strerror(e));
        else ct_fail(err, "%s: drawing failed: %s", path, cairo_status_to_string(st));
        goto out0;
    }
    if (ct_atomic_commit(&out, err)) goto out0;
    rc = 0;
out0:
    for (int i = 0; lay && i < n; i++) free_layout(&lay[i], panels[i].rows);
    free(lay);
    cairo_destroy(mcr);
    cairo_surface_destroy(ms);
    return rc;
}

/* Fontconfig (loaded by cairo's text API) keeps a process-lifetime cache
 * that LeakSanitizer reports at exit; it is not a leak of ctrace's.  This
 * hook is read by LeakSanitizer only in sanitizer builds. */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void)
{
    return "leak:libfontconfig.so\n";
}
