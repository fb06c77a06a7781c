// American options under Black-Scholes-Merton with a continuous dividend yield, by the
// Andersen–Lake–Offengenden fixed-point method: a line-for-line port of
// wheelhouse_pricing::american (see its module docs for the method, the regimes and the
// references), fp64, header-free for NVRTC. The discretisation is compiled in (the host
// prepends it for the backend's settings, with the CPU's quadrature tables to the bit):
//
//   AM_N        Chebyshev intervals of the boundary interpolant (n + 1 nodes)
//   AM_CI       coarse iterations, with AM_LC Gauss–Legendre points
//   AM_IT       full iterations, with AM_LF points
//   AM_NEWTON   how many of the first iterations are Jacobi–Newton steps
//   AM_P        points of the early-exercise-premium integral
//   AM_EQ       0 FP-B', 1 FP-A, 2 automatic
//   AM_COS[2n]                     cos(kπ/n)
//   AM_RC_*, AM_RF_*, AM_RP_*      (sin θ, cos θ, weight) of the coarse, fine, premium rules
//
// It also needs Cody's tables (CODY_*) and `iv_one` (iv.cu) for the implied-volatility start.
//
// Everything the device does not reproduce exactly as the CPU would (invalid inputs, the
// regimes the CPU reports as errors, a European start the IV kernel leaves to the CPU, no
// convergence) gets a non-zero status and is recomputed by the CPU engine, which then gives
// the value or the error. With loops of compile-time length the boundary arrays live in
// registers.

#define AM_INV_SQRT_2PI 0.3989422804014327
#define AM_FRAC_1_SQRT_2 0.7071067811865476
#define AM_SQRT_HALF_PI 1.2533141373155003
#define AM_ONE_OVER_SQRT_PI 0.5641895835477563
#define AM_CDF_THRESHOLD 0.6629126073623883
#define AM_TINY_TOTAL_VOL 1e-7
#define AM_NAN __longlong_as_double(0x7ff8000000000000LL)
// The solver's pieces, down to Φ and erfcx, are called, not inlined. Inlined and unrolled, one
// boundary solve was tens of thousands of instructions: the IV kernel took NVRTC five minutes
// and 255 registers with spills, and with the large pieces alone called, `american_values` was
// still 26 k instructions (420 KB), far more than the instruction cache holds; on an H200 its
// warps then spent 87 % of their stalls waiting for instruction fetch (BENCHMARKS.md).
#ifndef AM_NOINLINE
#define AM_NOINLINE __noinline__
#endif

// Flags of one evaluation (american_values): 0 done, AM_FAIL the CPU decides (an error or a
// case the device does not take), AM_UNSUPPORTED the double-boundary regime; AM_EXERCISE is
// or-ed in when spot lies in the exercise region.
#define AM_FAIL 1
#define AM_UNSUPPORTED 2
#define AM_EXERCISE 4

// ---------------------------------------------------------------------------------------------
// The normal distribution as wheelhouse_pricing::normal computes it (Cody's tables, the split
// exponent), so that the two engines differ only in the rounding of exp and log.

__device__ __forceinline__ double am_erf_small_ratio(double z) {
    double num = CODY_A[4] * z;
    double den = z;
    num = (num + CODY_A[0]) * z;
    den = (den + CODY_B[0]) * z;
    num = (num + CODY_A[1]) * z;
    den = (den + CODY_B[1]) * z;
    num = (num + CODY_A[2]) * z;
    den = (den + CODY_B[2]) * z;
    return (num + CODY_A[3]) / (den + CODY_B[3]);
}

__device__ AM_NOINLINE double am_erfcx_positive(double y) {
    if (y <= 4.0) {
        double y2 = y * y;
        double y4 = y2 * y2;
        double num = ((CODY_C[7] + CODY_C[6] * y) + (CODY_C[5] + CODY_C[4] * y) * y2) +
                     ((CODY_C[3] + CODY_C[2] * y) + (CODY_C[1] + CODY_C[0] * y) * y2) * y4 +
                     CODY_C[8] * (y4 * y4);
        double den = ((CODY_D[7] + CODY_D[6] * y) + (CODY_D[5] + CODY_D[4] * y) * y2) +
                     ((CODY_D[3] + CODY_D[2] * y) + (CODY_D[1] + CODY_D[0] * y) * y2) * y4 +
                     y4 * y4;
        return num / den;
    } else if (y < 6.71e7) {
        double z = 1.0 / (y * y);
        double z2 = z * z;
        double num = (CODY_P[4] + CODY_P[3] * z) + (CODY_P[2] + CODY_P[1] * z) * z2 +
                     (CODY_P[0] + CODY_P[5] * z) * (z2 * z2);
        double den = (CODY_Q[4] + CODY_Q[3] * z) + (CODY_Q[2] + CODY_Q[1] * z) * z2 +
                     (CODY_Q[0] + z) * (z2 * z2);
        double r = z * num / den;
        return (AM_ONE_OVER_SQRT_PI - r) / y;
    }
    return AM_ONE_OVER_SQRT_PI / y;
}

// erfcx(y) for y ≥ 0 (normal::erfcx; e^{y²} needs no split below 1).
__device__ __forceinline__ double am_erfcx_nonneg(double y) {
    if (y <= 0.46875) return exp(y * y) * (1.0 - y * am_erf_small_ratio(y * y));
    return am_erfcx_positive(y);
}

