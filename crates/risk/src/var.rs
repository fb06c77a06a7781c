//! Value at risk and expected shortfall of a P&L sample, with batch-means standard errors.
//!
//! # Definitions
//! Losses `L = −P&L`, sorted ascending `L(1) ≤ … ≤ L(n)`; confidence `α` (e.g. 0.99);
//! `k = ⌈α·n⌉`.
//! - VaR = `L(k)`, the smallest loss that at least a fraction `α` of the sample does not exceed.
//! - Expected shortfall (CVaR), the Acerbi–Tasche estimator:
//!   `[Σ_{i>k} L(i) + (k − α·n)·L(k)] / (n·(1 − α))`, the mean of the worst `(1 − α)` share.
//!
//! Both are amounts of money with losses positive (a negative VaR means a gain at that
//! quantile). Standard errors by batch means: the sample is split into `B` = 20 consecutive
//! batches, each gives its own estimate, and SE = sd(estimates)/√B (needs at least
//! `20/(1 − α)` values).

use serde::Serialize;

use wheelhouse_compute::TailRow;

use crate::RiskError;

/// VaR and CVaR of a sample.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct TailRisk {
    /// Value at risk, money (loss positive).
    pub var: f64,
    /// Expected shortfall, money (loss positive).
    pub cvar: f64,
    /// Batch-means standard error of `var` (None for small samples).
    pub var_standard_error: Option<f64>,
    /// Batch-means standard error of `cvar`.
    pub cvar_standard_error: Option<f64>,
    /// Sample size.
    pub n: usize,
    /// Confidence.
    pub confidence: f64,
}

/// Batches of the standard-error estimate.
pub const BATCHES: usize = 20;

fn check(pnl: &[f64], confidence: f64) -> Result<(), RiskError> {
    if !(confidence > 0.0 && confidence < 1.0) {
        return Err(RiskError::Input(format!(
            "confidence {confidence} must be strictly between 0 and 1"
        )));
    }
    if pnl.is_empty() {
        return Err(RiskError::Input(
            "no P&L values (zero paths or an empty history)".into(),
        ));
    }
    if let Some(i) = pnl.iter().position(|x| !x.is_finite()) {
        return Err(RiskError::Input(format!("P&L value {i} is {}", pnl[i])));
    }
    Ok(())
}

/// (VaR, CVaR) of `pnl` at `confidence`, no standard errors.
///
/// # Errors
/// Empty sample, a non-finite value, confidence outside (0, 1).
pub fn var_cvar(pnl: &[f64], confidence: f64) -> Result<(f64, f64), RiskError> {
    check(pnl, confidence)?;
    let mut l: Vec<f64> = pnl.iter().map(|x| -x).collect();
    var_cvar_top(l.len(), &mut l, confidence)
}

/// (VaR, CVaR) of a sample of `n` losses given (at least) its `n − ⌈α·n⌉ + 1` largest in
/// `top`, in any order (any smaller ones with them are ignored): L(k) by selection, then only
/// the losses above it sorted, so the sum runs in ascending order exactly as over a fully
/// sorted sample — the same bits whether `top` is the whole sample or its tail.
fn var_cvar_top(n: usize, top: &mut [f64], confidence: f64) -> Result<(f64, f64), RiskError> {
    let an = confidence * n as f64;
    let k = (an.ceil() as usize).clamp(1, n);
    let need = n - k + 1;
    if top.len() < need || top.len() > n {
        return Err(RiskError::Input(format!(
            "a tail of {} losses cannot give VaR at {confidence} of {n} values (needs {need})",
            top.len()
        )));
    }
    let (_, &mut var, tail) = top.select_nth_unstable_by(top.len() - need, f64::total_cmp);
    sort_total(tail);
    let above: f64 = tail.iter().sum();
    Ok((var, cvar_of(n, confidence, var, above)))
}

