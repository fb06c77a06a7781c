//! `wheelhouse advise` and `wheelhouse portfolio`: the wheel advisor and the stored ledger.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, anyhow};
use clap::{Args, Subcommand, ValueEnum};
use wheelhouse_core::exchange_time::{close_instant, expiration_instant, new_york_instant};
use wheelhouse_core::{ExerciseStyle, Settlement, UnixNanos};
use wheelhouse_market::chain::ChainSettings;
use wheelhouse_market::history::iv_rank_percentile;
use wheelhouse_pricing::american::AmericanSettings;
use wheelhouse_store::Store;
use wheelhouse_store::portfolio::FillRow;
use wheelhouse_wheel::advisor::{Advice, Request, advise};
use wheelhouse_wheel::candidates::MarketView;
use wheelhouse_wheel::config::AdvisorConfig;
use wheelhouse_wheel::ledger::{
    AccountType, Fill, FillEvent, InstrumentKind, Ledger, Position, annualized_roc,
};

use crate::commands::AmericanMode;
use crate::data::{
    Settings, StoreFlags, chain_at, open, open_for_reading, parse_at, settings, store_exit,
};
use crate::output::{fixed, pct};
use crate::{EXIT_OK, Exit, Format};

const DAY: i64 = 86_400_000_000_000;

/// Applies `WHEELHOUSE_ADVISOR_<KEY>` and `WHEELHOUSE_ADVISOR_<SECTION>_<KEY>` environment
/// overrides (e.g. `WHEELHOUSE_ADVISOR_FILTERS_MIN_DTE=30`, `WHEELHOUSE_ADVISOR_EWMA_LAMBDA=0.97`)
/// to the config file's `[advisor]` section, then validates it.
pub fn advisor_with_env(cfg: AdvisorConfig) -> Result<AdvisorConfig, Exit> {
    let mut v = toml::Value::try_from(&cfg)
        .map_err(|e| Exit::from(anyhow!("cannot represent the advisor config: {e}")))?;
    let mut vars: Vec<(String, String)> = std::env::vars()
        .filter(|(k, _)| k.starts_with("WHEELHOUSE_ADVISOR_"))
        .collect();
    vars.sort();
    for (k, val) in vars {
        let rest = k["WHEELHOUSE_ADVISOR_".len()..].to_ascii_lowercase();
        let table = v.as_table_mut().expect("config is a table");
        let (section, key) = match ["filters", "weights", "limits", "management"]
            .iter()
            .find(|s| rest.starts_with(&format!("{s}_")))
        {
            Some(s) => (Some(*s), rest[s.len() + 1..].to_string()),
            None => (None, rest.clone()),
        };
        let target = match section {
            Some(s) => table
                .get_mut(s)
                .and_then(|t| t.as_table_mut())
                .expect("section exists"),
            None => table,
        };
        if !target.contains_key(&key) {
            return Err(Exit::usage(anyhow!(
                "{k}: no advisor setting {}{key}",
                section.map(|s| format!("{s}.")).unwrap_or_default()
            )));
        }
        let parsed: toml::Value = toml::from_str::<toml::Table>(&format!("x = {val}"))
            .ok()
            .and_then(|mut t| t.remove("x"))
            .unwrap_or(toml::Value::String(val.clone()));
        target.insert(key, parsed);
    }
    let out: AdvisorConfig = v
        .try_into()
        .map_err(|e| Exit::usage(anyhow!("advisor setting from the environment: {e}")))?;
    out.validate()
        .map_err(|e| Exit::usage(anyhow!("[advisor] {e}")))?;
    Ok(out)
}

/// Account type flag.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AccountArg {
    /// Cash account: puts cash-secured, calls covered.
    Cash,
    /// Reg-T margin account.
    Margin,
}

impl AccountArg {
    pub(crate) fn account(self) -> AccountType {
        match self {
            AccountArg::Cash => AccountType::Cash,
            AccountArg::Margin => AccountType::Margin,
        }
    }
}

/// `wheelhouse advise`.
#[derive(Debug, Args)]
pub struct AdviseArgs {
    /// Underlyings to consider for new trades (held underlyings are always managed).
    #[arg(required = true, value_name = "SYMBOL")]
    pub symbols: Vec<String>,
    /// Advice time: a date (end of that New York day) or RFC 3339 instant; default now. The
    /// latest snapshot at or before it is used, and must be fresh relative to it.
    #[arg(long, value_name = "DATE|TIME")]
    pub at: Option<String>,
    /// Portfolio file (CSV or JSON fills; see the README) instead of the stored portfolio.
    #[arg(long, value_name = "FILE", conflicts_with = "cash")]
    pub portfolio: Option<PathBuf>,
    /// A cash account of this size with no positions.
    #[arg(long, value_name = "AMOUNT")]
    pub cash: Option<f64>,
    /// Account type for --cash and --portfolio (the stored portfolio keeps its own).
    #[arg(long, value_enum, default_value = "cash")]
    pub account: AccountArg,
    /// American engine setting for the chain analytics.
    #[arg(long, value_enum, default_value = "fast")]
    pub american: AmericanMode,
    /// Recompute chain analytics even when cached.
    #[arg(long)]
    pub no_cache: bool,
}

