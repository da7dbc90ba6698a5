# vlmtrace -- plain C11, one binary (bin/vlmtrace); cmocka tests run plain, with ASan+UBSan, with clang, on arm64.
#
#   make          build bin/vlmtrace
#   make demo     the main job on the bundled sample image and tiny model
#   make test     every cmocka test, then the same tests built with -fsanitize=address,undefined, then
#                 the plain tests built with clang, and gcc's and clang's kernels compared bit for bit
#   make test-arm64   cross-build for arm64 (bin/arm64/) and run the plain tests under qemu-aarch64-static
#   make debug    bin/debug/vlmtrace with -O0 -g -fsanitize=address,undefined
#   make notebooks-data   regenerate notebooks-data/traces/ with bin/vlmtrace
#   make notebooks        execute every docs/notebooks/*.ipynb headless (outputs in build/notebooks/)
#   make docs-check       every link in docs/*.md and README.md resolves; every doc command runs; every cited path
#                         exists; the bug zoo's report pictures are current; two report.html pages checked in
#                         headless Chromium
#   make report-pictures  redraw the bug zoo's `diff --report` pictures the docs show (docs/img/report/)
#   make house-check      (part of make test) the include rules, docs/trace-spec.md against the goldens, docs/design.md's C program
#   make measure-checkpoints   regenerate docs/checkpoints.md's measured table (dated, on this machine)
#   make memcheck         bin/vlmtrace under valgrind over every CLI path, failing ones too (tests/memcheck.sh)
#   make fuzz [FUZZ_SECONDS=N]   each libFuzzer target (tests/fuzz/) for N s (60); docs/robustness.md
#   make bench    full-size speed: GEMM vs OpenBLAS, towers on 448x448, tracing cost, RSS (docs/performance.md)
#   make help     this list
#
# Both demo and test first make sure the Debian packages they need are installed (apt-get when run as
# root; otherwise the exact command is printed and make stops).
#
# Other compilers and platforms (README.md, "Other compilers and platforms"):
#   make CC=clang                    bin/clang/vlmtrace, objects in build/clang/ (gcc's bin/ is untouched)
#   make CC=aarch64-linux-gnu-gcc    bin/arm64/ (a cross-build; TAG=NAME picks another folder name)
#   OPENMP_CFLAGS / OPENMP_LIBS      how to compile and link OpenMP: -fopenmp by default; Apple clang wants
#                                    OPENMP_CFLAGS="-Xpreprocessor -fopenmp -I$$(brew --prefix libomp)/include"
#                                    OPENMP_LIBS="-L$$(brew --prefix libomp)/lib -lomp"
#   STB=headers                      compile stb_image / stb_image_write from their headers (ref/io/stb/)
#                                    instead of linking Debian's libstb (-lstb); STB_CFLAGS="-isystem DIR",
#                                    DIR holding stb/stb_image.h
#   EXTRA_CFLAGS / EXTRA_LDFLAGS     added to every compile / link (e.g. Homebrew's -I and -L)

# local.mk (ignored by git): this machine's settings of the variables above (README.md: macOS)
-include local.mk

CC      ?= gcc
ifeq ($(origin CC),default)
CC := gcc
endif

# Where a build goes: gcc's in bin/ and build/{opt,san,debug}/, any other compiler's in bin/$(TAG)/ and
# build/$(TAG)/{opt,san,debug}/, so two compilers' objects never mix.
# ("ccache clang" counts as clang)
CC_NAME := $(notdir $(lastword $(filter-out -%,$(CC))))
ifeq ($(CC_NAME),gcc)
TAG ?=
else ifneq ($(findstring aarch64,$(CC_NAME)),)
TAG ?= arm64
else ifneq ($(findstring clang,$(CC_NAME)),)
TAG ?= clang
else
TAG ?= $(CC_NAME)
endif
BIN   := bin/$(if $(TAG),$(TAG)/)
BUILD := build/$(if $(TAG),$(TAG)/)

# -ffp-contract=off: a fused multiply-add only where the code writes fmaf. GCC contracts nothing in ISO C
# mode anyway; clang contracts a * b + c by default, which would give other bits than GCC's build
# (docs/performance.md, "Why the results never change").
OPENMP_CFLAGS ?= -fopenmp
OPENMP_LIBS   ?= -fopenmp
WARN      := -std=c11 -Wall -Wextra -Wpedantic
COMMON    := $(WARN) -ffp-contract=off -D_DEFAULT_SOURCE $(OPENMP_CFLAGS) -Iref -Itrace -MMD -MP $(STB_CFLAGS) \
             $(EXTRA_CFLAGS)
