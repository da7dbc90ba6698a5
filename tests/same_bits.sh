#!/bin/sh
# tests/same_bits.sh DIR_A DIR_B -- two builds give the same bits (`make test`: bin against bin/clang;
# `make test-arm64`: bin against bin/arm64 under qemu).
#   1. DIR_A/tests/same_bits and DIR_B/tests/same_bits write the kernels' outputs on fixed inputs (gemm,
#      softmax, attention, both resamplers, norms, activations; tests/same_bits.c) and DIR_A's compares
#      the two files section by section;
#   2. DIR_A/vlmtrace and DIR_B/vlmtrace trace one golden case of each family (images, a video, Qwen-VL's
#      resized position table) and the M-RoPE ids; every file of the two traces must be byte for byte
#      the same, manifest included.
# DIR_B's programs are started through $RUNNER when it is set (RUNNER=qemu-aarch64-static).
set -u
a=$1
b=$2
runner=${RUNNER:-}
tmp=$(mktemp -d /tmp/vlmtrace-same-bits-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
R=notebooks-data/reference
failed=0
passed=0

echo "== same bits: $a against $b${runner:+ (through $runner)}"
"$a/tests/same_bits" --write "$tmp/a.bin" >/dev/null || { echo "FAILED: $a/tests/same_bits --write"; exit 1; }
$runner "$b/tests/same_bits" --write "$tmp/b.bin" >/dev/null || { echo "FAILED: $b/tests/same_bits --write"; exit 1; }
if "$a/tests/same_bits" --compare "$tmp/a.bin" "$tmp/b.bin"; then
    passed=$((passed + 1))
else
    failed=$((failed + 1))
fi

# trace NAME ARGS...: the same command through both builds, traces compared file by file
trace() {
    name=$1
    shift
    for side in a b; do
        if [ $side = a ]; then bin="$a/vlmtrace"; run=""; else bin="$b/vlmtrace"; run=$runner; fi
        if ! $run "$bin" "$@" --trace "$tmp/$side.$name" > "$tmp/$side.$name.log" 2>&1; then
            echo "FAILED  $name: $bin exited non-zero"; sed 's/^/    /' "$tmp/$side.$name.log" | tail -n 5
            failed=$((failed + 1))
            return
        fi
    done
    n=0
    nbad=0
    bad=""
    for f in "$tmp/a.$name"/*; do
        n=$((n + 1))
        if ! cmp -s "$f" "$tmp/b.$name/$(basename "$f")"; then
            nbad=$((nbad + 1))
            [ $nbad -le 4 ] && bad="$bad $(basename "$f")"
        fi
    done
    [ "$(ls "$tmp/a.$name" | wc -l)" = "$(ls "$tmp/b.$name" | wc -l)" ] || { nbad=$((nbad + 1)); bad="$bad (file count)"; }
    if [ $nbad != 0 ]; then
        echo "DIFFERS  trace $name: $nbad of $n files, first:$bad"
        failed=$((failed + 1))
    else
        echo "ok       trace $name: $n files identical"
        passed=$((passed + 1))
    fi
}

q2=$R/qwen2vl-multi
q25=$R/qwen25vl-multi
trace qwen2vl-multi run --model $q2 --image $q2/image.0.png --image $q2/image.1.png \
    --video $q2/video.0.frame.0.png,$q2/video.0.frame.1.png,$q2/video.0.frame.2.png,$q2/video.0.frame.3.png \
    --fps 2 --min-pixels 3136 --max-pixels 8000
trace qwen25vl-multi run --model $q25 --image $q25/image.0.png --image $q25/image.1.png \
    --video $q25/video.0.frame.0.png,$q25/video.0.frame.1.png,$q25/video.0.frame.2.png,$q25/video.0.frame.3.png \
    --fps 2 --min-pixels 3136 --max-pixels 8000
trace kimivl-multi run --model $R/kimivl-multi --image $R/kimivl-multi/image0.png --image $R/kimivl-multi/image1.png
trace qwenvl-abspos run --model $R/qwenvl-abspos --image $R/qwenvl-abspos/image0.png
trace qwen2vl-preprocess-exif preprocess --family qwen2-vl --viz \
    --image $R/preprocess-exif/image.0.jpg --image $R/preprocess-exif/image.1.png --image $R/preprocess-exif/image.2.jpg \
    --image $R/preprocess-exif/image.3.jpg --image $R/preprocess-exif/image.4.png --image $R/preprocess-exif/image.5.jpg
trace rope-layout rope --config $R/qwen2vl-image/config.json --layout "text:5 image:1x4x6 text:3 video:2x4x4 text:2"

echo "same bits, $a vs $b: $passed passed, $failed failed"
[ "$failed" = 0 ]
