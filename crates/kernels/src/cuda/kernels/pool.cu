// 2-D max and average pooling of NCHW tensors: one thread per output element (f32 math).
struct PoolParams {
    i64 n, c, h, w, oh, ow;
    int kh, kw, sh, sw, ph, pw, dh, dw;
    int is_max, count_include_pad;
};

template <typename T> __device__ void kiln_pool2d(const T* x, T* y, PoolParams p) {
    i64 total = p.n * p.c * p.oh * p.ow;
    for (i64 i = blockIdx.x * (i64)blockDim.x + threadIdx.x; i < total;
         i += (i64)gridDim.x * blockDim.x) {
        i64 ox = i % p.ow, oy = (i / p.ow) % p.oh, nc = i / (p.ow * p.oh);
        const T* xp = x + nc * p.h * p.w;
        float acc = p.is_max ? (-KILN_INF) : 0.0f;
        int count = 0;
        for (int ky = 0; ky < p.kh; ++ky) {
            i64 iy = oy * p.sh - p.ph + (i64)ky * p.dh;
            for (int kx = 0; kx < p.kw; ++kx) {
                i64 ix = ox * p.sw - p.pw + (i64)kx * p.dw;
                bool inside = iy >= 0 && iy < p.h && ix >= 0 && ix < p.w;
                if (inside) {
                    float v = kiln_f32(xp[iy * p.w + ix]);
                    acc = p.is_max ? fmaxf(acc, v) : acc + v;
                    ++count;
                } else if (p.count_include_pad && iy < p.h + p.ph && ix < p.w + p.pw) {
                    ++count;
                }
            }
        }
        if (!p.is_max) acc = count > 0 ? acc / (float)count : 0.0f;
        y[i] = kiln_to<T>(acc);
    }
}
#define KILN_POOL2D(S, T)                                                                     \
    extern "C" __global__ void kiln_pool2d_##S(const T* x, T* y, PoolParams p) {              \
        kiln_pool2d<T>(x, y, p);                                                              \
    }
KILN_FLOAT_TYPES(KILN_POOL2D)