OPT_FLAGS := -O2 -g
SAN_FLAGS := -O1 -g -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
DBG_FLAGS := -O0 -g -fsanitize=address,undefined -fno-omit-frame-pointer
STB       ?= lib
ifeq ($(STB),headers)
STB_LIB   :=
else
STB_LIB   := -lstb
endif
LDLIBS    := $(EXTRA_LDFLAGS) $(OPENMP_LIBS) -lcjson $(STB_LIB) -ljpeg -lexif -lpcre2-8 -lutf8proc -lm
TEST_LIBS := -lcmocka

# ref/io/stb/stb_impl.c is stb's own code, compiled only with STB=headers (one folder down: not in REF_SRC)
STB_SRC   := $(if $(filter headers,$(STB)),ref/io/stb/stb_impl.c)
REF_SRC   := $(sort $(wildcard ref/*/*.c))
TRACE_SRC := $(sort $(filter-out trace/cli/main.c,$(wildcard trace/*/*.c)))
LIB_SRC   := $(REF_SRC) $(TRACE_SRC)
TEST_SRC  := $(sort $(wildcard tests/test_*.c))
TEST_NAMES:= $(notdir $(TEST_SRC:.c=))

# Debian packages: to build, to test, and (later targets) for the notebooks. The arm64 cross-build takes
# every lib*-dev of the build (and cmocka) in its :arm64 flavour, so the two lists cannot drift apart.
DEBS_BUILD := gcc make libc6-dev libcjson-dev libstb-dev libjpeg-dev libexif-dev libpcre2-dev libutf8proc-dev
DEBS_TEST  := $(DEBS_BUILD) libcmocka-dev python3-torch python3-numpy python3-pil clang libomp-dev
DEBS_ARM64 := gcc-aarch64-linux-gnu qemu-user-static libgomp1:arm64 \
              $(addsuffix :arm64,$(filter lib%-dev,$(DEBS_BUILD)) libcmocka-dev)
DEBS_NOTEBOOKS := $(DEBS_BUILD) python3 python3-numpy python3-matplotlib python3-nbformat python3-ipykernel jupyter-nbconvert
# the browser check of diff --report's report.html (docs-check)
DEBS_BROWSER := chromium chromium-driver python3-selenium python3-pil poppler-utils

.PHONY: all demo test test-clang test-arm64 debug help clean deps-build deps-test deps-arm64 tests-build tests-build-plain
.PHONY: notebooks notebooks-data docs-check deps-notebooks report-pictures measure-checkpoints
all: bin/vlmtrace

# ---- variants: $(BUILD)<v>/... objects, binaries under $(BIN) (opt), $(BIN)san/, $(BIN)debug/ ----
define variant
$(1)/%.o: %.c
	@mkdir -p $$(dir $$@)
	$$(CC) $$(COMMON) $(2) -c $$< -o $$@

# stb's code (STB=headers): its own warnings are not ours to fix
$(1)/ref/io/stb/stb_impl.o: ref/io/stb/stb_impl.c
	@mkdir -p $$(dir $$@)
	$$(CC) -std=c11 -ffp-contract=off -D_DEFAULT_SOURCE $$(STB_CFLAGS) $$(EXTRA_CFLAGS) $(2) -w -MMD -MP -c $$< -o $$@

$(3)vlmtrace: $$(patsubst %.c,$(1)/%.o,$$(LIB_SRC) $$(STB_SRC) trace/cli/main.c)
	@mkdir -p $$(dir $$@)
	$$(CC) $(2) $$^ -o $$@ $$(LDLIBS)

$(3)tests/%: $(1)/tests/%.o $(1)/tests/vt_test.o $$(patsubst %.c,$(1)/%.o,$$(LIB_SRC) $$(STB_SRC))
	@mkdir -p $$(dir $$@)
	$$(CC) $(2) $$^ -o $$@ $$(LDLIBS) $$(TEST_LIBS)

