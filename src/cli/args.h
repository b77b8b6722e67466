/* args.h — the flag parser every subcommand uses, so that all of them accept
 * `--flag value` and `--flag=value` alike, reject unknown flags with one line,
 * and read integers, floats and id lists the same way.
 *
 *   static const char *const FLAGS[] = {"model_name", "token_ids", "out", NULL};
 *   ct_args a;
 *   if (ct_args_parse(&a, argc, argv, FLAGS) != 0) return 2;   // message printed
 *   const char *model = ct_args_str(&a, "model_name", NULL);
 *   int samples;  if (ct_args_int(&a, "samples", 10, 1, 100000, &samples)) return 2;
 *
 * Flags named in FLAGS take a value; "--help"/"-h" sets a->help.  Positional
 * arguments (not starting with "--") are collected in a->pos. */
#ifndef CT_CLI_ARGS_H
#define CT_CLI_ARGS_H
#include <stdint.h>

#define CT_ARGS_MAX 64

typedef struct ct_args {
    const char *cmd;                      /* argv[0], for messages */
    int n;                                /* flags given */
    const char *name[CT_ARGS_MAX];        /* without the leading "--" (points into argv) */
    int name_len[CT_ARGS_MAX];
    const char *value[CT_ARGS_MAX];
    int npos;                             /* positional arguments */
    const char *pos[CT_ARGS_MAX];
    int help;                             /* --help or -h given */
} ct_args;

/* Returns 0, or prints "ctrace: CMD: ..." and returns -1 (unknown flag, missing value). */
int ct_args_parse(ct_args *a, int argc, char **argv, const char *const *flags);
/* 1 when flag number i (0 ≤ i < a->n, in command-line order) is --NAME: for
 * repeatable flags, walk a->value[i] with it. */
int ct_args_is(const ct_args *a, int i, const char *name);
/* The last value given for NAME, or def. */
const char *ct_args_str(const ct_args *a, const char *name, const char *def);
/* Integer / float in [lo, hi]; def when absent.  -1 (message printed) when malformed. */
int ct_args_int(const ct_args *a, const char *name, long def, long lo, long hi, int *out);
int ct_args_double(const ct_args *a, const char *name, double def, double *out);
/* Comma-separated non-negative ids "1,17,250" -> malloc'd array (caller frees). */
int ct_parse_ids(const char *s, int32_t **out, int *n);
/* Same, for flag NAME: 0 with *out = NULL, *n = 0 when absent; -1 (printed) when malformed. */
int ct_args_ids(const ct_args *a, const char *name, int32_t **out, int *n);
#endif
