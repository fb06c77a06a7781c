// The Monte Carlo tail reduction on the device: from the P&L of every path (left on the device
// by mc_pnl) to the few paths VaR and CVaR need, so that only those cross to the host.
//
// Losses are ℓ = −P&L. A histogram of ℓ over [min ℓ, max ℓ] (TAIL_BINS bins) is kept for the
// whole run and for each of `batches` equal batches (the batch-means standard errors); a
// threshold bin is found per histogram such that the bins from it upwards hold at least the
// `need` largest losses of that sample (need = m − ⌈α·m⌉ + 1 for m values: VaR is the
// ⌈α·m⌉-th smallest loss, CVaR averages the ones above it); a path is gathered when its loss
// falls in a bin at or above the run's threshold or its batch's. The bin of a loss is a
// monotone function of it (IEEE subtraction and multiplication by a positive number are
// monotone), so within the run and within every batch the gathered paths include every loss
// above some level, at least `need` of them: the host finishes VaR/CVaR on them exactly as
// over the full sample.
//
// Header-free for NVRTC; every kernel is a plain grid over the paths.

#define TAIL_BINS 4096
#define TAIL_SCAN_BLOCKS 512
#define TAIL_SCAN_THREADS 256

// A key whose unsigned order is the order of the (non-NaN) doubles.
__device__ __forceinline__ unsigned long long tail_key(double x) {
    unsigned long long b = (unsigned long long)__double_as_longlong(x);
    return (b >> 63) ? ~b : (b | 0x8000000000000000ull);
}

__device__ __forceinline__ double tail_unkey(unsigned long long k) {
    unsigned long long b = (k >> 63) ? (k & 0x7fffffffffffffffull) : ~k;
    return __longlong_as_double((long long)b);
}

// Bin of loss `l` given range[0] = key of min ℓ, range[1] = key of max ℓ.
__device__ __forceinline__ int tail_bin(double l, const unsigned long long* range) {
    double lo = tail_unkey(range[0]), hi = tail_unkey(range[1]);
    double scale = (double)TAIL_BINS / (hi - lo);
    if (!(scale < 1e308)) scale = 0.0;  // one value (hi = lo) or a range that overflows
    double f = (l - lo) * scale;
    int b = f >= (double)(TAIL_BINS - 1) ? TAIL_BINS - 1 : (f > 0.0 ? (int)f : 0);
    return b;
}

// Pass 1: min and max loss, the lowest index of a non-finite P&L, and per-block sums of the
// P&L (block b sums a fixed set of paths in a fixed order, so the mean is reproducible).
// Launched with TAIL_SCAN_BLOCKS × TAIL_SCAN_THREADS; range = {~0, 0}, first_bad = n before.
extern "C" __global__ void tail_scan(int n, const double* __restrict__ pnl,
                                     unsigned long long* __restrict__ range,
                                     int* __restrict__ first_bad,
                                     double* __restrict__ block_sum) {
    __shared__ double s_sum[TAIL_SCAN_THREADS];
    __shared__ unsigned long long s_lo[TAIL_SCAN_THREADS], s_hi[TAIL_SCAN_THREADS];
    unsigned long long lo = ~0ull, hi = 0ull;
    double sum = 0.0;
    int bad = n;
    for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += gridDim.x * blockDim.x) {
        double p = pnl[i];
        if (!isfinite(p)) {
            bad = min(bad, i);
            continue;
        }
        unsigned long long k = tail_key(-p);
        lo = min(lo, k);
        hi = max(hi, k);
        sum += p;
    }
    if (bad < n) atomicMin(first_bad, bad);
    int t = threadIdx.x;
    s_sum[t] = sum;
    s_lo[t] = lo;
    s_hi[t] = hi;
    __syncthreads();
    for (int w = blockDim.x / 2; w > 0; w >>= 1) {
        if (t < w) {
            s_sum[t] += s_sum[t + w];
            s_lo[t] = min(s_lo[t], s_lo[t + w]);
            s_hi[t] = max(s_hi[t], s_hi[t + w]);
        }
        __syncthreads();
    }
    if (t == 0) {
        block_sum[blockIdx.x] = s_sum[0];
        atomicMin(&range[0], s_lo[0]);
        atomicMax(&range[1], s_hi[0]);
    }
}

