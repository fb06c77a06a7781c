//! Store commands: `init`, `import`, `export`, `chain`, `surface`, and the settings they share
//! (store location, DuckDB limits, market defaults) from flags, environment and config file.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, anyhow};
use clap::{Args, ValueEnum};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Deserialize;
use wheelhouse_core::UnixNanos;
use wheelhouse_core::exchange_time::{format_new_york, new_york_date};
use wheelhouse_market::chain::{
    ChainAnalytics, ChainSettings, ForwardMethod, IvIssue, analyze_chain,
};
use wheelhouse_market::history::iv_rank_percentile;
use wheelhouse_pricing::american::AmericanSettings;
use wheelhouse_store::export::ExportFilter;
use wheelhouse_store::presets::Preset;
use wheelhouse_store::{
    ImportOptions, ImportReport, Mapping, Store, StoreConfig, StoreError, Table,
};

use crate::output::{Rows, Val, fixed, pct};
use crate::{EXIT_OK, EXIT_ROW_ERRORS, Exit, Format};

/// Flags that choose and tune the store, shared by every store command.
#[derive(Debug, Args, Clone, Default)]
pub struct StoreFlags {
    /// Store file (default: $WHEELHOUSE_DB, the config file's [store] path, or
    /// ~/.local/share/wheelhouse/wheelhouse.duckdb).
    #[arg(long, global = true, value_name = "PATH")]
    pub db: Option<PathBuf>,
    /// Config file (default: $WHEELHOUSE_CONFIG or ~/.config/wheelhouse/config.toml if present).
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
}

/// The config file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigFile {
    #[serde(default)]
    store: StoreSection,
    #[serde(default)]
    market: MarketSection,
    #[serde(default)]
    advisor: wheelhouse_wheel::config::AdvisorConfig,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct StoreSection {
    path: Option<PathBuf>,
    memory_limit: Option<String>,
    threads: Option<usize>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct MarketSection {
    default_rate: Option<f64>,
}

/// Settings resolved from flags, environment and config file (in that order of precedence).
#[derive(Debug)]
pub struct Settings {
    /// Store path.
    pub db: PathBuf,
    /// Whether the path is the default one (no flag, env or config chose it).
    pub default_db: bool,
    /// DuckDB settings.
    pub store: StoreConfig,
    /// Rate used when no curve is stored.
    pub default_rate: f64,
    /// The `[advisor]` section with `WHEELHOUSE_ADVISOR_*` overrides applied.
    pub advisor: wheelhouse_wheel::config::AdvisorConfig,
}

/// Resolves the settings.
pub fn settings(flags: &StoreFlags) -> Result<Settings, Exit> {
    let cfg_path = flags
        .config
        .clone()
        .or_else(|| std::env::var_os("WHEELHOUSE_CONFIG").map(PathBuf::from))
        .or_else(|| {
            let base = std::env::var_os("XDG_CONFIG_HOME")
                .map(PathBuf::from)
                .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))?;
            let p = base.join("wheelhouse").join("config.toml");
            p.exists().then_some(p)
        });
    let cfg: ConfigFile = match &cfg_path {
        Some(p) => {
            let text = std::fs::read_to_string(p)
                .with_context(|| format!("cannot read config {}", p.display()))
                .map_err(Exit::usage)?;
            toml::from_str(&text)
                .with_context(|| format!("invalid config {}", p.display()))
                .map_err(Exit::usage)?
        }
        None => ConfigFile::default(),
    };
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    let (db, default_db) = match (&flags.db, env("WHEELHOUSE_DB"), &cfg.store.path) {
        (Some(p), _, _) => (p.clone(), false),
        (None, Some(p), _) => (PathBuf::from(p), false),
        (None, None, Some(p)) => (p.clone(), false),
        (None, None, None) => (wheelhouse_store::default_path(), true),
    };
    let threads = match env("WHEELHOUSE_DB_THREADS") {
        Some(t) => Some(
            t.parse::<usize>()
                .map_err(|_| Exit::usage(anyhow!("WHEELHOUSE_DB_THREADS={t:?} is not a number")))?,
        ),
        None => cfg.store.threads,
    };
    let default_rate = cfg.market.default_rate.unwrap_or(0.0);
    if !default_rate.is_finite() || default_rate.abs() > 1.0 {
        return Err(Exit::usage(anyhow!(
            "[market] default_rate = {default_rate} must be a decimal within [-1, 1]"
        )));
    }
    let advisor = crate::wheel::advisor_with_env(cfg.advisor)?;
    Ok(Settings {
        advisor,
        db,
        default_db,
        store: StoreConfig {
            memory_limit: env("WHEELHOUSE_DB_MEMORY_LIMIT").or(cfg.store.memory_limit),
            threads,
            read_only: false,
        },
        default_rate,
    })
}

pub(crate) fn store_exit(e: StoreError) -> Exit {
    match e {
        StoreError::MalformedFile { .. }
        | StoreError::Mapping { .. }
        | StoreError::InvalidConfig { .. }
        | StoreError::UnknownSymbol { .. }
        | StoreError::NotFound(_)
        | StoreError::TooLarge(_) => Exit::usage(e.into()),
        other => Exit::from(anyhow::Error::from(other)),
    }
}

