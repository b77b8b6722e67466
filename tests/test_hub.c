/* test_hub.c — ct_hub_resolve on a fake Hugging Face cache laid out as
 * huggingface_hub writes it (models--org--name/{refs,snapshots,blobs}, the
 * snapshot files relative symlinks into blobs/): refs/main, a named revision,
 * a 40-hex commit, a missing model, revision and snapshot, the environment
 * variables' order, an existing directory winning over an id, and the
 * resolved snapshot loading as a model and a tokenizer. */
#include <errno.h>
#include <unistd.h>
#include "harness.h"
#include "ctrace_app.h"

#define HASH_A "0123456789abcdef0123456789abcdef01234567"
#define HASH_B "fedcba9876543210fedcba9876543210fedcba98"
#define HASH_C "1111111111111111111111111111111111111111"   /* no snapshot */

static int put(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (!f) return -1;
    fputs(text, f);
    return fclose(f);
}

static int copy(const char *from, const char *to)
{
    FILE *a = fopen(from, "rb"), *b = a ? fopen(to, "wb") : NULL;
    if (!a || !b) { if (a) fclose(a); return -1; }
    char buf[65536];
    size_t k;
    while ((k = fread(buf, 1, sizeof buf, a)) > 0) fwrite(buf, 1, k, b);
    fclose(a);
    return fclose(b);
}

static int sh(const char *fmt, const char *a, const char *b)
{
    char cmd[8192];
    snprintf(cmd, sizeof cmd, fmt, a, b);
    return system(cmd);
}

/* ROOT/models--org--tiny: blobs/ holds the files under hash-like names, and
 * snapshots/HASH_A/ and snapshots/HASH_B/ link to them as huggingface_hub does
 * (../../blobs/NAME); refs/main -> HASH_A (no newline), refs/v1 -> HASH_B
 * (with one).  0 / -1. */
static int make_repo(const char *root)
{
    char repo[2048], p[4096], q[4096];
    snprintf(repo, sizeof repo, "%s/models--org--tiny", root);
    if (sh("mkdir -p '%s/blobs' '%s/refs'", repo, repo)) return -1;
    const char *files[][2] = {{"config.json", "hf-tiny/gpt2/config.json"},
                              {"model.safetensors", "hf-tiny/gpt2/model.safetensors"},
                              {"tokenizer.json", "hf-tokenizers/gpt2/tokenizer.json"}};
    for (int i = 0; i < 3; i++) {
        snprintf(p, sizeof p, "%s/blobs/b%d", repo, i);
        if (copy(ct_fixture(files[i][1]), p)) return -1;
    }
    const char *hashes[2] = {HASH_A, HASH_B};
    for (int h = 0; h < 2; h++) {
        snprintf(p, sizeof p, "%s/snapshots/%s", repo, hashes[h]);
        if (sh("mkdir -p '%s'%s", p, "")) return -1;
        for (int i = 0; i < 3; i++) {
            snprintf(p, sizeof p, "%s/snapshots/%s/%s", repo, hashes[h], files[i][0]);
            snprintf(q, sizeof q, "../../blobs/b%d", i);
            if (symlink(q, p)) return -1;
        }
    }
    snprintf(p, sizeof p, "%s/refs/main", repo);
    if (put(p, HASH_A)) return -1;
    snprintf(p, sizeof p, "%s/refs/v1", repo);
    if (put(p, HASH_B "\n")) return -1;
    snprintf(p, sizeof p, "%s/refs/broken", repo);
    return put(p, "not a commit\n");
}

static void env_clear(void)
{
    unsetenv("HF_HUB_CACHE");
    unsetenv("HUGGINGFACE_HUB_CACHE");
    unsetenv("HF_HOME");
    unsetenv("XDG_CACHE_HOME");
}

