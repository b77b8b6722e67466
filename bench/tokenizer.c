/* bench/tokenizer.c — tokenizer load time and encode throughput.
 * Text: the prompts (prompt_with_ctx) and passages of the peq-both dataset,
 * about 4 MB, plus a multilingual/emoji block, encoded line by line (the way
 * ctrace encodes prompts) and as one 1 MB string.  Results: docs/benchmarks.md. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <dirent.h>
#include <cjson/cJSON.h>
#include "ctrace_app.h"

/* CPU time of this process: the bench machine is shared, and wall time there
 * mostly measures the neighbours. */
static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* The test fixtures as `make fixtures` lays them out (`make bench` sets it). */
static const char *fixtures(void)
{
    const char *s = getenv("CTRACE_FIXTURES");
    return s ? s : "build/fixtures";
}

/* Builds ~target bytes of newline-separated text from the dataset. */
static char *corpus(size_t target, size_t *len)
{
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/datasets/peq-both", fixtures());
    size_t cap = 2 * target + 65536, n = 0;
    char *buf = malloc(cap);
    static const char *extra =
        "Zürich, São Paulo, Antonín Dvořák, Łódź, Nguyễn Phú Trọng. 東京は日本の首都です。서울특별시 "
        "こんにちは世界 नमस्ते दुनिया Москва — столица России. 👍🏽 👨‍👩‍👧‍👦 🇫🇷 1234567890 3.14159\n";
    DIR *d = opendir(dir);
    struct dirent *de;
    char *line = NULL;
    size_t lcap = 0;
    while (d && n < target && (de = readdir(d))) {
        if (!strstr(de->d_name, ".jsonl")) continue;
        char p[2048];
        snprintf(p, sizeof p, "%s/%s", dir, de->d_name);
        FILE *f = fopen(p, "r");
        while (f && n < target && getline(&line, &lcap, f) > 0) {
            cJSON *j = cJSON_Parse(line);
            const cJSON *t = cJSON_GetObjectItem(j, "prompt_with_ctx");
            if (cJSON_IsString(t) && n + strlen(t->valuestring) + strlen(extra) + 2 < cap) {
                n += (size_t)sprintf(buf + n, "%s\n", t->valuestring);
                if (n % 7 == 0) n += (size_t)sprintf(buf + n, "%s", extra);
            }
            cJSON_Delete(j);
        }
        if (f) fclose(f);
    }
    if (d) closedir(d);
    free(line);
    /* the dataset's prompts are ~1 MB: repeat them up to the target size */
    for (size_t base = n; base > 0 && n + base <= target;) { memcpy(buf + n, buf, base); n += base; }
    *len = n;
    return buf;
}

int main(void)
{
    static const char *names[] = {"gpt2", "gpt-neox-20b", "llama3", "qwen2.5", "llama2", "mistral-7b-v0.1"};
    size_t len;
    char *text = corpus(4u << 20, &len);
    printf("corpus: %.2f MB of dataset prompts + multilingual lines\n", (double)len / 1e6);
    for (size_t k = 0; k < sizeof names / sizeof names[0]; k++) {
        char path[1024];
        snprintf(path, sizeof path, "%s/hf-tokenizers/%s", fixtures(), names[k]);
        ct_err err;
        ct_tokenizer *tok = NULL;
        double best = 1e9;
        for (int r = 0; r < 3; r++) {
            if (tok) ct_tokenizer_free(tok);
            double t0 = now();
            if (ct_tokenizer_load(&tok, path, &err)) { fprintf(stderr, "%s\n", err.msg); return 1; }
            double dt = now() - t0;
            if (dt < best) best = dt;
        }
        /* line by line */
        double t0 = now();
        long ntok = 0;
        for (char *p = text; p < text + len;) {
            char *nl = memchr(p, '\n', (size_t)(text + len - p));
            size_t l = nl ? (size_t)(nl - p) : (size_t)(text + len - p);
            ct_encoding e;
            if (ct_encode(tok, p, l, 1, &e, &err)) { fprintf(stderr, "%s\n", err.msg); return 1; }
            ntok += e.n;
            ct_encoding_free(&e);
            p += l + 1;
        }
        double dl = now() - t0;
        /* one 1 MB string */
        size_t big = len < (1u << 20) ? len : (1u << 20);
        while (big > 0 && ((unsigned char)text[big] & 0xC0) == 0x80) big--;
        t0 = now();
        ct_encoding e;
        if (ct_encode(tok, text, big, 0, &e, &err)) { fprintf(stderr, "%s\n", err.msg); return 1; }
        double db = now() - t0;
        printf("%-16s load %7.1f ms   encode by line %6.2f MB/s (%ld tokens, %.2f M tok/s)   one 1 MB string %6.2f MB/s\n",
               names[k], best * 1e3, (double)len / 1e6 / dl, ntok, (double)ntok / 1e6 / dl, (double)big / 1e6 / db);
        ct_encoding_free(&e);
        ct_tokenizer_free(tok);
    }
    free(text);
    return 0;
}