/// A store result with its exit code.
fn b<T>(r: Result<T, StoreError>) -> Result<T, Exit> {
    r.map_err(store_exit)
}

pub(crate) fn open(s: &Settings) -> Result<Store, Exit> {
    // Unconfigured DuckDB memory and threads come from the hardware runtime (a share of the
    // memory budget, the I/O pool's size); the store is then accounted in the budget.
    let rt = crate::runtime::get();
    let mut cfg = s.store.clone();
    if cfg.memory_limit.is_none() {
        cfg.memory_limit = Some(rt.default_store_memory());
    }
    if cfg.threads.is_none() {
        cfg.threads = Some(rt.default_store_threads());
    }
    let store = Store::open(&s.db, &cfg)
        .with_context(|| format!("cannot open store {}", s.db.display()))
        .map_err(Exit::from)?;
    rt.attach_store(&store);
    Ok(store)
}

/// Opens the store; the default store, when empty, first gets the bundled sample.
pub(crate) fn open_for_reading(s: &Settings) -> Result<Store, Exit> {
    let mut store = open(s)?;
    if s.default_db && store.symbols().map_err(store_exit)?.is_empty() {
        eprintln!(
            "note: the default store {} is empty; loading the bundled sample (real daily history, \
             SYNTHETIC option chains) first",
            s.db.display()
        );
        load_sample(&mut store, &SampleRange::default())?;
    }
    Ok(store)
}

fn bar(total: u64, what: &str, unit: &str) -> ProgressBar {
    let pb = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
    pb.set_style(
        ProgressStyle::with_template(&format!(
            "{{msg}} [{{bar:40}}] {{pos}}/{{len}} {unit} (eta {{eta}})"
        ))
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    pb.set_message(what.to_string());
    pb
}

/// A progress callback that shows a bar only once the work has run for a second.
pub(crate) fn progress_after_1s(
    what: &str,
    unit: &'static str,
) -> (impl FnMut(u64, u64), ProgressBar) {
    let started = Instant::now();
    let pb = bar(0, what, unit);
    pb.set_draw_target(ProgressDrawTarget::hidden());
    let pb2 = pb.clone();
    let mut shown = false;
    (
        move |done: u64, total: u64| {
            if !shown && started.elapsed().as_secs_f64() > 1.0 {
                pb2.set_draw_target(ProgressDrawTarget::stderr());
                shown = true;
            }
            pb2.set_length(total);
            pb2.set_position(done);
        },
        pb,
    )
}

// ---------------------------------------------------------------------------------------------
// init and the sample

/// `wheelhouse init`.
#[derive(Debug, Args)]
pub struct InitArgs {
    /// Load the bundled sample: real daily history of AAPL, IBM, MSFT, GOOG (2000–2013) and
    /// SYNTHETIC option chains generated from it.
    #[arg(long)]
    pub sample: bool,
    /// First day of sample chains (YYYY-MM-DD).
    #[arg(long, value_name = "DATE", requires = "sample")]
    pub from: Option<String>,
    /// Last day of sample chains (YYYY-MM-DD).
    #[arg(long, value_name = "DATE", requires = "sample")]
    pub to: Option<String>,
}

/// Date range of generated sample chains.
#[derive(Debug, Default, Clone)]
pub struct SampleRange {
    from: Option<jiff::civil::Date>,
    to: Option<jiff::civil::Date>,
}

pub(crate) fn parse_date(s: &str, flag: &str) -> Result<jiff::civil::Date, Exit> {
    s.parse::<jiff::civil::Date>()
        .map_err(|e| Exit::usage(anyhow!("{flag} {s:?}: expected YYYY-MM-DD ({e})")))
}

/// `wheelhouse init`.
pub fn init(args: InitArgs, flags: &StoreFlags, format: Option<Format>) -> Result<u8, Exit> {
    let s = settings(flags)?;
    let mut store = open(&s)?;
    let mut reports = Vec::new();
    if args.sample {
        let range = SampleRange {
            from: args
                .from
                .as_deref()
                .map(|d| parse_date(d, "--from"))
                .transpose()?,
            to: args
                .to
                .as_deref()
                .map(|d| parse_date(d, "--to"))
                .transpose()?,
        };
        reports = load_sample(&mut store, &range)?;
    }
    eprintln!(
        "store {} ready (schema v{})",
        s.db.display(),
        store.schema_version().map_err(store_exit)?
    );
    let rows = import_rows(&reports);
    if !reports.is_empty() {
        rows.emit(format.unwrap_or(Format::Table))?;
    }
    Ok(EXIT_OK)
}

/// Loads the bundled sample into `store` (idempotent: a second load inserts nothing).
pub fn load_sample(store: &mut Store, range: &SampleRange) -> Result<Vec<ImportReport>, Exit> {
    use wheelhouse_sample as sample;
    use wheelhouse_store::records::{
        bars_batch, dividends_batch, quotes_batch, rates_batch, splits_batch,
    };
    let started = Instant::now();
    let hist = sample::embedded_history();
    let rates = sample::sample_rates(&hist);
    let mut cfg = sample::ChainConfig::default();
    if let Some(f) = range.from {
        cfg.from = f;
    }
    if let Some(t) = range.to {
        cfg.to = t;
    }
    if cfg.from > cfg.to {
        return Err(Exit::usage(anyhow!(
            "--from {} is after --to {}",
            cfg.from,
            cfg.to
        )));
    }
    let quotes = sample::generate_chains(&hist, &rates, &cfg).map_err(|e| anyhow!(e))?;
    tracing::info!(
        quotes = quotes.len(),
        seconds = started.elapsed().as_secs_f64(),
        "generated sample chains"
    );
    let opts = ImportOptions {
        mapping: None,
        source_label: Some(sample::SOURCE_LABEL),
    };
    let hist_label = ImportOptions {
        mapping: None,
        source_label: Some("wheelhouse-sample: Quandl WIKI daily history (real, public domain)"),
    };
    let rate_label = ImportOptions {
        mapping: None,
        source_label: Some("wheelhouse-sample: SYNTHETIC rate path"),
    };
    let mut reports = Vec::new();
    let mut nop = |_: u64, _: u64| {};
    for (table, name, batch, label) in [
        (
            Table::Bars,
            "sample bars",
            bars_batch(&hist.bars),
            &hist_label,
        ),
        (
            Table::Splits,
            "sample splits",
            splits_batch(&hist.splits),
            &hist_label,
        ),
        (
            Table::Dividends,
            "sample dividends",
            dividends_batch(&hist.dividends),
            &hist_label,
        ),
        (
            Table::Rates,
            "sample rates",
            rates_batch(&rates),
            &rate_label,
        ),
    ] {
        reports.push(b(store.import_batches(
            table,
            name,
            vec![b(batch)?],
            label,
            &mut nop,
        ))?);
    }
    let batches = quotes
        .chunks(64 * 1024)
        .map(|c| b(quotes_batch(c)))
        .collect::<Result<Vec<_>, _>>()?;
    let (mut cb, pb) = progress_after_1s("loading sample chains", "rows");
    reports.push(b(store.import_batches(
        Table::Quotes,
        "sample chains (synthetic)",
        batches,
        &opts,
        &mut cb,
    ))?);
    pb.finish_and_clear();
    for r in &reports {
        if r.rejected > 0 {
            return Err(Exit::from(anyhow!(
                "internal error: the bundled sample had {} rejected {} rows (first: {:?})",
                r.rejected,
                r.table.spec().db_table,
                r.rejections.first().map(|x| &x.reason)
            )));
        }
    }
    tracing::info!(seconds = started.elapsed().as_secs_f64(), "sample loaded");
    Ok(reports)
}

// ---------------------------------------------------------------------------------------------
// import / export

/// Table argument.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TableArg {
    /// Option quotes.
    Quotes,
    /// Underlying OHLCV bars (daily or intraday).
    Bars,
    /// Underlying trade prints.
    Trades,
    /// Underlying NBBO quotes.
    Nbbo,
    /// Risk-free zero rates.
    Rates,
    /// Cash dividends.
    Dividends,
    /// Stock splits.
    Splits,
}

