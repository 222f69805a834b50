// Data movement: transpose (any permutation, rank <= 8), concat/slice-style block copies and
// gather. The float kernels are instantiated per storage type (`_f32`, `_f16`, `_bf16`).

// y[i] = x[sum_d coord_d(i) * in_str[d]], coordinates of i in the output dims `out`.
// The index type I is 32-bit when every offset fits (cheaper division), else 64-bit.
template <typename T, typename I>
__device__ void kiln_permute_i(const T* x, T* y, i64 n, int rank, Dims out, Dims in_str) {
    for (i64 i = blockIdx.x * (i64)blockDim.x + threadIdx.x; i < n;
         i += (i64)gridDim.x * blockDim.x) {
        I rem = (I)i, off = 0;
        for (int d = rank - 1; d >= 0; --d) {
            I dim = (I)out.d[d];
            off += (rem % dim) * (I)in_str.d[d];
            rem /= dim;
        }
        y[i] = x[off];
    }
}
template <typename T>
__device__ void kiln_permute(const T* x, T* y, i64 n, int rank, Dims out, Dims in_str) {
    if (n < 0x7fffffffLL)
        kiln_permute_i<T, unsigned>(x, y, n, rank, out, in_str);
    else
        kiln_permute_i<T, i64>(x, y, n, rank, out, in_str);
}
#define KILN_PERMUTE(S, T)                                                                    \
    extern "C" __global__ void kiln_permute_##S(const T* x, T* y, i64 n, int rank, Dims out,  \
                                                Dims in_str) {                                \
        kiln_permute<T>(x, y, n, rank, out, in_str);                                          \
    }
KILN_FLOAT_TYPES(KILN_PERMUTE)

// Copy `rows` rows of `cols` words from src (row pitch src_pitch) to dst (row pitch
// dst_pitch): the step of Concat (one call per input) and Split; 32- and 16-bit words.
template <typename W>
__device__ void kiln_copy_rows(const W* src, W* dst, i64 rows, i64 cols, i64 src_pitch,
                               i64 dst_pitch) {
    i64 n = rows * cols;
    for (i64 i = blockIdx.x * (i64)blockDim.x + threadIdx.x; i < n;
         i += (i64)gridDim.x * blockDim.x) {
        i64 r = i / cols, c = i % cols;
        dst[r * dst_pitch + c] = src[r * src_pitch + c];
    }
}
extern "C" __global__ void kiln_copy_rows_u32(const unsigned* src, unsigned* dst, i64 rows,
                                              i64 cols, i64 src_pitch, i64 dst_pitch) {
    kiln_copy_rows<unsigned>(src, dst, rows, cols, src_pitch, dst_pitch);
}
extern "C" __global__ void kiln_copy_rows_u16(const unsigned short* src, unsigned short* dst,
                                              i64 rows, i64 cols, i64 src_pitch,
                                              i64 dst_pitch) {
    kiln_copy_rows<unsigned short>(src, dst, rows, cols, src_pitch, dst_pitch);
}

// Gather along an axis of a [outer, axis_len, inner] view with int64 indices (negative ones
// count from the end; out-of-range ones produce 0 and set *bad).
template <typename T>
__device__ void kiln_gather(const T* x, const i64* idx, T* y, i64 outer, i64 axis_len,
                            i64 inner, i64 nidx, int* bad) {
    i64 n = outer * nidx * inner;
    for (i64 i = blockIdx.x * (i64)blockDim.x + threadIdx.x; i < n;
         i += (i64)gridDim.x * blockDim.x) {
        i64 in = i % inner, j = (i / inner) % nidx, o = i / (inner * nidx);
        i64 k = idx[j];
        if (k < 0) k += axis_len;
        if (k < 0 || k >= axis_len) {
            y[i] = kiln_to<T>(0.0f);
            *bad = 1;
        } else {
            y[i] = x[(o * axis_len + k) * inner + in];
        }
    }
}
#define KILN_GATHER(S, T)                                                                     \
    extern "C" __global__ void kiln_gather_##S(const T* x, const i64* idx, T* y, i64 outer,   \
                                               i64 axis_len, i64 inner, i64 nidx, int* bad) { \
        kiln_gather<T>(x, idx, y, outer, axis_len, inner, nidx, bad);                         \
    }
KILN_FLOAT_TYPES(KILN_GATHER)