// e^{−s·u²}, s ∈ {½, 1}, with the exponent split (accurate to about an ulp far into the tail).
__device__ AM_NOINLINE double am_exp_neg_scaled_sq(double u, double s) {
    double a = fabs(u);
    if (a < 1.0) return exp(-s * a * a);
    if (a > 40.0) return 0.0;
    double h = (double)(float)a;
    double l = a - h;
    double big = s * h * h;
    double small = s * l * (a + h);
    double corr =
        1.0 - small * (1.0 - small * (0.5 - small * (1.0 / 6.0 - small * (1.0 / 24.0))));
    return exp(-big) * corr;
}

__device__ __forceinline__ double am_norm_pdf(double x) {
    return AM_INV_SQRT_2PI * am_exp_neg_scaled_sq(x, 0.5);
}

__device__ AM_NOINLINE double am_norm_cdf(double x) {
    if (fabs(x) <= AM_CDF_THRESHOLD) {
        double y = x * AM_FRAC_1_SQRT_2;
        return 0.5 + 0.5 * (y * am_erf_small_ratio(y * y));
    }
    if (x < 0.0) {
        if (x < -38.6) return 0.0;
        double r = 0.5 * am_erfcx_positive(-x * AM_FRAC_1_SQRT_2);
        return am_exp_neg_scaled_sq(x, 0.5) * r;
    } else if (x > 0.0) {
        if (x > 8.3) return 1.0;
        double r = 0.5 * am_erfcx_positive(x * AM_FRAC_1_SQRT_2);
        return 1.0 - am_exp_neg_scaled_sq(x, 0.5) * r;
    }
    return AM_NAN;
}

// e^{−x²/2}.
__device__ __forceinline__ double am_gauss(double x) { return exp(-0.5 * x * x); }

// Φ(x) given a = e^{−x²/2}.
__device__ AM_NOINLINE double am_cdf_with_gauss(double x, double a) {
    double ax = fabs(x);
    if (ax < 0.67) return am_norm_cdf(x);
    double tail = ax > 38.0 ? 0.0 : 0.5 * a * am_erfcx_positive(ax * AM_FRAC_1_SQRT_2);
    return x < 0.0 ? tail : 1.0 - tail;
}

// r/(1 − e^{−rτ}), continuous at r = 0.
__device__ __forceinline__ double am_r_over_h(double r, double tau) {
    double x = r * tau;
    if (fabs(x) < 1e-8) return (1.0 + 0.5 * x) / tau;
    return r / (-expm1(-x));
}

// ln(a/b) with the rounding of a/b compensated (black::ln_ratio).
__device__ __forceinline__ double am_ln_ratio(double a, double b) {
    double q = a / b;
    double q_lo = fma(-q, b, a) / b;
    return log(q) + q_lo / q;
}

// European BSM price (black::bsm_price_unchecked; w = +1 call, −1 put).
__device__ AM_NOINLINE double am_bsm_price(double w, double s, double k, double t, double r, double q,
                               double sigma) {
    double sst = sigma * sqrt(t);
    double x = am_ln_ratio(s, k) + (r - q) * t;
    double a = s * exp(-q * t), b = k * exp(-r * t);
    double h = x / sst;
    double h_lo = fma(-h, sst, x) / sst;
    double half = 0.5 * sst;
    // two_sum(h, ±half)
    double d1 = h + half;
    double bb1 = d1 - h;
    double e1 = (h - (d1 - bb1)) + (half - bb1);
    double d2 = h - half;
    double bb2 = d2 - h;
    double e2 = (h - (d2 - bb2)) + (-half - bb2);
    double d1_lo = e1 + h_lo, d2_lo = e2 + h_lo;
    double pdf1_hi = am_norm_pdf(d1), pdf2_hi = am_norm_pdf(d2);
    double pdf1 = pdf1_hi - pdf1_hi * d1 * d1_lo;
    if (w * d1 < 0.0 && w * d2 < 0.0) {
        double common = a * pdf1 * AM_SQRT_HALF_PI;
        double ex1 = am_erfcx_nonneg(-w * d1 * AM_FRAC_1_SQRT_2);
        double ex2 = am_erfcx_nonneg(-w * d2 * AM_FRAC_1_SQRT_2);
        return w * common * (ex1 - ex2);
    }
    double nd1 = am_norm_cdf(w * d1) + w * pdf1_hi * d1_lo;
    double nd2 = am_norm_cdf(w * d2) + w * pdf2_hi * d2_lo;
    return w * (a * nd1 - b * nd2);
}

// ---------------------------------------------------------------------------------------------
// The put engine.

struct AmPut {
    double s, k, r, q, sigma, t;
};

// Per-node quantities of the carry (american::NodeCarry).
struct AmNode {
    double fwd, ert, eqt, dr, dq, r_over_h;
};

__device__ AM_NOINLINE AmNode am_node(double r, double q, double tau) {
    AmNode c;
    c.fwd = exp(-(r - q) * tau);
    c.ert = exp(r * tau);
    c.eqt = exp(q * tau);
    c.dr = exp(-r * tau);
    c.dq = exp(-q * tau);
    c.r_over_h = am_r_over_h(r, tau);
    return c;
}

