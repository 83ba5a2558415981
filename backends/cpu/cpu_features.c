/* CPU detection: CPUID leaves 1, 7 and 0xD plus XGETBV (the OS must save the wide registers,
 * or AVX instructions fault even where CPUID lists them). */
#include "cpu_features.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#define ADEAD_X86 1
#endif

static cpu_info info;
static pthread_once_t once = PTHREAD_ONCE_INIT;
static char feature_list[160];

static const char *const names[SIMD_LEVELS] = {"scalar", "sse2", "avx2", "avx512", "neon"};

const char *simd_name(simd_level level) { return (unsigned)level < SIMD_LEVELS ? names[level] : "?"; }

int simd_from_name(const char *name)
{
    for (int i = 0; i < SIMD_LEVELS; i++)
        if (name && !strcasecmp(name, names[i])) return i;
    return -1;
}

static void add_feature(const char *f)
{
    size_t n = strlen(feature_list);
    snprintf(feature_list + n, sizeof feature_list - n, "%s%s", n ? " " : "", f);
}

static uint32_t sysfs_cache(int index)
{
    char path[96], text[32];
    snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu0/cache/index%d/size", index);
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    uint32_t kb = 0;
    if (fgets(text, sizeof text, f)) {
        char unit = 0;
        if (sscanf(text, "%u%c", &kb, &unit) >= 1 && unit == 'M') kb *= 1024;
    }
    fclose(f);
    return kb * 1024u;
}

/* Linux lists cache index0..3 as L1d, L1i, L2, L3 on x86 and AArch64 alike; check the type. */
static void read_caches(void)
{
    for (int i = 0; i < 8; i++) {
        char path[96], type[32] = "", level[8] = "";
        snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu0/cache/index%d/type", i);
        FILE *f = fopen(path, "r");
        if (!f) break;
        if (!fgets(type, sizeof type, f)) type[0] = 0;
        fclose(f);
        snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu0/cache/index%d/level", i);
        if ((f = fopen(path, "r"))) {
            if (!fgets(level, sizeof level, f)) level[0] = 0;
            fclose(f);
        }
        if (!strncmp(type, "Instruction", 11)) continue;
        uint32_t size = sysfs_cache(i);
        if (level[0] == '1') info.l1d = size;
        if (level[0] == '2') info.l2 = size;
        if (level[0] == '3') info.l3 = size;
    }
}

#ifdef ADEAD_X86
static uint64_t xgetbv0(void)
{
    uint32_t lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((uint64_t)hi << 32) | lo;
}

static void detect_x86(void)
{
    unsigned a, b, c, d;
    info.has[SIMD_SSE2] = 1; /* x86-64 baseline */
    add_feature("sse2");
    if (!__get_cpuid(1, &a, &b, &c, &d)) return;
    int fma = (c >> 12) & 1, osxsave = (c >> 27) & 1, avx = (c >> 28) & 1;
    if (!osxsave || !avx) return;
    uint64_t xcr0 = xgetbv0();
    int os_ymm = (xcr0 & 6) == 6, os_zmm = (xcr0 & 0xE6) == 0xE6;
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return;
    int avx2 = (b >> 5) & 1, avx512f = (b >> 16) & 1, avx512dq = (b >> 17) & 1, avx512bw = (b >> 30) & 1,
        avx512vl = (b >> 31) & 1;
    if (fma) add_feature("fma");
    if (avx2) add_feature("avx2");
    if (avx512f) add_feature("avx512f");
    if (avx512bw) add_feature("avx512bw");
    if (avx512dq) add_feature("avx512dq");
    if (avx512vl) add_feature("avx512vl");
    if (!os_ymm) add_feature("(OS does not save ymm)");
    else if (avx512f && !os_zmm) add_feature("(OS does not save zmm)");
    info.has[SIMD_AVX2] = os_ymm && avx2 && fma;
    info.has[SIMD_AVX512] = info.has[SIMD_AVX2] && os_zmm && avx512f && avx512bw && avx512dq && avx512vl;
}

/* AMD's generations by family and model (Intel's numbers are printed bare). */
static const char *amd_core(unsigned family, unsigned model)
{
    if (family == 0x17) return model >= 0x30 ? "Zen 2" : "Zen / Zen+";
    if (family == 0x19) return (model >= 0x10 && model <= 0x1F) || (model >= 0x60 && model <= 0xAF) ? "Zen 4" : "Zen 3";
    if (family == 0x1A) return "Zen 5";
    return NULL;
}

static void read_model(void)
{
    unsigned a, b, c, d, v[4] = {0, 0, 0, 0};
    if (!__get_cpuid(0, &v[0], &v[1], &v[2], &v[3]) || !__get_cpuid(1, &a, &b, &c, &d)) return;
    unsigned base_family = (a >> 8) & 0xF, family = base_family, model = (a >> 4) & 0xF, stepping = a & 0xF;
    if (base_family == 0xF) family += (a >> 20) & 0xFF;
    if (base_family == 0xF || base_family == 0x6) model |= ((a >> 16) & 0xF) << 4;
    int amd = v[1] == 0x68747541u; /* "Auth"enticAMD */
    const char *core = amd ? amd_core(family, model) : NULL;
    snprintf(info.model, sizeof info.model, "family %u model %u stepping %u%s%s", family, model, stepping, core ? ", " : "",
             core ? core : "");
}

static void read_brand(void)
{
    unsigned r[12];
    if (!__get_cpuid(0x80000000u, &r[0], &r[1], &r[2], &r[3]) || r[0] < 0x80000004u) return;
    for (unsigned i = 0; i < 3; i++) __get_cpuid(0x80000002u + i, &r[4 * i], &r[4 * i + 1], &r[4 * i + 2], &r[4 * i + 3]);
    memcpy(info.brand, r, 48);
    info.brand[48] = 0;
}
#endif

static void detect(void)
{
    info.has[SIMD_SCALAR] = 1;
#ifdef ADEAD_X86
    detect_x86();
    read_brand();
    read_model();
#elif defined(__aarch64__)
    info.has[SIMD_NEON] = 1; /* Advanced SIMD is mandatory on AArch64 */
    add_feature("neon");
#endif
    info.best = SIMD_SCALAR;
    for (int l = 0; l < SIMD_LEVELS; l++)
        if (info.has[l]) info.best = (simd_level)l;
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    info.cores = n > 0 ? (int)n : 1;
    read_caches();
    /* Trim the brand's padding. */
    size_t s = 0, e = strlen(info.brand);
    while (info.brand[s] == ' ') s++;
    while (e > s && info.brand[e - 1] == ' ') e--;
    memmove(info.brand, info.brand + s, e - s);
    info.brand[e - s] = 0;
    if (!info.brand[0]) snprintf(info.brand, sizeof info.brand, "unknown");
}

const cpu_info *cpu_detect(void)
{
    pthread_once(&once, detect);
    return &info;
}

void cpu_feature_text(char *buf, unsigned len)
{
    const cpu_info *ci = cpu_detect();
    snprintf(buf, len, "%s (%s)", simd_name(ci->best), feature_list[0] ? feature_list : "no SIMD");
}
