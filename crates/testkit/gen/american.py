#!/usr/bin/env python3
"""Random American BSM reference prices from QuantLib (QdFp high precision + FD cross-check).

Writes crates/testkit/data/american.csv.  Run: python3 crates/testkit/gen/american.py
(about 25 minutes on 2 cores, nearly all of it the finite-difference cross-check).

regime_note values (';'-separated):
  put_r_le_0_no_early_exercise_qdfp_equals_european: put with r <= 0 (and q >= 0) has no early
      exercise; QdFp returned the European price (within 1e-14 relative)
  qdfp_above_intrinsic_in_fd_exercise_region_<x>_of_strike: the FD solution equals the
      intrinsic value (spot inside the exercise region) but QdFp is above it by x * strike
  qdfp_fd_disagree_<x>_of_strike: |QdFp - FD (extrapolated)| > 1e-6 * strike
  qdfp_error:<msg>, qdfp_below_intrinsic: QdFp failed / returned less than intrinsic
"""

import math
import sys

import numpy as np
import QuantLib as ql

from common import header_lines, pmap, write_csv

SEED = 20250613
N = 1000
FD_EVERY = 1  # finite-difference cross-check on ids divisible by this (1: every case)
FD_T, FD_X = 2000, 2000  # base grid; also run (2T, X) and (2T, 2X), then extrapolate
EVAL = ql.Date(2, ql.January, 2024)
DC = ql.Actual365Fixed()
CAL = ql.NullCalendar()


def draw():
    rng = np.random.default_rng(SEED)
    kind = rng.integers(0, 2, N)
    spot = np.exp(rng.uniform(math.log(5.0), math.log(2000.0), N))
    mny = np.exp(rng.uniform(math.log(0.25), math.log(4.0), N))
    strike = spot * mny
    days = np.floor(np.exp(rng.uniform(0.0, math.log(1826.0), N))).astype(int)
    days = np.clip(days, 1, 1825)
    vol = np.exp(rng.uniform(math.log(0.01), math.log(3.0), N))
    rate = rng.uniform(-0.01, 0.10, N)
    div = rng.uniform(0.0, 0.06, N)
    return [
        {
            "id": i,
            "w": 1 if kind[i] == 0 else -1,
            "S": float(spot[i]),
            "K": float(strike[i]),
            "D": int(days[i]),
            "r": float(rate[i]),
            "q": float(div[i]),
            "sig": float(vol[i]),
        }
        for i in range(N)
    ]


def build(c):
    ql.Settings.instance().evaluationDate = EVAL
    mat = EVAL + c["D"]
    spot = ql.QuoteHandle(ql.SimpleQuote(c["S"]))
    rts = ql.YieldTermStructureHandle(ql.FlatForward(EVAL, c["r"], DC, ql.Continuous))
    qts = ql.YieldTermStructureHandle(ql.FlatForward(EVAL, c["q"], DC, ql.Continuous))
    vts = ql.BlackVolTermStructureHandle(ql.BlackConstantVol(EVAL, CAL, c["sig"], DC))
    proc = ql.BlackScholesMertonProcess(spot, qts, rts, vts)
    payoff = ql.PlainVanillaPayoff(ql.Option.Call if c["w"] > 0 else ql.Option.Put, c["K"])
    am = ql.VanillaOption(payoff, ql.AmericanExercise(EVAL, mat))
    eu = ql.VanillaOption(payoff, ql.EuropeanExercise(mat))
    T = DC.yearFraction(EVAL, mat)
    assert T == c["D"] / 365.0, (T, c)
    assert proc.riskFreeRate().discount(T) == math.exp(-c["r"] * T) or abs(
        proc.riskFreeRate().discount(T) / math.exp(-c["r"] * T) - 1) < 1e-15
    return proc, am, eu


def fd_npv(proc, am, t, x):
    am.setPricingEngine(ql.FdBlackScholesVanillaEngine(proc, t, x, 0))
    return am.NPV()