// √τ_k and z_k + 1 of node k: z_k = −cos(kπ/n), √τ_k = √T(1 + z_k)/2.
__device__ __forceinline__ double am_zp1(int k) { return 1.0 - AM_COS[k]; }

// Clenshaw: H(z) of the interpolant with coefficients c[0..=n].
__device__ __forceinline__ double am_h(const double* c, double z) {
    double z2 = 2.0 * z;
    double b1 = 0.0, b2 = 0.0;
#pragma unroll
    for (int k = AM_N; k >= 1; --k) {
        double b0 = c[k] + z2 * b1 - b2;
        b2 = b1;
        b1 = b0;
    }
    return c[0] + z * b1 - b2;
}

__device__ __forceinline__ double am_g(const double* c, double z) {
    return sqrt(fmax(am_h(c, z), 0.0));
}

// Chebyshev coefficients from values y_k at z_k = −cos(kπ/n) (Boundary::fit).
__device__ AM_NOINLINE void am_fit(const double* y, double* coef) {
    const double scale = 2.0 / (double)AM_N;
#pragma unroll 1
    for (int j = 0; j <= AM_N; ++j) {
        double s = 0.5 * (y[0] + ((j % 2 == 0) ? y[AM_N] : -y[AM_N]));
        int idx = j;
#pragma unroll 1
        for (int k = 1; k < AM_N; ++k) {
            s += y[k] * AM_COS[idx];
            idx += j;
            if (idx >= 2 * AM_N) idx -= 2 * AM_N;
        }
        double sign = (j % 2 == 0) ? 1.0 : -1.0;
        double c = sign * scale * s;
        if (j == 0 || j == AM_N) c *= 0.5;
        coef[j] = c;
    }
}

// QD+ (Li) boundary at τ by safeguarded Newton in ln B from `guess` (american::qd_plus).
__device__ AM_NOINLINE double am_qd_plus(double k, double r, double q, double sigma, double tau, double xmax,
                             double guess, const AmNode& nc) {
    double v = sigma * sqrt(tau);
    double sig2 = sigma * sigma;
    double dr = nc.dr, dq = nc.dq, g = nc.r_over_h;
    double omega = 2.0 * (r - q) / sig2;
    double sq = sqrt((omega - 1.0) * (omega - 1.0) + 8.0 * g / sig2);
    double lambda = 0.5 * (-(omega - 1.0) - sq);
    double c0 = 2.0 * dr * g / (sig2 * sq) - 4.0 * dr * g * g / (sig2 * sig2 * sq * sq * sq);
    double lc = lambda + c0;
    double tcoef = 2.0 / (sig2 * sq);
    double drift = (r - q) * tau;
    double ln_k = log(k);
    double hi = xmax;
    double x = log(fmin(guess, hi));
    double lnhi = log(hi);
#pragma unroll 1
    for (int it = 0; it < 60; ++it) {
        double b = exp(x);
        double dp = (x - ln_k + drift) / v + 0.5 * v;
        double dm = dp - v;
        double ncdp = am_norm_cdf(-dp);
        double ncdm = am_norm_cdf(-dm);
        double pdp = am_gauss(dp) * AM_INV_SQRT_2PI;
        double pe = k * dr * ncdm - b * dq * ncdp;
        double theta = r * k * dr * ncdm - q * b * dq * ncdp - 0.5 * sig2 * b * dq * pdp / v;
        double one_m = 1.0 - dq * ncdp;
        double f = one_m * b + lc * (k - b - pe) - tcoef * theta;
        double dtheta = dq * (-q * ncdp + pdp / v * (q - r - 0.5 * sig2 + 0.5 * sig2 * dp / v));
        double fp = (one_m + dq * pdp / v - lc * one_m - tcoef * dtheta) * b;
        if (!(isfinite(f) && isfinite(fp)) || fp == 0.0) break;
        double step = fmin(fmax(f / fp, -1.0), 1.0);
        double xn = fmin(x - step, lnhi);
        bool done = fabs(xn - x) < 1e-9;
        x = xn;
        if (done) break;
    }
    return fmin(exp(x), hi);
}

// The solved boundary of one put (american::Solver).
struct AmSolver {
    AmPut p;
    bool eq_a;
    double xmax, ln_xk;
    double coef[AM_N + 1];
};

