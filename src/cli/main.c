/* main.c — the ctrace command line: dispatches subcommands.
 * Each subcommand lives in its own src/cli/cmd_*.c and is listed below. */
#include <stdio.h>
#include <string.h>
#include "cli.h"

static const ct_command commands[] = {
    /* @@COMMANDS@@ one line per subcommand: {"name", fn, "one-line help"}, */
    {"info", cmd_info, "print a model directory's architecture summary"},
    {"logits", cmd_logits, "run token ids through a model; write logits and residual streams"},
    {"tokenize", cmd_tokenize, "text -> token ids, pieces and byte offsets (JSON lines)"},
    {"detokenize", cmd_detokenize, "token ids -> text"},
    {"version", cmd_version, "print the version"},
    {"trace", cmd_trace, "one causal trace of token ids -> a case file"},
};

static void usage(FILE *o)
{
    fprintf(o, "usage: ctrace <command> [--flag value ...]\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(o, "  %-12s %s\n", commands[i].name, commands[i].help);
    fprintf(o, "\n`ctrace <command> --help` shows a command's flags.\n");
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
    /* @@DEFAULT@@ the seed's flags with no subcommand mean `run` (added with `run`). */
    fprintf(stderr, "ctrace: unknown command '%s' (see ctrace --help)\n", argv[1]);
    return 2;
}
