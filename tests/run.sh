#!/bin/sh
# tests/run.sh BINDIR -- run every test binary in BINDIR/tests against BINDIR/vlmtrace; fail if any fails.
# Sanitizer reports are fatal (the san build uses -fno-sanitize-recover=all; ASan exits non-zero).
#
# RUNNER (optional): a command put in front of every program of BINDIR that runs, for a build this CPU
# cannot run by itself: `RUNNER=qemu-aarch64-static sh tests/run.sh bin/arm64` (`make test-arm64`; there
# is no binfmt_misc here to do it behind our back). It starts each test binary, and it is put in front of
# the binary in VLMTRACE_BIN, which every test that starts the command line uses (vt_test_cli and the
# like run it through sh). VLMTRACE_RUNNER tells a test that cannot run under it to say SKIPPED.
bindir=$1
runner=${RUNNER:-}
export VLMTRACE_RUNNER="$runner"
export VLMTRACE_BIN="${runner:+$runner }$bindir/vlmtrace"
export ASAN_OPTIONS="detect_leaks=1:halt_on_error=1:abort_on_error=0:exitcode=99"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:exitcode=98"
failed=""
total=0
start=$(date +%s)
for t in "$bindir"/tests/test_*; do
    [ -x "$t" ] || continue
    total=$((total + 1))
    echo "== ${runner:+$runner }$t"
    if ! $runner "$t"; then failed="$failed $(basename "$t")"; fi
done
secs=$(( $(date +%s) - start ))
if [ -n "$failed" ]; then
    echo "FAILED in $bindir:$failed"
    exit 1
fi
echo "all $total test programs passed in $bindir${runner:+ (through $runner)} (${secs} s)"
