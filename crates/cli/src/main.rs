//! `wheelhouse`: options analytics and wheel trading from the command line.
//!
//! Exit codes: 0 success; 1 runtime failure (I/O, internal); 2 bad usage or a malformed input
//! file (missing column, unparsable number: the message names line and column); 3 the file was
//! processed but at least one row failed (each failed row has its reason in `error`).

mod bench;
mod commands;
mod data;
mod hw;
mod output;
mod plot;
mod risk;
mod runtime;
mod table;
mod wheel;

use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

/// Exit code: success.
pub const EXIT_OK: u8 = 0;
/// Exit code: runtime failure.
pub const EXIT_FAILURE: u8 = 1;
/// Exit code: bad usage or malformed input.
pub const EXIT_USAGE: u8 = 2;
/// Exit code: some rows failed.
pub const EXIT_ROW_ERRORS: u8 = 3;

/// An error that carries its exit code.
#[derive(Debug)]
pub struct Exit {
    code: u8,
    error: anyhow::Error,
}

impl Exit {
    /// A usage / malformed-input error (exit 2).
    pub fn usage(error: anyhow::Error) -> Self {
        Exit {
            code: EXIT_USAGE,
            error,
        }
    }
}

impl From<anyhow::Error> for Exit {
    fn from(error: anyhow::Error) -> Self {
        Exit {
            code: EXIT_FAILURE,
            error,
        }
    }
}

/// `--device`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DeviceArg {
    /// A CUDA GPU when one is usable, else the CPU.
    Auto,
    /// The CPU only.
    Cpu,
    /// A CUDA GPU, or exit 2.
    Cuda,
}

pub(crate) static DEVICE: std::sync::OnceLock<DeviceArg> = std::sync::OnceLock::new();

/// The compute backend for `--threads` and `--device`: exit 2 for `--device cuda` without a
/// usable GPU.
pub(crate) fn backend(threads: Option<usize>) -> Result<wheelhouse_compute::Backend, Exit> {
    backend_for(
        wheelhouse_hardware::pools::WorkloadClass::OptionsMath,
        threads,
    )
}

/// The compute backend of a workload class: `--threads`, else the class's pool size; its
/// worker and device-batch factors follow the thermal policy.
pub(crate) fn backend_for(
    class: wheelhouse_hardware::pools::WorkloadClass,
    threads: Option<usize>,
) -> Result<wheelhouse_compute::Backend, Exit> {
    use wheelhouse_compute::{Backend, BatchError, DeviceChoice};
    let rt = runtime::get();
    let threads = threads.filter(|&t| t > 0).or(Some(rt.sizes.threads(class)));
    let choice = match DEVICE.get().copied().unwrap_or(DeviceArg::Auto) {
        DeviceArg::Auto => DeviceChoice::Auto,
        DeviceArg::Cpu => DeviceChoice::Cpu,
        DeviceArg::Cuda => DeviceChoice::Cuda,
    };
    Backend::with_device(threads, choice)
        .map(|b| b.with_scales(rt.scales.clone()))
        .map_err(|e| match e {
            BatchError::DeviceUnavailable(_) => Exit::usage(anyhow::anyhow!(e)),
            other => Exit::from(anyhow::anyhow!(other)),
        })
}

/// Output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Human-readable table.
    Table,
    /// JSON (one object, or JSON lines for files).
    Json,
    /// CSV with a header.
    Csv,
}

