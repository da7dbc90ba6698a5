#!/usr/bin/python3
"""tests/check_layers.py -- the house cannot silently decay: every `#include "..."` in ref/ and trace/
follows the dependency rules of docs/design.md ("Dependency rules"), which this script reads from that
page's table, so the page and the check cannot disagree.

    /usr/bin/python3 tests/check_layers.py [--root DIR]

Each folder of ref/ and trace/ must open with a README.md whose line 'May include: ...' names the same
folders as its row. Each source file (*.c, *.h) must sit in a folder the table lists (ref/<folder>/ or trace/<folder>/, or
a folder below one, which belongs to it: ref/io/<sub>/ is ref/io); each
quoted include must be folder-qualified (`#include "core/tensor.h"`, resolved against -Iref -Itrace), name
a file that exists, and lie in a folder its own folder may include. Angle-bracket includes (system and
library headers) are not checked. In ref/, a bug-zoo flag is tested only through the one-line
VT_BUG_SWITCH of ref/core/bugzoo.h (docs/design.md, "Bug zoo"): a `bugs & VT_BUG_...` elsewhere is a
problem, so every switch reads the same way and sits after the value it overrides. Exit 0 when every include obeys, 1 otherwise (one line per problem,
file:line: what).
"""
import os
import pathlib
import re
import sys

INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"')
BUG_TEST = re.compile(r"\bbugs\s*&|&\s*VT_BUG_")
ROW = re.compile(r"^\|\s*`((?:ref|trace)/[a-z0-9_]+)/?`\s*\|(.*)\|\s*$")


def parse_allowed(folder, text):
    """the folders a 'may include' text names: backticked folders (`ref/core`), `ref/*` / `trace/*`, and
    the word itself; a parenthesised remark is not read"""
    text = text.split("(")[0]
    allowed = {tok.rstrip("/") for tok in re.findall(r"`([^`]+)`", text)}
    if re.search(r"\bitself\b", text):
        allowed.add(folder)
    return allowed


def read_rules(design):
    """-> {folder: set of allowed folders}, from the table under the 'Dependency rules' heading of
    docs/design.md: first column the folder (`ref/core/`), last column what it may include, as backticked
    folders (`ref/core`), `ref/*` / `trace/*` for every folder of that tree, and `itself`."""
    lines = design.read_text(encoding="utf-8").split("\n")
    try:
        start = next(i for i, l in enumerate(lines) if re.match(r"^##\s+Dependency rules\s*$", l))
    except StopIteration:
        sys.exit(f"{design}: no '## Dependency rules' heading: the layering rules live there")
    rules = {}
    for line in lines[start + 1:]:
        if line.startswith("## "):
            break
        m = ROW.match(line)
        if not m:
            continue
        folder = m.group(1)
        rules[folder] = parse_allowed(folder, m.group(2).split("|")[-1])
    if not rules:
        sys.exit(f"{design}: the 'Dependency rules' section has no table rows of the form | `ref/x/` | ... |")
    return rules


def allowed(rules, src_folder, dst_folder):
    for a in rules[src_folder]:
        if a == dst_folder:
            return True
        if a.endswith("/*") and dst_folder.startswith(a[:-1]):
            return True
    return False


def check(root):
    root = pathlib.Path(root).resolve()
    rules = read_rules(root / "docs" / "design.md")
    problems, n = [], 0
    for tree in ("ref", "trace"):
        for d in sorted(p for p in (root / tree).iterdir() if p.is_dir() and not p.name.startswith(".")):
            folder = f"{tree}/{d.name}"
            if folder not in rules:
                continue  # reported below, per file
            readme = d / "README.md"
            if not readme.is_file():
                problems.append(f"{folder}/: no README.md saying what the folder holds and what it may include")
                continue
            lines = [l for l in readme.read_text(encoding="utf-8").split("\n") if l.startswith("May include:")]
            if len(lines) != 1:
                problems.append(f"{folder}/README.md: needs one line 'May include: ...' (its row of docs/design.md)")
            elif parse_allowed(folder, lines[0][len("May include:"):]) != rules[folder]:
                problems.append(f"{folder}/README.md: 'May include:' says "
                                f"{sorted(parse_allowed(folder, lines[0][len('May include:'):]))}, "
                                f"docs/design.md's row says {sorted(rules[folder])}")
        for path in sorted((root / tree).rglob("*")):
            if path.suffix not in (".c", ".h") or not path.is_file():
                continue
            rel = path.relative_to(root)
            if len(rel.parts) < 3:
                problems.append(f"{rel}: a source file belongs in a folder of {tree}/ (ref/<folder>/ or "
                                f"trace/<folder>/)")
                continue
            folder = f"{rel.parts[0]}/{rel.parts[1]}"
            if folder not in rules:
                problems.append(f"{rel}: folder {folder}/ is not in the dependency rules: add a row for it "
                                f"to the table under 'Dependency rules' in docs/design.md")
                continue
            for lineno, line in enumerate(path.read_text(encoding="utf-8", errors="replace").split("\n"), 1):
                if tree == "ref" and rel.as_posix() != "ref/core/bugzoo.h" and BUG_TEST.search(line):
                    problems.append(f"{rel}:{lineno}: a bug-zoo flag tested by hand: write the switch as one line, "
                                    f"VT_BUG_SWITCH(bugs, VT_BUG_X, <alternative>); (docs/design.md, 'Bug zoo')")
                m = INCLUDE.match(line)
                if not m:
                    continue
                n += 1
                inc = m.group(1)
                parts = inc.split("/")
                if len(parts) < 2:
                    problems.append(f"{rel}:{lineno}: #include \"{inc}\": includes are folder-qualified "
                                    f"(\"core/tensor.h\", \"format/npy.h\")")
                    continue
                hits = [t for t in ("ref", "trace") if (root / t / inc).is_file()]
                if not hits:
                    problems.append(f"{rel}:{lineno}: #include \"{inc}\": no such file in ref/ or trace/")
                    continue
                dst = f"{hits[0]}/{parts[0]}"
                if dst not in rules:
                    problems.append(f"{rel}:{lineno}: #include \"{inc}\": folder {dst}/ is not in the "
                                    f"dependency rules: add a row for it to docs/design.md")
                elif not allowed(rules, folder, dst):
                    may = ", ".join(sorted(rules[folder]))
                    problems.append(f"{rel}:{lineno}: #include \"{inc}\": {folder}/ may not include {dst}/ "
                                    f"(it may include: {may}; docs/design.md, 'Dependency rules')")
    return problems, n, len(rules)


def main():
    root = pathlib.Path(__file__).resolve().parent.parent
    if "--root" in sys.argv:
        root = pathlib.Path(sys.argv[sys.argv.index("--root") + 1])
    problems, n, nf = check(root)
    if problems:
        print("\n".join(problems))
        print(f"check_layers: FAIL, {len(problems)} problem(s) in {n} includes")
        return 1
    print(f"check_layers: PASS, {n} includes in ref/ and trace/ follow the rules of {nf} folders "
          f"(docs/design.md, 'Dependency rules')")
    return 0


if __name__ == "__main__":
    sys.exit(main())