// One fixed-point (or Jacobi–Newton) update of the boundary value b at node k (Solver::update),
// with the rule (sn, cs, w) of L points (one function for both rules: the kernel is bound by
// instruction fetch, BENCHMARKS.md).
__device__ AM_NOINLINE double am_update(const AmSolver& sv, double b, double gb, double st,
                                        double zp1, const AmNode& nc, int L, const double* rs,
                                        const double* rc, const double* rw, bool newton) {
    double r = sv.p.r, q = sv.p.q, sigma = sv.p.sigma;
    double tau = st * st;
    double rq = r - q;
    double sst = sigma * st;
    double ni = 0.0, di = 0.0, di2 = 0.0;
#pragma unroll 1
    for (int j = 0; j < L; ++j) {
        double sn = rs[j], cs = rc[j], w = rw[j];
        double m = tau * sn * sn;
        double vm = sst * sn;
        double hj = am_h(sv.coef, zp1 * cs - 1.0);
        double lnr = sqrt(fmax(hj, 0.0)) - gb;
        double x = lnr + rq * m;
        double dp = x / vm + 0.5 * vm;
        double a = am_gauss(dp);
        double cdp = am_cdf_with_gauss(dp, a);
        double eqm = exp(-q * m), erm = exp(-r * m);
        double elnr = exp(lnr);
        if (sv.eq_a) {
            ni += w * cs * a * elnr * eqm;
            di += w * cs * eqm * cdp * sn;
            di2 += w * cs * eqm * a;
        } else {
            double erqm = eqm / erm;
            double dm = dp - vm;
            double cdm = am_cdf_with_gauss(dm, a * elnr * erqm);
            double wu = w * sn * cs;
            ni += wu * erm * cdm;
            di += wu * eqm * cdp;
        }
    }
    double v = sst;
    double dp = (sv.ln_xk - gb + rq * tau) / v + 0.5 * v;
    double dm = dp - v;
    double alpha = sv.p.k * nc.fwd, ert = nc.ert, eqt = nc.eqt;
    double nn, dd, nd, ddd;
    if (sv.eq_a) {
        double pdp = am_gauss(dp) * AM_INV_SQRT_2PI;
        double pdm = am_gauss(dm) * AM_INV_SQRT_2PI;
        double c = 2.0 * st / sigma * AM_INV_SQRT_2PI;
        nn = pdm / v + r * ert * c * ni;
        dd = pdp / v + am_norm_cdf(dp) + q * eqt * (2.0 * tau * di + c * di2);
        nd = -dm * pdm / (b * v * v);
        ddd = -dp * pdp / (b * v * v) + pdp / (b * v);
    } else {
        nn = am_norm_cdf(dm) + r * ert * 2.0 * tau * ni;
        dd = am_norm_cdf(dp) + q * eqt * 2.0 * tau * di;
        nd = am_norm_pdf(dm) / (b * v);
        ddd = am_norm_pdf(dp) / (b * v);
    }
    double f = alpha * nn / dd;
    if (!newton) return f;
    double fd = alpha * (nd / dd - ddd * nn / (dd * dd));
    double nb = b - (f - b) / (fd - 1.0);
    return (isfinite(nb) && nb > 0.0) ? nb : f;
}

// The boundary of put p with B(0⁺) = K·xratio (Solver::solve).
__device__ AM_NOINLINE void am_solve(AmSolver& sv, const AmPut& p, double xratio) {
    double xmax = p.k * xratio;
    sv.p = p;
#if AM_EQ == 0
    sv.eq_a = false;
#elif AM_EQ == 1
    sv.eq_a = true;
#else
    sv.eq_a = p.sigma * sqrt(p.t) > 0.3 || fabs(p.r - p.q) < 1e-3;
#endif
    sv.xmax = xmax;
    sv.ln_xk = log(xratio);
    double sqrt_t = sqrt(p.t);
    double y[AM_N + 1], b[AM_N + 1];
    y[0] = 0.0;
    b[0] = xmax;
    // QD+ node by node, each Newton solve from the linear extrapolation (in √τ) of ln(X/B)
    // through the previous two nodes.
    double g1 = 0.0, g2 = 0.0;  // gs[k−1], gs[k−2]
#pragma unroll 1
    for (int k = 1; k <= AM_N; ++k) {
        double st = 0.5 * sqrt_t * am_zp1(k);
        double tau = st * st;
        double g_guess;
        if (k == 1) {
            g_guess = 2.0 * p.sigma * st;
        } else {
            double st1 = 0.5 * sqrt_t * am_zp1(k - 1);
            double st2 = 0.5 * sqrt_t * am_zp1(k - 2);
            double slope = (g1 - g2) / (st1 - st2);
            g_guess = g1 + slope * (st - st1);
        }
        double guess = xmax * exp(-fmax(g_guess, 0.0));
        AmNode nc = am_node(p.r, p.q, tau);
        double bk = am_qd_plus(p.k, p.r, p.q, p.sigma, tau, xmax, guess, nc);
        if (!(isfinite(bk) && bk > 0.0)) bk = b[k - 1];
        b[k] = bk;
        double gk = log(xmax / bk);
        g2 = g1;
        g1 = gk;
        y[k] = gk * gk;
    }
    am_fit(y, sv.coef);
#pragma unroll 1
    for (int it = 0; it < AM_IT + AM_CI; ++it) {
        bool coarse = it < AM_CI;
        bool newton = it < AM_NEWTON;
#pragma unroll 1
        for (int k = 1; k <= AM_N; ++k) {
            double st = 0.5 * sqrt_t * am_zp1(k);
            AmNode nc = am_node(p.r, p.q, st * st);
            double bk = b[k];
            double nb = coarse ? am_update(sv, bk, sqrt(y[k]), st, am_zp1(k), nc, AM_LC, AM_RC_S,
                                           AM_RC_C, AM_RC_W, newton)
                               : am_update(sv, bk, sqrt(y[k]), st, am_zp1(k), nc, AM_LF, AM_RF_S,
                                           AM_RF_C, AM_RF_W, newton);
            nb = (isfinite(nb) && nb > 0.0) ? fmin(nb, xmax) : bk;
            b[k] = nb;
            double l = log(nb / xmax);
            y[k] = l * l;
        }
        am_fit(y, sv.coef);
    }
}

struct AmValue {
    double price, delta, gamma;
    bool exercise;
};

