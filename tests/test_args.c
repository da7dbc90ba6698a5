/* test_args.c -- the one argument parser every subcommand uses (vt_opts_parse, trace/cli/args.c), in process:
 * each kind of flag, both value spellings, repeats, positionals, and the one-line messages of every mistake. */
#include "vt_test.h"

#include <string.h>

#include "cli/cli.h"

typedef struct parsed {
    const char *model;
    vt_strlist images, pos;
    vt_numlist fps;
    int64_t threads;
    double rtol;
    int attn, viz;
} parsed;

static const char *const attn_modes[] = {"segments", "literal", NULL};

/* Parse a space-separated command line against one table of every kind; returns the status. */
static int parse(parsed *p, char *line, int with_pos, vt_status *st)
{
    memset(p, 0, sizeof *p);
    memset(st, 0, sizeof *st);
    char *argv[32];
    int argc = 0;
    argv[argc++] = "cmd";
    for (char *t = strtok(line, " "); t && argc < 32; t = strtok(NULL, " ")) argv[argc++] = t;
    const vt_opt opts[] = {
        {"--model", VT_OPT_STRING, 0, &p->model, "DIR", 0, 0, NULL},
        {"--image", VT_OPT_STRING, 1, &p->images, "FILE", 0, 0, NULL},
        {"--fps", VT_OPT_DOUBLE, 1, &p->fps, "F", 1e-3, 1e6, NULL},
        {"--threads", VT_OPT_INT, 0, &p->threads, "N", 1, 1024, NULL},
        {"--rtol", VT_OPT_DOUBLE, 0, &p->rtol, "R", 0, 1e6, NULL},
        {"--attn", VT_OPT_CHOICE, 0, &p->attn, "literal|segments", 0, 0, attn_modes},
        {"--viz", VT_OPT_FLAG, 0, &p->viz, NULL, 0, 0, NULL},
    };
    return vt_opts_parse("cmd", opts, VT_N_OPTS(opts), argc, argv, with_pos ? &p->pos : NULL, st);
}

static void release(parsed *p)
{
    vt_strlist_free(&p->images);
    vt_strlist_free(&p->pos);
    vt_numlist_free(&p->fps);
}

static void test_args_every_kind(void **state)
{
    (void)state;
    parsed p;
    vt_status st;
    char line[] = "--model m --image a.png --image=b.png --fps 2 --fps=0.5 --threads 4 --rtol=1e-3 --attn literal "
                  "--viz OURS REF";
    assert_int_equal(parse(&p, line, 1, &st), VT_OK);
    assert_string_equal(p.model, "m");
    assert_int_equal(p.images.n, 2);
    assert_string_equal(p.images.v[1], "b.png");
    assert_int_equal(p.fps.n, 2);
    assert_true(p.fps.v[0] == 2.0 && p.fps.v[1] == 0.5);
    assert_int_equal(p.threads, 4);
    assert_true(p.rtol == 1e-3);
    assert_int_equal(p.attn, 1);
    assert_int_equal(p.viz, 1);
    assert_int_equal(p.pos.n, 2);
    assert_string_equal(p.pos.v[1], "REF");
    release(&p);
    /* the same value twice is no contradiction */
    char same[] = "--model m --model m";
    assert_int_equal(parse(&p, same, 0, &st), VT_OK);
    release(&p);
}

static void test_args_mistakes_get_one_line(void **state)
{
    (void)state;
    static const struct {
        const char *line, *msg;
    } cases[] = {
        {"--model a --model b", "--model given twice ('a', then 'b'): give it once"},
        {"--threads 2 --threads 3", "--threads given twice (2, then 3)"},
        {"--imgae x.png", "unknown option --imgae (did you mean --image? see vlmtrace cmd --help)"},
        {"--frobnicate", "unknown option --frobnicate (see vlmtrace cmd --help)"},
        {"--model", "--model needs a value (DIR)"},
        {"--model --viz", "--model needs a value (DIR), got the option --viz: was the value forgotten?"},
        {"--threads 0", "--threads: '0' is not an integer in [1, 1024]"},
        {"--threads 4x", "--threads: '4x' is not an integer"},
        {"--fps nan", "--fps: 'nan' is not a number"},
        {"--attn lit", "--attn: 'lit' is not one of segments, literal"},
        {"--viz=1", "--viz takes no value"},
        {"stray", "unexpected argument 'stray' (vlmtrace cmd takes options only"},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        char line[256];
        snprintf(line, sizeof line, "%s", cases[k].line);
        parsed p;
        vt_status st;
        int rc = parse(&p, line, 0, &st);
        if (rc != VT_EINPUT || !strstr(st.msg, cases[k].msg) || strchr(st.msg, '\n'))
            fail_msg("'%s': wanted VT_EINPUT and \"%s\"; got %d \"%s\"", cases[k].line, cases[k].msg, rc, st.msg);
        release(&p);
    }
}

/* --video lists: split at commas; a blank next to a comma is named, with the fix. */
static void test_args_video_lists(void **state)
{
    (void)state;
    char *buf, **items;
    int n;
    vt_status st = {0};
    assert_int_equal(vt_split_list("--video", "a.png,b.png,c.png", &buf, &items, &n, &st), VT_OK);
    assert_int_equal(n, 3);
    assert_string_equal(items[2], "c.png");
    free(buf);
    free(items);
    assert_int_equal(vt_split_list("--video", "a.png, b.png", &buf, &items, &n, &st), VT_EINPUT);
    assert_non_null(strstr(st.msg, "item 1 ' b.png' begins with a blank; separate the files with commas alone"));
    assert_int_equal(vt_split_list("--video", "a.png ,b.png", &buf, &items, &n, &st), VT_EINPUT);
    assert_non_null(strstr(st.msg, "item 0 'a.png ' ends with a blank"));
    assert_int_equal(vt_split_list("--video", "a.png,,b.png", &buf, &items, &n, &st), VT_EINPUT);
    assert_non_null(strstr(st.msg, "item 1 is an empty name"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_args_every_kind),
        cmocka_unit_test(test_args_mistakes_get_one_line),
        cmocka_unit_test(test_args_video_lists),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
