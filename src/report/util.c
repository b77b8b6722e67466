/* util.c — small helpers of the report module: kind names, colour maps,
 * printable UTF-8 for labels, temporary output names. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "ctrace_app.h"
#include "report/report_internal.h"

int ct_kind_index(const char *kind)
{
    ct_kind k;
    /* the three sublayer kinds only: they index the figures' per-kind arrays
     * (head traces have [T, L, H] grids and no figure here yet) */
    return kind && ct_kind_parse(kind, &k) == 0 && k <= CT_KIND_ATTN ? (int)k : -1;
}

int ct_plot_format_parse(const char *name, ct_plot_format *out)
{
    if (!strcmp(name, "pdf")) *out = CT_PLOT_PDF;
    else if (!strcmp(name, "png")) *out = CT_PLOT_PNG;
    else if (!strcmp(name, "svg")) *out = CT_PLOT_SVG;
    else return -1;
    return 0;
}

const char *ct_plot_format_ext(ct_plot_format f)
{
    return f == CT_PLOT_PNG ? "png" : f == CT_PLOT_SVG ? "svg" : "pdf";
}

/* Matplotlib's "Purples", "Greens" and "Reds" are ColorBrewer's 9-class
 * sequential schemes, linearly interpolated between 9 evenly spaced stops.
 * Negative values use a second ramp, so that each kind's scale is a diverging
 * map with white at 0 (like matplotlib's PuOr, PRGn and RdBu): hidden
 * negatives are "Oranges", mlp negatives "Purples", attention negatives "Blues". */
static const unsigned ramps[5][9] = {
    {0xfcfbfd, 0xefedf5, 0xdadaeb, 0xbcbddc, 0x9e9ac8, 0x807dba, 0x6a51a3, 0x54278f, 0x3f007d},  /* Purples */
    {0xf7fcf5, 0xe5f5e0, 0xc7e9c0, 0xa1d99b, 0x74c476, 0x41ab5d, 0x238b45, 0x006d2c, 0x00441b},  /* Greens */
    {0xfff5f0, 0xfee0d2, 0xfcbba1, 0xfc9272, 0xfb6a4a, 0xef3b2c, 0xcb181d, 0xa50f15, 0x67000d},  /* Reds */
    {0xfff5eb, 0xfee6ce, 0xfdd0a2, 0xfdae6b, 0xfd8d3c, 0xf16913, 0xd94801, 0xa63603, 0x7f2704},  /* Oranges */
    {0xf7fbff, 0xdeebf7, 0xc6dbef, 0x9ecae1, 0x6baed6, 0x4292c6, 0x2171b5, 0x08519c, 0x08306b},  /* Blues */
};
static const int neg_ramp[3] = {3, 0, 4};

static void ramp_from(int r, double x, double rgb[3], int white0);
static void ramp(int r, double x, double rgb[3]) { ramp_from(r, x, rgb, 0); }

/* white0: the first stop is pure white (the signed maps: 0 is neutral, and
 * tiny values of either sign look alike instead of pink beside blue). */
static void ramp_from(int r, double x, double rgb[3], int white0)
{
    if (!(x >= 0)) x = 0;          /* also NaN */
    if (x > 1) x = 1;
    double pos = x * 8;
    int i = (int)pos;
    if (i > 7) i = 7;
    double f = pos - i;
    for (int c = 0; c < 3; c++) {
        int sh = 16 - 8 * c;
        double a = i == 0 && white0 ? 255 : (ramps[r][i] >> sh) & 0xff, b = (ramps[r][i + 1] >> sh) & 0xff;
        rgb[c] = (a + f * (b - a)) / 255.0;
    }
}

void ct__colormap(const char *kind, double x, double rgb[3])
{
    int k = ct_kind_index(kind);
    ramp(k < 0 ? 0 : k, x, rgb);
}

void ct__colormap_signed(const char *kind, double x, double rgb[3])
{
    int k = ct_kind_index(kind);
    if (k < 0) k = 0;
    if (x < 0) ramp_from(neg_ramp[k], -x, rgb, 1); else ramp_from(k, x, rgb, 1);
}

/* Length of a valid UTF-8 sequence at s (n bytes left), 0 if invalid. */
static int utf8_len(const unsigned char *s, size_t n)
{
    int len;
    unsigned cp;
    if (s[0] < 0x80) return 1;
    else if ((s[0] & 0xe0) == 0xc0) { len = 2; cp = s[0] & 0x1f; }
    else if ((s[0] & 0xf0) == 0xe0) { len = 3; cp = s[0] & 0x0f; }
    else if ((s[0] & 0xf8) == 0xf0) { len = 4; cp = s[0] & 0x07; }
    else return 0;
    if ((size_t)len > n) return 0;
    for (int i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80) return 0;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    static const unsigned minv[5] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < minv[len] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
    return len;
}

char *ct__printable_utf8(const char *s, size_t n)
{
    char *out = malloc(3 * n + 1), *o = out;
    if (!out) return NULL;
    const unsigned char *p = (const unsigned char *)s;
    for (size_t i = 0; i < n; ) {
        int l = utf8_len(p + i, n - i);
        if (l == 1 && p[i] == '\n') { *o++ = '\\'; *o++ = 'n'; i++; continue; }
        if (l == 1 && p[i] == '\t') { *o++ = '\\'; *o++ = 't'; i++; continue; }
        if (l == 0 || (l == 1 && (p[i] < 0x20 || p[i] == 0x7f))) {
            memcpy(o, "\xef\xbf\xbd", 3); o += 3; i++; continue;   /* U+FFFD */
        }
        memcpy(o, p + i, (size_t)l); o += l; i += (size_t)l;
    }
    *o = 0;
    return out;
}

char *ct__utf8_escaped(const char *s)
{
    if (!s) return NULL;
    size_t n = strlen(s);
    char *out = malloc(4 * n + 1), *o = out;
    if (!out) return NULL;
    const unsigned char *p = (const unsigned char *)s;
    for (size_t i = 0; i < n; ) {
        int l = utf8_len(p + i, n - i);
        if (l == 0) { o += sprintf(o, "\\x%02X", p[i]); i++; continue; }
        memcpy(o, p + i, (size_t)l); o += l; i += (size_t)l;
    }
    *o = 0;
    return out;
}

int ct_figure_complete(const char *path, ct_plot_format fmt)
{
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    unsigned char head[8] = {0}, tail[1024];
    size_t nh = fread(head, 1, sizeof head, f), nt = 0;
    long size = fseek(f, 0, SEEK_END) == 0 ? ftell(f) : -1;
    if (size > 0) {
        long from = size > (long)sizeof tail ? size - (long)sizeof tail : 0;
        if (fseek(f, from, SEEK_SET) == 0) nt = fread(tail, 1, sizeof tail, f);
    }
    fclose(f);
    if (nh < 8 || nt == 0) return 0;
    if (fmt == CT_PLOT_PNG) {
        static const unsigned char sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
        static const unsigned char iend[12] = {0, 0, 0, 0, 'I', 'E', 'N', 'D', 0xae, 0x42, 0x60, 0x82};
        return !memcmp(head, sig, 8) && nt >= 12 && !memcmp(tail + nt - 12, iend, 12);
    }
    const char *start = fmt == CT_PLOT_SVG ? "<" : "%PDF-", *end = fmt == CT_PLOT_SVG ? "</svg>" : "%%EOF";
    if (memcmp(head, start, strlen(start))) return 0;
    return memmem(tail, nt, end, strlen(end)) != NULL;
}

