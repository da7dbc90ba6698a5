# tests/bench/bench.mk -- `make bench`: full-size speed, memory and determinism figures (docs/performance.md).
#
#   make bench     GEMM shapes against OpenBLAS, the Qwen2-VL-2B and Qwen2.5-VL-7B towers on 448 x 448
#
# OpenBLAS (libopenblas-dev) is linked into bin/bench_gemm only, never into vlmtrace. GNU time (`time`)
# measures the peak RSS of each run.

DEBS_BENCH := $(DEBS_BUILD) libopenblas-dev time
BENCH_OBJ  := build/opt/tests/bench/bench_gemm.o build/opt/ref/core/gemm.o build/opt/ref/core/attention.o build/opt/ref/core/ops.o \
              build/opt/ref/core/status.o

.PHONY: bench deps-bench

deps-bench:
	$(call ensure_debs,$(DEBS_BENCH))

bin/bench_gemm: $(BENCH_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(OPT_FLAGS) -fopenmp $^ -o $@ -lopenblas -lm

bench: deps-bench
	@$(MAKE) --no-print-directory bin/vlmtrace bin/bench_gemm
	@sh tests/bench/bench.sh
