/* gemm_isa_base.c -- ref/core/gemm.c again, with its micro-kernel compiled for the x86-64 baseline alone (SSE2,
 * fmaf from libm: the clone an old CPU runs) and sweeping the whole 8 x 32 tile at once (as the AVX-512
 * clone does), its entry points renamed vt_gemm_*_base. Linked into test_kernels only, which checks it
 * against the clone the loader picks. Only where the clones exist (x86-64 GCC, core/isa.h); elsewhere this
 * file is empty and test_kernels does not call it. */
#include "core/isa.h"

#if VT_ISA_HAS_CLONES
#define VT_GEMM_ONE_TARGET /* no target attribute: the flags' baseline */
#define VT_GEMM_WIDE 1
#define vt_gemm_pack vt_gemm_pack_base
#define vt_gemm_packed vt_gemm_packed_base
#define vt_gemm_abt vt_gemm_abt_base
#define vt_gemm_abt_mat vt_gemm_abt_mat_base
#include "../ref/core/gemm.c"
#else
typedef int vt_gemm_isa_base_absent; /* ISO C wants a declaration in every file */
#endif
