#!/usr/bin/env python3
"""High-precision golden values for the wheel crate (per-share expiry statistics).

Generator:   python3 crates/wheel/tests/golden/gen_wheel_golden.py
Output:      wheel_probabilities.csv next to this script (overwritten)
Requires:    Python 3 + mpmath (written against mpmath 1.3.0); nothing else.
Seed:        random.Random(20261202); working precision mp.dps = 40.
Determinism: re-running produces a byte-identical CSV.

Model
-----
Geometric Brownian motion under the *real-world* drift:
    S_t = S * exp((mu - sigma^2/2) t + sigma W_t),   nu := mu - sigma^2/2.
Inputs per row: kind (put|call), spot S, strike K, years T, drift mu
(continuous, decimal), vol sigma (decimal).  Nothing is discounted.

Columns (per share, at expiry T)
--------------------------------
p_itm      P(S_T < K) (put) / P(S_T > K) (call)
p_touch    P(min_{t<=T} S_t <= K) (put, K < S) / P(max_{t<=T} S_t >= K)
           (call, K > S).  Written only for out-of-the-money rows; the field
           is EMPTY for rows already in the money (put K >= S, call K <= S),
           where the value is 1 by definition.
e_payoff   E[(K - S_T)^+] (put) / E[(S_T - K)^+] (call)
e_payoff2  E[((K - S_T)^+)^2] (put) / E[((S_T - K)^+)^2] (call)

Method (independent of the closed forms used by the Rust code)
--------------------------------------------------------------
Inputs are Python floats written with repr() (exact f64 round trip); every
reference value is computed from exactly those f64 values (mpmath.mpf(float)).

* p_itm, e_payoff, e_payoff2: mpmath.quad over the standard normal Z of the
  payoff, S_T = S exp(nu T + sigma sqrt(T) Z).  The integral is taken only on
  the in-the-money side of the kink z* (S_T = K); with u = distance from z*
  the payoff is K*(1 - e^{-sigma sqrt(T) u}) (put) or K*(e^{sigma sqrt(T) u} - 1)
  (call), evaluated with expm1 so that tiny payoffs keep full relative
  accuracy.  The u-range [0, inf) is split at the bulk of the (weighted)
  normal density and, for deep out-of-the-money rows, at multiples of the
  1/|z*| scale of the tail.
* p_touch: mpmath.quad of the first-passage-time density of X_t = ln(S_t/S)
  (Brownian motion with drift nu, vol sigma) to the barrier b = ln(K/S):
      f(t) = |b| / (sigma sqrt(2 pi t^3)) exp(-(b - nu t)^2 / (2 sigma^2 t)),
  over (0, T], split geometrically towards 0, at the density's mode, and
  geometrically towards T on the scale T^2 / (b^2 / 2 sigma^2) of the
  boundary layer that dominates when the barrier is far away.

Self-check (not written to the CSV): the closed forms
  p_itm    = N(-d2) / N(d2),  d2 = (ln(S/K) + nu T)/(sigma sqrt T), d1 = d2 + sigma sqrt T
  p_touch  = N((b - nu T)/s) + exp(2 nu b/sigma^2) N((b + nu T)/s)       (put, s = sigma sqrt T)
             N((-b + nu T)/s) + exp(2 nu b/sigma^2) N((-b - nu T)/s)     (call)
  e_payoff = K N(-d2) - F N(-d1) (put) / F N(d1) - K N(d2) (call),  F = S e^{mu T}
  e_payoff2= K^2 N(-d2) - 2 K F N(-d1) + F^2 e^{sigma^2 T} N(-d1 - sigma sqrt T)   (put)
             F^2 e^{sigma^2 T} N(d1 + sigma sqrt T) - 2 K F N(d1) + K^2 N(d2)      (call)
are evaluated at adaptively raised precision (the payoff forms cancel badly
out of the money) and the quadrature must agree to 1e-25 RELATIVE for every
value, however small (no absolute-error escape for tiny values); the f64
rounding of both must also be identical.  The worst discrepancy per column is
printed.

Cases
-----
Hand-picked rows first, then 200 random rows from random.Random(20261202):
kinds alternate put/call; spot uniform in [20, 500] (cents); K/S uniform in
[0.6, 1.05] (put) / [0.95, 1.5] (call), strike rounded to cents; T from a mix of
whole days/365, uniform and log-uniform on [2/365, 1.5]; (mu, sigma) either
mu uniform in [-0.05, 0.10] (4 dp) with sigma uniform in [0.05, 1.2] (4 dp), or
mu = 0 exactly, or sigma = k/64 with mu = sigma^2/2 so that nu = 0 exactly in
f64 as well as in exact arithmetic (zero-drift branch of the barrier formula).
Random rows whose smallest output would be below 1e-300 (outside what an f64
test can compare relatively) are redrawn; the screen uses the closed forms,
which only decide admission, never the written values.
"""

