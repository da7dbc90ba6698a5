# vlmtrace -- plain C11, one binary (bin/vlmtrace), cmocka tests run twice (plain and ASan+UBSan).
#
#   make          build bin/vlmtrace
#   make demo     the main job on the bundled sample image and tiny model
#   make test     every cmocka test, then the same tests built with -fsanitize=address,undefined
#   make debug    bin/debug/vlmtrace with -O0 -g -fsanitize=address,undefined
#   make notebooks-data   regenerate notebooks-data/traces/ with bin/vlmtrace
#   make notebooks        execute every docs/notebooks/*.ipynb headless (outputs in build/notebooks/)
#   make docs-check       every link in docs/*.md and README.md resolves; every doc command runs
#   make memcheck         bin/vlmtrace under valgrind over every CLI path, failing ones too (tests/memcheck.sh)
#   make fuzz [FUZZ_SECONDS=N]   each libFuzzer target (tests/fuzz/) for N s (60); docs/robustness.md
#   make bench    full-size speed: GEMM vs OpenBLAS, towers on 448x448, tracing cost, RSS (docs/performance.md)
#   make help     this list
#
# Both demo and test first make sure the Debian packages they need are installed (apt-get when run as
# root; otherwise the exact command is printed and make stops).

CC      ?= gcc
ifeq ($(origin CC),default)
CC := gcc
endif

WARN      := -std=c11 -Wall -Wextra -Wpedantic
COMMON    := $(WARN) -D_DEFAULT_SOURCE -fopenmp -Iref -Itrace -MMD -MP
OPT_FLAGS := -O2 -g
SAN_FLAGS := -O1 -g -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
DBG_FLAGS := -O0 -g -fsanitize=address,undefined -fno-omit-frame-pointer
LDLIBS    := -lcjson -lstb -ljpeg -lexif -lpcre2-8 -lutf8proc -lm
TEST_LIBS := -lcmocka

REF_SRC   := $(sort $(wildcard ref/*/*.c))
TRACE_SRC := $(sort $(filter-out trace/cli/main.c,$(wildcard trace/*/*.c)))
LIB_SRC   := $(REF_SRC) $(TRACE_SRC)
TEST_SRC  := $(sort $(wildcard tests/test_*.c))
TEST_NAMES:= $(notdir $(TEST_SRC:.c=))

# Debian packages: to build, to test, and (later targets) for the notebooks.
DEBS_BUILD := gcc make libc6-dev libcjson-dev libstb-dev libjpeg-dev libexif-dev libpcre2-dev libutf8proc-dev
DEBS_TEST  := $(DEBS_BUILD) libcmocka-dev python3-torch python3-numpy python3-pil
DEBS_NOTEBOOKS := $(DEBS_BUILD) python3 python3-numpy python3-matplotlib python3-nbformat python3-ipykernel jupyter-nbconvert

.PHONY: all demo test test-plain test-san debug help clean deps-build deps-test tests-build
.PHONY: notebooks notebooks-data docs-check deps-notebooks
all: bin/vlmtrace

# ---- variants: build/<v>/... objects, binaries under bin/ (opt), bin/san/, bin/debug/ ----
define variant
build/$(1)/%.o: %.c
	@mkdir -p $$(dir $$@)
	$$(CC) $$(COMMON) $(2) -c $$< -o $$@

$(3)vlmtrace: $$(patsubst %.c,build/$(1)/%.o,$$(LIB_SRC) trace/cli/main.c)
	@mkdir -p $$(dir $$@)
	$$(CC) $(2) -fopenmp $$^ -o $$@ $$(LDLIBS)

$(3)tests/%: build/$(1)/tests/%.o build/$(1)/tests/vt_test.o $$(patsubst %.c,build/$(1)/%.o,$$(LIB_SRC))
	@mkdir -p $$(dir $$@)
	$$(CC) $(2) -fopenmp $$^ -o $$@ $$(LDLIBS) $$(TEST_LIBS)

# test_kernels also links gemm.c's single-ISA variants (tests/gemm_isa_*.c) to compare them with the clones
$(3)tests/test_kernels: build/$(1)/tests/gemm_isa_avx2.o build/$(1)/tests/gemm_isa_base.o

-include $$(shell find build/$(1) -name '*.d' 2>/dev/null)
endef

$(eval $(call variant,opt,$(OPT_FLAGS),bin/))
$(eval $(call variant,san,$(SAN_FLAGS),bin/san/))
$(eval $(call variant,debug,$(DBG_FLAGS),bin/debug/))

include tests/bench/bench.mk

.SECONDARY:

tests-build: bin/vlmtrace $(addprefix bin/tests/,$(TEST_NAMES)) bin/san/vlmtrace $(addprefix bin/san/tests/,$(TEST_NAMES))

# ---- packages ----
define ensure_debs
	@missing=""; for p in $(1); do dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'ok installed' || missing="$$missing $$p"; done; \
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

include tests/fuzz/fuzz.mk

# ---- the two commands of the README ----
DEMO_REF := notebooks-data/reference/qwen2vl-image
DEMO_OUT := build/demo

demo: deps-build
	@$(MAKE) --no-print-directory bin/vlmtrace
	@sh tests/demo.sh

test: deps-test
	@$(MAKE) --no-print-directory tests-build
	@sh tests/run.sh bin
	@sh tests/run.sh bin/san
	@sh tests/run_py.sh bin

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
	$(call ensure_debs,$(DEBS_BUILD) python3)
	@$(MAKE) --no-print-directory bin/vlmtrace
	@/usr/bin/python3 tests/check_docs.py

help:
	@sed -n '2,/^#$$/p' Makefile | sed 's/^# \{0,1\}//'

include tests/memcheck.mk

clean:
	rm -rf build bin
