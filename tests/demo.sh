#!/bin/sh
# tests/demo.sh -- what `make demo` runs, in two parts, each diffed against the Hugging Face trace of the
# same input (transformers 4.51.3, bundled in notebooks-data/reference/):
#   1. the Qwen2-VL vision tower in plain C on the bundled sample image and tiny checkpoint (qwen2vl-image),
#      every intermediate tensor traced and shown, with the picture of how the photo became tokens;
#   2. the whole model on the tiny end-to-end checkpoint (qwen2vl-e2e): the image through the tower, its
#      rows scattered into the prompt, the language model with M-RoPE and 8 greedy tokens (`generate`).
# Ends with one verdict.
set -e
ref=notebooks-data/reference/qwen2vl-image
out=build/demo
rm -rf "$out" && mkdir -p "$out"
n_ref=$(grep -c '"name"' "$ref/manifest.json")

echo "== vlmtrace run: $ref/image.0.png through the tiny Qwen2-VL checkpoint of $ref"
echo "   (min/max pixels as the reference was made; every intermediate into $out/trace, pictures with --viz)"
bin/vlmtrace run --model "$ref" --image "$ref/image.0.png" --min-pixels 3136 --max-pixels 64000 \
    --trace "$out/trace" --viz --out "$out/visual.npy"
echo
echo "== vlmtrace show $out/trace --only 'visual.*'   (the vision tower's tensors, in the order computed)"
bin/vlmtrace show "$out/trace" --only 'visual.*'
echo
echo "== vlmtrace diff $out/trace $ref   (ours against Hugging Face, tensor by tensor)"
set +e
bin/vlmtrace diff "$out/trace" "$ref"
rc=$?
set -e
if [ "$rc" != 0 ]; then
    echo
    echo "demo verdict: FAIL -- vlmtrace diff exited $rc; the first divergence is named above"
    exit 1
fi
# the picture of this run: the photo as the processor resized it, its patches and the merge blocks, each
# numbered with the row of visual.npy it became
patches=$(bin/vlmtrace show "$out/trace" --only visual.patch_embed | awk '$1 == "visual.patch_embed" {print $3}' | tr -d '[,')
tokens=$(bin/vlmtrace show "$out/trace" --only visual | awk '$1 == "visual" {print $3}' | tr -d '[,')

e2e=notebooks-data/reference/qwen2vl-e2e
n_e2e=$(grep -c '"name"' "$e2e/manifest.json")
echo
echo "== vlmtrace generate: the whole model, pixels to tokens, on the tiny end-to-end checkpoint of $e2e"
echo "   (the image through the tower, its rows scattered into the prompt's image pads, the language model with"
echo "   M-RoPE, 8 greedy tokens; its vocabulary is 256 ids, so it prints ids: for text see the README, \"From pixels to text\")"
bin/vlmtrace generate --model "$e2e" --image "$e2e/image.0.png" --min-pixels 3136 --max-pixels 40000 \
    --input-ids "$e2e/input_ids.npy" --max-new-tokens 8 --trace "$out/e2e"
echo
echo "== vlmtrace diff $out/e2e $e2e --summary   (one line per stage, pixels to generated ids)"
set +e
bin/vlmtrace diff "$out/e2e" "$e2e" --summary
rc=$?
set -e
echo
if [ "$rc" = 0 ]; then
    echo "demo verdict: PASS -- the C vision tower matches Hugging Face on all $n_ref reference tensors, the whole model (tower, language model, 8 generated ids) on all $n_e2e"
    echo "look at $out/trace/image.0.grid.png: how the photo became $tokens tokens -- resized to a multiple of 28 px, cut into $patches patches of 14 px, every 2x2 block of patches fused into one numbered row of $out/visual.npy"
else
    echo "demo verdict: FAIL -- vlmtrace diff exited $rc on the whole model (the vision tower passed); run it without --summary for the first divergence"
    exit 1
fi
