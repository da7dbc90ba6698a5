#!/usr/bin/python3
"""docs/img/make-resize-kernels.py -- docs/img/resize-kernels.png: the weights the three bicubic resamplers of
docs/resize.md give one output pixel, for a downscale and an upscale of preprocess-fast's inputs.

    /usr/bin/python3 docs/img/make-resize-kernels.py      (from the repository root; docs/img/make-img.sh runs it)

The weights are computed here with numpy by the formulas docs/resize.md gives (the same ones the C code
follows: ref/io/resize_pil.c, resize_torch_aa.c, resize_torch.c), in the precisions those use: PIL's in
float64, normalised, then 22-bit fixed point; torch's antialiased kernel in float32 with the steps README
.preprocess-fast.md lists; torch's plain bicubic (A = -0.75, 4 taps, border taps clamped) in float32.
The bottom row shows what separates PIL's and the antialiased weights: nothing but precision -- torch
evaluates the positions and the kernel in float32, PIL in float64 and then rounds to steps of 2^-22 =
2.4e-7 -- about 1e-6 at most. The kernel is the same; the bytes differ because of the arithmetic around
it (PIL's uint8 intermediate and rounding), not because of the weights.
"""
import os

import numpy as np
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import matplotlib.ticker  # noqa: E402

f32 = np.float32


def pil_weights(n_in, n_out, o):
    """Pillow 9.4 precompute_coeffs + normalize_coeffs_8bpc: (first tap, weights as fixed point / 2^22)."""
    scale = n_in / n_out
    fs = max(scale, 1.0)
    support = 2.0 * fs
    center = (o + 0.5) * scale
    ss = 1.0 / fs
    xmin = max(int(center - support + 0.5), 0)
    xmax = min(int(center + support + 0.5), n_in)

    def keys(x):
        x = abs(x)
        if x < 1:
            return (1.5 * x - 2.5) * x * x + 1
        if x < 2:
            return (((x - 5) * x + 8) * x - 4) * -0.5
        return 0.0
    w = np.array([keys((x + xmin - center + 0.5) * ss) for x in range(xmax - xmin)])
    w = w / w.sum()
    fixed = np.where(w < 0, np.trunc(w * 2 ** 22 - 0.5), np.trunc(w * 2 ** 22 + 0.5))
    return xmin, fixed / 2 ** 22


def aa_weights(n_in, n_out, o):
    """torch 1.13 _upsample_bicubic2d_aa's weights, float32 (README.preprocess-fast.md, step 4)."""
    scale = f32(f32(n_in) / f32(n_out))
    if scale >= 1:
        support, invscale = f32(2.0 * float(scale)), f32(1.0 / float(scale))
    else:
        support, invscale = f32(2), f32(1)
    center = f32(float(scale) * (o + 0.5))
    xmin = max(int(float(f32(center - support)) + 0.5), 0)
    xmax = min(int(float(f32(center + support)) + 0.5), n_in)

    def keys(x):
        x = f32(abs(x))
        if x < 1:
            xd = float(x)
            return f32(((1.5 * xd - 2.5) * xd) * xd + 1)
        if x < 2:
            t = f32(f32(f32(f32(f32(x - f32(5)) * x) + f32(8)) * x) - f32(4))
            return f32(float(t) * -0.5)
        return f32(0)
    w = [keys(f32((float(f32(f32(xmin + j) - center)) + 0.5) * float(invscale))) for j in range(xmax - xmin)]
    total = f32(0)
    for v in w:
        total = f32(total + v)
    return xmin, np.array([f32(v / total) for v in w], dtype=np.float64)


def torch_weights(n_in, n_out, o):
    """torch interpolate(bicubic, align_corners=False), no antialias: 4 taps, A = -0.75, clamped at borders."""
    scale = f32(n_in / n_out)
    src = f32(float(scale) * (o + 0.5) - 0.5)
    i0 = int(np.floor(src))
    t = f32(src - i0)
    A = -0.75

    def w1(x):
        return ((A + 2) * x - (A + 3)) * x * x + 1

    def w2(x):
        return ((A * x - 5 * A) * x + 8 * A) * x - 4 * A
    ws = [w2(t + 1), w1(t), w1(1 - t), w2(2 - t)]
    taps = {}
    for j, w in enumerate(ws):
        i = min(max(i0 - 1 + j, 0), n_in - 1)
        taps[i] = taps.get(i, 0.0) + float(w)
    first = min(taps)
    return first, np.array([taps.get(first + k, 0.0) for k in range(max(taps) - first + 1)])


CASES = [  # (input size, output size, output pixel, what)
    (300, 84, 40, "downscale 300 -> 84 (image.2's width, 3.57x): output pixel 40"),
    (40, 84, 41, "upscale 40 -> 84 (image.0's width, 2.1x): output pixel 41"),
]


def main():
    fig, axes = plt.subplots(2, 2, figsize=(11, 7.4), gridspec_kw={"height_ratios": [3, 1.4]})
    for col, (n_in, n_out, o, what) in enumerate(CASES):
        ax, dx = axes[0][col], axes[1][col]
        p0, pw = pil_weights(n_in, n_out, o)
        a0, aw = aa_weights(n_in, n_out, o)
        t0, tw = torch_weights(n_in, n_out, o)
        center = (o + 0.5) * n_in / n_out - 0.5  # in input pixel-centre coordinates
        ax.axhline(0, color="#888888", lw=0.8)
        ax.axvline(center, color="#888888", lw=0.8, ls=":")
        ax.plot(np.arange(p0, p0 + len(pw)), pw, "o-", color="#0072B2", ms=8, lw=1.5,
                label="PIL bicubic, a = -0.5, antialiased (slow processor)")
        ax.plot(np.arange(a0, a0 + len(aw)), aw, "x--", color="#D55E00", ms=9, mew=2, lw=1.2,
                label="torch bicubic, antialias=True, float32 (fast processor)")
        ax.plot(np.arange(t0, t0 + len(tw)), tw, "s-", color="#009E73", ms=6, lw=1.2,
                label="torch bicubic, no antialias, A = -0.75 (position tables)")
        ax.set_title(what, fontsize=11)
        ax.set_xlabel("input pixel")
        ax.set_ylabel("weight")
        ax.grid(alpha=0.3)
        assert p0 == a0 and len(pw) == len(aw)
        d = (aw - pw) * 1e7
        dx.bar(np.arange(a0, a0 + len(aw)), d, color="#CC79A7", width=0.6)
        dx.axhline(0, color="#888888", lw=0.8)
        dx.set_ylabel("difference x 1e-7")
        dx.set_xlabel("input pixel")
        dx.set_title("torch antialiased weight minus PIL weight", fontsize=10)
        dx.grid(alpha=0.3)
        for a in (ax, dx):
            a.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
        print("%s: PIL/torch-aa %d taps from %d, max |diff| %.2e; torch %d taps from %d"
              % (what, len(pw), p0, np.abs(aw - pw).max(), len(tw), t0))
    h, l = axes[0][0].get_legend_handles_labels()
    fig.legend(h, l, loc="lower center", ncol=1, fontsize=10, frameon=True)
    fig.suptitle("The three bicubic resamplers: the weights of one output pixel (the dotted line: its centre)",
                 fontsize=12)
    fig.tight_layout(rect=(0, 0.13, 1, 0.97))
    out = os.path.join("docs", "img", "resize-kernels.png")
    fig.savefig(out, dpi=80)
    print("wrote", out)


if __name__ == "__main__":
    main()
