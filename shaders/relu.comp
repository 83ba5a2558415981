// RELU (docs/ops.md 3): out[i] = relu(in[i]); out may be in.
#version 450
#include "f32_model.glsl"
layout(local_size_x = 256) in;
layout(std430, binding = 0) buffer Out { float y[]; };
layout(std430, binding = 1) readonly buffer In { float x[]; };
layout(push_constant) uniform P { uint n, y_off, x_off; } pc;

void main()
{
    uint stride = gl_NumWorkGroups.x * 256u;
    for (uint i = gl_GlobalInvocationID.x; i < pc.n; i += stride) y[pc.y_off + i] = m_relu(x[pc.x_off + i]);
}
