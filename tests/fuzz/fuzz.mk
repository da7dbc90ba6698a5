# tests/fuzz/fuzz.mk -- `make fuzz`: libFuzzer targets for every reader of files from strangers
# (tests/fuzz/targets.c; docs/robustness.md#fuzzing). Included by the Makefile.
#
#   make fuzz                      build, seed and run each target for FUZZ_SECONDS (default 60) seconds
#   make fuzz FUZZ_SECONDS=600 FUZZ_TARGETS="image npy"
#   make fuzz-build                only build build/fuzz/bin/<target>
#
# Everything is built with clang under build/fuzz/ (-fsanitize=fuzzer,address,undefined, no recovery);
# the library objects are instrumented too (fuzzer-no-link) and linked from an archive, so each target
# pulls in only what it uses. OpenMP pragmas are ignored there (the readers have none). The image target
# compiles stb_image from Debian's header rather than linking libstb, so the decoder is instrumented.
# A run stops at the first crash, leak, sanitizer report or timeout, prints the input's path and fails.

FUZZ_SECONDS ?= 60
FUZZ_TARGETS ?= st_header st_index npy manifest config preproc image layout tokens args tok_json tok_encode
FUZZ_CC      ?= clang
FUZZ_RSS_MB  ?= 2560
DEBS_FUZZ    := clang libclang-rt-14-dev python3 libcjson-dev libstb-dev libjpeg-dev libexif-dev libpcre2-dev libutf8proc-dev

FUZZ_WARN    := -std=c11 -Wall -Wextra -Wpedantic -Wno-unknown-pragmas -ffp-contract=off -D_DEFAULT_SOURCE -Iref -Itrace
FUZZ_SAN     := -g -O1 -fno-omit-frame-pointer -fno-sanitize-recover=all
FUZZ_LIB_SRC := $(filter-out trace/cli/cli_%.c,$(LIB_SRC))
FUZZ_LIB_OBJ := $(patsubst %.c,build/fuzz/%.o,$(FUZZ_LIB_SRC))
FUZZ_LIBS    := -lcjson -ljpeg -lexif -lpcre2-8 -lutf8proc -lm

# per target: the largest input tried, and its dictionary
FUZZ_MAXLEN_st_header := 65536
FUZZ_MAXLEN_st_index  := 16384
FUZZ_MAXLEN_npy       := 16384
FUZZ_MAXLEN_manifest  := 32768
FUZZ_MAXLEN_config    := 16384
FUZZ_MAXLEN_preproc   := 8192
FUZZ_MAXLEN_image     := 65536
FUZZ_MAXLEN_layout    := 4096
FUZZ_MAXLEN_tokens    := 512
FUZZ_MAXLEN_args      := 2048
FUZZ_MAXLEN_tok_json  := 65536
FUZZ_MAXLEN_tok_encode := 4096
FUZZ_DICT_st_header := safetensors
FUZZ_DICT_st_index  := json
FUZZ_DICT_npy       := npy
FUZZ_DICT_manifest  := json
FUZZ_DICT_config    := json
FUZZ_DICT_preproc   := json
FUZZ_DICT_image     := image
FUZZ_DICT_layout    := layout
FUZZ_DICT_tokens    := tokens
FUZZ_DICT_args      := args
FUZZ_DICT_tok_json  := tokenizer
FUZZ_DICT_tok_encode := tokenizer

FUZZ_ENV := TMPDIR=$(CURDIR)/build/fuzz/tmp ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=1:halt_on_error=1 \
            UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

.PHONY: fuzz fuzz-build fuzz-corpus deps-fuzz

deps-fuzz:
	$(call ensure_debs,$(DEBS_FUZZ))

build/fuzz/%.o: %.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_WARN) $(FUZZ_SAN) -fsanitize=fuzzer-no-link,address,undefined -MMD -MP -c $< -o $@

# stb_image's own code: instrumented for coverage and ASan; UBSan too, so what it does wrong is reported,
# except pointer-overflow and nonnull-attribute: for an empty first IDAT chunk stb 2.27 adds 0 to a NULL
# buffer and memcpy()s 0 bytes to it (harmless, and
# not ours to change; docs/robustness.md#what-was-found-and-fixed)
build/fuzz/stb_image.o: tests/fuzz/stb_image.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) -std=c11 -ffp-contract=off -D_DEFAULT_SOURCE $(FUZZ_SAN) -fsanitize=fuzzer-no-link,address,undefined \
	  -fno-sanitize=pointer-overflow,nonnull-attribute -w -c $< -o $@

