"""The numpy peer of `mc_speed.rs`: the same book (10 correlated underlyings, 50 short
options, 21 daily steps, BSM revaluation at the horizon), numpy's default generator for the
normals, scipy's ndtr for N(x). Prints one JSON line like the Rust example.

    python3 crates/risk/examples/mc_numpy.py [paths]
"""
import json
import sys
import time

import numpy as np
from scipy.special import ndtr


def main():
    paths = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    nu, steps, dt = 10, 21, 1.0 / 252.0
    spot = 50.0 + 10.0 * np.arange(nu)
    vol = 0.2 + 0.02 * np.arange(nu)
    drift = 0.03
    c = np.full((nu, nu), 0.3)
    np.fill_diagonal(c, 1.0)
    for i in range(nu - 1):
        c[i, i + 1] = c[i + 1, i] = 0.6
    L = np.linalg.cholesky(c)
    j = np.arange(50)
    ui = j % nu
    is_put = j % 2 == 0
    strike = np.round(spot[ui] * (0.9 + 0.2 * j / 49.0) * 100.0) / 100.0
    years = 0.1 + 0.01 * j
    r, q = 0.03, 0.01
    ivol = vol[ui] + 0.03
    qty = -100.0

    def bsm(s, k, t, sig, put):
        sq = sig * np.sqrt(t)
        d1 = (np.log(s / k) + (r - q + 0.5 * sig * sig) * t) / sq
        d2 = d1 - sq
        call = s * np.exp(-q * t) * ndtr(d1) - k * np.exp(-r * t) * ndtr(d2)
        putv = k * np.exp(-r * t) * ndtr(-d2) - s * np.exp(-q * t) * ndtr(-d1)
        return np.where(put, putv, call)

    v0 = bsm(spot[ui], strike, years, ivol, is_put)
    rng = np.random.default_rng(42)
    h = steps * dt
    t0 = time.perf_counter()
    pnl = np.empty(paths)
    chunk = 50_000
    for a in range(0, paths, chunk):
        m = min(chunk, paths - a)
        z = rng.standard_normal((m, steps, nu))
        e = z @ L.T
        x = np.log(spot) + ((drift - 0.5 * vol * vol) * dt) * steps + vol * np.sqrt(dt) * e.sum(axis=1)
        st = np.exp(x)
        vh = bsm(st[:, ui], strike, years - h, ivol, is_put)
        pnl[a:a + m] = (qty * (vh - v0)).sum(axis=1)
    secs = time.perf_counter() - t0
    losses = np.sort(-pnl)
    k = int(np.ceil(0.99 * paths))
    print(json.dumps({"engine": "numpy+scipy", "paths": paths, "seconds": round(secs, 4),
                      "var": round(float(losses[k - 1]), 2)}))


if __name__ == "__main__":
    main()
