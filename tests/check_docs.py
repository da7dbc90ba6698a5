#!/usr/bin/python3
"""tests/check_docs.py -- the docs say only what works. Run by `make docs-check` (from the repository root).

1. Links. Every Markdown link and image `[text](target)` / `![alt](target)` (and `[id]: target`,
   `<img src="target">`) in README.md, CONTRIBUTING.md, docs/**/*.md, the READMEs of ref/ and trace/ and
   notebooks-data/reference/README.md, outside code, must resolve: a relative target names
   a file or directory inside the repository, and a `#anchor` names a heading of the target page (GitHub's
   anchor rules: lower case, punctuation dropped, spaces to hyphens, -1, -2, ... for repeats). http(s) and
   mailto links are not fetched. Every embedded PNG (`![alt](x.png)`, `<img src>`) is decoded and must show
   more than one colour (a blank picture fails).

2. Commands. In fenced code blocks, every command line that starts with `bin/vlmtrace` or `make` (bare, or
   after a `$ ` prompt) is run from the repository root and must exit 0, or N when the line ends with a
   comment `# exits N`. In a block with `$ ` prompts only the prompt lines are commands (the rest is shown
   output); a line ending in `\\` continues on the next one. When the output shown under a command ends
   with a `PASS: ...` or `FAIL: ...` verdict (`vlmtrace diff`), the command must print that same line and
   exit 1 for FAIL (0 for PASS). The block's variable assignments (`R=notebooks-data/...`) run too, in
   order, so that later lines can use them.
   Markers, as an HTML comment on the line(s) just above the opening fence:
     <!-- not run -->   skip the block (it needs a real checkpoint, a large input, a network, ...)
     <!-- run -->       run every command of the block, not only the vlmtrace / make ones (a setup block
                        that a later block depends on, e.g. a `cp` and a numpy heredoc)
   Blocks run in page order, each in its own bash, with the working directory a scratch directory that
   mirrors the repository root (symlinks), so files a command creates next to the repository's top level
   (`port/`, `ours-tiny/`) land in the scratch directory and later blocks of the same page still see them.
   `make T` for a target T that .ci/run itself runs (test, notebooks, ...) is not run again here.
   Whatever a page's commands create at the top of the clone must be ignored by git (build/, or a name
   .gitignore lists): following the docs never litters the clone.

3. Notebooks. docs/notebooks/*.ipynb are committed with their outputs cleared (the repository stays light;
   `make notebooks` writes executed copies to build/notebooks/).

4. Citations: no file in the repository cites a file that is not there. In the Markdown pages (README.md,
   CONTRIBUTING.md, docs/**/*.md, the READMEs of ref/ and trace/) every backticked path that begins with a
   top-level directory of the repository (ref/, trace/, tests/, docs/, notebooks-data/, .ci/) must exist;
   in source comments (ref/, trace/, tests/: *.c, *.h, *.py, *.sh, *.mk; the Makefile) every such path,
   backticked or not. A path with a placeholder (`<family>`, `{k}`, `*`, `X`, `NAME`, `...`) names a
   pattern and is not checked; generated places (notebooks-data/traces/, build/, bin/) are not either, nor
   a folder that docs/design.md's dependency rules list before it exists (`ref/lm/`). In all of them, a
   `*.md` name must be the name of a Markdown file of the repository. The golden READMEs under
   notebooks-data/reference/ keep the golden set's text (notebooks-data/reference/README.md maps it).

5. The stage table. Each row of docs/index.md's "Where each stage lives" tables names C functions, each
   followed by the file it is in, `fn`, `fn2` (ref/<family>/<file>.c): every function must be defined in
   that file, and the file must sit in that table's family folder (ref/<family>/, from the heading:
   Qwen2.5-VL -> ref/qwen25vl/) or in a shared folder of ref/ (core, io, vision, processor, mrope, lm,
   tokenizer, model), never in another family's folder.

`--links-only` checks 1, 3, 4 and 5 only. Exit status 0 when everything holds, 1 otherwise (each problem is
one line, file:line: what, with the tail of a failing command's output).
"""
import json
import os
import pathlib
import re
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
if "--root" in sys.argv:       # a copy of the repository (tests/py/test_house_checks.py plants problems in one)
    ROOT = pathlib.Path(sys.argv[sys.argv.index("--root") + 1]).resolve()
