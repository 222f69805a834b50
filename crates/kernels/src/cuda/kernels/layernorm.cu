// LayerNormalization over the trailing `cols` elements of each of `rows` rows: one block per
// row; scale and bias (length cols) may be null. Mean and variance accumulate in f32.
template <typename T>
__device__ void kiln_layernorm(const T* x, const T* scale, const T* bias, T* y, i64 rows,
                               i64 cols, float eps) {
    i64 row = blockIdx.x;
    if (row >= rows) return;
    const T* xr = x + row * cols;
    T* yr = y + row * cols;
    float s = 0.0f;
    for (i64 j = threadIdx.x; j < cols; j += blockDim.x) s += kiln_f32(xr[j]);
    float mean = kiln_block_sum(s) / (float)cols;
    float v = 0.0f;
    for (i64 j = threadIdx.x; j < cols; j += blockDim.x) {
        float d = kiln_f32(xr[j]) - mean;
        v += d * d;
    }
    float inv = rsqrtf(kiln_block_sum(v) / (float)cols + eps);
    for (i64 j = threadIdx.x; j < cols; j += blockDim.x) {
        float r = (kiln_f32(xr[j]) - mean) * inv;
        if (scale) r *= kiln_f32(scale[j]);
        if (bias) r += kiln_f32(bias[j]);
        yr[j] = kiln_to<T>(r);
    }
}
#define KILN_LAYERNORM(S, T)                                                                  \
    extern "C" __global__ void kiln_layernorm_##S(const T* x, const T* scale, const T* bias,  \
                                                  T* y, i64 rows, i64 cols, float eps) {      \
        kiln_layernorm<T>(x, scale, bias, y, rows, cols, eps);                                \
    }
KILN_FLOAT_TYPES(KILN_LAYERNORM)
