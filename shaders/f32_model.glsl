// The f32 model of docs/ops.md in GLSL: the shader twin of isa/f32.h and backends/cuda/f32_model.cuh.
//
// Two builds of every shader (mk/vulkan.mk), chosen per device by the conformance probe:
//   EMULATE 0  native: the device's own + - * and fma() already are the model (NVIDIA's driver in its
//              default float mode flushes subnormals after rounding and fuses fma(),
//              ../shared/notes/vulkan-fp32-measured.md); `precise` stops contraction.
//   EMULATE 1  emulated: for devices that keep subnormals and do not fuse fma() (lavapipe). Operands
//              are flushed by bit test, results flushed with tininess after rounding (the ambiguous
//              result FLT_MIN settled in double precision), and fma is the exact product in double
//              plus the addend rounded to odd, then to float: one rounding, as the SSE2 level does.
// Everything else (max, relu, division, exp) is built from those, as the reference builds it; no
// GLSL min(), max(), fma() (native only), exp() or division is used anywhere.
#ifndef F32_MODEL_GLSL
#define F32_MODEL_GLSL

#ifndef EMULATE
#error "EMULATE must be 0 or 1"
#endif

#define CANON_NAN 0x7FC00000u

bool m_isnan(float x) { return (floatBitsToUint(x) & 0x7FFFFFFFu) > 0x7F800000u; }

float m_daz(float x)
{
    uint u = floatBitsToUint(x);
    return (u & 0x7F800000u) != 0u ? x : uintBitsToFloat(u & 0x80000000u);
}

float m_canon(float x) { return m_isnan(x) ? uintBitsToFloat(CANON_NAN) : x; }

#if EMULATE
// 2^-126 - 2^-151: an exact result at least this large rounds to FLT_MIN at 24 bits (ties to even).
double m_tiny_limit() { return packDouble2x32(uvec2(0xF0000000u, 0x380FFFFFu)); }

// r: the IEEE result (gradual underflow) of an op whose exact value is exact_mag's sign and size.
float m_ftz_product(float r, double exact)
{
    uint u = floatBitsToUint(r), m = u & 0x7FFFFFFFu;
    if (m < 0x00800000u) return uintBitsToFloat(u & 0x80000000u);
    if (m == 0x00800000u && abs(exact) < m_tiny_limit()) return uintBitsToFloat(u & 0x80000000u);
    return r;
}

// A sum of two normal floats that lands below FLT_MIN is exact: the IEEE result tells all.
float m_add(float a, float b)
{
    precise float r = m_daz(a) + m_daz(b);
    return m_daz(r);
}
float m_sub(float a, float b)
{
    precise float r = m_daz(a) - m_daz(b);
    return m_daz(r);
}
float m_mul(float a, float b)
{
    a = m_daz(a);
    b = m_daz(b);
    precise float r = a * b;
    uint m = floatBitsToUint(r) & 0x7FFFFFFFu;
    if (m > 0x00800000u) return r;
    precise double p = double(a) * double(b); // exact: 48 significant bits
    return m_ftz_product(r, p);
}
float m_fma(float a, float b, float c)
{
    a = m_daz(a);
    b = m_daz(b);
    c = m_daz(c);
    precise double p = double(a) * double(b); // exact
    precise double dc = double(c);
    precise double s = p + dc;
    uvec2 sb = unpackDouble2x32(s);
    if ((sb.y & 0x7FF00000u) != 0x7FF00000u && (sb.x & 1u) == 0u) {
        // Round to odd: s is the even neighbour; if inexact, take the odd one toward the exact sum.
        precise double bb = s - p;
        precise double e1 = p - (s - bb);
        precise double e2 = dc - bb;
        precise double err = e1 + e2;
        if (err != 0.0lf) {
            bool up = (err > 0.0lf) == (s > 0.0lf);
            if (up) sb.x |= 1u;
            else if (sb.x == 0u) sb = uvec2(0xFFFFFFFFu, sb.y - 1u);
            else sb.x -= 1u;
            s = packDouble2x32(sb);
        }
    }
    precise float r = float(s);
    return m_ftz_product(r, s);
}
#else
float m_add(float a, float b) { precise float r = a + b; return r; }
float m_sub(float a, float b) { precise float r = a - b; return r; }
float m_mul(float a, float b) { precise float r = a * b; return r; }
float m_fma(float a, float b, float c) { precise float r = fma(a, b, c); return r; }
#endif

float m_neg(float x) { return uintBitsToFloat(floatBitsToUint(m_daz(x)) ^ 0x80000000u); }

// A key whose unsigned order is the model's order of non-NaN floats (-0 below +0): max and min
// in integers, which no compiler turns into a float min/max of its own rules.
uint m_key(float x)
{
    uint u = floatBitsToUint(m_daz(x));
    return (u & 0x80000000u) != 0u ? ~u : (u | 0x80000000u);
}
float m_unkey(uint k) { return uintBitsToFloat((k & 0x80000000u) != 0u ? (k & 0x7FFFFFFFu) : ~k); }

