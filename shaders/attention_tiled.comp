// ATTENTION and ATTENTION_CAUSAL for D, Dv <= DMAX: the one-pass blockwise order of docs/ops.md 3,
// with QR = 16 query rows of one slice per workgroup of 256 invocations, so that each 64-key block
// of K and then of V is read from memory once for 16 rows. Per block: K into shared memory (rows
// padded by one float against bank conflicts); the 16 x 64 scores, 4 per invocation, each the fma
// chain over d from +0 times scale; per row (one invocation each) the block max over its visible
// keys, mn and c; the weights, 4 per invocation; per row the sum by 1.3's tree over all 64 slots
// and l; then V into the same
// shared memory and acc = acc * c followed by the fma chain over the row's visible keys in order.
// A row's masked keys take no part (their V rows are not read into its chain). DMAX is a
// specialization constant (shared memory per device: backends/vulkan/vk_plugin.c).
#version 450
#include "f32_model.glsl"
layout(local_size_x = 256) in;
layout(constant_id = 0) const uint DMAX = 64;
layout(std430, binding = 0) buffer Out { float o[]; };
layout(std430, binding = 1) readonly buffer Q { float q[]; };
layout(std430, binding = 2) readonly buffer K { float k[]; };
layout(std430, binding = 3) readonly buffer V { float v[]; };
layout(push_constant) uniform P { uint o_off, q_off, k_off, v_off, sq, sk, d, dv, rows, causal, scale_bits; } pc;

#define QR 16u
#define KB 64u
shared float qs[QR * DMAX];
shared float kv[KB * (DMAX + 1u)]; // the block's K rows (stride d + 1), then its V rows (stride dv)
shared float ps[QR * KB];          // scores, then weights
shared float row_m[QR], row_l[QR], row_c[QR];
shared uint row_n[QR];             // visible keys of each row

void main()
{
    uint t = gl_LocalInvocationID.x, kj = t % KB, rq = t / KB; // rows rq, rq + 4, rq + 8, rq + 12
    float scale = uintBitsToFloat(pc.scale_bits);
    uint blocks_per_slice = (pc.sq + QR - 1u) / QR, slices = pc.rows / pc.sq;
    for (uint wg = gl_WorkGroupID.x; wg < slices * blocks_per_slice; wg += gl_NumWorkGroups.x) {
        uint slice = wg / blocks_per_slice, i0 = (wg % blocks_per_slice) * QR;
        uint nrows = min(QR, pc.sq - i0);
        uint qbase = pc.q_off + (slice * pc.sq + i0) * pc.d;
        for (uint e = t; e < nrows * pc.d; e += 256u) qs[(e / pc.d) * DMAX + e % pc.d] = q[qbase + e];
        if (t < QR) {
            uint n_i = 0u;
            if (t < nrows) {
                n_i = pc.sk;
                if (pc.causal != 0u) {
                    int vis = int(i0 + t) + 1 + int(pc.sk) - int(pc.sq);
                    n_i = vis <= 0 ? 0u : min(uint(vis), pc.sk);
                }
            }
            row_n[t] = n_i;
            row_m[t] = uintBitsToFloat(0xFF800000u);
            row_l[t] = 0.0;
        }
        float acc[8] = float[8](0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0); // rows rq + 4i, columns kj + 64a
        barrier();
        uint most = row_n[nrows - 1u]; // the last row sees the most keys
        uint kbase = pc.k_off + slice * pc.sk * pc.d, vbase = pc.v_off + slice * pc.sk * pc.dv;
        for (uint j0 = 0u; j0 < most; j0 += KB) {
            uint nb = min(KB, pc.sk - j0);
            for (uint e = t; e < nb * pc.d; e += 256u) kv[(e / pc.d) * (pc.d + 1u) + e % pc.d] = k[kbase + j0 * pc.d + e];
            barrier();
            for (uint i = 0u; i < 4u; i++) {
                uint r = rq + 4u * i;
                float s = 0.0;
                if (r < nrows && j0 + kj < row_n[r]) {
                    float dot = 0.0;
                    for (uint c = 0u; c < pc.d; c++) dot = m_fma(qs[r * DMAX + c], kv[kj * (pc.d + 1u) + c], dot);
                    s = m_mul(dot, scale);
                }
                ps[r * KB + kj] = s;
            }
            barrier();
            if (t < nrows && j0 < row_n[t]) { // the row's block max, mn and c
                uint nv = min(KB, row_n[t] - j0), km = 0u;
                bool nan = false;
                for (uint j = 0u; j < nv; j++) {
                    float s = ps[t * KB + j];
                    nan = nan || m_isnan(s);
                    km = max(km, m_key(s));
                }
                float mb = nan ? uintBitsToFloat(CANON_NAN) : m_unkey(km);
                float mn = m_max(row_m[t], mb);
                row_c[t] = m_exp(m_sub(row_m[t], mn));
                row_m[t] = mn;
            }
            barrier();
            for (uint i = 0u; i < 4u; i++) { // the weights, 4 per invocation; 0 in the slots not visible
                uint r = rq + 4u * i;
                if (r < nrows && j0 < row_n[r])
                    ps[r * KB + kj] = j0 + kj < row_n[r] ? m_exp(m_sub(ps[r * KB + kj], row_m[r])) : 0.0;
            }
            barrier();
            if (t < nrows && j0 < row_n[t]) { // l = fma(l, c, the 1.3 sum over all 64 slots)
                float part[32];
                for (uint p = 0u; p < 32u; p++) part[p] = m_add(m_add(0.0, ps[t * KB + p]), ps[t * KB + p + 32u]);
                for (uint w = 16u; w > 0u; w >>= 1)
                    for (uint p = 0u; p < w; p++) part[p] = m_add(part[p], part[p + w]);
                row_l[t] = m_fma(row_l[t], row_c[t], part[0]);
            }
            barrier(); // the weights are in, K's block is no longer read
            for (uint e = t; e < nb * pc.dv; e += 256u) kv[e] = v[vbase + j0 * pc.dv + e];
            barrier();
            for (uint i = 0u; i < 4u; i++) {
                uint r = rq + 4u * i;
                if (r >= nrows || j0 >= row_n[r]) continue;
                uint nv = min(KB, row_n[r] - j0);
                for (uint a = 0u; a < 2u; a++) {
                    uint x = kj + KB * a;
                    if (x >= pc.dv) continue;
                    float accv = m_mul(acc[i * 2u + a], row_c[r]);
                    for (uint j = 0u; j < nv; j++) accv = m_fma(ps[r * KB + j], kv[j * pc.dv + x], accv);
                    acc[i * 2u + a] = accv;
                }
            }
            barrier(); // kv and ps are rewritten by the next block
        }
        for (uint i = 0u; i < 4u; i++) {
            uint r = rq + 4u * i;
            if (r >= nrows) continue;
            float inv = m_recip(row_l[r]);
            for (uint a = 0u; a < 2u; a++) {
                uint x = kj + KB * a;
                if (x < pc.dv)
                    o[pc.o_off + (slice * pc.sq + i0 + r) * pc.dv + x] = row_n[r] == 0u ? 0.0 : m_canon(m_mul(acc[i * 2u + a], inv));
            }
        }
        barrier(); // qs and the row state are rewritten by the next rows
    }
}
