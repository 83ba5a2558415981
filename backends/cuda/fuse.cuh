/* Fused epilogues (docs/cuda.md): a chain of elementwise steps a queue folds into the kernel of
 * the op before them, applied to each element exactly as the unfused ops would, one model
 * operation and its canonicalisation per step: same bits, one pass. The host's twin is
 * cuda_fuse.h's fuse_chain; the layouts must agree. */
#ifndef ADEAD_CUDA_FUSE_CUH
#define ADEAD_CUDA_FUSE_CUH

#include "f32_model.cuh"

#include <stdint.h>

#define FUSE_MAX 6

enum { FUSE_ADD, FUSE_SUB, FUSE_MUL, FUSE_RELU };
enum { FUSE_FULL, FUSE_ROW, FUSE_SCALAR }; /* the other operand: same shape, one row [N], one element */

struct fuse_step {
    int op, swap, kind, pad; /* swap: the chain's value is the second operand (TSUB o, other, o) */
    const float *other;
};

struct fuse_chain {
    int n, pad;
    fuse_step s[FUSE_MAX];
};

__device__ __forceinline__ float fuse_relu(float x)
{
    x = m_daz(x);
    return m_isnan(x) ? __uint_as_float(CANON_NAN) : (x > 0.0f ? x : 0.0f);
}

/* v: the value of element (r, c) of a tensor with `cols` columns after the previous step. */
__device__ __forceinline__ float fuse_apply(const fuse_chain &ch, float v, int64_t r, int64_t c, int64_t cols)
{
    for (int k = 0; k < ch.n; k++) {
        const fuse_step &st = ch.s[k];
        if (st.op == FUSE_RELU) {
            v = fuse_relu(v);
            continue;
        }
        float o = st.other[st.kind == FUSE_FULL ? r * cols + c : st.kind == FUSE_ROW ? c : 0];
        float a = st.swap ? o : v, b = st.swap ? v : o;
        v = m_canon(st.op == FUSE_ADD ? m_add(a, b) : st.op == FUSE_SUB ? m_sub(a, b) : m_mul(a, b));
    }
    return v;
}

#endif
