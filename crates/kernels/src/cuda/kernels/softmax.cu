// Softmax and LogSoftmax over the last axis of a [rows, cols] view: one block per row; the
// max, the sum of exponentials and the results are computed in f32 for every storage type.
template <typename T>
__device__ void kiln_softmax(const T* x, T* y, i64 rows, i64 cols, int log_softmax) {
    i64 row = blockIdx.x;
    if (row >= rows) return;
    const T* xr = x + row * cols;
    T* yr = y + row * cols;
    float m = (-KILN_INF);
    for (i64 j = threadIdx.x; j < cols; j += blockDim.x) m = fmaxf(m, kiln_f32(xr[j]));
    m = kiln_block_max(m);
    float s = 0.0f;
    for (i64 j = threadIdx.x; j < cols; j += blockDim.x) s += expf(kiln_f32(xr[j]) - m);
    s = kiln_block_sum(s);
    if (log_softmax) {
        float ls = logf(s);
        for (i64 j = threadIdx.x; j < cols; j += blockDim.x)
            yr[j] = kiln_to<T>(kiln_f32(xr[j]) - m - ls);
    } else {
        float inv = 1.0f / s;
        for (i64 j = threadIdx.x; j < cols; j += blockDim.x)
            yr[j] = kiln_to<T>(expf(kiln_f32(xr[j]) - m) * inv);
    }
}
#define KILN_SOFTMAX(S, T)                                                                    \
    extern "C" __global__ void kiln_softmax_##S(const T* x, T* y, i64 rows, i64 cols,         \
                                                int log_softmax) {                            \
        kiln_softmax<T>(x, y, rows, cols, log_softmax);                                       \
    }
KILN_FLOAT_TYPES(KILN_SOFTMAX)
