/* The avx512 kernel table (built with its own -m flags; see the Makefile). */
#if defined(__x86_64__)
#define KLEVEL SIMD_AVX512
#include "simd/v_avx512.h"
#include "simd/kern_template.h"
#else
typedef int simd_avx512_not_on_this_architecture;
#endif
