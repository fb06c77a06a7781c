"""High-precision (mpmath) Black-Scholes-Merton and Black-76 reference mathematics.

Shared by european.py and edge_cases.py.  Every input is an exactly representable float64
and is fed to mpmath unchanged (mpf(float) is exact).  Every output is the correctly rounded
float64 of the mpmath value, written with repr() (shortest round-trip string).

Each Greek is computed from its closed form and then checked against mpmath numerical
differentiation (mp.diff) of the price to >= 25 significant digits; any disagreement aborts.
To keep the check meaningful where the price is dominated by its intrinsic part (deep in the
money, where e.g. gamma can be 1e-1000000 while the price is 100), the price is differentiated
in the put-call-parity form  V_w = V_{-w} + w(S Dq - K Df)  whenever the forward is in the money:
mp.diff acts on the out-of-the-money option V_{-w}, and the derivatives of the linear parity
term are added exactly.  The working precision is raised until the closed forms keep >= 30
digits beyond their worst cancellation (scale/|value|).
"""

import math

import mpmath as M
from mpmath import mp, mpf

GREEKS = [
    "price",
    "delta",
    "gamma",
    "vega",
    "theta",
    "rho",
    "epsilon",
    "vanna",
    "volga",
    "charm",
    "dual_delta",
    "prob_itm",
]
GREEKS_B76 = [g for g in GREEKS if g != "epsilon"]

VERIFY_DIGITS = 25
QUAD_DIGITS = 30
BASE_DPS = 60


# --------------------------------------------------------------------------- float64 output


def to_f64(x):
    """Correctly rounded (nearest-even) float64 of an mpf, subnormals included."""
    x = mpf(x)
    if x == 0:
        return 0.0
    if not M.isfinite(x):
        raise ValueError("non-finite value %r" % x)
    _, e = M.frexp(x)  # |x| = m 2^e, 0.5 <= m < 1
    if e - 1 >= -1022:
        f = float(x)  # mpmath rounds to 53 bits, nearest
        if math.isinf(f):
            raise OverflowError(x)
        return f
    # subnormal or underflow: round once, directly onto the 2^-1074 grid
    with mp.workprec(max(mp.prec, 64) + 1200):
        n = M.ldexp(x, 1074)
        fl = M.floor(n)
        frac = n - fl
        if frac > 0.5 or (frac == 0.5 and int(fl) % 2 == 1):
            fl += 1
    return math.ldexp(int(fl), -1074)


def fmt(x):
    """repr of a float64 (shortest round-trip); mpf values are rounded first."""
    if not isinstance(x, float):
        x = to_f64(x)
    return repr(x)


def log10_ratio(a, b):
    """log10(|a|/|b|) for mpf a, b != 0 (cheap, via binary exponents)."""
    return (M.mag(a) - M.mag(b)) * 0.30103


# --------------------------------------------------------------------------- BSM


def bsm_price(w, S, K, T, r, q, sig):
    v = sig * M.sqrt(T)
    d1 = (M.log(S / K) + (r - q + sig * sig / 2) * T) / v
    d2 = d1 - v
    return w * (S * M.exp(-q * T) * M.ncdf(w * d1) - K * M.exp(-r * T) * M.ncdf(w * d2))


