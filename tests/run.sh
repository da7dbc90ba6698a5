#!/bin/sh
# tests/run.sh BINDIR -- run every test binary in BINDIR/tests against BINDIR/vlmtrace; fail if any fails.
# Sanitizer reports are fatal (the san build uses -fno-sanitize-recover=all; ASan exits non-zero).
bindir=$1
export VLMTRACE_BIN="$bindir/vlmtrace"
export ASAN_OPTIONS="detect_leaks=1:halt_on_error=1:abort_on_error=0:exitcode=99"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:exitcode=98"
failed=""
total=0
for t in "$bindir"/tests/test_*; do
    [ -x "$t" ] || continue
    total=$((total + 1))
    echo "== $t"
    if ! "$t"; then failed="$failed $(basename "$t")"; fi
done
if [ -n "$failed" ]; then
    echo "FAILED in $bindir:$failed"
    exit 1
fi
echo "all $total test programs passed in $bindir"
