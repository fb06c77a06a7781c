// European Black-Scholes-Merton price and Greeks, one thread per option, fp64, header-free
// for NVRTC. The formulas of wheelhouse_pricing::black::bsm_greeks_unchecked: ln(S/K) with the
// rounding of S/K compensated; N(ωd) from erfcx on every element (no branch between the in-
// and out-of-the-money forms), and out of the money (both ωd₁, ωd₂ < 0) the price in Jäckel's
// erfcx form, so deep OTM values keep their relative accuracy. Elements the kernel
// does not handle (invalid inputs, the far tails where e^{-d²/2} underflows) get status 1, NaN
// in every output, and are recomputed by the CPU reference.

#define SQRT_HALF_PI 1.2533141373155003
#define INV_SQRT_2PI 0.3989422804014327
#define INV_SQRT2 0.7071067811865476

// Loads and stores of the columns. GREEKS_STREAMING marks them evict-first (__ldcs/__stcs);
// on an H200 that made the kernel 14 % slower (0.494 → 0.563 ms for 10 M options,
// BENCHMARKS.md), so the default caching stays.
#ifdef GREEKS_STREAMING
#define G_LD(p) __ldcs(p)
#define G_ST(p, v) __stcs((p), (v))
#else
#define G_LD(p) (*(p))
#define G_ST(p, v) (*(p) = (v))
#endif

// The columns every price + Greeks kernel takes: the kind (0 call, 1 put) and six inputs, then
// nine outputs and the status.
#define GREEKS_COLUMNS                                                                      \
    const int *__restrict__ kind, const double *__restrict__ spot,                          \
        const double *__restrict__ strike, const double *__restrict__ years,                \
        const double *__restrict__ rate, const double *__restrict__ dividend_yield,         \
        const double *__restrict__ volatility, double *__restrict__ price,                  \
        double *__restrict__ delta, double *__restrict__ gamma, double *__restrict__ vega,  \
        double *__restrict__ theta, double *__restrict__ rho, double *__restrict__ vanna,   \
        double *__restrict__ volga, double *__restrict__ charm, int *__restrict__ status

#define GREEKS_ARGS                                                                         \
    kind, spot, strike, years, rate, dividend_yield, volatility, price, delta, gamma, vega, \
        theta, rho, vanna, volga, charm, status

// One option: element i of every column.
__device__ __forceinline__ void bsm_greeks_one(int i, GREEKS_COLUMNS) {
    double s = G_LD(spot + i), k = G_LD(strike + i), t = G_LD(years + i), r = G_LD(rate + i),
           q = G_LD(dividend_yield + i), v = G_LD(volatility + i);
    double w = G_LD(kind + i) == 0 ? 1.0 : -1.0;
    bool ok = s >= 1e-300 && s <= 1e300 && k >= 1e-300 && k <= 1e300 && t >= 1e-300 &&
              t <= 1e300 && v >= 1e-300 && v <= 1e300 && fabs(r) <= 1e300 && fabs(q) <= 1e300;
    double sqrt_t = sqrt(t);
    double sst = v * sqrt_t;
    double ratio = s / k;
    // ln(S/K) with the rounding of S/K compensated: S = ratio·K + e exactly.
    double x = log(ratio) + fma(-ratio, k, s) / s + (r - q) * t;
    double h = x / sst;
    double d1 = h + 0.5 * sst;
    double d2 = h - 0.5 * sst;
    // Elements left to the CPU reference (status 1) still run the arithmetic (on whatever
    // their inputs give) and write NaN to every output: a lane that skipped its stores would
    // leave the 32-byte sectors it shares with its neighbours part-written, and each such
    // sector is then read from DRAM to be merged. On the random benchmark batch, where 41 % of
    // the elements are far-tail ones, 85 % of the output sectors were part-written: 19 M extra
    // DRAM sector reads, more than the kernel's own inputs (BENCHMARKS.md, 2026-12-03). One
    // store path for every lane (no early exit) also takes the kernel from 62 registers to 58
    // (a separate NaN-store path took it to 74).
    bool fail = !ok || !(fabs(d1) <= 36.0 && fabs(d2) <= 36.0 && sst <= 35.0);
    double dq = exp(-q * t), dr = exp(-r * t);
    double pdf1 = INV_SQRT_2PI * exp(-0.5 * d1 * d1);
    // N(−|d|) = φ(d)·√(π/2)·erfcx(|d|/√2) for both d, one erfcx each and no branch (a warp
    // holding both in- and out-of-the-money options would run two paths); with
    // S·dq·φ(d₁) = K·dr·φ(d₂): S·dq·N(−|d₁|) = c·e₁, K·dr·N(−|d₂|) = c·e₂, c = S·dq·φ(d₁)·√(π/2).
    double e1 = erfcx(fabs(d1) * INV_SQRT2), e2 = erfcx(fabs(d2) * INV_SQRT2);
    double sdq = s * dq;
    double common = sdq * pdf1 * SQRT_HALF_PI;
    double tail1 = pdf1 * SQRT_HALF_PI * e1;
    bool neg1 = w * d1 < 0.0, neg2 = w * d2 < 0.0;
    double nd1 = neg1 ? tail1 : 1.0 - tail1;
    double term_s = neg1 ? common * e1 : sdq * nd1;
    double term_k = neg2 ? common * e2 : k * dr - common * e2;
    // Out of the money (both ωd < 0): Jäckel's form, the cancellation between erfcx values.
    double pr = neg1 && neg2 ? w * common * (e1 - e2) : w * (term_s - term_k);
    double dq_pdf = dq * pdf1;
    double vg = s * dq_pdf * sqrt_t;
    double de = w * dq * nd1;
    double ga = dq_pdf / (s * sst);
    double th = -0.5 * s * dq_pdf * v / sqrt_t + w * (q * term_s - r * term_k);
    double rh = w * t * term_k;
    double va = -dq_pdf * d2 / v;
    double vo = vg * d1 * d2 / v;
    double ch = q * de - dq_pdf * (2.0 * (r - q) * t - d2 * sst) / (2.0 * t * sst);
    const double nan = __longlong_as_double(0x7ff8000000000000LL);
    G_ST(price + i, fail ? nan : pr);
    G_ST(delta + i, fail ? nan : de);
    G_ST(gamma + i, fail ? nan : ga);
    G_ST(vega + i, fail ? nan : vg);
    G_ST(theta + i, fail ? nan : th);
    G_ST(rho + i, fail ? nan : rh);
    G_ST(vanna + i, fail ? nan : va);
    G_ST(volga + i, fail ? nan : vo);
    G_ST(charm + i, fail ? nan : ch);
    G_ST(status + i, fail ? 1 : 0);
}

