// TADD, TSUB, TMUL with numpy broadcasting (docs/ops.md 3). The shapes come right-aligned to rank 4;
// a_st/b_st are each operand's element strides per axis (0 where it repeats). op: 0 add, 1 sub, 2 mul.
#version 450
#include "f32_model.glsl"
layout(local_size_x = 256) in;
layout(std430, binding = 0) buffer Out { float y[]; };
layout(std430, binding = 1) readonly buffer A { float a[]; };
layout(std430, binding = 2) readonly buffer B { float b[]; };
layout(push_constant) uniform P {
    uint n, y_off, a_off, b_off, op, flat_ab; // flat_ab: bit 0 a is full, bit 1 b is full, bit 2 both flat/scalar
    uint d1, d2, d3;                          // the output's last three axes (the first is n / (d1 d2 d3))
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
    uint stride = gl_NumWorkGroups.x * 256u;
    if ((pc.flat_ab & 4u) != 0u) { // each operand full or one element
        uint sa = pc.flat_ab & 1u, sb = (pc.flat_ab >> 1) & 1u;
        for (uint i = gl_GlobalInvocationID.x; i < pc.n; i += stride)
            y[pc.y_off + i] = apply(a[pc.a_off + i * sa], b[pc.b_off + i * sb]);
        return;
    }
    for (uint i = gl_GlobalInvocationID.x; i < pc.n; i += stride) {
        uint i3 = i % pc.d3, r = i / pc.d3;
        uint i2 = r % pc.d2;
        r /= pc.d2;
        uint i1 = r % pc.d1, i0 = r / pc.d1;
        uint ia = i0 * pc.as0 + i1 * pc.as1 + i2 * pc.as2 + i3 * pc.as3;
        uint ib = i0 * pc.bs0 + i1 * pc.bs1 + i2 * pc.bs2 + i3 * pc.bs3;
        y[pc.y_off + i] = apply(a[pc.a_off + ia], b[pc.b_off + ib]);
    }
}