PAGES = [p for p in [ROOT / "README.md", ROOT / "CONTRIBUTING.md"] if p.exists()] + \
    sorted((ROOT / "docs").rglob("*.md")) + sorted((ROOT / "ref").rglob("*.md")) + \
    sorted((ROOT / "trace").rglob("*.md")) + [ROOT / "notebooks-data" / "reference" / "README.md"]
PAGES = [p for p in PAGES if p.exists()]
SKIP_LANGS = {"c", "h", "json", "python", "py", "yaml", "toml", "makefile", "diff", "markdown", "md"}
problems = []


def problem(path, line, what):
    problems.append(f"{path.relative_to(ROOT)}:{line}: {what}")


# ---- Markdown structure: fenced blocks and the prose around them ----

FENCE = re.compile(r"^(\s*)(`{3,}|~{3,})(.*)$")


def split_page(text):
    """-> (prose lines [(lineno, text)], blocks [dict(start, info, lines [(lineno, text)], markers)])"""
    lines = text.split("\n")
    prose, blocks, i = [], [], 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m:
            prose.append((i + 1, lines[i]))
            i += 1
            continue
        indent, fence, info = m.group(1), m.group(2), m.group(3).strip()
        markers, j = [], i - 1
        while j >= 0 and re.match(r"^\s*<!--.*-->\s*$", lines[j]):
            markers.append(lines[j].strip()[4:-3].strip().lower())
            j -= 1
        body, k = [], i + 1
        while k < len(lines):
            close = FENCE.match(lines[k])
            if close and close.group(2)[0] == fence[0] and len(close.group(2)) >= len(fence) \
                    and not close.group(3).strip():
                break
            body.append((k + 1, lines[k][len(indent):] if lines[k].startswith(indent) else lines[k].lstrip()))
            k += 1
        blocks.append({"start": i + 1, "info": info.split()[0].lower() if info else "", "lines": body,
                       "markers": markers})
        i = k + 1
    return prose, blocks


# ---- 1. links ----

def slug(heading):
    h = re.sub(r"<[^>]+>", "", heading)                 # inline HTML
    h = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", h)      # links keep their text
    h = h.strip().lower()
    h = "".join(ch for ch in h if ch.isalnum() or ch in "-_ " or 0x300 <= ord(ch) < 0x370)
    return h.replace(" ", "-")


_anchor_cache = {}


def anchors(page):
    if page not in _anchor_cache:
        prose, _ = split_page(page.read_text(encoding="utf-8"))
        seen, out = {}, set()
        for _, line in prose:
            m = re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
            if not m:
                continue
            s = slug(m.group(1))
            n = seen.get(s, 0)
            seen[s] = n + 1
            out.add(s if n == 0 else f"{s}-{n}")
            for a in re.findall(r'<a\s+(?:name|id)="([^"]+)"', line):
                out.add(a)
        for _, line in prose:
            for a in re.findall(r'<a\s+(?:name|id)="([^"]+)"', line):
                out.add(a)
        _anchor_cache[page] = out
    return _anchor_cache[page]


LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
REFDEF = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+\"[^\"]*\")?\s*$")
IMG = re.compile(r"<img\s[^>]*src=\"([^\"]+)\"")


def check_link(page, lineno, target):
    if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.I):     # http:, https:, mailto:, ...
        return
    path, _, anchor = target.partition("#")
    dest = page if not path else (page.parent / path).resolve()
    try:
        dest.relative_to(ROOT)
    except ValueError:
        problem(page, lineno, f"link '{target}' points outside the repository")
        return
    if not dest.exists():
        problem(page, lineno, f"link '{target}': {dest.relative_to(ROOT)} does not exist")
        return
    if anchor:
        if dest.suffix == ".md":
            if anchor not in anchors(dest):
                problem(page, lineno, f"link '{target}': no heading with anchor #{anchor} in "
                                      f"{dest.relative_to(ROOT)}")
        elif re.fullmatch(r"L(\d+)(-L(\d+))?", anchor):
            n = len(dest.read_text(errors="replace").split("\n"))
            last = int(anchor.split("-L")[-1].lstrip("L"))
            if last > n:
                problem(page, lineno, f"link '{target}': {dest.relative_to(ROOT)} has {n} lines")