// Pass 2: histograms of the loss. Row r < batches counts batch r (paths r·per … (r+1)·per),
// row `batches` the paths after the last batch (all of them when there are no batches), so
// the whole run's histogram is the sum of the rows. Each block counts TAIL_CHUNK consecutive
// paths in shared memory (most of them in one row) and adds its non-zero bins to the row;
// paths of another row go straight to global memory. hist zeroed before.
#define TAIL_CHUNK 8192
extern "C" __global__ void tail_hist(int n, const double* __restrict__ pnl, int per,
                                     int batches, const unsigned long long* __restrict__ range,
                                     unsigned int* __restrict__ hist) {
    __shared__ unsigned int sh[TAIL_BINS];
    for (int b = threadIdx.x; b < TAIL_BINS; b += blockDim.x) sh[b] = 0u;
    __syncthreads();
    int first = blockIdx.x * TAIL_CHUNK;
    int last = min(first + TAIL_CHUNK, n);
    int row0 = per > 0 ? min(first / per, batches) : batches;
    for (int i = first + threadIdx.x; i < last; i += blockDim.x) {
        int b = tail_bin(-pnl[i], range);
        int row = per > 0 ? min(i / per, batches) : batches;
        if (row == row0) {
            atomicAdd(&sh[b], 1u);
        } else {
            atomicAdd(&hist[row * TAIL_BINS + b], 1u);
        }
    }
    __syncthreads();
    for (int b = threadIdx.x; b < TAIL_BINS; b += blockDim.x) {
        if (sh[b] != 0u) atomicAdd(&hist[row0 * TAIL_BINS + b], sh[b]);
    }
}

// Pass 3: block r finds, for batch r (r < batches) or for the whole run (r = batches: every
// row summed), the highest bin whose suffix (it and every bin above) holds at least need[r]
// values, and writes it to threshold[r] (0 when the sample has fewer values). Launched with
// batches + 1 blocks of TAIL_THRESHOLD_THREADS; each thread holds TAIL_BINS / that many
// consecutive bins.
#define TAIL_THRESHOLD_THREADS 1024
extern "C" __global__ void tail_threshold(const unsigned int* __restrict__ hist, int batches,
                                          const int* __restrict__ need,
                                          int* __restrict__ threshold) {
    __shared__ long long warp_sum[TAIL_THRESHOLD_THREADS / 32];
    const int per_thread = TAIL_BINS / TAIL_THRESHOLD_THREADS;
    int r = blockIdx.x;
    long long want = need[r];
    int t = threadIdx.x, lane = t & 31, warp = t >> 5;
    unsigned int v[TAIL_BINS / TAIL_THRESHOLD_THREADS];
    long long mine = 0;
#pragma unroll
    for (int k = 0; k < per_thread; ++k) {
        int b = t * per_thread + k;
        unsigned int c = 0;
        if (r < batches) {
            c = hist[r * TAIL_BINS + b];
        } else {
            for (int row = 0; row <= batches; ++row) c += hist[row * TAIL_BINS + b];
        }
        v[k] = c;
        mine += c;
    }
    // Suffix sums: within the warp, then over the warps above.
    long long incl = mine;
    for (int d = 1; d < 32; d <<= 1) {
        long long o = __shfl_down_sync(0xffffffffu, incl, d);
        if (lane + d < 32) incl += o;
    }
    if (lane == 0) warp_sum[warp] = incl;
    __syncthreads();
    long long higher = 0;
    for (int w = warp + 1; w < TAIL_THRESHOLD_THREADS / 32; ++w) higher += warp_sum[w];
    incl += higher;
    long long above = incl - mine;
    if (t == 0 && (want <= 0 || incl < want)) {
        threshold[r] = want <= 0 ? TAIL_BINS - 1 : 0;  // nothing needed, or everything
        return;
    }
    if (want > 0 && above < want && incl >= want) {
        long long c = above;
        for (int k = per_thread - 1; k >= 0; --k) {
            c += v[k];
            if (c >= want) {
                threshold[r] = t * per_thread + k;
                break;
            }
        }
    }
}