/// Reads a portfolio file: CSV (or Parquet) with columns
/// `underlying,kind,quantity,strike,expiration,style,open_price,open_time` and optional
/// `event,fees,multiplier,link`, or JSON (an array of objects with the same keys).
/// Returns the fills and a locator per fill ("line N").
pub(crate) fn read_portfolio(path: &Path) -> Result<(Vec<Fill>, Vec<String>), Exit> {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    let rows: Vec<(String, BTreeMap<String, String>)> = if ext == "json" {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))
            .map_err(Exit::usage)?;
        let v: Vec<serde_json::Map<String, serde_json::Value>> = serde_json::from_str(&text)
            .map_err(|e| {
                Exit::usage(anyhow!(
                    "{}: not a JSON array of objects: {e}",
                    path.display()
                ))
            })?;
        v.into_iter()
            .enumerate()
            .map(|(i, o)| {
                let m = o
                    .into_iter()
                    .map(|(k, v)| {
                        let s = match v {
                            serde_json::Value::String(s) => s,
                            serde_json::Value::Null => String::new(),
                            other => other.to_string(),
                        };
                        (k, s)
                    })
                    .collect();
                (format!("element {}", i + 1), m)
            })
            .collect()
    } else {
        let t = crate::table::InputTable::read(path)?;
        let names = [
            "underlying",
            "kind",
            "quantity",
            "strike",
            "expiration",
            "style",
            "open_price",
            "open_time",
            "event",
            "fees",
            "multiplier",
            "link",
        ];
        let required = 8;
        let mut cols = Vec::new();
        for (i, n) in names.iter().enumerate() {
            cols.push((*n, t.str_column(n, i < required)?));
        }
        (0..t.rows())
            .map(|i| {
                let m = cols
                    .iter()
                    .filter_map(|(n, c)| c.as_ref().map(|c| (n.to_string(), c[i].clone())))
                    .collect();
                (t.locate(i), m)
            })
            .collect()
    };
    let mut fills = Vec::with_capacity(rows.len());
    let mut locs = Vec::with_capacity(rows.len());
    for (loc, m) in rows {
        let fill =
            parse_fill(&m).map_err(|e| Exit::usage(anyhow!("{}: {loc}: {e}", path.display())))?;
        fills.push(fill);
        locs.push(loc);
    }
    Ok((fills, locs))
}

fn tz() -> jiff::tz::TimeZone {
    jiff::tz::TimeZone::get(wheelhouse_core::exchange_time::NEW_YORK).expect("bundled tzdb")
}

/// A date (16:00 New York, the close) or an RFC 3339 instant.
fn parse_instant(
    s: &str,
    field: &str,
    settlement: Option<Settlement>,
) -> Result<UnixNanos, String> {
    match wheelhouse_store::timeparse::parse_time(s.trim(), &tz(), None) {
        Ok(wheelhouse_store::timeparse::TimeValue::Instant(ns)) => Ok(UnixNanos(ns)),
        Ok(wheelhouse_store::timeparse::TimeValue::Date(d)) => match settlement {
            Some(st) => expiration_instant(d, st),
            None => close_instant(d),
        }
        .map_err(|e| format!("column '{field}': {e}")),
        Err(e) => Err(format!("column '{field}': {s:?}: {e}")),
    }
}

fn parse_fill(m: &BTreeMap<String, String>) -> Result<Fill, String> {
    let get = |k: &str| m.get(k).map(|s| s.trim()).unwrap_or("");
    let num = |k: &str| -> Result<Option<f64>, String> {
        let s = get(k);
        if s.is_empty() {
            return Ok(None);
        }
        s.parse::<f64>()
            .map(Some)
            .map_err(|_| format!("column '{k}': cannot parse {s:?} as a number"))
    };
    let kind = InstrumentKind::parse(get("kind")).ok_or_else(|| {
        format!(
            "column 'kind': {:?} is not stock, call, put or cash",
            get("kind")
        )
    })?;
    let event = match get("event") {
        "" if kind == InstrumentKind::Cash => FillEvent::Deposit,
        e => FillEvent::parse(e).ok_or_else(|| {
            format!(
                "column 'event': {e:?} is not trade, assign, exercise, expire, dividend or deposit"
            )
        })?,
    };
    let quantity = num("quantity")?.ok_or("column 'quantity' is empty")?;
    let price = num("open_price")?.unwrap_or(0.0);
    let style = match get("style") {
        "" => ExerciseStyle::American,
        s => ExerciseStyle::parse(s)
            .ok_or_else(|| format!("column 'style': {s:?} is not american or european"))?,
    };
    let is_option = matches!(kind, InstrumentKind::Call | InstrumentKind::Put);
    let strike = num("strike")?;
    let expiration = match get("expiration") {
        "" => None,
        s => Some(parse_instant(s, "expiration", Some(Settlement::Pm))?),
    };
    if is_option && (strike.is_none() || expiration.is_none()) {
        return Err("options need 'strike' and 'expiration'".into());
    }
    let time = match get("open_time") {
        "" => return Err("column 'open_time' is empty".into()),
        s => parse_instant(s, "open_time", None)?,
    };
    let underlying = get("underlying").to_ascii_uppercase();
    Ok(Fill {
        time,
        underlying,
        kind,
        event,
        quantity,
        price,
        strike: if is_option { strike } else { None },
        expiration: if is_option { expiration } else { None },
        style,
        multiplier: num("multiplier")?.unwrap_or(if is_option { 100.0 } else { 1.0 }),
        fees: num("fees")?.unwrap_or(0.0),
        link: Some(get("link").to_string()).filter(|s| !s.is_empty()),
    })
}