import csv
import io
import math
import os
import random
import sys
import time

import mpmath
from mpmath import mp, mpf

SEED = 20261202
DPS = 40
N_RANDOM = 200
MIN_VALUE = mpf("1e-300")
REL_TOL = mpf("1e-25")
COLUMNS = ["p_itm", "p_touch", "e_payoff", "e_payoff2"]
HEADER = ["kind", "spot", "strike", "years", "drift", "vol"] + COLUMNS

mp.dps = DPS

# ---------------------------------------------------------------- cases ---

HAND_PICKED = [
    # kind, spot, strike, years, drift, vol
    ("put", 100.0, 90.0, 30 / 365, 0.03, 0.25),
    ("call", 100.0, 110.0, 45 / 365, 0.0, 0.4),
    ("put", 100.0, 50.0, 7 / 365, 0.05, 0.3),   # deep OTM, K/S = 0.5: ~1e-62
    ("put", 100.0, 50.0, 2 / 365, 0.0, 0.5),    # deep OTM, K/S = 0.5: ~1e-78
    ("call", 100.0, 150.0, 5 / 365, 0.02, 0.35),  # deep OTM call
    ("call", 100.0, 120.0, 0.5, 0.03125, 0.25),  # nu = 0 exactly
    ("put", 100.0, 100.0, 1.0, 0.05, 0.2),       # at the money: counts as ITM
    ("call", 100.0, 100.0, 1.0, 0.05, 0.2),      # at the money: counts as ITM
    ("put", 100.0, 105.0, 2 / 365, 0.1, 0.05),   # deep ITM, p_itm rounds to 1
]


def draw_case(rng, i):
    kind = "put" if i % 2 == 0 else "call"
    spot = round(rng.uniform(20.0, 500.0), 2)
    lo, hi = (0.6, 1.05) if kind == "put" else (0.95, 1.5)
    strike = round(spot * rng.uniform(lo, hi), 2)
    mode = rng.randrange(3)
    if mode == 0:
        years = rng.randint(2, 547) / 365
    elif mode == 1:
        years = rng.uniform(2 / 365, 1.5)
    else:
        years = math.exp(rng.uniform(math.log(2 / 365), math.log(1.5)))
    r = rng.random()
    if r < 0.15:
        vol = round(rng.uniform(0.05, 1.2), 4)
        drift = 0.0
    elif r < 0.30:
        vol = rng.randint(4, 28) / 64          # exact binary fraction
        drift = vol * vol / 2                  # exact: nu == 0 in f64 too
        assert drift - 0.5 * vol * vol == 0.0
    else:
        vol = round(rng.uniform(0.05, 1.2), 4)
        drift = round(rng.uniform(-0.05, 0.10), 4)
    return (kind, spot, strike, years, drift, vol)


# ------------------------------------------------------------- helpers ---

def params(case):
    kind, spot, strike, years, drift, vol = case
    S, K, T, mu, sig = (mpf(x) for x in (spot, strike, years, drift, vol))
    nu = mu - sig * sig / 2
    return kind, S, K, T, mu, sig, nu


def is_otm(case):
    kind, spot, strike = case[0], case[1], case[2]
    return strike < spot if kind == "put" else strike > spot


def phi(z):
    return mp.exp(-z * z / 2) / mp.sqrt(2 * mp.pi)


def quad_scaled(f, pts, scale):
    """mpmath.quad's stopping test is absolute (per subinterval error <= eps),
    so integrate f/scale with scale ~ the integral.  If the first pass shows
    the guess was off by more than 10^2, repeat with the corrected scale."""
    scale = mpf(scale)
    for _ in range(4):
        r = mp.quad(lambda x: f(x) / scale, pts)
        if mpf("1e-2") <= abs(r) <= mpf("1e2"):
            return r * scale
        if r == 0:
            raise ArithmeticError("quadrature returned 0; scale guess too far off")
        scale *= abs(r)
    raise ArithmeticError("quadrature scale did not settle")


