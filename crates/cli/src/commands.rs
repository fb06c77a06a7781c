//! `wheelhouse price` and `wheelhouse iv`.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::anyhow;
use clap::{Args, ValueEnum};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::json;
use wheelhouse_compute::{
    Backend, FirstOrderBatch, GreeksBatch, IvBatch, IvInput, OptionBatch, OptionBatchF32, Status,
};
use wheelhouse_pricing::american::{AmericanSettings, american_greeks};
use wheelhouse_pricing::black::bsm_greeks;
use wheelhouse_pricing::{BsmInputs, ExerciseStyle, OptionType, PricingError};

use crate::table::{Computed, Destination, InputTable, print_aligned};
use crate::{EXIT_OK, EXIT_ROW_ERRORS, EXIT_USAGE, Exit, Format};

/// Rows per progress step.
const BLOCK: usize = 1 << 18;

/// Accuracy setting of the American engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum AmericanMode {
    /// Faster, about 1e-4 × strike.
    Fast,
    /// Accurate to about 1e-6 × strike.
    #[default]
    Accurate,
}

/// The arithmetic of `price --input`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum Precision {
    /// Double precision (the default).
    #[default]
    F64,
    /// Single precision, European options only.
    F32,
}

/// Which Greeks `price --input` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum GreeksSet {
    /// Price and all eight Greeks.
    #[default]
    All,
    /// Price and the first-order Greeks (delta, vega, theta, rho): a cheaper kernel.
    First,
}

impl AmericanMode {
    fn settings(self) -> AmericanSettings {
        match self {
            AmericanMode::Fast => AmericanSettings::FAST,
            AmericanMode::Accurate => AmericanSettings::ACCURATE,
        }
    }
}

/// Option-type flag.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TypeArg {
    /// Call.
    Call,
    /// Put.
    Put,
}

/// Exercise-style flag.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum StyleArg {
    /// Exercise at expiry only.
    #[default]
    European,
    /// Exercise any time.
    American,
}

/// Flags shared by `price` and `iv`.
#[derive(Debug, Args)]
pub struct Common {
    /// Input file (.csv or .parquet); one row per option.
    #[arg(long, short = 'i')]
    input: Option<PathBuf>,
    /// Output file (.csv, .parquet or .jsonl, chosen by extension); default: standard output.
    #[arg(long, short = 'o', requires = "input")]
    output: Option<PathBuf>,
    /// Call or put (single option).
    #[arg(long = "type", value_enum, conflicts_with = "input")]
    kind: Option<TypeArg>,
    /// Spot price of the underlying (single option).
    #[arg(long, conflicts_with = "input", allow_negative_numbers = true)]
    spot: Option<f64>,
    /// Strike (single option).
    #[arg(long, conflicts_with = "input", allow_negative_numbers = true)]
    strike: Option<f64>,
    /// Time to expiry in years, ACT/365F (single option).
    #[arg(long, conflicts_with = "input", allow_negative_numbers = true)]
    years: Option<f64>,
    /// Risk-free rate, continuously compounded decimal (single option).
    #[arg(long, default_value_t = 0.0, allow_negative_numbers = true)]
    rate: f64,
    /// Continuous dividend yield, decimal (single option).
    #[arg(long, default_value_t = 0.0, allow_negative_numbers = true)]
    dividend_yield: f64,
    /// Exercise style (single option).
    #[arg(long, value_enum, default_value_t = StyleArg::European)]
    style: StyleArg,
    /// American engine accuracy.
    #[arg(long, value_enum, default_value_t = AmericanMode::Accurate)]
    american: AmericanMode,
}

