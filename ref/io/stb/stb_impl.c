/*
 * stb_impl.c -- stb's own code, compiled from its headers: stb_image (decoding, ref/io/image.c) and
 * stb_image_write (PNG writing, trace/viz/viz.c). Built only with `make STB=headers`, for a system that
 * has stb's headers but no compiled libstb (Homebrew; README.md, "Other compilers and platforms");
 * Debian's builds link libstb (-lstb), which is this same source with the same default options.
 * `make test` builds the clang suite this way, so the path is tested (tests/same_bits.sh compares its
 * pictures and decoded images with the gcc build's, which links libstb).
 *
 * One folder below ref/io/ so that the Makefile's ref/<folder>/*.c does not pick it up, and compiled
 * without our warnings (-w): stb's code is not ours to change. Includes nothing of ours.
 */
#define STB_IMAGE_IMPLEMENTATION
#include <stb/stb_image.h>

#define STB_IMAGE_WRITE_IMPLEMENTATION
#include <stb/stb_image_write.h>