fn to_row(f: &Fill, source: &str) -> FillRow {
    FillRow {
        seq: 0,
        time: f.time,
        underlying: f.underlying.clone(),
        kind: f.kind.as_str().into(),
        event: f.event.as_str().into(),
        quantity: f.quantity,
        price: f.price,
        strike: f.strike,
        expiration: f.expiration,
        style: f.style.as_str().into(),
        multiplier: f.multiplier,
        fees: f.fees,
        link: f.link.clone(),
        source: source.into(),
    }
}

fn from_row(r: &FillRow) -> Result<Fill, Exit> {
    let bad = |what: &str| Exit::from(anyhow!("stored fill {} has an invalid {what}", r.seq));
    Ok(Fill {
        time: r.time,
        underlying: r.underlying.clone(),
        kind: InstrumentKind::parse(&r.kind).ok_or_else(|| bad("kind"))?,
        event: FillEvent::parse(&r.event).ok_or_else(|| bad("event"))?,
        quantity: r.quantity,
        price: r.price,
        strike: r.strike,
        expiration: r.expiration,
        style: ExerciseStyle::parse(&r.style).ok_or_else(|| bad("style"))?,
        multiplier: r.multiplier,
        fees: r.fees,
        link: r.link.clone(),
    })
}

/// Locators of the first `n` stored fills, for messages.
pub(crate) fn stored_locs(n: usize) -> Vec<String> {
    (1..=n).map(|i| format!("stored fill {i}")).collect()
}

/// The stored portfolio replayed.
pub(crate) fn stored_ledger(store: &Store) -> Result<Ledger, Exit> {
    let (fills, account) = stored(store)?;
    replay(
        account,
        &fills,
        &stored_locs(fills.len()),
        "stored portfolio",
    )
}

/// `--at` parsed, or now.
pub(crate) fn at_or_now(at: Option<&str>) -> Result<UnixNanos, Exit> {
    at.map_or_else(|| Ok(now_ns()), parse_at)
}

pub(crate) fn stored(store: &Store) -> Result<(Vec<Fill>, AccountType), Exit> {
    let rows = store.portfolio_fills().map_err(store_exit)?;
    let fills = rows.iter().map(from_row).collect::<Result<Vec<_>, _>>()?;
    let account = store
        .account_type()
        .map_err(store_exit)?
        .and_then(|a| AccountType::parse(&a))
        .unwrap_or_default();
    Ok((fills, account))
}

pub(crate) fn replay(
    account: AccountType,
    fills: &[Fill],
    locs: &[String],
    what: &str,
) -> Result<Ledger, Exit> {
    Ledger::replay(account, fills).map_err(|e| match e {
        wheelhouse_wheel::WheelError::Fill { index, reason } => Exit::usage(anyhow!(
            "{what}: {}: {reason}",
            locs.get(index)
                .cloned()
                .unwrap_or_else(|| format!("fill {}", index + 1))
        )),
        other => Exit::usage(anyhow!("{what}: {other}")),
    })
}

/// Split-adjusted daily closes of `symbol` in the 400 days up to `to`.
pub(crate) fn adjusted_closes(
    store: &Store,
    symbol: &str,
    to: UnixNanos,
    days: i64,
) -> Result<Vec<(UnixNanos, f64)>, Exit> {
    let bars = store
        .daily_bars(symbol, Some(UnixNanos(to.0 - days * DAY)), Some(to))
        .map_err(store_exit)?;
    let splits = store.splits(symbol).map_err(store_exit)?;
    Ok(bars
        .iter()
        .map(|b| {
            let f: f64 = splits
                .iter()
                .filter(|s| s.ex_date.0 > b.ts.0 && s.ex_date.0 <= to.0)
                .map(|s| s.ratio)
                .product();
            (b.ts, b.close / f)
        })
        .collect())
}

/// The market view of `symbol` at `at` (None when the store has no chain for it).
pub(crate) fn market_view(
    store: &Store,
    s: &Settings,
    symbol: &str,
    at: UnixNanos,
    args: &AdviseArgs,
) -> Result<Option<MarketView>, Exit> {
    market_view_with(store, s, symbol, at, args.american, args.no_cache, 400)
}

