// European implied volatility ("Let's Be Rational" class), one thread per option, fp64,
// header-free for NVRTC. A line-by-line port of the CPU lane code (crate::iv_simd): the same
// checks, regions, rational initial guess, Householder(3) steps on the same objectives and the
// same convergence rule, with Cody's erf/erfcx and AS 241 coefficients injected from the CPU's
// tables (CODY_A..CODY_Q, AS241_A..F, prepended by the host); exp, expm1, log and sqrt are the
// device's (within 1 ulp). Lanes outside the common case (status 1: invalid inputs, prices at
// the no-arbitrage bounds, the asymptotic region, no convergence in two steps) are solved by
// the CPU's scalar solver, so errors and edge cases are exactly the CPU's.
//
// Region 1 (deep out of the money, small σ√T: h < η) takes the scalar solver's asymptotic
// series, a loop of up to 23 terms that one lane of a warp runs alone (~830 instructions a step)
// while the rest of its block waits: 0.4 % of a chain's quotes cost 16 % of the kernel's time on
// an H200. So bsm_iv defers a lane whose step would need the series (its index into a queue,
// its outputs unwritten) and bsm_iv_deferred, launched after it on the same stream, solves the
// queued lanes from the start, the series included, in warps of such lanes only. Every lane
// runs the one-pass kernel's formulas (as host C++ the two builds give the same bits,
// tests/iv_kernel.rs; NVRTC may contract the two kernels' code into fused multiply-adds
// differently, within the tolerance the device tests hold against the CPU); `-DIV_NO_DEFER`
// solves in one pass.
//
// The chained IV -> price + Greeks runs bsm_greeks (greeks.cu) on this kernel's output
// buffer, on the same stream: the volatilities never leave the device.

// The erfcx and erf forms, and in each step the Householder objective, are evaluated only
// where a lane needs them (a warp whose lanes agree runs one form): 6 % faster on an H200 than
// evaluating every form and selecting, which `-DIV_SELECTS` restores (the CPU lane code's way;
// the values are the same either way; `-DIV_OBJECTIVE_SELECTS` for the objectives alone).
//
// Inlining of the evaluation and of the Householder step (tuning: NVRTC -D options).
#ifndef IV_EVAL_ATTR
#define IV_EVAL_ATTR __forceinline__
#endif
#ifndef IV_STEP_ATTR
#define IV_STEP_ATTR
#endif
#define IV_ETA (-12.0)
#define IV_TAU 0.1
#define IV_STEP_TOLERANCE 1e-5
#define IV_SQRT_2 1.4142135623730951
#define IV_FRAC_1_SQRT_2 0.7071067811865476
#define IV_PI 3.141592653589793
#define IV_SQRT_2PI 2.5066282746310002
#define IV_FRAC_1_SQRT_2PI 0.3989422804014327
#define IV_SQRT_PI_OVER_2 1.2533141373155003
#define IV_SQRT_2_OVER_PI 0.7978845608028654
#define IV_LN_SQRT_2PI 0.9189385332046728
#define IV_FRAC_1_SQRT_3 0.5773502691896258
#define IV_SQRT_3 1.7320508075688772
#define IV_LN_SQRT_3 0.5493061443340549
#define IV_ONE_OVER_SQRT_PI 0.5641895835477563
#define IV_THRESHOLD 0.46875
#define IV_CDF_THRESHOLD 0.6629126073623883
#define IV_R_MIN (-(1.0 - 1.4901161193847656e-8))
#define IV_R_MAX (2.0 / (2.220446049250313e-16 * 2.220446049250313e-16))
#define IV_DBL_MAX 1.7976931348623157e308
#define IV_DBL_MIN 2.2250738585072014e-308

__device__ __forceinline__ double iv_sel(bool c, double a, double b) { return c ? a : b; }

__device__ __forceinline__ double iv_ln(double x) {
    return (x >= IV_DBL_MIN && x <= IV_DBL_MAX) ? log(x) : __longlong_as_double(0x7ff8000000000000LL);
}

// erf(x)/x for |x| <= 0.46875 as a function of z = x^2: (numerator, denominator).
__device__ __forceinline__ void iv_erf_small_nd(double z, double* num_out, double* den_out) {
    double num = CODY_A[4] * z;
    double den = z;
    num = (num + CODY_A[0]) * z;
    den = (den + CODY_B[0]) * z;
    num = (num + CODY_A[1]) * z;
    den = (den + CODY_B[1]) * z;
    num = (num + CODY_A[2]) * z;
    den = (den + CODY_B[2]) * z;
    *num_out = num + CODY_A[3];
    *den_out = den + CODY_B[3];
}

