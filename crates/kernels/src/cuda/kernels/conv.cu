// 2-D convolution helpers (NCHW): im2col for the GEMM path and a direct kernel for grouped
// and depthwise convolutions with the bias/residual/activation epilogue fused (f32 math for
// every storage type).
struct ConvParams {
    i64 n, c, h, w, m, oh, ow;
    int kh, kw, sh, sw, ph, pw, dh, dw, groups;
    int act;
    float act_a, act_b;
};

// col[b][(ci*kh + ky)*kw + kx][oy*ow + ox] for images b in [0, count) starting at image `first`.
template <typename T>
__device__ void kiln_im2col(const T* x, T* col, ConvParams p, i64 first, i64 count) {
    i64 k = (i64)p.c * p.kh * p.kw, pix = p.oh * p.ow;
    i64 total = count * k * pix;
    for (i64 i = blockIdx.x * (i64)blockDim.x + threadIdx.x; i < total;
         i += (i64)gridDim.x * blockDim.x) {
        i64 q = i % pix, row = (i / pix) % k, b = i / (pix * k);
        i64 ox = q % p.ow, oy = q / p.ow;
        i64 kx = row % p.kw, ky = (row / p.kw) % p.kh, ci = row / (p.kw * p.kh);
        i64 iy = oy * p.sh - p.ph + ky * p.dh, ix = ox * p.sw - p.pw + kx * p.dw;
        T v = kiln_to<T>(0.0f);
        if (iy >= 0 && iy < p.h && ix >= 0 && ix < p.w)
            v = x[(((first + b) * p.c + ci) * p.h + iy) * p.w + ix];
        col[i] = v;
    }
}
#define KILN_IM2COL(S, T)                                                                     \
    extern "C" __global__ void kiln_im2col_##S(const T* x, T* col, ConvParams p, i64 first,   \
                                               i64 count) {                                   \
        kiln_im2col<T>(x, col, p, first, count);                                              \
    }
KILN_FLOAT_TYPES(KILN_IM2COL)

// One thread per output element; bias and z (residual, output-shaped) may be null.
template <typename T>
__device__ void kiln_conv2d_direct(const T* x, const T* wt, const T* bias, const T* z, T* y,
                                   ConvParams p) {
    i64 total = p.n * p.m * p.oh * p.ow;
    i64 cg = p.c / p.groups, mg = p.m / p.groups;
    for (i64 i = blockIdx.x * (i64)blockDim.x + threadIdx.x; i < total;
         i += (i64)gridDim.x * blockDim.x) {
        i64 ox = i % p.ow, oy = (i / p.ow) % p.oh, oc = (i / (p.ow * p.oh)) % p.m;
        i64 b = i / (p.ow * p.oh * p.m);
        i64 g = oc / mg;
        float acc = 0.0f;
        for (i64 ci = 0; ci < cg; ++ci) {
            const T* xp = x + ((b * p.c + g * cg + ci) * p.h) * p.w;
            const T* wp = wt + ((oc * cg + ci) * p.kh) * p.kw;
            for (int ky = 0; ky < p.kh; ++ky) {
                i64 iy = oy * p.sh - p.ph + (i64)ky * p.dh;
                if (iy < 0 || iy >= p.h) continue;
                for (int kx = 0; kx < p.kw; ++kx) {
                    i64 ix = ox * p.sw - p.pw + (i64)kx * p.dw;
                    if (ix < 0 || ix >= p.w) continue;
                    acc += kiln_f32(xp[iy * p.w + ix]) * kiln_f32(wp[ky * p.kw + kx]);
                }
            }
        }
        if (bias) acc += kiln_f32(bias[oc]);
        if (z) acc += kiln_f32(z[i]);
        y[i] = kiln_to<T>(kiln_act(acc, p.act, p.act_a, p.act_b));
    }
}
#define KILN_CONV2D_DIRECT(S, T)                                                              \
    extern "C" __global__ void kiln_conv2d_direct_##S(const T* x, const T* wt, const T* bias, \
                                                      const T* z, T* y, ConvParams p) {       \
        kiln_conv2d_direct<T>(x, wt, bias, z, y, p);                                          \
    }
KILN_FLOAT_TYPES(KILN_CONV2D_DIRECT)