/// The market view of `symbol` at `at` with explicit engine settings and `history_days`
/// calendar days of daily closes.
pub(crate) fn market_view_with(
    store: &Store,
    s: &Settings,
    symbol: &str,
    at: UnixNanos,
    american: AmericanMode,
    no_cache: bool,
    history_days: i64,
) -> Result<Option<MarketView>, Exit> {
    let qt = match store.snapshot_at(symbol, Some(at)) {
        Ok(t) => t,
        Err(
            wheelhouse_store::StoreError::NotFound(_)
            | wheelhouse_store::StoreError::UnknownSymbol { .. },
        ) => {
            return Ok(None);
        }
        Err(e) => return Err(store_exit(e)),
    };
    let (quotes, chain, _, _) = chain_at(store, s, symbol, qt, american, no_cache)?;
    let closes = adjusted_closes(store, symbol, qt, history_days)?;
    let ex_dividends = store
        .dividends(symbol)
        .map_err(store_exit)?
        .into_iter()
        .map(|d| (d.ex_date, d.amount))
        .collect();
    let cs = ChainSettings {
        default_rate: s.default_rate,
        american: match american {
            AmericanMode::Fast => AmericanSettings::FAST,
            AmericanMode::Accurate => AmericanSettings::ACCURATE,
        },
        ..ChainSettings::default()
    };
    let iv_rank = crate::data::atm_history(store, symbol, qt, &cs, no_cache)?.and_then(|(h, n)| {
        chain
            .summary
            .atm_vol_30d
            .and_then(|c| iv_rank_percentile(c, &h).map(|(r, p)| (r, p, n)))
    });
    let mut earnings = Vec::new();
    for d in s.advisor.earnings.get(symbol).into_iter().flatten() {
        let date = crate::data::parse_date(d, "[advisor.earnings]")?;
        // Inside an option's life unless it expires before that day's open.
        let t = new_york_instant(date.year(), date.month(), date.day(), 9, 30)
            .map_err(|e| Exit::usage(anyhow!("[advisor.earnings] {d}: {e}")))?;
        earnings.push(t);
    }
    Ok(Some(MarketView {
        symbol: symbol.to_string(),
        quotes,
        chain,
        closes,
        ex_dividends,
        earnings,
        iv_rank,
    }))
}

fn now_ns() -> UnixNanos {
    UnixNanos(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as i64),
    )
}

/// `wheelhouse advise`.
pub fn advise_cmd(
    args: AdviseArgs,
    flags: &StoreFlags,
    format: Option<Format>,
    threads: Option<usize>,
) -> Result<u8, Exit> {
    let started = Instant::now();
    // The backend first: `--device cuda` without a usable GPU exits 2 before any store work.
    let backend = crate::backend(threads)?;
    let s = settings(flags)?;
    let store = open_for_reading(&s)?;
    let now = at_or_now(args.at.as_deref())?;
    let ledger = match (&args.portfolio, args.cash) {
        (Some(p), _) => {
            let (fills, locs) = read_portfolio(p)?;
            replay(
                args.account.account(),
                &fills,
                &locs,
                &p.display().to_string(),
            )?
        }
        (None, Some(c)) => {
            if !(c.is_finite() && c > 0.0) {
                return Err(Exit::usage(anyhow!(
                    "--cash {c}: must be a positive amount"
                )));
            }
            Ledger::replay(args.account.account(), &[Fill::deposit(UnixNanos(0), c)])
                .map_err(|e| Exit::usage(anyhow!(e)))?
        }
        (None, None) => {
            let l = stored_ledger(&store)?;
            if l.fill_count() == 0 {
                return Err(Exit::usage(anyhow!(
                    "no portfolio: give --portfolio FILE or --cash AMOUNT, or store one with `wheelhouse portfolio import FILE`"
                )));
            }
            l
        }
    };
    let mut symbols: Vec<String> = args
        .symbols
        .iter()
        .map(|x| x.trim().to_ascii_uppercase())
        .collect();
    // Each symbol once, in the order given.
    let mut seen = std::collections::BTreeSet::new();
    symbols.retain(|x| seen.insert(x.clone()));
    let mut wanted = symbols.clone();
    for u in ledger.held_underlyings() {
        if !wanted.contains(&u) {
            wanted.push(u);
        }
    }
    let t_load = Instant::now();
    let mut markets = BTreeMap::new();
    for sym in &wanted {
        if let Some(v) = market_view(&store, &s, sym, now, &args)? {
            markets.insert(sym.clone(), v);
        }
    }
    let load_ms = t_load.elapsed().as_secs_f64() * 1e3;
    let advice = advise(&Request {
        now,
        ledger: &ledger,
        markets: &markets,
        symbols: &symbols,
        config: &s.advisor,
        backend: &backend,
    });
    let total_ms = started.elapsed().as_secs_f64() * 1e3;
    match format.unwrap_or(Format::Table) {
        Format::Json => {
            let mut v = serde_json::to_value(&advice).context("cannot encode advice")?;
            v["timings_ms"] = serde_json::json!({
                "load_market_data": load_ms,
                "advisor": advice.total_ms,
                "end_to_end": total_ms,
            });
            println!("{v}");
        }
        Format::Csv => print_csv(&advice)?,
        Format::Table => print_table(&advice, &ledger, load_ms, total_ms),
    }
    Ok(EXIT_OK)
}

fn print_csv(a: &Advice) -> Result<(), Exit> {
    let mut w = csv::Writer::from_writer(std::io::stdout().lock());
    w.write_record([
        "underlying",
        "action",
        "expiration",
        "strike",
        "type",
        "contracts",
        "bid",
        "ask",
        "expected_fill",
        "implied_volatility",
        "delta",
        "probability_itm",
        "annualized_yield",
        "confidence",
        "reasons",
    ])
    .context("cannot write output")?;
    let o = |x: Option<f64>| x.map(|v| v.to_string()).unwrap_or_default();
    for r in &a.recommendations {
        w.write_record([
            r.underlying.clone(),
            r.action.clone(),
            r.expiration.clone().unwrap_or_default(),
            o(r.strike),
            r.kind.map(|k| k.as_str().to_string()).unwrap_or_default(),
            r.contracts.map(|c| c.to_string()).unwrap_or_default(),
            o(r.bid),
            o(r.ask),
            o(r.expected_fill),
            o(r.implied_volatility),
            o(r.delta),
            o(r.probability_itm),
            o(r.annualized_yield),
            r.confidence.to_string(),
            r.reasons.join(" | "),
        ])
        .context("cannot write output")?;
    }
    w.flush().context("cannot write output")?;
    Ok(())
}

