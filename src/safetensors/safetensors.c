/* safetensors.c — strict reader (mmap) and atomic writer of .safetensors files.
 *
 * Layout: u64 little-endian header length N, N bytes of JSON
 *   {"name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, ...,
 *    "__metadata__": {"k": "v"}}
 * then the data section; offsets are relative to its start. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cjson/cJSON.h>
#include "ctrace.h"
#include "common/file.h"
#include "common/json.h"

static const char *const dtype_names[CT_DTYPE_COUNT] = {
    "F32", "F16", "BF16", "F64", "I32", "I64", "U8", "I8", "BOOL"};
static const size_t dtype_sizes[CT_DTYPE_COUNT] = {4, 2, 2, 8, 4, 8, 1, 1, 1};

const char *ct_dtype_name(ct_dtype t) { return (unsigned)t < CT_DTYPE_COUNT ? dtype_names[t] : "?"; }
size_t ct_dtype_size(ct_dtype t) { return (unsigned)t < CT_DTYPE_COUNT ? dtype_sizes[t] : 0; }

static int dtype_parse(const char *s, ct_dtype *out)
{
    for (int i = 0; i < CT_DTYPE_COUNT; i++)
        if (strcmp(s, dtype_names[i]) == 0) { *out = (ct_dtype)i; return 0; }
    return -1;
}

typedef struct { size_t b, e; int idx; } span;

static int cmp_span(const void *a, const void *b)
{
    const span *x = a, *y = b;
    return x->b < y->b ? -1 : x->b > y->b ? 1 : (x->e < y->e ? -1 : x->e > y->e);
}

/* A JSON number that is a non-negative integer exactly representable. */
static int json_uint(const cJSON *j, uint64_t *out)
{
    if (!cJSON_IsNumber(j)) return -1;
    double d = j->valuedouble;
    if (d < 0 || d > 9007199254740992.0 || d != (double)(uint64_t)d) return -1;
    *out = (uint64_t)d;
    return 0;
}

void ct_st_close(ct_st_file *f)
{
    if (!f) return;
    if (f->map && f->map != MAP_FAILED) munmap(f->map, f->size);
    if (f->t)
        for (int i = 0; i < f->n; i++) free((char *)f->t[i].name);
    free(f->t);
    free(f->metadata);
    free(f->path);
    memset(f, 0, sizeof *f);
}

