/*
 * cli.h -- the `vlmtrace` subcommands and the small argv helpers they share.
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
extern const vt_cli_cmd vt_cmd_generate;

/* ---- argv helpers ---- */

typedef struct vt_args {
    int argc;
    char **argv;
    int i;          /* index of the argument being looked at */
} vt_args;

/* Is argv[i] the flag `name`? For flags with values, on a match *val receives the next argument (or
 * "--flag=value"'s value) and i advances; a flag without a value is a usage error (returns -1). */
int vt_arg_flag(vt_args *a, const char *name);
int vt_arg_value(vt_args *a, const char *name, const char **val, vt_status *st);
/* Strict number parsing: the whole string, in range; VT_EINPUT naming the flag otherwise. */
int vt_parse_double(const char *flag, const char *s, double lo, double hi, double *out, vt_status *st);
int vt_parse_int64(const char *flag, const char *s, int64_t lo, int64_t hi, int64_t *out, vt_status *st);

/* A growable list of strings for repeatable flags (--only, --image). Owns nothing. */
typedef struct vt_strlist {
    char **v;
    int n, cap;
} vt_strlist;
int vt_strlist_push(vt_strlist *l, const char *s, vt_status *st);
void vt_strlist_free(vt_strlist *l);

/* "a.png,b.png,c.png" (a --video value) -> *buf, a copy split in place at the commas, and *items, its n
 * pieces in order. The caller frees both; on error neither is left allocated. An empty piece is an error
 * naming flag and piece. */
int vt_split_list(const char *flag, const char *list, char **buf, char ***items, int *n, vt_status *st);

#endif
