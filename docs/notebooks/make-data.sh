#!/bin/sh
# docs/notebooks/make-data.sh -- what `make notebooks-data` runs: every trace the notebooks read, written
# by bin/vlmtrace into notebooks-data/traces/<name>/ from the bundled tiny checkpoints and images of
# notebooks-data/reference/ (read only: nothing under reference/ is ever written).
#
#   sh docs/notebooks/make-data.sh [VLMTRACE]      (default bin/vlmtrace; run from the repository root)
#
# Each block below says which notebook reads the trace. The inputs are the golden cases' own, so most
# traces also diff clean against notebooks-data/reference/<case> (the notebooks check that where it holds).
set -eu
vt=${1:-bin/vlmtrace}
R=notebooks-data/reference
T=notebooks-data/traces
CAT=$R/qwen2vl-image/image.0.png          # 300x240 photo (CC0, from python3-skimage), the golden cases' own

[ -x "$vt" ] || { echo "make-data.sh: $vt not found (run make first)" >&2; exit 2; }
mkdir -p "$T"

# fresh(NAME): remove one generated trace directory; only ever under $T
fresh() { rm -rf "${T:?}/$1"; }
q() { "$vt" "$@" >/dev/null; }

# ---- 01-qwen2vl-pipeline: the cat through Qwen2-VL, with the reference's literal N x N mask ----
fresh qwen2vl-cat
q run --model $R/qwen2vl-image --image $CAT --min-pixels 3136 --max-pixels 64000 \
    --attn literal --trace $T/qwen2vl-cat --viz
fresh qwen2vl-cat-preprocess
q preprocess --family qwen2-vl --image $CAT --min-pixels 3136 --max-pixels 64000 \
    --trace $T/qwen2vl-cat-preprocess --viz

# ---- 02-qwen25vl-windows: the same photo through the tiny Qwen2.5-VL (merged grid 8 x 10: 6 windows
#      that hold tokens, 3 empty ones), and the golden 10 x 10 grid (windows of 16, 4, 4, 1 tokens) ----
fresh qwen25vl-cat
q run --model $R/qwen25vl-image --image $CAT --min-pixels 3136 --max-pixels 64000 \
    --trace $T/qwen25vl-cat --viz
fresh qwen25vl-image
q run --model $R/qwen25vl-image --image $R/qwen25vl-image/image.0.png --min-pixels 3136 --max-pixels 20000 \
    --trace $T/qwen25vl-image --viz

# ---- 03-mrope: a real mixed forward (2 images + a 4-frame video) gives the grids; the same prompt's
#      position ids under both models; Qwen2.5-VL's absolute time at several frame rates ----
M=$R/qwen2vl-multi
fresh qwen2vl-multi
q run --model $M --image $M/image.0.png --image $M/image.1.png \
    --video $M/video.0.frame.0.png,$M/video.0.frame.1.png,$M/video.0.frame.2.png,$M/video.0.frame.3.png \
    --fps 2 --min-pixels 3136 --max-pixels 8000 --trace $T/qwen2vl-multi --viz
MIXED="text:3 image:1x4x6 text:2 image:1x6x4 text:4 video:2x4x6 text:3"
fresh rope-qwen2vl-mixed
q rope --config $R/rope-index/qwen2vl-multi/config.json --layout "$MIXED" \
    --trace $T/rope-qwen2vl-mixed --viz
fresh rope-qwen25vl-mixed
q rope --config $R/rope-index/qwen25vl-multi/config.json --layout "text:3 image:1x4x6 text:2 image:1x6x4 text:4 video:2x4x6@1.0 text:3" \
    --trace $T/rope-qwen25vl-mixed --viz
# a 6-temporal-patch video (12 frames) at fps 0.5, 1, 1.5, 2, 4: second_per_grid_ts = 2 / fps
for s in 4.0 2.0 1.3333333333333333 1.0 0.5; do
    fresh rope-qwen25vl-time-$s
    q rope --config $R/rope-index/qwen25vl-multi/config.json --layout "text:2 video:6x4x4@$s text:2" \
        --trace $T/rope-qwen25vl-time-$s
