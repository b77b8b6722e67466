/* main.c — the ctrace command line: dispatches subcommands.
 * Each subcommand lives in its own src/cli/cmd_*.c and is listed below. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "cli.h"

static const ct_command commands[] = {
    /* @@COMMANDS@@ one line per subcommand: {"name", fn, "one-line help"}, */
    {"run", cmd_run, "trace a JSONL dataset (the seed tool's flags): case files, figures, summary"},
    {"average", cmd_average, "average IE by token segment over run directories"},
    {"trace", cmd_trace, "one causal trace of token ids or a prompt -> a case file"},
    {"plot", cmd_plot, "draw one case file as a heat map (PDF/PNG/SVG)"},
    {"export", cmd_export, "case files -> ROME's .npz result schema (--npz DIR|FILE)"},
    {"info", cmd_info, "print a model directory's architecture summary"},
    {"attribute", cmd_attribute, "direct logit attribution at the last position: heads, MLPs, embeddings"},
    {"logits", cmd_logits, "run token ids through a model; write logits and residual streams"},
    {"tokenize", cmd_tokenize, "text -> token ids, pieces and byte offsets (JSON lines)"},
    {"detokenize", cmd_detokenize, "token ids -> text"},
    {"version", cmd_version, "print the version"},
};

static void usage(FILE *o)
{
    fprintf(o, "usage: ctrace <command> [--flag value ...]\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(o, "  %-12s %s\n", commands[i].name, commands[i].help);
    fprintf(o, "\n`ctrace <command> --help` shows a command's flags.\n"
               "`ctrace --model_name DIR --data_path FILE --output_dir OUT ...` (the seed tool's command line,\n"
               "no command) is `ctrace run`.\n");
}

int cmd_version(int argc, char **argv)
{
    (void)argc; (void)argv;
    printf("ctrace %s\n", CTRACE_VERSION);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (!strcmp(argv[1], commands[i].name)) return commands[i].fn(argc - 1, argv + 1);
    /* @@DEFAULT@@ the seed's flags with no subcommand mean `run`, so the seed's
     * command line works with only the program name changed. */
    if (!strncmp(argv[1], "--", 2)) {
        argv[0] = "run";
        return cmd_run(argc, argv);
    }
    fprintf(stderr, "ctrace: unknown command '%s' (see ctrace --help)\n", argv[1]);
    return 2;
}