// Cody's erfcx(y) for 0.46875 < y <= 4 as (numerator, denominator).
__device__ __forceinline__ void iv_erfcx_near_nd(double y, double* num_out, double* den_out) {
    double y2 = y * y;
    double y4 = y2 * y2;
    *num_out = ((CODY_C[7] + CODY_C[6] * y) + (CODY_C[5] + CODY_C[4] * y) * y2) +
               ((CODY_C[3] + CODY_C[2] * y) + (CODY_C[1] + CODY_C[0] * y) * y2) * y4 +
               CODY_C[8] * (y4 * y4);
    *den_out = ((CODY_D[7] + CODY_D[6] * y) + (CODY_D[5] + CODY_D[4] * y) * y2) +
               ((CODY_D[3] + CODY_D[2] * y) + (CODY_D[1] + CODY_D[0] * y) * y2) * y4 +
               y4 * y4;
}

// Cody's erfcx(y) for 4 < y < 6.71e7 as (numerator, denominator).
__device__ __forceinline__ void iv_erfcx_far_nd(double y, double* num_out, double* den_out) {
    double u = y * y;
    double n = CODY_P[4];
    n = fma(n, u, CODY_P[3]);
    n = fma(n, u, CODY_P[2]);
    n = fma(n, u, CODY_P[1]);
    n = fma(n, u, CODY_P[0]);
    n = fma(n, u, CODY_P[5]);
    double d = CODY_Q[4];
    d = fma(d, u, CODY_Q[3]);
    d = fma(d, u, CODY_Q[2]);
    d = fma(d, u, CODY_Q[1]);
    d = fma(d, u, CODY_Q[0]);
    d = fma(d, u, 1.0);
    double ud = u * d;
    *num_out = fma(ud, IV_ONE_OVER_SQRT_PI, -n);
    *den_out = ud * y;
}

// erfcx(y) for y > 0.46875 as (numerator, denominator): only the form the lane needs (a warp
// whose lanes agree runs one of them), or with IV_SELECTS every form and a select, the CPU
// lane code's way (the same values).
__device__ __forceinline__ void iv_erfcx_pos_nd(double y, double* num_out, double* den_out) {
#ifndef IV_SELECTS
    if (y <= 4.0) {
        iv_erfcx_near_nd(y, num_out, den_out);
    } else if (y >= 6.71e7) {
        *num_out = IV_ONE_OVER_SQRT_PI;
        *den_out = y;
    } else {
        iv_erfcx_far_nd(y, num_out, den_out);
    }
#else
    double n1, d1, n2, d2;
    iv_erfcx_near_nd(y, &n1, &d1);
    iv_erfcx_far_nd(iv_sel(y > 4.0, iv_sel(y < 6.71e7, y, 6.71e7), 4.0), &n2, &d2);
    bool far = y >= 6.71e7;
    *num_out = iv_sel(y <= 4.0, n1, iv_sel(far, IV_ONE_OVER_SQRT_PI, n2));
    *den_out = iv_sel(y <= 4.0, d1, iv_sel(far, y, d2));
#endif
}

// erfcx(y) for y >= 0.
__device__ __forceinline__ double iv_erfcx_nonneg(double y) {
#ifndef IV_SELECTS
    if (y <= IV_THRESHOLD) {
        double a, b;
        iv_erf_small_nd(y * y, &a, &b);
        return exp(y * y) * fma(-y, a, b) / b;
    } else {
        double n, d;
        iv_erfcx_pos_nd(y, &n, &d);
        return n / d;
    }
#endif
    bool small = y <= IV_THRESHOLD;
    double ys = iv_sel(small, y, 0.0);
    double a, b, n, d;
    iv_erf_small_nd(ys * ys, &a, &b);
    double e = exp(ys * ys);
    iv_erfcx_pos_nd(iv_sel(small, 1.0, y), &n, &d);
    return iv_sel(small, e * fma(-ys, a, b), n) / iv_sel(small, b, d);
}

// Phi(z) for |z| <= IV_CDF_THRESHOLD.
__device__ __forceinline__ double iv_norm_cdf_central(double z) {
    double y = z * IV_FRAC_1_SQRT_2;
    double a, b;
    iv_erf_small_nd(y * y, &a, &b);
    return 0.5 + 0.5 * (y * a / b);
}

__device__ __forceinline__ double iv_horner8(const double* c, double x) {
    double p = c[7];
    p = fma(p, x, c[6]);
    p = fma(p, x, c[5]);
    p = fma(p, x, c[4]);
    p = fma(p, x, c[3]);
    p = fma(p, x, c[2]);
    p = fma(p, x, c[1]);
    return fma(p, x, c[0]);
}