impl TableArg {
    fn table(self) -> Table {
        match self {
            TableArg::Quotes => Table::Quotes,
            TableArg::Bars => Table::Bars,
            TableArg::Trades => Table::Trades,
            TableArg::Nbbo => Table::Nbbo,
            TableArg::Rates => Table::Rates,
            TableArg::Dividends => Table::Dividends,
            TableArg::Splits => Table::Splits,
        }
    }
}

/// Vendor preset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PresetArg {
    /// Cboe DataShop Option EOD Summary CSV (quotes).
    Cboe,
    /// Databento DBN file (.dbn or .dbn.zst): OHLCV → bars, trades, top of book → nbbo, OPRA
    /// top of book → quotes.
    Dbn,
}

/// `wheelhouse import`.
#[derive(Debug, Args)]
pub struct ImportArgs {
    /// What the file holds.
    #[arg(value_enum)]
    pub table: TableArg,
    /// Input file: .csv or .parquet (canonical layout unless --preset or --map).
    pub file: PathBuf,
    /// A built-in vendor layout.
    #[arg(long, value_enum, conflicts_with = "map")]
    pub preset: Option<PresetArg>,
    /// A column-mapping file (TOML) for any other layout.
    #[arg(long, value_name = "FILE")]
    pub map: Option<PathBuf>,
    /// Write every rejected row (file, line, field, value, reason, raw record) to this CSV.
    #[arg(long, value_name = "FILE")]
    pub rejects: Option<PathBuf>,
    /// DBN `definition` file giving the option contracts of a DBN quotes file (optional when
    /// the file's symbology holds OSI symbols).
    #[arg(long, value_name = "FILE")]
    pub definitions: Option<PathBuf>,
}

