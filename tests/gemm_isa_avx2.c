/* gemm_isa_avx2.c -- ref/core/gemm.c again, with its micro-kernel compiled for x86-64-v3 (AVX2 + FMA) alone and
 * sweeping 4 x 16 sub-tiles (the clone a CPU without AVX-512 runs), its entry points renamed
 * vt_gemm_*_avx2. Linked into test_kernels only, which checks it against the clone the loader picks
 * (gemm.c: every clone and every sweep computes the same fmaf chains). Only where the clones exist (x86-64
 * GCC, core/isa.h); elsewhere this file is empty and test_kernels does not call it. */
#include "core/isa.h"

#if VT_ISA_HAS_CLONES
#define VT_GEMM_ONE_TARGET __attribute__((target("arch=x86-64-v3")))
#define VT_GEMM_WIDE 0
#define vt_gemm_pack vt_gemm_pack_avx2
#define vt_gemm_packed vt_gemm_packed_avx2
#define vt_gemm_abt vt_gemm_abt_avx2
#define vt_gemm_abt_mat vt_gemm_abt_mat_avx2
#include "../ref/core/gemm.c"
#else
typedef int vt_gemm_isa_avx2_absent; /* ISO C wants a declaration in every file */
#endif