# ---------------------------------------------------------- quadrature ---

def quad_expiry(case):
    """p_itm, e_payoff, e_payoff2 by quadrature over Z, ITM side of the kink."""
    kind, S, K, T, mu, sig, nu = params(case)
    sT = sig * mp.sqrt(T)
    zstar = (mp.log(K / S) - nu * T) / sT
    # u >= 0 is the distance from the kink into the money.
    # put:  z = z* - u, payoff = K (1 - e^{-sT u});  call: z = z* + u, K (e^{sT u} - 1)
    # phi(z* -/+ u) = phi(zeta + u) with zeta = -z* (put) / z* (call); zeta > 0 is OTM.
    zeta = -zstar if kind == "put" else zstar
    sgn = -1 if kind == "put" else 1

    def payoff(u):
        return K * abs(mp.expm1(sgn * sT * u))

    results = []
    for n in (0, 1, 2):
        # bulk of phi(zeta+u) * payoff^n  (payoff^n ~ e^{n sT u} for calls)
        centre = -zeta + (n * sT if kind == "call" else 0)
        pts = {mpf(0)}
        if centre > 0:
            for d in (-6, -3, -1.5, 0, 1.5, 3, 6, 10):
                pts.add(centre + d)
        else:
            for d in (1.5, 3, 6, 10):
                pts.add(mpf(d))
        if zeta > 1:  # tail scale ~ 1/zeta near the kink
            h = 1 / zeta
            for j in (-2, 0, 2, 4, 6):
                pts.add(h * mpf(2) ** j)
        pts = sorted(p for p in pts if p >= 0)
        pts.append(mp.inf)
        if n == 0:
            f = lambda u: phi(zeta + u)
        elif n == 1:
            f = lambda u: payoff(u) * phi(zeta + u)
        else:
            f = lambda u: payoff(u) ** 2 * phi(zeta + u)
        # scale guess: deep OTM tail ~ K^n sT^n phi(zeta) n! / zeta^(n+1)
        zp = max(zeta, mpf(1))
        guess = (K * sT / zp) ** n * phi(max(zeta, mpf(0))) / zp
        results.append(quad_scaled(f, pts, guess))
    return results


def quad_touch(case):
    """First-passage probability to ln(K/S) by quadrature of the density."""
    kind, S, K, T, mu, sig, nu = params(case)
    b = mp.log(K / S)
    ab = abs(b)
    s2 = sig * sig
    pref = ab / (sig * mp.sqrt(2 * mp.pi))

    def dens(t):
        if t == 0:
            return mpf(0)
        return pref * t ** mpf(-1.5) * mp.exp(-(b - nu * t) ** 2 / (2 * s2 * t))

    c = b * b / (2 * s2)                      # density ~ exp(-c/t) near 0
    pts = {mpf(0), T}
    t = T
    while True:                               # geometric towards 0
        t = t / 2
        pts.add(t)
        if c / t > 2000:                      # exp(-2000): nothing below
            break
    if nu == 0:                               # mode of the density
        mode = b * b / (3 * s2)
    else:
        mode = (-3 * s2 + mp.sqrt(9 * s2 * s2 + 4 * nu * nu * b * b)) / (2 * nu * nu)
    if 0 < mode < T:
        pts.add(mode)
    lam = c / T
    if lam > 4:                               # boundary layer at T of width T/lam
        d = T / lam / 4
        while d < T / 2:
            pts.add(T - d)
            d *= 2
    pts = sorted(pts)
    # scale guess: far barrier ~ dens(T) T^2 / c (boundary layer at T), else O(1)
    guess = min(mpf(1), dens(T) * T / lam) if lam > 1 else mpf(1)
    return quad_scaled(dens, pts, guess)


# --------------------------------------------------------- closed forms ---