/// `wheelhouse import`.
pub fn import(args: ImportArgs, flags: &StoreFlags, format: Option<Format>) -> Result<u8, Exit> {
    let s = settings(flags)?;
    let table = args.table.table();
    let name = args.file.to_string_lossy().to_ascii_lowercase();
    let is_dbn =
        args.preset == Some(PresetArg::Dbn) || name.ends_with(".dbn") || name.ends_with(".dbn.zst");
    let mapping = match (&args.preset, &args.map) {
        (Some(PresetArg::Dbn), _) => None,
        (Some(PresetArg::Cboe), _) => Some(Preset::Cboe.mapping(table).map_err(store_exit)?),
        (None, Some(m)) => Some(Mapping::from_file(m, table).map_err(store_exit)?),
        (None, None) => None,
    };
    if !args.file.exists() {
        return Err(Exit::usage(anyhow!(
            "{}: no such file",
            args.file.display()
        )));
    }
    let mut store = open(&s)?;
    let opts = ImportOptions {
        mapping: mapping.as_ref(),
        source_label: None,
    };
    let unit = if !is_dbn
        && wheelhouse_store::FileFormat::from_path(&args.file).map_err(store_exit)?
            == wheelhouse_store::FileFormat::Csv
    {
        "bytes"
    } else {
        "rows"
    };
    let (mut cb, pb) = progress_after_1s("importing", unit);
    let report = if is_dbn {
        store.import_dbn(table, &args.file, args.definitions.as_deref(), &mut cb)
    } else {
        store.import_file(table, &args.file, &opts, &mut cb)
    }
    .map_err(store_exit)?;
    pb.finish_and_clear();
    for r in report.rejections.iter().take(20) {
        eprintln!(
            "{}:{}: rejected{}: {}",
            report.file,
            r.line,
            r.field.map(|f| format!(" ({f})")).unwrap_or_default(),
            r.reason
        );
    }
    if report.rejections.len() > 20 {
        eprintln!("… and {} more rejected rows", report.rejections.len() - 20);
    }
    if let Some(path) = &args.rejects {
        wheelhouse_store::import::write_rejects(path, &report).map_err(store_exit)?;
    }
    if !report.ignored_columns.is_empty() {
        tracing::info!(columns = ?report.ignored_columns, "ignored source columns");
    }
    import_rows(std::slice::from_ref(&report)).emit(format.unwrap_or(Format::Table))?;
    Ok(if report.rejected > 0 {
        EXIT_ROW_ERRORS
    } else {
        EXIT_OK
    })
}

fn import_rows(reports: &[ImportReport]) -> Rows {
    let mut rows = Rows {
        header: vec![
            "file",
            "table",
            "rows",
            "accepted",
            "rejected",
            "duplicates",
            "conflicts",
            "seconds",
            "rows_per_second",
        ],
        human_header: [
            "file",
            "table",
            "rows",
            "accepted",
            "rejected",
            "duplicates",
            "conflicts",
            "seconds",
            "rows/s",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect(),
        ..Rows::default()
    };
    for r in reports {
        let rate = r.rows_read as f64 / r.seconds.max(1e-9);
        rows.rows.push(vec![
            Val::Text(r.file.clone()),
            Val::Text(r.table.spec().db_table.to_string()),
            Val::Int(Some(r.rows_read as i64)),
            Val::Int(Some(r.accepted as i64)),
            Val::Int(Some(r.rejected as i64)),
            Val::Int(Some(r.duplicates as i64)),
            Val::Int(Some(r.conflicts as i64)),
            Val::Num(Some(r.seconds)),
            Val::Num(Some(rate)),
        ]);
        rows.human.push(vec![
            r.file.clone(),
            r.table.spec().db_table.to_string(),
            r.rows_read.to_string(),
            r.accepted.to_string(),
            r.rejected.to_string(),
            r.duplicates.to_string(),
            r.conflicts.to_string(),
            format!("{:.3}", r.seconds),
            format!("{rate:.0}"),
        ]);
    }
    rows
}

/// `wheelhouse export`.
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Which table.
    #[arg(value_enum)]
    pub table: TableArg,
    /// Output Parquet file (canonical layout, re-importable).
    #[arg(long, short)]
    pub output: PathBuf,
    /// Only this symbol (underlying for quotes).
    #[arg(long)]
    pub symbol: Option<String>,
}

/// `wheelhouse export`.
pub fn export(args: ExportArgs, flags: &StoreFlags) -> Result<u8, Exit> {
    let s = settings(flags)?;
    let store = open(&s)?;
    let n = store
        .export(
            args.table.table(),
            &args.output,
            &ExportFilter {
                symbol: args.symbol.map(|x| x.to_ascii_uppercase()),
                ..ExportFilter::default()
            },
        )
        .map_err(store_exit)?;
    eprintln!("wrote {n} rows to {}", args.output.display());
    Ok(EXIT_OK)
}

// ---------------------------------------------------------------------------------------------
// chain / surface

