// LayerNormalization over the trailing `cols` elements of each of `rows` rows: one block per
// row; scale and bias (length cols) may be null.
extern "C" __global__ void kiln_layernorm_f32(const float* x, const float* scale,
                                              const float* bias, float* y, i64 rows, i64 cols,
                                              float eps) {
    i64 row = blockIdx.x;
    if (row >= rows) return;
    const float* xr = x + row * cols;
    float* yr = y + row * cols;
    float s = 0.0f;
    for (i64 j = threadIdx.x; j < cols; j += blockDim.x) s += xr[j];
    float mean = kiln_block_sum(s) / (float)cols;
    float v = 0.0f;
    for (i64 j = threadIdx.x; j < cols; j += blockDim.x) {
        float d = xr[j] - mean;
        v += d * d;
    }
    float inv = rsqrtf(kiln_block_sum(v) / (float)cols + eps);
    for (i64 j = threadIdx.x; j < cols; j += blockDim.x) {
        float r = (xr[j] - mean) * inv;
        if (scale) r *= scale[j];
        if (bias) r += bias[j];
        yr[j] = r;
    }
}
