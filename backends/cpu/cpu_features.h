/* What the host CPU can do: SIMD level (CPUID + XGETBV on x86, always NEON on AArch64), cores,
 * caches. Read once; the CPU executor picks its kernels from it. */
#ifndef ADEAD_CPU_FEATURES_H
#define ADEAD_CPU_FEATURES_H

#include <stdint.h>

typedef enum { SIMD_SCALAR, SIMD_SSE2, SIMD_AVX2, SIMD_AVX512, SIMD_NEON, SIMD_LEVELS } simd_level;

typedef struct {
    simd_level best;         /* the widest level the CPU and the OS both support */
    unsigned has[SIMD_LEVELS]; /* per level: usable on this host */
    int cores;               /* online logical CPUs */
    uint32_t l1d, l2, l3;    /* data cache sizes in bytes (0: unknown) */
    char brand[64];
    char model[64]; /* "family 25 model 17 stepping 1, Zen 4" (x86 CPUID), "" elsewhere: brand strings
                     * such as "AMD EPYC" name no generation */
} cpu_info;

/* Detected once (thread-safe); never NULL. */
const cpu_info *cpu_detect(void);
const char *simd_name(simd_level level);
/* "scalar", "sse2", "avx2", "avx512", "neon" (case-insensitive) -> level, or -1. */
int simd_from_name(const char *name);
/* Features as text for `adead-vm --info`: "avx512 (avx512f avx512bw ...)". */
void cpu_feature_text(char *buf, unsigned len);

#endif