fn print_table(a: &Advice, ledger: &Ledger, load_ms: f64, total_ms: f64) {
    let acc = &a.account;
    println!(
        "advice at {}  ({} account: cash {:.2}, net liquidation {:.2}, buying power {:.2}, short-put notional {:.0}, delta ${:.0})",
        a.at,
        acc.account.as_str(),
        acc.cash,
        acc.net_liquidation,
        acc.buying_power,
        acc.short_put_notional,
        acc.delta_dollars
    );
    if !acc.unmarked.is_empty() {
        println!(
            "  warning: no market data for {}: marked at open price",
            acc.unmarked.join(", ")
        );
    }
    for u in &a.underlyings {
        println!();
        let r = &u.recommendation;
        println!(
            "== {}  state {}{}  spot {}  snapshot {}",
            u.underlying,
            u.state,
            u.adjusted_basis
                .map(|b| format!(" (adjusted basis {b:.2})"))
                .unwrap_or_default(),
            fixed(u.spot, 2),
            u.quote_time.clone().unwrap_or_else(|| "-".into())
        );
        let vr = &u.vol_regime;
        if vr.realized.is_some() || vr.atm_iv_30d.is_some() {
            println!(
                "   vol: 30d ATM IV {}  EWMA RV {}  20d RV {}  IV/RV {}  IV rank {}  IV percentile {} ({} snapshots)",
                pct(vr.atm_iv_30d, 1),
                pct(vr.realized.map(|r| r.ewma), 1),
                pct(vr.realized.map(|r| r.close_to_close_20d), 1),
                fixed(vr.iv_rv_ratio, 2),
                pct(vr.iv_rank, 0),
                pct(vr.iv_percentile, 0),
                vr.iv_history
            );
        }
        if r.action != "no_trade" || !r.reasons.is_empty() {
            match r.action.as_str() {
                "no_trade" => println!("   NO TRADE: {}", r.reasons.join("; ")),
                _ => {
                    println!(
                        "   {} {} x {} {} {}  bid {} ask {} fill {}  IV {}  delta {}  P(ITM) {}  yield {}/yr  confidence {}",
                        r.action.to_uppercase(),
                        r.contracts.unwrap_or(0),
                        r.expiration.clone().unwrap_or_default(),
                        fixed(r.strike, 2),
                        r.kind.map_or("", |k| k.as_str()),
                        fixed(r.bid, 2),
                        fixed(r.ask, 2),
                        fixed(r.expected_fill, 3),
                        pct(r.implied_volatility, 1),
                        fixed(r.delta, 3),
                        pct(r.probability_itm, 1),
                        pct(r.annualized_yield, 1),
                        fixed(Some(r.confidence), 2)
                    );
                    if let Some(c) = &r.detail {
                        println!(
                            "     premium {:.2}/contract on collateral {:.0}; breakeven {:.2}; P(touch) {}; E[P&L] {:.2} ± {:.2}; theta {:.2}/day; gamma {:.4}; liquidity {:.2}",
                            c.premium,
                            c.collateral,
                            c.breakeven,
                            pct(Some(c.probability_touch), 1),
                            c.expected_pnl,
                            c.pnl_sd,
                            c.theta_per_day,
                            c.gamma,
                            c.liquidity
                        );
                    }
                    for x in &r.reasons {
                        println!("     - {x}");
                    }
                    if let Some(sz) = &r.sizing {
                        for c in &sz.caps {
                            println!(
                                "     {} {:<19} {:>6}  {}",
                                if c.name == sz.binding { "*" } else { " " },
                                c.name,
                                if c.contracts == u32::MAX {
                                    "-".to_string()
                                } else {
                                    c.contracts.to_string()
                                },
                                c.detail
                            );
                        }
                    }
                }
            }
            for w in &r.warnings {
                println!("     warning: {w}");
            }
        }
        if !u.alternatives.is_empty() {
            println!("   alternatives:");
            for c in &u.alternatives {
                println!(
                    "     {} {:>8.2} {}  fill {:.3}  delta {:+.3}  P(ITM) {}  yield {}/yr  E[P&L] {:.2}  score {:.3}",
                    wheelhouse_wheel::date_of(c.expiration),
                    c.strike,
                    c.kind.as_str(),
                    c.expected_fill,
                    c.delta,
                    pct(Some(c.probability_itm), 1),
                    pct(Some(c.annualized_yield), 1),
                    c.expected_pnl,
                    c.score
                );
            }
        }
        for m in &u.actions {
            let p = &m.position;
            println!(
                "   held {} {} {} {}: {}  (close at {}, captured {}, {:.0} DTE, delta {})",
                p.quantity,
                p.expiration
                    .map(wheelhouse_wheel::date_of)
                    .unwrap_or_default(),
                fixed(p.strike, 2),
                p.kind.as_str(),
                m.action.as_str().to_uppercase(),
                fixed(m.close_price, 3),
                pct(m.profit_captured, 0),
                m.dte,
                fixed(m.delta, 3)
            );
            for x in &m.reasons {
                println!("     - {x}");
            }
        }
    }
    let _ = ledger;
    println!();
    let mut t: Vec<String> = a
        .timings
        .iter()
        .map(|t| {
            if t.underlying.is_empty() {
                format!("{} {:.2}", t.analysis, t.ms)
            } else {
                format!("{}:{} {:.2}", t.underlying, t.analysis, t.ms)
            }
        })
        .collect();
    t.sort();
    println!(
        "timings (ms): load market data {load_ms:.1}, advisor {:.2}, end to end {total_ms:.1}; {}",
        a.total_ms,
        t.join(", ")
    );
}

