/* Which kernel tables this build has, and the floating-point environment they run in. */
#include "kernels.h"

#include <stddef.h>

#if defined(__x86_64__)
#include <xmmintrin.h>
#define MXCSR_MODEL 0x9FC0u /* all exceptions masked, DAZ (0x40), FTZ (0x8000), round to nearest */
#elif defined(__aarch64__)
#include "aarch64_fp.h"
/* FPCR for the NEON kernels: FZ (flush, tininess before rounding; v_neon.h makes that exact),
 * round to nearest (RMode 0), no traps, no default NaN, no alternative (AH/FIZ) behaviour. The
 * scalar reference gets the same with FZ off: isa/f32.c decides FTZ from IEEE results. */
#define FPCR_NEON FPCR_FZ
#define FPCR_SCALAR UINT64_C(0)
#define ENV_UFC 0x80000000u /* in fpenv.saved (FPCR bit 31 is RES0): FPSR.UFC was set on entry */
#endif

const cpu_kernels *cpu_kernels_for(simd_level level)
{
    switch (level) {
    case SIMD_SCALAR: return &cpu_kernels_scalar;
#if defined(__x86_64__)
    case SIMD_SSE2: return &cpu_kernels_sse2;
    case SIMD_AVX2: return &cpu_kernels_avx2;
    case SIMD_AVX512: return &cpu_kernels_avx512;
#endif
#if defined(__aarch64__)
    case SIMD_NEON: return &cpu_kernels_neon;
#endif
    default: return NULL;
    }
}

int64_t attn_scratch_floats(const attn_shape *s)
{
    return s->d * ATTN_BLOCK + 2 * ATTN_ROWS + 4 * ATTN_BLOCK + 64; /* + room for any ATT_G up to 4 */
}

fpenv fpenv_enter(simd_level level)
{
    fpenv env = {0};
#if defined(__x86_64__)
    if (level != SIMD_SCALAR) {
        env.saved = _mm_getcsr();
        _mm_setcsr(MXCSR_MODEL);
    }
#elif defined(__aarch64__)
    uint64_t cur = get_fpcr(), want = level == SIMD_SCALAR ? FPCR_SCALAR : FPCR_NEON;
    env.saved = (uint32_t)cur;
    if (cur != want) set_fpcr(want); /* writing FPCR can be slow: only when it changes */
    /* The NEON kernels clear and test UFC (simd_neon.c); the caller's flag is put back. */
    if (level != SIMD_SCALAR && (get_fpsr() & FPSR_UFC)) env.saved |= ENV_UFC;
#else
    (void)level;
#endif
    return env;
}

void fpenv_leave(simd_level level, fpenv env)
{
#if defined(__x86_64__)
    if (level != SIMD_SCALAR) _mm_setcsr(env.saved);
#elif defined(__aarch64__)
    uint64_t fpcr = env.saved & ~ENV_UFC;
    if (get_fpcr() != fpcr) set_fpcr(fpcr);
    if (level != SIMD_SCALAR) {
        uint64_t s = get_fpsr(), t = (env.saved & ENV_UFC) ? (s | FPSR_UFC) : (s & ~FPSR_UFC);
        if (s != t) set_fpsr(t);
    }
#else
    (void)level;
    (void)env;
#endif
}
