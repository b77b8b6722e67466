/* head_figure.c — the figure of a head trace (ct_head_figure_write): two
 * layer × head panels, IE at the last token and at the last corrupted token,
 * drawn with the ordinary heat-map writer (one row per layer, one column per
 * query head).  A new file so that the per-case and averaged figures of the
 * sublayer kinds stay as they are. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include "ctrace_app.h"

int ct_head_figure_write(const float *ie, int T, int L, int H, int last_corrupted, const char *path, ct_plot_format fmt,
                         ct_err *err)
{
    if (T < 1 || L < 1 || H < 1) return ct_fail(err, "%s: a head trace needs T, L, H >= 1 (got %d, %d, %d)", path, T, L, H);
    char **labels = calloc((size_t)L, sizeof *labels);     /* [L] "layer l" */
    int rc = -1;
    if (!labels) return ct_fail_code(err, CT_ERR_NOMEM, "%s: out of memory", path);
    for (int l = 0; l < L; l++) {
        if (!(labels[l] = malloc(24))) { ct_fail_code(err, CT_ERR_NOMEM, "%s: out of memory", path); goto out; }
        snprintf(labels[l], 24, "layer %d", l);
    }
    /* the last corrupted token, else (none given) the last token twice */
    int ts[2] = {T - 1, last_corrupted >= 0 && last_corrupted < T ? last_corrupted : T - 1};
    char titles[2][96];
    float vmax = NAN;                   /* one colour range for both panels */
    for (int k = 0; k < 2; k++)
        for (int q = 0; q < L * H; q++) {
            float x = ie[(size_t)ts[k] * L * H + q];
            if (!isnan(x) && !(x <= vmax)) vmax = x;
        }
    ct_heatmap h[2];
    for (int k = 0; k < 2; k++) {
        snprintf(titles[k], sizeof titles[k], "Restoring one head: %s\n(token %d)", k ? "last corrupted token" : "last token",
                 ts[k]);
        h[k] = (ct_heatmap){.values = ie + (size_t)ts[k] * L * H, .rows = L, .cols = H,
                            .labels = (const char *const *)labels, .kind = "attention", .title = titles[k],
                            .xlabel = "head", .cbar_label = "IE", .vmin = NAN, .vmax = vmax > 0 ? vmax : NAN,
                            .hide_labels = k == 1};
    }
    rc = ct_heatmap_write(h, 2, path, fmt, err);
out:
    for (int l = 0; l < L; l++) free(labels[l]);
    free(labels);
    return rc;
}