extern "C" __global__ void bsm_greeks(int n, GREEKS_COLUMNS) {
    // GREEKS_PER_THREAD options per thread (the host defines it and sizes the grid to
    // match), a block's worth apart so every load and store stays coalesced; with more than
    // one, the loads of the next option are in flight while this one computes.
    int i = blockIdx.x * (blockDim.x * GREEKS_PER_THREAD) + threadIdx.x;
#pragma unroll
    for (int u = 0; u < GREEKS_PER_THREAD; ++u) {
        int j = i + u * blockDim.x;
        if (j < n) bsm_greeks_one(j, GREEKS_ARGS);
    }
}

// The memory floor of bsm_greeks: the same seven columns read and ten written, element for
// element, with no math (each output a different sum of inputs, so no load is dropped).
// Timed beside bsm_greeks to say how far its arithmetic keeps it from the bandwidth bound.
extern "C" __global__ void bsm_greeks_floor(int n, GREEKS_COLUMNS) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    double s = G_LD(spot + i), k = G_LD(strike + i), t = G_LD(years + i), r = G_LD(rate + i),
           q = G_LD(dividend_yield + i), v = G_LD(volatility + i);
    int c = G_LD(kind + i);
    G_ST(price + i, s + k);
    G_ST(delta + i, s + t);
    G_ST(gamma + i, s + r);
    G_ST(vega + i, s + q);
    G_ST(theta + i, s + v);
    G_ST(rho + i, k + t);
    G_ST(vanna + i, k + r);
    G_ST(volga + i, k + q);
    G_ST(charm + i, k + v);
    G_ST(status + i, c + 1);
}

// ---------------------------------------------------------------------------------------------
// fp32 mode: the formulas of bsm_greeks_one in single precision, on f32 columns: half the bytes
// of the fp64 kernel, which is bound by memory traffic. Single-precision exp, log and erfcx
// (CUDA's, within 2 ulp); ln(S/K) with the rounding of S/K compensated as in fp64. Elements
// with invalid inputs, |d| > 12 (where e^{−d²/2} leaves the normal f32 range) or a non-finite
// output get status 1 and NaN: the host recomputes them in fp64 and rounds.

#define INV_SQRT_2PI_F 0.3989422804f
#define INV_SQRT2_F 0.7071067812f
#define SQRT_HALF_PI_F 1.2533141373f

