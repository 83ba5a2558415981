/* The CPU kernel table: one per SIMD level (scalar, SSE2, AVX2, AVX-512, NEON). Every entry
 * computes the bits of the scalar reference (ref_ops.c, docs/ops.md); the drivers in
 * cpu_matmul.c / cpu_ops.c cut the work into items for the thread pool and call these.
 *
 * SIMD entries expect the floating-point environment the drivers set around them
 * (fpenv_enter): on x86 MXCSR = DAZ|FTZ|round-to-nearest with exceptions masked, which is the
 * f32 model in hardware; on AArch64 FPCR = FZ|round-to-nearest, which flushes before rounding
 * (simd/v_neon.h says how the NEON entries stay exact). */
#ifndef ADEAD_KERNELS_H
#define ADEAD_KERNELS_H

#include "cpu_features.h"

#include <stdint.h>

enum { KOP_ADD, KOP_SUB, KOP_MUL };

/* ATTENTION geometry for one (batch, head) slice: q [sq, d], k [sk, d], v [sk, dv], o [sq, dv]. */
typedef struct {
    int64_t sq, sk, d, dv;
    int causal;
    float scale;
} attn_shape;

/* Keys query row i sees: all of them, or with the causal mask those j <= i + sk - sq (the mask
 * aligned at the last key). */
static inline int64_t attn_visible_keys(const attn_shape *s, int64_t i)
{
    if (!s->causal) return s->sk;
    int64_t n = i + 1 + s->sk - s->sq;
    return n < 0 ? 0 : n > s->sk ? s->sk : n;
}

#define ATTN_BLOCK 64 /* keys per block of the online softmax (docs/ops.md) */
#define ATTN_ROWS 32  /* most query rows one attention_rows call takes (a pool item) */

typedef struct cpu_kernels {
    simd_level level;
    int mr, nr; /* MATMUL micro-tile: mr rows of A x nr columns of B */
    /* c[mr][nr] (row stride ldc) = (first ? +0.0 : c) then the fma chain over kc steps with A's
     * element (i, k) at a[i*ars + k*acs] and the packed panel b[kc][nr]; canonicalised when last. */
    void (*gemm_micro)(int64_t kc, const float *a, int64_t ars, int64_t acs, const float *b, float *c, int64_t ldc,
                       int first, int last);
    /* Softmax of `rows` rows of length n; in == out allowed. tmp: NULL, or scratch for two
     * rows (2n floats), which lets the kernel overlap the rows' loads and stores with its
     * arithmetic (past SOFTMAX_TMP_ROW the driver gives it only with stream); stream (with
     * tmp): write the output with streaming stores, for outputs too big to stay in the caches
     * (levels that have them). */
    void (*softmax_rows)(const float *in, float *out, int64_t rows, int64_t n, float *tmp, int stream);
    void (*relu)(const float *in, float *out, int64_t count);
    /* out[i] = a[i*sa] op b[i*sb] for i < n; sa and sb are 0 or 1; out may be a or b. */
    void (*binary)(int op, const float *a, int64_t sa, const float *b, int64_t sb, float *out, int64_t n);
    /* dst[j*ldd + i] = src[i*lds + j] for i, j < tile (32-bit elements, moved as bits); NULL
     * (tile 0) at the scalar level. */
    int tile;
    void (*transpose_tile32)(const float *src, int64_t lds, float *dst, int64_t ldd);
    /* Query rows [r0, r1) of one head; scratch holds attn_scratch_floats(shape) floats. */
    void (*attention_rows)(const attn_shape *s, const float *q, const float *k, const float *v, float *o, int64_t r0,
                           int64_t r1, float *scratch);
    /* For tests: y[i] = exp(x[i]) (docs/ops.md 1.2) for x[i] <= 0 or NaN, as SOFTMAX and
     * ATTENTION compute it. */
    void (*exp_nonpos)(const float *x, float *y, int64_t n);
} cpu_kernels;

/* The longest row whose next row's max softmax_rows takes in its exp loop: two rows of
 * scratch, 16 KiB. Past it the rows read and written no longer fit the 48 KiB L1 of Zen 5 four
 * at a time, and a store that misses the L1 costs more than a pass: that loop ran n = 4096 at
 * 10.4 cycles per 16 elements, against 7.9 with the exps kept in y and each row scaled in place
 * (the cached path past this size); at n = 2048 it still wins (6.5 against 7.2). */
#define SOFTMAX_TMP_ROW 2048

/* The longest row whose exp loop takes the max of the row two ahead, not the next one. A row's
 * exps wait for its max, which the loop before finished last: with short rows that wait is
 * long beside the work in flight, and the out-of-order window runs dry at every row. Two rows
 * ahead, in cache on Zen 5 (AVX-512, calls of 64K elements as the driver makes them, cycles
 * per 16 elements): n = 64 12.6 -> 11.3, 256 8.1 -> 7.45, 512 7.2 -> 6.65; at 1024 it loses
 * (6.3 -> 6.5), and at 2048 the sixth row in flight crowds the L1 (6.65 -> 7.1). AVX2: 1-3%. */
#define SOFTMAX_TWO_AHEAD_ROW 512

/* The longest row the driver gives scratch to when the output streams (two rows: 1 MiB per
 * worker; an LLM's vocabulary of 128K fits). The exps then go to the scratch, which lets y be
 * streamed: 4096 x 4096 in memory on Zen 5 runs at 36-48 GB/s against 24-30 with the exps in y,
 * 131072-element rows at 28-31 against 23-25. Past it the gain falls to 10%, not worth 2n
 * floats per worker held by the executor. */
#define SOFTMAX_LONG_ROW 131072

/* The table for a level, or NULL when this build has no kernels for it (e.g. AVX-512 on an
 * AArch64 build). The scalar table is always there. */
const cpu_kernels *cpu_kernels_for(simd_level level);

extern const cpu_kernels cpu_kernels_scalar;
extern const cpu_kernels cpu_kernels_sse2;
extern const cpu_kernels cpu_kernels_avx2;
extern const cpu_kernels cpu_kernels_avx512;
extern const cpu_kernels cpu_kernels_neon;

int64_t attn_scratch_floats(const attn_shape *s);

/* The f32 model's floating-point environment for the SIMD kernels; returns what to restore. */
typedef struct {
    uint32_t saved;
} fpenv;
fpenv fpenv_enter(simd_level level);
void fpenv_leave(simd_level level, fpenv env);

#endif
