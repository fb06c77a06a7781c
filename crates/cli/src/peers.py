"""Peer implementations timed by `wheelhouse bench pricing` on the same inputs.

Usage: python3 - DIR N THREADS TASKS  (script on stdin). DIR holds raw little-endian f64
columns written by wheelhouse (kind.f64 with +1 call / -1 put, spot, strike, years, rate,
dividend_yield, volatility, price). Prints one JSON object per measurement.
"""
import json
import os
import sys
import time

d, n, threads, tasks = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4].split(",")


def emit(**kw):
    print(json.dumps(kw), flush=True)


def best_time(f, budget=1.5, min_reps=3):
    best = float("inf")
    reps = 0
    t_end = time.perf_counter() + budget
    while reps < min_reps or time.perf_counter() < t_end:
        t0 = time.perf_counter()
        f()
        best = min(best, time.perf_counter() - t0)
        reps += 1
        if reps >= 50:
            break
    return best


try:
    import numpy as np
    from scipy.special import ndtr
except Exception as e:  # noqa: BLE001
    emit(peer="numpy+scipy", status="not installed", detail=str(e))
    sys.exit(0)

cols = {}
for name in ["kind", "spot", "strike", "years", "rate", "dividend_yield", "volatility", "price"]:
    cols[name] = np.fromfile(os.path.join(d, name + ".f64"), dtype="<f8")[:n]
w, S, K, T, r, q, v = (cols[k] for k in ["kind", "spot", "strike", "years", "rate", "dividend_yield", "volatility"])


def np_greeks():
    sq = np.sqrt(T)
    sst = v * sq
    d1 = (np.log(S / K) + (r - q) * T) / sst + 0.5 * sst
    d2 = d1 - sst
    dq = np.exp(-q * T)
    dr = np.exp(-r * T)
    n1 = ndtr(w * d1)
    n2 = ndtr(w * d2)
    pdf = np.exp(-0.5 * d1 * d1) * 0.3989422804014327
    price = w * (S * dq * n1 - K * dr * n2)
    delta = w * dq * n1
    gamma = dq * pdf / (S * sst)
    vega = S * dq * pdf * sq
    theta = -S * dq * pdf * v / (2 * sq) - w * r * K * dr * n2 + w * q * S * dq * n1
    rho = w * K * T * dr * n2
    return price, delta, gamma, vega, theta, rho


if "greeks" in tasks:
    t = best_time(np_greeks)
    emit(peer="numpy+scipy", task="greeks", n=n, threads=1, seconds=t, per_sec=n / t,
         note="price+5 Greeks, vectorized (numpy is single-threaded)")
    try:
        import numba
        from numba import njit, prange
        from math import erfc, exp, log, sqrt

        @njit(parallel=True, fastmath=False, cache=False)
        def nb_greeks(w, S, K, T, r, q, v, out):
            for i in prange(S.shape[0]):
                sq = sqrt(T[i])
                sst = v[i] * sq
                d1 = (log(S[i] / K[i]) + (r[i] - q[i]) * T[i]) / sst + 0.5 * sst
                d2 = d1 - sst
                dq = exp(-q[i] * T[i])
                dr = exp(-r[i] * T[i])
                n1 = 0.5 * erfc(-w[i] * d1 * 0.7071067811865476)
                n2 = 0.5 * erfc(-w[i] * d2 * 0.7071067811865476)
                pdf = exp(-0.5 * d1 * d1) * 0.3989422804014327
                out[0, i] = w[i] * (S[i] * dq * n1 - K[i] * dr * n2)
                out[1, i] = w[i] * dq * n1
                out[2, i] = dq * pdf / (S[i] * sst)
                out[3, i] = S[i] * dq * pdf * sq
                out[4, i] = -S[i] * dq * pdf * v[i] / (2 * sq) - w[i] * r[i] * K[i] * dr * n2 + w[i] * q[i] * S[i] * dq * n1
                out[5, i] = w[i] * K[i] * T[i] * dr * n2

        out = np.empty((6, n))
        for nt in sorted({1, threads}):
            numba.set_num_threads(min(nt, numba.config.NUMBA_NUM_THREADS))
            nb_greeks(w, S, K, T, r, q, v, out)  # compile / warm up
            t = best_time(lambda: nb_greeks(w, S, K, T, r, q, v, out))
            emit(peer="numba", task="greeks", n=n, threads=nt, seconds=t, per_sec=n / t,
                 note="price+5 Greeks, @njit(parallel=True)")
    except Exception as e:  # noqa: BLE001
        emit(peer="numba", status="not installed", detail=str(e))

