//! Chain analytics on synthetic snapshots with known forward, yield and smile: the forward and
//! implied yield are recovered (parity for European, vol parity for American), mid IVs match
//! the generating volatilities, SVI fits reproduce the smile free of arbitrage, bad quotes get
//! typed statuses.

use wheelhouse_core::ExerciseStyle;
use wheelhouse_market::chain::{ChainSettings, ForwardMethod, IvIssue, analyze_chain};
use wheelhouse_pricing::american::AmericanSettings;
use wheelhouse_testkit::chains::{SnapshotSpec, smile_total_variance, synthetic_snapshot};

#[test]
fn european_snapshot_is_recovered() {
    let spec = SnapshotSpec::five_thousand(ExerciseStyle::European);
    let quotes = synthetic_snapshot(&spec);
    assert!(quotes.len() > 3500, "{}", quotes.len());
    let a = analyze_chain(&quotes, &[(1.0, spec.rate)], &ChainSettings::default()).unwrap();
    assert_eq!(a.expiries.len(), 12);
    let mut worst_iv = 0.0f64;
    for e in &a.expiries {
        assert!(
            matches!(e.forward_method, ForwardMethod::Parity(_)),
            "{:?}",
            e.forward_method
        );
        assert!(
            (e.dividend_yield - spec.dividend_yield).abs() < 1e-9,
            "q {}",
            e.dividend_yield
        );
        let f = spec.spot * ((spec.rate - spec.dividend_yield) * e.years).exp();
        assert!((e.forward / f - 1.0).abs() < 1e-10);
        let fit = e.svi.as_ref().expect("fit");
        assert!(fit.butterfly.arbitrage_free);
        assert!(
            fit.rmse_vol_points < 0.01,
            "rmse {} vp at {} d",
            fit.rmse_vol_points,
            e.years * 365.0
        );
    }
    for (q, qa) in quotes.iter().zip(&a.quotes) {
        let t = qa.years;
        let f = spec.spot * ((spec.rate - spec.dividend_yield) * t).exp();
        let truth = (smile_total_variance(t, (q.strike / f).ln()) / t).sqrt();
        // Out-of-the-money quotes: well conditioned (in the money, the time value is a small
        // difference of large numbers and the mid's rounding dominates).
        let otm = (q.option_type == wheelhouse_core::OptionType::Put) == (q.strike < f);
        if let (true, Ok(iv)) = (otm, qa.mid_iv) {
            worst_iv = worst_iv.max((iv - truth).abs());
        }
        assert!(q.bid > 0.0);
    }
    assert!(worst_iv < 1e-7, "worst mid IV error {worst_iv}");
    assert_eq!(a.calendar_violations, 0);
    let atm30 = a.summary.atm_vol_30d.unwrap();
    let truth30 = (smile_total_variance(30.0 / 365.0, 0.0) / (30.0 / 365.0)).sqrt();
    assert!((atm30 - truth30).abs() < 1e-4, "{atm30} vs {truth30}");
    assert!(
        a.summary.skew_25d_30d.unwrap() > 0.0,
        "equity skew: puts richer"
    );
}

#[test]
fn american_snapshot_yield_by_vol_parity() {
    let mut spec = SnapshotSpec::five_thousand(ExerciseStyle::American);
    spec.days = vec![30.0, 91.0, 182.0];
    spec.strikes_per_expiry = 41;
    let quotes = synthetic_snapshot(&spec);
    let settings = ChainSettings {
        american: AmericanSettings::ACCURATE,
        ..ChainSettings::default()
    };
    let a = analyze_chain(&quotes, &[(1.0, spec.rate)], &settings).unwrap();
    for e in &a.expiries {
        assert!(
            matches!(e.forward_method, ForwardMethod::VolParity(_)),
            "{:?}",
            e.forward_method
        );
        assert!(
            (e.dividend_yield - spec.dividend_yield).abs() < 2e-4,
            "q {} at {} d",
            e.dividend_yield,
            e.years * 365.0
        );
        assert!(e.svi.is_ok(), "{:?}", e.svi);
    }
    let mut worst = 0.0f64;
    for (q, qa) in quotes.iter().zip(&a.quotes) {
        let t = qa.years;
        let f = spec.spot * ((spec.rate - spec.dividend_yield) * t).exp();
        let truth = (smile_total_variance(t, (q.strike / f).ln()) / t).sqrt();
        // Out of the money (well-conditioned) quotes only: deep ITM American quotes have little
        // time value per unit of vol.
        let otm = (q.option_type == wheelhouse_core::OptionType::Put) == (q.strike < f);
        if let (true, Ok(iv)) = (otm, qa.mid_iv) {
            worst = worst.max((iv - truth).abs());
        }
    }
    assert!(worst < 2e-3, "worst OTM mid IV error {worst}");
    // Bid/ask IVs (started from the mid's solution) agree with a cold-started inversion and
    // are ordered.
    let mut checked = 0;
    for (q, qa) in quotes.iter().zip(&a.quotes) {
        let (Ok(b), Ok(m), Ok(k)) = (qa.bid_iv, qa.mid_iv, qa.ask_iv) else {
            continue;
        };
        assert!(b < m && m < k, "{b} {m} {k}");
        if checked < 40 {
            let e = a
                .expiries
                .iter()
                .find(|e| e.expiration == q.expiration)
                .unwrap();
            let cold = wheelhouse_pricing::american::american_implied_volatility(
                q.bid,
                q.underlying_price,
                q.strike,
                qa.years,
                e.rate,
                e.dividend_yield,
                q.option_type,
                &settings.american,
            )
            .unwrap();
            assert!((cold - b).abs() <= 1e-8 * cold.max(0.01), "{cold} vs {b}");
            checked += 1;
        }
    }
    assert_eq!(checked, 40);
}

#[test]
fn bad_quotes_get_typed_statuses() {
    let spec = SnapshotSpec {
        days: vec![30.0],
        strikes_per_expiry: 21,
        ..SnapshotSpec::five_thousand(ExerciseStyle::European)
    };
    let mut quotes = synthetic_snapshot(&spec);
    // A deep ITM call quoted below intrinsic, and an OTM put without a bid.
    let i = quotes
        .iter()
        .position(|q| q.option_type == wheelhouse_core::OptionType::Call && q.strike < 80.0)
        .unwrap();
    let intrinsic = quotes[i].underlying_price - quotes[i].strike;
    quotes[i].bid = intrinsic - 1.0;
    quotes[i].ask = intrinsic - 0.5;
    let j = quotes
        .iter()
        .position(|q| q.option_type == wheelhouse_core::OptionType::Put && q.strike < 90.0)
        .unwrap();
    quotes[j].bid = 0.0;
    let a = analyze_chain(&quotes, &[], &ChainSettings::default()).unwrap();
    assert_eq!(a.quotes[i].mid_iv, Err(IvIssue::BelowIntrinsic));
    assert!(a.quotes[i].greeks.is_none());
    assert_eq!(a.quotes[j].bid_iv, Err(IvIssue::NoPrice));
    assert!(a.quotes[j].mid_iv.is_ok());
    assert!(analyze_chain(&[], &[], &ChainSettings::default()).is_err());
}