def bsm_closed(w, S, K, T, r, q, sig):
    """Closed-form price and Greeks of the BSM option: {name: (value, scale)} as mpf."""
    w = mpf(w)
    sqT = M.sqrt(T)
    v = sig * sqT
    lnSK = M.log(S / K)
    d1 = (lnSK + (r - q + sig * sig / 2) * T) / v
    d2 = d1 - v
    Df = M.exp(-r * T)
    Dq = M.exp(-q * T)
    n1 = M.npdf(d1)
    N1 = M.ncdf(w * d1)
    N2 = M.ncdf(w * d2)
    # terms of d1, d2 = (lnSK + (r-q)T -/+ sig^2 T/2)/(sig sqrt T)
    dterm = max(abs(lnSK) / v, abs(r - q) * sqT / sig, v / 2)
    out = {}
    a, b = S * Dq * N1, K * Df * N2
    out["price"] = (w * (a - b), max(abs(a), abs(b)))
    out["delta"] = (w * Dq * N1, None)
    out["gamma"] = (Dq * n1 / (S * v), None)
    vega = S * Dq * n1 * sqT
    out["vega"] = (vega, None)
    t1 = -S * Dq * n1 * sig / (2 * sqT)
    t2 = -w * r * K * Df * N2
    t3 = w * q * S * Dq * N1
    out["theta"] = (t1 + t2 + t3, max(abs(t1), abs(t2), abs(t3)))
    out["rho"] = (w * K * T * Df * N2, None)
    out["epsilon"] = (-w * S * T * Dq * N1, None)
    out["vanna"] = (-Dq * n1 * d2 / sig, Dq * n1 * dterm / sig)
    out["volga"] = (vega * d1 * d2 / sig, vega * dterm * dterm / sig)
    c1 = w * q * Dq * N1
    # d(d1)/dT = ((r-q+sig^2/2)T - lnSK) / (2 T sig sqrtT)
    c2 = -Dq * n1 * ((r - q + sig * sig / 2) * T - lnSK) / (2 * T * v)
    c2s = Dq * n1 * max(abs(r - q) * T, sig * sig * T / 2, abs(lnSK)) / (2 * T * v)
    out["charm"] = (c1 + c2, max(abs(c1), c2s))
    out["dual_delta"] = (-w * Df * N2, None)
    out["prob_itm"] = (N2, None)
    return {k: (val, abs(val) if sc is None else sc) for k, (val, sc) in out.items()}


# derivatives of the parity term L = w (S Dq - K Df) for the greek definitions below
def bsm_linear(w, S, K, T, r, q, sig):
    Df = M.exp(-r * T)
    Dq = M.exp(-q * T)
    z = mpf(0)
    return {
        "price": w * (S * Dq - K * Df),
        "delta": w * Dq,
        "gamma": z,
        "vega": z,
        "theta": w * (q * S * Dq - r * K * Df),
        "rho": w * T * K * Df,
        "epsilon": -w * T * S * Dq,
        "vanna": z,
        "volga": z,
        "charm": w * q * Dq,
        "dual_delta": -w * Df,
    }


# greek -> (sign, ((variable, order), ...))
BSM_DIFF = {
    "delta": (1, (("S", 1),)),
    "gamma": (1, (("S", 2),)),
    "vega": (1, (("sig", 1),)),
    "theta": (-1, (("T", 1),)),
    "rho": (1, (("r", 1),)),
    "epsilon": (1, (("q", 1),)),
    "vanna": (1, (("S", 1), ("sig", 1))),
    "volga": (1, (("sig", 2),)),
    "charm": (-1, (("S", 1), ("T", 1))),
    "dual_delta": (1, (("K", 1),)),
}

# --------------------------------------------------------------------------- Black-76


def b76_price(w, F, K, T, r, sig):
    v = sig * M.sqrt(T)
    d1 = (M.log(F / K) + sig * sig * T / 2) / v
    d2 = d1 - v
    return M.exp(-r * T) * w * (F * M.ncdf(w * d1) - K * M.ncdf(w * d2))


