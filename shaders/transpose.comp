// TRANSPOSE (docs/ops.md 3): a move of 4- or 8-byte elements (es = 1 or 2 words), bit for bit, through
// a 32 x 32 tile in shared memory so that both the reads and the writes are coalesced.
#version 450
layout(local_size_x = 32, local_size_y = 8) in;
layout(std430, binding = 0) buffer Out { uint y[]; };
layout(std430, binding = 1) readonly buffer In { uint x[]; };
layout(push_constant) uniform P { uint m, n, y_off, x_off, es; } pc; // x is [m, n], y is [n, m]; offsets in words

shared uvec2 tile[32][33];

void main()
{
    uint tiles_n = (pc.n + 31u) / 32u, tiles_m = (pc.m + 31u) / 32u;
    uint tx = gl_LocalInvocationID.x, ty = gl_LocalInvocationID.y;
    for (uint bi = gl_WorkGroupID.y; bi < tiles_m; bi += gl_NumWorkGroups.y)
        for (uint bj = gl_WorkGroupID.x; bj < tiles_n; bj += gl_NumWorkGroups.x) {
            for (uint r = ty; r < 32u; r += 8u) {
                uint i = bi * 32u + r, j = bj * 32u + tx;
                if (i < pc.m && j < pc.n) {
                    uint at = pc.x_off + (i * pc.n + j) * pc.es;
                    tile[r][tx] = uvec2(x[at], pc.es == 2u ? x[at + 1u] : 0u);
                }
            }
            barrier();
            for (uint r = ty; r < 32u; r += 8u) {
                uint j = bj * 32u + r, i = bi * 32u + tx; // y[j][i] = x[i][j]
                if (i < pc.m && j < pc.n) {
                    uint at = pc.y_off + (j * pc.m + i) * pc.es;
                    uvec2 v = tile[tx][r];
                    y[at] = v.x;
                    if (pc.es == 2u) y[at + 1u] = v.y;
                }
            }
            barrier();
        }
}
