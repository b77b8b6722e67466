/* predict.h — the top tokens of the clean and corrupted runs (predict.c). */
#ifndef CT_EXPERIMENT_PREDICT_H
#define CT_EXPERIMENT_PREDICT_H
#include "ctrace.h"

/* clean / corrupt: the CT_TOP_K most probable next tokens after the prompt
 * in->ids, in the clean run and averaged over s->samples corrupted runs
 * (noise level `level`, the trace result's); p_answer_*: the probability of
 * the answer's first token in each (may be NULL). */
int ct__predictions(const ct_model *m, const ct_tokenizer *tk, const ct_trace_input *in, const ct_trace_settings *s,
                    double level, ct_top_tokens *clean, ct_top_tokens *corrupt, double *p_answer_clean,
                    double *p_answer_corrupt, ct_err *err);
#endif