// Phi^-1(p) for p in (0, 1/2] (AS 241), given ln_p = ln p.
__device__ __forceinline__ double iv_inverse_norm_cdf_lower(double p, double ln_p) {
    double q = p - 0.5;
    double r = 0.180625 - q * q;
    bool central = fabs(q) <= 0.425;
    double rr = sqrt(iv_sel(central, 1.0, -ln_p));
    bool near = rr <= 5.0;
    double u = rr - iv_sel(near, 1.6, 5.0);
    double num = near ? iv_horner8(AS241_C, u) : iv_horner8(AS241_E, u);
    double den = near ? iv_horner8(AS241_D, u) : iv_horner8(AS241_F, u);
    if (central) {
        num = q * iv_horner8(AS241_A, r);
        den = iv_horner8(AS241_B, r);
    } else {
        num = -num;
    }
    return num / den;
}

__device__ __forceinline__ double iv_small_t_scaled(double h, double t) {
    const double INV[7] = {1.0 / 6.0,  1.0 / 20.0,  1.0 / 42.0, 1.0 / 72.0,
                           1.0 / 110.0, 1.0 / 156.0, 1.0 / 210.0};
    double y0 = IV_SQRT_PI_OVER_2 * iv_erfcx_nonneg(-h * IV_FRAC_1_SQRT_2);
    double y_prev = y0;
    double y = fma(h, y0, 1.0);
    double t2 = t * t;
    double tk = t;
    double sum = y * t;
    double k = 1.0;
#pragma unroll
    for (int j = 0; j < 7; ++j) {
        double y_next = fma(h, y, k * y_prev);
        double y_next2 = fma(h, y_next, (k + 1.0) * y);
        tk *= t2 * INV[j];
        sum = fma(y_next2, tk, sum);
        y_prev = y_next;
        y = y_next2;
        k += 2.0;
    }
    return 2.0 * sum;
}

// b/b' in region 1 (h << 0): the scalar solver's asymptotic series (IV_ASYM_C, prepended by
// the host), summed as the scalar solver sums it: forward, inner polynomials of degree <= 6
// where e < 1e-3, stopping at the first term below 1e-17 of the sum. The CPU lane code sums
// every term instead (it cannot stop per lane); the two differ by far less than an ulp of the
// volatility. A thread that stops early costs its warp nothing more.
__device__ double iv_asymptotic_scaled(double h, double t) {
    double ratio = t / h;
    double e = ratio * ratio;
    double r = (h + t) * (h - t);
    double hr = h / r;
    double q = hr * hr;
    int m_cap = e < 1e-3 ? 6 : IV_ASYM_N;
    double sum = 0.0, qn = 1.0;
    for (int n = 0; n < IV_ASYM_N; ++n) {
        int m = n < m_cap ? n : m_cap;
        double p = IV_ASYM_C[n * IV_ASYM_N + m];
        while (m > 0) {
            m -= 1;
            p = p * e + IV_ASYM_C[n * IV_ASYM_N + m];
        }
        double term = p * qn;
        sum += term;
        if (fabs(term) <= 1e-17 * fabs(sum)) break;
        qn *= q;
    }
    return 2.0 * t / r * sum;
}

// b in the central form: B_max·Φ(z₁) − (Φ(z₂)/B_max, or the erfcx form below −0.66).
__device__ __forceinline__ double iv_central(double z1, double z2, double b_max, double inv_b_max,
                                             double vega, double eb) {
    double y1 = z1 * IV_FRAC_1_SQRT_2;
    double y2 = z2 * IV_FRAC_1_SQRT_2;
    double a1, c1, a2, c2;
    iv_erf_small_nd(y1 * y1, &a1, &c1);
    iv_erf_small_nd(y2 * y2, &a2, &c2);
    double inv_c = 1.0 / (c1 * c2);
    double cdf1 = 0.5 + 0.5 * (y1 * (a1 * c2 * inv_c));
    double cdf2 = 0.5 + 0.5 * (y2 * (a2 * c1 * inv_c));
    double first = b_max * cdf1;
    double second = iv_sel(z2 >= -IV_CDF_THRESHOLD, inv_b_max * cdf2, vega * IV_SQRT_PI_OVER_2 * eb);
    return first - second;
}

struct IvEval {
    double b, vega, bx, ln_arg, ln_off, sum;
    bool upper, region1;
};