// NaN if either is NaN; +0 beats -0.
float m_max(float a, float b)
{
    if (m_isnan(a) || m_isnan(b)) return uintBitsToFloat(CANON_NAN);
    uint ka = m_key(a), kb = m_key(b);
    return m_unkey(ka > kb ? ka : kb);
}

float m_relu(float x)
{
    uint u = floatBitsToUint(x);
    if ((u & 0x7FFFFFFFu) > 0x7F800000u) return uintBitsToFloat(CANON_NAN);
    return ((u & 0x80000000u) != 0u || (u & 0x7F800000u) == 0u) ? 0.0 : x;
}

float m_pow2(int k) { return uintBitsToFloat(uint(k + 127) << 23); } // k in [-126, 127]

// docs/ops.md 1.1, step by step as isa/f32.c's f32_div.
float m_div(float a, float b)
{
    uint ua = floatBitsToUint(m_daz(a)), ub = floatBitsToUint(m_daz(b));
    uint sign = (ua ^ ub) & 0x80000000u;
    uint ma = ua & 0x7FFFFFFFu, mb = ub & 0x7FFFFFFFu;
    if (ma > 0x7F800000u || mb > 0x7F800000u) return uintBitsToFloat(CANON_NAN);
    if (ma == 0x7F800000u) return uintBitsToFloat(mb == 0x7F800000u ? CANON_NAN : (sign | 0x7F800000u));
    if (mb == 0x7F800000u) return uintBitsToFloat(sign);
    if (mb == 0u) return uintBitsToFloat(ma == 0u ? CANON_NAN : (sign | 0x7F800000u));
    if (ma == 0u) return uintBitsToFloat(sign);
    int ea = int(ma >> 23) - 127, eb = int(mb >> 23) - 127;
    float xa = uintBitsToFloat((ma & 0x007FFFFFu) | 0x3F800000u);
    float xb = uintBitsToFloat((mb & 0x007FFFFFu) | 0x3F800000u);
    float nxb = uintBitsToFloat(floatBitsToUint(xb) ^ 0x80000000u);
    float y = m_fma(uintBitsToFloat(0xBEF0F0F1u), xb, uintBitsToFloat(0x3FB4B4B5u));
    for (int i = 0; i < 4; i++) {
        float e = m_fma(nxb, y, 1.0);
        y = m_fma(e, y, y);
    }
    if (floatBitsToUint(xb) == 0x3FFFFFFFu) y = uintBitsToFloat(0x3F000001u);
    float q = m_mul(xa, y);
    float rem = m_fma(nxb, q, xa);
    q = m_fma(rem, y, q);
    int k = clamp(ea - eb, -150, 150);
    int k1 = k >= 0 ? k / 2 : -((1 - k) / 2), k2 = k - k1;
    float mag = m_mul(m_mul(q, m_pow2(k1)), m_pow2(k2));
    return uintBitsToFloat(floatBitsToUint(mag) | sign);
}

float m_recip(float b) { return m_div(1.0, b); }

// 2^(j/16), docs/ops.md 1.2.
const uint M_EXP_TABLE[16] = uint[16](0x3F800000u, 0x3F85AAC3u, 0x3F8B95C2u, 0x3F91C3D3u, 0x3F9837F0u, 0x3F9EF532u,
                                      0x3FA5FED7u, 0x3FAD583Fu, 0x3FB504F3u, 0x3FBD08A4u, 0x3FC5672Au, 0x3FCE248Cu,
                                      0x3FD744FDu, 0x3FE0CCDFu, 0x3FEAC0C7u, 0x3FF5257Du);

// docs/ops.md 1.2, as isa/f32.c's f32_exp.
float m_exp(float x)
{
    x = m_daz(x);
    if (m_isnan(x)) return uintBitsToFloat(CANON_NAN);
    if (m_key(x) < m_key(uintBitsToFloat(0xC2AEB766u))) return 0.0;
    if (m_key(x) > m_key(89.0)) return uintBitsToFloat(0x7F800000u);
    const float shifter = 12582912.0;
    float t = m_fma(x, uintBitsToFloat(0x41B8AA3Bu), shifter);
    float n = m_sub(t, shifter);
    float nn = m_neg(n);
    float r = m_fma(nn, uintBitsToFloat(0x3D318000u), x);
    r = m_fma(nn, uintBitsToFloat(0xB75E8083u), r);
    int ni = int(n), j = ni & 15, k = (ni - j) / 16;
    float p = m_fma(uintBitsToFloat(0x3E2AAAABu), r, 0.5);
    p = m_fma(p, r, 1.0);
    float q = m_mul(p, r);
    int kk = k < 127 ? k : 127;
    float s = uintBitsToFloat(M_EXP_TABLE[j] + (uint(kk) << 23));
    float y = m_fma(s, q, s);
    return k == 128 ? m_mul(y, 2.0) : y;
}

#endif