/// CVaR of `n` losses at `confidence` from VaR `L(k)` and the sum of the losses above it
/// (added in ascending order).
fn cvar_of(n: usize, confidence: f64, var: f64, above: f64) -> f64 {
    let an = confidence * n as f64;
    let k = (an.ceil() as usize).clamp(1, n);
    if n as f64 - an > 0.0 {
        (above + (k as f64 - an) * var) / (n as f64 - an)
    } else {
        var
    }
}

/// Sorts `v` ascending in [`f64::total_cmp`] order — the very sequence `sort_unstable_by`
/// gives, since values that compare equal have the same bits — by a radix sort on the
/// order-preserving integer keys for long slices (a 1 % tail of 10⁶ values: about 10× faster).
fn sort_total(v: &mut [f64]) {
    if v.len() < 1024 {
        v.sort_unstable_by(f64::total_cmp);
        return;
    }
    const SIGN: u64 = 1 << 63;
    let mut a: Vec<u64> = v
        .iter()
        .map(|x| {
            let b = x.to_bits();
            if b & SIGN != 0 { !b } else { b | SIGN }
        })
        .collect();
    let mut b = vec![0u64; a.len()];
    for shift in (0..64).step_by(8) {
        let mut count = [0usize; 256];
        for k in &a {
            count[((k >> shift) & 0xff) as usize] += 1;
        }
        if count.contains(&a.len()) {
            continue; // every key has this byte: the pass would not move anything
        }
        let mut at = 0;
        for c in count.iter_mut() {
            let n = *c;
            *c = at;
            at += n;
        }
        for &k in &a {
            let d = ((k >> shift) & 0xff) as usize;
            b[count[d]] = k;
            count[d] += 1;
        }
        std::mem::swap(&mut a, &mut b);
    }
    for (x, k) in v.iter_mut().zip(&a) {
        *x = f64::from_bits(if k & SIGN != 0 { k & !SIGN } else { !k });
    }
}

/// VaR and CVaR with batch-means standard errors.
///
/// # Errors
/// As [`var_cvar`].
pub fn tail_risk(pnl: &[f64], confidence: f64) -> Result<TailRisk, RiskError> {
    let (var, cvar) = var_cvar(pnl, confidence)?;
    let n = pnl.len();
    let per = n / BATCHES;
    with_errors(var, cvar, n, confidence, |b| {
        var_cvar(&pnl[b * per..(b + 1) * per], confidence)
    })
}

/// [`tail_risk`] of a sample of `n` P&Ls of which only a tail is at hand (a device's Monte
/// Carlo reduction, [`wheelhouse_compute::McTail`]): `pnl[i]` is value `index[i]` of the
/// sample, and the values given must include, for the whole sample and for each of the
/// [`BATCHES`] batches of `n / BATCHES` consecutive values, at least its `m − ⌈α·m⌉ + 1`
/// largest losses. The result has the same bits as [`tail_risk`] over the whole sample.
///
/// # Errors
/// As [`var_cvar`]; indices out of range or repeated, columns of different lengths, or a tail
/// too short for the confidence.
pub fn tail_risk_from_top(
    n: usize,
    index: &[u64],
    pnl: &[f64],
    confidence: f64,
) -> Result<TailRisk, RiskError> {
    if index.len() != pnl.len() {
        return Err(RiskError::Input(format!(
            "{} tail indices for {} values",
            index.len(),
            pnl.len()
        )));
    }
    check(if n == 0 { &[] } else { pnl }, confidence)?;
    if pnl.is_empty() {
        return Err(RiskError::Input(format!("an empty tail of {n} values")));
    }
    let mut seen = vec![0u64; n.div_ceil(64)];
    for &i in index {
        if i >= n as u64 {
            return Err(RiskError::Input(format!(
                "tail index {i} outside a sample of {n}"
            )));
        }
        let (w, bit) = ((i / 64) as usize, 1u64 << (i % 64));
        if seen[w] & bit != 0 {
            return Err(RiskError::Input(format!("tail index {i} repeated")));
        }
        seen[w] |= bit;
    }
    let per = n / BATCHES;
    let mut by_batch: Vec<Vec<f64>> = vec![Vec::new(); BATCHES];
    for (&i, &p) in index.iter().zip(pnl) {
        if let Some(b) = (i as usize)
            .checked_div(per)
            .and_then(|b| by_batch.get_mut(b))
        {
            b.push(-p);
        }
    }
    // The run's figures and the batches' at once (the two sorts are most of the time).
    let (whole, batches) = rayon::join(
        || {
            let mut all: Vec<f64> = pnl.iter().map(|x| -x).collect();
            var_cvar_top(n, &mut all, confidence)
        },
        || {
            use rayon::prelude::*;
            if (per as f64) * (1.0 - confidence) < 1.0 {
                return Vec::new();
            }
            by_batch
                .par_iter_mut()
                .map(|b| var_cvar_top(per, b, confidence))
                .collect::<Vec<_>>()
        },
    );
    let (var, cvar) = whole?;
    with_errors(var, cvar, n, confidence, |b| batches[b].clone())
}