/// `wheelhouse price`.
#[derive(Debug, Args)]
#[command(
    after_help = "File columns: type,spot,strike,years,rate,dividend_yield,volatility[,style]\n\
Output: the input columns, then price,delta,gamma,vega,theta,rho,vanna,volga,charm,error\n\
(with --greeks first: price,delta,vega,theta,rho,error).\n\
Examples:\n  wheelhouse price --type put --spot 100 --strike 95 --years 0.25 --rate 0.04 --volatility 0.3\n  \
wheelhouse price --input chain.csv --output greeks.parquet\n  \
wheelhouse price --input chain.csv --greeks first --output hedge.csv"
)]
pub struct PriceArgs {
    #[command(flatten)]
    common: Common,
    /// Which Greeks a file run writes: all eight, or the first-order ones (delta, vega, theta,
    /// rho), computed by a cheaper kernel with the same values.
    #[arg(long, value_enum, default_value_t = GreeksSet::All, requires = "input")]
    greeks: GreeksSet,
    /// Arithmetic of a file run: f64, or f32 (European rows only; single-precision columns,
    /// half the memory traffic: on a GPU the fp32 kernel, within 1e-3 of each value's scale;
    /// on the CPU the f64 values rounded to f32).
    #[arg(long, value_enum, default_value_t = Precision::F64, requires = "input")]
    precision: Precision,
    /// Volatility, annualised decimal (single option).
    #[arg(long, conflicts_with = "input", allow_negative_numbers = true)]
    volatility: Option<f64>,
}

/// `wheelhouse iv`.
#[derive(Debug, Args)]
#[command(
    after_help = "File columns: type,spot,strike,years,rate,dividend_yield,price[,style]\n\
Output: the input columns, then implied_volatility,error.\n\
Examples:\n  wheelhouse iv --type call --spot 100 --strike 110 --years 0.5 --rate 0.04 --price 4.2\n  \
wheelhouse iv --input quotes.parquet --output ivs.csv"
)]
pub struct IvArgs {
    #[command(flatten)]
    common: Common,
    /// Option price per share (single option).
    #[arg(long, conflicts_with = "input", allow_negative_numbers = true)]
    price: Option<f64>,
}

fn need(v: Option<f64>, flag: &str) -> Result<f64, Exit> {
    v.ok_or_else(|| Exit::usage(anyhow!("missing --{flag} (or give --input FILE)")))
}

fn kind_of(k: Option<TypeArg>) -> Result<OptionType, Exit> {
    match k {
        Some(TypeArg::Call) => Ok(OptionType::Call),
        Some(TypeArg::Put) => Ok(OptionType::Put),
        None => Err(Exit::usage(anyhow!(
            "missing --type call|put (or give --input FILE)"
        ))),
    }
}

fn style_of(s: StyleArg) -> ExerciseStyle {
    match s {
        StyleArg::European => ExerciseStyle::European,
        StyleArg::American => ExerciseStyle::American,
    }
}

fn backend(threads: Option<usize>, mode: AmericanMode) -> Result<Backend, Exit> {
    Ok(crate::backend(threads)?.with_american_settings(mode.settings()))
}

/// Single-option failure: invalid inputs are usage errors (2), others (no-arbitrage
/// violations, non-convergence) are computation failures (3).
fn single_failure(e: &PricingError) -> Exit {
    let code = if matches!(e, PricingError::InvalidInput { .. }) {
        EXIT_USAGE
    } else {
        EXIT_ROW_ERRORS
    };
    Exit {
        code,
        error: anyhow!("{e}"),
    }
}

/// The option type and style columns of a file, with per-row errors for unknown values.
struct KindStyle {
    kind: Vec<OptionType>,
    style: Vec<ExerciseStyle>,
    errors: Vec<Option<String>>,
}

fn kind_style(table: &InputTable) -> Result<KindStyle, Exit> {
    let types = table.str_column("type", true)?.unwrap_or_default();
    let styles = table.str_column("style", false)?;
    let n = table.rows();
    let mut ks = KindStyle {
        kind: Vec::with_capacity(n),
        style: Vec::with_capacity(n),
        errors: vec![None; n],
    };
    for i in 0..n {
        let kind = OptionType::parse(&types[i]);
        let style = match &styles {
            Some(s) if !s[i].trim().is_empty() => ExerciseStyle::parse(&s[i]),
            _ => Some(ExerciseStyle::European),
        };
        if kind.is_none() {
            ks.errors[i] = Some(format!(
                "invalid type {:?} (expected call or put)",
                types[i]
            ));
        } else if style.is_none() {
            let s = styles.as_ref().map_or("", |s| s[i].as_str());
            ks.errors[i] = Some(format!(
                "invalid style {s:?} (expected european or american)"
            ));
        }
        ks.kind.push(kind.unwrap_or(OptionType::Call));
        ks.style.push(style.unwrap_or(ExerciseStyle::European));
    }
    Ok(ks)
}