def b76_closed(w, F, K, T, r, sig):
    w = mpf(w)
    sqT = M.sqrt(T)
    v = sig * sqT
    lnFK = M.log(F / K)
    d1 = (lnFK + sig * sig * T / 2) / v
    d2 = d1 - v
    Df = M.exp(-r * T)
    n1 = M.npdf(d1)
    N1 = M.ncdf(w * d1)
    N2 = M.ncdf(w * d2)
    dterm = max(abs(lnFK) / v, v / 2)
    out = {}
    a, b = Df * F * N1, Df * K * N2
    price = w * (a - b)
    pscale = max(abs(a), abs(b))
    out["price"] = (price, pscale)
    out["delta"] = (w * Df * N1, None)
    out["gamma"] = (Df * n1 / (F * v), None)
    vega = Df * F * n1 * sqT
    out["vega"] = (vega, None)
    # theta = -dV/dT at fixed F = r V - Df F n(d1) sig / (2 sqrtT)
    t1 = r * w * a
    t2 = -r * w * b
    t3 = -Df * F * n1 * sig / (2 * sqT)
    out["theta"] = (t1 + t2 + t3, max(abs(t1), abs(t2), abs(t3)))
    out["rho"] = (-T * price, T * pscale)
    out["vanna"] = (-Df * n1 * d2 / sig, Df * n1 * dterm / sig)
    out["volga"] = (vega * d1 * d2 / sig, vega * dterm * dterm / sig)
    # charm = -d(delta)/dT = r w Df N(w d1) + Df n(d1) d2 / (2T)
    c1 = r * w * Df * N1
    c2 = Df * n1 * (lnFK - sig * sig * T / 2) / (2 * T * v)
    c2s = Df * n1 * max(abs(lnFK), sig * sig * T / 2) / (2 * T * v)
    out["charm"] = (c1 + c2, max(abs(c1), c2s))
    out["dual_delta"] = (-w * Df * N2, None)
    out["prob_itm"] = (N2, None)
    return {k: (val, abs(val) if sc is None else sc) for k, (val, sc) in out.items()}


def b76_linear(w, F, K, T, r, sig):
    Df = M.exp(-r * T)
    L = w * Df * (F - K)
    z = mpf(0)
    return {
        "price": L,
        "delta": w * Df,
        "gamma": z,
        "vega": z,
        "theta": r * L,
        "rho": -T * L,
        "vanna": z,
        "volga": z,
        "charm": r * w * Df,
        "dual_delta": -w * Df,
    }


B76_DIFF = {
    "delta": (1, (("F", 1),)),
    "gamma": (1, (("F", 2),)),
    "vega": (1, (("sig", 1),)),
    "theta": (-1, (("T", 1),)),
    "rho": (1, (("r", 1),)),
    "vanna": (1, (("F", 1), ("sig", 1))),
    "volga": (1, (("sig", 2),)),
    "charm": (-1, (("F", 1), ("T", 1))),
    "dual_delta": (1, (("K", 1),)),
}


# --------------------------------------------------------------------------- models


class Model:
    def __init__(self, name, varnames, price, closed, linear, diffs, greeks, under, upper):
        self.name = name
        self.varnames = varnames  # order of the keyword inputs after w
        self.price = price
        self.closed = closed
        self.linear = linear
        self.diffs = diffs
        self.greeks = greeks
        self.under = under  # name of the underlying variable ("S" or "F")
        self.upper = upper  # upper no-arbitrage bound: f(w, x) -> mpf


def _bsm_upper(w, x):
    if w > 0:
        return x["S"] * M.exp(-x["q"] * x["T"])
    return x["K"] * M.exp(-x["r"] * x["T"])


def _b76_upper(w, x):
    Df = M.exp(-x["r"] * x["T"])
    return Df * (x["F"] if w > 0 else x["K"])


BSM = Model("bsm", ["S", "K", "T", "r", "q", "sig"], bsm_price, bsm_closed, bsm_linear,
            BSM_DIFF, GREEKS, "S", _bsm_upper)
B76 = Model("b76", ["F", "K", "T", "r", "sig"], b76_price, b76_closed, b76_linear,
            B76_DIFF, GREEKS_B76, "F", _b76_upper)


def _mp_inputs(model, x):
    return {k: mpf(x[k]) for k in model.varnames}


class CheckError(AssertionError):
    pass


def _needed_digits(vals):
    need = 0.0
    for val, sc in vals.values():
        if val == 0:
            continue
        need = max(need, log10_ratio(sc, val))
    return need


def closed_adaptive(model, w, x):
    """Closed forms at a working precision that keeps >= 30 digits after cancellation."""
    dps = BASE_DPS
    while True:
        with mp.workdps(dps):
            xm = _mp_inputs(model, x)
            vals = model.closed(w, **xm)
            other = model.closed(-w, **xm)["price"]
            need = max(_needed_digits(vals), _needed_digits({"p": other}))
            if need + 30 <= dps:
                return vals, other[0], dps
        dps = int(need) + 50
        if dps > 20000:
            raise CheckError("cancellation too severe: %r" % (x,))