done
# the multimodal rotary on the golden q / k (position ids given), both models
for m in qwen2vl qwen25vl; do
    G=$R/rope-index/$m-mrope
    fresh rope-$m-mrope
    q rope --model $G --input-ids $G/input_ids.npy --position-ids $G/position_ids.npy \
        --q $G/mrope.q.npy --k $G/mrope.k.npy --trace $T/rope-$m-mrope
done

# ---- 04-resampler-vs-merger: Qwen-VL on its golden image and on the cat (squashed to a square), and
#      the Qwen2-VL processor on the cat under several pixel budgets (min = max = budget) ----
fresh qwenvl-image
q run --model $R/qwenvl-image --image $R/qwenvl-image/image0.png --trace $T/qwenvl-image --viz
fresh qwenvl-cat
q run --model $R/qwenvl-image --image $CAT --trace $T/qwenvl-cat --viz
for b in 3136 12544 50176 64000 200704 401408; do
    fresh qwen2vl-budget-$b
    q preprocess --family qwen2-vl --image $CAT --min-pixels $b --max-pixels $b \
        --trace $T/qwen2vl-budget-$b --only 'image.0.resized' --only '*grid_thw'
done

# ---- 05-bug-zoo: the same inputs as golden cases, each with one real porting mistake switched on
#      (--inject, docs/bug-zoo.md); the notebook diffs them against notebooks-data/reference/<case> ----
bug() { name=$1; shift; fresh bug-$name; q "$@" --trace $T/bug-$name; }
bug no-segment-mask run --model $M --image $M/image.0.png --image $M/image.1.png \
    --video $M/video.0.frame.0.png,$M/video.0.frame.1.png,$M/video.0.frame.2.png,$M/video.0.frame.3.png \
    --fps 2 --min-pixels 3136 --max-pixels 8000 --inject no-segment-mask
bug bilinear-resize run --model $R/qwen2vl-image --image $CAT --min-pixels 3136 --max-pixels 64000 \
    --inject bilinear-resize
S=$R/preprocess-sizes/image.6.png                   # 70x42: 42/28 = 1.5, 70/28 = 2.5
fresh sizes-42x70
q preprocess --family qwen2-vl --image $S --trace $T/sizes-42x70
bug round-half-away preprocess --family qwen2-vl --image $S --inject round-half-away
G=$R/qwen25vl-image
bug fullatt-as-strings run --model $G --image $G/image.0.png --min-pixels 3136 --max-pixels 20000 \
    --inject fullatt-as-strings
bug no-reverse-index run --model $G --image $G/image.0.png --min-pixels 3136 --max-pixels 20000 \
    --inject no-reverse-index
bug qkv-global-split run --model $R/qwenvl-image --image $R/qwenvl-image/image0.png --inject qkv-global-split
K=$R/kimivl-multi
bug cross-image-leak run --model $K --image $K/image0.png --image $K/image1.png --inject cross-image-leak
P=$R/rope-index/qwen2vl-multi
bug sequential-positions rope --model $P --input-ids $P/input_ids.npy --image-grid-thw $P/image_grid_thw.npy \
    --video-grid-thw $P/video_grid_thw.npy --inject sequential-positions --quiet
G=$R/rope-index/qwen2vl-mrope
bug no-mrope-sections rope --model $G --input-ids $G/input_ids.npy --position-ids $G/position_ids.npy \
    --q $G/mrope.q.npy --k $G/mrope.k.npy --inject no-mrope-sections
bug no-segment-mask-1image run --model $R/qwen2vl-image --image $CAT --min-pixels 3136 --max-pixels 64000 \
    --inject no-segment-mask

# ---- 06-llm-attention: the whole Qwen2-VL model on its e2e case, every tensor of the language model ----
E=$R/qwen2vl-e2e
fresh llm-qwen2vl-e2e
q generate --model $E --image $E/image.0.png --min-pixels 3136 --max-pixels 40000 --input-ids $E/input_ids.npy \
    --max-new-tokens 8 --trace $T/llm-qwen2vl-e2e

echo "make-data.sh: $(ls "$T" | wc -l) traces in $T"
