// SOFTMAX over the last axis (docs/ops.md 3): 32 lanes per row are the 32 strided partials of 1.3,
// folded by the fixed tree in shared memory (so any subgroup size gives the same bits); four rows
// per workgroup. y may be x: every element is read, then written, by the same invocation.
#version 450
#include "f32_model.glsl"
layout(local_size_x = 32, local_size_y = 4) in;
layout(std430, binding = 0) buffer Out { float y[]; };
layout(std430, binding = 1) readonly buffer In { float x[]; };
layout(push_constant) uniform P { uint rows, n, y_off, x_off; } pc;

shared uint kmax[4][32];
shared float part[4][32];

void main()
{
    uint lane = gl_LocalInvocationID.x, ry = gl_LocalInvocationID.y;
    for (uint base = gl_WorkGroupID.x * 4u; base < pc.rows; base += gl_NumWorkGroups.x * 4u) {
        uint row = base + ry;
        bool live = row < pc.rows;
        uint xr = pc.x_off + row * pc.n, yr = pc.y_off + row * pc.n;
        // m = max-reduce(row): order-free, so any fold; NaN as the largest key.
        uint km = m_key(uintBitsToFloat(0xFF800000u));
        if (live)
            for (uint i = lane; i < pc.n; i += 32u) {
                float v = x[xr + i];
                uint k = m_isnan(v) ? 0xFFFFFFFFu : m_key(v);
                km = k > km ? k : km;
            }
        kmax[ry][lane] = km;
        barrier();
        for (uint w = 16u; w > 0u; w >>= 1) {
            if (lane < w) kmax[ry][lane] = max(kmax[ry][lane], kmax[ry][lane + w]); // integer max: exact
            barrier();
        }
        km = kmax[ry][0];
        float m = km == 0xFFFFFFFFu ? uintBitsToFloat(CANON_NAN) : m_unkey(km);
        // e_i = exp(x_i - m), kept in y; s = sum-reduce(e) by 1.3.
        float s = 0.0;
        if (live)
            for (uint i = lane; i < pc.n; i += 32u) {
                float e = m_exp(m_sub(x[xr + i], m));
                y[yr + i] = e;
                s = m_add(s, e);
            }
        part[ry][lane] = s;
        barrier();
        for (uint w = 16u; w > 0u; w >>= 1) {
            if (lane < w) part[ry][lane] = m_add(part[ry][lane], part[ry][lane + w]);
            barrier();
        }
        float inv = m_recip(part[ry][0]);
        if (live)
            for (uint i = lane; i < pc.n; i += 32u) y[yr + i] = m_canon(m_mul(y[yr + i], inv));
        barrier(); // kmax and part are reused by the next rows
    }
}
