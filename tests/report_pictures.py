#!/usr/bin/python3
"""The bug zoo's `vlmtrace diff --report` pictures that docs/bug-zoo.md and docs/diff-your-port.md show.

    /usr/bin/python3 tests/report_pictures.py            # rewrite docs/img/report/*.png
    /usr/bin/python3 tests/report_pictures.py --check    # regenerate in a scratch directory; exit 1 if a
                                                         # committed picture differs or is missing
    ... --keep DIR                                       # also keep the bugs' report directories in DIR
                                                         # (report.html and all), for the browser check

Run from the repository root (`make report-pictures`; `make docs-check` runs --check). The traces come from
the setup commands of docs/bug-zoo.md (its ```sh blocks: lines starting with `bin/vlmtrace `, `zoo/` a
scratch directory), so the pictures show exactly the bugs the page describes. The pictures are deterministic:
the same traces give the same bytes, so a committed picture that differs is a picture that went stale.
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join("docs", "img", "report")
REF = "notebooks-data/reference/"

# bug -> (reference case, extra diff flags, pictures of its report to keep)
BUGS = {
    "bilinear-resize": ("qwen2vl-image", [], ["map.0.png"]),
    "round-half-away": ("preprocess-exif", [], ["walk.png"]),
    "no-segment-mask": ("qwen2vl-multi", [], ["walk.png", "map.0.png", "heads.0.png"]),
    "fullatt-as-strings": ("qwen25vl-image", [], ["map.0.png"]),
    "no-reverse-index": ("qwen25vl-image", [], ["map.0.png"]),
    "qkv-global-split": ("qwenvl-image", [], ["channels.0.png"]),
    "cross-image-leak": ("kimivl-multi", [], ["map.0.png"]),
    "sequential-positions": ("rope-index/qwen2vl-multi", [], ["map.0.png"]),
    "no-mrope-sections": ("rope-index/qwen2vl-mrope", [], ["channels.0.png"]),
    "mrope-section-order": ("qwen2vl-e2e", [], ["map.0.png", "channels.0.png"]),
    # docs/diff-your-port.md, section 4: a port that rotates interleaved pairs instead of halves
    "rotate-half": ("qwen2vl-image", [], ["channels.0.png", "map.0.png"]),
}


def make_rotate_half(zoo):
    """docs/diff-your-port.md's `port`: q_rope recomputed from the golden qkv with GPT-J style pairs."""
    import numpy as np
    d = zoo + "rotate-half"
    shutil.copytree(os.path.join(ROOT, REF, "qwen2vl-image"), d)
    for f in os.listdir(d):
        os.chmod(os.path.join(d, f), 0o644)
    qkv = np.load(d + "/visual.blocks.0.attn.qkv.npy")
    rot = np.load(d + "/visual.rotary_pos_emb.npy")
    q = qkv.reshape(len(qkv), 3, 2, 16)[:, 0]
    cos, sin = np.cos(rot)[:, None, :], np.sin(rot)[:, None, :]
    out = np.empty_like(q)
    out[..., 0::2] = q[..., 0::2] * cos - q[..., 1::2] * sin
    out[..., 1::2] = q[..., 1::2] * cos + q[..., 0::2] * sin
    np.save(d + "/visual.blocks.0.attn.q_rope.npy", out.astype(np.float32))


def run(binary, args, zoo):
    cmd = binary + " " + args.replace("zoo/", zoo)
    p = subprocess.run(cmd, shell=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd=ROOT)
    return p.returncode, p.stdout.decode(errors="replace")


def make_reports(binary, work):
    """Trace every bug of the zoo page and write its report under work/rep/BUG; returns that directory."""
    zoo = os.path.join(work, "zoo") + "/"
    os.makedirs(zoo)
    page = open(os.path.join(ROOT, "docs", "bug-zoo.md")).read()
    for m in re.finditer(r"```sh\n(.*?)```", page, re.S):
        for line in m.group(1).replace("\\\n", " ").splitlines():
            if line.startswith("bin/vlmtrace "):
                rc, out = run(binary, line[len("bin/vlmtrace "):], zoo)
                if rc != 0:
                    sys.exit(f"report_pictures: {line} -> exit {rc}\n{out}")
    make_rotate_half(zoo)
    rep = os.path.join(work, "rep")
    for bug, (case, flags, _) in BUGS.items():
        if not os.path.isdir(zoo + bug):
            sys.exit(f"report_pictures: docs/bug-zoo.md makes no zoo/{bug}")
        rc, out = run(binary, " ".join(["diff", "zoo/" + bug, REF + case, "--quiet", "--report", os.path.join(rep, bug)]
                                       + flags), zoo)
        if rc != 1:
            sys.exit(f"report_pictures: the diff of {bug} exited {rc} (1 expected)\n{out}")
    return rep


def main():
    args = sys.argv[1:]
    check = "--check" in args
    keep = args[args.index("--keep") + 1] if "--keep" in args else None
    binary = os.environ.get("VLMTRACE_BIN", "bin/vlmtrace")
    work = tempfile.mkdtemp(prefix="vt-report-pictures-")
    bad = 0
    try:
        rep = make_reports(binary, work)
        os.makedirs(os.path.join(ROOT, OUT), exist_ok=True)
        wanted = set()
        for bug, (_, _, pics) in BUGS.items():
            for pic in pics:
                name = f"{bug}.{pic}"
                wanted.add(name)
                fresh = open(os.path.join(rep, bug, pic), "rb").read()
                committed = os.path.join(ROOT, OUT, name)
                old = open(committed, "rb").read() if os.path.exists(committed) else None
                if check:
                    if old is None:
                        print(f"{OUT}/{name}: missing (make report-pictures writes it)")
                        bad += 1
                    elif old != fresh:
                        print(f"{OUT}/{name}: differs from what bin/vlmtrace draws today (make report-pictures)")
                        bad += 1
                elif old != fresh:
                    open(committed, "wb").write(fresh)
                    print(f"{OUT}/{name}: written")
        for name in sorted(os.listdir(os.path.join(ROOT, OUT))):
            if name.endswith(".png") and name not in wanted:
                print(f"{OUT}/{name}: not drawn by any bug (stale)")
                bad += check
        if keep:
            shutil.rmtree(keep, ignore_errors=True)
            shutil.copytree(rep, keep)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if check:
        print(f"report pictures: {len(wanted) - bad if bad <= len(wanted) else 0} of {len(wanted)} current"
              + ("" if not bad else f", {bad} problem(s)"))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