/* resolve NAME: expect return value WANT and (for 1) the snapshot ROOT/models--org--tiny/snapshots/HASH */
static void expect(const char *name, int want, const char *root, const char *hash)
{
    char dir[4096], exp[4096];
    ct_err err = {{0}};
    int r = ct_hub_resolve(name, dir, sizeof dir, &err);
    CHECK(r == want, "%s: returned %d, want %d (%s)", name, r, want, r < 0 ? err.msg : dir);
    if (r == 1 && want == 1) {
        snprintf(exp, sizeof exp, "%s/models--org--tiny/snapshots/%s", root, hash);
        CHECK(!strcmp(dir, exp), "%s: resolved to %s, want %s", name, dir, exp);
    }
    if (r == 0 && want == 0) CHECK(!strcmp(dir, name), "%s: a path comes back unchanged, got %s", name, dir);
}

/* resolve NAME: expect -1 and a message holding every NEEDLE */
static void expect_err(const char *name, const char *n1, const char *n2, const char *n3)
{
    char dir[4096];
    ct_err err = {{0}};
    int r = ct_hub_resolve(name, dir, sizeof dir, &err);
    CHECK(r == -1, "%s: returned %d, want -1", name, r);
    const char *needles[3] = {n1, n2, n3};
    for (int i = 0; i < 3; i++)
        if (needles[i]) CHECK(strstr(err.msg, needles[i]) != NULL, "%s: message lacks \"%s\": %s", name, needles[i], err.msg);
    CHECK(!strchr(err.msg, '\n'), "%s: message is one line", name);
}

