/* AArch64 Advanced SIMD (NEON) vectors for kern_template.h: 4 lanes, fused FMLA/FMLS.
 *
 * How the kernels stay bit-exact with the f32 model (docs/ops.md 1)
 * -----------------------------------------------------------------
 * The model is x86's DAZ|FTZ: subnormal inputs read as zero, and a result is flushed when it is
 * tiny AFTER rounding. AArch64 has one flush bit, FPCR.FZ, which does both jobs but decides
 * tininess BEFORE rounding: an exact result in [FLT_MIN - 2^-151, FLT_MIN) becomes 0 on ARM but
 * FLT_MIN in the model (e.g. 2^-63(1+2^-13) * 2^-63(1-2^-13)). Everything else agrees:
 *   - inputs: FZ=1 reads subnormal operands as zero of the same sign, which is DAZ (this raises
 *     FPSR.IDC, not UFC);
 *   - results whose exact value is >= FLT_MIN in magnitude are rounded identically;
 *   - results flushed by both are the zero with the sign of the exact result in both;
 *   - NaN payloads may differ, which the model allows inside an op (vcanon at every output).
 * So with FZ=1 (and round to nearest; fpenv_enter in kernels_select.c sets FPCR = FZ) a result
 * can differ from the model only if the hardware flushed it, and every flush of a result sets the
 * sticky FPSR.UFC (underflow cumulative, bit 3), exact or not. simd_neon.c therefore wraps each
 * template kernel: clear UFC, run one unit of work (a GEMM micro-tile over one kc block, a
 * softmax row, a 1024-element TMUL run, an attention item of up to 32 query rows), read UFC; if
 * it is set, the unit is recomputed with the scalar reference (f32_fma, ref_softmax,
 * ref_attention_rows, f32_mul) with FZ cleared for the duration, from inputs kept intact for that
 * purpose (the GEMM tile's incoming chain values are saved first, an in-place softmax row is
 * copied first, a TMUL run that overwrites an operand goes through a buffer). The scalar
 * reference never runs with FZ=1: its fmaf/multiply slow paths (isa/f32.c) see a flushed 0
 * instead of the FLT_MIN they must re-examine and would lose the FLT_MIN result.
 * Checked under qemu-user (tests/neon/neon_diff.c): a flushed result sets UFC, exact or not.
 *
 * The scalar f32_* calls the template makes inside a unit (f32_recip, f32_max, f32_fma) run with
 * FZ=1 too; they can only go wrong through a native op that flushed, which sets UFC and so is
 * caught by the same check.
 *
 * A fallback costs a scalar recomputation, so the template's exp keeps the lanes it sends to +0
 * from underflowing (it computes them from -88, where s is a subnormal that FZ reads as 0, which
 * raises IDC, not UFC) and the attention rescale factor uses it (KEXP1): softmax
 * rows holding -inf or far-below-max entries, and the first key block of every attention row
 * (exp(-inf)), would otherwise always fall back. Only arguments in the last 0.03 below
 * ln(FLT_MIN), whose results are near FLT_MIN, still underflow. TADD/TSUB need no check: a sum of DAZ'd operands that is
 * below FLT_MIN is exact, and both the model and FZ write it as the zero of its sign. RELU
 * only compares. On random normal data no unit falls back (neon_diff counts them).
 */
#include "../../../isa/f32.h"

#include <arm_neon.h>
#include <stdint.h>

#define VW 4
typedef float32x4_t V;
typedef uint32x4_t VM; /* lane masks */
/* The template's own table is the unchecked one; simd_neon.c exports cpu_kernels_neon, which
 * wraps its entries in the UFC checks described above. */
#define KSUFFIX(name) name##_neon_unchecked
#define GEMM_MR 6 /* 6 x 12: 18 accumulators, 3 of B, 6 of A; 8 x 12 spills (GCC loads A as scalars) */
#define GEMM_NV 3
#define ATT_G 1

static inline V vzero(void) { return vdupq_n_f32(0.0f); }
static inline V vset(float x) { return vdupq_n_f32(x); }
static inline V vbits(uint32_t u) { return vreinterpretq_f32_u32(vdupq_n_u32(u)); }
static inline V vload(const float *p) { return vld1q_f32(p); }
static inline void vstore(float *p, V v) { vst1q_f32(p, v); }
static inline V vload_n(const float *p, int n, float fill)
{
    float t[VW];
    for (int i = 0; i < VW; i++) t[i] = i < n ? p[i] : fill;
    return vld1q_f32(t);
}
static inline void vstore_n(float *p, V v, int n)
{
    float t[VW];
    vst1q_f32(t, v);
    for (int i = 0; i < n; i++) p[i] = t[i];
}
static inline V vadd(V a, V b) { return vaddq_f32(a, b); }
static inline V vsub(V a, V b) { return vsubq_f32(a, b); }
static inline V vmul(V a, V b) { return vmulq_f32(a, b); }
static inline V vfma(V a, V b, V c) { return vfmaq_f32(c, a, b); }  /* c + a*b, rounded once */
static inline V vfnma(V a, V b, V c) { return vfmsq_f32(c, a, b); } /* c - a*b, rounded once */
static inline V vsel(VM mask, V yes, V no) { return vbslq_f32(mask, yes, no); }
static inline VM visnan(V x) { return vmvnq_u32(vceqq_f32(x, x)); }
static inline V vcanon(V x) { return vsel(visnan(x), vbits(0x7FC00000u), x); }
/* The hardware max (FMAX): right but for NaN and zeros, which the template's finish_max accounts for.
 * Under FZ a subnormal operand reads as zero, so a max below FLT_MIN comes out as a zero. */
