#!/bin/sh
# tests/memcheck.sh [BIN] -- what `make memcheck` runs: bin/vlmtrace (the -O2 -g build, no sanitizers) under
# valgrind's memcheck over every command-line path: `run` on each family's tiny reference model (small
# images), preprocess, rope, show, diff (and diff --report), inspect, synth, tokenize, and the error paths (missing file, truncated
# checkpoint, bad config, bad image, write failure, no manifest, memory limit, arena limit, ...). A case
# passes when the exit code is the one the path must give AND memcheck found nothing: no invalid read or
# write, no use of uninitialised memory, no definite or indirect leak (error paths must free too).
# tests/memcheck.supp suppresses only libgomp's per-thread TLS ("possibly lost"; see the file).
set -u
bin=${1:-bin/vlmtrace}
R=notebooks-data/reference
tmp=$(mktemp -d /tmp/vlmtrace-memcheck-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
export OMP_NUM_THREADS=2 # valgrind runs threads one at a time; two still exercise the parallel regions
VG="valgrind -q --leak-check=full --errors-for-leak-kinds=definite,indirect --error-exitcode=97
    --track-origins=yes --suppressions=tests/memcheck.supp"

pass=0
fail=""
# check NAME WANTED_EXIT [ENV=...] ARGS... : one vlmtrace command under memcheck
check() {
    name=$1 want=$2
    shift 2
    envs=""
    while [ $# -gt 0 ] && case $1 in [A-Z]*=*) true ;; *) false ;; esac; do envs="$envs $1"; shift; done
    log="$tmp/$name.log"
    env $envs $VG "$bin" "$@" >"$log" 2>&1
    rc=$?
    if [ "$rc" = "$want" ]; then
        pass=$((pass + 1))
        printf '  ok    %-28s exit %s\n' "$name" "$rc"
    else
        fail="$fail $name"
        printf '  FAIL  %-28s exit %s, wanted %s%s\n' "$name" "$rc" "$want" \
            "$([ "$rc" = 97 ] && echo ' (memcheck errors)')"
        sed 's/^/        /' "$log" | head -60
    fi
}

echo "== valgrind memcheck over the vlmtrace command line ($bin)"
start=$(date +%s)

# ---- the normal paths, each family ----
check run-qwen2vl 0 run --model $R/qwen2vl-image --image $R/qwen2vl-image/image.0.png --max-pixels 20000 \
    --trace "$tmp/q2" --viz --out "$tmp/q2.npy"
check run-qwen2vl-video-literal 0 run --model $R/qwen2vl-multi --image $R/qwen2vl-multi/image.0.png \
    --video $R/qwen2vl-multi/video.0.frame.0.png,$R/qwen2vl-multi/video.0.frame.1.png,$R/qwen2vl-multi/video.0.frame.2.png \
    --fps 2 --max-pixels 8000 --attn literal --trace "$tmp/q2m"
check run-qwen25vl 0 run --model $R/qwen25vl-image --image $R/qwen2vl-image/image.0.png --max-pixels 20000 \
    --trace "$tmp/q25" --viz --attn literal
check run-qwenvl 0 run --model $R/qwenvl-image --image $R/qwenvl-image/image0.png --trace "$tmp/qv" --viz
check run-kimivl 0 run --model $R/kimivl-multi --image $R/kimivl-multi/image0.png --image $R/kimivl-multi/image1.png \
    --trace "$tmp/kimi" --viz
check run-inject 0 run --model $R/qwenvl-image --image $R/qwenvl-image/image0.png --inject qkv-global-split \
    --only 'transformer.visual' --trace "$tmp/inj"
check preprocess 0 preprocess --family qwen2-vl --image $R/preprocess-exif/image.0.jpg \
    --max-pixels 20000 --trace "$tmp/pp" --viz
check preprocess-fast 0 preprocess --family qwen2-vl --processor fast --image $R/preprocess-fast/image.13.png \
    --video $R/preprocess-fast/video.0.frame.0.png,$R/preprocess-fast/video.0.frame.1.png,$R/preprocess-fast/video.0.frame.2.png \
    --max-pixels 12000 --trace "$tmp/ppf" --viz
check run-fast 0 run --model $R/qwen25vl-image --image $R/preprocess-fast/image.7.png --processor fast \
    --max-pixels 20000 --trace "$tmp/q25f"
check preprocess-slow-of-fast 0 preprocess --family qwen2-vl --image $R/preprocess-fast/image.0.png --trace "$tmp/pps"
check diff-processor-hint 1 diff "$tmp/pps" $R/preprocess-fast --only 'image.0.*' --json
check rope 0 rope --config $R/rope-index/qwen25vl-multi/config.json \
    --layout "text:2 image:1x4x6 text:2 video:3x4x4@1.5 text:1" --trace "$tmp/rope" --viz
check rope-input-ids 0 rope --model $R/rope-index/qwen2vl-image --input-ids $R/rope-index/qwen2vl-image/input_ids.npy \
    --image-grid-thw $R/rope-index/qwen2vl-image/image_grid_thw.npy --trace "$tmp/rope2" --quiet
check run-qwen3vl 0 run --model $R/qwen3vl-multi --image $R/qwen3vl-multi/image.0.png \
    --video $R/qwen3vl-multi/video.0.frame.0.png,$R/qwen3vl-multi/video.0.frame.1.png,$R/qwen3vl-multi/video.0.frame.2.png \
    --min-pixels 4096 --max-pixels 20000 --trace "$tmp/q3" --viz --attn literal --out "$tmp/q3.npy"
check rope-qwen3vl 0 rope --config $R/rope-index-qwen3vl/qwen3vl-mrope-pad/config.json \
    --input-ids $R/rope-index-qwen3vl/qwen3vl-mrope-pad/input_ids.npy \
    --attention-mask $R/rope-index-qwen3vl/qwen3vl-mrope-pad/attention_mask.npy \
    --position-ids $R/rope-index-qwen3vl/qwen3vl-mrope-pad/position_ids.npy \
    --q $R/rope-index-qwen3vl/qwen3vl-mrope-pad/mrope.q.npy --k $R/rope-index-qwen3vl/qwen3vl-mrope-pad/mrope.k.npy \
    --trace "$tmp/rope3" --quiet
check rope-qwen3vl-layout 0 rope --config $R/rope-index-qwen3vl/qwen3vl-image-video/config.json \
    --layout "text:5 image:1x4x6 text:3 stamp:6 video:3x4x8 text:7" --trace "$tmp/rope4" --viz
check rope-qwen3vl-tokenizer 0 rope --config $R/rope-index-qwen3vl/qwen3vl-image-video/config.json \
    --layout "text:5 image:1x4x6 text:3 video:3x4x8@1.5 text:7" --tokenizer $R/tokenizer/tokenizer.json \
    --trace "$tmp/rope5" --quiet
check diff-qwen3vl-fail 1 diff "$tmp/q3" $R/qwen3vl-multi --all  # 3 frames (odd: padded) against 4
check inspect-qwen3vl 0 inspect --model $R/qwen3vl-image
E=$R/qwen2vl-e2e
E25=$R/qwen25vl-e2e
check generate 0 generate --model $E --image $E/image.0.png --min-pixels 3136 --max-pixels 40000 \
    --input-ids $E/input_ids.npy --max-new-tokens 4 --trace "$tmp/gen" --out "$tmp/gen.npy"
check generate-video-nocache-literal 0 generate --model $E25 --image $E25/image.0.png \
    --video $E25/video.0.frame.0.png,$E25/video.0.frame.1.png,$E25/video.0.frame.2.png,$E25/video.0.frame.3.png \
    --fps 1.5 --min-pixels 3136 --max-pixels 30000 --input-ids $E25/input_ids.npy --max-new-tokens 3 --no-cache \
    --attn literal --inject decode-positions-restart
check generate-inject-mso 0 generate --model $E --image $E/image.0.png --min-pixels 3136 --max-pixels 40000 \
    --input-ids $E/input_ids.npy --max-new-tokens 2 --inject mrope-section-order --trace "$tmp/gen-mso" --quiet
check diff-report-lm 1 diff "$tmp/gen-mso" $E --report "$tmp/rep-lm" --show model.layers.1.self_attn.q_rope \
    --show generate.logits
check generate-fast-json 0 generate --model $E25 --image $E25/image.0.png \
    --video $E25/video.0.frame.0.png,$E25/video.0.frame.1.png,$E25/video.0.frame.2.png,$E25/video.0.frame.3.png \
    --fps 1.5 --min-pixels 3136 --max-pixels 30000 --input-ids $E25/input_ids.npy --max-new-tokens 2 \
    --processor fast --trace "$tmp/gen-fast" --json
check show 0 show "$tmp/q2"
check diff-pass 0 diff $R/qwen2vl-image $R/qwen2vl-image --summary
check diff-fail 1 diff "$tmp/q25" $R/qwen25vl-image --all --json
check diff-report-fail 1 diff "$tmp/inj" $R/qwenvl-image --report "$tmp/rep-fail" --show transformer.visual.ln_pre
check diff-report-multi 1 diff "$tmp/q2m" $R/qwen2vl-multi --report "$tmp/rep-multi"
check diff-report-kimi 0 diff "$tmp/kimi" $R/kimivl-multi --only 'vision_tower.encoder.blocks.0.*' --report "$tmp/rep-kimi"
check diff-report-rope 0 diff $R/rope-index/qwen2vl-mrope $R/rope-index/qwen2vl-mrope --report "$tmp/rep-rope" \
    --show mrope.q_embed
check diff-report-again 0 diff $R/rope-index/qwen2vl-mrope $R/rope-index/qwen2vl-mrope --report "$tmp/rep-rope"
check err-report-foreign 2 diff $R/qwen2vl-image $R/qwen2vl-image --report $R/qwen2vl-image
check err-report-show 2 diff $R/qwen2vl-image $R/qwen2vl-image --report "$tmp/rep-x" --show nothing.here
check err-report-write 3 VLMTRACE_FAIL_WRITE_AFTER=30000 diff $R/qwen2vl-image $R/qwen2vl-image --report "$tmp/rep-full"
check inspect 0 inspect --model $R/kimivl-multi --image $R/kimivl-multi/image0.png
check synth 0 synth --preset tiny-qwen2.5-vl --out "$tmp/synth" --shard-mb 0.05
check run-synth 0 run --model "$tmp/synth" --image $R/qwen2vl-image/image.0.png --max-pixels 8000
# a prompt for the synth model (BF16, the whole model): 3 text ids, then the image, which the 8000-pixel bound
# resizes to 56 x 84 (a 4 x 6 patch grid, 2 x 3 merged tokens), then 2 text ids
check rope-synth-ids 0 rope --model "$tmp/synth" --layout "text:3 image:1x4x6 text:2" --trace "$tmp/synth-ids" --quiet
check generate-synth-bf16 0 generate --model "$tmp/synth" --image $R/qwen2vl-image/image.0.png --max-pixels 8000 \
    --input-ids "$tmp/synth-ids/input_ids.npy" --max-new-tokens 2
check generate-prompt 0 generate --model "$tmp/synth" --tokenizer $R/tokenizer/tokenizer.json \
    --image $R/kimivl-multi/image0.png --min-pixels 3136 --max-pixels 3136 --prompt "Describe this image." \
    --max-new-tokens 2 --trace "$tmp/gen-prompt"
check generate-prompt-json 0 generate --model "$tmp/synth" --tokenizer $R/tokenizer/tokenizer.json \
    --image $R/kimivl-multi/image0.png --min-pixels 3136 --max-pixels 3136 --prompt "Describe this image." \
    --max-new-tokens 2 --json --quiet

# tokenize: the real 11 MB tokenizer.json; text with added tokens, NFC, CJK, an emoji; a long piece (the bucket
# path); decoding with a character cut by a special token
printf '<|im_start|>user\nCaf\303\251 cafe\314\201 \350\247\206\350\247\211 \360\237\221\215  x\n<|im_end|>' >"$tmp/tok.txt"
head -c 3000 /dev/zero | tr '\0' ' ' >>"$tmp/tok.txt"
check tokenize-file-json 0 tokenize --model $R/tokenizer --file "$tmp/tok.txt" --json
check tokenize-text 0 tokenize --tokenizer $R/tokenizer/tokenizer.json --text "Hello world, it's 2026!"
check tokenize-ids-json 0 tokenize --tokenizer $R/tokenizer/tokenizer.json --ids "172 151645 63219 222 151700 9707" --json

# ---- the error paths: each must free what it allocated before it failed ----
mkdir -p "$tmp/trunc" "$tmp/badcfg" "$tmp/bad"
cp $R/qwen2vl-image/config.json "$tmp/trunc/"
head -c 150000 $R/qwen2vl-image/model.safetensors >"$tmp/trunc/model.safetensors"
sed 's/"depth": *[0-9]*/"depth": 1000000/' $R/qwen2vl-image/config.json >"$tmp/badcfg/config.json"
cp $R/qwen2vl-image/model.safetensors "$tmp/badcfg/"
head -c 300 $R/qwen2vl-image/image.0.png >"$tmp/bad/truncated.png"
printf 'not an image at all' >"$tmp/bad/text.png"
check err-missing-model 2 run --model "$tmp/nowhere" --image $R/qwen2vl-image/image.0.png
check err-missing-image 2 run --model $R/qwen2vl-image --image "$tmp/nowhere.png" --trace "$tmp/e1"
check err-truncated-checkpoint 2 run --model "$tmp/trunc" --image $R/qwen2vl-image/image.0.png --trace "$tmp/e2"
check err-bad-config 2 run --model "$tmp/badcfg" --image $R/qwen2vl-image/image.0.png
check err-truncated-image 2 run --model $R/kimivl-image --image "$tmp/bad/truncated.png"
check err-not-an-image 2 preprocess --family qwen2.5-vl --image "$tmp/bad/text.png" --trace "$tmp/e3"
check err-second-image-bad 2 run --model $R/qwen25vl-image --image $R/qwen2vl-image/image.0.png \
    --image "$tmp/bad/truncated.png" --max-pixels 20000
check err-write-failure 3 VLMTRACE_FAIL_WRITE_AFTER=300000 run --model $R/qwen2vl-image \
    --image $R/qwen2vl-image/image.0.png --max-pixels 20000 --trace "$tmp/e4"
check err-write-failure-kimi 3 VLMTRACE_FAIL_WRITE_AFTER=200000 run --model $R/kimivl-multi \
    --image $R/kimivl-multi/image0.png --trace "$tmp/e5" --viz
check err-no-manifest-show 2 show "$tmp/e4"
check err-generate-vision-only 2 generate --model $R/qwen2vl-image --image $R/qwen2vl-image/image.0.png \
    --input-ids $E/input_ids.npy --trace "$tmp/e5"
check err-generate-flag 2 generate --model $E --image $E/image.0.png --input-ids $E/input_ids.npy --max-new-token 2
check err-generate-processor 2 generate --model $E --image $E/image.0.png --input-ids $E/input_ids.npy --processor x \
    --trace "$tmp/e5b"
check err-generate-pads 2 generate --model $E --image $E/image.0.png --input-ids $E/input_ids.npy --max-pixels 8000
check err-no-manifest-diff 2 diff "$tmp/e4" $R/qwen2vl-image
check err-memory-limit 2 VLMTRACE_MAX_MEMORY=4M run --model $R/qwen25vl-image --image $R/qwen2vl-image/image.0.png \
    --trace "$tmp/e6"
check err-memory-limit-qwenvl 2 VLMTRACE_MAX_MEMORY=1M run --model $R/qwenvl-image --image $R/qwenvl-image/image0.png
check err-pixels-refused 2 preprocess --family qwen2-vl --image $R/qwen2vl-image/image.0.png \
    --min-pixels 1000000000 --max-pixels 1000000000 --trace "$tmp/e7"
check err-arena-limit 3 VLMTRACE_MAX_ARENA_BYTES=2000000 run --model $R/qwen2vl-image \
    --image $R/qwen2vl-image/image.0.png --max-pixels 64000 --trace "$tmp/e8"
check err-arena-limit-qwenvl 3 VLMTRACE_MAX_ARENA_BYTES=400000 run --model $R/qwenvl-image \
    --image $R/qwenvl-image/image0.png --trace "$tmp/e9"
check err-unwritable-trace 2 run --model $R/qwen2vl-image --image $R/qwen2vl-image/image.0.png \
    --trace "$tmp/bad/text.png/trace"
check err-kimi-video 2 run --model $R/kimivl-image --video $R/kimivl-multi/image0.png,$R/kimivl-multi/image1.png
check err-inspect-truncated 2 inspect --model "$tmp/trunc"
mkdir -p "$tmp/vcfg" && cp $R/preprocess-fast/preprocessor_config.json "$tmp/vcfg/" &&
    printf '{"do_sample_frames": true}' >"$tmp/vcfg/video_preprocessor_config.json"
check err-fast-video-config 2 preprocess --family qwen2-vl --processor fast --model "$tmp/vcfg" \
    --video $R/preprocess-fast/video.0.frame.0.png,$R/preprocess-fast/video.0.frame.1.png --trace "$tmp/e13"
check err-fast-frame-sizes 2 preprocess --family qwen2-vl --processor fast \
    --video $R/preprocess-fast/video.0.frame.0.png,$R/preprocess-fast/image.0.png --trace "$tmp/e14"
check err-processor-flag 2 run --model $R/qwen2vl-image --image $R/qwen2vl-image/image.0.png --processor medium
check err-rope-layout 2 rope --config $R/rope-index/qwen2vl-image/config.json --layout "text:2 image:1x3x3" \
    --trace "$tmp/e10"
check err-diff-usage 2 diff "$tmp/q2"
mkdir -p "$tmp/q3bad"
sed 's/"num_position_embeddings": 64/"num_position_embeddings": 81/' $R/qwen3vl-image/config.json >"$tmp/q3bad/config.json"
cp $R/qwen3vl-image/model.safetensors "$tmp/q3bad/"
check err-qwen3vl-pos-table 2 run --model "$tmp/q3bad" --image $R/qwen3vl-image/image.0.png --max-pixels 40000 \
    --trace "$tmp/e13"
check err-qwen3vl-video-sizes 2 run --model $R/qwen3vl-multi \
    --video $R/qwen3vl-multi/image.0.png,$R/qwen3vl-multi/image.1.png --max-pixels 20000 --trace "$tmp/e14"
check err-qwen3vl-layout-stamp 2 rope --config $R/rope-index-qwen3vl/qwen3vl-image/config.json \
    --layout "text:2 video:2x4x4" --trace "$tmp/e15"
check err-synth-preset 2 synth --preset no-such-preset --out "$tmp/e11"
check err-synth-write 3 VLMTRACE_FAIL_WRITE_AFTER=20000 synth --preset tiny-kimi-vl --out "$tmp/e12"
# ---- issue 21: refusals (on copies of the references), --only matching nothing, --json, the family check,
# the literal limit ----
cp -r $R/qwen2vl-image "$tmp/gold" && cp -r $R/preprocess-sizes "$tmp/gold-pp" && chmod -R u+w "$tmp/gold" "$tmp/gold-pp"
check err-guard-run-trace 2 run --model "$tmp/gold" --image $R/qwen2vl-image/image.0.png --trace "$tmp/gold"
check err-guard-run-out 2 run --model "$tmp/gold" --image $R/qwen2vl-image/image.0.png --out "$tmp/gold/visual.npy"
check err-guard-preprocess 2 preprocess --family qwen2-vl --image $R/qwen2vl-image/image.0.png --trace "$tmp/gold-pp"
check err-guard-rope 2 rope --model "$tmp/gold" --layout "text:3" --trace "$tmp/gold-pp"
check err-guard-synth 2 synth --preset tiny-qwen2-vl --out "$tmp/gold"
check err-only-nothing 2 run --model $R/qwen2vl-image --image $R/qwen2vl-image/image.0.png --max-pixels 20000 \
    --trace "$tmp/e13" --only 'vision.*'
check only-one-glob-nothing 0 run --model $R/qwen2vl-image --image $R/qwen2vl-image/image.0.png --max-pixels 20000 \
    --trace "$tmp/e14" --only 'vision.*' --only 'visual.merger*' --json
check err-preprocess-family 2 preprocess --family qwen2-vl --model $R/kimivl-image --image $R/kimivl-image/image0.png \
    --trace "$tmp/e15"
check err-literal-limit 2 run --model $R/qwen2vl-image --image $R/qwen2vl-image/image.0.png --min-pixels 12845056 \
    --max-pixels 12845056 --attn literal
check err-args-twice 2 run --model a --model b
check diff-two-models 1 diff $R/kimivl-image $R/qwen2vl-image --json
printf 'caf\303\251 \344\275' >"$tmp/bad/text.txt"
check err-tokenize-utf8 2 tokenize --tokenizer $R/tokenizer/tokenizer.json --file "$tmp/bad/text.txt"
sed 's/"ignore_merges": false/"ignore_merges": true/' $R/tokenizer/tokenizer.json >"$tmp/bad/tokenizer.json"
check err-tokenize-json 2 tokenize --model "$tmp/bad" --text hi
head -c 5000000 $R/tokenizer/tokenizer.json >"$tmp/trunc/tokenizer.json"
check err-tokenize-truncated 2 tokenize --model "$tmp/trunc" --ids "1 2"
check err-tokenize-ids 2 tokenize --tokenizer $R/tokenizer/tokenizer.json --ids "1 two"

end=$(date +%s)
n=$((pass + $(echo $fail | wc -w)))
if [ -n "$fail" ]; then
    echo "memcheck: FAILED$fail ($pass of $n passed, $((end - start)) s)"
    exit 1
fi
echo "memcheck: all $n command-line paths clean under valgrind ($((end - start)) s)"