fn progress(rows: usize, what: &str) -> ProgressBar {
    let pb = ProgressBar::with_draw_target(Some(rows as u64), ProgressDrawTarget::stderr());
    if rows < 4 * BLOCK {
        pb.set_draw_target(ProgressDrawTarget::hidden());
    }
    pb.set_style(
        ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} rows ({per_sec}, eta {eta})")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    pb.set_message(what.to_string());
    pb
}

/// Merges per-row pre-validation errors and batch statuses into the `error` column; returns
/// it and the number of failed rows.
fn merge_errors(pre: Vec<Option<String>>, status: &[Status]) -> (Vec<Option<String>>, usize) {
    let mut failed = 0;
    let errors: Vec<Option<String>> = pre
        .into_iter()
        .zip(status)
        .map(|(p, s)| {
            let e = p.or_else(|| s.error().map(ToString::to_string));
            failed += usize::from(e.is_some());
            e
        })
        .collect();
    (errors, failed)
}

fn finish(rows: usize, failed: usize, started: Instant) -> u8 {
    tracing::info!(
        rows,
        failed,
        seconds = started.elapsed().as_secs_f64(),
        "done"
    );
    if failed > 0 {
        eprintln!("{failed} of {rows} rows failed; see the error column");
        EXIT_ROW_ERRORS
    } else {
        EXIT_OK
    }
}

/// `wheelhouse price`.
pub fn price(args: PriceArgs, format: Option<Format>, threads: Option<usize>) -> Result<u8, Exit> {
    let c = &args.common;
    let be = backend(threads, c.american)?;
    let Some(input) = &c.input else {
        return price_single(&args, format.unwrap_or(Format::Table));
    };
    let started = Instant::now();
    let table = InputTable::read(input)?;
    let ks = kind_style(&table)?;
    let mut spot = table.f64_column("spot", true)?.unwrap_or_default();
    let strike = table.f64_column("strike", true)?.unwrap_or_default();
    let years = table.f64_column("years", true)?.unwrap_or_default();
    let rate = table.f64_column("rate", true)?.unwrap_or_default();
    let dividend_yield = table
        .f64_column("dividend_yield", true)?
        .unwrap_or_default();
    let volatility = table.f64_column("volatility", true)?.unwrap_or_default();
    for (i, e) in ks.errors.iter().enumerate() {
        if e.is_some() {
            spot[i] = f64::NAN; // the row is reported with its own reason below
        }
    }
    let n = table.rows();
    let pb = progress(n, "pricing");
    let mut out = GreeksBatch::default();
    let mut first = FirstOrderBatch::default();
    let mut start = 0;
    while start < n {
        let end = (start + BLOCK).min(n);
        let r = start..end;
        let batch = OptionBatch {
            kind: &ks.kind[r.clone()],
            spot: &spot[r.clone()],
            strike: &strike[r.clone()],
            years: &years[r.clone()],
            rate: &rate[r.clone()],
            dividend_yield: &dividend_yield[r.clone()],
            volatility: &volatility[r.clone()],
            style: Some(&ks.style[r]),
        };
        if args.precision == Precision::F32 {
            if args.greeks != GreeksSet::All {
                return Err(Exit::usage(anyhow!(
                    "--precision f32 writes all the Greeks: drop --greeks"
                )));
            }
            if let Some(i) = batch
                .style
                .and_then(|st| st.iter().position(|s| *s != ExerciseStyle::European))
            {
                return Err(Exit::usage(anyhow!(
                    "--precision f32 prices European options only; {} is American",
                    table.locate(start + i)
                )));
            }
            append(&mut out, greeks_in_f32(&be, &batch)?);
            pb.set_position(end as u64);
            start = end;
            continue;
        }
        match args.greeks {
            GreeksSet::All => append(&mut out, be.greeks(&batch).map_err(anyhow::Error::from)?),
            GreeksSet::First => append_first(
                &mut first,
                be.first_order(&batch).map_err(anyhow::Error::from)?,
            ),
        }
        pb.set_position(end as u64);
        start = end;
    }
    pb.finish_and_clear();
    let status = match args.greeks {
        GreeksSet::All => &out.status,
        GreeksSet::First => &first.status,
    };
    let (errors, failed) = merge_errors(ks.errors, status);
    let columns: Vec<(&str, &[f64])> = match args.greeks {
        GreeksSet::All => vec![
            ("price", &out.price),
            ("delta", &out.delta),
            ("gamma", &out.gamma),
            ("vega", &out.vega),
            ("theta", &out.theta),
            ("rho", &out.rho),
            ("vanna", &out.vanna),
            ("volga", &out.volga),
            ("charm", &out.charm),
        ],
        GreeksSet::First => vec![
            ("price", &first.price),
            ("delta", &first.delta),
            ("vega", &first.vega),
            ("theta", &first.theta),
            ("rho", &first.rho),
        ],
    };
    let computed = Computed {
        columns,
        errors: &errors,
    };
    let dest = match &c.output {
        Some(p) => Destination::File(p),
        None => Destination::Stdout(format.unwrap_or(Format::Csv)),
    };
    crate::table::write(&table, &computed, dest)?;
    Ok(finish(n, failed, started))
}

