#!/usr/bin/python3
"""Rewrite the vlmtrace reports shown on a docs page with what bin/vlmtrace prints today.

    /usr/bin/python3 tests/update_reports.py docs/bug-zoo.md [--check]

The page's layout is the one tests/test_bugzoo.c reads: ```sh blocks hold setup commands (lines starting
with `bin/vlmtrace `, `\\`-continued; `zoo/` names a scratch directory), run in order; a fenced block whose
first line is `$ bin/vlmtrace ...` shows that command's output (stdout and stderr, as the test captures
them) and is replaced by a fresh run. Run it after a change that moves numbers in a report (a different
summation order, say), then read the diff of the page before committing: only digits should move.
--check rewrites nothing and exits 1 if a report differs.
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile


def run(binary, args, zoo):
    cmd = binary + " " + args.replace("zoo/", zoo)
    p = subprocess.run(cmd, shell=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    return p.returncode, p.stdout.decode().replace(zoo, "zoo/")


def main():
    if len(sys.argv) < 2 or sys.argv[1].startswith("-"):
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    page, check = sys.argv[1], "--check" in sys.argv[2:]
    binary = os.environ.get("VLMTRACE_BIN", "bin/vlmtrace")
    text = open(page).read()
    tmp = tempfile.mkdtemp(prefix="vt-reports-")
    zoo = tmp + "/"
    out, pos, changed = [], 0, 0
    try:
        for m in re.finditer(r"```([^\n]*)\n(.*?)```", text, re.S):
            lang, body = m.group(1), m.group(2)
            if lang.strip() == "sh":
                for line in body.replace("\\\n", " ").splitlines():
                    if line.startswith("bin/vlmtrace "):
                        rc, got = run(binary, line[len("bin/vlmtrace "):], zoo)
                        if rc != 0:
                            print(f"{page}: {line} -> exit {rc}\n{got}", file=sys.stderr)
                            return 1
            elif body.startswith("$ bin/vlmtrace "):
                first, _, shown = body.partition("\n")
                _, got = run(binary, first[len("$ bin/vlmtrace "):], zoo)
                if got != shown:
                    changed += 1
                    print(f"{page}: report of `{first[2:]}` changed")
                out.append(text[pos:m.start(2)] + first + "\n" + got)
                pos = m.end(2)
        out.append(text[pos:])
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if check:
        return 1 if changed else 0
    if changed:
        open(page, "w").write("".join(out))
    print(f"{page}: {changed} report(s) rewritten")
    return 0


if __name__ == "__main__":
    sys.exit(main())
