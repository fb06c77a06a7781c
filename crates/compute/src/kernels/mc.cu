// Monte Carlo P&L of a book, one thread per path: the model and the random streams of
// crates/compute/src/mc.rs and philox.rs (Philox4x32-10 keyed by (seed, path, step, pair),
// 52-bit open uniforms, AS 241 with fused multiply-add Horner steps), then BSM revaluation of
// every option at the horizon and the path's P&L. Header-free for NVRTC; fp64 throughout.
// The AS 241 coefficients are prepended by the host as AS241_A … AS241_F.

#define MC_MAX_UNDERLYINGS 64

__device__ __forceinline__ void philox4x32_10(unsigned int c[4], unsigned int k0, unsigned int k1) {
    #pragma unroll
    for (int r = 0; r < 10; ++r) {
        if (r > 0) { k0 += 0x9E3779B9u; k1 += 0xBB67AE85u; }
        unsigned int hi0 = __umulhi(0xD2511F53u, c[0]);
        unsigned int lo0 = 0xD2511F53u * c[0];
        unsigned int hi1 = __umulhi(0xCD9E8D57u, c[2]);
        unsigned int lo1 = 0xCD9E8D57u * c[2];
        unsigned int n0 = hi1 ^ c[1] ^ k0;
        unsigned int n2 = hi0 ^ c[3] ^ k1;
        c[0] = n0; c[1] = lo1; c[2] = n2; c[3] = lo0;
    }
}

__device__ __forceinline__ double uniform_open(unsigned int hi, unsigned int lo) {
    unsigned long long bits = ((unsigned long long)hi << 20) | (unsigned long long)(lo >> 12);
    return ((double)bits + 0.5) * (1.0 / 4503599627370496.0);
}

__device__ __forceinline__ double horner8(const double c[8], double x) {
    double y = c[7];
    #pragma unroll
    for (int k = 6; k >= 0; --k) y = fma(y, x, c[k]);
    return y;
}

// AS 241 outside the central interval (|u − ½| > 0.425): the tails.
__device__ double inverse_normal_tail(double u) {
    double p = u < 0.5 ? u : 1.0 - u;
    double r = sqrt(-log(p));
    double num, den;
    if (r > 5.0) {
        double s = r - 5.0;
        num = horner8(AS241_E, s);
        den = horner8(AS241_F, s);
    } else {
        double s = r - 1.6;
        num = horner8(AS241_C, s);
        den = horner8(AS241_D, s);
    }
    double v = num / den;
    return u < 0.5 ? -v : v;
}

// Tail draws of one thread waiting for `inverse_normal_tail`: with the tails (15 % of draws)
// computed where they fall, nearly every draw would run the tail code with a few threads of
// the warp active; queued, a warp runs it about as often as its busiest thread has tails.
#define MC_TAIL_QUEUE 48

__device__ double inverse_normal(double u) {
    double q = u - 0.5;
    if (fabs(q) <= 0.425) {
        double r = fma(-q, q, 0.180625);
        return q * horner8(AS241_A, r) / horner8(AS241_B, r);
    }
    return inverse_normal_tail(u);
}

// Black-Scholes-Merton price from ln S (as the path has it) and the option's constants.
__device__ __forceinline__ double bsm_price(double w, double s, double ln_s, double ln_k,
                                            double k, double rq_t, double dq, double dr,
                                            double sst) {
    double x = ln_s - ln_k + rq_t;
    double d1 = x / sst + 0.5 * sst;
    double d2 = d1 - sst;
    return w * (s * dq * normcdf(w * d1) - k * dr * normcdf(w * d2));
}