/// `wheelhouse portfolio`.
#[derive(Debug, Subcommand)]
pub enum PortfolioCmd {
    /// Append the fills of a CSV/JSON file to the stored portfolio (validated by replaying the
    /// whole ledger; all or nothing).
    Import(ImportArgs),
    /// Add one fill (a trade, assignment, expiry, dividend or cash deposit).
    Add(AddArgs),
    /// Close (buy back / sell) an open option or shares at a price.
    Close(CloseArgs),
    /// Record the assignment of a short option (partial with --contracts; early when before
    /// expiration).
    Assign(AssignArgs),
    /// Roll a held option: close it and open another, stored together as one linked
    /// transaction (all or nothing).
    Roll(RollArgs),
    /// Positions, wheel state, cost basis, cycles and P&L.
    Show(ShowArgs),
    /// Delete every stored fill.
    Clear(ClearArgs),
}

/// `portfolio import`.
#[derive(Debug, Args)]
pub struct ImportArgs {
    /// CSV, Parquet or JSON file of fills.
    pub file: PathBuf,
    /// Account type to store.
    #[arg(long, value_enum)]
    pub account: Option<AccountArg>,
}

/// An option or stock contract named by flags.
#[derive(Debug, Args, Clone)]
pub struct ContractFlags {
    /// Underlying symbol.
    #[arg(long)]
    pub underlying: String,
    /// stock, call or put.
    #[arg(long)]
    pub kind: String,
    /// Strike (options).
    #[arg(long)]
    pub strike: Option<f64>,
    /// Expiration date or instant (options).
    #[arg(long)]
    pub expiration: Option<String>,
    /// When (date = that day's close, or RFC 3339); default now.
    #[arg(long)]
    pub time: Option<String>,
}

/// `portfolio add`.
#[derive(Debug, Args)]
pub struct AddArgs {
    #[command(flatten)]
    pub contract: ContractFlags,
    /// Signed quantity: contracts, shares, or money for cash (negative = sell / withdraw).
    #[arg(long, allow_hyphen_values = true)]
    pub quantity: f64,
    /// Price per share.
    #[arg(long, default_value_t = 0.0)]
    pub price: f64,
    /// trade, assign, exercise, expire, dividend or deposit.
    #[arg(long, default_value = "trade")]
    pub event: String,
    /// Fees, money.
    #[arg(long, default_value_t = 0.0)]
    pub fees: f64,
    /// Roll link shared by a closing and an opening fill.
    #[arg(long)]
    pub link: Option<String>,
    /// Account type to store.
    #[arg(long, value_enum)]
    pub account: Option<AccountArg>,
}

/// `portfolio close`.
#[derive(Debug, Args)]
pub struct CloseArgs {
    #[command(flatten)]
    pub contract: ContractFlags,
    /// Price per share.
    #[arg(long)]
    pub price: f64,
    /// Contracts or shares to close (default: the whole position).
    #[arg(long)]
    pub quantity: Option<f64>,
    /// Fees, money.
    #[arg(long, default_value_t = 0.0)]
    pub fees: f64,
}

/// `portfolio assign`.
#[derive(Debug, Args)]
pub struct AssignArgs {
    #[command(flatten)]
    pub contract: ContractFlags,
    /// Contracts assigned (default: all).
    #[arg(long)]
    pub contracts: Option<f64>,
}

/// `portfolio roll`.
#[derive(Debug, Args)]
pub struct RollArgs {
    #[command(flatten)]
    pub contract: ContractFlags,
    /// Price per share to close the held option.
    #[arg(long)]
    pub close_price: f64,
    /// Strike of the new option.
    #[arg(long)]
    pub new_strike: f64,
    /// Expiration of the new option.
    #[arg(long)]
    pub new_expiration: String,
    /// Price per share of the new option.
    #[arg(long)]
    pub new_price: f64,
    /// Contracts to roll (default: the whole position).
    #[arg(long)]
    pub quantity: Option<f64>,
    /// Fees of each leg, money.
    #[arg(long, default_value_t = 0.0)]
    pub fees: f64,
}

/// `portfolio show`.
#[derive(Debug, Args)]
pub struct ShowArgs {
    /// Mark open positions with the latest snapshot at or before this time (default now).
    #[arg(long)]
    pub at: Option<String>,
}

/// `portfolio clear`.
#[derive(Debug, Args)]
pub struct ClearArgs {
    /// Confirm.
    #[arg(long)]
    pub yes: bool,
}

fn contract_fill(c: &ContractFlags) -> Result<Fill, Exit> {
    let mut m = BTreeMap::new();
    m.insert("underlying".to_string(), c.underlying.clone());
    m.insert("kind".to_string(), c.kind.clone());
    m.insert(
        "strike".to_string(),
        c.strike.map(|k| k.to_string()).unwrap_or_default(),
    );
    m.insert(
        "expiration".to_string(),
        c.expiration.clone().unwrap_or_default(),
    );
    let time = match &c.time {
        Some(t) => t.clone(),
        None => format!("{}", jiff::Timestamp::now()),
    };
    m.insert("open_time".to_string(), time);
    m.insert("quantity".to_string(), "0".to_string());
    if InstrumentKind::parse(&c.kind) == Some(InstrumentKind::Cash) {
        m.insert("event".to_string(), "deposit".to_string());
    }
    parse_fill(&m).map_err(|e| Exit::usage(anyhow!(e)))
}

