/*
 * cli.h -- the `vlmtrace` subcommands, the one argument parser they share, and its small helpers.
 *
 * Each subcommand is `int cli_NAME(int argc, char **argv, vt_status *st)` with argv[0] the subcommand's
 * name. It returns the process exit code (docs/design.md, "Exit codes"): 0 success, 1 a diff mismatch, 2 usage or input
 * error, 3 resource failure; on 2 and 3 st->msg holds the one-line reason and main prints it.
 */
#ifndef VT_CLI_H
#define VT_CLI_H

#include <stdint.h>

#include "core/status.h"

typedef struct vt_cli_cmd {
    const char *name;
    const char *summary;
    const char *usage; /* full --help text */
    int (*run)(int argc, char **argv, vt_status *st);
} vt_cli_cmd;

/* one line per subcommand (helpers add theirs without touching the others) */
extern const vt_cli_cmd vt_cmd_run;
extern const vt_cli_cmd vt_cmd_preprocess;
extern const vt_cli_cmd vt_cmd_show;
extern const vt_cli_cmd vt_cmd_diff;
extern const vt_cli_cmd vt_cmd_rope;
extern const vt_cli_cmd vt_cmd_inspect;
extern const vt_cli_cmd vt_cmd_synth;
extern const vt_cli_cmd vt_cmd_tokenize;
extern const vt_cli_cmd vt_cmd_generate;

/* A growable list of strings for repeatable flags (--only, --image). Owns nothing. */
typedef struct vt_strlist {
    char **v;
    int n, cap;
} vt_strlist;

/* ---- the argument parser every subcommand uses (args.c) ----
 *
 * A subcommand describes its flags in a table and hands argv to vt_opts_parse, which fills the
 * destinations and returns VT_EINPUT with one line naming the flag for anything wrong:
 *
 *     const char *model = NULL; vt_strlist images = {0}; int64_t threads = 0; int viz = 0, attn = 0;
 *     static const char *const attn_modes[] = {"segments", "literal", NULL};
 *     const vt_opt opts[] = {
 *         {"--model", VT_OPT_STRING, 0, &model, "DIR"},
 *         {"--image", VT_OPT_STRING, 1, &images, "FILE"},             // repeatable: a vt_strlist
 *         {"--threads", VT_OPT_INT, 0, &threads, "N", 1, 1024},       // an int64_t in [lo, hi]
 *         {"--attn", VT_OPT_CHOICE, 0, &attn, "MODE", .choices = attn_modes},  // an int: the index
 *         {"--viz", VT_OPT_FLAG, 0, &viz, NULL},                        // an int set to 1
 *     };
 *     VT_TRY(vt_opts_parse("run", opts, VT_N_OPTS(opts), argc, argv, NULL, st));
 *
 * Kinds and destinations (repeat 0 / repeat 1):
 *     VT_OPT_STRING   const char *        / vt_strlist       (the strings point into argv)
 *     VT_OPT_INT      int64_t             / -                (whole string, in [lo, hi])
 *     VT_OPT_DOUBLE   double              / vt_numlist       (finite, in [lo, hi])
 *     VT_OPT_CHOICE   int (index in choices)                 (choices: NULL-terminated)
 *     VT_OPT_FLAG     int, set to 1                          (no value)
 * Values: `--flag value` or `--flag=value`; a value that begins with "--" is refused as a forgotten value
 * (`--trace --viz`). A non-repeatable flag given twice with different values is an error naming both;
 * an unknown option names the nearest known one. Positional arguments go to *pos (its strings point
 * into argv); with pos NULL any positional argument is an error. `--help` is handled by main before. */
typedef enum vt_opt_kind { VT_OPT_STRING, VT_OPT_INT, VT_OPT_DOUBLE, VT_OPT_CHOICE, VT_OPT_FLAG } vt_opt_kind;

typedef struct vt_opt {
    const char *name;            /* "--model" */
    vt_opt_kind kind;
    int repeat;                  /* 1: the flag may be given more than once (a list destination) */
    void *dest;
    const char *help;            /* the value's placeholder in messages ("DIR", "N"); NULL for a flag */
    double lo, hi;               /* VT_OPT_INT / VT_OPT_DOUBLE bounds */
    const char *const *choices;  /* VT_OPT_CHOICE */
} vt_opt;
#define VT_N_OPTS(a) ((int)(sizeof(a) / sizeof((a)[0])))

/* A growable list of numbers for repeatable numeric flags (--fps). */
typedef struct vt_numlist {
    double *v;
    int n, cap;
} vt_numlist;
void vt_numlist_free(vt_numlist *l);

int vt_opts_parse(const char *cmd, const vt_opt *opts, int n_opts, int argc, char **argv, vt_strlist *pos,
                  vt_status *st);

/* Strict number parsing: the whole string, in range; VT_EINPUT naming the flag otherwise. */
int vt_parse_double(const char *flag, const char *s, double lo, double hi, double *out, vt_status *st);
int vt_parse_int64(const char *flag, const char *s, int64_t lo, int64_t hi, int64_t *out, vt_status *st);

int vt_strlist_push(vt_strlist *l, const char *s, vt_status *st);
void vt_strlist_free(vt_strlist *l);

/* "a.png,b.png,c.png" (a --video value) -> *buf, a copy split in place at the commas, and *items, its n
 * pieces in order. The caller frees both; on error neither is left allocated. An empty piece is an error
 * naming flag and piece. */
int vt_split_list(const char *flag, const char *list, char **buf, char ***items, int *n, vt_status *st);

#endif