static int parse_header(ct_st_file *f, const char *json, size_t hlen, ct_err *err)
{
    const char *path = f->path;
    cJSON *root = ct_json_parse(json, hlen);   /* duplicate names: the last, as Python's json */
    if (!root) return ct_fail(err, "%s: safetensors header is not valid JSON", path);
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return ct_fail(err, "%s: safetensors header is not a JSON object", path);
    }
    size_t data_start = 8 + hlen, data_len = f->size - data_start;
    int count = 0;
    for (cJSON *it = root->child; it; it = it->next) count++;
    f->t = calloc((size_t)count + 1, sizeof *f->t);
    span *sp = calloc((size_t)count + 1, sizeof *sp);
    if (!f->t || !sp) { free(sp); cJSON_Delete(root); return ct_fail(err, "%s: out of memory", path); }
    int rc = -1;
    for (cJSON *it = root->child; it; it = it->next) {
        const char *name = it->string;
        if (strcmp(name, "__metadata__") == 0) {
            if (!cJSON_IsObject(it)) { ct_fail(err, "%s: __metadata__ is not an object", path); goto out; }
            free(f->metadata);   /* a duplicate key: the last one counts, as in Python's json */
            f->metadata = cJSON_PrintUnformatted(it);
            continue;
        }
        if (!cJSON_IsObject(it)) { ct_fail(err, "%s: tensor '%s': entry is not an object", path, name); goto out; }
        ct_tensor_view *t = &f->t[f->n];
        const cJSON *jd = cJSON_GetObjectItemCaseSensitive(it, "dtype");
        const cJSON *js = cJSON_GetObjectItemCaseSensitive(it, "shape");
        const cJSON *jo = cJSON_GetObjectItemCaseSensitive(it, "data_offsets");
        if (!cJSON_IsString(jd) || dtype_parse(jd->valuestring, &t->dtype) != 0) {
            ct_fail(err, "%s: tensor '%s': unsupported dtype %s", path, name,
                    cJSON_IsString(jd) ? jd->valuestring : "(missing)");
            goto out;
        }
        if (!cJSON_IsArray(js) || cJSON_GetArraySize(js) > CT_MAX_DIMS) {
            ct_fail(err, "%s: tensor '%s': bad shape", path, name);
            goto out;
        }
        t->ndim = cJSON_GetArraySize(js);
        uint64_t numel = 1;
        for (int d = 0; d < t->ndim; d++) {
            uint64_t v;
            if (json_uint(cJSON_GetArrayItem(js, d), &v) != 0 || v > (1ull << 40)) {
                ct_fail(err, "%s: tensor '%s': bad shape entry", path, name);
                goto out;
            }
            t->shape[d] = (int64_t)v;
            /* checked before multiplying: [2^40, 2^24] would wrap to 0 elements */
            if (v && numel > (1ull << 42) / v) {
                ct_fail(err, "%s: tensor '%s': shape too large (more than 2^42 elements)", path, name);
                goto out;
            }
            numel *= v;
        }
        uint64_t b, e;
        if (!cJSON_IsArray(jo) || cJSON_GetArraySize(jo) != 2 || json_uint(cJSON_GetArrayItem(jo, 0), &b) != 0 ||
            json_uint(cJSON_GetArrayItem(jo, 1), &e) != 0 || e < b) {
            ct_fail(err, "%s: tensor '%s': bad data_offsets", path, name);
            goto out;
        }
        if (e > data_len) {
            ct_fail(err, "%s: tensor '%s': data_offsets [%llu, %llu) past the end of the file (data section is %zu bytes; truncated?)",
                    path, name, (unsigned long long)b, (unsigned long long)e, data_len);
            goto out;
        }
        if (e - b != numel * ct_dtype_size(t->dtype)) {
            ct_fail(err, "%s: tensor '%s': %llu bytes but shape × %s size needs %llu", path, name,
                    (unsigned long long)(e - b), ct_dtype_name(t->dtype),
                    (unsigned long long)(numel * ct_dtype_size(t->dtype)));
            goto out;
        }
        t->name = strdup(name);
        t->numel = (int64_t)numel;
        t->nbytes = (size_t)(e - b);
        t->data = (const char *)f->map + data_start + b;
        sp[f->n] = (span){(size_t)b, (size_t)e, f->n};
        f->n++;
    }
    qsort(sp, (size_t)f->n, sizeof *sp, cmp_span);
    for (int i = 1; i < f->n; i++)
        if (sp[i].b < sp[i - 1].e && sp[i].e > sp[i].b) {
            ct_fail(err, "%s: tensors '%s' and '%s' overlap in the data section", path,
                    f->t[sp[i - 1].idx].name, f->t[sp[i].idx].name);
            goto out;
        }
    rc = 0;
out:
    free(sp);
    cJSON_Delete(root);
    return rc;
}

int ct_st_open(ct_st_file *f, const char *path, ct_err *err)
{
    memset(f, 0, sizeof *f);
    f->path = strdup(path);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) { ct_fail(err, "%s: cannot open: %s", path, strerror(errno)); goto fail; }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        ct_fail(err, "%s: not a regular file", path);
        goto fail;
    }
    f->size = (size_t)st.st_size;
    if (f->size < 8) { close(fd); ct_fail(err, "%s: truncated safetensors file (%zu bytes)", path, f->size); goto fail; }
    f->map = mmap(NULL, f->size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (f->map == MAP_FAILED) { f->map = NULL; ct_fail(err, "%s: mmap failed: %s", path, strerror(errno)); goto fail; }
    const unsigned char *p = f->map;
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = (hlen << 8) | p[i];
    if (hlen > f->size - 8)
        { ct_fail(err, "%s: header length %llu is past the end of the file (%zu bytes)", path, (unsigned long long)hlen, f->size); goto fail; }
    if (hlen > 100u * 1024 * 1024) { ct_fail(err, "%s: header length %llu too large", path, (unsigned long long)hlen); goto fail; }
    if (parse_header(f, (const char *)p + 8, (size_t)hlen, err) != 0) goto fail;
    return 0;
fail:
    ct_st_close(f);
    return -1;
}

const ct_tensor_view *ct_st_find(const ct_st_file *f, const char *name)
{
    for (int i = 0; i < f->n; i++)
        if (strcmp(f->t[i].name, name) == 0) return &f->t[i];
    return NULL;
}

