/* Safetensors reader/writer: round trip, fixtures, and every malformed-file case. */
#include <unistd.h>
#include "ctrace_app.h"
#include "harness.h"

static const char *tmpdir(void)
{
    static char d[256];
    if (!d[0]) { snprintf(d, sizeof d, "/tmp/ct_test_st_XXXXXX"); if (!mkdtemp(d)) abort(); }
    return d;
}

/* Writes raw bytes: 8-byte length + header + data. */
static void write_raw(const char *path, unsigned long long hlen, const char *hdr, const void *data, size_t dlen)
{
    FILE *f = fopen(path, "wb");
    for (int i = 0; i < 8; i++) fputc((int)((hlen >> (8 * i)) & 0xff), f);
    fwrite(hdr, 1, strlen(hdr), f);
    if (dlen) fwrite(data, 1, dlen, f);
    fclose(f);
}

static void expect_error(const char *label, const char *hdr, long hlen_override, size_t dlen, const char *needle)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s.safetensors", tmpdir(), label);
    static char zeros[256];
    write_raw(path, hlen_override >= 0 ? (unsigned long long)hlen_override : strlen(hdr), hdr, zeros, dlen);
    ct_st_file f;
    ct_err err = {{0}};
    int rc = ct_st_open(&f, path, &err);
    CHECK(rc == -1, "%s: expected an error", label);
    CHECK(strstr(err.msg, needle) != NULL && strstr(err.msg, path) != NULL,
          "%s: message '%s' should name the file and say '%s'", label, err.msg, needle);
}

int main(void)
{
    TEST_BEGIN();
    ct_err err = {{0}};
    char path[512];

    /* round trip */
    float a[6] = {1, 2, 3, 4, 5, -6.5f};
    int32_t ids[3] = {7, 8, 9};
    ct_st_out outs[2] = {
        {"a", CT_F32, 2, {2, 3}, a},
        {"ids", CT_I32, 1, {3}, ids},
    };
    snprintf(path, sizeof path, "%s/rt.safetensors", tmpdir());
    CHECK_OK(ct_st_write(path, outs, 2, "{\"kind\":\"hidden\"}", &err), &err);
    ct_st_file f;
    CHECK_OK(ct_st_open(&f, path, &err), &err);
    const ct_tensor_view *ta = ct_st_find(&f, "a"), *ti = ct_st_find(&f, "ids");
    CHECK(ta && ta->ndim == 2 && ta->shape[0] == 2 && ta->shape[1] == 3 && ta->dtype == CT_F32, "shape of a");
    if (ta) CHECK_CLOSE((const float *)ta->data, a, 6, 0, "a values");
    CHECK(ti && ((const int32_t *)ti->data)[2] == 9, "ids values");
    CHECK(f.metadata && strstr(f.metadata, "hidden"), "metadata kept: %s", f.metadata ? f.metadata : "(null)");
    ct_st_close(&f);

    /* a fixture written by Hugging Face */
    CHECK_OK(ct_st_open(&f, ct_fixture("hf-tiny/llama_bf16/model.safetensors"), &err), &err);
    CHECK(f.n > 10, "tensor count %d", f.n);
    ct_st_close(&f);

    /* half conversions */
    CHECK(ct_bf16_to_f32(ct_f32_to_bf16(1.5f)) == 1.5f, "bf16 round trip");
    CHECK(ct_f16_to_f32(ct_f32_to_f16(-0.333251953125f)) == -0.333251953125f, "f16 round trip");
    CHECK(ct_f16_to_f32(0x0001) == 5.960464477539063e-08f, "f16 subnormal");
    CHECK(ct_f16_to_f32(ct_f32_to_f16(65504.0f)) == 65504.0f, "f16 max");

    /* malformed files */
    snprintf(path, sizeof path, "%s/short.safetensors", tmpdir());
    FILE *fp = fopen(path, "wb"); fputs("abc", fp); fclose(fp);
    CHECK(ct_st_open(&f, path, &err) == -1 && strstr(err.msg, "truncated"), "3-byte file: %s", err.msg);
    expect_error("hlen_past_end", "{}", 4096, 0, "past the end");
    expect_error("bad_json", "{\"a\": {\"dtype\": \"F32\",", -1, 0, "not valid JSON");
    expect_error("bad_dtype", "{\"a\":{\"dtype\":\"Q4\",\"shape\":[1],\"data_offsets\":[0,4]}}", -1, 4, "unsupported dtype");
    expect_error("out_of_range", "{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", -1, 8, "past the end");
    expect_error("wrong_size", "{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", -1, 8, "needs 12");
    expect_error("overlap", "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                            "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", -1, 12, "overlap");
    expect_error("neg_offset", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[-4,0]}}", -1, 4, "bad data_offsets");
    CHECK(ct_st_open(&f, "/nonexistent/x.safetensors", &err) == -1 && strstr(err.msg, "cannot open"), "missing: %s", err.msg);
    return TEST_END();
}
