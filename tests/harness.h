/* harness.h — a tiny test harness: CHECK macros that print the values that
 * differ, and a summary line.  Each tests/test_*.c is one program:
 *
 *   int main(void) { TEST_BEGIN(); ...CHECK...; return TEST_END(); }
 *
 * Fixtures: ct_fixture("hf-tiny/gpt2") gives the path of a fixture in
 * build/fixtures, where `make fixtures` lays out tests/fixtures decompressed
 * (CTRACE_FIXTURES overrides the folder).  A missing fixture is a failed
 * check, and a program that ran no check fails: a test cannot pass by
 * finding nothing to test.  */
#ifndef CT_TEST_HARNESS_H
#define CT_TEST_HARNESS_H
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static int ct_t_fail, ct_t_pass;
static const char *ct_t_name = "";

#define TEST_BEGIN() (ct_t_name = __FILE__)
#define TEST_END() (ct_t_pass + ct_t_fail == 0 ? (ct_t_fail = 1, printf("FAIL %s: no check ran\n", ct_t_name)) : 0, \
    printf("%s: %d checks passed, %d failed\n", ct_t_name, ct_t_pass, ct_t_fail), ct_t_fail ? 1 : 0)

#define CHECK(cond, ...) do { if (cond) ct_t_pass++; else { ct_t_fail++; \
    printf("FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond); printf(__VA_ARGS__); printf("\n"); } } while (0)

#define CHECK_OK(expr, errp) do { if ((expr) == 0) ct_t_pass++; else { ct_t_fail++; \
    printf("FAIL %s:%d: %s: %s\n", __FILE__, __LINE__, #expr, (errp)->msg); } } while (0)

/* The whole file as a NUL-terminated string (free it); *len (may be NULL)
 * its byte count.  NULL when it cannot be read. */
static inline char *ct_slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    rewind(f);
    char *b = n >= 0 ? malloc((size_t)n + 1) : NULL;
    if (b && fread(b, 1, (size_t)n, f) != (size_t)n) { free(b); b = NULL; }
    if (b) b[n] = 0;
    fclose(f);
    if (b && len) *len = (size_t)n;
    return b;
}

/* Max |a-b| over n floats, reporting the worst index. */
static inline double ct_max_abs_diff(const float *a, const float *b, long n, long *where)
{
    double m = 0; long w = -1;
    for (long i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)b[i]);
        if (d > m || d != d) { m = d; w = i; if (d != d) { m = INFINITY; break; } }
    }
    if (where) *where = w;
    return m;
}

#define CHECK_CLOSE(a, b, n, tol, label) do { long w_; double d_ = ct_max_abs_diff((a), (b), (n), &w_); \
    if (d_ <= (tol)) ct_t_pass++; else { ct_t_fail++; \
    printf("FAIL %s:%d: %s: max |diff| %.3g > %.3g at index %ld (got %.9g, want %.9g)\n", __FILE__, __LINE__, \
           (label), d_, (double)(tol), w_, (double)(a)[w_], (double)(b)[w_]); } } while (0)

static inline const char *ct_fixture(const char *rel)
{
    static char buf[8][4096];
    static int k;
    const char *root = getenv("CTRACE_FIXTURES");
    char *b = buf[k++ & 7];
    snprintf(b, sizeof buf[0], "%s/%s", root && *root ? root : "build/fixtures", rel);
    struct stat st;
    if (stat(b, &st) != 0) {
        ct_t_fail++;
        printf("FAIL missing fixture %s (make fixtures lays out tests/fixtures there)\n", b);
    }
    return b;
}
#endif
