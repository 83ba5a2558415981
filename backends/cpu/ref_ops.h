/* Scalar reference kernels: the executable form of docs/ops.md. Every other kernel (SIMD, CUDA,
 * Vulkan) is tested bit for bit against these. Shapes arrive checked; no aliasing unless noted. */
#ifndef ADEAD_REF_OPS_H
#define ADEAD_REF_OPS_H

#include "kernels.h"

#include <stdint.h>

/* c[M,N] = a[M,K] x b[K,N]: each c[i][j] is the fma chain over k = 0..K-1 from +0.0. */
void ref_matmul(const float *a, const float *b, float *c, int64_t M, int64_t K, int64_t N);
/* out[N,M] = in[M,N] transposed; elements of elem_size bytes are copied bit for bit. */
void ref_transpose(const void *in, void *out, int64_t M, int64_t N, int elem_size);
/* Softmax over rows of length n (rows*n elements); in == out is allowed. */
void ref_softmax(const float *in, float *out, int64_t rows, int64_t n);
/* out[i] = relu(in[i]); in == out is allowed. */
void ref_relu(const float *in, float *out, int64_t count);

enum { REF_ADD, REF_SUB, REF_MUL };
/* out = a op b with numpy broadcasting. Shapes are right-aligned to rank 4 by the caller:
 * adims/bdims/odims each hold 4 sizes, with 1 for missing leading axes. out may alias a or b
 * when it has that operand's shape. */
void ref_elementwise(int op, const float *a, const int64_t *adims, const float *b, const int64_t *bdims, float *out,
                     const int64_t *odims);

/* ATTENTION for query rows [r0, r1) of one (batch, head) slice (docs/ops.md): q [sq, d],
 * k [sk, d], v [sk, dv], o [sq, dv]; key blocks of ATTN_BLOCK, online softmax. */
void ref_attention_rows(const attn_shape *s, const float *q, const float *k, const float *v, float *o, int64_t r0,
                        int64_t r1);
/* scale = the f32 nearest 1/sqrt(d) as IEEE double computes it (d = 0 counts as 1). */
float ref_attention_scale(int64_t d);

#endif
