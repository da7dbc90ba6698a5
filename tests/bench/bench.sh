#!/bin/sh
# tests/bench/bench.sh -- the figures of docs/performance.md (run by `make bench`, from the repository root).
#
#   1. every Linear shape of the Qwen2-VL-2B, Qwen2.5-VL-7B and Qwen3-VL-2B towers through vt_gemm_abt and through
#      OpenBLAS's cblas_sgemm, 1 and 2 threads (bin/bench_gemm), plus one block's attention core;
#   2. synth full-size checkpoints of both towers into build/bench/ (kept: later runs reuse them);
#   3. `vlmtrace run --timings` on a 448 x 448 image (1024 patches; Qwen3-VL: 784 of 16 x 16): 1 and 2 threads untraced, then block
#      outputs only and a full trace, with the peak RSS of each run against the float32 weight size;
#   4. the 1-thread and 2-thread traces compared byte for byte (cmp);
#   5. one full-size block through the segment path against the literal path (`vlmtrace diff`);
#   6. the tokenizer: tokenizer.json load time and a 1 MB encode, cold and warm word cache (bin/bench_tokenizer).
#   7. the language model of Qwen2-VL-2B (the whole synth model): `vlmtrace generate` on the 448 x 448
#      image and a 30-token question, 2 threads: prefill seconds and GFLOP/s, its matrix products against
#      OpenBLAS (bin/bench_gemm --tower qwen2-vl-2b-lm, 1 and 2 threads), decode tokens per second against
#      the memory-bandwidth floor (the weights read per token / the copy bandwidth bin/bench_gemm
#      --copy-bandwidth measures), peak RSS against the checkpoint's size on disk; the KV cache against
#      --no-cache; then decoding on 1 thread (a 30-id text prompt) against the 1-thread copy bandwidth.
#
# Environment: BENCH_TOWERS (default "qwen2-vl-2b qwen2.5-vl-7b qwen3-vl-2b"), BENCH_LM (default 1; 0 skips
# section 7), BENCH_NEW_TOKENS (decoded tokens in section 7, 16), BENCH_REPS (GEMM repetitions, 3),
# BENCH_RUNS (runs of each vlmtrace configuration, the fastest kept, 2),
# OPENBLAS_CORETYPE (see below), BENCH_KEEP=1 keeps the traces under build/bench/, BENCH_BIN the build's
# folder (bin; `make bench CC=clang` passes bin/clang).
# Exit status: 0 when every target is met, 1 when one is missed (the report says which), 2 on a failure.
set -u
BIN=${BENCH_BIN:-bin}/vlmtrace
GEMM=${BENCH_BIN:-bin}/bench_gemm
OUT=build/bench
REPS=${BENCH_REPS:-3}
TOWERS=${BENCH_TOWERS:-"qwen2-vl-2b qwen2.5-vl-7b qwen3-vl-2b"}
# a 112 x 112 PNG that smart_resize takes to exactly 448 x 448 when both pixel bounds are 448 * 448
IMAGE=notebooks-data/reference/kimivl-multi/image0.png
SIZE="--min-pixels 200704 --max-pixels 200704"
mkdir -p "$OUT"
missed=""
miss() { missed="$missed
  - $1"; }
die() { echo "bench: $1" >&2; exit 2; }

# OpenBLAS 0.3.21 does not know every CPU model: on an unknown one (Emerald Rapids, model 207, here) it
# falls back to its Prescott (SSE3) kernels, a fifth of its real speed. Compare against the kernels it
# has for this instruction set instead, unless the caller chose.
if [ -z "${OPENBLAS_CORETYPE:-}" ]; then
    if grep -qw avx512f /proc/cpuinfo; then OPENBLAS_CORETYPE=SkylakeX
    elif grep -qw avx2 /proc/cpuinfo; then OPENBLAS_CORETYPE=Haswell; fi
    [ -n "${OPENBLAS_CORETYPE:-}" ] && export OPENBLAS_CORETYPE
fi

echo "== machine"
echo "  $(date -u '+%Y-%m-%d %H:%M UTC'); $(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //'), $(nproc) core(s)"
echo "  load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "  $(gcc --version | head -1); OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-(autodetect)}"

echo
echo "== 1. GEMM: our kernel against OpenBLAS (target: at least 0.5 of its rate on every shape)"
for tower in $TOWERS; do
    for t in 1 2; do
        $GEMM --tower "$tower" --threads "$t" --reps "$REPS"
        case $? in
        0) ;;
        1) miss "GEMM below 0.5 of OpenBLAS on a $tower shape at $t thread(s)" ;;
        *) die "$GEMM failed" ;;
        esac
        echo
    done
