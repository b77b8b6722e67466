/* json.c — duplicate keys resolved as Python's json does: the last one wins. */
#include <stdlib.h>
#include <string.h>
#include "common/json.h"

typedef struct { const char *key; size_t idx; cJSON *item; } entry;

static int cmp_entry(const void *a, const void *b)
{
    const entry *x = a, *y = b;
    int c = strcmp(x->key, y->key);
    return c ? c : (x->idx < y->idx ? -1 : x->idx > y->idx);
}

/* One object's children: sort (key, position) so that duplicates are
 * neighbours, and drop all but the last of each run (O(n log n): a
 * tokenizer.json vocabulary has 10^5 keys). */
static int dedup_object(cJSON *obj)
{
    size_t n = 0;
    for (cJSON *c = obj->child; c; c = c->next) n++;
    if (n < 2) return 0;
    entry *e = malloc(n * sizeof *e);
    if (!e) return -1;
    size_t i = 0;
    for (cJSON *c = obj->child; c; c = c->next, i++) e[i] = (entry){c->string ? c->string : "", i, c};
    qsort(e, n, sizeof *e, cmp_entry);
    for (i = 0; i + 1 < n; i++)
        if (!strcmp(e[i].key, e[i + 1].key)) cJSON_Delete(cJSON_DetachItemViaPointer(obj, e[i].item));
    free(e);
    return 0;
}

int ct_json_dedup_keys(cJSON *root)
{
    if (!root) return 0;
    if (cJSON_IsObject(root) && dedup_object(root)) return -1;
    for (cJSON *c = root->child; c; c = c->next)
        if ((cJSON_IsObject(c) || cJSON_IsArray(c)) && ct_json_dedup_keys(c)) return -1;
    return 0;
}

cJSON *ct_json_parse(const char *text, size_t len)
{
    cJSON *root = cJSON_ParseWithLength(text, len);
    if (root && ct_json_dedup_keys(root)) { cJSON_Delete(root); return NULL; }
    return root;
}
