// TADD, TSUB, TMUL with numpy broadcasting (docs/ops.md 3). op: 0 add, 1 sub, 2 mul.
// mode bit 2 (flat): each operand is full (bit 0 a, bit 1 b) or one element, so out[i] comes from
// a[i or 0] and b[i or 0]; bit 3: vec4 moves (offsets multiples of 4 floats). Otherwise rows: the
// shapes right-aligned to rank 4, a row is one index of the first three axes (its operand offsets
// computed once), columns the last axis; a_st/b_st are each operand's strides (0 where it repeats).
#version 450
#include "f32_model.glsl"
layout(local_size_x = 256) in;
layout(std430, binding = 0) buffer Out { float y[]; };
layout(std430, binding = 1) readonly buffer A { float a[]; };
layout(std430, binding = 2) readonly buffer B { float b[]; };
layout(std430, binding = 0) buffer Out4 { vec4 y4[]; };
layout(std430, binding = 1) readonly buffer A4 { vec4 a4[]; };
layout(std430, binding = 2) readonly buffer B4 { vec4 b4[]; };
layout(push_constant) uniform P {
    uint n, y_off, a_off, b_off, op, mode;
    uint d1, d2, d3; // the output's last three axes (the first is n / (d1 d2 d3))
    uint as0, as1, as2, as3, bs0, bs1, bs2, bs3;
} pc;

float apply(float u, float v)
{
    if (pc.op == 0u) return m_canon(m_add(u, v));
    if (pc.op == 1u) return m_canon(m_sub(u, v));
    return m_canon(m_mul(u, v));
}

void main()
{
    if ((pc.mode & 4u) != 0u) {
        uint stride = gl_NumWorkGroups.x * 256u, start = 0u;
        uint sa = pc.mode & 1u, sb = (pc.mode >> 1) & 1u;
        if ((pc.mode & 8u) != 0u) {
            uint n4 = pc.n / 4u;
            vec4 ua = vec4(a[pc.a_off]), ub = vec4(b[pc.b_off]); // the one element of an operand that repeats
            for (uint i = gl_GlobalInvocationID.x; i < n4; i += stride) {
                vec4 u = sa != 0u ? a4[pc.a_off / 4u + i] : ua, v = sb != 0u ? b4[pc.b_off / 4u + i] : ub;
                y4[pc.y_off / 4u + i] = vec4(apply(u.x, v.x), apply(u.y, v.y), apply(u.z, v.z), apply(u.w, v.w));
            }
            start = n4 * 4u;
        }
        for (uint i = start + gl_GlobalInvocationID.x; i < pc.n; i += stride)
            y[pc.y_off + i] = apply(a[pc.a_off + i * sa], b[pc.b_off + i * sb]);
        return;
    }
    uint rows = pc.n / pc.d3;
    for (uint r = gl_WorkGroupID.y; r < rows; r += gl_NumWorkGroups.y) {
        uint i2 = r % pc.d2, t = r / pc.d2;
        uint i1 = t % pc.d1, i0 = t / pc.d1;
        uint ra = pc.a_off + i0 * pc.as0 + i1 * pc.as1 + i2 * pc.as2, rb = pc.b_off + i0 * pc.bs0 + i1 * pc.bs1 + i2 * pc.bs2;
        uint ry = pc.y_off + r * pc.d3;
        for (uint i3 = gl_WorkGroupID.x * 256u + gl_LocalInvocationID.x; i3 < pc.d3; i3 += gl_NumWorkGroups.x * 256u)
            y[ry + i3] = apply(a[ra + i3 * pc.as3], b[rb + i3 * pc.bs3]);
    }
}