/// [`tail_risk`] of a sample of `n` P&Ls finished on a device
/// ([`wheelhouse_compute::McTail::rows`]): one [`TailRow`] for each of the [`BATCHES`] batches
/// of `n / BATCHES` consecutive values (none when that is zero), then one for the whole
/// sample. The result has the same bits as [`tail_risk`] over the whole sample when the rows
/// hold what [`TailRow`] says.
///
/// # Errors
/// Confidence outside (0, 1), an empty sample, the wrong number of rows, a non-finite row.
pub fn tail_risk_from_rows(
    n: usize,
    rows: &[TailRow],
    confidence: f64,
) -> Result<TailRisk, RiskError> {
    check(if n == 0 { &[] } else { &[0.0] }, confidence)?;
    let batches = if n / BATCHES > 0 { BATCHES } else { 0 };
    if rows.len() != batches + 1 {
        return Err(RiskError::Input(format!(
            "{} finished rows for a sample of {n} in {batches} batches (needs {})",
            rows.len(),
            batches + 1
        )));
    }
    if let Some(i) = rows
        .iter()
        .position(|r| !(r.var.is_finite() && r.above.is_finite()))
    {
        return Err(RiskError::Input(format!(
            "finished row {i} is not finite ({:?})",
            rows[i]
        )));
    }
    let whole = rows[batches];
    let per = n / BATCHES;
    with_errors(
        whole.var,
        cvar_of(n, confidence, whole.var, whole.above),
        n,
        confidence,
        |b| {
            Ok((
                rows[b].var,
                cvar_of(per, confidence, rows[b].var, rows[b].above),
            ))
        },
    )
}

