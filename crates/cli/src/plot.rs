//! Plot of a surface (SVG or PNG by the file's extension): market mid IVs (dots, with bid/ask IV bars) against the fitted SVI
//! smiles, one colour per expiry, in log-forward moneyness.

use std::path::Path;

use wheelhouse_core::OptionType;
use wheelhouse_core::exchange_time::{format_new_york, new_york_date};
use wheelhouse_core::records::OptionQuote;
use wheelhouse_market::chain::ChainAnalytics;
use wheelhouse_plot::{Anchor, Chart, Color};

use crate::Exit;

/// Writes the plot (atomically: temp file + rename), SVG or PNG by the file's extension.
pub fn write_surface_plot(
    path: &Path,
    quotes: &[OptionQuote],
    a: &ChainAnalytics,
) -> Result<(), Exit> {
    let (w, h) = (1080.0, 640.0);
    let (ml, mr, mt, mb) = (70.0, 270.0, 40.0, 60.0);
    // Points: (expiry index, k, mid iv, bid iv, ask iv) for OTM quotes.
    let mut pts = Vec::new();
    for (q, qa) in quotes.iter().zip(&a.quotes) {
        let Some(ei) = a.expiries.iter().position(|e| e.expiration == q.expiration) else {
            continue;
        };
        let f = a.expiries[ei].forward;
        let otm = match q.option_type {
            OptionType::Put => q.strike < f,
            OptionType::Call => q.strike >= f,
        };
        if let (true, Ok(iv)) = (otm, qa.mid_iv) {
            pts.push((ei, (q.strike / f).ln(), iv, qa.bid_iv.ok(), qa.ask_iv.ok()));
        }
    }
    let kmin = pts
        .iter()
        .map(|p| p.1)
        .fold(f64::INFINITY, f64::min)
        .max(-1.5);
    let kmax = pts
        .iter()
        .map(|p| p.1)
        .fold(f64::NEG_INFINITY, f64::max)
        .min(1.5);
    let (kmin, kmax) = if kmin < kmax {
        (kmin, kmax)
    } else {
        (-0.5, 0.5)
    };
    let vmax = pts.iter().map(|p| p.2).fold(0.0f64, f64::max).min(3.0) * 1.15 + 0.01;
    let vmin = (pts.iter().map(|p| p.2).fold(f64::INFINITY, f64::min) * 0.85).max(0.0);
    let vmin = if vmin.is_finite() && vmin < vmax {
        vmin
    } else {
        0.0
    };
    let x = |k: f64| ml + (k - kmin) / (kmax - kmin) * (w - ml - mr);
    let y = |v: f64| mt + (1.0 - (v - vmin) / (vmax - vmin)) * (h - mt - mb);
    let mut ch = Chart::new(w, h);
    let grey = |v: u8| Color(v, v, v);
    ch.text(
        ml,
        24.0,
        &format!(
            "{} implied volatility, snapshot {} (dots: market mid, bars: bid-ask; lines: SVI fit)",
            a.underlying,
            format_new_york(a.quote_time)
        ),
        15.0,
        Anchor::Start,
        Color::BLACK,
    );
    // Axes and grid.
    for i in 0..=5 {
        let v = vmin + (vmax - vmin) * f64::from(i) / 5.0;
        let yy = y(v);
        ch.line(ml, yy, w - mr, yy, grey(0xdd), 1.0);
        let label = format!("{:.0}%", 100.0 * v);
        ch.text(ml - 6.0, yy + 4.0, &label, 12.0, Anchor::End, Color::BLACK);
    }
    for i in 0..=6 {
        let k = kmin + (kmax - kmin) * f64::from(i) / 6.0;
        let xx = x(k);
        ch.line(xx, mt, xx, h - mb, grey(0xee), 1.0);
        let label = format!("{k:.2}");
        ch.text(
            xx,
            h - mb + 18.0,
            &label,
            12.0,
            Anchor::Middle,
            Color::BLACK,
        );
    }
    ch.text(
        (ml + w - mr) / 2.0,
        h - 15.0,
        "log-forward moneyness k = ln(K/F)",
        12.0,
        Anchor::Middle,
        Color::BLACK,
    );
    ch.rect(ml, mt, w - ml - mr, h - mt - mb, None, Some(grey(0x33)));
    for (ei, e) in a.expiries.iter().enumerate() {
        let c = Color::category(ei);
        if let Ok(fit) = &e.svi {
            // The fitted smile, broken where it leaves the plotted range.
            let mut run: Vec<(f64, f64)> = Vec::new();
            for i in 0..=200 {
                let k = kmin + (kmax - kmin) * f64::from(i) / 200.0;
                let v = fit.params.implied_vol(k, e.years);
                if v.is_finite() && v >= vmin && v <= vmax {
                    run.push((x(k), y(v)));
                } else if !run.is_empty() {
                    ch.polyline(std::mem::take(&mut run), c, 1.5, 1.0);
                }
            }
            ch.polyline(run, c, 1.5, 1.0);
        }
        for p in pts.iter().filter(|p| p.0 == ei) {
            if p.1 < kmin || p.1 > kmax {
                continue;
            }
            if let (Some(b), Some(ak)) = (p.3, p.4) {
                let xx = x(p.1);
                ch.polyline(
                    vec![(xx, y(b.clamp(vmin, vmax))), (xx, y(ak.clamp(vmin, vmax)))],
                    c,
                    1.0,
                    0.4,
                );
            }
            ch.circle(x(p.1), y(p.2.clamp(vmin, vmax)), 2.5, c);
        }
        let ly = mt + 10.0 + 18.0 * ei as f64;
        let label = new_york_date(e.expiration).map_or_else(|_| "?".into(), |d| d.to_string());
        let fit = match &e.svi {
            Ok(f) => format!("rmse {:.2} vp", f.rmse_vol_points),
            Err(_) => "no fit".into(),
        };
        ch.rect(w - mr + 10.0, ly - 4.0, 12.0, 3.0, Some(c), None);
        let text = format!("{label} ({:.0}d, {fit})", e.years * 365.0);
        ch.text(w - mr + 26.0, ly, &text, 12.0, Anchor::Start, Color::BLACK);
    }
    ch.save(path).map_err(|e| match e {
        wheelhouse_plot::PlotError::UnsupportedFormat { .. } => Exit::usage(e.into()),
        e => Exit::from(anyhow::Error::from(e)),
    })
}
