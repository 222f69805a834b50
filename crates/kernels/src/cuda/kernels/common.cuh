// Shared definitions of Kiln's NVRTC kernels (prepended to every .cu source by the loader).
#define KILN_MAX_RANK 8
typedef long long i64;
#define KILN_INF __int_as_float(0x7f800000)

// Storage types of the floating-point kernels: f32, f16 (IEEE half) and bf16 (kept as raw
// bits, no cuda_fp16.h needed); all arithmetic is done in f32 (loads widen, stores round to
// nearest even).
struct kiln_half {
    unsigned short bits;
};
struct kiln_bf16 {
    unsigned short bits;
};
__device__ __forceinline__ float kiln_f32(float v) { return v; }
__device__ __forceinline__ float kiln_f32(kiln_half v) {
    float f;
    asm("cvt.f32.f16 %0, %1;" : "=f"(f) : "h"(v.bits));
    return f;
}
__device__ __forceinline__ float kiln_f32(kiln_bf16 v) {
    return __uint_as_float(((unsigned)v.bits) << 16);
}
template <typename T> struct kiln_store;
template <> struct kiln_store<float> {
    static __device__ __forceinline__ float from(float v) { return v; }
};
template <> struct kiln_store<kiln_half> {
    static __device__ __forceinline__ kiln_half from(float v) {
        kiln_half h;
        asm("cvt.rn.f16.f32 %0, %1;" : "=h"(h.bits) : "f"(v));
        return h;
    }
};
template <> struct kiln_store<kiln_bf16> {
    static __device__ __forceinline__ kiln_bf16 from(float v) {
        unsigned u = __float_as_uint(v);
        kiln_bf16 r;
        if ((u & 0x7fffffffu) > 0x7f800000u) {
            r.bits = (unsigned short)((u >> 16) | 0x40u);  // NaN stays a (quiet) NaN
        } else {
            u += 0x7fffu + ((u >> 16) & 1u);
            r.bits = (unsigned short)(u >> 16);
        }
        return r;
    }
};
// Convert an f32 to storage type T.
template <typename T> __device__ __forceinline__ T kiln_to(float v) {
    return kiln_store<T>::from(v);
}
// Instantiate a macro once per floating-point storage type: X(suffix, type).
#define KILN_FLOAT_TYPES(X) X(f32, float) X(f16, kiln_half) X(bf16, kiln_bf16)

// Dims and strides of a tensor of rank <= 8, passed by value.
struct Dims {
    i64 d[KILN_MAX_RANK];
};

// Activation codes (kiln_kernels::cuda::ops::act_code): 0 none, 1 relu, 2 clip(a,b),
// 3 sigmoid, 4 tanh, 5 leaky_relu(a), 6 hard_swish, 7 hard_sigmoid(a,b), 8 gelu (erf),
// 9 gelu (tanh).
__device__ __forceinline__ float kiln_act(float x, int act, float a, float b) {
    switch (act) {
    case 1: return x > 0.0f ? x : 0.0f;
    case 2: return fminf(fmaxf(x, a), b);
    case 3: return 1.0f / (1.0f + expf(-x));
    case 4: return tanhf(x);
    case 5: return x >= 0.0f ? x : a * x;
    case 6: return x * fmaxf(0.0f, fminf(1.0f, x / 6.0f + 0.5f));
    case 7: return fmaxf(0.0f, fminf(1.0f, a * x + b));
    case 8: return 0.5f * x * (1.0f + erff(x * 0.70710678118654752f));
    case 9: {
        float u = 0.7978845608028654f * (x + 0.044715f * x * x * x);
        return 0.5f * x * (1.0f + tanhf(u));
    }
    default: return x;
    }
}

// Block-wide sum of one value per thread (blockDim.x a multiple of 32, <= 1024).
__device__ __forceinline__ float kiln_block_sum(float v) {
    __shared__ float partial[32];
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    __syncthreads();
    if (lane == 0) partial[warp] = v;
    __syncthreads();
    int warps = (blockDim.x + 31) >> 5;
    v = (int)threadIdx.x < warps ? partial[threadIdx.x] : 0.0f;
    if (warp == 0) {
        for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
        if (lane == 0) partial[0] = v;
    }
    __syncthreads();
    float r = partial[0];
    __syncthreads();
    return r;
}

// Block-wide max of one value per thread.
__device__ __forceinline__ float kiln_block_max(float v) {
    __shared__ float partial[32];
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    __syncthreads();
    if (lane == 0) partial[warp] = v;
    __syncthreads();
    int warps = (blockDim.x + 31) >> 5;
    v = (int)threadIdx.x < warps ? partial[threadIdx.x] : (-KILN_INF);
    if (warp == 0) {
        for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
        if (lane == 0) partial[0] = v;
    }
    __syncthreads();
    float r = partial[0];
    __syncthreads();
    return r;
}
