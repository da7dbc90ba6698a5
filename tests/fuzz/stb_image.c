/*
 * stb_image.c -- stb_image compiled from Debian's header (libstb-dev) into the image fuzzer, so the
 * decoder itself is instrumented: libFuzzer sees its branches and ASan checks its accesses. The same
 * source, with the same default options, as the libstb shared library the program links.
 */
#define STB_IMAGE_IMPLEMENTATION
#include <stb/stb_image.h>