def png_pixels(path):
    """Decode a non-interlaced 8-bit PNG (grey, RGB, palette, with or without alpha) with the standard library
    alone: -> (width, height, set of the RGB colours it shows)."""
    import struct
    import zlib
    data = path.read_bytes()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("not a PNG")
    pos, idat, plte = 8, b"", None
    while pos < len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]
        pos += 12 + n
        if kind == b"IHDR":
            w, h, depth, ctype, _, _, interlace = struct.unpack(">IIBBBBB", body)
        elif kind == b"PLTE":
            plte = [tuple(body[i:i + 3]) for i in range(0, len(body), 3)]
        elif kind == b"IDAT":
            idat += body
    if depth != 8 or interlace:
        raise ValueError(f"bit depth {depth}, interlace {interlace}: not read here")
    ch = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}[ctype]
    raw, stride, prev, colours = zlib.decompress(idat), w * ch, bytearray(w * ch), set()
    for y in range(h):
        f, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - ch] if i >= ch else 0
            b, c = prev[i], prev[i - ch] if i >= ch else 0
            if f == 1: line[i] = (line[i] + a) & 255
            elif f == 2: line[i] = (line[i] + b) & 255
            elif f == 3: line[i] = (line[i] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        for x in range(0, stride, ch):
            px = line[x:x + ch]
            colours.add(plte[px[0]] if ctype == 3 else tuple(px[:3]) if ch >= 3 else (px[0],) * 3)
        prev = line
        if len(colours) > 1 and y > 0 and y % 64 == 0 and len(colours) > 8:
            break
    return w, h, colours


def check_picture(page, lineno, target):
    """An embedded picture must show something: more than one colour."""
    path = (page.parent / target.partition("#")[0]).resolve()
    if path.suffix.lower() != ".png" or not path.exists():
        return
    try:
        w, h, colours = png_pixels(path)
    except (ValueError, KeyError, OSError) as e:
        problem(page, lineno, f"picture '{target}': cannot be rendered ({e})")
        return
    if len(colours) < 2:
        problem(page, lineno, f"picture '{target}': {w}x{h} of a single colour {sorted(colours)[0]} (blank)")


MEASURED = re.compile(r"<!--\s*measured:\s*(.+?),\s*(\d{4}-\d{2}-\d{2}),\s*(\S.*?)\s*-->")


def check_links(page):
    prose, _ = split_page(page.read_text(encoding="utf-8"))
    n = 0
    for lineno, line in prose:
        if "<!-- measured" in line and not MEASURED.search(line):
            problem(page, lineno, "a measured-numbers marker must say `<!-- measured: COMMAND, YYYY-MM-DD, MACHINE -->`")
        text = re.sub(r"(`+)(?:(?!\1).)+\1", "", line)     # no links inside inline code
        for m in LINK.finditer(text):
            check_link(page, lineno, m.group(1)); n += 1
            if m.group(0).startswith("!"):
                check_picture(page, lineno, m.group(1))
        for m in IMG.finditer(text):
            check_link(page, lineno, m.group(1)); n += 1
            check_picture(page, lineno, m.group(1))
        m = REFDEF.match(text)
        if m:
            check_link(page, lineno, m.group(1)); n += 1
    return n


# ---- 2. commands ----

def ci_targets():
    """make targets .ci/run runs itself: not run again from the docs"""
    out = set()
    ci = ROOT / ".ci" / "run"
    if ci.exists():
        for line in ci.read_text().split("\n"):
            m = re.match(r"^\s*(?:sudo\s+|step\s+)?make\s+(.*)$", line.split("#")[0])  # step: .ci/run's timer
            if m:
                out.update(w for w in m.group(1).split() if not w.startswith("-") and "=" not in w)
    return out


VERDICT = re.compile(r"^(PASS|FAIL): .*$")


def block_commands(block):
    """-> [(lineno, command text, shown verdict line or None)] in order; continuation lines and heredocs
    joined. In a `$ ` block, the shown verdict is the last `PASS: ...` / `FAIL: ...` line of the output
    printed under the command (what `vlmtrace diff` ends with)."""
    lines = block["lines"]
    prompted = any(l.startswith("$ ") for _, l in lines)
    cmds, i = [], 0
    while i < len(lines):
        lineno, l = lines[i]
        if prompted and not l.startswith("$ "):
            m = VERDICT.match(l.strip())
            if m and cmds:
                cmds[-1] = (cmds[-1][0], cmds[-1][1], l.strip())
            i += 1
            continue
        text = l[2:] if prompted else l
        if not text.strip() or text.lstrip().startswith("#"):
            i += 1
            continue
        parts = [text]
        while parts[-1].rstrip().endswith("\\") and i + 1 < len(lines):
            i += 1
            parts.append(lines[i][1])
        here = re.search(r"<<-?\s*'?\"?(\w+)'?\"?", parts[-1])
        if here:
            end = here.group(1)
            while i + 1 < len(lines):
                i += 1
                parts.append(lines[i][1])
                if lines[i][1].strip() == end:
                    break
        cmds.append((lineno, "\n".join(parts), None))
        i += 1
    return cmds


def shown_outputs(block):
    """In a `$ ` block: {lineno of a command: [(lineno, shown output line)]}, the lines printed under it."""
    out, cur, cont = {}, None, False
    for lineno, l in block["lines"]:
        if l.startswith("$ "):
            cur, cont = lineno, l.rstrip().endswith("\\")
            out[cur] = []
        elif cont:
            cont = l.rstrip().endswith("\\")
        elif cur is not None and l.strip():
            out[cur].append((lineno, l))
    return out


NUM = re.compile(r"[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?")


def same_at_printed_precision(shown, actual):
    """The shown number and the printed one agree to the digits shown: |a - s| <= half a unit of the shown
    number's last digit."""
    try:
        s, a = float(shown), float(actual)
    except ValueError:
        return shown == actual
    mant, _, exp = shown.lower().partition("e")
    decimals = len(mant.split(".")[1]) if "." in mant else 0
    unit = 10.0 ** (-decimals + (int(exp) if exp else 0))
    return abs(a - s) <= 0.5 * unit * (1 + 1e-9) + 1e-300


def line_matches(shown, actual):
    """A shown output line against a printed one: the text alike (blanks collapsed), numbers to their shown
    precision; a shown line ending in "..." stands for a prefix of the printed one."""
    shown, actual = " ".join(shown.split()), " ".join(actual.split())
    prefix = shown.endswith("...") and not actual.endswith("...")
    if prefix:
        shown = shown[:-3].rstrip()
    ts, ns, ta, na = NUM.split(shown), NUM.findall(shown), NUM.split(actual), NUM.findall(actual)
    if len(na) < len(ns) or (len(na) != len(ns) and not prefix):
        return False
    for k in range(len(ns)):
        if ts[k] != ta[k] or not same_at_printed_precision(ns[k], na[k]):
            return False
    tail = ta[len(ns)] if len(ns) < len(ta) else ""
    return tail.startswith(ts[len(ns)]) if prefix else tail == ts[len(ns)]


def check_shown(page, lineno, shown, printed):
    """Every shown line, in order, is a printed line (lines may be left out between them; "..." marks that)."""
    printed = [l for l in printed.split("\n") if l.strip()]
    k = 0
    for sl, s in shown:
        if s.strip() == "...":
            continue
        while k < len(printed) and not line_matches(s, printed[k]):
            k += 1
        if k == len(printed):
            problem(page, sl, f"the page shows `{s.strip()[:100]}` under the command of line {lineno}, which no "
                              "longer prints it (regenerate the excerpt)")
            return
        k += 1


def expected_exit(cmd, verdict):
    """`# exits N` on the command; else 1 when the shown output ends in FAIL:, else 0"""
    m = re.search(r"#\s*exits?\s+(\d+)\s*$", cmd.split("\n")[0] if "<<" in cmd else cmd)
    if m:
        return int(m.group(1))
    return 1 if verdict and verdict.startswith("FAIL") else 0


def is_checked(cmd):
    return re.match(r"^\s*(bin/vlmtrace|make)(\s|$)", cmd) is not None


def is_assignment(cmd):
    return re.match(r"^\s*[A-Za-z_][A-Za-z0-9_]*=\S*\s*$", cmd) is not None


def run_block(page, block, cmds, scratch, log):
    script = ["cd " + sh_quote(str(scratch)), "exec 2>&1"]
    for lineno, cmd, verdict in cmds:
        exp = expected_exit(cmd, verdict)
        script.append(f'echo "__BEGIN {lineno}"')
        script.append(cmd)
        script.append(f'__rc=$?; if [ "$__rc" != {exp} ]; then echo "__FAILED {lineno} $__rc"; exit 1; fi')
    t0 = time.time()
    try:
        r = subprocess.run(["bash", "-c", "\n".join(script)], capture_output=True, text=True, timeout=900,
                           env=dict(os.environ, VLMTRACE_ROOT=str(ROOT)))
    except subprocess.TimeoutExpired:
        problem(page, block["start"], "block timed out after 900 s")
        return
    m = re.search(r"__FAILED (\d+) (\d+)", r.stdout)
    if m or r.returncode != 0:
        lineno = int(m.group(1)) if m else block["start"]
        rc = m.group(2) if m else r.returncode
        cmd, verdict = next(((c, v) for n, c, v in cmds if n == lineno), ("?", None))
        out = re.sub(r"__(BEGIN|FAILED) [0-9 ]+\n?", "", r.stdout + r.stderr)
        tail = "\n".join("      | " + l for l in out.strip().split("\n")[-12:])
        problem(page, lineno, f"`{cmd.split(chr(10))[0].strip()}` exited {rc} "
                              f"(expected {expected_exit(cmd, verdict)})\n{tail}")
    # each command's own stdout: the text between its __BEGIN marker and the next one
    failed_at = int(m.group(1)) if m else None
    pieces = re.split(r"^__BEGIN (\d+)$", r.stdout, flags=re.M)
    outputs = {int(pieces[k]): pieces[k + 1] for k in range(1, len(pieces) - 1, 2)}
    for lineno, cmd, verdict in cmds:
        if lineno == failed_at or lineno not in outputs:
            break
        shown = shown_outputs(block).get(lineno)
        if shown and "measured" not in " ".join(block["markers"]):
            check_shown(page, lineno, shown, outputs[lineno])
        if verdict and verdict not in [l.strip() for l in outputs[lineno].split("\n")]:
            got = [l.strip() for l in outputs.get(lineno, "").split("\n") if VERDICT.match(l.strip())]
            problem(page, lineno, f"the page shows `{verdict}` but the command printed "
                                  f"`{got[-1] if got else '(no verdict)'}`")
    log.append(f"  {page.relative_to(ROOT)}:{block['start']}: {len(cmds)} command(s), {time.time() - t0:.1f} s")


def sh_quote(s):
    return "'" + s.replace("'", "'\\''") + "'"


def check_litter(page, scratch):
    """Following a page must not litter the clone: whatever its commands created at the top level (the
    scratch entries that are not the repository's own symlinks) is ignored by git."""
    for entry in sorted(scratch.iterdir()):
        if entry.is_symlink():
            continue
        name = entry.name + ("/" if entry.is_dir() else "")
        r = subprocess.run(["git", "-C", str(ROOT), "check-ignore", "-q", "--no-index", name])
        if r.returncode != 0:
            problem(page, 1, f"following this page creates {name} at the top of the clone, which git does not "
                             "ignore: write it under build/, or list it in .gitignore")


def check_commands(page, skip_targets, log):
    _, blocks = split_page(page.read_text(encoding="utf-8"))
    scratch = pathlib.Path(tempfile.mkdtemp(prefix="check_docs."))
    try:
        for entry in ROOT.iterdir():
            if entry.name != ".git":
                (scratch / entry.name).symlink_to(entry)
        for block in blocks:
            if block["info"] in SKIP_LANGS:
                continue
            cmds = block_commands(block)
            if not any(is_checked(c) for _, c, _ in cmds):
                if "run" not in block["markers"]:
                    continue
            if any("not run" in mk for mk in block["markers"]):
                log.append(f"  {page.relative_to(ROOT)}:{block['start']}: not run (marked)")
                continue
            keep = []
            for lineno, c, v in cmds:
                target = re.match(r"^\s*make\s+([\w.-]+)\s*(#.*)?$", c)
                if target and target.group(1) in skip_targets:
                    log.append(f"  {page.relative_to(ROOT)}:{lineno}: `make {target.group(1)}` "
                               f"is run by .ci/run itself")
                    continue
                if "run" in block["markers"] or is_checked(c) or is_assignment(c):
                    keep.append((lineno, c, v))
            if keep:
                run_block(page, block, keep, scratch, log)
        check_litter(page, scratch)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


# ---- 3. notebooks ----

def check_notebooks():
    n = 0
    for nb in sorted((ROOT / "docs" / "notebooks").glob("*.ipynb")):
        n += 1
        try:
            cells = json.loads(nb.read_text())["cells"]
        except (ValueError, KeyError) as e:
            problem(nb, 1, f"not a notebook: {e}")
            continue
        for i, c in enumerate(cells):
            if c.get("cell_type") == "code" and (c.get("outputs") or c.get("execution_count") is not None):
                problem(nb, 1, f"cell {i} has outputs: clear them before committing "
                               "(jupyter nbconvert --clear-output --inplace)")
                break
    return n


# ---- 4. citations ----

TOP_DIRS = ("ref/", "trace/", "tests/", "docs/", "notebooks-data/", ".ci/")
GENERATED = ("notebooks-data/traces/",)
SHARED_REF = {"core", "io", "vision", "processor", "mrope", "lm", "tokenizer", "model"}
PATH_TOKEN = re.compile(r"(?<![\w./-])((?:ref|trace|tests|docs|notebooks-data|\.ci)/[A-Za-z0-9_./<>{}*+-]*)")
MD_TOKEN = re.compile(r"(?<![\w/.-])([A-Za-z0-9_][A-Za-z0-9_.-]*\.md)\b")


_ruled = {}


def ruled_folders(root):
    """the folders docs/design.md's dependency rules list (tests/check_layers.py reads the same table)"""
    if root not in _ruled:
        sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
        import check_layers
        design = root / "docs" / "design.md"
        _ruled[root] = set(check_layers.read_rules(design)) if design.exists() else set()
    return _ruled[root]


def md_names(root):
    return {p.name for p in root.rglob("*.md") if ".git" not in p.parts and "build" not in p.parts[:1]}


def citation_problems(text_lines, where, root, names, backticked_only):
    """[(lineno, what)] for the paths and *.md names cited by text_lines [(lineno, text)]"""
    out = []
    for lineno, line in text_lines:
        spans = re.findall(r"`([^`]+)`", line) if backticked_only else [line]
        for span in spans:
            for m in PATH_TOKEN.finditer(span):
                path = m.group(1).rstrip(".,:;)")
                if re.search(r"[<>{}*]|\.\.\.|(^|[/_.-])X([/_.-]|$)|(^|/)[A-Z][A-Z_]+(/|$)", path) \
                        or path.startswith(GENERATED) or path.rstrip("/") in ruled_folders(root):
                    continue
                if not (root / path).exists():
                    out.append((lineno, f"cites `{path}`, which is not in the repository"))
        for span in (re.findall(r"`([^`]+)`", line) if backticked_only else [line]) + \
                ([re.sub(r"`[^`]*`", "", line)] if backticked_only else []):
            for m in MD_TOKEN.finditer(span):
                name = m.group(1)
                if "*" in span[max(0, m.start() - 1):m.start()] or name.split("/")[-1] in names:
                    continue
                out.append((lineno, f"cites `{name}`, but no file of the repository is called that"))
    return out


def comment_lines(path):
    """[(lineno, text)] of the comments of a source file (C: /* */ and //; others: the whole line after #,
    and Python docstrings)"""
    text = path.read_text(encoding="utf-8", errors="replace")
    out = []
    if path.suffix in (".c", ".h"):
        for m in re.finditer(r"/\*.*?\*/|//[^\n]*|\"(?:\\.|[^\"\\\n])*\"|'(?:\\.|[^'\\\n])*'", text, re.S):
            if m.group(0)[0] in "\"'":
                continue
            first = text.count("\n", 0, m.start()) + 1
            for k, l in enumerate(m.group(0).split("\n")):
                out.append((first + k, l))
    elif path.suffix == ".py":
        for m in re.finditer(r'"""(.*?)"""|#[^\n]*', text, re.S):
            first = text.count("\n", 0, m.start()) + 1
            for k, l in enumerate(m.group(0).split("\n")):
                out.append((first + k, l))
    else:  # shell, make
        for k, l in enumerate(text.split("\n"), 1):
            if "#" in l:
                out.append((k, l[l.index("#"):]))
    return out


def check_citations(root):
    root = pathlib.Path(root)
    names = md_names(root)
    n = 0
    pages = [root / "README.md", root / "CONTRIBUTING.md"] + sorted((root / "docs").rglob("*.md")) + \
        sorted((root / "ref").rglob("*.md")) + sorted((root / "trace").rglob("*.md")) + \
        sorted((root / "tests").rglob("*.md")) + [root / "notebooks-data" / "reference" / "README.md",
                                                  root / "notebooks-data" / "presets" / "README.md"]
    for page in pages:
        if not page.exists():
            if page.name == "CONTRIBUTING.md":
                problem(page, 1, "CONTRIBUTING.md is missing")
            continue
        prose, _ = split_page(page.read_text(encoding="utf-8"))
        n += 1
        for lineno, what in citation_problems(prose, page, root, names, True):
            problem(page, lineno, what)
    sources = [root / "Makefile"]
    for tree in ("ref", "trace", "tests"):
        for p in sorted((root / tree).rglob("*")):
            if p.is_file() and (p.suffix in (".c", ".h", ".py", ".sh", ".mk") or p.name == "run"):
                sources.append(p)
    for src in sources:
        n += 1
        for lineno, what in citation_problems(comment_lines(src), src, root, names, False):
            problem(src, lineno, what)
    return n


# ---- 5. the stage table of docs/index.md ----

def defines(path, fn):
    """is fn defined (not only declared) in the C file path?"""
    text = path.read_text(encoding="utf-8", errors="replace")
    for m in re.finditer(r"^[A-Za-z_][^\n;(=]*\b" + re.escape(fn) + r"\s*\(", text, re.M):
        depth, i = 1, m.end()
        while i < len(text) and depth:
            depth += {"(": 1, ")": -1}.get(text[i], 0)
            i += 1
        if text[i:].lstrip().startswith("{"):
            return True
    return False


def check_stage_table(root):
    root = pathlib.Path(root)
    page = root / "docs" / "index.md"
    prose, _ = split_page(page.read_text(encoding="utf-8"))
    families = {d.name for d in (root / "ref").iterdir() if d.is_dir()} - SHARED_REF
    in_section, family, col, rows = False, None, None, 0
    for lineno, line in prose:
        if line.startswith("## "):
            in_section = line.strip() == "## Where each stage lives"
            continue
        if not in_section:
            continue
        if line.startswith("### "):
            family, col = re.sub(r"[^a-z0-9]", "", line[4:].lower()), None
            continue
        if not line.startswith("|"):
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if col is None:
            col = next((i for i, c in enumerate(cells) if c.lower().startswith("c function")), None)
            if col is None:
                problem(page, lineno, "a stage table needs a 'C function (file)' column")
                col = -1
            continue
        if col < 0 or re.match(r"^-+$", cells[0].replace(":", "")):
            continue
        rows += 1
        pending, pairs = [], []
        for m in re.finditer(r"`([A-Za-z_]\w*)`|\b((?:ref|trace)/[\w/.-]+\.[ch])\b", cells[col]):
            if m.group(1):
                pending.append(m.group(1))
            else:
                pairs += [(fn, m.group(2)) for fn in pending]
                pending = []
        for fn in pending:
            problem(page, lineno, f"stage table: `{fn}` is not followed by the file it is in, (ref/.../file.c)")
        if not pairs and not pending:
            problem(page, lineno, "stage table: the row names no C function (file)")
        for fn, f in pairs:
            path = root / f
            parts = pathlib.Path(f).parts
            if not path.is_file():
                problem(page, lineno, f"stage table: {f} does not exist")
                continue
            if family in families and parts[0] == "ref" and parts[1] in families and parts[1] != family:
                problem(page, lineno, f"stage table: {f} is in another family's folder (this table is "
                                      f"ref/{family}/ and the shared folders)")
            if not defines(path, fn):
                problem(page, lineno, f"stage table: `{fn}` is not defined in {f}")
    return rows


def main():
    only_links = "--links-only" in sys.argv
    n_links = sum(check_links(p) for p in PAGES)
    print(f"check_docs: {n_links} links in {len(PAGES)} pages")
    n_nb = check_notebooks()
    print(f"check_docs: {n_nb} notebooks checked for cleared outputs")
    n_cited = check_citations(ROOT)
    print(f"check_docs: citations checked in {n_cited} pages and source files")
    n_rows = check_stage_table(ROOT)
    print(f"check_docs: {n_rows} rows of docs/index.md's stage table checked against the code")
    if not only_links:
        if not (ROOT / "bin" / "vlmtrace").exists():
            problems.append("bin/vlmtrace: not built (run make first)")
        else:
            log = []
            skip = ci_targets()
            for p in PAGES:
                check_commands(p, skip, log)
            print("check_docs: commands\n" + "\n".join(log))
    if problems:
        print("\n".join(problems))
        print(f"check_docs: FAIL, {len(problems)} problem(s)")
        return 1
    print("check_docs: PASS")
    return 0


if __name__ == "__main__":
    sys.exit(main())