/// Flags shared by `chain` and `surface`.
#[derive(Debug, Args)]
pub struct SnapshotArgs {
    /// Underlying symbol.
    pub symbol: String,
    /// Snapshot: the latest at or before this date (end of that New York day) or RFC 3339
    /// instant; default the latest stored.
    #[arg(long, value_name = "DATE|TIME")]
    pub at: Option<String>,
    /// American engine setting for American-style quotes.
    #[arg(long, value_enum, default_value = "fast")]
    pub american: crate::commands::AmericanMode,
    /// Recompute even when cached results exist.
    #[arg(long)]
    pub no_cache: bool,
}

pub(crate) fn parse_at(s: &str) -> Result<UnixNanos, Exit> {
    let tz = jiff::tz::TimeZone::get(wheelhouse_core::exchange_time::NEW_YORK)
        .map_err(|e| anyhow!(e))?;
    match wheelhouse_store::timeparse::parse_time(s, &tz, None) {
        Ok(wheelhouse_store::timeparse::TimeValue::Instant(ns)) => Ok(UnixNanos(ns)),
        Ok(wheelhouse_store::timeparse::TimeValue::Date(d)) => {
            let end =
                wheelhouse_store::timeparse::date_at(d, 23, 59, &tz).map_err(|e| anyhow!(e))?;
            Ok(UnixNanos(end.0 + 59_999_999_999))
        }
        Err(e) => Err(Exit::usage(anyhow!("--at {s:?}: {e}"))),
    }
}

struct Loaded {
    quotes: Vec<wheelhouse_core::records::OptionQuote>,
    analytics: ChainAnalytics,
    history: Option<(f64, f64, usize)>,
    seconds: f64,
    from_cache: bool,
}

/// Cache version of chain analytics per snapshot; bump when the computation changes.
const CHAIN_CACHE_VERSION: i64 = 1;

fn american_of(m: crate::commands::AmericanMode) -> AmericanSettings {
    match m {
        crate::commands::AmericanMode::Fast => AmericanSettings::FAST,
        crate::commands::AmericanMode::Accurate => AmericanSettings::ACCURATE,
    }
}

fn chain_settings(s: &Settings, a: &SnapshotArgs) -> ChainSettings {
    ChainSettings {
        default_rate: s.default_rate,
        american: american_of(a.american),
        ..ChainSettings::default()
    }
}

/// Quotes and analytics of one snapshot, from the analytics cache when it holds them.
/// Returns (quotes, analytics, seconds, from_cache).
pub(crate) fn chain_at(
    store: &Store,
    s: &Settings,
    symbol: &str,
    qt: UnixNanos,
    american: crate::commands::AmericanMode,
    no_cache: bool,
) -> Result<
    (
        Vec<wheelhouse_core::records::OptionQuote>,
        ChainAnalytics,
        f64,
        bool,
    ),
    Exit,
> {
    let quotes = store.option_quotes(symbol, qt, None).map_err(store_exit)?;
    let curve = store.rate_curve(qt).map_err(store_exit)?;
    let cs = ChainSettings {
        default_rate: s.default_rate,
        american: american_of(american),
        ..ChainSettings::default()
    };
    let started = Instant::now();
    let kind = format!("chain:{:?}:{}", american, s.default_rate);
    let cached = if no_cache {
        None
    } else {
        store
            .cache_get(symbol, qt, &kind, CHAIN_CACHE_VERSION)
            .map_err(store_exit)?
            .and_then(|p| serde_json::from_str::<ChainAnalytics>(&p).ok())
            .filter(|a| a.quotes.len() == quotes.len())
    };
    let from_cache = cached.is_some();
    let analytics = match cached {
        Some(a) => a,
        None => {
            let a = analyze_chain(&quotes, &curve, &cs).map_err(|e| anyhow!(e))?;
            if let Ok(payload) = serde_json::to_string(&a) {
                store
                    .cache_put(symbol, qt, &kind, CHAIN_CACHE_VERSION, &payload)
                    .map_err(store_exit)?;
            }
            a
        }
    };
    let seconds = started.elapsed().as_secs_f64();
    tracing::info!(
        symbol,
        quotes = quotes.len(),
        seconds,
        from_cache,
        "chain analytics"
    );
    Ok((quotes, analytics, seconds, from_cache))
}

fn load_snapshot(
    args: &SnapshotArgs,
    flags: &StoreFlags,
    with_history: bool,
) -> Result<Loaded, Exit> {
    let s = settings(flags)?;
    let store = open_for_reading(&s)?;
    let symbol = args.symbol.trim().to_ascii_uppercase();
    let at = args.at.as_deref().map(parse_at).transpose()?;
    let qt = store.snapshot_at(&symbol, at).map_err(store_exit)?;
    let cs = chain_settings(&s, args);
    let (quotes, analytics, seconds, from_cache) =
        chain_at(&store, &s, &symbol, qt, args.american, args.no_cache)?;
    let history = if with_history {
        atm_history(&store, &symbol, qt, &cs, args.no_cache)?.and_then(|(cur_hist, n)| {
            analytics
                .summary
                .atm_vol_30d
                .and_then(|cur| iv_rank_percentile(cur, &cur_hist).map(|(r, p)| (r, p, n)))
        })
    } else {
        None
    };
    Ok(Loaded {
        quotes,
        analytics,
        history,
        seconds,
        from_cache,
    })
}