// `asym`: region-1 lanes are evaluated by the series (the Householder steps) rather than left
// to the CPU (the initial guess, as on the CPU).
__device__ IV_EVAL_ATTR IvEval iv_eval(double x, double s, double inv_s, double b_max,
                                       double inv_b_max, bool asym) {
    double h = x * inv_s;
    double t = 0.5 * s;
    double q = h * h + t * t;
    double vega = IV_FRAC_1_SQRT_2PI * exp(-0.5 * q);
    double z1 = h + t;
    double z2 = h - t;
    double na, da, nb, db;
    iv_erfcx_pos_nd(fabs(z1) * IV_FRAC_1_SQRT_2, &na, &da);
    iv_erfcx_pos_nd((t - h) * IV_FRAC_1_SQRT_2, &nb, &db);
    double inv_ab = 1.0 / (da * db);
    double ea = na * db * inv_ab;
    double eb = nb * da * inv_ab;
    bool upper = z1 > IV_CDF_THRESHOLD;
    bool region1 = h < IV_ETA && z1 < IV_ETA + IV_TAU;
    bool region2 = t < IV_TAU;
    bool diff = z1 < -IV_CDF_THRESHOLD;
    double d = ea + eb;
    double b_up = b_max - vega * IV_SQRT_PI_OVER_2 * d;
    // Only lanes in region 2 need the series (a divergent branch costs less than evaluating
    // it on every thread).
    double bx2 = region2 ? iv_small_t_scaled(h, t) : 0.0;
    double bx3 = IV_SQRT_PI_OVER_2 * (ea - eb);
#ifndef IV_SELECTS
    // Only lanes that take the central form evaluate it.
    bool r1 = asym && region1;
    bool scaled = !upper && (r1 || region2 || diff);
    double b_c = !upper && !scaled ? iv_central(z1, z2, b_max, inv_b_max, vega, eb) : 0.0;
#else
    double b_c = iv_central(z1, z2, b_max, inv_b_max, vega, eb);
    bool r1 = asym && region1;
#endif
    double bx1 = r1 ? iv_asymptotic_scaled(h, t) : 0.0;
#ifdef IV_SELECTS
    bool scaled = !upper && (r1 || region2 || diff);
#endif
    double bx_s = iv_sel(r1, bx1, iv_sel(region2, bx2, bx3));
    double b = fmax(iv_sel(upper, b_up, iv_sel(scaled, vega * bx_s, b_c)), 0.0);
    double bx = iv_sel(scaled, fmax(bx_s, 0.0), b / vega);
    IvEval e;
    e.b = b;
    e.vega = vega;
    e.bx = bx;
    e.ln_arg = iv_sel(scaled, bx, b);
    e.ln_off = iv_sel(scaled, -0.5 * q - IV_LN_SQRT_2PI, 0.0);
    e.sum = d;
    e.upper = upper;
    e.region1 = region1 && !asym;
    return e;
}

__device__ __forceinline__ double iv_minimum_control(double d_l, double d_r, double delta,
                                                     bool prefer_shape) {
    const double MIN = -IV_DBL_MAX;
    bool monotonic = d_l * delta >= 0.0 && d_r * delta >= 0.0;
    bool convex = d_l <= delta && delta <= d_r;
    bool concave = d_l >= delta && delta >= d_r;
    double r1 = iv_sel(monotonic,
                       iv_sel(delta != 0.0, (d_r + d_l) / delta, iv_sel(prefer_shape, IV_R_MAX, MIN)),
                       MIN);
    double a = delta - d_l;
    double b = d_r - delta;
    double r2cc = iv_sel(a != 0.0 && b != 0.0, fabs(d_r - d_l) / fmin(fabs(a), fabs(b)),
                         iv_sel(prefer_shape, IV_R_MAX, MIN));
    double r2 = iv_sel(convex || concave, r2cc, iv_sel(monotonic && prefer_shape, IV_R_MAX, MIN));
    double r = fmax(fmax(IV_R_MIN, r1), r2);
    return iv_sel(!monotonic && !convex && !concave, IV_R_MIN, r);
}

__device__ __forceinline__ double iv_fit_ratio(double num, double den) {
    double q = num / den;
    return iv_sel(den == 0.0 || !isfinite(q), iv_sel(num > 0.0, IV_R_MAX, IV_R_MIN), q);
}

__device__ __forceinline__ double iv_rational_cubic(double x, double x_l, double x_r, double y_l,
                                                    double y_r, double d_l, double d_r, double r) {
    double h = x_r - x_l;
    double t = (x - x_l) / h;
    double u = 1.0 - t;
    double t2 = t * t;
    double u2 = u * u;
    double num = y_r * t2 * t + (r * y_r - h * d_r) * t2 * u + (r * y_l + h * d_l) * t * u2 +
                 y_l * u2 * u;
    double cubic = num / (1.0 + (r - 3.0) * t * u);
    double linear = y_r * t + y_l * (1.0 - t);
    return iv_sel(fabs(h) <= 0.0, 0.5 * (y_l + y_r), iv_sel(r >= IV_R_MAX, linear, cubic));
}

__device__ __forceinline__ double iv_householder3(double nu, double h2, double h3) {
    return nu * fma(0.5 * h2, nu, 1.0) / fma(nu, fma(h3 * nu, 1.0 / 6.0, h2), 1.0);
}

__device__ __forceinline__ double iv_guard(double s_new, double lo, double hi) {
    return iv_sel(s_new >= lo && s_new <= hi && s_new > 0.0, s_new,
                  iv_sel(isfinite(hi), 0.5 * (lo + hi), 2.0 * fmax(lo, IV_DBL_MIN)));
}

#define IV_OBJ_LOW 0
#define IV_OBJ_MID 1
#define IV_OBJ_HIGH 2