def verify(model, w, x, vals, dps):
    """Check every Greek against mp.diff of the price (parity form when ITM-forward)."""
    with mp.workdps(dps):
        xm = _mp_inputs(model, x)
        lin = model.linear(w, **xm)
        if lin["price"] > 0:
            side, addlin = -w, True
        else:
            side, addlin = w, False
        f_side = model.price(side, **xm)
        # the price itself: parity form against the direct closed form
        p_num = f_side + (lin["price"] if addlin else 0)
        _cmp(model, x, "price", vals["price"][0], p_num)
    for g, (sign, spec) in model.diffs.items():
        closed = vals[g][0]
        # precision for mp.diff: its absolute error is ~ |f| 10^-dps
        if closed != 0 and f_side != 0:
            extra = max(0.0, log10_ratio(f_side, closed))
        else:
            extra = 0.0
        cdps = max(BASE_DPS, int(VERIFY_DIGITS + 15 + extra))
        with mp.workdps(cdps):
            xm = _mp_inputs(model, x)
            names = [v for v, _ in spec]
            orders = [o for _, o in spec]

            def f(*args):
                y = dict(xm)
                for nme, a in zip(names, args):
                    y[nme] = a
                return model.price(side, **y)

            if len(names) == 1:
                num = M.diff(f, xm[names[0]], orders[0])
            else:
                num = M.diff(f, tuple(xm[n] for n in names), tuple(orders))
            num = sign * num
            if addlin:
                num += model.linear(w, **xm)[g]
            _cmp(model, x, g, closed, num)
    # prob_itm = N(w d2) = -w (dV/dK) / Df
    with mp.workdps(dps):
        xm = _mp_inputs(model, x)
        _cmp(model, x, "prob_itm", vals["prob_itm"][0],
             -w * vals["dual_delta"][0] / M.exp(-xm["r"] * xm["T"]))


def _cmp(model, x, g, closed, num):
    err = abs(closed - num)
    if closed == 0:
        ok = err == 0 or err < mpf(10) ** (-VERIFY_DIGITS - 40)
    else:
        ok = err <= abs(closed) * mpf(10) ** (-VERIFY_DIGITS)
    if not ok:
        raise CheckError("%s %s mismatch for %r: closed=%s numeric=%s"
                         % (model.name, g, x, M.nstr(closed, 30), M.nstr(num, 30)))


def quad_price(model, w, x, dps=45):
    """Independent price: integral of the payoff against the lognormal density (tanh-sinh)."""
    with mp.workdps(dps):
        xm = _mp_inputs(model, x)
        T, r, sig = xm["T"], xm["r"], xm["sig"]
        K = xm["K"]
        if model is BSM:
            F = xm["S"] * M.exp((r - xm["q"]) * T)
        else:
            F = xm["F"]
        v = sig * M.sqrt(T)
        zk = (M.log(K / F) + v * v / 2) / v  # F e^{v z - v^2/2} = K

        # substitute z = zk + w u (u >= 0) and factor out npdf(zk):
        # npdf(zk + w u) = npdf(zk) exp(-w zk u - u^2/2), peak at u* = max(0, -w zk)
        pk = M.npdf(zk)

        def g(u):
            z = zk + w * u
            return w * (F * M.exp(v * z - v * v / 2) - K) * M.exp(-w * zk * u - u * u / 2)

        h = 1 / max(1, abs(zk))
        ustar = max(mpf(0), -w * zk)
        pts = {mpf(0)}
        pts.update(h * k for k in (0.25, 1, 3, 8, 20, 50))
        pts.update(ustar + k for k in (-8, -3, -1, 0, 1, 3, 8, 20))
        pts = sorted(p for p in pts if p >= 0) + [M.inf]
        return M.exp(-r * T) * pk * M.quad(g, pts)


# --------------------------------------------------------------------------- implied vol