/// Price + Greeks of `batch` in the fp32 mode, widened back (the values are the f32 ones).
fn greeks_in_f32(be: &Backend, batch: &OptionBatch<'_>) -> anyhow::Result<GreeksBatch> {
    let narrow = |c: &[f64]| c.iter().map(|x| *x as f32).collect::<Vec<f32>>();
    let cols = [
        narrow(batch.spot),
        narrow(batch.strike),
        narrow(batch.years),
        narrow(batch.rate),
        narrow(batch.dividend_yield),
        narrow(batch.volatility),
    ];
    let g = be.greeks_f32(&OptionBatchF32 {
        kind: batch.kind,
        spot: &cols[0],
        strike: &cols[1],
        years: &cols[2],
        rate: &cols[3],
        dividend_yield: &cols[4],
        volatility: &cols[5],
    })?;
    let wide = |c: &[f32]| c.iter().map(|x| f64::from(*x)).collect::<Vec<f64>>();
    let mut status = g.status;
    // A value that does not survive the narrowing (finite but beyond f32's range, or non-zero
    // but below its smallest number) is reported as such, not as the ±inf or 0 it became.
    let fields = [
        ("spot", batch.spot),
        ("strike", batch.strike),
        ("years", batch.years),
        ("rate", batch.rate),
        ("dividend_yield", batch.dividend_yield),
        ("volatility", batch.volatility),
    ];
    let mut lost = vec![false; status.len()];
    for (field, col) in fields {
        for (i, &x) in col.iter().enumerate() {
            let y = x as f32;
            if !lost[i] && x.is_finite() && (!y.is_finite() || (x != 0.0 && y == 0.0)) {
                lost[i] = true;
                status[i] = Status::failed(PricingError::InvalidInput {
                    field,
                    value: x,
                    reason: "outside the range of f32 (--precision f32)",
                });
            }
        }
    }
    let wide_kept = |c: &[f32]| {
        let mut v = wide(c);
        for (x, l) in v.iter_mut().zip(&lost) {
            if *l {
                *x = f64::NAN;
            }
        }
        v
    };
    Ok(GreeksBatch {
        price: wide_kept(&g.price),
        delta: wide_kept(&g.delta),
        gamma: wide_kept(&g.gamma),
        vega: wide_kept(&g.vega),
        theta: wide_kept(&g.theta),
        rho: wide_kept(&g.rho),
        vanna: wide_kept(&g.vanna),
        volga: wide_kept(&g.volga),
        charm: wide_kept(&g.charm),
        status,
    })
}

fn append(out: &mut GreeksBatch, part: GreeksBatch) {
    out.price.extend(part.price);
    out.delta.extend(part.delta);
    out.gamma.extend(part.gamma);
    out.vega.extend(part.vega);
    out.theta.extend(part.theta);
    out.rho.extend(part.rho);
    out.vanna.extend(part.vanna);
    out.volga.extend(part.volga);
    out.charm.extend(part.charm);
    out.status.extend(part.status);
}

