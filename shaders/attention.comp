// ATTENTION and ATTENTION_CAUSAL in the one-pass blockwise order of docs/ops.md 3: a workgroup of 64
// invocations per query row, invocation t holding key slot t of each 64-key block and output columns
// t, t + 64, t + 128, t + 192 (D and Dv up to 256; larger shapes run on the CPU).
#version 450
#include "f32_model.glsl"
layout(local_size_x = 64) in;
layout(std430, binding = 0) buffer Out { float o[]; };
layout(std430, binding = 1) readonly buffer Q { float q[]; };
layout(std430, binding = 2) readonly buffer K { float k[]; };
layout(std430, binding = 3) readonly buffer V { float v[]; };
layout(push_constant) uniform P { uint o_off, q_off, k_off, v_off, sq, sk, d, dv, rows, causal, scale_bits; } pc;

shared float qs[256];
shared float ps[64];
shared uint keys[64];
shared float part[32];

void main()
{
    uint t = gl_LocalInvocationID.x;
    float scale = uintBitsToFloat(pc.scale_bits);
    for (uint row = gl_WorkGroupID.x; row < pc.rows; row += gl_NumWorkGroups.x) {
        uint slice = row / pc.sq, i = row % pc.sq;
        uint n_i = pc.sk;
        if (pc.causal != 0u) {
            int vis = int(i) + 1 + int(pc.sk) - int(pc.sq);
            n_i = vis <= 0 ? 0u : min(uint(vis), pc.sk);
        }
        for (uint c = t; c < pc.d; c += 64u) qs[c] = q[pc.q_off + row * pc.d + c];
        barrier();
        float m = uintBitsToFloat(0xFF800000u), l = 0.0;
        float acc[4] = float[4](0.0, 0.0, 0.0, 0.0);
        uint kbase = pc.k_off + slice * pc.sk * pc.d, vbase = pc.v_off + slice * pc.sk * pc.dv;
        for (uint j0 = 0u; j0 < n_i; j0 += 64u) {
            uint j = j0 + t, jend = min(j0 + 64u, n_i);
            bool vis = j < jend;
            float s = 0.0;
            if (vis) {
                float dot = 0.0;
                for (uint c = 0u; c < pc.d; c++) dot = m_fma(qs[c], k[kbase + j * pc.d + c], dot);
                s = m_mul(dot, scale);
            }
            keys[t] = !vis ? 0u : m_isnan(s) ? 0xFFFFFFFFu : m_key(s);
            barrier();
            for (uint w = 32u; w > 0u; w >>= 1) { // the block's max: order-free
                if (t < w) keys[t] = max(keys[t], keys[t + w]);
                barrier();
            }
            float mb = keys[0] == 0xFFFFFFFFu ? uintBitsToFloat(CANON_NAN) : m_unkey(keys[0]);
            float mn = m_max(m, mb);
            float cf = m_exp(m_sub(m, mn));
            float p = vis ? m_exp(m_sub(s, mn)) : 0.0;
            ps[t] = p;
            barrier();
            if (t < 32u) part[t] = m_add(m_add(0.0, ps[t]), ps[t + 32u]); // 1.3 over all 64 slots
            barrier();
            for (uint w = 16u; w > 0u; w >>= 1) {
                if (t < w) part[t] = m_add(part[t], part[t + w]);
                barrier();
            }
            l = m_fma(l, cf, part[0]);
            for (uint a = 0u; a < 4u; a++) {
                uint x = t + 64u * a;
                if (x < pc.dv) {
                    float r = m_mul(acc[a], cf);
                    for (uint jj = j0; jj < jend; jj++) r = m_fma(ps[jj - j0], v[vbase + jj * pc.dv + x], r);
                    acc[a] = r;
                }
            }
            m = mn;
            barrier(); // ps, keys and part are rewritten by the next block
        }
        float inv = m_recip(l);
        for (uint a = 0u; a < 4u; a++) {
            uint x = t + 64u * a;
            if (x < pc.dv) o[pc.o_off + row * pc.dv + x] = n_i == 0u ? 0.0 : m_canon(m_mul(acc[a], inv));
        }
        barrier(); // qs is rewritten by the next row
    }
}