// Put price, delta and gamma at spot s, boundary held fixed (Solver::value).
__device__ AM_NOINLINE AmValue am_value(const AmSolver& sv, double s, bool with_greeks) {
    double k = sv.p.k, r = sv.p.r, q = sv.p.q, sigma = sv.p.sigma, t = sv.p.t;
    double intrinsic = fmax(k - s, 0.0);
    AmValue ex = {intrinsic, -1.0, 0.0, true};
    double bt = sv.xmax * exp(-am_g(sv.coef, 1.0));
    if (s <= bt) return ex;
    double sqrt_t = sqrt(t);
    double ln_sx = log(s / sv.xmax);
    double rq = r - q;
    double prem = 0.0, dprem = 0.0, gprem = 0.0;
    double kx = k / sv.xmax;
#pragma unroll 1
    for (int j = 0; j < AM_P; ++j) {
        double sn = AM_RP_S[j], cs = AM_RP_C[j], w = AM_RP_W[j];
        double tt = t * sn * sn;
        double g = am_g(sv.coef, 2.0 * cs - 1.0);
        double lnsb = ln_sx + g;
        double vt = sigma * sqrt_t * sn;
        double dp = (lnsb + rq * tt) / vt + 0.5 * vt;
        double dm = dp - vt;
        double er = exp(-r * tt), eq = exp(-q * tt);
        double wt = w * 2.0 * t * sn * cs;
        double ncdp = am_norm_cdf(-dp);
        prem += wt * (r * k * er * am_norm_cdf(-dm) - q * s * eq * ncdp);
        if (with_greeks) {
            double pdp = am_norm_pdf(dp);
            double kb = kx * exp(g);
            double c = q - r * kb;
            double wp = w * 2.0 * sqrt_t * cs / sigma;
            dprem += eq * (-q * ncdp * wt + c * pdp * wp);
            gprem += eq * pdp * wp / s * (q - c * dp / vt);
        }
    }
    double v = sigma * sqrt_t;
    double dp = (log(s / k) + rq * t) / v + 0.5 * v;
    double dm = dp - v;
    double dq = exp(-q * t);
    double euro = k * exp(-r * t) * am_norm_cdf(-dm) - s * dq * am_norm_cdf(-dp);
    double price = fmax(euro, 0.0) + fmax(prem, 0.0);
    if (intrinsic > 0.0 && price <= intrinsic) return ex;
    AmValue out = {price, 0.0, 0.0, false};
    if (with_greeks) {
        out.delta = -dq * am_norm_cdf(-dp) + dprem;
        out.gamma = dq * am_norm_pdf(dp) / (s * v) + gprem;
    }
    return out;
}

// max over t ∈ [0, T] of (K e^{−rt} − S e^{−qt})⁺ (american::deterministic_put).
__device__ AM_NOINLINE double am_deterministic_put(const AmPut& p) {
    double f0 = fmax(p.k - p.s, 0.0);
    double ft = fmax(p.k * exp(-p.r * p.t) - p.s * exp(-p.q * p.t), 0.0);
    double best = fmax(f0, ft);
    if (p.r != p.q && p.r > 0.0 && p.q > 0.0) {
        double te = log(p.r * p.k / (p.q * p.s)) / (p.r - p.q);
        if (te > 0.0 && te < p.t)
            best = fmax(best, fmax(p.k * exp(-p.r * te) - p.s * exp(-p.q * te), 0.0));
    }
    return best;
}

// European put price, delta and gamma (put_value's European closure).
__device__ AM_NOINLINE AmValue am_european_put(const AmPut& p, bool with_greeks) {
    AmValue e = {am_bsm_price(-1.0, p.s, p.k, p.t, p.r, p.q, p.sigma), 0.0, 0.0, false};
    if (with_greeks) {
        double v = p.sigma * sqrt(p.t);
        double dp = (log(p.s / p.k) + (p.r - p.q) * p.t) / v + 0.5 * v;
        double dq = exp(-p.q * p.t);
        e.delta = -dq * am_norm_cdf(-dp);
        e.gamma = dq * am_norm_pdf(dp) / (p.s * v);
    }
    return e;
}

// Put value (american::put_value, inputs valid); returns 0 or AM_UNSUPPORTED.
__device__ int am_put_value(const AmPut& p, bool with_greeks, AmValue* out) {
    double r = p.r, q = p.q;
    if (r < 0.0 && q < r) return AM_UNSUPPORTED;
    if (r < 0.0 || (r == 0.0 && q >= 0.0)) {
        *out = am_european_put(p, with_greeks);
        return 0;
    }
    double xratio = (q > 0.0 && r < q) ? r / q : 1.0;
    if (p.sigma * sqrt(p.t) < AM_TINY_TOTAL_VOL) {
        AmValue e = am_european_put(p, with_greeks);
        double d = am_deterministic_put(p);
        double intrinsic = fmax(p.k - p.s, 0.0);
        if (d > e.price) {
            bool exercise = d <= intrinsic;
            AmValue v = {d, exercise ? -1.0 : e.delta, 0.0, exercise};
            *out = v;
            return 0;
        }
        *out = e;
        return 0;
    }
    AmSolver sv;
    am_solve(sv, p, xratio);
    *out = am_value(sv, p.s, with_greeks);
    return 0;
}

__device__ __forceinline__ bool am_positive(double x) { return isfinite(x) && x > 0.0; }