def closed_forms(case, dps):
    with mp.workdps(dps):
        kind, S, K, T, mu, sig, nu = params(case)
        N = mp.ncdf
        sT = sig * mp.sqrt(T)
        d2 = (mp.log(S / K) + nu * T) / sT
        d1 = d2 + sT
        F = S * mp.exp(mu * T)
        G = F * F * mp.exp(sig * sig * T)
        b = mp.log(K / S)
        e = mp.exp(2 * nu * b / (sig * sig))
        if kind == "put":
            p = N(-d2)
            touch = N((b - nu * T) / sT) + e * N((b + nu * T) / sT)
            ep = K * N(-d2) - F * N(-d1)
            ep2 = K * K * N(-d2) - 2 * K * F * N(-d1) + G * N(-d1 - sT)
        else:
            p = N(d2)
            touch = N((-b + nu * T) / sT) + e * N((-b - nu * T) / sT)
            ep = F * N(d1) - K * N(d2)
            ep2 = G * N(d1 + sT) - 2 * K * F * N(d1) + K * K * N(d2)
        out = [p, touch if is_otm(case) else None, ep, ep2]
        return [None if x is None else +x for x in out]


def closed_forms_converged(case):
    """Raise precision until two successive evaluations agree to 1e-35."""
    prev = closed_forms(case, 60)
    dps = 60
    while True:
        dps *= 2
        cur = closed_forms(case, dps)
        ok = all(a is None or abs(a - b) <= mpf("1e-35") * abs(b) for a, b in zip(prev, cur))
        if ok or dps > 5000:
            assert ok, (case, prev, cur)
            return cur
        prev = cur


# ---------------------------------------------------------------- main ---

def f64(x):
    """Correctly rounded (to nearest) f64 of an mpf in the normal range."""
    y = mpmath.libmp.to_float(mpf(x)._mpf_, rnd=mpmath.libmp.round_nearest)
    assert y == 0.0 or abs(y) >= sys.float_info.min, x
    return y


def build_cases():
    cases = list(HAND_PICKED)
    refs = [closed_forms_converged(c) for c in cases]
    rng = random.Random(SEED)
    rejected = 0
    i = 0
    while len(cases) < len(HAND_PICKED) + N_RANDOM:
        case = draw_case(rng, i)
        ref = closed_forms_converged(case)
        if min(x for x in ref if x is not None) < MIN_VALUE:
            rejected += 1
            continue
        cases.append(case)
        refs.append(ref)
        i += 1
    return cases, refs, rejected


def main():
    t0 = time.time()
    cases, refs, rejected = build_cases()
    worst = {c: (mpf(0), None) for c in COLUMNS}
    smallest = {c: mp.inf for c in COLUMNS}
    f64_mismatch = 0
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(HEADER)
    for case, ref in zip(cases, refs):
        p, e1, e2 = quad_expiry(case)
        touch = quad_touch(case) if is_otm(case) else None
        vals = [p, touch, e1, e2]
        for col, q, r in zip(COLUMNS, vals, ref):
            if q is None:
                assert r is None
                continue
            err = abs(q - r)
            rel = err / abs(r)
            if not rel <= REL_TOL:
                raise SystemExit(f"MISMATCH {col} {case}: quad={q} closed={r} rel={mp.nstr(rel, 3)}")
            if rel > worst[col][0]:
                worst[col] = (rel, case)
            smallest[col] = min(smallest[col], q)
            if f64(q) != f64(r):
                f64_mismatch += 1
                print(f"warning: f64 rounding differs for {col} {case}", file=sys.stderr)
        kind, spot, strike, years, drift, vol = case
        row = [kind] + [repr(float(x)) for x in (spot, strike, years, drift, vol)]
        row += ["" if v is None else repr(f64(v)) for v in vals]
        w.writerow(row)
    here = os.path.dirname(os.path.abspath(__file__))
    path = os.path.join(here, "wheel_probabilities.csv")
    with open(path, "w", newline="") as fh:
        fh.write(buf.getvalue())
    print(f"wrote {path}: {len(cases)} rows ({len(HAND_PICKED)} hand-picked, "
          f"{N_RANDOM} random, {rejected} random draws redrawn as < 1e-300)")
    print(f"mpmath {mpmath.__version__} (backend {mpmath.libmp.BACKEND}), dps {DPS}, seed {SEED}")
    for col in COLUMNS:
        rel, case = worst[col]
        print(f"  {col:9s}: worst |quad - closed| / |closed| = {mp.nstr(rel, 3):>9s} (row {case}); "
              f"smallest value {mp.nstr(smallest[col], 5)}")
    print(f"  f64 roundings differing between quad and closed form: {f64_mismatch}")
    print(f"  elapsed {time.time() - t0:.1f} s")


if __name__ == "__main__":
    main()
