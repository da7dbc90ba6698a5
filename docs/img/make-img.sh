#!/bin/sh
# docs/img/make-img.sh -- regenerate the example pictures docs/index.md embeds: each is a `--viz` picture
# of bin/vlmtrace on a bundled input, shrunk (box filter, 96-colour palette; numpy, matplotlib and Pillow from Debian's python3) so the
# repository stays light. Run from the repository root after `make`:  sh docs/img/make-img.sh
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

# source picture -> docs/img/<name> at most <width> pixels wide
/usr/bin/python3 - "$O" <<'EOF'
import sys
import numpy as np
import matplotlib.image as mpimg
from PIL import Image                                   # Pillow: python3-matplotlib depends on python3-pil
O = sys.argv[1]
pictures = [("grid/image.0.grid.png", "qwen2-grid.png", 320), ("demo/image.0.grid.png", "demo-grid.png", 560),
            ("mask/visual.attention_mask.png", "qwen2-attention-mask.png", 240),
            ("windows/image.0.windows.png", "qwen25-windows.png", 240),
            ("windows/visual.window_mask.png", "qwen25-window-mask.png", 240),
            ("resampler/transformer.visual.attn_pool.attn.weights.0.png", "qwenvl-resampler-weights.png", 320),
            ("kimi/image.1.patches.png", "kimivl-patches.png", 320),
            ("kimi/vision_tower.encoder.attn_mask.png", "kimivl-attn-mask.png", 240),
            ("rope/rope.positions.png", "mrope-positions.png", 456)]
for src, dst, width in pictures:
    a = mpimg.imread(f"{O}/{src}")[..., :3]
    f = max(1, -(-a.shape[1] // width))                  # integer box filter: ceil(w / width)
    h, w = a.shape[0] // f * f, a.shape[1] // f * f
    small = a[:h, :w].reshape(h // f, f, w // f, f, 3).mean((1, 3))
    u8 = (np.clip(small, 0, 1) * 255 + 0.5).astype(np.uint8)
    Image.fromarray(u8).quantize(colors=96, dither=Image.Dither.NONE).save(f"docs/img/{dst}", optimize=True)
    print(f"docs/img/{dst}: {w // f}x{h // f} (from {src}, 1/{f})")
EOF