// Price (and with_greeks: call-space delta and gamma) of one option; the flags above.
__device__ AM_NOINLINE int am_option(double w, double s, double k, double t, double r, double q,
                         double sigma, bool with_greeks, double* price, double* delta,
                         double* gamma) {
    *price = AM_NAN;
    *delta = AM_NAN;
    *gamma = AM_NAN;
    if (!(am_positive(s) && am_positive(k) && am_positive(t) && isfinite(r) && isfinite(q) &&
          am_positive(sigma)))
        return AM_FAIL;
    AmPut p;
    if (w > 0.0) {
        AmPut c = {k, s, q, r, sigma, t};
        p = c;
    } else {
        AmPut c = {s, k, r, q, sigma, t};
        p = c;
    }
    AmValue v;
    int f = am_put_value(p, with_greeks, &v);
    if (f != 0) return f;
    *price = v.price;
    if (w > 0.0) {
        // C(S, K) = P(K, S): ∂C/∂S = (P − S'Δ')/K', ∂²C/∂S² = Γ' S'²/K'².
        if (v.exercise) {
            *delta = 1.0;
            *gamma = 0.0;
        } else {
            *delta = (v.price - p.s * v.delta) / p.k;
            *gamma = v.gamma * (p.s / p.k) * (p.s / p.k);
        }
    } else {
        *delta = v.delta;
        *gamma = v.gamma;
    }
    if (!(isfinite(*price) && (!with_greeks || (isfinite(*delta) && isfinite(*gamma)))))
        return AM_FAIL;
    return v.exercise ? AM_EXERCISE : 0;
}

// The bumps of american_greeks: the volatility bump of vega and volga, the rate bump of rho,
// and the expiry bump of charm.
__device__ __forceinline__ double am_vol_bump(double sigma) {
    return fmin(fmax(1e-3 * sigma, 1e-5), 0.5 * sigma);
}
#define AM_RATE_BUMP 1e-5
__device__ __forceinline__ double am_years_bump(double t) { return fmax(1e-4 * t, 1e-9); }

// The evaluations one option's price + Greeks need (american_greeks): 0 the option, 1 and 2
// σ ± h, 3 and 4 r ± h (price only), 5 and 6 T ± h (delta; 6 only where T > 2h).
#define AM_VARIANTS 7

// 128 threads a block; AM_MIN_BLOCKS (blocks an SM must hold, default 1: no register cap)
// caps the registers for tuning (8 → 64 registers).
#ifndef AM_MIN_BLOCKS
#define AM_MIN_BLOCKS 1
#endif

// One thread per (variant, option): element v·n + i of the outputs. variants = 1 prices only.
extern "C" __global__ void __launch_bounds__(128, AM_MIN_BLOCKS) american_values(int n, int variants, int greeks,
                                           const int* __restrict__ kind,
                                           const double* __restrict__ spot,
                                           const double* __restrict__ strike,
                                           const double* __restrict__ years,
                                           const double* __restrict__ rate,
                                           const double* __restrict__ dividend_yield,
                                           const double* __restrict__ volatility,
                                           double* __restrict__ out_price,
                                           double* __restrict__ out_delta,
                                           double* __restrict__ out_gamma,
                                           int* __restrict__ out_flags) {
    long long t = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (t >= (long long)n * variants) return;
    int v = (int)(t / n), i = (int)(t % n);
    double w = kind[i] == 0 ? 1.0 : -1.0;
    double s = spot[i], k = strike[i], yr = years[i], r = rate[i], q = dividend_yield[i],
           sigma = volatility[i];
    bool with_greeks = greeks != 0;
    if (v == 1 || v == 2) {
        double h = am_vol_bump(sigma);
        sigma = v == 1 ? sigma + h : sigma - h;
    } else if (v == 3 || v == 4) {
        r = v == 3 ? r + AM_RATE_BUMP : r - AM_RATE_BUMP;
        with_greeks = false;
    } else if (v == 5 || v == 6) {
        double h = am_years_bump(yr);
        if (v == 6 && !(yr > 2.0 * h)) {
            out_price[t] = AM_NAN;
            out_delta[t] = AM_NAN;
            out_gamma[t] = AM_NAN;
            out_flags[t] = 0;
            return;
        }
        yr = v == 5 ? yr + h : yr - h;
    }
    double pr, de, ga;
    int f = am_option(w, s, k, yr, r, q, sigma, with_greeks, &pr, &de, &ga);
    out_price[t] = pr;
    out_delta[t] = de;
    out_gamma[t] = ga;
    out_flags[t] = f;
}

// Price + the nine columns of american_greeks from the seven evaluations of each option;
// status 1 where the CPU must decide (any evaluation it would report as an error).
extern "C" __global__ void american_combine(
    int n, const double* __restrict__ spot, const double* __restrict__ years,
    const double* __restrict__ rate, const double* __restrict__ dividend_yield,
    const double* __restrict__ volatility, const double* __restrict__ vp,
    const double* __restrict__ vd, const double* __restrict__ vg, const int* __restrict__ vf,
    double* __restrict__ price, double* __restrict__ delta, double* __restrict__ gamma,
    double* __restrict__ vega, double* __restrict__ theta, double* __restrict__ rho,
    double* __restrict__ vanna, double* __restrict__ volga, double* __restrict__ charm,
    int* __restrict__ status) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
