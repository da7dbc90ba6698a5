#!/usr/bin/python3
"""tests/check_trace_spec.py -- docs/trace-spec.md's per-family name lists against the golden manifests.

    /usr/bin/python3 tests/check_trace_spec.py [--root DIR] [--reference DIR]

Under the heading '## Names per family', each '### Family (from `case`, `case`, ...)' section names its
golden cases (directories of notebooks-data/reference/ holding a manifest.json; `rope-index/*` and
`rope-index/` stand for every case below that directory) and lists its name patterns in a fenced block
whose info string is `names`, one pattern per line (`{i}`, `{k}`, `{f}`: any index). For each case in the
repository, every name of its manifest must match a pattern of a section that lists the case, and every
pattern of a section must name some tensor of that section's cases. A section none of whose cases is in
the repository yet is skipped with a note (not passed); a manifest that no section claims fails.
Exit 0 when everything holds, 1 otherwise.
"""
import json
import pathlib
import re
import sys

HEAD = re.compile(r"^###\s+(.*?)\s*(?:\(from\s+(.*)\))?\s*$")
FENCE = re.compile(r"^\s*(`{3,}|~{3,})\s*(\S*)")


def parse_spec(spec):
    """-> [dict(title, line, cases [str], patterns [str])] of the '## Names per family' part"""
    lines = spec.read_text(encoding="utf-8").split("\n")
    sections, in_names, cur, fence = [], False, None, None
    for i, line in enumerate(lines, 1):
        if fence:
            if FENCE.match(line) and line.strip().startswith(fence):
                fence = None
            elif cur is not None and cur["in_block"]:
                if line.strip():
                    cur["patterns"].append((i, line.strip()))
            continue
        m = FENCE.match(line)
        if m:
            fence = m.group(1)
            if cur is not None:
                cur["in_block"] = m.group(2) == "names"
                if cur["in_block"]:
                    cur["blocks"] += 1
            continue
        if line.startswith("## "):
            in_names = bool(re.match(r"^##\s+Names per family", line))
            cur = None
            continue
        h = HEAD.match(line)
        if in_names and h:
            cases = re.findall(r"`([^`]+)`", h.group(2) or "")
            cur = {"title": h.group(1), "line": i, "cases": cases, "patterns": [], "blocks": 0,
                   "in_block": False}
            sections.append(cur)
    return sections


def expand_cases(ref, cases):
    """-> ([case dirs present], [cases absent])"""
    present, absent = [], []
    for c in cases:
        if c.endswith("/*") or c.endswith("/"):
            base = ref / c.rstrip("*").rstrip("/")
            found = sorted(p.parent for p in base.glob("*/manifest.json")) if base.is_dir() else []
            (present.extend(found) if found else absent.append(c))
        elif (ref / c / "manifest.json").is_file():
            present.append(ref / c)
        else:
            absent.append(c)
    return present, absent


def to_regex(pattern):
    out = ""
    for part in re.split(r"(\{[a-z]+\})", pattern):
        out += r"[0-9]+" if re.fullmatch(r"\{[a-z]+\}", part) else re.escape(part)
    return re.compile(out + r"\Z")


def check(root, ref):
    spec = root / "docs" / "trace-spec.md"
    sections = parse_spec(spec)
    problems, notes, claimed = [], [], {}
    if not sections:
        problems.append(f"{spec.relative_to(root)}: no '### Family (from `case`)' sections under "
                        f"'## Names per family'")
    for s in sections:
        where = f"docs/trace-spec.md:{s['line']}"
        if not s["cases"]:
            problems.append(f"{where}: section '{s['title']}' names no golden case: '(from `case`, ...)'")
            continue
        if s["blocks"] != 1 or not s["patterns"]:
            problems.append(f"{where}: section '{s['title']}' needs exactly one ```names block (one name "
                            f"pattern per line)")
            continue
        present, absent = expand_cases(ref, s["cases"])
        if not present:
            notes.append(f"SKIPPED: '{s['title']}': none of its cases ({', '.join(s['cases'])}) is in "
                         f"{ref.name}/ yet; its {len(s['patterns'])} names are unchecked")
            continue
        if absent:
            notes.append(f"note: '{s['title']}': {', '.join(absent)} not in {ref.name}/ yet; checked "
                         f"against the {len(present)} case(s) present")
        s["present"] = present
        for c in present:
            claimed.setdefault(c, []).append(s)
    all_cases = sorted(p.parent for p in ref.rglob("manifest.json"))
    n_names = 0
    for c in all_cases:
        rel = c.relative_to(ref)
        if c not in claimed:
            problems.append(f"{ref.name}/{rel}/manifest.json: no section of docs/trace-spec.md lists this "
                            f"case: add it to a section's '(from ...)'")
            continue
        pats = [(s, to_regex(p), p) for s in claimed[c] for _, p in s["patterns"]]
        names = [t["name"] for t in json.loads((c / "manifest.json").read_text())["tensors"]]
        n_names += len(names)
        for n in names:
            hit = [p for s, rx, p in pats if rx.match(n)]
            if not hit:
                problems.append(f"{ref.name}/{rel}: tensor `{n}` matches no name in "
                                f"{' / '.join(repr(s['title']) for s in claimed[c])} of docs/trace-spec.md")
            for s, rx, p in pats:
                if rx.match(n):
                    s.setdefault("used", set()).add(p)
    for s in sections:
        if "present" not in s:
            continue
        for lineno, p in s["patterns"]:
            if p not in s.get("used", set()):
                problems.append(f"docs/trace-spec.md:{lineno}: `{p}` ('{s['title']}') names no tensor of "
                                f"{', '.join(str(c.relative_to(ref)) for c in s['present'])}")
    return problems, notes, len(all_cases), n_names


def main():
    root = pathlib.Path(__file__).resolve().parent.parent
    if "--root" in sys.argv:
        root = pathlib.Path(sys.argv[sys.argv.index("--root") + 1]).resolve()
    ref = root / "notebooks-data" / "reference"
    if "--reference" in sys.argv:
        ref = pathlib.Path(sys.argv[sys.argv.index("--reference") + 1]).resolve()
    problems, notes, n_cases, n_names = check(root, ref)
    for n in notes:
        print("check_trace_spec: " + n)
    if problems:
        print("\n".join(problems))
        print(f"check_trace_spec: FAIL, {len(problems)} problem(s)")
        return 1
    print(f"check_trace_spec: PASS, {n_names} names in {n_cases} golden manifests match docs/trace-spec.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
