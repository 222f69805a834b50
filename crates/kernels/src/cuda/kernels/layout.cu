// Data movement: transpose (any permutation, rank <= 8), concat/slice-style block copies and
// gather.

// y[i] = x[sum_d coord_d(i) * in_str[d]], coordinates of i in the output dims `out`.
extern "C" __global__ void kiln_permute_f32(const float* x, float* y, i64 n, int rank, Dims out,
                                            Dims in_str) {
    for (i64 i = blockIdx.x * (i64)blockDim.x + threadIdx.x; i < n;
         i += (i64)gridDim.x * blockDim.x) {
        i64 rem = i, off = 0;
        for (int d = rank - 1; d >= 0; --d) {
            off += (rem % out.d[d]) * in_str.d[d];
            rem /= out.d[d];
        }
        y[i] = x[off];
    }
}

// Copy `rows` rows of `cols` 32-bit words from src (row pitch src_pitch) to dst (row pitch
// dst_pitch): the step of Concat (one call per input) and Split.
extern "C" __global__ void kiln_copy_rows_u32(const unsigned* src, unsigned* dst, i64 rows,
                                              i64 cols, i64 src_pitch, i64 dst_pitch) {
    i64 n = rows * cols;
    for (i64 i = blockIdx.x * (i64)blockDim.x + threadIdx.x; i < n;
         i += (i64)gridDim.x * blockDim.x) {
        i64 r = i / cols, c = i % cols;
        dst[r * dst_pitch + c] = src[r * src_pitch + c];
    }
}

// Gather along an axis of a [outer, axis_len, inner] view with int64 indices (negative ones
// count from the end; out-of-range ones produce 0 and set *bad).
extern "C" __global__ void kiln_gather_f32(const float* x, const i64* idx, float* y, i64 outer,
                                           i64 axis_len, i64 inner, i64 nidx, int* bad) {
    i64 n = outer * nidx * inner;
    for (i64 i = blockIdx.x * (i64)blockDim.x + threadIdx.x; i < n;
         i += (i64)gridDim.x * blockDim.x) {
        i64 in = i % inner, j = (i / inner) % nidx, o = i / (inner * nidx);
        i64 k = idx[j];
        if (k < 0) k += axis_len;
        if (k < 0 || k >= axis_len) {
            y[i] = 0.0f;
            *bad = 1;
        } else {
            y[i] = x[(o * axis_len + k) * inner + in];
        }
    }
}