struct IvLane {
    double x, b_max, inv_b_max, beta, ln_beta, s, lo, hi, sqrt_years;
    int obj;
    // `defer`: a step needed region 1's series, which this pass does not evaluate.
    bool ok, converged, defer;
};

__device__ IvLane iv_setup(double price, double spot, double strike, double years, double rate,
                           double dividend_yield, double sign) {
    IvLane l;
    bool ok = isfinite(price) && price > 0.0 && isfinite(spot) && spot > 0.0 &&
              isfinite(strike) && strike > 0.0 && isfinite(years) && years > 0.0 &&
              isfinite(rate) && isfinite(dividend_yield);
    bool call = sign > 0.0;
    double carry = (rate - dividend_yield) * years;
    ok = ok && fabs(carry) <= 0.6;
    double growth_m1 = expm1(carry);
    double forward = spot * (1.0 + growth_m1);
    ok = ok && isfinite(forward) && forward > 0.0;
    double df = exp(-rate * years);
    double fmk = (spot - strike) + spot * growth_m1;
    double leg = forward * df;
    ok = ok && !(call && price >= leg * (1.0 - 1e-9));
    double intrinsic = df * fmax(sign * fmk, 0.0);
    double upper_bound = call ? leg : strike * df;
    ok = ok && price < upper_bound && price > intrinsic;
    double m = fmax(price, leg);
    double ulp = __longlong_as_double(__double_as_longlong(m) & 0x7ff0000000000000LL) *
                 2.220446049250313e-16;
    ok = ok && !(intrinsic > 0.0 && price - intrinsic <= 64.0 * ulp);
    double beta = (price - intrinsic) * (1.0 / df) / (sqrt(forward) * sqrt(strike));
    double x = -fabs(iv_ln(spot / strike) + carry);
    double b_max = exp(0.5 * x);
    ok = ok && beta >= 1e-250 && beta < b_max * (1.0 - 1e-12);

    double inv_b_max = 1.0 / b_max;
    double sqrt_ax = sqrt(-x);
    double s_c = IV_SQRT_2 * sqrt_ax;
    double ome = 1.0 - iv_erfcx_nonneg(sqrt_ax);
    double b_c = 0.5 * b_max * ome;
    double inv_v_c = IV_SQRT_2PI / b_max;
    bool lower_half = beta < b_c;
    double s_l0 = s_c - IV_SQRT_PI_OVER_2 * ome;
    double s_l = iv_sel(s_l0 > 0.0, s_l0, 0.25 * s_c * fmin(sqrt_ax, 1.0));
    double s_u = s_c + IV_SQRT_PI_OVER_2 * (2.0 - ome);
    double s_n = iv_sel(lower_half, s_l, s_u);
    double inv_s_n = 1.0 / s_n;
    IvEval en = iv_eval(x, s_n, inv_s_n, b_max, inv_b_max, false);
    ok = ok && !en.region1;
    double b_n = en.b;
    double inv_v_n = 1.0 / en.vega;
    bool lowest = lower_half && beta < b_n;
    bool highest = !lower_half && beta > b_n;
    // Every lane evaluates the outer intervals' extra pieces (their curvature terms, the
    // transformed end values and the inverse normal CDF below), as the CPU lane code does,
    // though the middle intervals' guess is the rational cubic alone: evaluating them only
    // where needed (`-DIV_SETUP_OUTER_ONLY`, the same values) was 1.5 % slower on an H200
    // (2.065 against 2.030 ms for 10 M chain quotes; BENCHMARKS.md, 2026-12-03, sixth session).
    bool outer = lowest || highest;
    double lf = 0.0, lg = 0.0, l2 = 0.0, uf = 0.0, u1 = 0.0, u2 = 0.0;
    bool upper_ok = true;
#ifdef IV_SETUP_OUTER_ONLY
    if (outer)
#endif
    {
        double h = x * inv_s_n;
        double t = 0.5 * s_n;
        double z = h * IV_FRAC_1_SQRT_3;
        double w = h * h;
        double e_t = exp(0.5 * t * t);
        double e1 = exp(iv_sel(lowest, -0.5 * z * z, 0.5 * w));
        double ex = iv_erfcx_nonneg(iv_sel(lowest, -z * IV_FRAC_1_SQRT_2, t * IV_FRAC_1_SQRT_2));
        double scaled = 0.5 * ex;
        double e_z = e1;
        double phi_z = scaled * e_z;
        lf = (2.0 * IV_PI / 5.196152422706632) * (-x) * phi_z * phi_z * phi_z;
        lg = (2.0 * IV_PI / 3.0) * h * h * scaled * scaled * e_t;
        double y_z = IV_SQRT_2PI * scaled;
        double dlng =
            -2.0 * inv_s_n - 2.0 * z * inv_s_n / y_z - 2.0 * h * h * inv_s_n / 3.0 + 0.5 * t;
        l2 = lg * dlng * IV_SQRT_2PI * e_t / (e_z * e_z * e_z);
        uf = iv_sel(t <= IV_CDF_THRESHOLD, iv_norm_cdf_central(-t), 0.5 * ex / e_t);
        u1 = -0.5 * e1;
        u2 = IV_SQRT_PI_OVER_2 * (e1 * e1) * e_t * w * inv_s_n;
        upper_ok = fabs(u2) < 1.3407807929942596e154;
    }

    bool middle_low = lower_half && !lowest;
    double x_l, x_r, y_l, y_r, d_l, d_r, second;
    bool right, prefer;
    if (lowest) {
        x_l = 0.0; x_r = b_n; y_l = 0.0; y_r = lf; d_l = 1.0; d_r = lg; second = l2;
        right = true; prefer = true;
    } else if (middle_low) {
        x_l = b_n; x_r = b_c; y_l = s_l; y_r = s_c; d_l = inv_v_n; d_r = inv_v_c; second = 0.0;
        right = true; prefer = false;
    } else if (highest) {
        x_l = b_n; x_r = b_max; y_l = uf; y_r = 0.0; d_l = u1; d_r = -0.5; second = u2;
        right = false; prefer = true;
    } else {
        x_l = b_c; x_r = b_n; y_l = s_c; y_r = s_u; d_l = inv_v_c; d_r = inv_v_n; second = 0.0;
        right = false; prefer = false;
    }
    double hh = x_r - x_l;
    double delta = (y_r - y_l) / hh;
    double num = 0.5 * hh * second + (d_r - d_l);
    double den = iv_sel(right, d_r - delta, delta - d_l);
    double mc = iv_minimum_control(d_l, d_r, delta, prefer);
    double r = iv_sel(lowest && !isfinite(l2), mc, fmax(iv_fit_ratio(num, den), mc));
    double cubic = iv_rational_cubic(beta, x_l, x_r, y_l, y_r, d_l, d_r, r);
    double s0 = cubic;
#ifdef IV_SETUP_OUTER_ONLY
    if (outer)
#endif
    {
        double f = iv_sel(highest && !upper_ok, -IV_DBL_MAX, cubic);
        bool bad_f = isnan(f) || f <= 0.0;
        double tl = beta / b_n;
        double f_low = iv_sel(bad_f, (lf * tl + b_n * (1.0 - tl)) * tl, f);
        double hu = b_max - b_n;
        double tu = (beta - b_n) / hu;
        double f_up = iv_sel(bad_f, (uf * (1.0 - tu) + 0.5 * hu * tu) * (1.0 - tu), f);
        double ratio = f_low / (2.0 * IV_PI * (-x));
        double ln_in = iv_ln(iv_sel(lowest, ratio, f_up));
        double ln_p = iv_sel(lowest, IV_LN_SQRT_3 + ln_in * (1.0 / 3.0), ln_in);
        double p = iv_sel(lowest, IV_SQRT_3 * exp(ln_in * (1.0 / 3.0)), f_up);
        double zi = iv_inverse_norm_cdf_lower(p, ln_p);
        s0 = iv_sel(lowest, x * IV_FRAC_1_SQRT_3 / zi, iv_sel(highest, -2.0 * zi, cubic));
    }
    double lo = iv_sel(lowest, 0.0, iv_sel(middle_low, s_l, iv_sel(highest, s_u, s_c)));
    double hi = iv_sel(lowest, s_l,
                       iv_sel(middle_low, s_c, iv_sel(highest, __longlong_as_double(0x7ff0000000000000LL), s_u)));
    l.obj = lowest ? IV_OBJ_LOW : ((highest && beta > 0.5 * b_max) ? IV_OBJ_HIGH : IV_OBJ_MID);
    l.x = x;
    l.b_max = b_max;
    l.inv_b_max = inv_b_max;
    l.beta = beta;
    // Only the lowest interval's objective uses ln β.
#ifdef IV_SETUP_OUTER_ONLY
    l.ln_beta = lowest ? iv_ln(beta) : 0.0;
#else
    l.ln_beta = iv_ln(beta);
#endif
    l.s = iv_guard(s0, lo, hi);
    l.lo = lo;
    l.hi = hi;
    l.sqrt_years = sqrt(years);
    l.ok = ok;
    l.converged = false;
    l.defer = false;
    return l;
}