if "american" in tasks:
    try:
        import QuantLib as ql

        m = min(n, 2000)
        today = ql.Date(2, 1, 2025)
        ql.Settings.instance().evaluationDate = today
        dc = ql.Actual365Fixed()
        spot = ql.SimpleQuote(100.0)
        rq = ql.SimpleQuote(0.0)
        qq = ql.SimpleQuote(0.0)
        vq = ql.SimpleQuote(0.2)
        proc = ql.BlackScholesMertonProcess(
            ql.QuoteHandle(spot),
            ql.YieldTermStructureHandle(ql.FlatForward(today, ql.QuoteHandle(qq), dc)),
            ql.YieldTermStructureHandle(ql.FlatForward(today, ql.QuoteHandle(rq), dc)),
            ql.BlackVolTermStructureHandle(ql.BlackConstantVol(today, ql.NullCalendar(), ql.QuoteHandle(vq), dc)),
        )
        engine = ql.QdFpAmericanEngine(proc, ql.QdFpAmericanEngine.accurateScheme())
        opts = []
        for i in range(m):
            days = max(1, int(round(T[i] * 365)))
            payoff = ql.PlainVanillaPayoff(ql.Option.Call if w[i] > 0 else ql.Option.Put, float(K[i]))
            o = ql.VanillaOption(payoff, ql.AmericanExercise(today, today + days))
            o.setPricingEngine(engine)
            opts.append(o)

        def run():
            for i in range(m):
                spot.setValue(float(S[i]))
                rq.setValue(float(r[i]))
                qq.setValue(float(q[i]))
                vq.setValue(float(v[i]))
                opts[i].NPV()

        t = best_time(run, budget=2.0, min_reps=1)
        emit(peer="QuantLib QdFp accurate", task="american", n=m, threads=1, seconds=t, per_sec=m / t,
             note=f"QuantLib {ql.__version__}, Python loop over {m} options")
    except Exception as e:  # noqa: BLE001
        emit(peer="QuantLib QdFp accurate", status="not installed", detail=str(e))

if "torch" in tasks:
    # The GPU peer: PyTorch fp64 on the same device, op by op; end to end from the host
    # arrays (upload, compute, download) to match our GPU rows, and resident in the note.
    try:
        import math

        import torch

        if not torch.cuda.is_available():
            raise RuntimeError("torch has no CUDA device")
        dev = torch.device("cuda")
        host = [np.ascontiguousarray(a) for a in (w, S, K, T, r, q, v)]
        price_h = np.ascontiguousarray(cols["price"])

        def t_ncdf(x):
            return 0.5 * torch.special.erfc(-x / math.sqrt(2.0))

        def t_greeks(w, S, K, T, r, q, v):
            st = torch.sqrt(T)
            vs = v * st
            d1 = (torch.log(S / K) + (r - q) * T) / vs + 0.5 * vs
            d2 = d1 - vs
            dq = torch.exp(-q * T)
            dr = torch.exp(-r * T)
            n1 = t_ncdf(w * d1)
            n2 = t_ncdf(w * d2)
            pdf = torch.exp(-0.5 * d1 * d1) * 0.3989422804014327
            return (w * (S * dq * n1 - K * dr * n2), w * dq * n1, dq * pdf / (S * vs),
                    S * dq * pdf * st, -S * dq * pdf * v / (2 * st) - w * r * K * dr * n2 + w * q * S * dq * n1,
                    w * K * T * dr * n2)

        def t_iv(p, w, S, K, T, r, q, iters=40):
            lo = torch.full_like(p, 1e-4)
            hi = torch.full_like(p, 6.0)
            sig = torch.full_like(p, 0.3)
            st = torch.sqrt(T)
            for _ in range(iters):
                vs = sig * st
                d1 = (torch.log(S / K) + (r - q) * T) / vs + 0.5 * vs
                d2 = d1 - vs
                pr = w * (S * torch.exp(-q * T) * t_ncdf(w * d1) - K * torch.exp(-r * T) * t_ncdf(w * d2))
                vega = S * torch.exp(-q * T) * torch.exp(-0.5 * d1 * d1) * 0.3989422804014327 * st
                f = pr - p
                hi = torch.where(f > 0, sig, hi)
                lo = torch.where(f <= 0, sig, lo)
                nxt = sig - f / vega
                bad = ~torch.isfinite(nxt) | (nxt <= lo) | (nxt >= hi)
                sig = torch.where(bad, 0.5 * (lo + hi), nxt)
            return sig

        def sync_time(f, reps=3):
            best = float("inf")
            for _ in range(reps):
                torch.cuda.synchronize()
                t0 = time.perf_counter()
                f()
                torch.cuda.synchronize()
                best = min(best, time.perf_counter() - t0)
            return best

        def e2e_greeks():
            c = [torch.from_numpy(a).to(dev) for a in host]
            return [x.cpu().numpy() for x in t_greeks(*c)]

        def e2e_iv():
            c = [torch.from_numpy(a).to(dev) for a in host[:6]]
            return t_iv(torch.from_numpy(price_h).to(dev), *c).cpu().numpy()

        e2e_greeks()
        resident = [torch.from_numpy(a).to(dev) for a in host]
        t_res = sync_time(lambda: t_greeks(*resident))
        t = sync_time(e2e_greeks)
        name = f"torch {torch.__version__} fp64 {torch.cuda.get_device_name(0)}"
        emit(peer=name, task="greeks", n=n, threads=0, seconds=t, per_sec=n / t,
             note=f"price+5 Greeks op by op, end to end; resident {n / t_res / 1e6:.0f} M/s")
        p_res = torch.from_numpy(price_h).to(dev)
        t_res = sync_time(lambda: t_iv(p_res, *resident[:6]), reps=2)
        t = sync_time(e2e_iv, reps=2)
        emit(peer=name, task="iv", n=n, threads=0, seconds=t, per_sec=n / t,
             note=f"40 guarded Newton steps (not LBR-accurate), end to end; resident {n / t_res / 1e6:.0f} M/s")
    except Exception as e:  # noqa: BLE001
        emit(peer="torch (CUDA)", status="not available", detail=str(e))