def price_case(c):
    proc, am, eu = build(c)
    notes = []
    eu.setPricingEngine(ql.AnalyticEuropeanEngine(proc))
    e = eu.NPV()
    am.setPricingEngine(ql.QdFpAmericanEngine(proc, ql.QdFpAmericanEngine.highPrecisionScheme()))
    try:
        p = am.NPV()
    except RuntimeError as err:  # record and keep the row
        p = math.nan
        notes.append("qdfp_error:" + str(err).replace(",", ";").replace("\n", " ")[:80])
    intrinsic = max(c["w"] * (c["S"] - c["K"]), 0.0)
    if c["w"] < 0 and c["r"] <= 0:
        # no early exercise: the American put is the European one
        same = abs(p - e) <= 1e-14 * e + 1e-15 * c["K"]
        notes.append("put_r_le_0_no_early_exercise_qdfp_%s_european" % ("equals" if same else "differs_from"))
    if not math.isnan(p) and p < intrinsic:
        notes.append("qdfp_below_intrinsic")
    row = {"price": p, "european_price": e, "intrinsic": intrinsic}
    if c["id"] % FD_EVERY == 0:
        p1 = fd_npv(proc, am, FD_T, FD_X)
        p2 = fd_npv(proc, am, 2 * FD_T, FD_X)
        am.setPricingEngine(ql.FdBlackScholesVanillaEngine(proc, 2 * FD_T, 2 * FD_X, 0))
        p3 = am.NPV()
        delta, gamma, theta = am.delta(), am.gamma(), am.theta()
        # P(t, x) ~ P + a/t + b/x^2  (American constraint applied once per step: O(dt))
        pe = p3 - (p1 - p2) + (p3 - p2) / 3.0
        pe = max(pe, intrinsic)
        row.update(fd_price=pe, fd_price_finest=p3, fd_delta=delta, fd_gamma=gamma,
                   fd_theta=theta)
        # spot inside the exercise region (FD value is the intrinsic one) but QdFp above it
        if (intrinsic > 0 and abs(p3 - intrinsic) <= 1e-12 * c["K"]
                and p - intrinsic > 1e-10 * c["K"]):
            notes.append("qdfp_above_intrinsic_in_fd_exercise_region_%.1e_of_strike"
                         % ((p - intrinsic) / c["K"]))
    row["notes"] = notes
    return row


def theta_convention_check():
    """QuantLib's FD theta vs the analytic European theta (per year, dV/dt)."""
    c = {"id": 0, "w": 1, "S": 100.0, "K": 100.0, "D": 365, "r": 0.05, "q": 0.02, "sig": 0.2}
    proc, am, eu = build(c)
    eu.setPricingEngine(ql.AnalyticEuropeanEngine(proc))
    th_an = eu.theta()
    eu.setPricingEngine(ql.FdBlackScholesVanillaEngine(proc, 1000, 1000, 0))
    th_fd = eu.theta()
    # finite-difference check of the analytic one: theta = -dV/dT per year
    h = 1e-4
    vals = []
    for s in (1, -1):
        Tm = 1.0 + s * h
        sq = math.sqrt(Tm)
        d1 = (math.log(1.0) + (0.05 - 0.02 + 0.02) * Tm) / (0.2 * sq)
        d2 = d1 - 0.2 * sq
        n = lambda x: 0.5 * math.erfc(-x / math.sqrt(2))
        vals.append(100 * math.exp(-0.02 * Tm) * n(d1) - 100 * math.exp(-0.05 * Tm) * n(d2))
    th_num = -(vals[0] - vals[1]) / (2 * h)
    assert abs(th_an - th_num) < 1e-6, (th_an, th_num)
    assert abs(th_fd - th_an) < 1e-2 * abs(th_an), (th_fd, th_an)  # convention, not accuracy
    return th_an, th_fd