int main(void)
{
    TEST_BEGIN();
    char tmpl[] = "/tmp/ct_hub_test.XXXXXX";
    char *tmp = mkdtemp(tmpl);
    CHECK(tmp != NULL, "mkdtemp: %s", strerror(errno));
    if (!tmp) return TEST_END();
    char cache[1024], home[1024], xdg[1024], p[4096];
    snprintf(cache, sizeof cache, "%s/cache", tmp);
    snprintf(home, sizeof home, "%s/home", tmp);
    snprintf(xdg, sizeof xdg, "%s/xdg", tmp);
    CHECK(make_repo(cache) == 0, "fake cache in %s", cache);

    /* 1. $HF_HUB_CACHE: refs/main, a named revision, a commit */
    env_clear();
    setenv("HF_HUB_CACHE", cache, 1);
    expect("org/tiny", 1, cache, HASH_A);
    expect("org/tiny@main", 1, cache, HASH_A);
    expect("org/tiny@v1", 1, cache, HASH_B);
    expect("org/tiny@" HASH_B, 1, cache, HASH_B);

    /* 2. what is not there: one line saying where it looked and that nothing is downloaded */
    expect_err("org/missing", "models--org--missing", cache, "does not download");
    expect_err("org/missing", "$HF_HUB_CACHE", NULL, NULL);
    expect_err("org/tiny@v2", "refs/v2", "does not download", NULL);
    expect_err("org/tiny@" HASH_C, "snapshots/" HASH_C, "does not download", NULL);
    expect_err("org/tiny@broken", "refs/broken", "commit hash", NULL);
    expect_err("org/tiny@../../etc", "bad revision", NULL, NULL);
    expect_err("solo", "models--solo", NULL, NULL);   /* ids without an org, as "gpt2" */

    /* 3. not hub ids: handed back as paths for the loader to report */
    expect("/no/such/dir", 0, NULL, NULL);
    expect("a/b/c", 0, NULL, NULL);
    expect("./org/tiny", 0, NULL, NULL);
    expect("../org/tiny", 0, NULL, NULL);
    expect("org/ti--ny", 0, NULL, NULL);
    expect("org/.tiny", 0, NULL, NULL);

    /* 4. the snapshot loads as a model and as a tokenizer (symlinks into blobs/) */
    char dir[4096];
    ct_err err = {{0}};
    CHECK(ct_hub_resolve("org/tiny", dir, sizeof dir, &err) == 1, "%s", err.msg);
    ct_model *m = NULL, *ref = NULL;
    CHECK_OK(ct_model_load(&m, dir, &err), &err);
    CHECK_OK(ct_model_load(&ref, ct_fixture("hf-tiny/gpt2"), &err), &err);
    if (m && ref) {
        int V = ct_model_vocab(m), D = ct_model_d_model(m);
        CHECK(V == ct_model_vocab(ref) && ct_model_n_layers(m) == ct_model_n_layers(ref) && D == ct_model_d_model(ref),
              "shapes");
        if (V == ct_model_vocab(ref) && D == ct_model_d_model(ref)) {
            /* every token's embedding row, through the public lookup */
            int32_t *ids = malloc(sizeof *ids * V);
            float *a = malloc(sizeof *a * V * D), *b = malloc(sizeof *b * V * D);
            for (int i = 0; i < V; i++) ids[i] = i;
            ct_embed_tokens(m, ids, V, a);
            ct_embed_tokens(ref, ids, V, b);
            CHECK(!memcmp(a, b, sizeof *a * V * D), "the snapshot's weights are the fixture's");
            free(ids); free(a); free(b);
        }
    }
    ct_model_free(m);
    ct_model_free(ref);
    ct_tokenizer *tk = NULL;
    CHECK_OK(ct_tokenizer_load(&tk, dir, &err), &err);
    if (tk) CHECK(ct_tokenizer_vocab_size(tk) == 50257, "gpt2 vocab from the snapshot: %d", ct_tokenizer_vocab_size(tk));
    ct_tokenizer_free(tk);

    /* 5. the environment's order: HF_HUB_CACHE > HUGGINGFACE_HUB_CACHE > HF_HOME/hub >
     *    XDG_CACHE_HOME/huggingface/hub > ~/.cache/huggingface/hub */
    char c2[2048], h2[2048], x2[2048], d2[2048];
    snprintf(c2, sizeof c2, "%s/legacy", tmp);
    snprintf(h2, sizeof h2, "%s/hub", home);
    snprintf(x2, sizeof x2, "%s/huggingface/hub", xdg);
    snprintf(d2, sizeof d2, "%s/.cache/huggingface/hub", home);
    CHECK(make_repo(c2) == 0 && make_repo(h2) == 0 && make_repo(x2) == 0 && make_repo(d2) == 0, "four more caches");
    env_clear();
    setenv("HOME", home, 1);
    expect("org/tiny", 1, d2, HASH_A);
    setenv("XDG_CACHE_HOME", xdg, 1);
    expect("org/tiny", 1, x2, HASH_A);
    setenv("HF_HOME", home, 1);
    expect("org/tiny", 1, h2, HASH_A);
    setenv("HUGGINGFACE_HUB_CACHE", c2, 1);
    expect("org/tiny", 1, c2, HASH_A);
    setenv("HF_HUB_CACHE", cache, 1);
    expect("org/tiny", 1, cache, HASH_A);
    setenv("HF_HUB_CACHE", "", 1);              /* empty counts as unset, as in huggingface_hub */
    expect("org/tiny", 1, c2, HASH_A);
    env_clear();
    setenv("HF_HOME", tmp, 1);                  /* TMP/hub does not exist */
    expect_err("org/tiny", "$HF_HOME/hub", "does not download", NULL);

    /* 6. a directory that exists wins over the hub id of the same name */
    char cwd[4096];
    CHECK(getcwd(cwd, sizeof cwd) != NULL, "getcwd");
    env_clear();
    setenv("HF_HUB_CACHE", cache, 1);
    snprintf(p, sizeof p, "%s/work/org/tiny", tmp);
    CHECK(sh("mkdir -p '%s'%s", p, "") == 0, "mkdir %s", p);
    snprintf(p, sizeof p, "%s/work", tmp);
    if (chdir(p) == 0) {
        expect("org/tiny", 0, NULL, NULL);
        expect("org/tiny@v1", 1, cache, HASH_B);   /* "org/tiny@v1" itself is no directory */
        CHECK(chdir(cwd) == 0, "chdir back");
    } else CHECK(0, "chdir %s", p);

    sh("rm -rf '%s'%s", tmp, "");
    return TEST_END();
}