done

# ---- full-size runs ----

# FLOPs of one tower forward on 1024 patches (Qwen3-VL: 784) (multiply-adds x 2): the Linear layers and the
# two attention products (4 * S^2 * C per segment S); Qwen2.5-VL attends within 64-patch windows except in 4
# blocks; Qwen3-VL runs its merger four times (the final one and three DeepStack mergers).
tower_gflop() {
    case $1 in
    qwen2-vl-2b) awk 'BEGIN { N = 1024; C = 1280; F = 5120; M = 5120; O = 1536; D = 32
        lin = D * 2 * N * (3 * C * C + C * C + 2 * C * F) + 2 * N * 1176 * C + 2 * (N / 4) * (M * M + M * O)
        att = D * 4 * N * N * C; printf "%.1f", (lin + att) / 1e9 }' ;;
    qwen2.5-vl-7b) awk 'BEGIN { N = 1024; C = 1280; I = 3420; M = 5120; O = 3584; D = 32; full = 4
        lin = D * 2 * N * (3 * C * C + C * C + 3 * C * I) + 2 * N * 1176 * C + 2 * (N / 4) * (M * M + M * O)
        att = full * 4 * N * N * C + (D - full) * 4 * N * 64 * C; printf "%.1f", (lin + att) / 1e9 }' ;;
    qwen3-vl-2b) awk 'BEGIN { N = 784; C = 1024; F = 4096; M = 4096; O = 2048; D = 24; mergers = 1 + 3
        lin = D * 2 * N * (3 * C * C + C * C + 2 * C * F) + 2 * N * 1536 * C + mergers * 2 * (N / 4) * (M * M + M * O)
        att = D * 4 * N * N * C; printf "%.1f", (lin + att) / 1e9 }' ;;
    esac
}

# run TAG THREADS [FLAGS...]: vlmtrace run --timings under /usr/bin/time, BENCH_RUNS times (default 2);
# keeps the fastest run's $OUT/TAG.timings (its stderr) and $OUT/TAG.rss (peak RSS in KB). The best of
# a few is the figure least disturbed by other processes on a shared machine.
run() {
    tag=$1 threads=$2
    shift 2
    best=""
    r=0
    while [ $r -lt "${BENCH_RUNS:-2}" ]; do
        r=$((r + 1))
        /usr/bin/time -f "%M" -o "$OUT/$tag.rss.try" $BIN run --model "$CK" --image "$IMAGE" $SIZE --threads "$threads" \
            --timings "$@" 2> "$OUT/$tag.timings.try" > /dev/null ||
            { cat "$OUT/$tag.timings.try" >&2; die "vlmtrace run failed ($tag)"; }
        s=$(secs "$OUT/$tag.timings.try" '^total$')
        if [ -z "$best" ] || awk -v s="$s" -v b="$best" 'BEGIN { exit !(s < b) }'; then
            best=$s
            mv "$OUT/$tag.timings.try" "$OUT/$tag.timings"
            mv "$OUT/$tag.rss.try" "$OUT/$tag.rss"
        fi
    done
    rm -f "$OUT/$tag.timings.try" "$OUT/$tag.rss.try"
}

# seconds of a group pattern (awk regex on the group name) in a timings file
secs() { awk -v re="$2" '$0 ~ /^  / { v = $NF; $NF = ""; sub(/^ +/, ""); sub(/ +$/, ""); if ($0 ~ re) s += v } END { printf "%.2f", s }' "$1"; }

summary() { # summary TAG LABEL
    f=$OUT/$1.timings
    tot=$(secs "$f" '^total$')
    load=$(secs "$f" '^load ')
    wr=$(secs "$f" '^trace writing$')
    tw=$(awk -v t="$tot" -v l="$load" -v w="$wr" 'BEGIN { printf "%.2f", t - l - w }')
    rss=$(cat "$OUT/$1.rss")
    printf "  %-28s total %6.2f s  load %5.2f  tower %6.2f  trace writing %5.2f  peak RSS %5.2f GB (%.2fx)\n" "$2" "$tot" \
        "$load" "$tw" "$wr" "$(awk -v r="$rss" 'BEGIN { print r * 1024 / 1e9 }')" \
        "$(awk -v r="$rss" -v w="$WBYTES" 'BEGIN { print r * 1024 / w }')"
}