static inline V vmax_hw(V a, V b) { return vmaxq_f32(a, b); }
/* Compares read subnormals as zero under FZ, so a positive subnormal gives +0. */
static inline V vrelu(V x)
{
    V r = vreinterpretq_f32_u32(vandq_u32(vcgtq_f32(x, vzero()), vreinterpretq_u32_f32(x)));
    return vsel(visnan(x), vbits(0x7FC00000u), r);
}
/* As the x86 levels: by comparisons, equal values (+0/-0) and-ed so +0 wins; NaN canonical.
 * The template passes DAZ'd operands. */
static inline V vmax_model(V a, V b)
{
    V r = vreinterpretq_f32_u32(vandq_u32(vreinterpretq_u32_f32(a), vreinterpretq_u32_f32(b)));
    r = vsel(vcgtq_f32(a, b), a, r);
    r = vsel(vcgtq_f32(b, a), b, r);
    return vsel(vorrq_u32(visnan(a), visnan(b)), vbits(0x7FC00000u), r);
}
static inline V vdaz(V x) { return vmulq_f32(x, vset(1.0f)); } /* FZ reads a subnormal as 0 */

/* exp's scale s = 2^(j/16) * 2^k from t = 1.5*2^23 + n (v_avx512.h says how): the 64-byte
 * table through TBL, byte b of lane l reading table byte 4j + b. */
static inline V vexp_scale(V t)
{
    uint32x4_t tb = vreinterpretq_u32_f32(t);
    const uint8_t *tab = (const uint8_t *)f32_exp_scale_table;
    uint8x16x4_t tv = {{vld1q_u8(tab), vld1q_u8(tab + 16), vld1q_u8(tab + 32), vld1q_u8(tab + 48)}};
    uint32x4_t idx = vmlaq_u32(vdupq_n_u32(0x03020100u), vandq_u32(tb, vdupq_n_u32(15u)), vdupq_n_u32(0x04040404u));
    uint32x4_t sv = vreinterpretq_u32_u8(vqtbl4q_u8(tv, vreinterpretq_u8_u32(idx)));
    return vreinterpretq_f32_u32(vaddq_u32(sv, vshlq_n_u32(tb, 19)));
}
/* No streaming stores here: the template's softmax then writes as usual. */
static inline void vstream(float *p, V v) { vst1q_f32(p, v); }
static inline void vstream_fence(void) {}
static inline float vtree_max_hw(V x) { return vmaxvq_f32(x); }
/* Lanes 0..3 folded as 1.3's tree: (l0 + l2) + (l1 + l3). */
static inline float vtree_sum(V x)
{
    V s = vaddq_f32(x, vextq_f32(x, x, 2));
    return vgetq_lane_f32(s, 0) + vgetq_lane_f32(s, 1);
}
static inline void vto_array(V x, float *out) { vst1q_f32(out, x); }

/* 4 x 4 transpose in registers (bit moves only). */
static inline void vtranspose(V *r)
{
    V t0 = vtrn1q_f32(r[0], r[1]), t1 = vtrn2q_f32(r[0], r[1]); /* a0 b0 a2 b2, a1 b1 a3 b3 */
    V t2 = vtrn1q_f32(r[2], r[3]), t3 = vtrn2q_f32(r[2], r[3]); /* c0 d0 c2 d2, c1 d1 c3 d3 */
    r[0] = vreinterpretq_f32_f64(vtrn1q_f64(vreinterpretq_f64_f32(t0), vreinterpretq_f64_f32(t2)));
    r[1] = vreinterpretq_f32_f64(vtrn1q_f64(vreinterpretq_f64_f32(t1), vreinterpretq_f64_f32(t3)));
    r[2] = vreinterpretq_f32_f64(vtrn2q_f64(vreinterpretq_f64_f32(t0), vreinterpretq_f64_f32(t2)));
    r[3] = vreinterpretq_f32_f64(vtrn2q_f64(vreinterpretq_f64_f32(t1), vreinterpretq_f64_f32(t3)));
}

/* The attention rescale factor exp(m_old - m_new) (kern_template.h's KEXP1 hook): f32_exp's bits
 * by the vector exp above, which never raises underflow (exp(-inf) on the first key block of
 * every row would, through f32_exp's scalar multiplies). Defined in simd_neon.c. */
static float neon_exp1(float x);
#define KEXP1 neon_exp1
