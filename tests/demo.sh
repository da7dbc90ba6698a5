#!/bin/sh
# tests/demo.sh -- what `make demo` runs: the Qwen2-VL vision tower in plain C on the bundled sample image
# and tiny checkpoint, every intermediate tensor traced, then diffed against the Hugging Face trace of the
# same input (transformers 4.51.3, bundled in notebooks-data/reference/qwen2vl-image). Ends with a verdict.
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
echo
if [ "$rc" = 0 ]; then
    echo "demo verdict: PASS -- the C vision tower matches Hugging Face on all $n_ref reference tensors (final output in $out/visual.npy)"
    # the picture of this run: the photo as the processor resized it, its patches and the merge blocks,
    # each numbered with the row of visual.npy it became
    patches=$(bin/vlmtrace show "$out/trace" --only visual.patch_embed | awk '$1 == "visual.patch_embed" {print $3}' | tr -d '[,')
    tokens=$(bin/vlmtrace show "$out/trace" --only visual | awk '$1 == "visual" {print $3}' | tr -d '[,')
    echo "look at $out/trace/image.0.grid.png: how the photo became $tokens tokens -- resized to a multiple of 28 px, cut into $patches patches of 14 px, every 2x2 block of patches fused into one numbered row of $out/visual.npy"
else
    echo "demo verdict: FAIL -- vlmtrace diff exited $rc; the first divergence is named above"
    exit 1
fi
