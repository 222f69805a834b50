// Elementwise kernels: unary ops, broadcasting binary ops, the bias/residual/activation
// epilogue of fused layers, and casts between f32 and the 16-bit float types. Each kernel is
// a template over the storage type, instantiated as `<name>_f32`, `<name>_f16`, `<name>_bf16`.

// Unary op codes (kiln_kernels::cuda::ops::elementwise::UnaryOp): 0..9 are the activation
// codes of kiln_act; then 10 exp, 11 log, 12 sqrt, 13 neg, 14 abs, 15 erf, 16 reciprocal,
// 17 floor, 18 ceil, 19 sin, 20 cos, 21 softplus, 22 elu(a), 23 identity.
template <typename T>
__device__ void kiln_unary(const T* x, T* y, i64 n, int op, float a, float b) {
    for (i64 i = blockIdx.x * (i64)blockDim.x + threadIdx.x; i < n;
         i += (i64)gridDim.x * blockDim.x) {
        float v = kiln_f32(x[i]);
        float r;
        switch (op) {
        case 10: r = expf(v); break;
        case 11: r = logf(v); break;
        case 12: r = sqrtf(v); break;
        case 13: r = -v; break;
        case 14: r = fabsf(v); break;
        case 15: r = erff(v); break;
        case 16: r = 1.0f / v; break;
        case 17: r = floorf(v); break;
        case 18: r = ceilf(v); break;
        case 19: r = sinf(v); break;
        case 20: r = cosf(v); break;
        case 21: r = v > 20.0f ? v : log1pf(expf(v)); break;
        case 22: r = v >= 0.0f ? v : a * (expf(v) - 1.0f); break;
        case 23: r = v; break;
        default: r = kiln_act(v, op, a, b); break;
        }
        y[i] = kiln_to<T>(r);
    }
}
#define KILN_UNARY(S, T)                                                                      \
    extern "C" __global__ void kiln_unary_##S(const T* x, T* y, i64 n, int op, float a,      \
                                              float b) {                                      \
        kiln_unary<T>(x, y, n, op, a, b);                                                     \
    }
KILN_FLOAT_TYPES(KILN_UNARY)

// Binary op codes (kiln_kernels::cuda::ops::elementwise::BinaryOp): 0 add, 1 sub, 2 mul,
// 3 div, 4 pow, 5 max, 6 min, 7 prelu (x, slope).
// `a_str`/`b_str` are element strides per output dim (0 where broadcast). When `pa`, `pb`
// are nonzero each input is contiguous and only repeats along leading output dims: its
// element is at `i % pa` (`i % pb`), with no per-dimension index math.
template <typename T>
__device__ void kiln_binary(const T* a, const T* b, T* y, i64 n, int op, int rank, Dims out,
                            Dims a_str, Dims b_str, i64 pa, i64 pb) {
    for (i64 i = blockIdx.x * (i64)blockDim.x + threadIdx.x; i < n;
         i += (i64)gridDim.x * blockDim.x) {
        i64 ia = 0, ib = 0;
        if (pa != 0) {
            ia = pa == n ? i : i % pa;
            ib = pb == n ? i : i % pb;
        } else if (n < 0x7fffffffLL) {
            unsigned rem = (unsigned)i, ja = 0, jb = 0;
            for (int d = rank - 1; d >= 0; --d) {
                unsigned dim = (unsigned)out.d[d], c = rem % dim;
                rem /= dim;
                ja += c * (unsigned)a_str.d[d];
                jb += c * (unsigned)b_str.d[d];
            }
            ia = ja;
            ib = jb;
        } else {
            i64 rem = i;
            for (int d = rank - 1; d >= 0; --d) {
                i64 c = rem % out.d[d];
                rem /= out.d[d];
                ia += c * a_str.d[d];
                ib += c * b_str.d[d];
            }
        }
        float x = kiln_f32(a[ia]), z = kiln_f32(b[ib]), r;
        switch (op) {
        case 0: r = x + z; break;
        case 1: r = x - z; break;
        case 2: r = x * z; break;
        case 3: r = x / z; break;
        case 4: r = powf(x, z); break;
        case 5: r = fmaxf(x, z); break;
        case 6: r = fminf(x, z); break;
        case 7: r = x < 0.0f ? x * z : x; break;
        default: r = 0.0f; break;
        }
        y[i] = kiln_to<T>(r);
    }
}
#define KILN_BINARY(S, T)                                                                     \
    extern "C" __global__ void kiln_binary_##S(const T* a, const T* b, T* y, i64 n, int op,  \
                                               int rank, Dims out, Dims a_str, Dims b_str,    \
                                               i64 pa, i64 pb) {                              \
        kiln_binary<T>(a, b, y, n, op, rank, out, a_str, b_str, pa, pb);                      \
    }
KILN_FLOAT_TYPES(KILN_BINARY)

// y[i] = act(alpha * y[i] + bias_scale * bias[(i / inner) % channels] + z_scale * z[i]);
// bias and z may be null.
template <typename T>
__device__ void kiln_bias_act(T* y, const T* bias, const T* z, i64 n, i64 inner, i64 channels,
                              float alpha, float bias_scale, float z_scale, int act, float a,
                              float b) {
    for (i64 i = blockIdx.x * (i64)blockDim.x + threadIdx.x; i < n;
         i += (i64)gridDim.x * blockDim.x) {
        float v = alpha * kiln_f32(y[i]);
        if (bias) {
            i64 ch = n < 0x7fffffffLL ? (i64)(((unsigned)i / (unsigned)inner) % (unsigned)channels)
                                      : (i / inner) % channels;
            v += bias_scale * kiln_f32(bias[ch]);
        }
        if (z) v += z_scale * kiln_f32(z[i]);
        y[i] = kiln_to<T>(kiln_act(v, act, a, b));
    }
}
#define KILN_BIAS_ACT(S, T)                                                                   \
    extern "C" __global__ void kiln_bias_act_##S(T* y, const T* bias, const T* z, i64 n,      \
                                                 i64 inner, i64 channels, float alpha,        \
                                                 float bias_scale, float z_scale, int act,    \
                                                 float a, float b) {                          \
        kiln_bias_act<T>(y, bias, z, n, inner, channels, alpha, bias_scale, z_scale, act, a, \
                         b);                                                                  \
    }
KILN_FLOAT_TYPES(KILN_BIAS_ACT)

// y[i] = (To) x[i]: the casts at the boundaries of reduced-precision regions.
template <typename From, typename To> __device__ void kiln_cast(const From* x, To* y, i64 n) {
    for (i64 i = blockIdx.x * (i64)blockDim.x + threadIdx.x; i < n;
         i += (i64)gridDim.x * blockDim.x)
        y[i] = kiln_to<To>(kiln_f32(x[i]));
}
extern "C" __global__ void kiln_cast_f32_f16(const float* x, kiln_half* y, i64 n) {
    kiln_cast<float, kiln_half>(x, y, n);
}
extern "C" __global__ void kiln_cast_f16_f32(const kiln_half* x, float* y, i64 n) {
    kiln_cast<kiln_half, float>(x, y, n);
}
extern "C" __global__ void kiln_cast_f32_bf16(const float* x, kiln_bf16* y, i64 n) {
    kiln_cast<float, kiln_bf16>(x, y, n);
}
extern "C" __global__ void kiln_cast_bf16_f32(const kiln_bf16* x, float* y, i64 n) {
    kiln_cast<kiln_bf16, float>(x, y, n);
}
