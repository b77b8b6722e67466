/* merge.c — ct_run_merge_shards: the per-shard summary/errors files of one
 * output directory (a job array's shards writing side by side) joined into
 * summary.jsonl / errors.jsonl, in row order as an unsharded run writes them. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <cjson/cJSON.h>
#include "ctrace_app.h"
#include "common/file.h"

typedef struct { long row, seq; char *text; } mline;

static int cmp_mline(const void *a, const void *b)
{
    const mline *x = a, *y = b;
    return x->row != y->row ? (x->row < y->row ? -1 : 1) : (x->seq < y->seq ? -1 : x->seq > y->seq);
}

static double mtime_of(const char *path)
{
    struct stat st;
    return stat(path, &st) ? -1 : (double)st.st_mtim.tv_sec + st.st_mtim.tv_nsec * 1e-9;
}

/* "STEM.shard-K-of-N.jsonl" -> K, N. */
static int shard_of(const char *name, const char *stem, int *k, int *n)
{
    size_t sl = strlen(stem);
    if (strncmp(name, stem, sl) || strncmp(name + sl, ".shard-", 7)) return 0;
    int used = 0;
    if (sscanf(name + sl + 7, "%d-of-%d.jsonl%n", k, n, &used) != 2 || name[sl + 7 + used] || *n < 2 || *k < 0 || *k >= *n)
        return 0;
    return 1;
}

/* Joins DIR/STEM.shard-K-of-N.jsonl for the shards in have[0..n) into DIR/STEM.jsonl. */
static int merge_stem(const char *dir, const char *stem, const unsigned char *have, int n, ct_err *err)
{
    mline *v = NULL;
    size_t nv = 0, cap = 0;
    long seq = 0;
    int rc = -1;
    char path[4300];
    for (int k = 0; k < n; k++) {
        if (!have[k]) continue;
        snprintf(path, sizeof path, "%s/%s.shard-%d-of-%d.jsonl", dir, stem, k, n);
        FILE *f = fopen(path, "rb");
        if (!f) continue;           /* errors files of a shard still running: none yet */
        char *line = NULL;
        size_t lcap = 0;
        ssize_t len;
        while ((len = getline(&line, &lcap, f)) > 0) {
            while (len && (line[len - 1] == '\n' || line[len - 1] == '\r')) line[--len] = 0;
            if (!len) continue;
            cJSON *o = cJSON_ParseWithLength(line, (size_t)len);
            if (!o) { fclose(f); free(line); ct_fail(err, "%s: a line that is not JSON (torn?)", path); goto out; }
            const cJSON *r = cJSON_GetObjectItemCaseSensitive(o, "row");
            long row = cJSON_IsNumber(r) ? (long)r->valueint : -1;
            cJSON_Delete(o);
            if (nv == cap) {
                mline *nvv = realloc(v, (cap = cap ? 2 * cap : 256) * sizeof *v);
                if (!nvv) { fclose(f); free(line); ct_fail(err, "%s: out of memory", path); goto out; }
                v = nvv;
            }
            if (!(v[nv].text = strdup(line))) { fclose(f); free(line); ct_fail(err, "%s: out of memory", path); goto out; }
            v[nv].row = row;
            v[nv].seq = seq++;
            nv++;
        }
        free(line);
        fclose(f);
    }
    if (nv) qsort(v, nv, sizeof *v, cmp_mline);   /* v is NULL when no line was read: qsort wants non-NULL */
    snprintf(path, sizeof path, "%s/%s.jsonl", dir, stem);
    ct_atomic a;
    if (ct_atomic_open(&a, path, err)) goto out;
    for (size_t i = 0; i < nv; i++) fprintf(a.f, "%s\n", v[i].text);
    rc = ct_atomic_commit(&a, err);
out:
    for (size_t i = 0; i < nv; i++) free(v[i].text);
    free(v);
    return rc;
}

int ct_run_merge_shards(const char *dir, int *found, int *of_n, ct_err *err)
{
    *found = *of_n = 0;
    DIR *d = opendir(dir);
    if (!d) return 0;               /* not a run directory: nothing to merge */
    int n = 0, bad = 0;
    unsigned char *have = NULL;
    double newest = -1;
    struct dirent *de;
    while ((de = readdir(d))) {
        int k, nn, is_sum = shard_of(de->d_name, "summary", &k, &nn);
        if (!is_sum && !shard_of(de->d_name, "errors", &k, &nn)) continue;
        if (n && nn != n) { bad = nn; continue; }
        if (!n) { n = nn; if (!(have = calloc((size_t)n, 1))) { closedir(d); return ct_fail(err, "%s: out of memory", dir); } }
        char path[4300];
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        double t = mtime_of(path);
        if (t > newest) newest = t;
        if (is_sum && !have[k]) { have[k] = 1; (*found)++; }
    }
    closedir(d);
    *of_n = n;
    if (bad) {
        free(have);
        return ct_fail(err, "%s: per-shard files of two job sizes (of %d and of %d shards): remove the stale ones", dir, n, bad);
    }
    int rc = 0;
    char sum[4300];
    snprintf(sum, sizeof sum, "%s/summary.jsonl", dir);
    /* an unsharded run (or an earlier merge) newer than every shard file has
     * the whole picture already */
    if (n && mtime_of(sum) < newest)
        rc = merge_stem(dir, "summary", have, n, err) || merge_stem(dir, "errors", have, n, err) ? -1 : 0;
    free(have);
    return rc;
}
