/* Which kernel tables this build has, and the floating-point environment they run in. */
#include "kernels.h"

#include <stddef.h>

#if defined(__x86_64__)
#include <xmmintrin.h>
#define MXCSR_MODEL 0x9FC0u /* all exceptions masked, DAZ (0x40), FTZ (0x8000), round to nearest */
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
#if defined(__aarch64__) && defined(ADEAD_HAVE_NEON_KERNELS)
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
#else
    (void)level;
#endif
    return env;
}

void fpenv_leave(simd_level level, fpenv env)
{
#if defined(__x86_64__)
    if (level != SIMD_SCALAR) _mm_setcsr(env.saved);
#else
    (void)level;
    (void)env;
#endif
}