// `asym`: region 1 by its series; otherwise a lane that needs it stops, marked `defer`.
__device__ IV_STEP_ATTR void iv_step(IvLane* l, bool asym) {
    double x = l->x;
    double s = l->s;
    double inv_s = 1.0 / s;
    double h = x * inv_s;
    double t = 0.5 * s;
    double hh_over_s = h * h * inv_s;
    double b2 = hh_over_s - 0.25 * s;
    double b3 = b2 * b2 - 3.0 * hh_over_s * inv_s - 0.25;
    IvEval e = iv_eval(x, s, inv_s, l->b_max, l->inv_b_max, asym);
    bool low = l->obj == IV_OBJ_LOW;
    bool high = l->obj == IV_OBJ_HIGH;
#if !defined(IV_OBJECTIVE_SELECTS) && !defined(IV_SELECTS)
    // Only the lane's own objective (its logarithm and divisions; the central one needs
    // neither): the formulas of the select form below, one of them per lane. 3 % faster on
    // an H200 (BENCHMARKS.md, 2026-12-03); `-DIV_OBJECTIVE_SELECTS` restores the selects.
    double nu, h2, h3;
    bool go_down, ok_obj;
    if (low) {
        double ln_b = iv_ln(e.ln_arg) + e.ln_off;
        double p = 1.0 / e.bx;
        double lambda = 1.0 / ln_b;
        double otl = 1.0 + 2.0 * lambda;
        nu = (l->ln_beta - ln_b) * ln_b / l->ln_beta * e.bx;
        h2 = b2 - p * otl;
        h3 = b3 - 3.0 * p * b2 * otl + p * p * (2.0 + 6.0 * lambda * (1.0 + lambda));
        go_down = ln_b > l->ln_beta;
        ok_obj = e.bx > 0.0 && isfinite(e.bx) && isfinite(ln_b) && ln_b < 0.0;
    } else if (high) {
        double gamma = IV_SQRT_2_OVER_PI / e.sum;
        double g = iv_ln((l->b_max - l->beta) * gamma) + 0.5 * (h * h + t * t) + IV_LN_SQRT_2PI;
        nu = -g / gamma;
        h2 = b2 + gamma;
        h3 = b3 + gamma * (3.0 * b2 + 2.0 * gamma);
        go_down = g >= 0.0;
        ok_obj = e.upper && gamma > 0.0 && isfinite(g);
    } else {
        nu = (l->beta - e.b) / e.vega;
        h2 = b2;
        h3 = b3;
        go_down = e.b > l->beta;
        ok_obj = e.vega >= IV_DBL_MIN;
    }
#else
    double gamma = IV_SQRT_2_OVER_PI / e.sum;
    double beta_bar = l->b_max - l->beta;
    double ln_in = iv_sel(high, beta_bar * gamma, e.ln_arg);
    double ln_v = iv_ln(ln_in);
    double ln_b = ln_v + e.ln_off;
    double g = ln_v + 0.5 * (h * h + t * t) + IV_LN_SQRT_2PI;
    double p = 1.0 / e.bx;
    double lambda = 1.0 / ln_b;
    double otl = 1.0 + 2.0 * lambda;
    double nu_low = (l->ln_beta - ln_b) * ln_b / l->ln_beta * e.bx;
    double h2_low = b2 - p * otl;
    double h3_low = b3 - 3.0 * p * b2 * otl + p * p * (2.0 + 6.0 * lambda * (1.0 + lambda));
    bool ok_low = e.bx > 0.0 && isfinite(e.bx) && isfinite(ln_b) && ln_b < 0.0;
    double nu_mid = (l->beta - e.b) / e.vega;
    bool ok_mid = e.vega >= IV_DBL_MIN;
    double nu_high = -g / gamma;
    double h2_high = b2 + gamma;
    double h3_high = b3 + gamma * (3.0 * b2 + 2.0 * gamma);
    bool ok_high = e.upper && gamma > 0.0 && isfinite(g);

    double nu = iv_sel(low, nu_low, iv_sel(high, nu_high, nu_mid));
    double h2 = iv_sel(low, h2_low, iv_sel(high, h2_high, b2));
    double h3 = iv_sel(low, h3_low, iv_sel(high, h3_high, b3));
    bool go_down = (low && ln_b > l->ln_beta) || (high && g >= 0.0) || (!low && !high && e.b > l->beta);
#endif
    double ds = iv_householder3(nu, h2, h3);
    l->hi = iv_sel(go_down, fmin(l->hi, s), l->hi);
    l->lo = iv_sel(go_down, l->lo, fmax(l->lo, s));
    double s_new = iv_guard(s + ds, l->lo, l->hi);
    l->converged = fabs(s_new - s) <= IV_STEP_TOLERANCE * s;
#if defined(IV_OBJECTIVE_SELECTS) || defined(IV_SELECTS)
    bool ok_obj = (low && ok_low) || (high && ok_high) || (!low && !high && ok_mid);
#endif
    l->defer = l->defer || (l->ok && e.region1);
    l->ok = l->ok && !e.region1 && ok_obj;
    l->s = s_new;
}

