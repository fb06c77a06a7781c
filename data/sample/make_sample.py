#!/usr/bin/env python3
"""Builds data/sample/options.csv: the `wheelhouse price` sample input.

Underlying closes and 30-day realized volatilities are REAL (Quandl WIKI daily prices,
public domain, from ../shared/data/stocks_aapl_fb_goog_ibm_msft_daily_2000-2013_quandl_wiki.csv,
as of 2013-03-01). The option set itself (strikes, expiries, the volatility smile: realized
vol + a 3-point variance premium + a put skew) is SYNTHETIC, for demonstration only.
Deterministic: re-running it gives the same file. Standard library only.
"""
import csv
import math
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.join(HERE, "..", "..", "..", "shared", "data",
                   "stocks_aapl_fb_goog_ibm_msft_daily_2000-2013_quandl_wiki.csv")
if len(sys.argv) > 1:
    SRC = sys.argv[1]

closes = {}
with open(SRC, newline="") as f:
    for row in csv.DictReader(f):
        closes.setdefault(row["Ticker"], []).append((row["Date"], float(row["Close"])))

RATE = 0.0015  # 3-month T-bill yield in early March 2013, continuously compounded (approx.)
DIVS = {"AAPL": 0.024, "IBM": 0.018, "MSFT": 0.033, "GOOG": 0.0}
rows = []
for tic in ["AAPL", "IBM", "MSFT", "GOOG"]:
    series = sorted(closes[tic])
    date, spot = series[-1]
    rets = [math.log(series[i][1] / series[i - 1][1]) for i in range(len(series) - 30, len(series))]
    mean = sum(rets) / len(rets)
    rv = math.sqrt(sum((r - mean) ** 2 for r in rets) / (len(rets) - 1) * 252)
    step = 5.0 if spot > 100 else 1.0
    if spot > 400:
        step = 10.0
    atm = round(spot / step) * step
    for days in [7, 21, 49, 112, 322]:
        years = days / 365.0
        for k in range(-4, 5):
            strike = atm + k * step
            m = math.log(strike / spot) / math.sqrt(years)
            vol = rv + 0.03 - 0.10 * m + 0.15 * m * m
            vol = max(vol, 0.05)
            for typ in ["put", "call"]:
                style = "american"
                rows.append([tic, date, typ, style, f"{spot:.2f}", f"{strike:.2f}", f"{years:.10f}",
                             f"{RATE}", f"{DIVS[tic]}", f"{vol:.4f}"])

out = os.path.join(HERE, "options.csv")
with open(out, "w", newline="") as f:
    w = csv.writer(f)
    w.writerow(["underlying", "date", "type", "style", "spot", "strike", "years", "rate",
                "dividend_yield", "volatility"])
    w.writerows(rows)
print(f"wrote {len(rows)} rows to {out}")