#[derive(Debug, Parser)]
#[command(
    name = "wheelhouse",
    version,
    about = "Options analytics for wheel traders: exact prices, Greeks and implied volatilities",
    long_about = "Options analytics for wheel traders.\n\nUnits everywhere: time in years \
                  (ACT/365F), rates, dividend yields and volatilities as decimals (0.05 = 5 %), \
                  continuous compounding. Greeks are raw derivatives (vega per 1.00 vol, theta \
                  per year, rho per 1.00 rate); tables also show per-day and per-point views.\n\n\
                  Exit codes: 0 ok, 1 failure, 2 bad usage or malformed file, 3 some rows failed.\n\
                  Logs: set RUST_LOG (e.g. RUST_LOG=debug)."
)]
struct Cli {
    /// Output format (default: table for one option, csv for files written to stdout).
    #[arg(long, global = true, value_enum)]
    format: Option<Format>,
    /// Worker threads for batch work (default: all logical cores).
    #[arg(long, global = true)]
    threads: Option<usize>,
    /// Device for the batches that have GPU kernels (Monte Carlo now): auto (a CUDA GPU when
    /// usable, else the CPU; RUST_LOG=info says which and why), cpu, or cuda (exit 2 when no
    /// usable GPU exists).
    #[arg(long, global = true, value_enum, default_value = "auto")]
    device: DeviceArg,
    /// Thermal policy: a monitor samples the CPU and GPU sensors every second; warm, hot or
    /// power-capped states lower worker counts and device batch sizes (logged), cooling
    /// restores them. maximum, balanced, conservative, or off.
    #[arg(long, global = true, value_enum, default_value = "balanced")]
    thermal_policy: runtime::ThermalArg,
    #[command(flatten)]
    store: data::StoreFlags,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Price options and compute their Greeks (one from flags, or a whole CSV/Parquet file).
    Price(commands::PriceArgs),
    /// Implied volatility from option prices (one from flags, or a whole CSV/Parquet file).
    Iv(commands::IvArgs),
    /// Benchmarks, side by side with installed peers.
    Bench(bench::BenchArgs),
    /// Create the store (and with --sample load the bundled sample data).
    Init(data::InitArgs),
    /// Import a CSV or Parquet file into the store: atomic, idempotent, every rejected row
    /// reported with its line and reason.
    Import(data::ImportArgs),
    /// Export a stored table as Parquet in the canonical (re-importable) layout.
    Export(data::ExportArgs),
    /// One chain snapshot: bid/ask/mid implied volatilities and Greeks of every quote.
    Chain(data::ChainArgs),
    /// The fitted SVI volatility surface of a snapshot, its arbitrage checks and summary.
    Surface(data::SurfaceArgs),
    /// The wheel advisor: what to sell now (strike, expiry, contracts), why, how it was sized,
    /// and what to do with held options.
    Advise(wheel::AdviseArgs),
    /// Portfolio risk: exposures, stress grid, Monte Carlo and historical VaR/CVaR, margin.
    Risk(risk::RiskArgs),
    /// The stored portfolio: import, add, close, assign, roll, show, clear.
    #[command(subcommand)]
    Portfolio(wheel::PortfolioCmd),
    /// This machine: CPU, caches, memory, cgroup limits, GPUs (NVML), and their live state
    /// (temperatures, power, clocks, utilization, throttle reasons); --watch keeps sampling.
    Hw(hw::HwArgs),
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() { EXIT_USAGE } else { EXIT_OK };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    if let Some(t) = cli.threads
        && t > 0
    {
        // Chain analytics and other rayon work use the global pool.
        let _ = rayon::ThreadPoolBuilder::new()
            .num_threads(t)
            .build_global();
    }
    let _ = DEVICE.set(cli.device);
    runtime::set_policy(cli.thermal_policy);
    let result = match cli.command {
        Command::Price(a) => commands::price(a, cli.format, cli.threads),
        Command::Iv(a) => commands::iv(a, cli.format, cli.threads),
        Command::Bench(a) => bench::run(a, cli.format, cli.threads),
        Command::Init(a) => data::init(a, &cli.store, cli.format),
        Command::Import(a) => data::import(a, &cli.store, cli.format),
        Command::Export(a) => data::export(a, &cli.store),
        Command::Chain(a) => data::chain(a, &cli.store, cli.format),
        Command::Surface(a) => data::surface(a, &cli.store, cli.format),
        Command::Advise(a) => wheel::advise_cmd(a, &cli.store, cli.format, cli.threads),
        Command::Portfolio(c) => wheel::portfolio(c, &cli.store, cli.format),
        Command::Risk(a) => risk::risk(a, &cli.store, cli.format, cli.threads),
        Command::Hw(a) => hw::hw(a, cli.format),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(Exit { code, error }) => {
            if is_broken_pipe(&error) {
                return ExitCode::from(EXIT_OK);
            }
            eprintln!("error: {error}");
            for cause in error.chain().skip(1) {
                eprintln!("  caused by: {cause}");
            }
            ExitCode::from(code)
        }
    }
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}
