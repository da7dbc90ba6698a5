/*
 * isa.h -- where a kernel is compiled once per x86-64 instruction set, and the plain build everywhere else.
 *
 *     VT_ISA_CLONES           void f(...)      // the attribute below, or nothing
 *     #if VT_ISA_HAS_CLONES   ...              // code that only makes sense with the clones
 *
 * On x86-64 with GCC, `target_clones` compiles the function for x86-64-v4 (AVX-512), x86-64-v3 (AVX2 +
 * FMA) and the baseline, and the loader picks one for the CPU (an ifunc). Everywhere else -- clang (whose
 * release 14 exports a non-static clone under another symbol, so vt_softmax_row_at does not link, and
 * does not know the "x86-64-v4" feature strings), arm64, Apple Silicon -- the function is compiled once,
 * for the flags' target. Every variant computes the same operations in the same order (fmaf where the
 * code writes it, -ffp-contract=off everywhere else), so the choice changes speed only, never a bit.
 */
#ifndef VT_ISA_H
#define VT_ISA_H

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define VT_ISA_HAS_CLONES 1
#define VT_ISA_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define VT_ISA_HAS_CLONES 0
#define VT_ISA_CLONES
#endif

#endif
