/*
 * ctrace.h — the one public header of ctrace, a C library and tool for causal
 * tracing (activation patching) of Hugging Face language models.
 *
 * Read it top to bottom: errors, safetensors files, models, the forward pass
 * with its intervention sites, the tokenizer, the noise generator, the tracing
 * engine, and the experiments/reports built on it.
 *
 * Conventions used everywhere:
 *   - Functions that can fail return 0 on success and -1 on failure, and fill
 *     the caller's ct_err with a one-line message naming the file/row and the
 *     problem.  The library never prints and never exits.
 *   - No global mutable state: models, tokenizers and tracers are values the
 *     caller creates and frees.
 *   - Buffers are float32, row-major; the shape of every buffer is written in
 *     brackets next to it, e.g. x [T, D].  D = hidden size, T = positions,
 *     L = layers, V = vocabulary, S = noise samples.
 */
#ifndef CTRACE_H
#define CTRACE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define CTRACE_VERSION "0.1.0"

/* ------------------------------------------------------------------------ */
/* 1. Errors                                                                 */
/* ------------------------------------------------------------------------ */

typedef struct ct_err {
    char msg[1024];             /* one line, no trailing newline */
} ct_err;

/* Formats a message into err (when err is not NULL) and returns -1, so that
 * `return ct_fail(err, "%s: bad header", path);` reads naturally. */
int ct_fail(ct_err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ------------------------------------------------------------------------ */
/* 2. Safetensors files (read: memory-mapped and strictly validated; write:  */
/*    to a temporary name, then renamed, so no partial file ever appears)    */
/* ------------------------------------------------------------------------ */

typedef enum ct_dtype {
    CT_F32, CT_F16, CT_BF16, CT_F64, CT_I32, CT_I64, CT_U8, CT_I8, CT_BOOL, CT_DTYPE_COUNT
} ct_dtype;

const char *ct_dtype_name(ct_dtype t);   /* "F32", "BF16", ... */
size_t ct_dtype_size(ct_dtype t);        /* bytes per element */

#define CT_MAX_DIMS 8

typedef struct ct_tensor_view {
    const char *name;
    ct_dtype dtype;
    int ndim;
    int64_t shape[CT_MAX_DIMS];
    int64_t numel;
    const void *data;           /* points into the mapping; little-endian */
    size_t nbytes;
} ct_tensor_view;

typedef struct ct_st_file {
    char *path;
    void *map;                  /* the whole file, read-only mapping */
    size_t size;
    int n;                      /* number of tensors */
    ct_tensor_view *t;          /* [n], in header order */
    char *metadata;             /* "__metadata__" as JSON text, or NULL */
} ct_st_file;

/* Opens and validates: 8-byte header length inside the file, valid JSON,
 * known dtypes, shape × dtype size = byte length, offsets inside the data
 * section, no two tensors overlapping. */
int ct_st_open(ct_st_file *f, const char *path, ct_err *err);
void ct_st_close(ct_st_file *f);
const ct_tensor_view *ct_st_find(const ct_st_file *f, const char *name);

/* Converts any float or integer tensor to a new float32 array (caller frees). */
float *ct_tensor_to_f32(const ct_tensor_view *t);

/* One tensor to write. */
typedef struct ct_st_out {
    const char *name;
    ct_dtype dtype;
    int ndim;
    int64_t shape[CT_MAX_DIMS];
    const void *data;           /* numel × dtype size bytes */
} ct_st_out;

/* Writes a safetensors file: PATH.tmp.<pid>, fsync, rename to PATH.
 * metadata_json: a JSON object of string values (safetensors' rule), or NULL. */
int ct_st_write(const char *path, const ct_st_out *tensors, int n,
                const char *metadata_json, ct_err *err);

/* Half-precision conversions (exact, round-to-nearest-even for f32→). */
float ct_bf16_to_f32(uint16_t h);
float ct_f16_to_f32(uint16_t h);
uint16_t ct_f32_to_bf16(float f);
uint16_t ct_f32_to_f16(float f);

/* @@MODEL@@ sections 3–4 (models, forward pass) go here. */

/* @@TOKENIZER@@ section 5 (tokenizer) goes here. */

/* @@TRACE@@ sections 6–7 (noise, tracing engine, case files) go here. */

/* @@REPORT@@ section 8 (experiments, reports) goes here. */

#ifdef __cplusplus
}
#endif
#endif /* CTRACE_H */