fn append_first(out: &mut FirstOrderBatch, part: FirstOrderBatch) {
    out.price.extend(part.price);
    out.delta.extend(part.delta);
    out.vega.extend(part.vega);
    out.theta.extend(part.theta);
    out.rho.extend(part.rho);
    out.status.extend(part.status);
}

fn price_single(args: &PriceArgs, format: Format) -> Result<u8, Exit> {
    let c = &args.common;
    let kind = kind_of(c.kind)?;
    let spot = need(c.spot, "spot")?;
    let strike = need(c.strike, "strike")?;
    let years = need(c.years, "years")?;
    let vol = need(args.volatility, "volatility")?;
    let style = style_of(c.style);
    let inp = BsmInputs {
        kind,
        spot,
        strike,
        years,
        rate: c.rate,
        dividend_yield: c.dividend_yield,
        volatility: vol,
    };
    let g = match style {
        ExerciseStyle::European => bsm_greeks(&inp),
        ExerciseStyle::American => american_greeks(&inp, &c.american.settings()),
    }
    .map_err(|e| single_failure(&e))?;
    let inputs = [
        ("type", kind.as_str().to_string()),
        ("style", style.as_str().to_string()),
        ("spot", spot.to_string()),
        ("strike", strike.to_string()),
        ("years", years.to_string()),
        ("rate", c.rate.to_string()),
        ("dividend_yield", c.dividend_yield.to_string()),
        ("volatility", vol.to_string()),
    ];
    let values = [
        ("price", g.price, String::from("per share")),
        ("delta", g.delta, String::from("∂V/∂S")),
        (
            "gamma",
            g.gamma,
            format!("{:.6} delta per 1 % spot move", g.gamma * spot / 100.0),
        ),
        (
            "vega",
            g.vega,
            format!("{:.6} per vol point", g.vega / 100.0),
        ),
        (
            "theta",
            g.theta,
            format!("{:.6} per calendar day", g.theta / 365.0),
        ),
        (
            "rho",
            g.rho,
            format!("{:.6} per rate point (1 %)", g.rho / 100.0),
        ),
        (
            "epsilon",
            g.epsilon,
            format!("{:.6} per dividend-yield point (1 %)", g.epsilon / 100.0),
        ),
        (
            "vanna",
            g.vanna,
            format!("{:.6} delta per vol point", g.vanna / 100.0),
        ),
        (
            "volga",
            g.volga,
            format!("{:.6} vega per vol point", g.volga / 100.0),
        ),
        (
            "charm",
            g.charm,
            format!("{:.6} delta per calendar day", g.charm / 365.0),
        ),
        ("dual_delta", g.dual_delta, String::from("∂V/∂K")),
        (
            "prob_itm",
            g.prob_itm,
            format!("{:.4} % risk-neutral, at expiry", g.prob_itm * 100.0),
        ),
    ];
    emit_single(format, &inputs, &values)?;
    Ok(EXIT_OK)
}

fn emit_single(
    format: Format,
    inputs: &[(&str, String)],
    values: &[(&str, f64, String)],
) -> Result<(), Exit> {
    use std::io::Write;
    let mut w = std::io::stdout().lock();
    let res = match format {
        Format::Json => {
            let mut obj = serde_json::Map::new();
            for (k, v) in inputs {
                let val = v.parse::<f64>().map_or_else(|_| json!(v), |x| json!(x));
                obj.insert((*k).to_string(), val);
            }
            for (k, v, _) in values {
                obj.insert((*k).to_string(), json!(v));
            }
            writeln!(w, "{}", serde_json::Value::Object(obj))
        }
        Format::Csv => {
            let mut h: Vec<&str> = inputs.iter().map(|(k, _)| *k).collect();
            h.extend(values.iter().map(|(k, _, _)| *k));
            let mut r: Vec<String> = inputs.iter().map(|(_, v)| v.clone()).collect();
            r.extend(values.iter().map(|(_, v, _)| v.to_string()));
            writeln!(w, "{}\n{}", h.join(","), r.join(","))
        }
        Format::Table => {
            let summary: Vec<String> = inputs.iter().map(|(k, v)| format!("{k}={v}")).collect();
            writeln!(w, "{}", summary.join("  ")).ok();
            let header = vec!["quantity".to_string(), "value".into(), "human view".into()];
            let rows: Vec<Vec<String>> = values
                .iter()
                .map(|(k, v, h)| vec![(*k).to_string(), format!("{v:.10}"), h.clone()])
                .collect();
            return print_aligned(&mut w, &header, &rows);
        }
    };
    res.map_err(|e| Exit::from(anyhow::Error::from(e)))
}

