/* hub.c — "org/name[@revision]" to a snapshot folder of the local Hugging Face
 * cache, laid out as huggingface_hub writes it:
 *
 *   CACHE/models--{org}--{name}/refs/{revision}      the commit hash, one line
 *   CACHE/models--{org}--{name}/snapshots/{commit}/  the files (symlinks into ../../blobs/)
 *
 * CACHE is $HF_HUB_CACHE, else $HUGGINGFACE_HUB_CACHE (its older name), else
 * $HF_HOME/hub, else $XDG_CACHE_HOME/huggingface/hub, else
 * ~/.cache/huggingface/hub: huggingface_hub's own order, so that ctrace finds
 * what `huggingface-cli download` or `from_pretrained` put there.  Nothing is
 * ever downloaded: ctrace runs on cluster nodes without network, and a
 * silent download of gigabytes would be worse than a clear message. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "ctrace.h"

/* huggingface_hub's repo-id rule: [org/]name of [A-Za-z0-9._-], neither
 * part empty, starting or ending with '.' or '-', nor holding "--" or "..". */
static int valid_part(const char *s, size_t n)
{
    if (n == 0 || n > 96 || s[0] == '.' || s[0] == '-' || s[n - 1] == '.' || s[n - 1] == '-') return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!isalnum(c) && c != '.' && c != '-' && c != '_') return 0;
        if (i + 1 < n && ((c == '-' && s[i + 1] == '-') || (c == '.' && s[i + 1] == '.'))) return 0;
    }
    return 1;
}

static int is_commit(const char *s)
{
    size_t n = strlen(s);
    if (n != 40) return 0;
    for (size_t i = 0; i < n; i++)
        if (!isxdigit((unsigned char)s[i]) || isupper((unsigned char)s[i])) return 0;
    return 1;
}

/* The cache folder and which setting gave it (for the message). */
static int cache_root(char *buf, size_t cap, const char **from)
{
    const char *v;
    int n;
    if ((v = getenv("HF_HUB_CACHE")) && *v) { *from = "$HF_HUB_CACHE"; n = snprintf(buf, cap, "%s", v); }
    else if ((v = getenv("HUGGINGFACE_HUB_CACHE")) && *v) { *from = "$HUGGINGFACE_HUB_CACHE"; n = snprintf(buf, cap, "%s", v); }
    else if ((v = getenv("HF_HOME")) && *v) { *from = "$HF_HOME/hub"; n = snprintf(buf, cap, "%s/hub", v); }
    else if ((v = getenv("XDG_CACHE_HOME")) && *v) { *from = "$XDG_CACHE_HOME/huggingface/hub"; n = snprintf(buf, cap, "%s/huggingface/hub", v); }
    else if ((v = getenv("HOME")) && *v) { *from = "~/.cache/huggingface/hub"; n = snprintf(buf, cap, "%s/.cache/huggingface/hub", v); }
    else return -1;
    return n > 0 && (size_t)n < cap ? 0 : -1;
}

int ct_hub_resolve(const char *name, char *dir, size_t cap, ct_err *err)
{
    if (!name || !*name) return ct_fail(err, "no model or tokenizer given");
    /* a path that exists wins: `models/demo` or `./org/name` never reach the cache */
    struct stat st;
    if (stat(name, &st) == 0) {
        if (strlen(name) >= cap) return ct_fail(err, "%.200s...: path too long", name);
        snprintf(dir, cap, "%s", name);
        return 0;
    }
    const char *at = strchr(name, '@'), *slash = strchr(name, '/');
    size_t idn = at ? (size_t)(at - name) : strlen(name);
    int hub = name[0] != '/' && (!slash || (size_t)(slash - name) < idn);
    if (hub) {
        if (slash) hub = valid_part(name, (size_t)(slash - name)) && !memchr(slash + 1, '/', idn - (size_t)(slash - name) - 1)
                         && valid_part(slash + 1, idn - (size_t)(slash - name) - 1);
        else hub = valid_part(name, idn);
    }
    if (!hub) {
        /* not an id: hand it on as a path, so the loader says what is missing */
        if (strlen(name) >= cap) return ct_fail(err, "%.200s...: path too long", name);
        snprintf(dir, cap, "%s", name);
        return 0;
    }
    const char *rev = at ? at + 1 : "main";
    if (!*rev || strstr(rev, "..") || rev[0] == '/')
        return ct_fail(err, "%s: bad revision after '@'", name);

    char root[2048], repo[2400], path[2600], commit[128];
    const char *from = "";
    if (cache_root(root, sizeof root, &from))
        return ct_fail(err, "%s: no such directory, and no Hugging Face cache to look in (set HF_HUB_CACHE or HF_HOME; "
                            "ctrace does not download models)", name);
    /* models--{org}--{name}: the '/' of the id becomes "--" */
    int n = slash ? snprintf(repo, sizeof repo, "%s/models--%.*s--%.*s", root, (int)(slash - name), name,
                             (int)(idn - (size_t)(slash - name) - 1), slash + 1)
                  : snprintf(repo, sizeof repo, "%s/models--%.*s", root, (int)idn, name);
    if (n < 0 || (size_t)n >= sizeof repo) return ct_fail(err, "%s: cache path too long", name);
    if (stat(repo, &st) != 0 || !S_ISDIR(st.st_mode))
        return ct_fail(err, "%s: no such directory, and not in the local Hugging Face cache (no %s; cache from %s); "
                            "ctrace does not download models: fetch it first (huggingface-cli download %.*s%s%s)",
                       name, repo, from, (int)idn, name, at ? " --revision " : "", at ? rev : "");
    if (is_commit(rev)) {
        snprintf(commit, sizeof commit, "%s", rev);
    } else {
        snprintf(path, sizeof path, "%s/refs/%s", repo, rev);
        FILE *f = fopen(path, "r");
        if (!f)
            return ct_fail(err, "%s: revision \"%s\" is not in the local Hugging Face cache (no %s); "
                                "ctrace does not download models", name, rev, path);
        size_t k = fread(commit, 1, sizeof commit - 1, f);
        fclose(f);
        commit[k] = 0;
        while (k && isspace((unsigned char)commit[k - 1])) commit[--k] = 0;
        if (!is_commit(commit)) return ct_fail(err, "%s: %s does not hold a commit hash", name, path);
    }
    n = snprintf(path, sizeof path, "%s/snapshots/%s", repo, commit);
    if (n < 0 || (size_t)n >= sizeof path) return ct_fail(err, "%s: cache path too long", name);
    if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode))
        return ct_fail(err, "%s: commit %s has no snapshot in the local Hugging Face cache (no %s); "
                            "ctrace does not download models", name, commit, path);
    if ((size_t)n >= cap) return ct_fail(err, "%s: snapshot path too long", name);
    memcpy(dir, path, (size_t)n + 1);
    return 1;
}