#define AMV(a, v) a[(long long)(v) * n + i]
    double s = spot[i], t = years[i], r = rate[i], q = dividend_yield[i], sigma = volatility[i];
    int f0 = AMV(vf, 0);
    bool ok = (f0 & ~AM_EXERCISE) == 0 && (AMV(vf, 1) & ~AM_EXERCISE) == 0 &&
              (AMV(vf, 2) & ~AM_EXERCISE) == 0 && (AMV(vf, 5) & ~AM_EXERCISE) == 0 &&
              (AMV(vf, 6) & ~AM_EXERCISE) == 0;
    double p0 = AMV(vp, 0), d0 = AMV(vd, 0), g0 = AMV(vg, 0);
    double th = (f0 & AM_EXERCISE) ? 0.0
                                   : r * p0 - (r - q) * s * d0 - 0.5 * sigma * sigma * s * s * g0;
    double hs = am_vol_bump(sigma);
    double up = AMV(vp, 1), dn = AMV(vp, 2);
    double vg_ = (up - dn) / (2.0 * hs);
    double vo = (up - 2.0 * p0 + dn) / (hs * hs);
    double va = (AMV(vd, 1) - AMV(vd, 2)) / (2.0 * hs);
    // rho: central, or one-sided where one side is the unsupported regime (bump_derivative).
    int fu = AMV(vf, 3) & ~AM_EXERCISE, fd = AMV(vf, 4) & ~AM_EXERCISE;
    double rh = AM_NAN;
    const double hr = AM_RATE_BUMP;
    if (fu == 0 && fd == 0) {
        rh = (AMV(vp, 3) - AMV(vp, 4)) / (2.0 * hr);
    } else if (fu == 0 && fd == AM_UNSUPPORTED) {
        rh = (AMV(vp, 3) - p0) / hr;
    } else if (fu == AM_UNSUPPORTED && fd == 0) {
        rh = (p0 - AMV(vp, 4)) / hr;
    } else {
        ok = false;
    }
    double ht = am_years_bump(t);
    double ch = t > 2.0 * ht ? -(AMV(vd, 5) - AMV(vd, 6)) / (2.0 * ht) : -(AMV(vd, 5) - d0) / ht;
#undef AMV
    const double nan = AM_NAN;
    price[i] = ok ? p0 : nan;
    delta[i] = ok ? d0 : nan;
    gamma[i] = ok ? g0 : nan;
    vega[i] = ok ? vg_ : nan;
    theta[i] = ok ? th : nan;
    rho[i] = ok ? rh : nan;
    vanna[i] = ok ? va : nan;
    volga[i] = ok ? vo : nan;
    charm[i] = ok ? ch : nan;
    status[i] = ok ? 0 : 1;
}

// ---------------------------------------------------------------------------------------------
// Implied volatility (american::american_implied_volatility, no seed).

// American price at sigma; false where the CPU must decide.
__device__ __forceinline__ bool am_price_at(double w, double s, double k, double t, double r,
                                            double q, double sigma, double* price) {
    double d, g;
    int f = am_option(w, s, k, t, r, q, sigma, false, price, &d, &g);
    return (f & ~AM_EXERCISE) == 0;
}

// European vega (the fallback slope), as black::bsm_greeks_unchecked computes it: φ(d₁) with
// the low part of d₁ folded in.
__device__ AM_NOINLINE double am_euro_vega(double s, double k, double t, double r, double q,
                                           double sigma) {
    double sqrt_t = sqrt(t);
    double sst = sigma * sqrt_t;
    double x = am_ln_ratio(s, k) + (r - q) * t;
    double dq = exp(-q * t);
    double h = x / sst;
    double h_lo = fma(-h, sst, x) / sst;
    double half = 0.5 * sst;
    double d1 = h + half;
    double bb = d1 - h;
    double e1 = (h - (d1 - bb)) + (half - bb);
    double d1_lo = e1 + h_lo;
    double pdf1_hi = am_norm_pdf(d1);
    double pdf1 = pdf1_hi - pdf1_hi * d1 * d1_lo;
    return s * dq * pdf1 * sqrt_t;
}

// Where the CPU's European solver (iv::implied_volatility_bsm) certainly refuses `price`
// (at or beyond its bounds): 1; certainly does not: 0; too close to a bound to say from this
// rounding of the bounds: −1.
__device__ int am_euro_refuses(double w, double price, double s, double k, double t, double r,
                               double q) {
    double carry = (r - q) * t;
    double growth_m1 = expm1(carry);
    double forward = s * (1.0 + growth_m1);
    double df = exp(-r * t);
    double fmk = (s - k) + s * growth_m1;
    double upper = w > 0.0 ? forward * df : k * df;
    double intrinsic = df * fmax(w * fmk, 0.0);
    const double band = 1e-12;
    if (!(isfinite(forward) && forward > 0.0)) return -1;
    if (price >= upper * (1.0 + band) || price < intrinsic * (1.0 - band) ||
        (intrinsic == 0.0 && price == 0.0))
        return 1;
    if (price <= upper * (1.0 - band) && price >= intrinsic * (1.0 + band) && price > 0.0)
        return 0;
    return -1;
}