float *ct_tensor_to_f32(const ct_tensor_view *t)
{
    float *out = malloc((size_t)(t->numel ? t->numel : 1) * sizeof(float));
    if (!out) return NULL;
    const unsigned char *d = t->data;
    for (int64_t i = 0; i < t->numel; i++) {
        switch (t->dtype) {
        case CT_F32: { float v; memcpy(&v, d + 4 * i, 4); out[i] = v; break; }
        case CT_F16: { uint16_t h; memcpy(&h, d + 2 * i, 2); out[i] = ct_f16_to_f32(h); break; }
        case CT_BF16: { uint16_t h; memcpy(&h, d + 2 * i, 2); out[i] = ct_bf16_to_f32(h); break; }
        case CT_F64: { double v; memcpy(&v, d + 8 * i, 8); out[i] = (float)v; break; }
        case CT_I32: { int32_t v; memcpy(&v, d + 4 * i, 4); out[i] = (float)v; break; }
        case CT_I64: { int64_t v; memcpy(&v, d + 8 * i, 8); out[i] = (float)v; break; }
        case CT_U8: case CT_BOOL: out[i] = d[i]; break;
        case CT_I8: out[i] = (int8_t)d[i]; break;
        default: out[i] = 0; break;
        }
    }
    return out;
}

int64_t ct_tensor_count_nonfinite(const ct_tensor_view *t)
{
    const unsigned char *d = t->data;
    int64_t bad = 0;
    for (int64_t i = 0; i < t->numel; i++) {
        switch (t->dtype) {
        /* by exponent bits: all ones is Inf or NaN, whatever the width */
        case CT_F32: { uint32_t v; memcpy(&v, d + 4 * i, 4); bad += (v & 0x7f800000u) == 0x7f800000u; break; }
        case CT_F16: { uint16_t h; memcpy(&h, d + 2 * i, 2); bad += (h & 0x7c00u) == 0x7c00u; break; }
        case CT_BF16: { uint16_t h; memcpy(&h, d + 2 * i, 2); bad += (h & 0x7f80u) == 0x7f80u; break; }
        case CT_F64: { uint64_t v; memcpy(&v, d + 8 * i, 8); bad += (v & 0x7ff0000000000000ull) == 0x7ff0000000000000ull; break; }
        default: return 0;
        }
    }
    return bad;
}

int ct_st_write(const char *path, const ct_st_out *tensors, int n, const char *metadata_json, ct_err *err)
{
    cJSON *root = cJSON_CreateObject();
    if (!root) return ct_fail(err, "%s: out of memory", path);
    if (metadata_json) {
        cJSON *m = cJSON_Parse(metadata_json);
        if (!cJSON_IsObject(m)) { cJSON_Delete(m); cJSON_Delete(root); return ct_fail(err, "%s: metadata is not a JSON object", path); }
        cJSON_AddItemToObject(root, "__metadata__", m);
    }
    size_t off = 0;
    for (int i = 0; i < n; i++) {
        const ct_st_out *t = &tensors[i];
        cJSON *o = cJSON_CreateObject(), *sh = cJSON_CreateArray(), *of = cJSON_CreateArray();
        uint64_t numel = 1;
        for (int d = 0; d < t->ndim; d++) {
            cJSON_AddItemToArray(sh, cJSON_CreateNumber((double)t->shape[d]));
            numel *= (uint64_t)t->shape[d];
        }
        size_t nb = (size_t)numel * ct_dtype_size(t->dtype);
        cJSON_AddItemToArray(of, cJSON_CreateNumber((double)off));
        cJSON_AddItemToArray(of, cJSON_CreateNumber((double)(off + nb)));
        cJSON_AddStringToObject(o, "dtype", ct_dtype_name(t->dtype));
        cJSON_AddItemToObject(o, "shape", sh);
        cJSON_AddItemToObject(o, "data_offsets", of);
        cJSON_AddItemToObject(root, t->name, o);
        off += nb;
    }
    char *hdr = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    if (!hdr) return ct_fail(err, "%s: out of memory", path);
    size_t hlen = strlen(hdr), padded = (hlen + 7) & ~(size_t)7;   /* keep data 8-byte aligned */
    ct_atomic out;
    if (ct_atomic_open(&out, path, err)) { free(hdr); return -1; }
    FILE *fp = out.f;
    unsigned char len8[8];
    for (int i = 0; i < 8; i++) len8[i] = (unsigned char)((uint64_t)padded >> (8 * i));
    int ok = fwrite(len8, 1, 8, fp) == 8 && fwrite(hdr, 1, hlen, fp) == hlen;
    for (size_t i = hlen; ok && i < padded; i++) ok = fputc(' ', fp) != EOF;
    free(hdr);
    for (int i = 0; ok && i < n; i++) {
        uint64_t numel = 1;
        for (int d = 0; d < tensors[i].ndim; d++) numel *= (uint64_t)tensors[i].shape[d];
        size_t nb = (size_t)numel * ct_dtype_size(tensors[i].dtype);
        ok = nb == 0 || fwrite(tensors[i].data, 1, nb, fp) == nb;
    }
    if (!ok) out.err = errno ? errno : EIO;
    return ct_atomic_commit(&out, err);   /* flush, fsync, close checked; then the rename */
}