// Pass 4: every path whose loss is in a bin at or above the run's threshold (threshold[batches])
// or its batch's, as (path index, P&L), in no particular order (*count = 0 before; out_* hold
// n).
extern "C" __global__ void tail_gather(int n, const double* __restrict__ pnl, int per,
                                       int batches,
                                       const unsigned long long* __restrict__ range,
                                       const int* __restrict__ threshold,
                                       unsigned int* __restrict__ count,
                                       int* __restrict__ out_index,
                                       double* __restrict__ out_pnl) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    bool take = false;
    double p = 0.0;
    if (i < n) {
        p = pnl[i];
        int b = tail_bin(-p, range);
        int row = per > 0 ? min(i / per, batches) : batches;
        take = b >= threshold[batches] || b >= threshold[row];
    }
    // One atomic per warp.
    unsigned int mask = __ballot_sync(0xffffffffu, take);
    if (mask == 0) return;
    int lane = threadIdx.x & 31;
    unsigned int base = 0;
    int leader = __ffs(mask) - 1;
    if (lane == leader) base = atomicAdd(count, (unsigned int)__popc(mask));
    base = __shfl_sync(0xffffffffu, base, leader);
    if (take) {
        unsigned int at = base + __popc(mask & ((1u << lane) - 1u));
        out_index[at] = i;
        out_pnl[at] = p;
    }
}

// Pass 5: the host's finish on the device. Block r takes, of the gathered paths, those of
// batch r (r < batches) or all of them (r = batches, the whole run), sorts their losses in
// shared memory (at most `cap` of them; bitonic, ascending in IEEE total order through
// tail_key, so equal keys are equal bits) and writes row r of `result`: VaR = the need[r]-th
// largest loss, and the losses above it summed one by one in ascending order from `zero` (the
// host's empty sum) — the very additions of the host's finish, so the same bits. A row whose
// sample has more gathered paths than `cap`, or fewer than it needs, gets NaN: the host then
// finishes from the gathered paths itself. result: [0] first non-finite path (n if none),
// [1] paths gathered, [2] Σ P&L (the block sums of tail_scan added in order from `zero`), then
// (VaR, Σ above) per row. Launched with batches + 1 blocks of TAIL_FINISH_THREADS and
// cap × 8 bytes of dynamic shared memory, cap a power of two.
#define TAIL_FINISH_THREADS 1024
extern "C" __global__ void tail_finish(int n, int per, int batches,
                                       const unsigned int* __restrict__ count,
                                       const int* __restrict__ index,
                                       const double* __restrict__ pnl,
                                       const int* __restrict__ need, int cap,
                                       const int* __restrict__ first_bad,
                                       const double* __restrict__ block_sum, int sums,
                                       double zero, double* __restrict__ result) {
    extern __shared__ unsigned long long keys[];
    __shared__ int s_count;
    int r = blockIdx.x, t = threadIdx.x;
    bool whole = r == batches;
    int kept = (int)*count;
    if (t == 0) s_count = 0;
    __syncthreads();
    for (int j = t; j < kept; j += blockDim.x) {
        if (whole || index[j] / per == r) {
            int at = atomicAdd(&s_count, 1);
            if (at < cap) keys[at] = tail_key(-pnl[j]);
        }
    }
    __syncthreads();
    int m = s_count;
    int want = need[r];
    double* row = result + 3 + 2 * r;
    if (m > cap || m < want || want < 1) {
        if (t == 0) row[0] = row[1] = __longlong_as_double(0x7ff8000000000000LL);
    } else {
        int p = 1;
        while (p < m) p <<= 1;
        // Padding below every loss (key 0 is no double's): the losses end at p − 1.
        for (int j = m + t; j < p; j += blockDim.x) keys[j] = 0ull;
        __syncthreads();
        for (int k = 2; k <= p; k <<= 1) {
            for (int d = k >> 1; d > 0; d >>= 1) {
                for (int i = t; i < p; i += blockDim.x) {
                    int l = i ^ d;
                    if (l > i) {
                        unsigned long long a = keys[i], b = keys[l];
                        if ((a > b) == ((i & k) == 0)) {
                            keys[i] = b;
                            keys[l] = a;
                        }
                    }
                }
                __syncthreads();
            }
        }
        if (t == 0) {
            double sum = zero;
            for (int j = p - want + 1; j < p; ++j) sum += tail_unkey(keys[j]);
            row[0] = tail_unkey(keys[p - want]);
            row[1] = sum;
        }
    }
    if (whole && t == 0) {
        double sum = zero;
        for (int b = 0; b < sums; ++b) sum += block_sum[b];
        result[0] = (double)*first_bad;
        result[1] = (double)kept;
        result[2] = sum;
    }
}
