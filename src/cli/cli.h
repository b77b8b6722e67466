/* cli.h — shared by the subcommands in src/cli/. */
#ifndef CT_CLI_H
#define CT_CLI_H
#include "ctrace_app.h"

typedef struct ct_command {
    const char *name;
    int (*fn)(int argc, char **argv);   /* argv[0] is the command name; returns the exit status */
    const char *help;
} ct_command;

/* NAME (a --model_name or --tokenizer value) as a path: NAME itself when it
 * exists or is no hub id, else the snapshot folder of the hub id
 * "org/name[@revision]" in the local Hugging Face cache (*from_hub = 1).
 * Returns buf, or NULL after printing the one-line error. */
const char *cli_resolve(const char *name, char *buf, size_t cap, int *from_hub);

/* --dtype f32|bf16 (the products' compute dtype): 0 and *out, or -1 after
 * printing "ctrace: CMD: --dtype ..." */
int cli_dtype(const char *cmd, const char *text, ct_dtype *out);
/* --backend NAME and --dtype on a loaded model (either may be NULL: the
 * default); 0, or -1 after printing the one-line error. */
int cli_compute(const char *cmd, ct_model *m, const char *backend, const char *dtype, const char *device);
/* --device checked before the model is loaded: 0, or -1 with the one-line
 * message printed (no CUDA in this build, no such GPU). */
int cli_device(const char *cmd, const char *backend, const char *device);
/* The usage lines of the two flags. */
#define CLI_COMPUTE_USAGE                                                                                   \
    "  --backend cpu|openblas|ref  the products: oneDNN (default), OpenBLAS, or the plain-C reference\n"   \
    "  --dtype f32|bf16            what the products compute in: f32 (default, exact) or bf16\n"           \
    "                              (activations and weights rounded to bf16, f32 sums: faster, less exact)\n"   \
    "  --device cpu|cuda[:N]       where it computes: the CPU (default), or GPU N (the \"cuda\" backend;\n"     \
    "                              only in a `make CUDA=1` build; not yet run on a GPU)\n"

int cmd_version(int argc, char **argv);
/* @@CMD_DECLS@@ */
int cmd_info(int argc, char **argv);
int cmd_logits(int argc, char **argv);
int cmd_attribute(int argc, char **argv);
int cmd_plot(int argc, char **argv);
int cmd_export(int argc, char **argv);
int cmd_average(int argc, char **argv);
int cmd_tokenize(int argc, char **argv);
int cmd_detokenize(int argc, char **argv);
int cmd_trace(int argc, char **argv);
int cmd_run(int argc, char **argv);
#endif
