/*
 * vt_test.h -- what every cmocka test program shares.
 *
 *   VT_GOLDEN(case)                 "notebooks-data/reference/<case>" (tests run from the repository root)
 *   vt_test_tmpdir(buf)             a fresh empty directory under /tmp, removed by vt_test_rmtree
 *   vt_test_cli(out, cap, fmt, ...) run "$VLMTRACE_BIN <args>" through sh, capture stdout+stderr, return the exit code
 *   assert_tensor_close(ours, ref, name)
 *                                   the comparison rule (docs/design.md); on failure prints the worst element and fails
 *   assert_golden_dir_matches(ours_dir, ref_dir)
 *                                   vlmtrace diff in-process; prints the report on failure
 *   vt_test_load_json(dir, file), vt_test_json_int(obj, key)
 *                                   a case's JSON file (inputs.json, ...) and one integer of it, or the test fails
 */
#ifndef VT_TEST_H
#define VT_TEST_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>
#include <cmocka.h>

#include "diff/compare.h"
#include "core/tensor.h"

#define VT_GOLDEN_ROOT "notebooks-data/reference"
#define VT_GOLDEN(c) VT_GOLDEN_ROOT "/" c

/* A fresh directory "/tmp/vlmtrace-test-XXXXXX" (buf of at least 64 bytes). */
void vt_test_tmpdir(char *buf);
void vt_test_rmtree(const char *dir);
/* Write bytes to a file (test fixtures: malformed inputs). */
void vt_test_write_file(const char *path, const void *data, size_t n);
/* Run the CLI; returns its exit code (or 128+signal). Output (stdout and stderr) goes to out. */
int vt_test_cli(char *out, size_t cap, const char *fmt, ...) VT_PRINTF(3, 4);
/* Count the lines of a string. */
int vt_test_lines(const char *s);

void vt_assert_tensor_close(const vt_tensor *ours, const vt_tensor *ref, const char *name, const char *file, int line);
#define assert_tensor_close(o, r, name) vt_assert_tensor_close((o), (r), (name), __FILE__, __LINE__)

/* Load one tensor of a golden case by name (through its manifest); fails the test if absent. */
void vt_test_load_golden(const char *case_dir, const char *name, vt_tensor *t, void **owned);

/* dir/file parsed as JSON (the caller deletes it), and obj's number `key` as an integer; either fails the
 * test with the path or key when it is not there. */
cJSON *vt_test_load_json(const char *dir, const char *file);
int64_t vt_test_json_int(const cJSON *obj, const char *key);

/* diff ours against ref with the default rule and every reference tensor required. */
void vt_assert_dirs_match(const char *ours, const char *ref, const char *file, int line);
#define assert_dirs_match(o, r) vt_assert_dirs_match((o), (r), __FILE__, __LINE__)

#endif
