/* model_id.c — a model's identity for case files: a hash of what decides the
 * numbers (config.json's bytes and every safetensors file's name, size and
 * header, i.e. tensor names, dtypes, shapes and offsets) without reading the
 * weights themselves (gigabytes).  Two checkpoints that differ only in weight
 * values with identical headers and sizes collide: fine-tunes of one base
 * model do; the hash then still tells models of different shapes, files or
 * configs apart, which is the mistake it exists to catch (a resumed run with
 * another model of the same tokenizer). */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "ctrace_app.h"

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) { h ^= b[i]; h *= 0x100000001b3ull; }
    return h;
}

static int has_suffix(const char *s, const char *suf)
{
    size_t n = strlen(s), m = strlen(suf);
    return n >= m && !strcmp(s + n - m, suf);
}

/* Hashes the first `limit` bytes of a file (all when limit < 0). */
static int hash_file(uint64_t *h, const char *path, long limit, long *size)
{
    FILE *f = fopen(path, "rb");
    if (!f) return -1;
    struct stat st;
    if (fstat(fileno(f), &st)) { fclose(f); return -1; }
    *size = (long)st.st_size;
    char buf[65536];
    long left = limit < 0 ? (long)st.st_size : limit;
    while (left > 0) {
        size_t n = fread(buf, 1, left < (long)sizeof buf ? (size_t)left : sizeof buf, f);
        if (!n) break;
        *h = fnv(*h, buf, n);
        left -= (long)n;
    }
    fclose(f);
    return 0;
}

int ct_model_identity(const char *dir, char *out, size_t cap, ct_err *err)
{
    uint64_t h = 0xcbf29ce484222325ull;
    char path[4096];
    long size = 0, total = 0;
    snprintf(path, sizeof path, "%s/config.json", dir);
    if (hash_file(&h, path, -1, &size)) return ct_fail(err, "%s: cannot read", path);
    struct dirent **names;
    int n = scandir(dir, &names, NULL, alphasort), files = 0;
    if (n < 0) return ct_fail(err, "%s: cannot read the directory", dir);
    for (int i = 0; i < n; i++) {
        const char *nm = names[i]->d_name;
        if (has_suffix(nm, ".safetensors")) {
            snprintf(path, sizeof path, "%s/%s", dir, nm);
            FILE *f = fopen(path, "rb");
            unsigned char len8[8];
            uint64_t hl = 0;
            if (f && fread(len8, 1, 8, f) == 8)
                for (int b = 7; b >= 0; b--) hl = hl << 8 | len8[b];
            if (f) fclose(f);
            h = fnv(h, nm, strlen(nm) + 1);
            if (hl > (1u << 30) || hash_file(&h, path, 8 + (long)hl, &size)) {
                for (; i < n; i++) free(names[i]);
                free(names);
                return ct_fail(err, "%s: cannot read its header", path);
            }
            h = fnv(h, &size, sizeof size);
            total += size;
            files++;
        }
        free(names[i]);
    }
    free(names);
    if (!files) return ct_fail(err, "%s: no *.safetensors file", dir);
    snprintf(out, cap, "fnv1a64:%016llx (config.json + %d safetensors header(s), %ld bytes of weights files)",
             (unsigned long long)h, files, total);
    return 0;
}
