#!/bin/sh
# docs/img/make-img.sh -- regenerate the example pictures docs/index.md embeds: each is a `--viz` picture
# of bin/vlmtrace on a bundled input at its own size (never shrunk: shrinking blurs the captions and tick
# labels below reading size), reduced to a 96-colour palette so the repository stays light (numpy,
# matplotlib and Pillow from Debian's python3). Run from the repository root after `make`:  sh docs/img/make-img.sh
set -eu
R=notebooks-data/reference
O=build/docs-img
CAT=$R/qwen2vl-image/image.0.png
rm -rf "$O" && mkdir -p "$O"
q() { bin/vlmtrace "$@" --quiet >/dev/null; }

q preprocess --family qwen2-vl --image $CAT --max-pixels 12544 --trace $O/grid --viz
q run --model $R/qwen2vl-multi --image $R/qwen2vl-multi/image.0.png --image $R/qwen2vl-multi/image.1.png \
    --video $R/qwen2vl-multi/video.0.frame.0.png,$R/qwen2vl-multi/video.0.frame.1.png,$R/qwen2vl-multi/video.0.frame.2.png,$R/qwen2vl-multi/video.0.frame.3.png \
    --max-pixels 8000 --trace $O/mask --viz
q run --model $R/qwen25vl-image --image $CAT --max-pixels 64000 --trace $O/windows --viz
q run --model $R/qwen2vl-image --image $CAT --min-pixels 3136 --max-pixels 64000 --trace $O/demo --viz
q run --model $R/qwenvl-image --image $R/qwenvl-image/image0.png --trace $O/resampler --viz
q run --model $R/kimivl-multi --image $R/kimivl-multi/image0.png --image $R/kimivl-multi/image1.png \
    --trace $O/kimi --viz
q rope --config $R/rope-index/qwen25vl-multi/config.json \
    --layout "text:2 image:1x4x6 text:2 video:3x4x4@1.3333333333333333 text:1" --trace $O/rope --viz
# Qwen3-VL: the real 48 x 48 position table (a one-block synthetic Qwen3-VL-2B), DeepStack of the golden
# model, and the timestamped frame blocks of rope-index-qwen3vl/qwen3vl-image-video
q synth --preset qwen3-vl-2b --layers 1 --out $O/q3-2b
q run --model $O/q3-2b --image $CAT --max-pixels 200000 --trace $O/q3pos --viz --only visual
q run --model $R/qwen3vl-image --image $R/qwen3vl-image/image.0.png --min-pixels 4096 --max-pixels 40000 \
    --trace $O/q3 --viz --only visual
q rope --config $R/rope-index-qwen3vl/qwen3vl-image-video/config.json \
    --layout "text:5 image:1x4x6 text:3 stamp:6 video:3x4x8 text:7" --trace $O/q3rope --viz

# the resamplers' weights (docs/resize.md), drawn with matplotlib from the formulas
MPLCONFIGDIR=$O/mpl /usr/bin/python3 docs/img/make-resize-kernels.py

# source picture -> docs/img/<name>, the same size
/usr/bin/python3 - "$O" <<'EOF'
import sys
import numpy as np
import matplotlib.image as mpimg
from PIL import Image                                   # Pillow: python3-matplotlib depends on python3-pil
O = sys.argv[1]
pictures = [("grid/image.0.grid.png", "qwen2-grid.png"), ("demo/image.0.grid.png", "demo-grid.png"),
            ("mask/visual.attention_mask.png", "qwen2-attention-mask.png"),
            ("windows/image.0.windows.png", "qwen25-windows.png"),
            ("windows/visual.window_mask.png", "qwen25-window-mask.png"),
            ("resampler/transformer.visual.attn_pool.attn.weights.0.png", "qwenvl-resampler-weights.png"),
            ("kimi/image.1.patches.png", "kimivl-patches.png"),
            ("kimi/vision_tower.encoder.attn_mask.png", "kimivl-attn-mask.png"),
            ("rope/rope.positions.png", "mrope-positions.png"),
            ("q3pos/image.0.pos_embed.png", "qwen3-pos-embed.png"),
            ("q3/visual.deepstack.png", "qwen3-deepstack.png"),
            ("q3rope/rope.positions.png", "qwen3-mrope-positions.png")]
for src, dst in pictures:
    a = mpimg.imread(f"{O}/{src}")[..., :3]
    u8 = (np.clip(a, 0, 1) * 255 + 0.5).astype(np.uint8)
    Image.fromarray(u8).quantize(colors=96, dither=Image.Dither.NONE).save(f"docs/img/{dst}", optimize=True)
    print(f"docs/img/{dst}: {a.shape[1]}x{a.shape[0]} (from {src})")
EOF
