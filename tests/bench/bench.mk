# tests/bench/bench.mk -- `make bench`: full-size speed, memory and determinism figures (docs/performance.md).
#
#   make bench     GEMM shapes against OpenBLAS, the Qwen2-VL-2B and Qwen2.5-VL-7B towers on 448 x 448
#
# OpenBLAS (libopenblas-dev) is linked into bin/bench_gemm only, never into vlmtrace. GNU time (`time`)
# measures the peak RSS of each run.

DEBS_BENCH := $(DEBS_BUILD) libopenblas-dev time
BENCH_OBJ  := $(addprefix $(BUILD)opt/,tests/bench/bench_gemm.o ref/core/gemm.o ref/core/attention.o ref/core/ops.o \
              ref/core/status.o)

.PHONY: bench deps-bench

deps-bench:
	$(call ensure_debs,$(DEBS_BENCH))

$(BIN)bench_gemm: $(BENCH_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(OPT_FLAGS) $^ -o $@ $(EXTRA_LDFLAGS) $(OPENMP_LIBS) -lopenblas -lm

# (make bench CC=clang: the clang build's kernels, bin/clang/)
bench: deps-bench
	@$(MAKE) --no-print-directory $(BIN)vlmtrace $(BIN)bench_gemm
	@BENCH_BIN=$(BIN:/=) sh tests/bench/bench.sh