fn append(
    store: &mut Store,
    new: Vec<Fill>,
    locs: Vec<String>,
    account: Option<AccountArg>,
    source: &str,
) -> Result<Ledger, Exit> {
    let (mut fills, stored_account) = stored(store)?;
    let n_stored = fills.len();
    let account_t = account.map_or(stored_account, AccountArg::account);
    fills.extend(new.iter().cloned());
    let mut all_locs = stored_locs(n_stored);
    all_locs.extend(locs);
    let ledger = replay(account_t, &fills, &all_locs, source)?;
    let rows: Vec<FillRow> = new.iter().map(|f| to_row(f, source)).collect();
    store
        .append_portfolio_fills(&rows, account.map(|a| a.account().as_str()))
        .map_err(store_exit)?;
    Ok(ledger)
}

/// `wheelhouse portfolio …`.
pub fn portfolio(
    cmd: PortfolioCmd,
    flags: &StoreFlags,
    format: Option<Format>,
) -> Result<u8, Exit> {
    let s = settings(flags)?;
    match cmd {
        PortfolioCmd::Import(a) => {
            let (fills, locs) = read_portfolio(&a.file)?;
            let mut store = open(&s)?;
            let n = fills.len();
            let l = append(
                &mut store,
                fills,
                locs,
                a.account,
                &a.file.display().to_string(),
            )?;
            eprintln!(
                "imported {n} fills; {} open positions, cash {:.2}",
                l.positions().len(),
                l.cash()
            );
            Ok(EXIT_OK)
        }
        PortfolioCmd::Add(a) => {
            let mut f = contract_fill(&a.contract)?;
            f.quantity = a.quantity;
            f.price = a.price;
            f.fees = a.fees;
            f.link = a.link.clone();
            f.event = FillEvent::parse(&a.event)
                .ok_or_else(|| Exit::usage(anyhow!("--event {:?}: not a known event", a.event)))?;
            let mut store = open(&s)?;
            append(
                &mut store,
                vec![f],
                vec!["the new fill".into()],
                a.account,
                "cli",
            )?;
            Ok(EXIT_OK)
        }
        PortfolioCmd::Close(a) => {
            let mut store = open(&s)?;
            let l = stored_ledger(&store)?;
            let mut f = contract_fill(&a.contract)?;
            let held = find_position(&l, &f)?;
            let q = a.quantity.unwrap_or(held.quantity.abs());
            f.quantity = -held.quantity.signum() * q.abs();
            f.price = a.price;
            f.fees = a.fees;
            append(
                &mut store,
                vec![f],
                vec!["the closing fill".into()],
                None,
                "cli",
            )?;
            Ok(EXIT_OK)
        }
        PortfolioCmd::Assign(a) => {
            let mut store = open(&s)?;
            let l = stored_ledger(&store)?;
            let mut f = contract_fill(&a.contract)?;
            let held = find_position(&l, &f)?;
            f.quantity = a.contracts.unwrap_or(held.quantity.abs());
            f.event = FillEvent::Assign;
            append(
                &mut store,
                vec![f],
                vec!["the assignment".into()],
                None,
                "cli",
            )?;
            Ok(EXIT_OK)
        }
        PortfolioCmd::Roll(a) => {
            let mut store = open(&s)?;
            let l = stored_ledger(&store)?;
            let mut close = contract_fill(&a.contract)?;
            if close.kind.option_type().is_none() {
                return Err(Exit::usage(anyhow!("portfolio roll applies to options")));
            }
            let held = find_position(&l, &close)?;
            let q = a.quantity.unwrap_or(held.quantity.abs()).abs();
            let link = format!("roll-{}-{}", close.underlying, close.time.0);
            close.quantity = -held.quantity.signum() * q;
            close.price = a.close_price;
            close.fees = a.fees;
            close.link = Some(link.clone());
            let mut open_leg = close.clone();
            open_leg.quantity = held.quantity.signum() * q;
            open_leg.price = a.new_price;
            open_leg.strike = Some(a.new_strike);
            open_leg.expiration = Some(
                parse_instant(&a.new_expiration, "new_expiration", Some(Settlement::Pm))
                    .map_err(|e| Exit::usage(anyhow!(e)))?,
            );
            append(
                &mut store,
                vec![close, open_leg],
                vec!["the closing leg".into(), "the opening leg".into()],
                None,
                "cli",
            )?;
            Ok(EXIT_OK)
        }
        PortfolioCmd::Show(a) => {
            let store = open_for_reading(&s)?;
            let at = at_or_now(a.at.as_deref())?;
            let l = stored_ledger(&store)?;
            show(&store, &l, at, format.unwrap_or(Format::Table))
        }
        PortfolioCmd::Clear(a) => {
            if !a.yes {
                return Err(Exit::usage(anyhow!(
                    "portfolio clear deletes every stored fill: add --yes"
                )));
            }
            let mut store = open(&s)?;
            let n = store.clear_portfolio().map_err(store_exit)?;
            eprintln!("deleted {n} fills");
            Ok(EXIT_OK)
        }
    }
}

