// RELU (docs/ops.md 3): out[i] = relu(in[i]); out may be in. vec != 0: both offsets are multiples
// of 4 floats, so the body moves vec4s (a quarter of the loads and stores) and the last n % 4
// elements go one by one.
#version 450
#include "f32_model.glsl"
layout(local_size_x = 256) in;
layout(std430, binding = 0) buffer Out { float y[]; };
layout(std430, binding = 1) readonly buffer In { float x[]; };
layout(std430, binding = 0) buffer Out4 { vec4 y4[]; };
layout(std430, binding = 1) readonly buffer In4 { vec4 x4[]; };
layout(push_constant) uniform P { uint n, y_off, x_off, vec; } pc;

void main()
{
    uint stride = gl_NumWorkGroups.x * 256u, start = 0u;
    if (pc.vec != 0u) {
        uint n4 = pc.n / 4u, y4o = pc.y_off / 4u, x4o = pc.x_off / 4u;
        for (uint i = gl_GlobalInvocationID.x; i < n4; i += stride) {
            vec4 v = x4[x4o + i];
            y4[y4o + i] = vec4(m_relu(v.x), m_relu(v.y), m_relu(v.z), m_relu(v.w));
        }
        start = n4 * 4u;
    }
    for (uint i = start + gl_GlobalInvocationID.x; i < pc.n; i += stride) y[pc.y_off + i] = m_relu(x[pc.x_off + i]);
}