build/fuzz/libvt.a: $(FUZZ_LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

build/fuzz/bin/%: tests/fuzz/targets.c build/fuzz/libvt.a build/fuzz/stb_image.o
	@mkdir -p $(dir $@) build/fuzz/dep
	$(FUZZ_CC) $(FUZZ_WARN) $(FUZZ_SAN) -fsanitize=fuzzer,address,undefined -DVT_FUZZ_TARGET=$* -DVT_FUZZ_ONLY_$* -MMD -MP \
	  -MF build/fuzz/dep/$*.d $< $(if $(filter image,$*),build/fuzz/stb_image.o) build/fuzz/libvt.a $(FUZZ_LIBS) -o $@

-include $(shell find build/fuzz -name '*.d' 2>/dev/null)

fuzz-build: deps-fuzz
	@$(MAKE) --no-print-directory $(addprefix build/fuzz/bin/,$(FUZZ_TARGETS))

fuzz-corpus:
	@/usr/bin/python3 tests/fuzz/make_corpus.py build/fuzz/corpus

# Each target in turn: corpus build/fuzz/corpus/<t> (grows), the checked-in crashes as extra seeds,
# a log in build/fuzz/log/<t>.log; the stats line (or the crash and its input) is printed.
fuzz: fuzz-build fuzz-corpus
	@mkdir -p build/fuzz/log build/fuzz/tmp
	@for t in $(FUZZ_TARGETS); do \
	  mkdir -p build/fuzz/crash/$$t tests/fuzz/regress/$$t; \
	  case $$t in \
	    st_header) len=$(FUZZ_MAXLEN_st_header); dict=$(FUZZ_DICT_st_header);; \
	    st_index) len=$(FUZZ_MAXLEN_st_index); dict=$(FUZZ_DICT_st_index);; \
	    npy) len=$(FUZZ_MAXLEN_npy); dict=$(FUZZ_DICT_npy);; \
	    manifest) len=$(FUZZ_MAXLEN_manifest); dict=$(FUZZ_DICT_manifest);; \
	    config) len=$(FUZZ_MAXLEN_config); dict=$(FUZZ_DICT_config);; \
	    preproc) len=$(FUZZ_MAXLEN_preproc); dict=$(FUZZ_DICT_preproc);; \
	    image) len=$(FUZZ_MAXLEN_image); dict=$(FUZZ_DICT_image);; \
	    tokens) len=$(FUZZ_MAXLEN_tokens); dict=$(FUZZ_DICT_tokens);; \
	    args) len=$(FUZZ_MAXLEN_args); dict=$(FUZZ_DICT_args);; \
	    tok_json) len=$(FUZZ_MAXLEN_tok_json); dict=$(FUZZ_DICT_tok_json);; \
	    tok_encode) len=$(FUZZ_MAXLEN_tok_encode); dict=$(FUZZ_DICT_tok_encode);; \
	    *) len=$(FUZZ_MAXLEN_layout); dict=$(FUZZ_DICT_layout);; \
	  esac; \
	  echo "== fuzz $$t for $(FUZZ_SECONDS) s (log: build/fuzz/log/$$t.log)"; \
	  if ! $(FUZZ_ENV) build/fuzz/bin/$$t -max_total_time=$(FUZZ_SECONDS) -timeout=10 -rss_limit_mb=$(FUZZ_RSS_MB) \
	       -max_len=$$len -dict=tests/fuzz/dict/$$dict.dict -artifact_prefix=build/fuzz/crash/$$t/ \
	       -print_final_stats=1 build/fuzz/corpus/$$t tests/fuzz/regress/$$t > build/fuzz/log/$$t.log 2>&1; then \
	    tail -n 40 build/fuzz/log/$$t.log; \
	    echo "FUZZ FAILED: $$t; the input: $$(ls -t build/fuzz/crash/$$t/* 2>/dev/null | head -n 1)"; \
	    echo "  reproduce: build/fuzz/bin/$$t <that file>; then add it under tests/fuzz/regress/$$t/"; \
	    exit 1; \
	  fi; \
	  awk -v t=$$t '/stat::number_of_executed_units/ {n=$$2} /stat::peak_rss_mb/ {r=$$2} /DONE/ {c=$$4} \
	    END {printf "   %s: %s runs, coverage %s, peak RSS %s MB, clean\n", t, n, c, r}' build/fuzz/log/$$t.log; \
	done; \
	echo "fuzz: all $(words $(FUZZ_TARGETS)) targets ran $(FUZZ_SECONDS) s each with no crash"
