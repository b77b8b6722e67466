/* settings_json.h — the trace settings as JSON members, written the same way
 * into case files (src/trace/case_file.c) and run.json (src/experiment/run.c). */
#ifndef CT_TRACE_SETTINGS_JSON_H
#define CT_TRACE_SETTINGS_JSON_H
#include <cjson/cJSON.h>
#include "ctrace.h"

/* Adds window, samples, noise_rule, noise_value, noise_source, patch_source, seed, replace,
 * reverse_patching, metric and engine to the object o (not the kind: a run
 * traces several). */
void tr_settings_add_json(cJSON *o, const ct_trace_settings *s);
#endif
