# tests/memcheck.mk -- `make memcheck` (issue #15): bin/vlmtrace, the -O2 -g build without sanitizers, under
# valgrind's memcheck over every command-line path, normal and failing (tests/memcheck.sh lists them;
# tests/memcheck.supp holds the one suppression, libgomp's per-thread TLS). Included by the Makefile.

DEBS_MEMCHECK := $(DEBS_BUILD) valgrind

.PHONY: memcheck deps-memcheck

deps-memcheck:
	$(call ensure_debs,$(DEBS_MEMCHECK))

memcheck: deps-memcheck
	@$(MAKE) --no-print-directory bin/vlmtrace
	@sh tests/memcheck.sh bin/vlmtrace