/// `wheelhouse iv`.
pub fn iv(args: IvArgs, format: Option<Format>, threads: Option<usize>) -> Result<u8, Exit> {
    let c = &args.common;
    let be = backend(threads, c.american)?;
    let Some(input) = &c.input else {
        return iv_single(&args, format.unwrap_or(Format::Table), &be);
    };
    let started = Instant::now();
    let table = InputTable::read(input)?;
    let ks = kind_style(&table)?;
    let mut price = table.f64_column("price", true)?.unwrap_or_default();
    let spot = table.f64_column("spot", true)?.unwrap_or_default();
    let strike = table.f64_column("strike", true)?.unwrap_or_default();
    let years = table.f64_column("years", true)?.unwrap_or_default();
    let rate = table.f64_column("rate", true)?.unwrap_or_default();
    let dividend_yield = table
        .f64_column("dividend_yield", true)?
        .unwrap_or_default();
    for (i, e) in ks.errors.iter().enumerate() {
        if e.is_some() {
            price[i] = f64::NAN;
        }
    }
    let n = table.rows();
    let pb = progress(n, "implied volatility");
    let mut out = IvBatch::default();
    let mut start = 0;
    while start < n {
        let end = (start + BLOCK).min(n);
        let r = start..end;
        let part = be
            .implied_volatility(&IvInput {
                kind: &ks.kind[r.clone()],
                price: &price[r.clone()],
                spot: &spot[r.clone()],
                strike: &strike[r.clone()],
                years: &years[r.clone()],
                rate: &rate[r.clone()],
                dividend_yield: &dividend_yield[r.clone()],
                style: Some(&ks.style[r]),
            })
            .map_err(anyhow::Error::from)?;
        out.implied_volatility.extend(part.implied_volatility);
        out.status.extend(part.status);
        pb.set_position(end as u64);
        start = end;
    }
    pb.finish_and_clear();
    let (errors, failed) = merge_errors(ks.errors, &out.status);
    let computed = Computed {
        columns: vec![("implied_volatility", &out.implied_volatility)],
        errors: &errors,
    };
    let dest = match &c.output {
        Some(p) => Destination::File(p),
        None => Destination::Stdout(format.unwrap_or(Format::Csv)),
    };
    crate::table::write(&table, &computed, dest)?;
    Ok(finish(n, failed, started))
}

fn iv_single(args: &IvArgs, format: Format, be: &Backend) -> Result<u8, Exit> {
    let c = &args.common;
    let kind = kind_of(c.kind)?;
    let spot = need(c.spot, "spot")?;
    let strike = need(c.strike, "strike")?;
    let years = need(c.years, "years")?;
    let price = need(args.price, "price")?;
    let style = style_of(c.style);
    let out = be
        .implied_volatility(&IvInput {
            kind: &[kind],
            price: &[price],
            spot: &[spot],
            strike: &[strike],
            years: &[years],
            rate: &[c.rate],
            dividend_yield: &[c.dividend_yield],
            style: Some(&[style]),
        })
        .map_err(anyhow::Error::from)?;
    if let Status::Failed(e) = &out.status[0] {
        return Err(single_failure(e));
    }
    let v = out.implied_volatility[0];
    let inputs = [
        ("type", kind.as_str().to_string()),
        ("style", style.as_str().to_string()),
        ("spot", spot.to_string()),
        ("strike", strike.to_string()),
        ("years", years.to_string()),
        ("rate", c.rate.to_string()),
        ("dividend_yield", c.dividend_yield.to_string()),
        ("price", price.to_string()),
    ];
    let values = [("implied_volatility", v, format!("{:.4} %", v * 100.0))];
    emit_single(format, &inputs, &values)?;
    Ok(EXIT_OK)
}