// At most two Householder steps from the lane's initial guess (`asym` as in iv_step): sigma > 0
// and true, or false (the CPU's scalar solver takes it, or with `l->defer` the deferred pass).
__device__ __forceinline__ bool iv_solve(IvLane* l, bool asym, double* sigma) {
#ifdef IV_TWO_STEP_SITES
    iv_step(l, asym);
    if (l->ok && !l->converged) {
        // The CPU takes the second step's result only where the first had not converged, and
        // then requires convergence.
        IvLane m = *l;
        iv_step(&m, asym);
        l->s = m.s;
        l->ok = m.ok && m.converged;
        l->defer = m.defer;
    }
#else
    // At most two steps, from one call site (one inlined copy of the step: the kernel is
    // bound by instruction fetch). The CPU takes the second step only where the first had not
    // converged, and then requires convergence.
#pragma unroll 1
    for (int it = 0;; ++it) {
        iv_step(l, asym);
        if (!l->ok || l->converged) break;
        if (it == 1) {
            l->ok = false;
            break;
        }
    }
#endif
    double v = l->s / l->sqrt_years;
    *sigma = v;
    return l->ok && isfinite(v) && v > 0.0;
}

// One element, region 1 included: sigma > 0 and true, or false (the CPU's scalar solver takes
// it).
__device__ bool iv_one(double price, double spot, double strike, double years, double rate,
                       double dividend_yield, double sign, double* sigma) {
    IvLane l = iv_setup(price, spot, strike, years, rate, dividend_yield, sign);
    return iv_solve(&l, true, sigma);
}

