// Reductions of a [outer, r, inner] view over r: one thread per (outer, inner) output,
// accumulating in f32. Op codes: 0 sum, 1 mean, 2 max, 3 min, 4 sum of squares, 5 l2 norm.
template <typename T>
__device__ void kiln_reduce(const T* x, T* y, i64 outer, i64 r, i64 inner, int op) {
    i64 n = outer * inner;
    for (i64 i = blockIdx.x * (i64)blockDim.x + threadIdx.x; i < n;
         i += (i64)gridDim.x * blockDim.x) {
        i64 o = i / inner, in = i % inner;
        const T* p = x + o * r * inner + in;
        float acc = (op == 2) ? (-KILN_INF) : (op == 3 ? KILN_INF : 0.0f);
        for (i64 k = 0; k < r; ++k) {
            float v = kiln_f32(p[k * inner]);
            if (op == 2) acc = fmaxf(acc, v);
            else if (op == 3) acc = fminf(acc, v);
            else if (op >= 4) acc += v * v;
            else acc += v;
        }
        if (op == 1) acc /= (float)r;
        if (op == 5) acc = sqrtf(acc);
        y[i] = kiln_to<T>(acc);
    }
}
#define KILN_REDUCE(S, T)                                                                     \
    extern "C" __global__ void kiln_reduce_##S(const T* x, T* y, i64 outer, i64 r, i64 inner, \
                                               int op) {                                      \
        kiln_reduce<T>(x, y, outer, r, inner, op);                                            \
    }
KILN_FLOAT_TYPES(KILN_REDUCE)
