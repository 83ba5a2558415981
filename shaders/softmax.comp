// SOFTMAX over the last axis (docs/ops.md 3): 32 lanes per row are the 32 strided partials of 1.3,
// folded by the fixed tree in shared memory (so any subgroup size gives the same bits); four rows
// per workgroup. Rows up to 32 x NPL floats stay in registers (each lane's NPL values loaded at
// once: one read and one write of memory); longer rows are read three times, their exps kept in y,
// with four loads in flight per lane. Either way a lane takes its elements in increasing order, as
// 1.3's partials want. y may be x: every element is read, then written, by the same invocation.
#version 450
#include "f32_model.glsl"
layout(local_size_x = 32, local_size_y = 4) in;
layout(std430, binding = 0) buffer Out { float y[]; };
layout(std430, binding = 1) readonly buffer In { float x[]; };
layout(push_constant) uniform P { uint rows, n, y_off, x_off; } pc;

#define NPL 32
shared uint kmax[4][32];
shared float part[4][32];

uint key_of(float v) { return m_isnan(v) ? 0xFFFFFFFFu : m_key(v); } // NaN as the largest key

// The fixed trees of 1.3 over the row's 32 lanes (every invocation of the workgroup calls them).
float fold_max(uint ry, uint lane, uint km)
{
    kmax[ry][lane] = km;
    barrier();
    for (uint w = 16u; w > 0u; w >>= 1) {
        if (lane < w) kmax[ry][lane] = max(kmax[ry][lane], kmax[ry][lane + w]); // integer max: exact, order-free
        barrier();
    }
    km = kmax[ry][0];
    return km == 0xFFFFFFFFu ? uintBitsToFloat(CANON_NAN) : m_unkey(km);
}

float fold_sum(uint ry, uint lane, float s)
{
    part[ry][lane] = s;
    barrier();
    for (uint w = 16u; w > 0u; w >>= 1) {
        if (lane < w) part[ry][lane] = m_add(part[ry][lane], part[ry][lane + w]);
        barrier();
    }
    return part[ry][0];
}

void main()
{
    uint lane = gl_LocalInvocationID.x, ry = gl_LocalInvocationID.y;
    bool short_rows = pc.n <= 32u * NPL;
    for (uint base = gl_WorkGroupID.x * 4u; base < pc.rows; base += gl_NumWorkGroups.x * 4u) {
        uint row = base + ry;
        bool live = row < pc.rows;
        uint xr = pc.x_off + row * pc.n, yr = pc.y_off + row * pc.n;
        uint km = m_key(uintBitsToFloat(0xFF800000u));
        if (short_rows) {
            float v[NPL];
            for (uint t = 0u; t < NPL; t++) {
                uint i = lane + 32u * t;
                v[t] = live && i < pc.n ? x[xr + i] : 0.0;
            }
            for (uint t = 0u; t < NPL; t++)
                if (live && lane + 32u * t < pc.n) km = max(km, key_of(v[t]));
            float m = fold_max(ry, lane, km);
            float s = 0.0;
            for (uint t = 0u; t < NPL; t++)
                if (live && lane + 32u * t < pc.n) {
                    v[t] = m_exp(m_sub(v[t], m));
                    s = m_add(s, v[t]);
                }
            float inv = m_recip(fold_sum(ry, lane, s));
            for (uint t = 0u; t < NPL; t++) {
                uint i = lane + 32u * t;
                if (live && i < pc.n) y[yr + i] = m_canon(m_mul(v[t], inv));
            }
        } else {
            uint i = lane;
            if (live) {
                for (; i + 96u < pc.n; i += 128u) {
                    float a = x[xr + i], b = x[xr + i + 32u], c = x[xr + i + 64u], d = x[xr + i + 96u];
                    km = max(max(km, key_of(a)), max(max(key_of(b), key_of(c)), key_of(d)));
                }
                for (; i < pc.n; i += 32u) km = max(km, key_of(x[xr + i]));
            }
            float m = fold_max(ry, lane, km);
            float s = 0.0;
            if (live) {
                for (i = lane; i + 96u < pc.n; i += 128u) {
                    float a = x[xr + i], b = x[xr + i + 32u], c = x[xr + i + 64u], d = x[xr + i + 96u];
                    a = m_exp(m_sub(a, m));
                    b = m_exp(m_sub(b, m));
                    c = m_exp(m_sub(c, m));
                    d = m_exp(m_sub(d, m));
                    y[yr + i] = a;
                    y[yr + i + 32u] = b;
                    y[yr + i + 64u] = c;
                    y[yr + i + 96u] = d;
                    s = m_add(m_add(m_add(m_add(s, a), b), c), d);
                }
                for (; i < pc.n; i += 32u) {
                    float e = m_exp(m_sub(x[xr + i], m));
                    y[yr + i] = e;
                    s = m_add(s, e);
                }
            }
            float inv = m_recip(fold_sum(ry, lane, s));
            if (live)
                for (i = lane; i < pc.n; i += 32u) y[yr + i] = m_canon(m_mul(y[yr + i], inv));
        }
        barrier(); // kmax and part are reused by the next rows
    }
}