# test_kernels also links gemm.c's single-ISA variants (tests/gemm_isa_*.c) to compare them with the
# clones (x86-64 GCC; elsewhere they compile to nothing)
$(3)tests/test_kernels: $(1)/tests/gemm_isa_avx2.o $(1)/tests/gemm_isa_base.o

-include $$(shell find $(1) -name '*.d' 2>/dev/null)
endef

$(eval $(call variant,$(BUILD)opt,$(OPT_FLAGS),$(BIN)))
$(eval $(call variant,$(BUILD)san,$(SAN_FLAGS),$(BIN)san/))
$(eval $(call variant,$(BUILD)debug,$(DBG_FLAGS),$(BIN)debug/))

include tests/bench/bench.mk

.SECONDARY:

tests-build-plain: $(BIN)vlmtrace $(addprefix $(BIN)tests/,$(TEST_NAMES)) $(BIN)tests/same_bits
tests-build: tests-build-plain $(BIN)san/vlmtrace $(addprefix $(BIN)san/tests/,$(TEST_NAMES))

# ---- packages ----
# (on a system without dpkg -- macOS, another distribution -- nothing is checked: README.md says what to install)
define ensure_debs
	@command -v dpkg-query >/dev/null 2>&1 || { echo "not a Debian system: not checking packages ($(1))"; exit 0; }; \
	missing=""; for p in $(1); do dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'ok installed' || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then echo "installing Debian packages:$$missing"; \
	    DEBIAN_FRONTEND=noninteractive apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	  else echo "missing Debian packages; run:  sudo apt-get install -y$$missing"; exit 1; fi; \
	fi
endef

deps-build:
	$(call ensure_debs,$(DEBS_BUILD))
deps-test:
	$(call ensure_debs,$(DEBS_TEST))
deps-notebooks:
	$(call ensure_debs,$(DEBS_NOTEBOOKS))
deps-arm64:
	@if ! dpkg --print-foreign-architectures | grep -qx arm64; then \
	  if [ "$$(id -u)" = 0 ]; then echo "dpkg --add-architecture arm64"; dpkg --add-architecture arm64; \
	    DEBIAN_FRONTEND=noninteractive apt-get update -qq; \
	  else echo "arm64 packages need:  sudo dpkg --add-architecture arm64 && sudo apt-get update"; exit 1; fi; \
	fi
	$(call ensure_debs,$(DEBS_ARM64))

include tests/fuzz/fuzz.mk

# ---- the two commands of the README ----
DEMO_REF := notebooks-data/reference/qwen2vl-image
DEMO_OUT := build/demo

demo: deps-build
	@$(MAKE) --no-print-directory bin/vlmtrace
	@sh tests/demo.sh

test: deps-test
	@$(MAKE) --no-print-directory tests-build
	@$(MAKE) --no-print-directory house-check
	@sh tests/run.sh $(BIN:/=)
	@sh tests/run.sh $(BIN)san
	@sh tests/run_py.sh $(BIN:/=)
	@$(MAKE) --no-print-directory test-clang

# The whole C suite again, built by clang (bin/clang/), then gcc's and clang's kernels and traces bit for
# bit (tests/same_bits.sh). `make test` ends with this. Built with STB=headers, as on macOS, so that path
# is tested too (and its decoded images and pictures compared with gcc's, which links libstb).
test-clang: deps-test
	@$(MAKE) --no-print-directory CC=gcc bin/tests/same_bits
	@$(MAKE) --no-print-directory CC=clang STB=headers tests-build-plain
	@sh tests/run.sh bin/clang
	@sh tests/same_bits.sh bin bin/clang

# The arm64 cross-build (bin/arm64/), its plain C suite under qemu-aarch64-static (no binfmt_misc here:
# RUNNER is put in front of every arm64 program the tests start), and its kernels against gcc's x86-64
# build bit for bit. What cannot run under qemu-user says SKIPPED.
QEMU_ARM64 ?= qemu-aarch64-static
test-arm64: deps-arm64
	@$(MAKE) --no-print-directory CC=gcc bin/tests/same_bits
	@$(MAKE) --no-print-directory CC=aarch64-linux-gnu-gcc tests-build-plain
	@RUNNER=$(QEMU_ARM64) sh tests/run.sh bin/arm64
	@RUNNER=$(QEMU_ARM64) sh tests/same_bits.sh bin bin/arm64
	@echo "SKIPPED: the ASan/UBSan build under qemu-user (the sanitizers' shadow memory needs the host's own address-space layout); bin/san runs it on x86-64"
	@echo "SKIPPED: tests/run_py.sh against bin/arm64 (the Python tests exercise trace/hf_trace.py, which runs on the host's python3; they start the binary without a runner)"
	@echo "SKIPPED: make memcheck and make fuzz against bin/arm64 (valgrind and libFuzzer are the host's; they run on x86-64)"

