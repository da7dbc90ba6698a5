#!/bin/sh
# tests/measure_checkpoints.sh [--write] -- what `make measure-checkpoints` runs: the measurements table of
# docs/checkpoints.md, regenerated on this machine. Each published preset is synthesised at full width with
# --layers 2 (bf16) and run on the bundled 300 x 240 photo, the trace limited with --only to the patch
# embedding, both blocks' outputs and the final tensor; /usr/bin/time -v gives the wall, user time and peak
# RSS. Prints the table, headed by a `<!-- measured: ... -->` line naming the command, the date and the
# machine; with --write, replaces the table in docs/checkpoints.md (docs-check never compares measured
# numbers: it checks that they say how, when and where they were measured).
set -eu
bin=${VLMTRACE_BIN:-bin/vlmtrace}
out=build/measure
img=notebooks-data/reference/qwen2vl-image/image.0.png
rm -rf "$out" && mkdir -p "$out"
[ -x /usr/bin/time ] || { echo "measure_checkpoints.sh: needs /usr/bin/time (apt-get install time)" >&2; exit 2; }

# field NAME FILE: a value of /usr/bin/time -v's report
field() { sed -n "s/^[[:space:]]*$1: //p" "$2" | head -n 1; }
# seconds from [h:]mm:ss.ss
secs() { echo "$1" | awk -F: '{ s = 0; for (i = 1; i <= NF; i++) s = s * 60 + $i; printf "%.2f", s }'; }
mib() { awk -v k="$1" 'BEGIN { printf "%.0f", k / 1024 }'; }

machine="$(nproc) cores, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1), $(awk '/MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo)"
{
echo "<!-- measured: sh tests/measure_checkpoints.sh --write, $(date -u +%Y-%m-%d), $machine -->"
echo "| preset, \`--layers 2\` | synth: time, peak RSS, file | tokens | run: wall (user), peak RSS | final tensor, RMS |"
echo "|---|---|---|---|---|"
for p in qwen2-vl-2b qwen2.5-vl-7b qwen-vl kimi-vl-a3b; do
    case $p in
    qwen-vl) only="--only transformer.visual.conv1 --only transformer.visual.transformer.resblocks.? --only transformer.visual"
             final=transformer.visual;;
    kimi-vl-a3b) only="--only vision_tower.patch_embed --only vision_tower.encoder.blocks.? --only multi_modal_projector.linear_2"
                 final=multi_modal_projector.linear_2;;
    *) only="--only visual.patch_embed --only visual.blocks.? --only visual"; final=visual;;
    esac
    /usr/bin/time -v "$bin" synth --preset $p --layers 2 --out "$out/$p" --quiet >/dev/null 2>"$out/$p.synth.time"
    /usr/bin/time -v "$bin" run --model "$out/$p" --image $img --trace "$out/$p.trace" $only --quiet \
        2>"$out/$p.run.time"
    size=$(du -cb "$out/$p"/*.safetensors | tail -n 1 | cut -f1)
    # tokens: the rows the patch embedding and the final tensor have
    rows() { "$bin" show "$out/$p.trace" --only "$1" | awk -v n="$1" '$1 == n {print $3}' | tr -d '[,'; }
    case $p in
    qwen-vl) tokens="$("$bin" show "$out/$p.trace" --only transformer.visual.conv1 |
                       sed -n 's/^transformer.visual.conv1 .*\[[0-9]*, [0-9]*, \([0-9]*\), \([0-9]*\)\].*/\1 \2/p' |
                       awk '{print $1 * $2}') -> 256 queries";;
    kimi-vl-a3b) tokens="$(rows vision_tower.patch_embed) -> $(rows $final)";;
    *) tokens="$(rows visual.patch_embed) patches -> $(rows $final)";;
    esac
    shape=$("$bin" show "$out/$p.trace" --only $final | sed -n "s/^$final  *[a-z0-9]*  *\(\[[^]]*\]\).*/\1/p")
    rms=$("$bin" show "$out/$p.trace" --only $final | awk -v n=$final '$1 == n {m = $(NF - 2); s = $(NF - 1); printf "%.2f", sqrt(m * m + s * s)}')
    printf '| %s | %s s, %s MiB, %.0f MB | %s | %s s (%s s), %s MiB | `%s` %s, %s |\n' "$p" \
        "$(secs "$(field 'Elapsed (wall clock) time (h:mm:ss or m:ss)' "$out/$p.synth.time")")" \
        "$(mib "$(field 'Maximum resident set size (kbytes)' "$out/$p.synth.time")")" "$(awk -v b="$size" 'BEGIN { print b / 1e6 }')" \
        "$tokens" "$(secs "$(field 'Elapsed (wall clock) time (h:mm:ss or m:ss)' "$out/$p.run.time")")" \
        "$(field 'User time (seconds)' "$out/$p.run.time")" \
        "$(mib "$(field 'Maximum resident set size (kbytes)' "$out/$p.run.time")")" "$final" "$shape" "$rms"
    rm -rf "$out/$p"
done
} | tee "$out/table.md"
if [ "${1:-}" = --write ]; then
    /usr/bin/python3 - "$out/table.md" <<'EOF'
import re, sys
page = "docs/checkpoints.md"
table = open(sys.argv[1]).read()
text = open(page).read()
new, n = re.subn(r"(<!-- measured: sh tests/measure_checkpoints.sh[^\n]*-->\n)?\| preset, `--layers 2` \|.*?\n(?!\|)",
                 lambda m: table, text, count=1, flags=re.S)
assert n == 1, "no measurements table in " + page
open(page, "w").write(new)
print("measure_checkpoints.sh: the table of " + page + " rewritten")
EOF
fi