/// Cache version of the 30-day ATM vol per snapshot; bump when its computation changes.
const ATM30_CACHE_VERSION: i64 = 1;

/// 30-day ATM vols of the snapshots in the year before `qt` (cached per snapshot).
pub(crate) fn atm_history(
    store: &Store,
    symbol: &str,
    qt: UnixNanos,
    cs: &ChainSettings,
    no_cache: bool,
) -> Result<Option<(Vec<f64>, usize)>, Exit> {
    let year = 365 * 86_400 * 1_000_000_000i64;
    let times = store
        .quote_times(
            symbol,
            Some(UnixNanos(qt.0 - year)),
            Some(UnixNanos(qt.0 - 1)),
        )
        .map_err(store_exit)?;
    if times.len() < 2 {
        return Ok(None);
    }
    let kind = format!(
        "atm30:{}",
        if cs.american.nodes == AmericanSettings::ACCURATE.nodes {
            "accurate"
        } else {
            "fast"
        }
    );
    let (mut cb, pb) = progress_after_1s("30-day ATM vol history", "snapshots");
    let total = times.len() as u64;
    let mut out = Vec::with_capacity(times.len());
    let mut stored = if no_cache {
        Default::default()
    } else {
        store
            .cache_get_range(
                symbol,
                &kind,
                ATM30_CACHE_VERSION,
                times[0],
                times[times.len() - 1],
            )
            .map_err(store_exit)?
    };
    for (i, &t) in times.iter().enumerate() {
        let cached = stored.remove(&t.0);
        let v = match cached.and_then(|p| p.parse::<f64>().ok()) {
            Some(v) => Some(v),
            None => {
                let quotes = store.option_quotes(symbol, t, None).map_err(store_exit)?;
                let curve = store.rate_curve(t).map_err(store_exit)?;
                let v = wheelhouse_market::chain::atm_vol_30d_quick(&quotes, &curve, cs);
                let payload = v.map_or_else(|| "none".to_string(), |x| format!("{x:e}"));
                store
                    .cache_put(symbol, t, &kind, ATM30_CACHE_VERSION, &payload)
                    .map_err(store_exit)?;
                v
            }
        };
        if let Some(v) = v {
            out.push(v);
        }
        cb(i as u64 + 1, total);
    }
    pb.finish_and_clear();
    let n = out.len();
    Ok(Some((out, n)))
}

/// `wheelhouse chain`.
#[derive(Debug, Args)]
pub struct ChainArgs {
    #[command(flatten)]
    pub snap: SnapshotArgs,
    /// Only this expiration date (YYYY-MM-DD, New York).
    #[arg(long, value_name = "DATE")]
    pub expiry: Option<String>,
}

fn issue_text<T>(r: &Result<T, IvIssue>) -> String {
    match r {
        Ok(_) => String::new(),
        Err(e) => e.code().to_string(),
    }
}