def main():
    th_an, th_fd = theta_convention_check()
    cases = draw()
    res = pmap(price_case, cases)
    cols = ["id", "type", "spot", "strike", "years", "days", "rate", "dividend_yield",
            "volatility", "price", "european_price", "fd_price", "fd_price_finest",
            "qdfp_minus_fd", "fd_delta", "fd_gamma", "fd_theta", "regime_note"]
    rows = []
    worst = (0.0, None)
    worst_finest = 0.0
    nfd = 0
    mism = []
    for c, r in zip(cases, res):
        fd = r.get("fd_price")
        diff = ""
        if fd is not None:
            nfd += 1
            d = r["price"] - fd
            diff = repr(d)
            if abs(d) / c["K"] > worst[0]:
                worst = (abs(d) / c["K"], c["id"])
            worst_finest = max(worst_finest, abs(r["price"] - r["fd_price_finest"]) / c["K"])
            if abs(d) > 1e-6 * c["K"]:
                r["notes"].append("qdfp_fd_disagree_%.1e_of_strike" % (abs(d) / c["K"]))
                mism.append(c["id"])

        def opt(k):
            v = r.get(k)
            return "" if v is None else repr(float(v))

        rows.append([
            str(c["id"]), "call" if c["w"] > 0 else "put", repr(c["S"]), repr(c["K"]),
            repr(c["D"] / 365.0), str(c["D"]), repr(c["r"]), repr(c["q"]), repr(c["sig"]),
            repr(r["price"]), repr(r["european_price"]), opt("fd_price"), opt("fd_price_finest"),
            diff, opt("fd_delta"), opt("fd_gamma"), opt("fd_theta"), ";".join(r["notes"]),
        ])
    extra = [
        "cases: %d, numpy.random.default_rng(%d); draw order: type (0=call/1=put), spot, "
        "moneyness, days = clip(floor(exp(U[0, ln 1826])), 1, 1825), volatility, rate, "
        "dividend_yield" % (N, SEED),
        "ranges: spot log-U[5,2000]; strike = spot * log-U[0.25,4]; years = days/365 exactly "
        "(QuantLib time is whole days, Actual365Fixed); volatility log-U[0.01,3]; rate "
        "U[-0.01,0.10]; dividend_yield U[0,0.06]",
        "price: QuantLib QdFpAmericanEngine(process, QdFpAmericanEngine.highPrecisionScheme()); "
        "european_price: AnalyticEuropeanEngine; flat curves, Continuous compounding, "
        "Actual365Fixed, NullCalendar, evaluation date %s, AmericanExercise(eval, eval+days)"
        % EVAL.ISO(),
        "fd_*: %d rows (id %% %d == 0, i.e. all): FdBlackScholesVanillaEngine (Douglas, no damping) at "
        "(tGrid, xGrid) = (%d,%d), (%d,%d), (%d,%d); fd_price = Richardson extrapolation "
        "P3 - (P1-P2) + (P3-P2)/3 assuming O(1/tGrid + 1/xGrid^2), floored at intrinsic; "
        "fd_price_finest and fd_delta/fd_gamma/fd_theta from the finest grid" % (
            nfd, FD_EVERY, FD_T, FD_X, 2 * FD_T, FD_X, 2 * FD_T, 2 * FD_X),
        "cross-check: max |price - fd_price|/strike = %.3g (id %s); max |price - fd_price_finest|"
        "/strike = %.3g; rows with |price - fd_price| > 1e-6 strike: %s" % (
            worst[0], worst[1], worst_finest, mism or "none"),
        "fd_theta is QuantLib's theta: dV/dt per year (calendar time forward, = -dV/dT); checked: "
        "analytic European theta %.6f vs FD %.6f for S=K=100, T=1, r=.05, q=.02, vol=.2" % (
            th_an, th_fd),
    ]
    write_csv("american.csv", header_lines(
        "american.py", "American BSM reference prices (QuantLib QdFp high precision)", extra),
        cols, rows)
    print("max |qdfp-fd|/K = %.3g at id %s; finest-grid %.3g; mismatches %s"
          % (worst[0], worst[1], worst_finest, mism), file=sys.stderr)


if __name__ == "__main__":
    main()
