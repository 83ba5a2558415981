/* Differential test of the NEON kernels (backends/cpu/simd_neon.c, v_neon.h): every tensor op
 * the CPU executor runs, at levels scalar and neon and at 1, 2 and 7 threads, against the scalar
 * reference (backends/cpu/ref_ops.c) BIT FOR BIT. Cross-built for AArch64 and run under
 * qemu-user by `make neon-test` (tests/run.sh does it when both tools are installed).
 *
 * Shapes: 1, odd, multiples and non-multiples of the GEMM tile (6 x 12), K over a k block;
 * data: random normal, edge values (NaN payloads, +-inf, subnormals, -0, near FLT_MAX), and
 * values made to land at the FTZ boundary, where AArch64's FZ (tininess before rounding) and the
 * model (after rounding) disagree: products 2^-63(1+u) * 2^-63(1-v), exp results next to
 * FLT_MIN, softmax weights times 1/sum next to FLT_MIN. It also checks the assumptions the NEON
 * scheme rests on (a flush sets FPSR.UFC here; without the check the boundary tile is wrong), and
 * that the executor leaves the caller's FPCR and FPSR.UFC as they were.
 *
 * Ends with "N passed, N failed"; exits 1 when anything failed. */
#if !defined(__aarch64__)
#error "tests/neon/neon_diff.c is built for AArch64 (make neon-test)"
#endif

#include "../../backends/cpu/cpu_features.h"
#include "../../backends/cpu/kernels.h"
#include "../../backends/cpu/ref_ops.h"
#include "../../backends/executor.h"
#include "../../isa/bib.h"
#include "../../isa/f32.h"
#include "../../isa/isa.h"

#include <arm_neon.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* simd_neon.c: units recomputed by the reference (0 gemm tiles, 1 softmax rows, 2 TMUL runs,
 * 3 attention items), and the template's table without the UFC check. */
uint64_t cpu_neon_fallbacks(int kind);
extern const cpu_kernels cpu_kernels_neon_unchecked;

static int passed, failed;