/// `wheelhouse chain`.
pub fn chain(args: ChainArgs, flags: &StoreFlags, format: Option<Format>) -> Result<u8, Exit> {
    let expiry = args
        .expiry
        .as_deref()
        .map(|d| parse_date(d, "--expiry"))
        .transpose()?;
    let l = load_snapshot(&args.snap, flags, false)?;
    let a = &l.analytics;
    let mut rows = Rows {
        header: vec![
            "underlying",
            "quote_time",
            "expiration",
            "strike",
            "type",
            "style",
            "bid",
            "ask",
            "mid",
            "bid_iv",
            "ask_iv",
            "mid_iv",
            "delta",
            "gamma",
            "vega",
            "theta",
            "prob_itm",
            "years",
            "rate",
            "dividend_yield",
            "forward",
            "underlying_price",
            "volume",
            "open_interest",
            "status",
        ],
        human_header: [
            "expiry",
            "strike",
            "type",
            "bid",
            "ask",
            "mid",
            "bid iv",
            "ask iv",
            "mid iv",
            "delta",
            "gamma",
            "vega/pt",
            "theta/day",
            "P(ITM)",
            "status",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect(),
        ..Rows::default()
    };
    let exp_of = |e: UnixNanos| a.expiries.iter().find(|x| x.expiration == e);
    let mut matched = 0usize;
    for (q, qa) in l.quotes.iter().zip(&a.quotes) {
        let exp_date = new_york_date(q.expiration).ok();
        if let Some(d) = expiry
            && exp_date != Some(d)
        {
            continue;
        }
        matched += 1;
        let ex = exp_of(q.expiration);
        let g = qa.greeks;
        let status = match (&qa.mid_iv, q.bid > 0.0) {
            (Ok(_), true) => "ok".to_string(),
            (Ok(_), false) => "no_bid".to_string(),
            (Err(e), _) => format!("mid_{}", e.code()),
        };
        rows.rows.push(vec![
            Val::Text(q.underlying.clone()),
            Val::Text(format_new_york(q.quote_time)),
            Val::Text(format_new_york(q.expiration)),
            Val::Num(Some(q.strike)),
            Val::Text(q.option_type.as_str().into()),
            Val::Text(q.style.as_str().into()),
            Val::Num(Some(q.bid)),
            Val::Num(Some(q.ask)),
            Val::Num(Some(qa.mid)),
            Val::Num(qa.bid_iv.ok()),
            Val::Num(qa.ask_iv.ok()),
            Val::Num(qa.mid_iv.ok()),
            Val::Num(g.map(|g| g.delta)),
            Val::Num(g.map(|g| g.gamma)),
            Val::Num(g.map(|g| g.vega)),
            Val::Num(g.map(|g| g.theta)),
            Val::Num(g.map(|g| g.prob_itm)),
            Val::Num(Some(qa.years)),
            Val::Num(ex.map(|e| e.rate)),
            Val::Num(ex.map(|e| e.dividend_yield)),
            Val::Num(ex.map(|e| e.forward)),
            Val::Num(Some(q.underlying_price)),
            Val::Int(q.volume),
            Val::Int(q.open_interest),
            Val::Text(status.clone()),
        ]);
        let _ = issue_text(&qa.bid_iv);
        rows.human.push(vec![
            exp_date.map_or_else(|| "?".into(), |d| d.to_string()),
            format!("{}", q.strike),
            q.option_type.as_str().into(),
            format!("{:.2}", q.bid),
            format!("{:.2}", q.ask),
            format!("{:.3}", qa.mid),
            pct(qa.bid_iv.ok(), 2),
            pct(qa.ask_iv.ok(), 2),
            pct(qa.mid_iv.ok(), 2),
            fixed(g.map(|g| g.delta), 4),
            fixed(g.map(|g| g.gamma), 5),
            fixed(g.map(|g| g.vega / 100.0), 4),
            fixed(g.map(|g| g.theta / 365.0), 4),
            pct(g.map(|g| g.prob_itm), 1),
            status,
        ]);
    }
    if matched == 0 {
        let available: Vec<String> = a
            .expiries
            .iter()
            .filter_map(|e| new_york_date(e.expiration).ok().map(|d| d.to_string()))
            .collect();
        return Err(Exit::usage(anyhow!(
            "no {} expiry {} in the snapshot of {}; expiries: {}",
            a.underlying,
            args.expiry.unwrap_or_default(),
            format_new_york(a.quote_time),
            available.join(", ")
        )));
    }
    let fmt = format.unwrap_or(Format::Table);
    if fmt == Format::Table {
        println!(
            "{} snapshot {}  spot {:.2}  {} quotes, {} expiries  ({} in {:.1} ms; theta per calendar day, vega per vol point)",
            a.underlying,
            format_new_york(a.quote_time),
            a.spot,
            l.quotes.len(),
            a.expiries.len(),
            if l.from_cache {
                "cached, loaded"
            } else {
                "computed"
            },
            l.seconds * 1e3
        );
    }
    rows.emit(fmt)?;
    Ok(EXIT_OK)
}

/// `wheelhouse surface`.
#[derive(Debug, Args)]
pub struct SurfaceArgs {
    #[command(flatten)]
    pub snap: SnapshotArgs,
    /// Also plot market IVs against the fitted smiles (.svg or .png by the extension).
    #[arg(long, value_name = "FILE.svg|FILE.png")]
    pub plot: Option<PathBuf>,
}

/// `wheelhouse surface`.
pub fn surface(args: SurfaceArgs, flags: &StoreFlags, format: Option<Format>) -> Result<u8, Exit> {
    if let Some(p) = &args.plot {
        wheelhouse_plot::format_of(p).map_err(|e| Exit::usage(anyhow!("--plot: {e}")))?;
    }
    let l = load_snapshot(&args.snap, flags, true)?;
    let a = &l.analytics;
    let mut rows = Rows {
        header: vec![
            "underlying",
            "quote_time",
            "expiration",
            "days",
            "years",
            "rate",
            "dividend_yield",
            "forward",
            "forward_method",
            "quotes",
            "svi_a",
            "svi_b",
            "svi_rho",
            "svi_m",
            "svi_sigma",
            "rmse_vol_points",
            "max_error_vol_points",
            "butterfly_free",
            "min_g",
            "atm_vol",
            "skew_25d",
            "fit_error",
        ],
        human_header: [
            "expiry", "days", "fwd", "q", "method", "n", "a", "b", "rho", "m", "sigma", "rmse vp",
            "max vp", "no-bfly", "atm vol", "25d RR",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect(),
        ..Rows::default()
    };
    for e in &a.expiries {
        let p = e.svi.as_ref().ok().map(|f| f.params);
        let method = match e.forward_method {
            ForwardMethod::Parity(n) => format!("parity({n})"),
            ForwardMethod::VolParity(n) => format!("vol-parity({n})"),
            ForwardMethod::Fallback => "fallback".to_string(),
        };
        let fit = e.svi.as_ref().ok();
        rows.rows.push(vec![
            Val::Text(a.underlying.clone()),
            Val::Text(format_new_york(a.quote_time)),
            Val::Text(format_new_york(e.expiration)),
            Val::Num(Some(e.years * 365.0)),
            Val::Num(Some(e.years)),
            Val::Num(Some(e.rate)),
            Val::Num(Some(e.dividend_yield)),
            Val::Num(Some(e.forward)),
            Val::Text(method.clone()),
            Val::Int(Some(e.quotes as i64)),
            Val::Num(p.map(|p| p.a)),
            Val::Num(p.map(|p| p.b)),
            Val::Num(p.map(|p| p.rho)),
            Val::Num(p.map(|p| p.m)),
            Val::Num(p.map(|p| p.sigma)),
            Val::Num(fit.map(|f| f.rmse_vol_points)),
            Val::Num(fit.map(|f| f.max_abs_error_vol_points)),
            fit.map_or(Val::Text(String::new()), |f| {
                Val::Bool(f.butterfly.arbitrage_free)
            }),
            Val::Num(fit.map(|f| f.butterfly.min_g)),
            Val::Num(e.atm_vol),
            Val::Num(e.skew_25d),
            Val::Text(e.svi.as_ref().err().cloned().unwrap_or_default()),
        ]);
        rows.human.push(vec![
            new_york_date(e.expiration).map_or_else(|_| "?".into(), |d| d.to_string()),
            format!("{:.1}", e.years * 365.0),
            format!("{:.2}", e.forward),
            pct(Some(e.dividend_yield), 2),
            method,
            e.quotes.to_string(),
            fixed(p.map(|p| p.a), 5),
            fixed(p.map(|p| p.b), 4),
            fixed(p.map(|p| p.rho), 3),
            fixed(p.map(|p| p.m), 4),
            fixed(p.map(|p| p.sigma), 4),
            fixed(fit.map(|f| f.rmse_vol_points), 3),
            fixed(fit.map(|f| f.max_abs_error_vol_points), 3),
            fit.map_or_else(
                || e.svi.as_ref().err().cloned().unwrap_or_default(),
                |f| {
                    if f.butterfly.arbitrage_free {
                        "yes".into()
                    } else {
                        "NO".into()
                    }
                },
            ),
            pct(e.atm_vol, 2),
            pct(e.skew_25d, 2),
        ]);
    }
    let fmt = format.unwrap_or(Format::Table);
    let s = &a.summary;
    match fmt {
        Format::Table => {
            println!(
                "{} snapshot {}  spot {:.2}  {} quotes  (analytics {} in {:.1} ms)",
                a.underlying,
                format_new_york(a.quote_time),
                a.spot,
                l.quotes.len(),
                if l.from_cache {
                    "cached, loaded"
                } else {
                    "computed"
                },
                l.seconds * 1e3
            );
            rows.emit(fmt)?;
            println!();
            println!("30-day ATM vol      {}", pct(s.atm_vol_30d, 2));
            println!("30-day 25Δ RR       {}", pct(s.skew_25d_30d, 2));
            match l.history {
                Some((rank, p, n)) => println!(
                    "IV rank / pctile    {:.0} / {:.0} (30-day ATM vol vs {n} snapshots of the past year)",
                    100.0 * rank,
                    100.0 * p
                ),
                None => println!("IV rank / pctile    - (fewer than 2 earlier snapshots stored)"),
            }
            println!(
                "calendar arbitrage  {}",
                if a.calendar_violations == 0 {
                    "none found".to_string()
                } else {
                    format!(
                        "{} violations between consecutive expiries",
                        a.calendar_violations
                    )
                }
            );
        }
        Format::Csv => rows.emit(fmt)?,
        Format::Json => {
            let mut expiries = Vec::new();
            for r in &rows.rows {
                let obj: serde_json::Map<String, serde_json::Value> = rows
                    .header
                    .iter()
                    .zip(r)
                    .map(|(k, v)| ((*k).to_string(), crate::output::json_of(v)))
                    .collect();
                expiries.push(serde_json::Value::Object(obj));
            }
            let doc = serde_json::json!({
                "underlying": a.underlying,
                "quote_time": format_new_york(a.quote_time),
                "spot": a.spot,
                "atm_vol_30d": s.atm_vol_30d,
                "skew_25d_30d": s.skew_25d_30d,
                "iv_rank": l.history.map(|h| h.0),
                "iv_percentile": l.history.map(|h| h.1),
                "history_snapshots": l.history.map(|h| h.2),
                "calendar_violations": a.calendar_violations,
                "term_structure": s.term_structure.iter().map(|(d, v)| serde_json::json!({"days": d, "atm_vol": v})).collect::<Vec<_>>(),
                "expiries": expiries,
            });
            println!("{doc}");
        }
    }
    if let Some(p) = &args.plot {
        crate::plot::write_surface_plot(p, &l.quotes, a)?;
        eprintln!("wrote {}", p.display());
    }
    Ok(EXIT_OK)
}
