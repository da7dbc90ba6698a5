# tests/bench/bench.mk -- `make bench`: full-size speed, memory and determinism figures (docs/performance.md).
#
#   make bench     GEMM shapes against OpenBLAS, the Qwen2-VL-2B and Qwen2.5-VL-7B towers on 448 x 448, the tokenizer
#   make bench-tokenizer   the tokenizer alone: tokenizer.json load time, 1 MB encode cold and warm (bin/bench_tokenizer)
#
# OpenBLAS (libopenblas-dev) is linked into bin/bench_gemm only, never into vlmtrace. GNU time (`time`)
# measures the peak RSS of each run.

DEBS_BENCH := $(DEBS_BUILD) libopenblas-dev time
BENCH_OBJ  := build/opt/tests/bench/bench_gemm.o build/opt/ref/core/gemm.o build/opt/ref/core/attention.o build/opt/ref/core/ops.o

TOK_BENCH_OBJ := build/opt/tests/bench/bench_tokenizer.o $(patsubst %.c,build/opt/%.o,$(wildcard ref/tokenizer/*.c)) \
                 build/opt/ref/core/status.o build/opt/ref/io/fileio.o

.PHONY: bench deps-bench bench-tokenizer

deps-bench:
	$(call ensure_debs,$(DEBS_BENCH))

bin/bench_gemm: $(BENCH_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(OPT_FLAGS) -fopenmp $^ -o $@ -lopenblas -lm

bin/bench_tokenizer: $(TOK_BENCH_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(OPT_FLAGS) $^ -o $@ -lcjson -lpcre2-8 -lutf8proc -lm

bench: deps-bench
	@$(MAKE) --no-print-directory bin/vlmtrace bin/bench_gemm bin/bench_tokenizer
	@sh tests/bench/bench.sh

bench-tokenizer: deps-build
	@$(MAKE) --no-print-directory bin/bench_tokenizer
	@echo "== tokenizer: $$(date -u '+%Y-%m-%d %H:%M UTC'); $$(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //'), load average $$(cut -d' ' -f1-3 /proc/loadavg)"
	@bin/bench_tokenizer
