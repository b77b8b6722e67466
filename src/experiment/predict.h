/* predict.h — the top tokens of the clean and corrupted runs, with texts. */
#ifndef CT_EXPERIMENT_PREDICT_H
#define CT_EXPERIMENT_PREDICT_H
#include "ctrace_app.h"

/* clean / corrupt from the trace result's top_* arrays (the engine's runs),
 * each token decoded alone with tk (its piece when decoding fails). */
void ct__predictions(const ct_trace_result *r, const ct_tokenizer *tk, ct_top_tokens *clean, ct_top_tokens *corrupt);
#endif
