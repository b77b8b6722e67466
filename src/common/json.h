/* json.h — JSON parsing as Python's json reads it (not public API). */
#ifndef CT_COMMON_JSON_H
#define CT_COMMON_JSON_H
#include <stddef.h>
#include <cjson/cJSON.h>

/* cJSON_ParseWithLength, then every object in the tree keeps only the last
 * of duplicate keys (Python's json, and so the seed tool and transformers,
 * take the last; cJSON's lookups would find the first).  NULL when malformed
 * or out of memory. */
cJSON *ct_json_parse(const char *text, size_t len);

/* The same on a parsed tree.  0, or -1 when out of memory. */
int ct_json_dedup_keys(cJSON *root);
#endif
