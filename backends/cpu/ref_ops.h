/* Scalar reference kernels: the executable form of docs/ops.md. Every other kernel (SIMD, CUDA,
 * Vulkan) is tested bit for bit against these. Shapes arrive checked; no aliasing unless noted. */
#ifndef ADEAD_REF_OPS_H
#define ADEAD_REF_OPS_H

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

#endif