def implied_vol(model, w, x, p, dps):
    """Classify the float64 price p and, when valid, return the exact implied volatility.

    Returns (iv_expect, iv) with iv an mpf or None.
    """
    with mp.workdps(dps + 20):
        xm = _mp_inputs(model, x)
        pm = mpf(p)
        upper = model.upper(w, xm)
        if pm >= upper:
            return "above_upper_bound", None
        lin = model.linear(w, **xm)["price"]
        intr = lin if lin > 0 else mpf(0)
        if pm < intr:
            return "below_intrinsic", None
        if pm == intr:
            return "at_intrinsic", None
        # target for the out-of-the-money-forward side (parity), monotone in sigma
        if lin > 0:
            side, target = -w, pm - lin
        else:
            side, target = w, pm
        ltarget = M.log(target)
    with mp.workdps(dps):
        xm = _mp_inputs(model, x)
        target = +target
        ltarget = +ltarget

        def g(lsig):
            y = dict(xm)
            y["sig"] = M.exp(lsig)
            return M.log(model.price(side, **y)) - ltarget

        x0 = M.log(xm["sig"])
        step = M.log(2)
        g0 = g(x0)
        if g0 == 0:
            return "ok", xm["sig"]
        lo = hi = x0
        if g0 < 0:
            for _ in range(4000):
                hi = hi + step
                if g(hi) > 0:
                    break
                lo = hi
            else:
                raise CheckError("IV bracket (up) failed %r" % (x,))
        else:
            for _ in range(4000):
                lo = lo - step
                if g(lo) < 0:
                    break
                hi = lo
            else:
                raise CheckError("IV bracket (down) failed %r" % (x,))
        # bisection to a narrow bracket, then safeguarded secant/Newton via findroot
        for _ in range(40):
            mid = (lo + hi) / 2
            if g(mid) < 0:
                lo = mid
            else:
                hi = mid
        root = M.findroot(g, (lo, hi), solver="anderson", tol=mpf(10) ** (-2 * dps + 10))
        if not (lo <= root <= hi):
            raise CheckError("IV root left its bracket %r" % (x,))
        sig = M.exp(root)
        y = dict(xm)
        y["sig"] = sig
        resid = model.price(side, **y) - target
        if abs(resid) > abs(target) * mpf(10) ** (-40):
            raise CheckError("IV residual %s for %r" % (M.nstr(resid, 5), x))
        return "ok", sig


# --------------------------------------------------------------------------- one row


def row_values(model, w, x, quad_check=False):
    """All output values of one European case: ([(column, string)], quadrature_checked).

    The quadrature cross-check runs only where 1e-150 < N(w d2) < 1 - 1e-12 (outside that the
    integrand is too concentrated for a cheap tanh-sinh rule)."""
    vals, other_price, dps = closed_adaptive(model, w, x)
    verify(model, w, x, vals, dps)
    quad_done = False
    if quad_check and vals["prob_itm"][0] > mpf("1e-150") and vals["prob_itm"][0] < 1 - mpf("1e-12"):
        quad_done = True
        p = vals["price"][0]
        qp = quad_price(model, w, x)
        if abs(qp - p) > abs(p) * mpf(10) ** (-QUAD_DIGITS):
            raise CheckError("quadrature price mismatch %r: %s vs %s"
                             % (x, M.nstr(qp, 35), M.nstr(p, 35)))
    cols = []
    for g in model.greeks:
        val, sc = vals[g]
        cols.append((g, fmt(val)))
        cols.append((g + "_scale", fmt(sc)))
    p64 = to_f64(vals["price"][0])
    expect, iv = implied_vol(model, w, x, p64, dps)
    with mp.workdps(dps):
        xm = _mp_inputs(model, x)
        lin = model.linear(w, **xm)["price"]
        # time value = V - max(L, 0); when L > 0, parity gives exactly V_{-w}
        tv = other_price if lin > 0 else vals["price"][0]
        und = xm[model.under]
        good = (tv >= mpf("1e-9") * und
                and vals["vega"][0] >= mpf("1e-6") * und * M.sqrt(xm["T"]))
    cols.append(("iv_ref", "" if iv is None else fmt(iv)))
    cols.append(("iv_expect", expect))
    cols.append(("time_value", fmt(tv)))
    cols.append(("iv_well_conditioned", "1" if good else "0"))
    return cols, quad_done