fn find_position(l: &Ledger, f: &Fill) -> Result<Position, Exit> {
    l.positions()
        .into_iter()
        .find(|p| {
            p.underlying == f.underlying
                && p.kind == f.kind
                && p.strike == f.strike
                && p.expiration == f.expiration
        })
        .ok_or_else(|| {
            Exit::usage(anyhow!(
                "no open {} {}{} position",
                f.underlying,
                f.kind.as_str(),
                f.strike.map(|k| format!(" {k}")).unwrap_or_default()
            ))
        })
}

/// Mid of a held contract (or the spot for shares) from the latest snapshot at or before `at`.
fn mark(
    store: &Store,
    p: &Position,
    at: UnixNanos,
    cache: &mut BTreeMap<String, Option<Vec<wheelhouse_core::records::OptionQuote>>>,
) -> Option<f64> {
    let quotes = cache.entry(p.underlying.clone()).or_insert_with(|| {
        store
            .snapshot_at(&p.underlying, Some(at))
            .ok()
            .and_then(|qt| store.option_quotes(&p.underlying, qt, None).ok())
    });
    let q = quotes.as_ref()?;
    match p.option_type() {
        None => q.first().map(|x| x.underlying_price),
        Some(t) => q
            .iter()
            .find(|x| {
                x.option_type == t
                    && Some(x.strike) == p.strike
                    && Some(x.expiration) == p.expiration
            })
            .map(|x| 0.5 * (x.bid + x.ask)),
    }
}

fn show(store: &Store, l: &Ledger, at: UnixNanos, format: Format) -> Result<u8, Exit> {
    let positions = l.positions();
    let mut cache = BTreeMap::new();
    let marks: Vec<Option<f64>> = positions
        .iter()
        .map(|p| mark(store, p, at, &mut cache))
        .collect();
    let summaries: Vec<_> = l
        .underlyings()
        .iter()
        .filter_map(|u| l.summary(u, at))
        .collect();
    if format == Format::Json {
        let pos: Vec<serde_json::Value> = positions
            .iter()
            .zip(&marks)
            .map(|(p, m)| {
                let mut v = serde_json::to_value(p).unwrap_or_default();
                v["mark"] = serde_json::json!(m);
                v["unrealized_pnl"] =
                    serde_json::json!(m.map(|m| (m - p.open_price) * p.quantity * p.multiplier));
                v
            })
            .collect();
        let unds: Vec<serde_json::Value> = summaries
            .iter()
            .map(|s| {
                let mut v = serde_json::to_value(s).unwrap_or_default();
                let roc = |c: &wheelhouse_wheel::ledger::Cycle| {
                    annualized_roc(c.realized_pnl, c.capital_days)
                };
                v["closed_cycle_roc"] =
                    serde_json::json!(s.closed_cycles.iter().map(roc).collect::<Vec<_>>());
                v
            })
            .collect();
        println!(
            "{}",
            serde_json::json!({
                "account": l.account().as_str(),
                "cash": l.cash(),
                "positions": pos,
                "underlyings": unds,
            })
        );
        return Ok(EXIT_OK);
    }
    println!(
        "{} account, cash {:.2}, {} fills",
        l.account().as_str(),
        l.cash(),
        l.fill_count()
    );
    println!();
    println!(
        "{:<6} {:<5} {:>9} {:>10} {:>10} {:>10} {:>10} {:>12}",
        "under", "kind", "qty", "strike", "expiry", "open", "mark", "unrealized"
    );
    for (p, m) in positions.iter().zip(&marks) {
        println!(
            "{:<6} {:<5} {:>9} {:>10} {:>10} {:>10.3} {:>10} {:>12}",
            p.underlying,
            p.kind.as_str(),
            p.quantity,
            fixed(p.strike, 2),
            p.expiration
                .map(wheelhouse_wheel::date_of)
                .unwrap_or_else(|| "-".into()),
            p.open_price,
            fixed(*m, 3),
            fixed(m.map(|m| (m - p.open_price) * p.quantity * p.multiplier), 2)
        );
    }
    for s in &summaries {
        println!();
        println!(
            "{}: {}  shares {}  share basis {}  adjusted basis {}",
            s.underlying,
            s.state.as_str(),
            s.shares,
            fixed(s.share_basis, 2),
            fixed(s.adjusted_basis, 2)
        );
        if let Some(c) = &s.open_cycle {
            println!(
                "  open cycle since {}: cash flow {:.2}, net premium {:.2}, realized {:.2}, capital-days {:.0}, rolls {}, assignments {}",
                wheelhouse_wheel::date_of(c.start),
                c.cash_flow,
                c.net_premium,
                c.realized_pnl,
                c.capital_days,
                c.rolls.len(),
                c.assignments
            );
        }
        for c in &s.closed_cycles {
            println!(
                "  cycle {} → {}: P&L {:.2} over {:.0} days, annualized ROC {}, premium {:.2}, rolls {}, assignments {}",
                wheelhouse_wheel::date_of(c.start),
                c.end.map(wheelhouse_wheel::date_of).unwrap_or_default(),
                c.realized_pnl,
                c.days(at),
                pct(annualized_roc(c.realized_pnl, c.capital_days), 1),
                c.net_premium,
                c.rolls.len(),
                c.assignments
            );
        }
    }
    Ok(EXIT_OK)
}
