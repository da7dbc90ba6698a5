# tests/bench/bench.mk -- `make bench`: full-size speed, memory and determinism figures (docs/performance.md).
#
#   make bench     GEMM shapes against OpenBLAS, the Qwen2-VL-2B and Qwen2.5-VL-7B towers on 448 x 448, the tokenizer
#   make bench-tokenizer   the tokenizer alone: tokenizer.json load time, 1 MB encode cold and warm (bin/bench_tokenizer)
#
# OpenBLAS (libopenblas-dev) is linked into bin/bench_gemm only, never into vlmtrace. GNU time (`time`)
# measures the peak RSS of each run.

DEBS_BENCH := $(DEBS_BUILD) libopenblas-dev time
BENCH_OBJ  := $(addprefix $(BUILD)opt/,tests/bench/bench_gemm.o ref/core/gemm.o ref/core/attention.o ref/core/ops.o \
              ref/core/status.o)

TOK_BENCH_OBJ := $(addprefix $(BUILD)opt/,tests/bench/bench_tokenizer.o $(patsubst %.c,%.o,$(wildcard ref/tokenizer/*.c)) \
                 ref/core/status.o ref/io/fileio.o)

.PHONY: bench deps-bench bench-tokenizer

deps-bench:
	$(call ensure_debs,$(DEBS_BENCH))

$(BIN)bench_gemm: $(BENCH_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(OPT_FLAGS) $^ -o $@ $(EXTRA_LDFLAGS) $(OPENMP_LIBS) -lopenblas -lm

$(BIN)bench_tokenizer: $(TOK_BENCH_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(OPT_FLAGS) $^ -o $@ $(EXTRA_LDFLAGS) -lcjson -lpcre2-8 -lutf8proc -lm

# (make bench CC=clang: the clang build's kernels, bin/clang/)
bench: deps-bench
	@$(MAKE) --no-print-directory $(BIN)vlmtrace $(BIN)bench_gemm $(BIN)bench_tokenizer
	@BENCH_BIN=$(BIN:/=) sh tests/bench/bench.sh

bench-tokenizer: deps-build
	@$(MAKE) --no-print-directory $(BIN)bench_tokenizer
	@echo "== tokenizer: $$(date -u '+%Y-%m-%d %H:%M UTC'); $$(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //'), load average $$(cut -d' ' -f1-3 /proc/loadavg)"
	@$(BIN)bench_tokenizer
