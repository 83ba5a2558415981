/* Scalar reference kernels; the comments give the definitions docs/ops.md states. */
#include "ref_ops.h"

#include "../../isa/f32.h"

#include <string.h>

void ref_matmul(const float *a, const float *b, float *c, int64_t M, int64_t K, int64_t N)
{
    /* k is the middle loop so that b is read along rows; each c[i][j] still sees its fma
     * chain in k order, starting from +0.0. */
    for (int64_t i = 0; i < M; i++) {
        float *row = c + i * N;
        for (int64_t j = 0; j < N; j++) row[j] = 0.0f;
        for (int64_t k = 0; k < K; k++) {
            float aik = a[i * K + k];
            const float *bk = b + k * N;
            for (int64_t j = 0; j < N; j++) row[j] = f32_fma(aik, bk[j], row[j]);
        }
        for (int64_t j = 0; j < N; j++) row[j] = f32_canon(row[j]);
    }
}

void ref_transpose(const void *in, void *out, int64_t M, int64_t N, int elem_size)
{
    const char *src = in;
    char *dst = out;
    for (int64_t i = 0; i < M; i++)
        for (int64_t j = 0; j < N; j++)
            memcpy(dst + (j * M + i) * elem_size, src + (i * N + j) * elem_size, (size_t)elem_size);
}

void ref_softmax(const float *in, float *out, int64_t rows, int64_t n)
{
    for (int64_t r = 0; r < rows; r++) {
        const float *x = in + r * n;
        float *y = out + r * n;
        float m = f32_reduce_max(x, (size_t)n);
        for (int64_t i = 0; i < n; i++) y[i] = f32_exp(f32_sub(x[i], m));
        float s = f32_reduce_sum(y, (size_t)n);
        float inv = f32_recip(s);
        for (int64_t i = 0; i < n; i++) y[i] = f32_canon(f32_mul(y[i], inv));
    }
}

void ref_relu(const float *in, float *out, int64_t count)
{
    for (int64_t i = 0; i < count; i++) {
        float x = f32_daz(in[i]);
        out[i] = f32_isnan(x) ? f32_canon(x) : (x > 0.0f ? x : 0.0f);
    }
}

static float apply(int op, float x, float y)
{
    switch (op) {
    case REF_ADD: return f32_add(x, y);
    case REF_SUB: return f32_sub(x, y);
    default: return f32_mul(x, y);
    }
}

void ref_elementwise(int op, const float *a, const int64_t *adims, const float *b, const int64_t *bdims, float *out,
                     const int64_t *odims)
{
    /* Row-major strides, 0 along broadcast axes. */
    int64_t as[4], bs[4], sa = 1, sb = 1;
    for (int i = 3; i >= 0; i--) {
        as[i] = adims[i] == 1 ? 0 : sa;
        bs[i] = bdims[i] == 1 ? 0 : sb;
        sa *= adims[i];
        sb *= bdims[i];
    }
    int64_t o = 0;
    for (int64_t i0 = 0; i0 < odims[0]; i0++)
        for (int64_t i1 = 0; i1 < odims[1]; i1++)
            for (int64_t i2 = 0; i2 < odims[2]; i2++)
                for (int64_t i3 = 0; i3 < odims[3]; i3++, o++) {
                    int64_t ia = i0 * as[0] + i1 * as[1] + i2 * as[2] + i3 * as[3];
                    int64_t ib = i0 * bs[0] + i1 * bs[1] + i2 * bs[2] + i3 * bs[3];
                    out[o] = f32_canon(apply(op, a[ia], b[ib]));
                }
}

float ref_attention_scale(int64_t d)
{
    volatile double dd = (double)(d > 0 ? d : 1); /* IEEE double sqrt and divide: one answer on every host */
    return (float)(1.0 / sqrt(dd));
}

void ref_attention_rows(const attn_shape *s, const float *q, const float *k, const float *v, float *o, int64_t r0,
                        int64_t r1)
{
    const int64_t d = s->d, dv = s->dv;
    for (int64_t i = r0; i < r1; i++) {
        const float *qi = q + i * d;
        float *acc = o + i * dv;
        for (int64_t c = 0; c < dv; c++) acc[c] = 0.0f;
        int64_t vis = attn_visible_keys(s, i);
        if (!vis) continue; /* no visible key: the row is +0 */
        float m = -INFINITY, l = 0.0f;
        for (int64_t j0 = 0; j0 < vis; j0 += ATTN_BLOCK) {
            int64_t nb = vis - j0 < ATTN_BLOCK ? vis - j0 : ATTN_BLOCK;
            float sc[ATTN_BLOCK], p[ATTN_BLOCK];
            float mb = -INFINITY;
            for (int64_t j = 0; j < nb; j++) {
                const float *kj = k + (j0 + j) * d;
                float dot = 0.0f;
                for (int64_t x = 0; x < d; x++) dot = f32_fma(qi[x], kj[x], dot);
                sc[j] = f32_mul(dot, s->scale);
                mb = f32_max(mb, sc[j]);
            }
            float mn = f32_max(m, mb);
            float c = f32_exp(f32_sub(m, mn));
            for (int64_t j = 0; j < ATTN_BLOCK; j++) p[j] = j < nb ? f32_exp(f32_sub(sc[j], mn)) : 0.0f;
            l = f32_fma(l, c, f32_reduce_sum(p, ATTN_BLOCK));
            for (int64_t x = 0; x < dv; x++) acc[x] = f32_mul(acc[x], c);
            for (int64_t j = 0; j < nb; j++) {
                const float *vj = v + (j0 + j) * dv;
                for (int64_t x = 0; x < dv; x++) acc[x] = f32_fma(p[j], vj[x], acc[x]);
            }
            m = mn;
        }
        float inv = f32_recip(l);
        for (int64_t x = 0; x < dv; x++) acc[x] = f32_canon(f32_mul(acc[x], inv));
    }
}