static void result(int ok, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void result(int ok, const char *fmt, ...)
{
    if (ok) {
        passed++;
        return;
    }
    failed++;
    if (failed > 40) return; /* enough detail */
    va_list ap;
    va_start(ap, fmt);
    printf("FAIL ");
    vprintf(fmt, ap);
    printf("\n");
    va_end(ap);
}

/* ---- FPCR / FPSR ---- */
#define FPCR_FZ (UINT64_C(1) << 24)
#define FPCR_RZ (UINT64_C(3) << 22)
#define FPSR_UFC (UINT64_C(1) << 3)
static uint64_t get_fpcr(void)
{
    uint64_t x;
    __asm__ volatile("mrs %0, fpcr" : "=r"(x) : : "memory");
    return x;
}
static void set_fpcr(uint64_t x) { __asm__ volatile("msr fpcr, %0" : : "r"(x) : "memory"); }
static uint64_t get_fpsr(void)
{
    uint64_t x;
    __asm__ volatile("mrs %0, fpsr" : "=r"(x) : : "memory");
    return x;
}
static void set_fpsr(uint64_t x) { __asm__ volatile("msr fpsr, %0" : : "r"(x) : "memory"); }

/* ---- random numbers: xorshift64* ---- */
static uint64_t rng = 0x9E3779B97F4A7C15ull;
static uint64_t next64(void)
{
    rng ^= rng >> 12;
    rng ^= rng << 25;
    rng ^= rng >> 27;
    return rng * 2685821657736338717ull;
}
static uint32_t below(uint32_t n) { return (uint32_t)(((next64() >> 32) * n) >> 32); }
static double unit(void) { return (double)(next64() >> 11) * 0x1p-53; } /* [0, 1) */
static float normal(void)
{
    double u = unit(), v = unit();
    return (float)(sqrt(-2.0 * log(u + 0x1p-60)) * cos(6.283185307179586 * v));
}

enum { D_NORMAL, D_EDGE, D_BOUNDARY, D_SPARSE, D_NEAR_MIN };

static const uint32_t specials[] = {
    0x7FC00000u, 0xFFC00000u, 0x7FC12345u, 0x7F800001u /* signalling */, 0xFFBFFFFFu, 0x7F800000u, 0xFF800000u,
    0x00000000u, 0x80000000u, 0x00000001u, 0x80000001u, 0x007FFFFFu, 0x807FFFFFu, 0x00400000u, 0x00800000u,
    0x80800000u, 0x00800001u, 0x7F7FFFFFu, 0xFF7FFFFFu, 0x7F7FFFFEu, 0x3F800000u, 0xBF800000u, 0x1F800000u,
    0x20000000u, 0x5F800000u, 0x60000000u};

/* 2^-63 (1 + i 2^-13), i small: products of two land within a few ulp of FLT_MIN, where the
 * exact value has bits below 2^-150 (so FZ and the model can disagree). */
static float near_half_min(void)
{
    static const int ks[] = {1, -1, 1, -1, 2, -2, 3, 0, 5, -7, 64, -64};
    int i = below(4) ? ks[below(12)] : (int)below(257) - 128;
    float x = ldexpf(1.0f + ldexpf((float)i, -13), -63);
    return below(2) ? -x : x;
}

static float value(int mode)
{
    if (mode == D_NORMAL) return normal();
    if (mode == D_BOUNDARY) return below(3) ? near_half_min() : below(2) ? 0.0f : normal();
    if (mode == D_SPARSE) return below(40) ? 0.0f : near_half_min(); /* chains of one or two products */
    if (mode == D_NEAR_MIN) { /* sums and differences below FLT_MIN, of either sign */
        float x = f32_from(F32_MIN_BITS + below(8));
        return below(2) ? -x : x;
    }
    switch (below(8)) {
    case 0:
    case 1: return f32_from(specials[below(sizeof specials / sizeof specials[0])]);
    case 2: return near_half_min();
    case 3: return ldexpf(normal(), (int)below(61) - 30);
    default: return normal();
    }
}

static float *falloc(int64_t n)
{
    float *p = malloc((size_t)(n > 0 ? n : 1) * sizeof(float));
    if (!p) {
        printf("out of memory\n");
        exit(2);
    }
    return p;
}
static float *fill(int64_t n, int mode)
{
    float *p = falloc(n);
    for (int64_t i = 0; i < n; i++) p[i] = value(mode);
    return p;
}

/* ---- executors: levels x threads ---- */
static const int levels[2] = {SIMD_SCALAR, SIMD_NEON};
static const int thread_counts[3] = {1, 2, 7};
static executor *exs[2][3];

static exec_tensor tensor(int rank, const int64_t *dims, void *data, uint32_t dtype)
{
    exec_tensor t;
    memset(&t, 0, sizeof t);
    t.dtype = dtype;
    t.rank = rank;
    t.count = 1;
    for (int i = 0; i < rank; i++) {
        t.dims[i] = dims[i];
        t.count *= dims[i];
    }
    t.data = data;
    return t;
}

/* Runs op (inputs in[0..n_in), output of out_count elements) on every executor and compares
 * with want. alias >= 0: the output is input `alias` (in place); inputs are restored from
 * pristine copies before each run and checked untouched afterwards. */
static void run_all(const char *what, exec_op *op, const void *want, size_t elem, int alias)
{
    size_t out_bytes = (size_t)op->out.count * elem;
    void *pristine[3] = {NULL, NULL, NULL};
    size_t in_bytes[3] = {0, 0, 0};
    for (int i = 0; i < op->n_in; i++) {
        in_bytes[i] = (size_t)op->in[i].count * (op->in[i].dtype == BIB_DT_I64 ? 8 : 4);
        pristine[i] = malloc(in_bytes[i] ? in_bytes[i] : 1);
        memcpy(pristine[i], op->in[i].data, in_bytes[i]);
    }
    void *out = alias >= 0 ? op->in[alias].data : malloc(out_bytes ? out_bytes : 1);
    for (int l = 0; l < 2; l++)
        for (int t = 0; t < 3; t++) {
            for (int i = 0; i < op->n_in; i++) memcpy(op->in[i].data, pristine[i], in_bytes[i]);
            if (alias < 0) memset(out, 0xA5, out_bytes); /* a signalling NaN pattern: no op writes it */
            op->out.data = out;
            char err[256] = "";
            int rc = exs[l][t]->run(exs[l][t], op, err, sizeof err);
            const char *lv = simd_name((simd_level)levels[l]);
            if (rc) {
                result(0, "%s [%s, %d threads]: run failed: %s", what, lv, thread_counts[t], err);
                continue;
            }
            int ok = !memcmp(out, want, out_bytes);
            if (!ok) {
                size_t n = out_bytes / 4, i = 0;
                const uint32_t *g = out, *w = want;
                while (i < n && g[i] == w[i]) i++;
                result(0, "%s [%s, %d threads]: element %zu is 0x%08x, the reference 0x%08x", what, lv, thread_counts[t],
                       elem == 8 ? i / 2 : i, i < n ? g[i] : 0, i < n ? w[i] : 0);
                continue;
            }
            for (int i = 0; i < op->n_in; i++)
                if (i != alias && memcmp(op->in[i].data, pristine[i], in_bytes[i])) {
                    ok = 0;
                    result(0, "%s [%s, %d threads]: input %d was changed", what, lv, thread_counts[t], i);
                }
            if (ok) result(1, "%s", what);
        }
    for (int i = 0; i < op->n_in; i++) {
        memcpy(op->in[i].data, pristine[i], in_bytes[i]);
        free(pristine[i]);
    }
    if (alias < 0) free(out);
}

/* ---- MATMUL ---- */
static void t_matmul(int64_t M, int64_t K, int64_t N, int mode_a, int mode_b)
{
    float *a = fill(M * K, mode_a), *b = fill(K * N, mode_b), *want = falloc(M * N);
    ref_matmul(a, b, want, M, K, N);
    exec_op op;
    memset(&op, 0, sizeof op);
    op.kernel = OP_MATMUL;
    op.n_in = 2;
    op.in[0] = tensor(2, (int64_t[]){M, K}, a, BIB_DT_F32);
    op.in[1] = tensor(2, (int64_t[]){K, N}, b, BIB_DT_F32);
    op.out = tensor(2, (int64_t[]){M, N}, NULL, BIB_DT_F32);
    char what[96];
    snprintf(what, sizeof what, "MATMUL %lldx%lldx%lld data %d/%d", (long long)M, (long long)K, (long long)N, mode_a,
             mode_b);
    run_all(what, &op, want, 4, -1);
    free(a);
    free(b);
    free(want);
}

/* ---- SOFTMAX: row kinds ---- */
enum { R_NORMAL, R_WIDE, R_SPAN, R_MASKED, R_EDGE, R_TINY, R_HUGE, R_EXP_EDGE, R_WEIGHT_EDGE, R_KINDS };

/* Whether the exact product lands where FZ (0) and the model (FLT_MIN) disagree. */
static int in_window(double p)
{
    p = fabs(p);
    return p < 0x1p-126 && p >= 0x1p-126 - 0x1p-151;
}

/* [0, a, d, -inf ...] with exp(d) * recip(sum) exactly in the window: d puts exp(d) at FLT_MIN
 * times some s in [1.05, 2], then a is searched next to ln(s - 1) with the reference functions
 * until the weight of d lands there (a near miss is left as it is). */
static void weight_edge_row(float *x, int64_t n)
{
    for (int64_t i = 0; i < n; i++) x[i] = -INFINITY;
    x[0] = 0.0f;
    double s = 1.05 + 0.95 * unit();
    x[2] = (float)(log(0x1p-126 * s));
    float e = f32_exp(x[2]), a0 = (float)log(s - 1.0);
    for (int t = 0; t < 4000; t++) {
        x[1] = f32_from(f32_bits(a0) + (uint32_t)(t / 2 * (t % 2 ? -1 : 1)));
        float y[3] = {1.0f, f32_exp(x[1]), e};
        if (in_window((double)e * f32_recip(f32_reduce_sum(y, 3)))) return;
    }
}

static void softmax_row(float *x, int64_t n, int kind, int64_t row)
{
    for (int64_t i = 0; i < n; i++) {
        float v = normal();
        switch (kind) {
        case R_WIDE: v *= 40.0f; break;                                  /* exp underflows for many */
        case R_SPAN: v = (float)(-130.0 * unit()); break;                /* all of exp's clamp range */
        case R_MASKED: v = below(3) ? v : -INFINITY; break;              /* masked entries */
        case R_EDGE: v = value(D_EDGE); break;                           /* NaN, inf, subnormals ... */
        case R_TINY: v = ldexpf(v, -(int)below(40) - 60); break;         /* x - m tiny: r*r underflows */
        case R_HUGE: v = below(2) ? ldexpf(v, 126) : f32_from(0x7F7FFFFFu); break; /* x - m overflows */
        default: break;
        }
        x[i] = v;
    }
    if (kind == R_EXP_EDGE) { /* exp(d) next to FLT_MIN: ln(FLT_MIN) = -87.33654 */
        for (int64_t i = 0; i < n; i++) x[i] = 0.0f;
        if (n > 1) x[n - 1] = f32_from(f32_bits(-87.33654f) + (uint32_t)(row % 512) - 256u);
        if (n > 2) x[n - 2] = f32_from(f32_bits(-103.9f) + (uint32_t)(row * 977 % 4096) - 2048u);
    }
    if (kind == R_WEIGHT_EDGE && n > 2) weight_edge_row(x, n);
}

static void t_softmax(int64_t rows, int64_t n, int kind, int in_place)
{
    float *x = falloc(rows * n), *want = falloc(rows * n);
    for (int64_t r = 0; r < rows; r++) softmax_row(x + r * n, n, kind, r);
    ref_softmax(x, want, rows, n);
    exec_op op;
    memset(&op, 0, sizeof op);
    op.kernel = OP_SOFTMAX;
    op.n_in = 1;
    op.in[0] = tensor(2, (int64_t[]){rows, n}, x, BIB_DT_F32);
    op.out = tensor(2, (int64_t[]){rows, n}, NULL, BIB_DT_F32);
    char what[96];
    snprintf(what, sizeof what, "SOFTMAX %lldx%lld kind %d%s", (long long)rows, (long long)n, kind,
             in_place ? " in place" : "");
    run_all(what, &op, want, 4, in_place ? 0 : -1);
    free(x);
    free(want);
}

/* ---- RELU ---- */
static void t_relu(int64_t n, int in_place)
{
    float *x = fill(n, D_EDGE), *want = falloc(n);
    ref_relu(x, want, n);
    exec_op op;
    memset(&op, 0, sizeof op);
    op.kernel = OP_RELU;
    op.n_in = 1;
    op.in[0] = tensor(1, &n, x, BIB_DT_F32);
    op.out = tensor(1, &n, NULL, BIB_DT_F32);
    char what[64];
    snprintf(what, sizeof what, "RELU %lld%s", (long long)n, in_place ? " in place" : "");
    run_all(what, &op, want, 4, in_place ? 0 : -1);
    free(x);
    free(want);
}

/* ---- TADD / TSUB / TMUL with broadcasting ---- */
static void align4(int rank, const int64_t *dims, int64_t *d4)
{
    for (int i = 0; i < 4; i++) d4[i] = 1;
    for (int i = 0; i < rank; i++) d4[4 - rank + i] = dims[i];
}

static void t_elementwise(int kernel, int ra, const int64_t *da, int rb, const int64_t *db, int mode, int alias)
{
    int64_t a4[4], b4[4], o4[4], na = 1, nb = 1, no = 1;
    align4(ra, da, a4);
    align4(rb, db, b4);
    int ro = ra > rb ? ra : rb;
    for (int i = 0; i < 4; i++) {
        o4[i] = a4[i] > b4[i] ? a4[i] : b4[i];
        na *= a4[i];
        nb *= b4[i];
        no *= o4[i];
    }
    float *a = fill(na, mode), *b = fill(nb, mode), *want = falloc(no);
    int rop = kernel == OP_TADD ? REF_ADD : kernel == OP_TSUB ? REF_SUB : REF_MUL;
    ref_elementwise(rop, a, a4, b, b4, want, o4);
    exec_op op;
    memset(&op, 0, sizeof op);
    op.kernel = kernel;
    op.n_in = 2;
    op.in[0] = tensor(ra, da, a, BIB_DT_F32);
    op.in[1] = tensor(rb, db, b, BIB_DT_F32);
    op.out = tensor(ro, o4 + 4 - ro, NULL, BIB_DT_F32);
    char what[128];
    snprintf(what, sizeof what, "%s %lld elements (a %lld, b %lld) data %d%s", isa_ops[kernel].name, (long long)no,
             (long long)na, (long long)nb, mode, alias == 0 ? " out=a" : alias == 1 ? " out=b" : "");
    run_all(what, &op, want, 4, alias);
    free(a);
    free(b);
    free(want);
}

/* ---- ATTENTION ---- */
enum { A_NORMAL, A_SHARP, A_EDGE, A_TINY_V, A_WINDOW };

static void t_attention(int causal, int nlead, const int64_t *lead, int64_t sq, int64_t sk, int64_t d, int64_t dv,
                        int kind)
{
    int64_t slices = 1;
    for (int i = 0; i < nlead; i++) slices *= lead[i];
    float *q = fill(slices * sq * d, kind == A_EDGE ? D_EDGE : D_NORMAL);
    float *k = fill(slices * sk * d, kind == A_EDGE && below(2) ? D_EDGE : D_NORMAL);
    float *v = fill(slices * sk * dv, kind == A_TINY_V ? D_BOUNDARY : kind == A_EDGE ? D_EDGE : D_NORMAL);
    if (kind == A_SHARP)
        for (int64_t i = 0; i < slices * sq * d; i++) q[i] *= 12.0f; /* scores far apart: exp underflows */
    if (kind == A_TINY_V)
        for (int64_t i = 0; i < slices * sk * dv; i++) v[i] = ldexpf(v[i], -63);
    if (kind == A_WINDOW) { /* q = 0: every weight is 1, o = v[0] * recip(keys seen), exactly in the window */
        memset(q, 0, (size_t)(slices * sq * d) * sizeof(float));
        memset(v, 0, (size_t)(slices * sk * dv) * sizeof(float));
        float hits[64], inv = f32_recip((float)sk);
        int nh = 0;
        for (int o = -8192; o < 8192 && nh < 64; o++) {
            float X = f32_from(f32_bits(FLT_MIN * (float)sk) + (uint32_t)o);
            if (in_window((double)X * inv)) hits[nh++] = X;
        }
        for (int64_t h = 0; h < slices; h++)
            for (int64_t x = 0; x < dv; x++) v[h * sk * dv + x] = nh ? hits[(h * dv + x) % nh] : FLT_MIN;
    }
    float *want = falloc(slices * sq * dv);
    attn_shape s = {sq, sk, d, dv, causal, ref_attention_scale(d)};
    for (int64_t h = 0; h < slices; h++)
        ref_attention_rows(&s, q + h * sq * d, k + h * sk * d, v + h * sk * dv, want + h * sq * dv, 0, sq);
    int rank = nlead + 2;
    int64_t dq[4], dk[4], dvv[4], dout[4];
    for (int i = 0; i < nlead; i++) dq[i] = dk[i] = dvv[i] = dout[i] = lead[i];
    dq[nlead] = sq, dq[nlead + 1] = d;
    dk[nlead] = sk, dk[nlead + 1] = d;
    dvv[nlead] = sk, dvv[nlead + 1] = dv;
    dout[nlead] = sq, dout[nlead + 1] = dv;
    exec_op op;
    memset(&op, 0, sizeof op);
    op.kernel = causal ? OP_ATTENTION_CAUSAL : OP_ATTENTION;
    op.n_in = 3;
    op.in[0] = tensor(rank, dq, q, BIB_DT_F32);
    op.in[1] = tensor(rank, dk, k, BIB_DT_F32);
    op.in[2] = tensor(rank, dvv, v, BIB_DT_F32);
    op.out = tensor(rank, dout, NULL, BIB_DT_F32);
    char what[128];
    snprintf(what, sizeof what, "ATTENTION%s x%lld sq %lld sk %lld d %lld dv %lld kind %d", causal ? "_CAUSAL" : "",
             (long long)slices, (long long)sq, (long long)sk, (long long)d, (long long)dv, kind);
    run_all(what, &op, want, 4, -1);
    free(q);
    free(k);
    free(v);
    free(want);
}

/* ---- TRANSPOSE ---- */
static void t_transpose(int64_t M, int64_t N, uint32_t dtype)
{
    int es = dtype == BIB_DT_I64 ? 8 : 4;
    uint8_t *x = malloc((size_t)(M * N * es)), *want = malloc((size_t)(M * N * es));
    for (int64_t i = 0; i < M * N * es; i++) x[i] = (uint8_t)next64();
    ref_transpose(x, want, M, N, es);
    exec_op op;
    memset(&op, 0, sizeof op);
    op.kernel = OP_TRANSPOSE;
    op.n_in = 1;
    op.in[0] = tensor(2, (int64_t[]){M, N}, x, dtype);
    op.out = tensor(2, (int64_t[]){N, M}, NULL, dtype);
    char what[64];
    snprintf(what, sizeof what, "TRANSPOSE %lldx%lld dtype %u", (long long)M, (long long)N, dtype);
    run_all(what, &op, want, (size_t)es, -1);
    free(x);
    free(want);
}

/* ---- the scheme's assumptions ---- */
__attribute__((noinline)) static float32x4_t vmul_noinline(float32x4_t a, float32x4_t b) { return vmulq_f32(a, b); }

static void t_assumptions(void)
{
    volatile float va = ldexpf(1.0f + 0x1p-13f, -63), vb = ldexpf(1.0f - 0x1p-13f, -63);
    float a = va, b = vb; /* exact product 2^-126 (1 - 2^-26): FLT_MIN in the model */
    result(f32_bits(f32_mul(a, b)) == F32_MIN_BITS, "f32_mul at the boundary is FLT_MIN");

    /* FZ=1: the hardware (here qemu) flushes it and says so in FPSR.UFC. */
    uint64_t fpcr = get_fpcr();
    set_fpcr(FPCR_FZ);
    set_fpsr(get_fpsr() & ~FPSR_UFC);
    float32x4_t r = vmul_noinline(vdupq_n_f32(a), vdupq_n_f32(b));
    uint64_t s = get_fpsr();
    set_fpcr(fpcr);
    result(f32_bits(vgetq_lane_f32(r, 0)) == 0, "FZ=1 flushes the boundary product (got 0x%08x)",
           f32_bits(vgetq_lane_f32(r, 0)));
    result((s & FPSR_UFC) != 0, "FZ=1: a flushed product sets FPSR.UFC (fpsr 0x%llx)", (unsigned long long)s);
    /* and a product that is not flushed leaves it clear */
    set_fpcr(FPCR_FZ);
    set_fpsr(get_fpsr() & ~FPSR_UFC);
    r = vmul_noinline(vdupq_n_f32(ldexpf(1.5f, -63)), vdupq_n_f32(ldexpf(1.5f, -63)));
    s = get_fpsr();
    set_fpcr(fpcr);
    result(!(s & FPSR_UFC), "FZ=1: a normal product leaves FPSR.UFC clear (fpsr 0x%llx)", (unsigned long long)s);
    /* a subnormal input is read as zero (DAZ) and raises IDC, not UFC */
    set_fpcr(FPCR_FZ);
    set_fpsr(get_fpsr() & ~FPSR_UFC);
    volatile uint32_t sub = 0x00400000u;
    r = vmul_noinline(vdupq_n_f32(f32_from(sub)), vdupq_n_f32(3.0f));
    s = get_fpsr();
    set_fpcr(fpcr);
    result(f32_bits(vgetq_lane_f32(r, 0)) == 0 && !(s & FPSR_UFC), "FZ=1 reads a subnormal input as 0 without UFC");

    /* The GEMM tile without the UFC check loses the boundary value; with it, it is exact. */
    const int mr = cpu_kernels_neon.mr, nr = cpu_kernels_neon.nr;
    float *pa = falloc(mr), *pb = falloc(nr), *c1 = falloc(mr * nr), *c2 = falloc(mr * nr);
    for (int i = 0; i < mr; i++) pa[i] = a;
    for (int j = 0; j < nr; j++) pb[j] = b;
    fpenv env = fpenv_enter(SIMD_NEON);
    cpu_kernels_neon_unchecked.gemm_micro(1, pa, 1, mr, pb, c1, nr, 1, 1);
    cpu_kernels_neon.gemm_micro(1, pa, 1, mr, pb, c2, nr, 1, 1);
    fpenv_leave(SIMD_NEON, env);
    result(f32_bits(c1[0]) == 0, "unchecked NEON tile flushes the boundary product (0x%08x)", f32_bits(c1[0]));
    int all = 1;
    for (int i = 0; i < mr * nr; i++) all &= f32_bits(c2[i]) == F32_MIN_BITS;
    result(all, "checked NEON tile gives FLT_MIN at the boundary");
    free(pa);
    free(pb);
    free(c1);
    free(c2);
}

/* The executor sets its own FPCR and puts the caller's back, FPSR.UFC included; the scalar
 * level is exact under a caller's FZ=1 and round-toward-zero. */
static void t_environment(void)
{
    int64_t M = 5, K = 9, N = 13;
    float *a = fill(M * K, D_BOUNDARY), *b = fill(K * N, D_BOUNDARY), *want = falloc(M * N), *out = falloc(M * N);
    ref_matmul(a, b, want, M, K, N);
    exec_op op;
    memset(&op, 0, sizeof op);
    op.kernel = OP_MATMUL;
    op.n_in = 2;
    op.in[0] = tensor(2, (int64_t[]){M, K}, a, BIB_DT_F32);
    op.in[1] = tensor(2, (int64_t[]){K, N}, b, BIB_DT_F32);
    op.out = tensor(2, (int64_t[]){M, N}, out, BIB_DT_F32);
    uint64_t fpcr0 = get_fpcr();
    for (int l = 0; l < 2; l++)
        for (int ufc = 0; ufc < 2; ufc++) {
            char err[256];
            uint64_t host = FPCR_FZ | FPCR_RZ;
            set_fpcr(host);
            set_fpsr(ufc ? (get_fpsr() | FPSR_UFC) : (get_fpsr() & ~FPSR_UFC));
            int rc = exs[l][0]->run(exs[l][0], &op, err, sizeof err);
            uint64_t fpcr = get_fpcr(), fpsr = get_fpsr();
            set_fpcr(fpcr0);
            const char *lv = simd_name((simd_level)levels[l]);
            result(!rc && !memcmp(out, want, (size_t)(M * N) * 4), "MATMUL [%s] under a caller's FZ and round-toward-zero", lv);
            result(fpcr == host, "[%s] the caller's FPCR is back (0x%llx, was 0x%llx)", lv, (unsigned long long)fpcr,
                   (unsigned long long)host);
            if (l == 1)
                result(!!(fpsr & FPSR_UFC) == ufc, "[%s] the caller's FPSR.UFC (%d) is back", lv, ufc);
        }
    free(a);
    free(b);
    free(want);
    free(out);
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static uint64_t fallbacks_total(uint64_t *per)
{
    uint64_t t = 0;
    for (int i = 0; i < 4; i++) t += per[i] = cpu_neon_fallbacks(i);
    return t;
}

int main(void)
{
    double t0 = now();
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (get_fpcr() != 0) printf("note: FPCR is 0x%llx at start\n", (unsigned long long)get_fpcr());
    const cpu_info *ci = cpu_detect();
    char feat[160];
    cpu_feature_text(feat, sizeof feat);
    printf("cpu: %s, best level %s\n", feat, simd_name(ci->best));
    for (int l = 0; l < 2; l++)
        for (int t = 0; t < 3; t++) {
            char err[256];
            exs[l][t] = cpu_executor_create();
            if (!exs[l][t] || cpu_executor_configure(exs[l][t], levels[l], thread_counts[t], err, sizeof err)) {
                printf("FAIL cannot configure level %s with %d threads: %s\n0 passed, 1 failed\n",
                       simd_name((simd_level)levels[l]), thread_counts[t], exs[l][t] ? err : "out of memory");
                return 1;
            }
        }
    result(ci->best == SIMD_NEON && cpu_kernels_for(SIMD_NEON) == &cpu_kernels_neon, "neon is the best level here");

    t_assumptions();
    uint64_t per[4], per2[4];

    /* Random normal data: how often does a unit fall back? (it should not) */
    uint64_t fb0 = fallbacks_total(per);
    static const int64_t mm[][3] = {{1, 1, 1},    {1, 5, 1},     {3, 7, 5},     {6, 16, 12},   {8, 16, 12},
                                    {9, 13, 25},  {12, 96, 24},  {17, 385, 13}, {7, 1100, 11}, {33, 600, 50},
                                    {100, 40, 70}, {2, 1500, 3}};
    for (size_t i = 0; i < sizeof mm / sizeof mm[0]; i++) t_matmul(mm[i][0], mm[i][1], mm[i][2], D_NORMAL, D_NORMAL);
    static const int64_t sm[][2] = {{1, 1}, {3, 5}, {4, 31}, {2, 32}, {5, 33}, {3, 100}, {150, 1000}, {1, 2500}};
    for (size_t i = 0; i < sizeof sm / sizeof sm[0]; i++) {
        t_softmax(sm[i][0], sm[i][1], R_NORMAL, 0);
        t_softmax(sm[i][0], sm[i][1], R_NORMAL, 1);
    }
    t_elementwise(OP_TMUL, 2, (int64_t[]){3, 1500}, 1, (int64_t[]){1500}, D_NORMAL, -1);
    t_elementwise(OP_TMUL, 2, (int64_t[]){37, 41}, 2, (int64_t[]){37, 41}, D_NORMAL, 0);
    t_attention(0, 0, NULL, 70, 130, 17, 9, A_NORMAL);
    t_attention(1, 1, (int64_t[]){2}, 33, 65, 8, 5, A_NORMAL);
    uint64_t fb_normal = fallbacks_total(per2) - fb0;
    printf("random normal data: %llu units fell back (gemm %llu, softmax %llu, tmul %llu, attention %llu)\n",
           (unsigned long long)fb_normal, (unsigned long long)(per2[0] - per[0]), (unsigned long long)(per2[1] - per[1]),
           (unsigned long long)(per2[2] - per[2]), (unsigned long long)(per2[3] - per[3]));
    result(fb_normal == 0, "no fallback on random normal data (%llu)", (unsigned long long)fb_normal);

    /* exp as SOFTMAX and ATTENTION run it (x <= 0 or NaN): every 4099th such float, and each
     * float within 300 ulps of XLO and of ln(FLT_MIN), where results are flushed or near FLT_MIN. */
    {
        enum { EXP_BATCH = 4096 };
        static float ex[EXP_BATCH], ey[EXP_BATCH];
        long bad = 0, total = 0;
        uint64_t v = 0x80000000u;
        int edge = 0;
        while (v <= 0xFF800000u || edge < 2) {
            int m = 0;
            if (v <= 0xFF800000u)
                for (; m < EXP_BATCH && v <= 0xFF800000u; v += 4099) ex[m++] = f32_from((uint32_t)v);
            else
                for (uint32_t c = edge++ ? 0xC2AEAC4Fu : F32_EXP_XLO_BITS, d = 0; d < 601; d++) ex[m++] = f32_from(c - 300 + d);
            fpenv env = fpenv_enter(SIMD_NEON); /* the kernels' FZ; the reference runs without it */
            cpu_kernels_neon.exp_nonpos(ex, ey, m);
            fpenv_leave(SIMD_NEON, env);
            for (int i = 0; i < m; i++) bad += f32_bits(ey[i]) != f32_bits(f32_exp(ex[i]));
            total += m;
        }
        result(bad == 0, "exp kernel equals f32_exp on %ld arguments (%ld differ)", total, bad);
    }

    /* MATMUL: edge values, and products at the FTZ boundary. */
    for (size_t i = 0; i < sizeof mm / sizeof mm[0]; i++) {
        t_matmul(mm[i][0], mm[i][1], mm[i][2], D_EDGE, D_EDGE);
        t_matmul(mm[i][0], mm[i][1], mm[i][2], D_BOUNDARY, D_BOUNDARY);
    }
    t_matmul(16, 700, 24, D_BOUNDARY, D_NORMAL);
    t_matmul(16, 700, 24, D_SPARSE, D_BOUNDARY); /* one or two products per chain, in either k block */
    t_matmul(19, 80, 37, D_SPARSE, D_BOUNDARY);
    t_matmul(8, 12, 12, D_SPARSE, D_SPARSE);
    t_matmul(9, 600, 17, D_EDGE, D_BOUNDARY);

    /* SOFTMAX: every row kind, in place and not. */
    static const int64_t sk[][2] = {{1, 1},   {7, 2},    {5, 3},    {4, 31},   {6, 33},   {3, 100},
                                    {20, 1000}, {1, 2500}, {512, 2}, {1024, 3}, {300, 4}, {200, 37}};
    for (int kind = 0; kind < R_KINDS; kind++)
        for (size_t i = 0; i < sizeof sk / sizeof sk[0]; i++) {
            if ((i >= 8) != (kind == R_EXP_EDGE || kind == R_WEIGHT_EDGE)) continue; /* the last 4: those two */
            t_softmax(sk[i][0], sk[i][1], kind, (int)(i & 1));
        }
    t_softmax(4, 2500, R_TINY, 1); /* falls back with a row kept on the heap */

    /* RELU */
    static const int64_t rl[] = {1, 3, 4, 17, 100, 70000};
    for (size_t i = 0; i < sizeof rl / sizeof rl[0]; i++) {
        t_relu(rl[i], 0);
        t_relu(rl[i], 1);
    }

    /* TADD / TSUB / TMUL with broadcasting, out aliasing an operand. */
    static const int ops[] = {OP_TADD, OP_TSUB, OP_TMUL};
    for (int o = 0; o < 3; o++)
        for (int mode = D_EDGE; mode <= D_NEAR_MIN; mode += mode == D_BOUNDARY ? 2 : 1) {
            t_elementwise(ops[o], 2, (int64_t[]){5, 7}, 2, (int64_t[]){5, 7}, mode, -1);
            t_elementwise(ops[o], 2, (int64_t[]){5, 7}, 1, (int64_t[]){7}, mode, 0);
            t_elementwise(ops[o], 2, (int64_t[]){5, 1}, 2, (int64_t[]){1, 7}, mode, -1);
            t_elementwise(ops[o], 1, (int64_t[]){1}, 2, (int64_t[]){3, 4}, mode, 1);
            t_elementwise(ops[o], 2, (int64_t[]){3, 4}, 1, (int64_t[]){1}, mode, -1);
            t_elementwise(ops[o], 3, (int64_t[]){2, 3, 4}, 2, (int64_t[]){3, 1}, mode, 0);
            t_elementwise(ops[o], 2, (int64_t[]){3, 2500}, 2, (int64_t[]){3, 2500}, mode, 1);
            t_elementwise(ops[o], 1, (int64_t[]){1}, 1, (int64_t[]){1}, mode, 0);
        }

    /* ATTENTION */
    for (int kind = A_NORMAL; kind <= A_WINDOW; kind++)
        for (int causal = 0; causal < 2; causal++) {
            t_attention(causal, 0, NULL, 1, 1, 1, 1, kind);
            t_attention(causal, 0, NULL, 5, 7, 3, 2, kind);
            t_attention(causal, 1, (int64_t[]){2}, 33, 65, 8, 5, kind);
            t_attention(causal, 0, NULL, 40, 20, 6, 19, kind);
            t_attention(causal, 2, (int64_t[]){2, 2}, 3, 64, 4, 4, kind);
            t_attention(causal, 1, (int64_t[]){3}, 9, 29, 2, 6, kind);
        }
    t_attention(1, 0, NULL, 70, 130, 17, 9, A_SHARP);

    /* TRANSPOSE */
    t_transpose(13, 17, BIB_DT_F32);
    t_transpose(64, 64, BIB_DT_F32);
    t_transpose(65, 130, BIB_DT_I32);
    t_transpose(9, 7, BIB_DT_I64);

    t_environment();

    fallbacks_total(per2);
    printf("fallbacks, all cases: gemm tiles %llu, softmax rows %llu, tmul runs %llu, attention items %llu\n",
           (unsigned long long)per2[0], (unsigned long long)per2[1], (unsigned long long)per2[2],
           (unsigned long long)per2[3]);
    for (int i = 0; i < 4; i++) result(per2[i] > 0, "the fallback of kind %d was exercised", i);

    for (int l = 0; l < 2; l++)
        for (int t = 0; t < 3; t++) cpu_executor_destroy(exs[l][t]);
    printf("%.1f s\n", now() - t0);
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
