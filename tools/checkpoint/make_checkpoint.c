/* make_checkpoint.c — writes a random-weight Llama-layout checkpoint the way
 * Hugging Face lays one out (config.json + model.safetensors), in bf16, f16
 * or f32, streaming: memory use stays a few MiB whatever the model's size,
 * so an 8B-layout checkpoint (16 GB) can be written on a small machine.
 * For the memory benchmarks (bench/memory.sh); the weights are uniform with
 * std 0.02 (norm weights 1), which is all a speed or memory measurement needs.
 *
 *   make_checkpoint PRESET|HIDDEN,LAYERS,HEADS,KV_HEADS,MLP,VOCAB OUT_DIR [bf16|f16|f32] [seed]
 *   presets: 1b (2048, 16, 16/8, 5632, 32000), 8b (Llama-3.1-8B: 4096, 32, 32/8, 14336, 128256)
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "ctrace_app.h"

typedef struct { char name[96]; long long rows, cols; int is_norm; } tensor;

static uint64_t rng_state;
static uint64_t next(void)
{
    uint64_t z = (rng_state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: make_checkpoint 1b|8b|HIDDEN,LAYERS,HEADS,KV_HEADS,MLP,VOCAB OUT_DIR [bf16|f16|f32] [seed]\n");
        return 2;
    }
    long long D, L, H, KVH, F, V;
    double theta = 10000;
    const char *extra = "";
    if (!strcmp(argv[1], "1b")) { D = 2048; L = 16; H = 16; KVH = 8; F = 5632; V = 32000; }
    else if (!strcmp(argv[1], "8b")) {
        D = 4096; L = 32; H = 32; KVH = 8; F = 14336; V = 128256; theta = 500000;
        extra = ",\"rope_scaling\":{\"factor\":8.0,\"low_freq_factor\":1.0,\"high_freq_factor\":4.0,"
                "\"original_max_position_embeddings\":8192,\"rope_type\":\"llama3\"}";
    } else if (sscanf(argv[1], "%lld,%lld,%lld,%lld,%lld,%lld", &D, &L, &H, &KVH, &F, &V) != 6 || D < 1 || L < 1 ||
               H < 1 || KVH < 1 || H % KVH || D % H || F < 1 || V < 1) {
        fprintf(stderr, "make_checkpoint: bad shape '%s'\n", argv[1]);
        return 2;
    }
    const char *dts = argc > 3 ? argv[3] : "bf16";
    ct_dtype dt = !strcmp(dts, "f32") ? CT_F32 : !strcmp(dts, "f16") ? CT_F16 : CT_BF16;
    rng_state = argc > 4 ? strtoull(argv[4], NULL, 10) : 1;
    const char *out = argv[2];
    if (mkdir(out, 0755) && errno != EEXIST) { fprintf(stderr, "make_checkpoint: %s: %s\n", out, strerror(errno)); return 1; }
    long long hd = D / H;

    char path[4096];
    snprintf(path, sizeof path, "%s/config.json", out);
    FILE *f = fopen(path, "w");
    if (!f) { fprintf(stderr, "make_checkpoint: %s: %s\n", path, strerror(errno)); return 1; }
    fprintf(f, "{\"architectures\":[\"LlamaForCausalLM\"],\"model_type\":\"llama\",\"hidden_size\":%lld,"
               "\"num_hidden_layers\":%lld,\"num_attention_heads\":%lld,\"num_key_value_heads\":%lld,"
               "\"intermediate_size\":%lld,\"vocab_size\":%lld,\"max_position_embeddings\":8192,"
               "\"rms_norm_eps\":1e-5,\"hidden_act\":\"silu\",\"rope_theta\":%g,\"tie_word_embeddings\":false,"
               "\"torch_dtype\":\"%s\"%s}\n",
            D, L, H, KVH, F, V, theta, dt == CT_BF16 ? "bfloat16" : dt == CT_F16 ? "float16" : "float32", extra);
    if (fclose(f)) { fprintf(stderr, "make_checkpoint: %s: write failed\n", path); return 1; }

    /* the tensors, in the order HF writes them */
    int nt = 3 + (int)L * 9;
    tensor *t = calloc((size_t)nt, sizeof *t);
    int k = 0;
    t[k++] = (tensor){"model.embed_tokens.weight", V, D, 0};
    for (long long l = 0; l < L; l++) {
        static const char *const names[9] = {"input_layernorm", "post_attention_layernorm", "self_attn.q_proj",
                                             "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj",
                                             "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj"};
        long long r[9] = {D, D, H * hd, KVH * hd, KVH * hd, D, F, F, D};
        long long c[9] = {0, 0, D, D, D, H * hd, D, D, F};
        for (int j = 0; j < 9; j++) {
            snprintf(t[k].name, sizeof t[k].name, "model.layers.%lld.%s.weight", l, names[j]);
            t[k].rows = r[j]; t[k].cols = c[j]; t[k].is_norm = j < 2;
            k++;
        }
    }
    t[k++] = (tensor){"model.norm.weight", D, 0, 1};
    t[k++] = (tensor){"lm_head.weight", V, D, 0};

    /* header: offsets in order; padded with spaces to a multiple of 8 as safetensors does */
    size_t esz = ct_dtype_size(dt), cap = (size_t)nt * 200 + 256, len = 0;
    char *hdr = malloc(cap);
    unsigned long long off = 0;
    len += (size_t)snprintf(hdr + len, cap - len, "{\"__metadata__\":{\"format\":\"pt\"}");
    for (int i = 0; i < nt; i++) {
        unsigned long long n = (unsigned long long)(t[i].rows * (t[i].cols ? t[i].cols : 1)) * esz;
        if (t[i].cols)
            len += (size_t)snprintf(hdr + len, cap - len, ",\"%s\":{\"dtype\":\"%s\",\"shape\":[%lld,%lld],\"data_offsets\":[%llu,%llu]}",
                                    t[i].name, ct_dtype_name(dt), t[i].rows, t[i].cols, off, off + n);
        else
            len += (size_t)snprintf(hdr + len, cap - len, ",\"%s\":{\"dtype\":\"%s\",\"shape\":[%lld],\"data_offsets\":[%llu,%llu]}",
                                    t[i].name, ct_dtype_name(dt), t[i].rows, off, off + n);
        off += n;
    }
    len += (size_t)snprintf(hdr + len, cap - len, "}");
    while (len % 8) hdr[len++] = ' ';
    snprintf(path, sizeof path, "%s/model.safetensors", out);
    f = fopen(path, "wb");
    if (!f) { fprintf(stderr, "make_checkpoint: %s: %s\n", path, strerror(errno)); return 1; }
    unsigned long long hl = len;
    unsigned char le[8];
    for (int i = 0; i < 8; i++) le[i] = (unsigned char)(hl >> (8 * i));
    fwrite(le, 1, 8, f);
    fwrite(hdr, 1, len, f);

    enum { CHUNK = 1 << 20 };
    unsigned char *buf = malloc((size_t)CHUNK * esz);
    for (int i = 0; i < nt; i++) {
        long long n = t[i].rows * (t[i].cols ? t[i].cols : 1);
        for (long long done = 0; done < n; done += CHUNK) {
            long long m = n - done < CHUNK ? n - done : CHUNK;
            for (long long j = 0; j < m; j++) {
                /* uniform on [-a, a) with a = 0.02·√3: std 0.02 */
                float v = t[i].is_norm ? 1.0f : (float)(((double)(next() >> 11) / 9007199254740992.0 * 2 - 1) * 0.034641);
                if (dt == CT_F32) memcpy(buf + 4 * j, &v, 4);
                else {
                    uint16_t h = dt == CT_BF16 ? ct_f32_to_bf16(v) : ct_f32_to_f16(v);
                    memcpy(buf + 2 * j, &h, 2);
                }
            }
            if (fwrite(buf, esz, (size_t)m, f) != (size_t)m) { fprintf(stderr, "make_checkpoint: %s: write failed\n", path); return 1; }
        }
    }
    if (fclose(f)) { fprintf(stderr, "make_checkpoint: %s: write failed\n", path); return 1; }
    printf("%s: %d tensors, %.2f GB of %s weights (%.2fB parameters)\n", out, nt, (double)off / 1e9, ct_dtype_name(dt),
           (double)off / esz / 1e9);
    free(buf); free(hdr); free(t);
    return 0;
}
