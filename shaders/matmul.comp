// MATMUL (docs/ops.md 3): each c[i][j] the fma chain over k in increasing order from +0. A workgroup
// computes a BM x BN block of C through BK-deep slices of A and B in shared memory; each invocation
// holds TM x TN of its results in registers, rows trow + RT*i and columns tcol + CT*j (RT = BM/TM,
// CT = BN/TN), so that its shared reads are broadcasts or consecutive and its stores coalesce. The
// k loop stops at K exactly: a padded step fma(0, 0, c) would turn a c of -0 into +0. Tile shapes
// are specialization constants, chosen per device (backends/vulkan/vk_pipelines.c).
#version 450
#include "f32_model.glsl"
layout(local_size_x_id = 0) in;
layout(constant_id = 1) const uint BM = 64;
layout(constant_id = 2) const uint BN = 64;
layout(constant_id = 3) const uint BK = 8;
layout(constant_id = 4) const uint TM = 4;
layout(constant_id = 5) const uint TN = 4;
layout(std430, binding = 0) buffer C { float c[]; };
layout(std430, binding = 1) readonly buffer A { float a[]; };
layout(std430, binding = 2) readonly buffer B { float b[]; };
layout(push_constant) uniform P { uint m, k, n, c_off, a_off, b_off; } pc;

shared float As[BK * BM];
shared float Bs[BK * BN];

void main()
{
    const uint RT = BM / TM, CT = BN / TN, NT = RT * CT;
    uint tid = gl_LocalInvocationID.x, tcol = tid % CT, trow = tid / CT;
    uint tiles_n = (pc.n + BN - 1u) / BN, tiles = ((pc.m + BM - 1u) / BM) * tiles_n;
    for (uint tile = gl_WorkGroupID.x; tile < tiles; tile += gl_NumWorkGroups.x) {
        uint row0 = (tile / tiles_n) * BM, col0 = (tile % tiles_n) * BN;
        float acc[TM * TN];
        for (uint e = 0u; e < TM * TN; e++) acc[e] = 0.0;
        for (uint k0 = 0u; k0 < pc.k; k0 += BK) {
            uint kn = min(BK, pc.k - k0);
            for (uint idx = tid; idx < BM * BK; idx += NT) {
                uint r = idx / BK, kk = idx % BK, gi = row0 + r;
                As[kk * BM + r] = (gi < pc.m && kk < kn) ? a[pc.a_off + gi * pc.k + k0 + kk] : 0.0;
            }
            for (uint idx = tid; idx < BK * BN; idx += NT) {
                uint kk = idx / BN, cc = idx % BN, gj = col0 + cc;
                Bs[kk * BN + cc] = (gj < pc.n && kk < kn) ? b[pc.b_off + (k0 + kk) * pc.n + gj] : 0.0;
            }
            barrier();
            for (uint kk = 0u; kk < kn; kk++) {
                float av[TM], bv[TN];
                for (uint i = 0u; i < TM; i++) av[i] = As[kk * BM + trow + RT * i];
                for (uint j = 0u; j < TN; j++) bv[j] = Bs[kk * BN + tcol + CT * j];
                for (uint i = 0u; i < TM; i++)
                    for (uint j = 0u; j < TN; j++) acc[i * TN + j] = m_fma(av[i], bv[j], acc[i * TN + j]);
            }
            barrier();
        }
        for (uint i = 0u; i < TM; i++) {
            uint gi = row0 + trow + RT * i;
            for (uint j = 0u; j < TN; j++) {
                uint gj = col0 + tcol + CT * j;
                if (gi < pc.m && gj < pc.n) c[pc.c_off + gi * pc.n + gj] = m_canon(acc[i * TN + j]);
            }
        }
    }
}
