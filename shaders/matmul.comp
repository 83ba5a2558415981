// MATMUL (docs/ops.md 3): each c[i][j] the fma chain over k in increasing order from +0. A workgroup
// computes a BM x BN block of C through BK-deep slices of A and B in shared memory, two of each:
// while the invocations compute on one slice, their loads of the next are in flight in registers
// (stored into the other buffer after the compute, one barrier per slice). Each invocation holds
// TM x TN results in registers, rows trow + RT*i and columns tcol + CT*j (RT = BM/TM, CT = BN/TN),
// so that its shared reads are broadcasts or consecutive and its stores coalesce. Loads move vec4s
// (4 consecutive k of A, 4 consecutive columns of B) when vec says the sizes and offsets allow,
// else 4 floats one by one with bounds checks. The k loop stops at K exactly: a padded step
// fma(0, 0, c) would turn a c of -0 into +0. Tile shapes are specialization constants, chosen per
// device and output size (backends/vulkan/vk_ops.c).
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
layout(std430, binding = 1) readonly buffer A4 { vec4 a4[]; };
layout(std430, binding = 2) readonly buffer B4 { vec4 b4[]; };
layout(push_constant) uniform P { uint m, k, n, c_off, a_off, b_off, vec_a, vec_b; } pc;

const uint RT = BM / TM, CT = BN / TN, NT = RT * CT;
const uint QA = BM * BK / 4u, QB = BK * BN / 4u;             // vec4s per slice of A and of B
const uint LA = (QA + NT - 1u) / NT, LB = (QB + NT - 1u) / NT; // ... per invocation

shared float As[2 * BK * BM]; // [buffer][k][row]: A's slice, transposed
shared float Bs[2 * BK * BN]; // [buffer][k][column]

vec4 ra[LA], rb[LB];

void load(uint row0, uint col0, uint k0, uint tid)
{
    for (uint l = 0u; l < LA; l++) {
        uint q = tid + l * NT, r = q / (BK / 4u), kq = q % (BK / 4u), gi = row0 + r, gk = k0 + kq * 4u;
        vec4 v = vec4(0.0);
        if (q < QA && gi < pc.m) {
            uint at = pc.a_off + gi * pc.k + gk;
            if (pc.vec_a != 0u) {
                if (gk < pc.k) v = a4[at / 4u];
            } else {
                for (uint e = 0u; e < 4u; e++)
                    if (gk + e < pc.k) v[e] = a[at + e];
            }
        }
        ra[l] = v;
    }
    for (uint l = 0u; l < LB; l++) {
        uint q = tid + l * NT, kk = q / (BN / 4u), cq = q % (BN / 4u), gk = k0 + kk, gj = col0 + cq * 4u;
        vec4 v = vec4(0.0);
        if (q < QB && gk < pc.k) {
            uint at = pc.b_off + gk * pc.n + gj;
            if (pc.vec_b != 0u) {
                if (gj < pc.n) v = b4[at / 4u];
            } else {
                for (uint e = 0u; e < 4u; e++)
                    if (gj + e < pc.n) v[e] = b[at + e];
            }
        }
        rb[l] = v;
    }
}

void store(uint buf, uint tid)
{
    for (uint l = 0u; l < LA; l++) {
        uint q = tid + l * NT, r = q / (BK / 4u), kq = q % (BK / 4u);
        if (q < QA)
            for (uint e = 0u; e < 4u; e++) As[buf * BK * BM + (kq * 4u + e) * BM + r] = ra[l][e];
    }
    for (uint l = 0u; l < LB; l++) {
        uint q = tid + l * NT, kk = q / (BN / 4u), cq = q % (BN / 4u);
        if (q < QB)
            for (uint e = 0u; e < 4u; e++) Bs[buf * BK * BN + kk * BN + cq * 4u + e] = rb[l][e];
    }
}

void main()
{
    uint tid = gl_LocalInvocationID.x, tcol = tid % CT, trow = tid / CT;
    uint tiles_n = (pc.n + BN - 1u) / BN, tiles = ((pc.m + BM - 1u) / BM) * tiles_n;
    uint slices = (pc.k + BK - 1u) / BK;
    for (uint tile = gl_WorkGroupID.x; tile < tiles; tile += gl_NumWorkGroups.x) {
        uint row0 = (tile / tiles_n) * BM, col0 = (tile % tiles_n) * BN;
        float acc[TM * TN];
        for (uint e = 0u; e < TM * TN; e++) acc[e] = 0.0;
        if (slices > 0u) {
            load(row0, col0, 0u, tid);
            store(0u, tid);
        }
        barrier();
        for (uint s = 0u; s < slices; s++) {
            uint cur = s & 1u, k0 = s * BK, kn = min(BK, pc.k - k0);
            if (s + 1u < slices) load(row0, col0, k0 + BK, tid);
            for (uint kk = 0u; kk < kn; kk++) {
                float av[TM], bv[TN];
                for (uint i = 0u; i < TM; i++) av[i] = As[cur * BK * BM + kk * BM + trow + RT * i];
                for (uint j = 0u; j < TN; j++) bv[j] = Bs[cur * BK * BN + kk * BN + tcol + CT * j];
                for (uint i = 0u; i < TM; i++)
                    for (uint j = 0u; j < TN; j++) acc[i * TN + j] = m_fma(av[i], bv[j], acc[i * TN + j]);
            }
            if (s + 1u < slices) store(cur ^ 1u, tid);
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
