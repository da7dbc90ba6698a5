#!/usr/bin/python3
"""tests/doc_example.py -- the C program docs/design.md shows ("Using ref/ as a library") is real.

    /usr/bin/python3 tests/doc_example.py extract docs/design.md build/docs/design_example.c
    /usr/bin/python3 tests/doc_example.py run docs/design.md build/docs/design_example

`extract` writes the page's ```c block marked `<!-- compiled and run by make test ... -->` to the file
(only when it changed, so make does not rebuild for nothing); the Makefile compiles it against ref/ alone.
`run` runs the program from the repository root and compares what it prints with the page's block marked
`<!-- the output of the program above ... -->`. Exit 0 when it matches, 1 otherwise (the two texts shown).
"""
import pathlib
import re
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent


def marked_block(page, marker):
    lines = page.read_text(encoding="utf-8").split("\n")
    for i, line in enumerate(lines):
        if re.match(r"^\s*<!--.*" + re.escape(marker) + r".*-->\s*$", line):
            j = i + 1
            if j < len(lines) and lines[j].startswith("```"):
                body = []
                for k in range(j + 1, len(lines)):
                    if lines[k].startswith("```"):
                        return "\n".join(body) + "\n"
                    body.append(lines[k])
    sys.exit(f"{page}: no fenced block under a '<!-- {marker} ... -->' comment")


def main():
    if len(sys.argv) != 4 or sys.argv[1] not in ("extract", "run"):
        print(__doc__.strip().split("\n\n")[1], file=sys.stderr)
        return 2
    page = pathlib.Path(sys.argv[2])
    if sys.argv[1] == "extract":
        src = marked_block(page, "compiled and run by make test")
        out = pathlib.Path(sys.argv[3])
        out.parent.mkdir(parents=True, exist_ok=True)
        if not out.exists() or out.read_text() != src:
            out.write_text(src)
        return 0
    want = marked_block(page, "the output of the program above")
    binary = str(pathlib.Path(sys.argv[3]).resolve())
    r = subprocess.run([binary], cwd=ROOT, capture_output=True, text=True)
    if r.returncode != 0 or r.stdout != want:
        print(f"doc_example: FAIL: {sys.argv[3]} (the program of {page}) exited {r.returncode} and printed\n"
              f"{r.stdout}{r.stderr}the page shows\n{want}", end="")
        return 1
    print(f"doc_example: PASS: the program of {page} compiles against ref/ alone and prints what the page shows")
    return 0


if __name__ == "__main__":
    sys.exit(main())