debug: deps-build
	@$(MAKE) --no-print-directory bin/debug/vlmtrace

# ---- notebooks and docs: Debian's python3 / jupyter only (not the python3 first on PATH) ----
NOTEBOOKS := $(sort $(wildcard docs/notebooks/*.ipynb))
NB_ENV    := VLMTRACE_ROOT=$(CURDIR) JUPYTER_DATA_DIR=$(CURDIR)/build/jupyter IPYTHONDIR=$(CURDIR)/build/ipython \
             MPLCONFIGDIR=$(CURDIR)/build/matplotlib PYDEVD_DISABLE_FILE_VALIDATION=1

notebooks-data: deps-build
	@$(MAKE) --no-print-directory bin/vlmtrace
	@sh docs/notebooks/make-data.sh bin/vlmtrace

notebooks: deps-notebooks notebooks-data
	@mkdir -p build/notebooks
	@for nb in $(NOTEBOOKS); do echo "== $$nb"; \
	  $(NB_ENV) /usr/bin/jupyter nbconvert --to notebook --execute --log-level=WARN \
	    --ExecutePreprocessor.timeout=600 --ExecutePreprocessor.kernel_name=python3 \
	    --output-dir build/notebooks "$$nb" || exit 1; done
	@echo "all $(words $(NOTEBOOKS)) notebooks executed; outputs in build/notebooks/"

docs-check:
	$(call ensure_debs,$(DEBS_BUILD) python3 $(DEBS_BROWSER))
	@$(MAKE) --no-print-directory bin/vlmtrace
	@/usr/bin/python3 tests/check_docs.py
	@/usr/bin/python3 tests/report_pictures.py --check --keep build/report-check/reports
	@/usr/bin/python3 tests/report_browser.py --shots build/report-check \
	    build/report-check/reports/no-segment-mask build/report-check/reports/no-mrope-sections

# ---- diff --report: the bug zoo's pictures that docs/bug-zoo.md and docs/diff-your-port.md show ----
report-pictures: deps-build
	@$(MAKE) --no-print-directory bin/vlmtrace
	@/usr/bin/python3 tests/report_pictures.py

# the measured table of docs/checkpoints.md, regenerated on this machine (dated; never compared by docs-check)
measure-checkpoints: deps-build
	@$(MAKE) --no-print-directory bin/vlmtrace
	@sh tests/measure_checkpoints.sh --write

# ---- the house (docs/design.md): the dependency rules over every #include, the trace spec's name lists
# against the golden manifests, and the page's C program compiled against ref/ alone (no trace/) and run ----
.PHONY: house-check
DOC_EXAMPLE := $(BUILD)docs/design_example

$(DOC_EXAMPLE).c: docs/design.md tests/doc_example.py
	@/usr/bin/python3 tests/doc_example.py extract docs/design.md $@

$(DOC_EXAMPLE): $(DOC_EXAMPLE).c $(patsubst %.c,$(BUILD)opt/%.o,$(REF_SRC) $(STB_SRC))
	@echo "cc $@ (docs/design.md's program, against ref/ only)"
	@$(CC) $(WARN) -Werror -ffp-contract=off -D_DEFAULT_SOURCE $(OPENMP_CFLAGS) -Iref $(STB_CFLAGS) $(EXTRA_CFLAGS) \
	    $(OPT_FLAGS) $^ -o $@ $(LDLIBS)

house-check: $(DOC_EXAMPLE)
	@/usr/bin/python3 tests/check_layers.py
	@/usr/bin/python3 tests/check_trace_spec.py
	@/usr/bin/python3 tests/doc_example.py run docs/design.md $(DOC_EXAMPLE)

help:
	@sed -n '2,/^#$$/p' Makefile | sed 's/^# \{0,1\}//'

include tests/memcheck.mk

clean:
	rm -rf build bin