for tower in $TOWERS; do
    CK=$OUT/$tower
    echo
    case $tower in qwen3*) np="784 patches, 196 merged tokens" ;; *) np="1024 patches, 256 merged tokens" ;; esac
    echo "== 2-5. $tower, one 448 x 448 image ($np)"
    if [ ! -f "$CK/config.json" ]; then # config.json is written last: its presence means complete
        echo "  writing the synth checkpoint $CK (once)"
        $BIN synth --preset "$tower" --out "$CK" > "$OUT/$tower.synth.txt" || die "synth $tower failed"
    fi
    # (a checkpoint written before synth wrote the language model too is written again: it has no "M vision)";
    # Qwen3-VL's preset is the tower alone, until its language model comes)
    case $tower in
    qwen3*) ;;
    *) grep -q 'M vision)' "$OUT/$tower.synth.txt" 2> /dev/null ||
        $BIN synth --preset "$tower" --out "$CK" > "$OUT/$tower.synth.txt" || die "synth failed" ;;
    esac
    # "... 2209.0M parameters (665.3M vision), 4418.0 MB bf16 ..." -> float32 bytes of the tower's weights
    # (the checkpoint also holds the language model, which `run` does not read); a tower-only checkpoint
    # says "... 407.0M parameters, 813.9 MB bf16 ..."
    WBYTES=$(sed -n -e 's/.*(\([0-9.]*\)M vision).*/\1/p' -e 't' -e 's/.* \([0-9.]*\)M parameters,.*/\1/p' \
        "$OUT/$tower.synth.txt" | awk '{ printf "%.0f", $1 * 4e6 }')
    [ -n "$WBYTES" ] || die "cannot read the parameter count from $OUT/$tower.synth.txt"
    GF=$(tower_gflop "$tower")
    echo "  $(cat "$OUT/$tower.synth.txt")"
    echo "  the tower's float32 weights $(awk -v w="$WBYTES" 'BEGIN { printf "%.2f", w / 1e9 }') GB; $GF GFLOP per forward"

    echo "  -- seconds per stage, 2 threads, untraced (vlmtrace run --timings):"
    run "$tower.t2" 2 --out "$OUT/$tower.t2.npy"
    sed 's/^/    /' "$OUT/$tower.t2.timings"
    run "$tower.t1" 1 --out "$OUT/$tower.t1.npy"
    echo "  -- runs:"
    summary "$tower.t1" "1 thread, untraced"
    summary "$tower.t2" "2 threads, untraced"
    for t in 1 2; do
        f=$OUT/$tower.t$t.timings
        tower_s=$(awk -v a="$(secs "$f" '^total$')" -v b="$(secs "$f" '^load ')" 'BEGIN { print a - b }')
        printf "  %-28s %6.1f GFLOP/s over the tower (%s GFLOP in %.2f s)\n" "$t thread(s)" \
            "$(awk -v g="$GF" -v s="$tower_s" 'BEGIN { print g / s }')" "$GF" "$tower_s"
    done

    rm -rf "$OUT/$tower.blocks" "$OUT/$tower.full1" "$OUT/$tower.full2"
    run "$tower.blocks" 2 --trace "$OUT/$tower.blocks" --only 'visual.blocks.?' --only 'visual.blocks.??'
    summary "$tower.blocks" "2 threads, block outputs"
    run "$tower.full2" 2 --trace "$OUT/$tower.full2"
    summary "$tower.full2" "2 threads, full trace"
    run "$tower.full1" 1 --trace "$OUT/$tower.full1"
    summary "$tower.full1" "1 thread, full trace"

    base=$(secs "$OUT/$tower.t2.timings" '^total$')
    for tr in blocks full2; do
        s=$(secs "$OUT/$tower.$tr.timings" '^total$')
        pct=$(awk -v s="$s" -v b="$base" 'BEGIN { printf "%+.1f", (s - b) / b * 100 }')
        label=$([ $tr = blocks ] && echo "block outputs only" || echo "full trace")
        echo "  tracing cost, $label: $pct % of the untraced 2-thread run ($(du -sh "$OUT/$tower.$tr" | cut -f1) written)"
        if [ $tr = blocks ] && awk -v p="$pct" 'BEGIN { exit !(p >= 10) }'; then miss "$tower: block-level tracing costs $pct %"; fi
    done

    # targets on the runs
    t2=$(secs "$OUT/$tower.t2.timings" '^total$')
    if [ "$tower" = qwen2-vl-2b ] && awk -v s="$t2" 'BEGIN { exit !(s >= 20) }'; then miss "$tower: $t2 s at 2 threads (target < 20 s)"; fi
    for tag in t1 t2 blocks full2 full1; do
        r=$(awk -v r="$(cat "$OUT/$tower.$tag.rss")" -v w="$WBYTES" 'BEGIN { printf "%.2f", r * 1024 / w }')
        if awk -v r="$r" 'BEGIN { exit !(r >= 1.2) }'; then miss "$tower ($tag): peak RSS ${r}x the float32 weights"; fi
    done

    # 4. determinism: the final tensor and every traced file, 1 thread against 2
    if cmp -s "$OUT/$tower.t1.npy" "$OUT/$tower.t2.npy" && diff -rq "$OUT/$tower.full1" "$OUT/$tower.full2" > /dev/null; then
        echo "  1 thread vs 2 threads: --out and all $(ls "$OUT/$tower.full1" | wc -l) trace files byte-identical (cmp)"
    else
        echo "  1 thread vs 2 threads: DIFFERENT"
        miss "$tower: 1-thread and 2-thread results differ"
    fi
    [ "${BENCH_KEEP:-0}" = 1 ] || rm -rf "$OUT/$tower.blocks" "$OUT/$tower.full1" "$OUT/$tower.full2"

    # 5. one full-size block: segment path against the literal path (naive loops, an explicit N x N mask)
    CK1=$OUT/$tower-1block
    [ -f "$CK1/config.json" ] || $BIN synth --preset "$tower" --layers 1 --out "$CK1" > /dev/null || die "synth --layers 1 failed"
    rm -rf "$OUT/$tower.seg" "$OUT/$tower.lit"
    $BIN run --model "$CK1" --image "$IMAGE" $SIZE --threads 2 --attn segments --trace "$OUT/$tower.seg" > /dev/null 2>&1 || die "run --attn segments failed"
    $BIN run --model "$CK1" --image "$IMAGE" $SIZE --threads 2 --attn literal --trace "$OUT/$tower.lit" > /dev/null 2>&1 || die "run --attn literal failed"
    if $BIN diff "$OUT/$tower.seg" "$OUT/$tower.lit" > "$OUT/$tower.diff.txt" 2>&1; then
        same=$(diff -rq "$OUT/$tower.seg" "$OUT/$tower.lit" > /dev/null && echo "; the two traces are byte-identical" || echo "")
        echo "  one full-size block, segments vs literal (vlmtrace diff): $(tail -1 "$OUT/$tower.diff.txt");" \
            "visual.blocks.0.attn.out $(grep 'attn.out ' "$OUT/$tower.diff.txt" | sed 's/.*\(max_abs [^ ]*\).*/\1/')$same"
    else
        cat "$OUT/$tower.diff.txt"
        miss "$tower: the segment path differs from the literal path"
    fi
    rm -rf "$OUT/$tower.seg" "$OUT/$tower.lit"
