/* The scalar level: the reference kernels themselves, so that ADEAD_SIMD=scalar runs exactly
 * the code that defines the bits (threads still apply). */
#include "../../isa/f32.h"
#include "kernels.h"
#include "ref_ops.h"

static float scalar_apply(int op, float x, float y)
{
    return op == KOP_ADD ? f32_add(x, y) : op == KOP_SUB ? f32_sub(x, y) : f32_mul(x, y);
}

static void scalar_binary(int op, const float *a, int64_t sa, const float *b, int64_t sb, float *out, int64_t n)
{
    for (int64_t i = 0; i < n; i++) out[i] = f32_canon(scalar_apply(op, a[i * sa], b[i * sb]));
}

static void scalar_attention_rows(const attn_shape *s, const float *q, const float *k, const float *v, float *o,
                                  int64_t r0, int64_t r1, float *scratch)
{
    (void)scratch;
    ref_attention_rows(s, q, k, v, o, r0, r1);
}

static void scalar_softmax_rows(const float *in, float *out, int64_t rows, int64_t n, float *tmp, int stream)
{
    (void)tmp;
    (void)stream;
    ref_softmax(in, out, rows, n);
}

static void scalar_exp_nonpos(const float *x, float *y, int64_t n)
{
    for (int64_t i = 0; i < n; i++) y[i] = f32_exp(x[i]);
}

/* gemm_micro NULL: the MATMUL driver then runs ref_matmul on row blocks. */
const cpu_kernels cpu_kernels_scalar = {SIMD_SCALAR,          0,    0, NULL, scalar_softmax_rows, ref_relu, scalar_binary,
                                        0, NULL, scalar_attention_rows, scalar_exp_nonpos};
