/* test_case_file.c — ct_case_write: the case file reopens with the strict
 * safetensors reader, holds every documented tensor with its shape, the
 * scores match ROME's table for the same trace, and the metadata JSON carries
 * the settings. */
#include <cjson/cJSON.h>
#include <unistd.h>
#include "harness.h"
#include "ctrace_app.h"

static const ct_tensor_view *shape(ct_st_file *f, const char *name, ct_dtype dt, int ndim, const int64_t *sh)
{
    const ct_tensor_view *t = ct_st_find(f, name);
    int ok = t && t->dtype == dt && t->ndim == ndim;
    for (int i = 0; ok && i < ndim; i++) ok = t->shape[i] == sh[i];
    CHECK(ok, "tensor %s: missing or wrong dtype/shape", name);
    return ok ? t : NULL;
}

int main(void)
{
    TEST_BEGIN();
    ct_err err = {0};
    ct_model *m = NULL;
    if (ct_model_load(&m, ct_fixture("hf-tiny/gpt2"), &err)) {
        CHECK(0, "the hf-tiny gpt2 fixture does not load: %s", err.msg);
        return TEST_END();
    }
    ct_st_file ref;
    CHECK_OK(ct_st_open(&ref, ct_fixture("traces/gpt2.safetensors"), &err), &err);
    const ct_tensor_view *pv = ct_st_find(&ref, "prompt_ids");
    int32_t cf0[1] = {7}, cf1[2] = {11, 13};
    const int32_t *cfs[2] = {cf0, cf1};
    int cfl[2] = {1, 2};
    ct_trace_input in = {.ids = pv->data, .n_ids = 19, .ranges = ct_st_find(&ref, "span")->data, .n_ranges = 1,
                         .answer = ct_st_find(&ref, "answer_id")->data, .n_answer = 1, .n_cf = 2, .cf = cfs, .cf_len = cfl};
    ct_trace_settings s;
    ct_trace_settings_default(&s);
    s.samples = 3;
    ct_trace_result r;
    CHECK_OK(ct_trace_run(m, &in, &s, &r, &err), &err);
    char path[] = "/tmp/ctrace-case-XXXXXX";
    int fd = mkstemp(path);
    close(fd);
    CHECK_OK(ct_case_write(path, &in, &s, &r, "hf-tiny/gpt2", "{\"row\":3,\"kind\":\"overridden?\"}", &err), &err);
    ct_st_file f;
    CHECK_OK(ct_st_open(&f, path, &err), &err);
    if (!err.msg[0]) {
        int64_t TL[] = {19, 4}, STL[] = {3, 19, 4}, S[] = {3}, T[] = {19}, R[] = {1, 2}, A[] = {1}, CA[] = {2, 2},
                CTL[] = {2, 19, 4}, CSTL[] = {2, 3, 19, 4}, C[] = {2}, CS[] = {2, 3};
        const ct_tensor_view *sc = shape(&f, "scores", CT_F32, 2, TL);
        if (sc) CHECK_CLOSE((const float *)sc->data, (const float *)ct_st_find(&ref, "scores_hidden")->data, 76, 1e-5, "scores vs ROME");
        shape(&f, "scores_samples", CT_F32, 3, STL);
        const ct_tensor_view *lo = shape(&f, "low_score", CT_F32, 0, NULL), *hi = shape(&f, "high_score", CT_F32, 0, NULL);
        if (lo) CHECK_CLOSE((const float *)lo->data, (const float *)ct_st_find(&ref, "low_score")->data, 1, 1e-5, "low_score");
        if (hi) CHECK_CLOSE((const float *)hi->data, (const float *)ct_st_find(&ref, "high_score")->data, 1, 1e-5, "high_score");
        const ct_tensor_view *te = shape(&f, "te", CT_F32, 0, NULL), *ie = shape(&f, "ie", CT_F32, 2, TL);
        if (te && hi && lo) CHECK(*(const float *)te->data == *(const float *)hi->data - *(const float *)lo->data, "te = high - low");
        if (ie && sc && lo) CHECK(((const float *)ie->data)[75] == ((const float *)sc->data)[75] - *(const float *)lo->data, "ie = scores - low");
        shape(&f, "low_samples", CT_F32, 1, S);
        const ct_tensor_view *ii = shape(&f, "input_ids", CT_I32, 1, T);
        if (ii) CHECK(!memcmp(ii->data, pv->data, 19 * 4), "input_ids");
        const ct_tensor_view *tr = shape(&f, "target_ranges", CT_I32, 2, R);
        if (tr) CHECK(((const int32_t *)tr->data)[0] == 5 && ((const int32_t *)tr->data)[1] == 9, "target_ranges");
        shape(&f, "answer_ids", CT_I32, 1, A);
        const ct_tensor_view *ci = shape(&f, "cf_ids", CT_I32, 2, CA);
        if (ci) CHECK(((const int32_t *)ci->data)[1] == -1 && ((const int32_t *)ci->data)[3] == 13, "cf_ids padded with -1");
        shape(&f, "cf_scores", CT_F32, 3, CTL);
        shape(&f, "cf_scores_samples", CT_F32, 4, CSTL);
        shape(&f, "cf_high_score", CT_F32, 1, C);
        shape(&f, "cf_low_score", CT_F32, 1, C);
        shape(&f, "cf_low_samples", CT_F32, 2, CS);
        /* metadata: string values, the settings as JSON under "ctrace" */
        cJSON *md = cJSON_Parse(f.metadata ? f.metadata : "");
        cJSON *js = md ? cJSON_GetObjectItem(md, "ctrace") : NULL;
        CHECK(cJSON_IsString(js), "metadata has a \"ctrace\" string");
        cJSON *st = js ? cJSON_Parse(js->valuestring) : NULL;
        CHECK(st != NULL, "the ctrace metadata is JSON");
        if (st) {
            CHECK(!strcmp(cJSON_GetObjectItem(st, "kind")->valuestring, "overridden?"), "extra JSON members override");
            CHECK(cJSON_GetObjectItem(st, "row")->valueint == 3, "extra JSON members added");
            CHECK(cJSON_GetObjectItem(st, "samples")->valueint == 3, "samples");
            CHECK(cJSON_GetObjectItem(st, "seed")->valueint == 1, "seed");
            CHECK(cJSON_GetObjectItem(st, "noise_level")->valuedouble == 0.7503045201301575, "noise_level %.17g",
                  cJSON_GetObjectItem(st, "noise_level")->valuedouble);
            CHECK(!strcmp(cJSON_GetObjectItem(st, "metric")->valuestring, "prob"), "metric");
            CHECK(cJSON_GetArraySize(cJSON_GetObjectItem(st, "tokens")) == 19, "tokens");
            cJSON_Delete(st);
        }
        CHECK(md && !strcmp(cJSON_GetObjectItem(md, "format")->valuestring, "ctrace-case-1"), "format key");
        cJSON_Delete(md);
        ct_st_close(&f);
    }
    unlink(path);
    ct_trace_result_free(&r);
    ct_st_close(&ref);
    ct_model_free(m);
    return TEST_END();
}