extern "C" __global__ void mc_pnl(
    int n_paths, unsigned long long first_path, unsigned int k0, unsigned int k1,
    int steps, double dt, int nu,
    const double* __restrict__ base, const double* __restrict__ scale,
    const double* __restrict__ chol, const double* __restrict__ spot0,
    int n_stock, const int* __restrict__ stock_u, const double* __restrict__ stock_q,
    int n_opt, const int* __restrict__ opt_u, const double* __restrict__ opt_w,
    const double* __restrict__ opt_k, const double* __restrict__ opt_ln_k,
    const double* __restrict__ opt_t, const double* __restrict__ opt_rq_t,
    const double* __restrict__ opt_dq, const double* __restrict__ opt_dr,
    const double* __restrict__ opt_vol, const double* __restrict__ opt_qty,
    const double* __restrict__ opt_v0,
    double vol_of_vol, int jumps, double jump_intensity, double jump_mean, double jump_sd,
    double* __restrict__ out) {
    // Per thread, in shared memory (2·nu doubles a thread, the host sizes it and the block):
    // the normal sums of the factors, then ln S in their place, and S. A per-thread array
    // indexed at run time would live in local memory, which at this occupancy spills to L2.
    extern __shared__ double mc_sh[];
    const int tid = threadIdx.x, bd = blockDim.x;
#define ZSUM(f) mc_sh[(f) * bd + tid]
#define SPOT(f) mc_sh[(nu + (f)) * bd + tid]
    int j = blockIdx.x * blockDim.x + threadIdx.x;
    if (j >= n_paths) return;
    unsigned long long path = first_path + (unsigned long long)j;
    unsigned int p0 = (unsigned int)path, p1 = (unsigned int)(path >> 32);
    for (int f = 0; f < nu; ++f) ZSUM(f) = 0.0;
    int pairs = (nu + 1) / 2;
    // Pair by pair, the two factors' central draws summed over the steps in registers (a
    // per-thread array indexed at run time lives in local memory: a load and a store per draw
    // were most of this kernel's memory traffic); tail draws queued and added to `zsum` in
    // batches. The sums differ from the CPU's order only in rounding.
    double tq_u[MC_TAIL_QUEUE];
    unsigned char tq_f[MC_TAIL_QUEUE];
    int nt = 0;
    for (int pair = 0; pair < pairs; ++pair) {
        double z2[2] = {0.0, 0.0};
        for (int step = 0; step < steps; ++step) {
            unsigned int c[4] = {p0, p1, (unsigned int)step, (unsigned int)pair};
            philox4x32_10(c, k0, k1);
            #pragma unroll
            for (int h = 0; h < 2; ++h) {
                double u = uniform_open(c[2 * h], c[2 * h + 1]);
                double q = u - 0.5;
                if (fabs(q) <= 0.425) {
                    double r = fma(-q, q, 0.180625);
                    z2[h] += q * horner8(AS241_A, r) / horner8(AS241_B, r);
                } else if (2 * pair + h < nu) {
                    tq_u[nt] = u;
                    tq_f[nt] = (unsigned char)(2 * pair + h);
                    nt += 1;
                    if (nt == MC_TAIL_QUEUE) {
                        for (int j = 0; j < nt; ++j) ZSUM(tq_f[j]) += inverse_normal_tail(tq_u[j]);
                        nt = 0;
                    }
                }
            }
        }
        ZSUM(2 * pair) += z2[0];
        if (2 * pair + 1 < nu) ZSUM(2 * pair + 1) += z2[1];
    }
    for (int j = 0; j < nt; ++j) ZSUM(tq_f[j]) += inverse_normal_tail(tq_u[j]);
    // Rows of the Cholesky factor from the last: row i reads sums 0..i, so ln S_i can take
    // sum i's place once the row is done.
    for (int i = nu - 1; i >= 0; --i) {
        double e = 0.0;
        for (int k = 0; k <= i; ++k) e += chol[i * nu + k] * ZSUM(k);
        double x = base[i] + scale[i] * e;
        if (jumps) {
            double lam = jump_intensity * dt;
            double kappa = exp(jump_mean + 0.5 * jump_sd * jump_sd) - 1.0;
            double e0 = exp(-lam);
            double jx = 0.0;
            for (int step = 0; step < steps; ++step) {
                unsigned int c[4] = {p0, p1, (unsigned int)step, 65536u + (unsigned int)i};
                philox4x32_10(c, k0, k1);
                double u = uniform_open(c[0], c[1]);
                unsigned int n = 0;
                double pr = e0, cdf = e0;
                while (u > cdf && n < 50) { n += 1; pr *= lam / (double)n; cdf += pr; }
                jx -= jump_intensity * kappa * dt;
                if (n > 0) {
                    double z = inverse_normal(uniform_open(c[2], c[3]));
                    jx += (double)n * jump_mean + sqrt((double)n) * jump_sd * z;
                }
            }
            x += jx;
        }
        ZSUM(i) = x;
        SPOT(i) = exp(x);
    }
    double vol_mult = 1.0;
    if (vol_of_vol > 0.0) {
        unsigned int c[4] = {p0, p1, (unsigned int)steps, 65536u};
        philox4x32_10(c, k0, k1);
        double z = inverse_normal(uniform_open(c[0], c[1]));
        vol_mult = exp(vol_of_vol * z - 0.5 * vol_of_vol * vol_of_vol);
    }
    double pnl = 0.0;
    for (int a = 0; a < n_stock; ++a) {
        int u = stock_u[a];
        pnl += stock_q[a] * (SPOT(u) - spot0[u]);
    }
    for (int o = 0; o < n_opt; ++o) {
        int u = opt_u[o];
        double v;
        if (opt_t[o] <= 0.0) {
            v = fmax(opt_w[o] * (SPOT(u) - opt_k[o]), 0.0);
        } else {
            double vol = fmax(opt_vol[o] * vol_mult, 1e-6);
            double sst = vol * sqrt(opt_t[o]);
            v = bsm_price(opt_w[o], SPOT(u), ZSUM(u), opt_ln_k[o], opt_k[o], opt_rq_t[o],
                          opt_dq[o], opt_dr[o], sst);
        }
        pnl += opt_qty[o] * (v - opt_v0[o]);
    }
    out[j] = pnl;
#undef ZSUM
#undef SPOT
}

// A book whose options are quotes of a chain solved on the device (bsm_iv, then bsm_greeks at
// its volatilities): option o's volatility plus the run's shock and its value now, the model
// price of quote quote[o], written into the book's columns at vol_at and value_at (the
// layout mc_pnl reads); picked[2o], picked[2o + 1] = the volatility and the value, flag[o] = 1
// where either kernel left the quote to the CPU (the host solves and patches those).
extern "C" __global__ void mc_book_from_chain(int n_opt, const int* __restrict__ quote,
                                              const double* __restrict__ iv,
                                              const int* __restrict__ iv_status,
                                              const double* __restrict__ price,
                                              const int* __restrict__ price_status,
                                              double vol_shock, double* __restrict__ book,
                                              int vol_at, int value_at,
                                              double* __restrict__ picked, int* __restrict__ flag) {
    int o = blockIdx.x * blockDim.x + threadIdx.x;
    if (o >= n_opt) return;
    int q = quote[o];
    bool ok = iv_status[q] == 0 && price_status[q] == 0;
    double v = ok ? iv[q] : 0.0;
    double p = ok ? price[q] : 0.0;
    book[vol_at + o] = v + vol_shock;
    book[value_at + o] = p;
    picked[2 * o] = v;
    picked[2 * o + 1] = p;
    flag[o] = ok ? 0 : 1;
}