// 512 threads a block and at most 64 registers a thread (two blocks an SM): 16 % faster on an
// H200 than the 80 registers the compiler takes unbounded (BENCHMARKS.md, 2026-12-03).
// IV_BLOCK_BOUND and IV_MIN_BLOCKS override the 512 and the two (for tuning, with
// WHEELHOUSE_CUDA_BLOCK at most the bound).
#ifndef IV_BLOCK_BOUND
#define IV_BLOCK_BOUND 512
#endif
#ifndef IV_MIN_BLOCKS
#define IV_MIN_BLOCKS 2
#endif
// `deferred` (room for n indices) and `n_deferred` (zero at launch) receive the lanes left to
// bsm_iv_deferred.
extern "C" __global__ void __launch_bounds__(IV_BLOCK_BOUND, IV_MIN_BLOCKS) bsm_iv(int n, const int* __restrict__ kind,
                                  const double* __restrict__ price,
                                  const double* __restrict__ spot,
                                  const double* __restrict__ strike,
                                  const double* __restrict__ years,
                                  const double* __restrict__ rate,
                                  const double* __restrict__ dividend_yield,
                                  double* __restrict__ iv, int* __restrict__ status,
                                  int* __restrict__ deferred, int* __restrict__ n_deferred) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    IvLane l = iv_setup(price[i], spot[i], strike[i], years[i], rate[i], dividend_yield[i],
                        kind[i] == 0 ? 1.0 : -1.0);
    double sigma;
#ifdef IV_NO_DEFER
    bool ok = iv_solve(&l, true, &sigma);
#else
    bool ok = iv_solve(&l, false, &sigma);
    // The warp's deferred lanes take consecutive slots: one atomic a warp.
    unsigned active = __activemask();
    unsigned mask = __ballot_sync(active, l.defer);
    if (mask != 0u) {
        int lane = threadIdx.x & 31;
        int leader = __ffs(mask) - 1;
        int base = 0;
        if (lane == leader) base = atomicAdd(n_deferred, __popc(mask));
        base = __shfl_sync(active, base, leader);
        if (l.defer) {
            deferred[base + __popc(mask & ((1u << lane) - 1u))] = i;
            return;
        }
    }
#endif
    iv[i] = ok ? sigma : __longlong_as_double(0x7ff8000000000000LL);
    status[i] = ok ? 0 : 1;
}

// The lanes bsm_iv deferred (`*n_deferred` of them, indices in `deferred`), solved from the
// start with region 1's series, a grid-stride loop over the queue.
extern "C" __global__ void __launch_bounds__(IV_BLOCK_BOUND, IV_MIN_BLOCKS) bsm_iv_deferred(
    const int* __restrict__ deferred, const int* __restrict__ n_deferred,
    const int* __restrict__ kind, const double* __restrict__ price,
    const double* __restrict__ spot, const double* __restrict__ strike,
    const double* __restrict__ years, const double* __restrict__ rate,
    const double* __restrict__ dividend_yield, double* __restrict__ iv,
    int* __restrict__ status) {
    int count = *n_deferred;
    for (long long k = (long long)blockIdx.x * blockDim.x + threadIdx.x; k < count;
         k += (long long)gridDim.x * blockDim.x) {
        int i = deferred[k];
        double sigma;
        bool ok = iv_one(price[i], spot[i], strike[i], years[i], rate[i], dividend_yield[i],
                         kind[i] == 0 ? 1.0 : -1.0, &sigma);
        iv[i] = ok ? sigma : __longlong_as_double(0x7ff8000000000000LL);
        status[i] = ok ? 0 : 1;
    }
}