/// The [`TailRisk`] of (VaR, CVaR) of `n` values with batch-means standard errors from the
/// estimates of batch `b` (0 … [`BATCHES`]) given by `batch`, when the batches are long
/// enough.
fn with_errors(
    var: f64,
    cvar: f64,
    n: usize,
    confidence: f64,
    mut batch: impl FnMut(usize) -> Result<(f64, f64), RiskError>,
) -> Result<TailRisk, RiskError> {
    let per = n / BATCHES;
    let (vse, cse) = if (per as f64) * (1.0 - confidence) >= 1.0 {
        let mut vs = Vec::with_capacity(BATCHES);
        let mut cs = Vec::with_capacity(BATCHES);
        for b in 0..BATCHES {
            let (v, c) = batch(b)?;
            vs.push(v);
            cs.push(c);
        }
        let se = |x: &[f64]| {
            let m = x.iter().sum::<f64>() / x.len() as f64;
            let v = x.iter().map(|y| (y - m) * (y - m)).sum::<f64>() / (x.len() - 1) as f64;
            (v / x.len() as f64).sqrt()
        };
        (Some(se(&vs)), Some(se(&cs)))
    } else {
        (None, None)
    };
    Ok(TailRisk {
        var,
        cvar,
        var_standard_error: vse,
        cvar_standard_error: cse,
        n,
        confidence,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hand_computed_example() {
        // Ten P&Ls; losses sorted: −5 −4 −3 −2 −1 0 1 2 10 20 (n = 10).
        let pnl = [5.0, 4.0, 3.0, 2.0, 1.0, 0.0, -1.0, -2.0, -10.0, -20.0];
        // α = 0.9: k = 9 → VaR = L(9) = 10; αn = 9 → CVaR = (20 + 0·10)/1 = 20.
        let (v, c) = var_cvar(&pnl, 0.9).unwrap();
        assert_eq!((v, c), (10.0, 20.0));
        // α = 0.85: αn = 8.5, k = 9 → VaR = 10; CVaR = (20 + 0.5·10)/1.5 = 16.666…
        let (v, c) = var_cvar(&pnl, 0.85).unwrap();
        assert_eq!(v, 10.0);
        assert!((c - 25.0 / 1.5).abs() < 1e-12);
        // α = 0.5: k = 5 → VaR = L(5) = −1 (a gain); CVaR = (0+1+2+10+20 + 0)/5 = 6.6.
        let (v, c) = var_cvar(&pnl, 0.5).unwrap();
        assert_eq!(v, -1.0);
        assert!((c - 6.6).abs() < 1e-12);
    }

    #[test]
    fn bad_input_is_an_error() {
        assert!(var_cvar(&[], 0.99).is_err());
        assert!(var_cvar(&[1.0, f64::NAN], 0.99).is_err());
        assert!(var_cvar(&[1.0], 1.0).is_err());
        assert!(var_cvar(&[1.0], f64::NAN).is_err());
        let t = tail_risk(&[1.0, 2.0, 3.0], 0.99).unwrap();
        assert!(t.var_standard_error.is_none());
    }

    /// Xorshift64 from `seed`: the tests' fixed-seed inputs.
    fn xorshift(mut state: u64) -> impl FnMut() -> u64 {
        move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        }
    }

    /// The tail reduction's contract: any upward-closed set holding each sample's and each
    /// batch's largest losses gives the full sample's bits, ties and all.
    #[test]
    fn a_tail_gives_the_same_bits_as_the_whole_sample() {
        let mut bits = xorshift(0x2545_f491_4f6c_dd1d);
        let mut next = || (bits() >> 11) as f64 / (1u64 << 53) as f64;
        for (n, conf) in [
            (10_000usize, 0.99),
            (4_321, 0.95),
            (2_000, 0.5),
            (997, 0.999),
        ] {
            // Rounded to cents so ties occur.
            let pnl: Vec<f64> = (0..n)
                .map(|_| ((next() - 0.55) * next().powi(3) * 1e5).round() / 100.0)
                .collect();
            let want = tail_risk(&pnl, conf).unwrap();
            // Keep every loss at least the lowest of the run's and each batch's VaR, less a
            // random margin (more paths than needed, as a histogram bin gives).
            let per = n / BATCHES;
            let mut cut = var_cvar(&pnl, conf).unwrap().0;
            if per > 0 {
                for b in 0..BATCHES {
                    cut = cut.min(var_cvar(&pnl[b * per..(b + 1) * per], conf).unwrap().0);
                }
            }
            cut -= next() * 50.0;
            let (index, kept): (Vec<u64>, Vec<f64>) = pnl
                .iter()
                .enumerate()
                .filter(|(_, p)| -**p >= cut)
                .map(|(i, p)| (i as u64, *p))
                .rev()
                .unzip();
            assert!(kept.len() < n, "n {n}: the test keeps a real tail");
            let got = tail_risk_from_top(n, &index, &kept, conf).unwrap();
            assert_eq!(format!("{got:?}"), format!("{want:?}"), "n {n} α {conf}");
            assert_eq!(got.var.to_bits(), want.var.to_bits());
            assert_eq!(got.cvar.to_bits(), want.cvar.to_bits());
            // Finished per sample as a device does (the kept losses sorted, VaR and the sum
            // above it in ascending order): the same bits.
            let row = |m: usize, in_row: &dyn Fn(u64) -> bool| {
                let mut l: Vec<f64> = index
                    .iter()
                    .zip(&kept)
                    .filter(|(i, _)| in_row(**i))
                    .map(|(_, p)| -p)
                    .collect();
                l.sort_by(f64::total_cmp);
                let k = ((conf * m as f64).ceil() as usize).clamp(1, m);
                let at = l.len() - (m - k + 1);
                TailRow {
                    var: l[at],
                    above: l[at + 1..].iter().sum(),
                }
            };
            let mut rows: Vec<TailRow> = if per > 0 {
                (0..BATCHES as u64)
                    .map(|b| row(per, &|i| i / per as u64 == b))
                    .collect()
            } else {
                Vec::new()
            };
            rows.push(row(n, &|_| true));
            let fin = tail_risk_from_rows(n, &rows, conf).unwrap();
            assert_eq!(format!("{fin:?}"), format!("{want:?}"), "n {n} α {conf}");
            assert_eq!(fin.cvar.to_bits(), want.cvar.to_bits());
            assert_eq!(
                fin.cvar_standard_error.map(f64::to_bits),
                want.cvar_standard_error.map(f64::to_bits)
            );
            // A row missing, or one the device could not finish: refused.
            assert!(tail_risk_from_rows(n, &rows[1..], conf).is_err());
            let mut nan = rows.clone();
            nan[0].above = f64::NAN;
            assert!(tail_risk_from_rows(n, &nan, conf).is_err());
            // One loss short of the need: refused, never a wrong figure.
            let k = ((conf * n as f64).ceil() as usize).clamp(1, n);
            let mut order: Vec<usize> = (0..n).collect();
            order.sort_by(|a, b| (-pnl[*a]).total_cmp(&-pnl[*b]));
            let short: Vec<usize> = order[k..].to_vec();
            let si: Vec<u64> = short.iter().map(|&i| i as u64).collect();
            let sp: Vec<f64> = short.iter().map(|&i| pnl[i]).collect();
            assert!(tail_risk_from_top(n, &si, &sp, conf).is_err());
        }
        // Bad tails.
        assert!(tail_risk_from_top(10, &[3, 3], &[1.0, 2.0], 0.9).is_err());
        assert!(tail_risk_from_top(10, &[11], &[1.0], 0.9).is_err());
        assert!(tail_risk_from_top(10, &[1], &[f64::NAN], 0.9).is_err());
        assert!(tail_risk_from_top(10, &[1, 2], &[1.0], 0.9).is_err());
        assert!(tail_risk_from_top(0, &[], &[], 0.9).is_err());
    }

    #[test]
    fn radix_sort_is_the_total_order() {
        let mut next = xorshift(0x9e37_79b9_7f4a_7c15);
        for n in [0usize, 1, 1023, 1024, 5_000, 40_000] {
            let v: Vec<f64> = (0..n)
                .map(|i| match next() % 9 {
                    0 => f64::from_bits(next()), // any bits: NaNs, subnormals, infinities
                    1 => -0.0,
                    2 => 0.0,
                    3 => f64::INFINITY,
                    4 => f64::NEG_INFINITY,
                    5 => ((next() % 200) as f64 - 100.0) * 0.25, // ties
                    _ => (next() as f64 / u64::MAX as f64 - 0.5) * 1e6 + i as f64 * 1e-9,
                })
                .collect();
            let mut want = v.clone();
            want.sort_unstable_by(f64::total_cmp);
            let mut got = v;
            sort_total(&mut got);
            assert!(
                got.iter()
                    .zip(&want)
                    .all(|(a, b)| a.to_bits() == b.to_bits()),
                "n = {n}"
            );
        }
    }
}