// The CPU's European start: its solver's value, or `fallback` where it refuses; false where
// the device cannot tell what the CPU would do.
__device__ AM_NOINLINE bool am_euro_start(double w, double price, double s, double k, double t, double r,
                              double q, double fallback, double* sigma) {
    int refused = am_euro_refuses(w, price, s, k, t, r, q);
    if (refused < 0) return false;
    if (refused == 1) {
        *sigma = fallback;
        return true;
    }
    return iv_one(price, s, k, t, r, q, w, sigma);
}

// sigma and true, or false (the CPU decides: a value or an error).
__device__ bool am_iv_one(double w, double price, double s, double k, double t, double r,
                          double q, double* out) {
    if (!(isfinite(price) && price >= 0.0 && am_positive(s) && am_positive(k) &&
          am_positive(t) && isfinite(r) && isfinite(q)))
        return false;
    double intrinsic = fmax(w * (s - k), 0.0);
    AmPut p1;
    if (w > 0.0) {
        AmPut c = {k, s, q, r, 1.0, t};
        p1 = c;
    } else {
        AmPut c = {s, k, r, q, 1.0, t};
        p1 = c;
    }
    double floor = fmax(am_deterministic_put(p1), intrinsic);
    double upper = w > 0.0 ? s : k;
    if (price < floor || price >= upper || price == floor) return false;
    if (p1.r < 0.0 && p1.q < p1.r) return false;
    const double MAX_VOL = 100.0, MIN_VOL = 1e-8;
    double tol_price = 1e-12 * k;
    // Start: the European IV of the price less the premium estimated at the European IV (that
    // American price is also the secant's first point); 0.3 where the European solver refuses
    // the price.
    const double inf = __longlong_as_double(0x7ff0000000000000LL);
    double lo = 0.0, hi = inf;
    bool have_prev = false;
    double prev_s = 0.0, prev_d = 0.0;
    double s0, sigma;
    if (!am_euro_start(w, price, s, k, t, r, q, -1.0, &s0)) return false;
    if (s0 > 0.0) {
        double a0;
        if (!am_price_at(w, s, k, t, r, q, s0, &a0)) return false;
        have_prev = true;
        prev_s = s0;
        prev_d = a0 - price;
        double prem = a0 - am_bsm_price(w, s, k, t, r, q, s0);
        if (!am_euro_start(w, price - prem, s, k, t, r, q, s0, &sigma)) return false;
        if (prev_d > 0.0)
            hi = s0;
        else
            lo = s0;
    } else {
        sigma = 0.3;
    }
    if (!(isfinite(sigma) && sigma > MIN_VOL)) sigma = 0.3;
    double last_step = inf;
    double widths0 = inf, widths1 = inf;
#pragma unroll 1
    for (int iterations = 1; iterations <= 100; ++iterations) {
        double v;
        if (!am_price_at(w, s, k, t, r, q, sigma, &v)) return false;
        double diff = v - price;
        if (fabs(diff) <= tol_price) {
            *out = sigma;
            return true;
        }
        if (diff > 0.0)
            hi = fmin(hi, sigma);
        else
            lo = fmax(lo, sigma);
        double next = AM_NAN;
        bool superlinear = true;
        if (have_prev && prev_s != sigma) {
            double slope = (diff - prev_d) / (sigma - prev_s);
            if (slope > 0.0) next = sigma - diff / slope;
        }
        bool inside = isfinite(next) && next > lo && next < hi;
        if (!inside) {
            superlinear = false;
            double vega = am_euro_vega(s, k, t, r, q, sigma);
            if (vega > 0.0) next = sigma - diff / vega;
        }
        inside = isfinite(next) && next > lo && next < hi;
        double width = hi - lo;
        bool stagnating = isfinite(hi) && width > 0.5 * widths0;
        widths0 = widths1;
        widths1 = width;
        if (!inside || stagnating) {
            superlinear = false;
            next = isfinite(hi) ? 0.5 * (lo + hi) : fmin(2.0 * sigma, MAX_VOL);
        }
        have_prev = true;
        prev_s = sigma;
        prev_d = diff;
        double step = fabs(next - sigma);
        if (step <= 1e-10 * sigma) {
            *out = next;
            return true;
        }
        if (superlinear && step <= 1e-8 * sigma && last_step <= 1e-4 * sigma) {
            *out = next;
            return true;
        }
        last_step = superlinear ? step : inf;
        if (isfinite(hi) && (hi - lo) <= 1e-10 * hi) {
            *out = 0.5 * (lo + hi);
            return true;
        }
        if (sigma >= MAX_VOL && next >= MAX_VOL) break;
        sigma = fmax(next, MIN_VOL);
    }
    return false;
}

extern "C" __global__ void __launch_bounds__(128, AM_MIN_BLOCKS) american_iv(int n, const int* __restrict__ kind,
                                       const double* __restrict__ price,
                                       const double* __restrict__ spot,
                                       const double* __restrict__ strike,
                                       const double* __restrict__ years,
                                       const double* __restrict__ rate,
                                       const double* __restrict__ dividend_yield,
                                       double* __restrict__ iv, int* __restrict__ status) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    double sigma = AM_NAN;
    bool ok = am_iv_one(kind[i] == 0 ? 1.0 : -1.0, price[i], spot[i], strike[i], years[i],
                        rate[i], dividend_yield[i], &sigma);
    iv[i] = ok ? sigma : AM_NAN;
    status[i] = ok ? 0 : 1;
}