done

# ---- 7. the language model ----
if [ "${BENCH_LM:-1}" = 1 ]; then
    CK=$OUT/qwen2-vl-2b
    NEW=${BENCH_NEW_TOKENS:-16}
    echo
    echo "== 7. the language model: qwen2-vl-2b whole, the 448 x 448 image + a 30-token question, 2 threads"
    [ -f "$CK/config.json" ] || $BIN synth --preset qwen2-vl-2b --out "$CK" > "$OUT/qwen2-vl-2b.synth.txt" || die "synth failed"
    # the prompt: 15 text ids, <|vision_start|>, 256 <|image_pad|>, <|vision_end|>, 15 text ids (L = 288)
    rm -rf "$OUT/lm.prompt"
    $BIN rope --model "$CK" --layout "text:15 image:1x32x32 text:15" --trace "$OUT/lm.prompt" > /dev/null || die "rope --layout failed"
    L=288
    for t in 1 2; do
        $GEMM --tower qwen2-vl-2b-lm --threads $t --reps "$REPS" ||
            { [ $? = 1 ] && miss "GEMM below 0.5 of OpenBLAS on a language-model shape at $t thread(s)"; }
    done
    $GEMM --copy-bandwidth --threads 2 --reps "$REPS" | tee "$OUT/lm.copy.txt"
    BW=$(sed -n 's/.*best of [0-9]*: \([0-9.]*\) GB\/s.*/\1/p' "$OUT/lm.copy.txt")
    best=""
    r=0
    while [ $r -lt "${BENCH_RUNS:-2}" ]; do
        r=$((r + 1))
        /usr/bin/time -f "%M" -o "$OUT/lm.rss.try" $BIN generate --model "$CK" --image "$IMAGE" $SIZE \
            --input-ids "$OUT/lm.prompt/input_ids.npy" --max-new-tokens "$NEW" --threads 2 --timings \
            --out "$OUT/lm.ids.npy" 2> "$OUT/lm.timings.try" > "$OUT/lm.ids.txt" ||
            { cat "$OUT/lm.timings.try" >&2; die "vlmtrace generate failed"; }
        s=$(secs "$OUT/lm.timings.try" '^total$')
        if [ -z "$best" ] || awk -v s="$s" -v b="$best" 'BEGIN { exit !(s < b) }'; then
            best=$s
            mv "$OUT/lm.timings.try" "$OUT/lm.timings"
            mv "$OUT/lm.rss.try" "$OUT/lm.rss"
        fi
    done
    rm -f "$OUT/lm.timings.try" "$OUT/lm.rss.try"
    n=$(wc -w < "$OUT/lm.ids.txt")
    f=$OUT/lm.timings
    load=$(secs "$f" '^load ')
    tower=$(secs "$f" '^(image|pixel_values|image_grid_thw|visual)')
    prefill=$(secs "$f" '^(input_ids|model\.|inputs_embeds|position_ids|rope_deltas|mrope|lm_head)')
    decode=$(secs "$f" '^generated_ids$')
    # weights read per decoded token (BF16: 2 bytes each): 28 layers of q, k, v, o, gate, up, down, and
    # lm_head = embed_tokens (tied) -- the norms and biases are a few hundred KB more
    wbytes=$(awk 'BEGIN { E = 1536; F = 8960; G = 256; V = 151936
        printf "%.0f", 2 * (28 * (E * E * 2 + G * E * 2 + 3 * F * E) + V * E) }')
    # prefill multiply-adds x 2: the layers' products, attention (q k^T and p v over the causal half), one
    # logits row (lm_head on the last position only, untraced)
    gflop=$(awk -v L="$L" 'BEGIN { E = 1536; F = 8960; G = 256; V = 151936; H = 12; D = 128
        lin = 28 * 2 * L * (E * E * 2 + G * E * 2 + 3 * F * E); att = 28 * 2 * 2 * L * (L + 1) / 2 * H * D
        printf "%.1f", (lin + att + 2 * E * V) / 1e9 }')
    ckbytes=$(du -b "$CK/model.safetensors" | cut -f1)
    rss=$(cat "$OUT/lm.rss")
    echo "  $n tokens generated: $(cat "$OUT/lm.ids.txt")"
    sed 's/^/    /' "$f" | grep -E '^    +(load|model\.layers|model\.norm|generated_ids|visual\.blocks|total)'
    per_tok=$(awk -v d="$decode" -v n="$n" 'BEGIN { printf "%.3f", d / (n - 1) }')
    floor=$(awk -v w="$wbytes" -v b="$BW" 'BEGIN { printf "%.3f", w / (b * 1e9) }')
    ratio=$(awk -v p="$per_tok" -v f="$floor" 'BEGIN { printf "%.2f", p / f }')
    rssx=$(awk -v r="$rss" -v c="$ckbytes" 'BEGIN { printf "%.2f", r * 1024 / c }')
    printf "  load %.2f s, tower %.2f s\n" "$load" "$tower"
    printf "  prefill (the language model on %d tokens): %.2f s, %.1f GFLOP, %.1f GFLOP/s\n" "$L" "$prefill" "$gflop" \
        "$(awk -v g="$gflop" -v s="$prefill" 'BEGIN { print g / s }')"
    printf "  decode: %d tokens in %.2f s = %.3f s/token (%.2f tokens/s); floor %.2f GB of weights / %.2f GB/s copy = %.3f s/token; %.2fx the floor (target <= 2)\n" \
        "$((n - 1))" "$decode" "$per_tok" "$(awk -v p="$per_tok" 'BEGIN { print 1 / p }')" \
        "$(awk -v w="$wbytes" 'BEGIN { print w / 1e9 }')" "$BW" "$floor" "$ratio"
    printf "  peak RSS %.2f GB, checkpoint %.2f GB on disk: %.2fx (target <= 1.15)\n" \
        "$(awk -v r="$rss" 'BEGIN { print r * 1024 / 1e9 }')" "$(awk -v c="$ckbytes" 'BEGIN { print c / 1e9 }')" "$rssx"
    awk -v r="$ratio" 'BEGIN { exit !(r > 2) }' && miss "decode at ${ratio}x the memory-bandwidth floor (target <= 2)"
    awk -v r="$rssx" 'BEGIN { exit !(r > 1.15) }' && miss "generate's peak RSS ${rssx}x the checkpoint (target <= 1.15)"
    # the KV cache against full recomputation: the same ids (4 tokens: --no-cache reruns the prompt each step)
    $BIN generate --model "$CK" --image "$IMAGE" $SIZE --input-ids "$OUT/lm.prompt/input_ids.npy" --max-new-tokens 4 \
        --threads 2 --no-cache > "$OUT/lm.nocache.txt" 2> /dev/null || die "generate --no-cache failed"
    if [ "$(cat "$OUT/lm.nocache.txt")" = "$(cut -d' ' -f1-4 "$OUT/lm.ids.txt")" ]; then
        echo "  --no-cache (every step recomputed): the same first 4 ids"
    else
        echo "  --no-cache: DIFFERENT ids: $(cat "$OUT/lm.nocache.txt")"
        miss "the KV cache and full recomputation give different ids"
    fi

    # decoding on one thread against the one-thread copy bandwidth: a text-only prompt of 30 ids (no tower,
    # a short prefill; a step's weights are the same, its attention reads 30 cached positions, not 288)
    $GEMM --copy-bandwidth --threads 1 --reps "$REPS" | tee "$OUT/lm.copy1.txt"
    BW1=$(sed -n 's/.*best of [0-9]*: \([0-9.]*\) GB\/s.*/\1/p' "$OUT/lm.copy1.txt")
    rm -rf "$OUT/lm.text"
    $BIN rope --model "$CK" --layout "text:30" --trace "$OUT/lm.text" > /dev/null || die "rope --layout failed"
    best=""
    r=0
    while [ $r -lt "${BENCH_RUNS:-2}" ]; do
        r=$((r + 1))
        $BIN generate --model "$CK" --input-ids "$OUT/lm.text/input_ids.npy" --max-new-tokens "$NEW" --threads 1 \
            --timings 2> "$OUT/lm1.timings.try" > "$OUT/lm1.ids.txt" ||
            { cat "$OUT/lm1.timings.try" >&2; die "vlmtrace generate --threads 1 failed"; }
        s=$(secs "$OUT/lm1.timings.try" '^generated_ids$')
        if [ -z "$best" ] || awk -v s="$s" -v b="$best" 'BEGIN { exit !(s < b) }'; then
            best=$s
            mv "$OUT/lm1.timings.try" "$OUT/lm1.timings"
        fi
    done
    rm -f "$OUT/lm1.timings.try"
    n1=$(wc -w < "$OUT/lm1.ids.txt")
    per_tok1=$(awk -v d="$best" -v n="$n1" 'BEGIN { printf "%.3f", d / (n - 1) }')
    floor1=$(awk -v w="$wbytes" -v b="$BW1" 'BEGIN { printf "%.3f", w / (b * 1e9) }')
    ratio1=$(awk -v p="$per_tok1" -v f="$floor1" 'BEGIN { printf "%.2f", p / f }')
    printf "  decode, 1 thread, a 30-id text prompt: %d tokens in %.2f s = %.3f s/token (%.2f tokens/s); floor %.2f GB / %.2f GB/s copy = %.3f s/token; %.2fx the floor (target <= 2)\n" \
        "$((n1 - 1))" "$best" "$per_tok1" "$(awk -v p="$per_tok1" 'BEGIN { print 1 / p }')" \
        "$(awk -v w="$wbytes" 'BEGIN { print w / 1e9 }')" "$BW1" "$floor1" "$ratio1"
    awk -v r="$ratio1" 'BEGIN { exit !(r > 2) }' && miss "decode on 1 thread at ${ratio1}x the memory-bandwidth floor (target <= 2)"
fi

echo
echo "== 6. tokenizer: load the 11 MB tokenizer.json, encode 1 MB (docs/tokenizer.md#speed)"
${BENCH_BIN:-bin}/bench_tokenizer
case $? in
0) ;;
1) miss "tokenizer below its speed targets (cold encode >= 7.5 MiB/s, load < 0.2 s)" ;;
*) die "bench_tokenizer failed" ;;
esac

echo
echo "  load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
if [ -n "$missed" ]; then
    echo "bench: targets MISSED:$missed"
    exit 1
fi
echo "bench: every target met"
