/* AArch64 floating-point control (FPCR) and status (FPSR) registers. The asm statements are
 * volatile and clobber memory, so no floating-point operation moves across them. */
#ifndef ADEAD_AARCH64_FP_H
#define ADEAD_AARCH64_FP_H

#include <stdint.h>

#define FPCR_FZ (UINT64_C(1) << 24)   /* flush to zero (tininess before rounding) */
#define FPSR_UFC (UINT64_C(1) << 3)   /* underflow, cumulative: set by every flush of a result */

static inline uint64_t get_fpcr(void)
{
    uint64_t x;
    __asm__ volatile("mrs %0, fpcr" : "=r"(x) : : "memory");
    return x;
}
static inline void set_fpcr(uint64_t x) { __asm__ volatile("msr fpcr, %0" : : "r"(x) : "memory"); }
static inline uint64_t get_fpsr(void)
{
    uint64_t x;
    __asm__ volatile("mrs %0, fpsr" : "=r"(x) : : "memory");
    return x;
}
static inline void set_fpsr(uint64_t x) { __asm__ volatile("msr fpsr, %0" : : "r"(x) : "memory"); }

#endif
