/*
 * main.c -- the `vlmtrace` command line: dispatch to a subcommand, print its one-line error, exit.
 *
 * Exit codes (docs/design.md, "Exit codes"): 0 success; 1 `diff` found a mismatch; 2 usage or input error; 3 internal or
 * resource failure.
 */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/output.h"
#include "format/version.h"

static const vt_cli_cmd *const commands[] = {
    &vt_cmd_run,
    &vt_cmd_preprocess,
    &vt_cmd_show,
    &vt_cmd_diff,
    &vt_cmd_rope,
    &vt_cmd_inspect,
    &vt_cmd_synth,
    &vt_cmd_generate,
    &vt_cmd_tokenize,
};
#define N_COMMANDS (int)(sizeof commands / sizeof commands[0])

static void usage(FILE *f)
{
    fprintf(f, "usage: vlmtrace SUBCOMMAND [ARGS]   (vlmtrace SUBCOMMAND --help for details)\n\n"
               "A plain-C reference of the vision side of Qwen-VL, Qwen2-VL, Qwen2.5-VL and Kimi-VL that writes\n"
               "every intermediate tensor as .npy under its Hugging Face name.\n\nsubcommands:\n");
    for (int i = 0; i < N_COMMANDS; i++) fprintf(f, "  %-11s %s\n", commands[i]->name, commands[i]->summary);
    fprintf(f, "\nexit status: 0 success, 1 diff mismatch, 2 usage or input error, 3 resource failure\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(argv[1], "--version")) {
        printf("vlmtrace %s\n", VLMTRACE_VERSION);
        return 0;
    }
    for (int i = 0; i < N_COMMANDS; i++) {
        const vt_cli_cmd *c = commands[i];
        if (strcmp(argv[1], c->name) != 0) continue;
        for (int j = 2; j < argc; j++)
            if (!strcmp(argv[j], "--help") || !strcmp(argv[j], "-h")) {
                fputs(c->usage, stdout);
                return 0;
            }
        vt_status st = {0};
        int rc = c->run(argc - 1, argv + 1, &st);
        fflush(stdout);
        vt_output_stage(NULL); /* a progress line on a terminal ends before the message */
        if (rc >= 2) fprintf(stderr, "vlmtrace %s: %s\n", c->name, st.msg[0] ? st.msg : "failed");
        return rc;
    }
    fprintf(stderr, "vlmtrace: unknown subcommand '%s' (vlmtrace --help lists them)\n", argv[1]);
    return 2;
}
