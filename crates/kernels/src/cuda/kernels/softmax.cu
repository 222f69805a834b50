// Softmax and LogSoftmax over the last axis of a [rows, cols] view: one block per row.
extern "C" __global__ void kiln_softmax_f32(const float* x, float* y, i64 rows, i64 cols,
                                            int log_softmax) {
    i64 row = blockIdx.x;
    if (row >= rows) return;
    const float* xr = x + row * cols;
    float* yr = y + row * cols;
    float m = (-KILN_INF);
    for (i64 j = threadIdx.x; j < cols; j += blockDim.x) m = fmaxf(m, xr[j]);
    m = kiln_block_max(m);
    float s = 0.0f;
    for (i64 j = threadIdx.x; j < cols; j += blockDim.x) s += expf(xr[j] - m);
    s = kiln_block_sum(s);
    if (log_softmax) {
        float ls = logf(s);
        for (i64 j = threadIdx.x; j < cols; j += blockDim.x) yr[j] = xr[j] - m - ls;
    } else {
        float inv = 1.0f / s;
        for (i64 j = threadIdx.x; j < cols; j += blockDim.x) yr[j] = expf(xr[j] - m) * inv;
    }
}
