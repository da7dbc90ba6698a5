#!/bin/sh
# tests/demo.sh -- what `make demo` runs (until a model family works): show a bundled Hugging Face
# reference trace, then diff a copy in which one element of one tensor is perturbed.
set -e
ref=notebooks-data/reference/qwen2vl-image
out=build/demo
rm -rf "$out" && mkdir -p "$out"
echo "== vlmtrace show $ref   (a Hugging Face reference trace: every intermediate of the Qwen2-VL vision tower)"
bin/vlmtrace show "$ref"
echo
echo "== a copy of it with visual.blocks.1.attn.qkv[17, 40] overwritten by 1.0, as a buggy port might produce"
cp -r "$ref" "$out/perturbed"
chmod -R u+w "$out/perturbed"
# the .npy header is 128 bytes; element [17, 40] of a [320, 96] float32 array is at 128 + 4 * (17 * 96 + 40)
printf '\000\000\200\077' | dd of="$out/perturbed/visual.blocks.1.attn.qkv.npy" bs=1 seek=$((128 + 4 * (17 * 96 + 40))) conv=notrunc 2>/dev/null
echo "== vlmtrace diff $out/perturbed $ref"
set +e
bin/vlmtrace diff "$out/perturbed" "$ref"
rc=$?
set -e
echo
echo "diff exit status: $rc (1 = divergence found, as expected)"
[ "$rc" = 1 ]
