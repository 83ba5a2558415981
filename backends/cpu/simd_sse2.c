/* The sse2 kernel table (built with its own -m flags; see the Makefile). */
#if defined(__x86_64__)
#define KLEVEL SIMD_SSE2
#include "simd/v_sse2.h"
#include "simd/kern_template.h"
#else
typedef int simd_sse2_not_on_this_architecture;
#endif