#define GREEKS_F32_COLUMNS                                                                  \
    const int *__restrict__ kind, const float *__restrict__ spot,                           \
        const float *__restrict__ strike, const float *__restrict__ years,                  \
        const float *__restrict__ rate, const float *__restrict__ dividend_yield,           \
        const float *__restrict__ volatility, float *__restrict__ price,                    \
        float *__restrict__ delta, float *__restrict__ gamma, float *__restrict__ vega,     \
        float *__restrict__ theta, float *__restrict__ rho, float *__restrict__ vanna,      \
        float *__restrict__ volga, float *__restrict__ charm, int *__restrict__ status

extern "C" __global__ void bsm_greeks_f32(int n, GREEKS_F32_COLUMNS) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    float s = spot[i], k = strike[i], t = years[i], r = rate[i], q = dividend_yield[i],
          v = volatility[i];
    float w = kind[i] == 0 ? 1.0f : -1.0f;
    bool ok = s >= 1e-30f && s <= 1e30f && k >= 1e-30f && k <= 1e30f && t >= 1e-30f &&
              t <= 1e30f && v >= 1e-30f && v <= 1e30f && fabsf(r) <= 1e30f && fabsf(q) <= 1e30f;
    float sqrt_t = sqrtf(t);
    float sst = v * sqrt_t;
    float ratio = s / k;
    float x = logf(ratio) + fmaf(-ratio, k, s) / s + (r - q) * t;
    float h = x / sst;
    float d1 = h + 0.5f * sst;
    float d2 = h - 0.5f * sst;
    float dq = expf(-q * t), dr = expf(-r * t);
    float pdf1 = INV_SQRT_2PI_F * expf(-0.5f * d1 * d1);
    float e1 = erfcxf(fabsf(d1) * INV_SQRT2_F), e2 = erfcxf(fabsf(d2) * INV_SQRT2_F);
    float sdq = s * dq;
    float common = sdq * pdf1 * SQRT_HALF_PI_F;
    float tail1 = pdf1 * SQRT_HALF_PI_F * e1;
    bool neg1 = w * d1 < 0.0f, neg2 = w * d2 < 0.0f;
    float nd1 = neg1 ? tail1 : 1.0f - tail1;
    float term_s = neg1 ? common * e1 : sdq * nd1;
    float term_k = neg2 ? common * e2 : k * dr - common * e2;
    float pr = neg1 && neg2 ? w * common * (e1 - e2) : w * (term_s - term_k);
    float dq_pdf = dq * pdf1;
    float vg = s * dq_pdf * sqrt_t;
    float de = w * dq * nd1;
    float ga = dq_pdf / (s * sst);
    float th = -0.5f * s * dq_pdf * v / sqrt_t + w * (q * term_s - r * term_k);
    float rh = w * t * term_k;
    float va = -dq_pdf * d2 / v;
    float vo = vg * d1 * d2 / v;
    float ch = q * de - dq_pdf * (2.0f * (r - q) * t - d2 * sst) / (2.0f * t * sst);
    bool fail = !ok || !(fabsf(d1) <= 12.0f && fabsf(d2) <= 12.0f && sst <= 12.0f) ||
                !(isfinite(pr) && isfinite(de) && isfinite(ga) && isfinite(vg) &&
                  isfinite(th) && isfinite(rh) && isfinite(va) && isfinite(vo) && isfinite(ch));
    const float nan = __int_as_float(0x7fc00000);
    price[i] = fail ? nan : pr;
    delta[i] = fail ? nan : de;
    gamma[i] = fail ? nan : ga;
    vega[i] = fail ? nan : vg;
    theta[i] = fail ? nan : th;
    rho[i] = fail ? nan : rh;
    vanna[i] = fail ? nan : va;
    volga[i] = fail ? nan : vo;
    charm[i] = fail ? nan : ch;
    status[i] = fail ? 1 : 0;
}

// The memory floor of bsm_greeks_f32 (the same columns, no math).
extern "C" __global__ void bsm_greeks_f32_floor(int n, GREEKS_F32_COLUMNS) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    float s = spot[i], k = strike[i], t = years[i], r = rate[i], q = dividend_yield[i],
          v = volatility[i];
    int c = kind[i];
    price[i] = s + k;
    delta[i] = s + t;
    gamma[i] = s + r;
    vega[i] = s + q;
    theta[i] = s + v;
    rho[i] = k + t;
    vanna[i] = k + r;
    volga[i] = k + q;
    charm[i] = k + v;
    status[i] = c + 1;
}
