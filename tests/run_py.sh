#!/bin/sh
# tests/run_py.sh BINDIR -- the Python tests (tests/py: trace/hf_trace.py through stand-in torch modules),
# with Debian's /usr/bin/python3 (python3-torch, python3-numpy, python3-pil), against BINDIR/vlmtrace.
bindir=${1:-bin}
export VLMTRACE_BIN="$bindir/vlmtrace"
export OMP_NUM_THREADS=1
export PYTHONDONTWRITEBYTECODE=1
echo "== tests/py (hf_trace.py with stand-in modules, /usr/bin/python3)"
if ! /usr/bin/python3 -m unittest discover -s tests/py -p 'test_*.py'; then
    echo "FAILED: tests/py"
    exit 1
fi
echo "all Python tests passed"
