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
