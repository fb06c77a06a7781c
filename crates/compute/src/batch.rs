use rayon::prelude::*;
use thiserror::Error;
use wheelhouse_pricing::american::{self, AmericanSettings};
use wheelhouse_pricing::{BsmInputs, ExerciseStyle, Greeks, OptionType, PricingError};

/// Elements per work chunk: large enough to amortise scheduling, small enough to balance
/// American and European elements across cores.
pub const CHUNK: usize = 1024;

/// Fewest elements per parallel task of a batch that holds American elements.
pub const AMERICAN_CHUNK: usize = 4;

/// The task size for a batch of `n` elements with these exercise styles on `threads` workers.
/// American elements cost 5–20 µs each (a boundary solve), so [`CHUNK`]-sized tasks would
/// leave cores idle on batches of a few thousand (a batch of 1 000 was one task, one core):
/// such batches get at least 8 tasks per worker (tasks of [`AMERICAN_CHUNK`] to [`CHUNK`]
/// elements). The split never changes a result (each element depends on its inputs only).
fn chunk_len(style: Option<&[ExerciseStyle]>, n: usize, threads: usize) -> usize {
    if style.is_some_and(|st| st.contains(&ExerciseStyle::American)) {
        (n / (8 * threads.max(1))).clamp(AMERICAN_CHUNK, CHUNK)
    } else {
        CHUNK
    }
}

/// Elements of a batch's columns gathered by index into owned f64 columns (widened from f32
/// where they are single precision), to be priced as a batch of their own.
pub(crate) struct Gathered {
    kind: Vec<OptionType>,
    /// Spot, strike, years, rate, dividend yield, volatility.
    cols: [Vec<f64>; 6],
}

impl Gathered {
    /// Elements `idx` of `kind` and of the six columns (spot, strike, years, rate, dividend
    /// yield, volatility).
    pub(crate) fn new<T: Copy + Into<f64>>(
        kind: &[OptionType],
        cols: [&[T]; 6],
        idx: &[usize],
    ) -> Gathered {
        Gathered {
            kind: idx.iter().map(|&i| kind[i]).collect(),
            cols: cols.map(|c| idx.iter().map(|&i| c[i].into()).collect()),
        }
    }

    /// The gathered elements as a European batch.
    pub(crate) fn batch(&self) -> OptionBatch<'_> {
        OptionBatch {
            kind: &self.kind,
            spot: &self.cols[0],
            strike: &self.cols[1],
            years: &self.cols[2],
            rate: &self.cols[3],
            dividend_yield: &self.cols[4],
            volatility: &self.cols[5],
            style: None,
        }
    }
}

/// Errors that concern a batch as a whole (never one element).
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum BatchError {
    /// The input columns do not all have the same length.
    #[error("column {column} has {got} elements, expected {expected}")]
    LengthMismatch {
        /// Offending column.
        column: &'static str,
        /// Its length.
        got: usize,
        /// The length of the first column.
        expected: usize,
    },
    /// The batch as a whole is not valid (say what and where).
    #[error("invalid batch: {0}")]
    Invalid(String),
    /// A Monte Carlo batch could not revalue an option on a path.
    #[error("option position {position} cannot be revalued on path {path}: {reason}")]
    Revaluation {
        /// The (lowest) failing path.
        path: u64,
        /// Index of the option position in the batch.
        position: usize,
        /// Why.
        reason: PricingError,
    },
    /// `--device cuda` (or [`DeviceChoice::Cuda`]) where no usable GPU exists.
    #[error("no usable CUDA device: {0}")]
    DeviceUnavailable(String),
    /// The thread pool could not be built.
    #[error("cannot build a thread pool of {threads} threads: {message}")]
    ThreadPool {
        /// Requested threads.
        threads: usize,
        /// What rayon said.
        message: String,
    },
}

/// Outcome of one element of a batch. One pointer wide (8 bytes, `Ok` is the null niche):
/// a batch's status column costs 8 bytes per element, not the 48 of an inline error, which at
/// N ≥ 10⁶ is memory traffic the arithmetic waits for.
#[derive(Debug, Clone, PartialEq)]
pub enum Status {
    /// The element's values are valid.
    Ok,
    /// The element failed; its values are NaN and must not be used.
    Failed(Box<PricingError>),
}

impl Status {
    /// Whether the element succeeded.
    #[inline]
    pub fn is_ok(&self) -> bool {
        matches!(self, Status::Ok)
    }

    /// The error of a failed element.
    pub fn error(&self) -> Option<&PricingError> {
        match self {
            Status::Ok => None,
            Status::Failed(e) => Some(e),
        }
    }

    /// A failed status.
    #[inline]
    pub fn failed(e: PricingError) -> Status {
        Status::Failed(Box::new(e))
    }

    /// Marks the element failed with `e`, reusing the allocation of an earlier failure (a
    /// reused output of a batch with many failures then costs no allocation per element).
    #[inline]
    pub(crate) fn set_failed(&mut self, e: PricingError) {
        match self {
            Status::Failed(b) => **b = e,
            Status::Ok => *self = Status::failed(e),
        }
    }
}

const _: () = assert!(std::mem::size_of::<Status>() == 8);

/// Options to price, as parallel columns (struct of arrays). Units as in
/// [`wheelhouse_pricing::BsmInputs`].
#[derive(Debug, Clone, Copy)]
pub struct OptionBatch<'a> {
    /// Call or put, per element.
    pub kind: &'a [OptionType],
    /// Spot prices.
    pub spot: &'a [f64],
    /// Strikes.
    pub strike: &'a [f64],
    /// Years to expiry.
    pub years: &'a [f64],
    /// Continuously compounded rates.
    pub rate: &'a [f64],
    /// Continuous dividend yields.
    pub dividend_yield: &'a [f64],
    /// Volatilities.
    pub volatility: &'a [f64],
    /// Exercise style per element; `None` means all European.
    pub style: Option<&'a [ExerciseStyle]>,
}

impl OptionBatch<'_> {
    /// Number of elements, after checking every column has the same length.
    ///
    /// # Errors
    /// [`BatchError::LengthMismatch`] naming the first column of a different length.
    pub fn len(&self) -> Result<usize, BatchError> {
        let n = self.kind.len();
        let cols: [(&'static str, usize); 6] = [
            ("spot", self.spot.len()),
            ("strike", self.strike.len()),
            ("years", self.years.len()),
            ("rate", self.rate.len()),
            ("dividend_yield", self.dividend_yield.len()),
            ("volatility", self.volatility.len()),
        ];
        check_lengths(n, &cols)?;
        if let Some(s) = self.style {
            check_lengths(n, &[("style", s.len())])?;
        }
        Ok(n)
    }

    /// Whether the batch has no element.
    pub fn is_empty(&self) -> bool {
        self.kind.is_empty()
    }

    #[inline]
    /// Elements `r` as a run for the vector kernels (taken as European).
    fn euro(&self, r: std::ops::Range<usize>) -> crate::simd::EuroIn<'_> {
        crate::simd::EuroIn {
            kind: &self.kind[r.clone()],
            spot: &self.spot[r.clone()],
            strike: &self.strike[r.clone()],
            years: &self.years[r.clone()],
            rate: &self.rate[r.clone()],
            dividend_yield: &self.dividend_yield[r.clone()],
            volatility: &self.volatility[r],
        }
    }

    fn get(&self, i: usize) -> (BsmInputs, ExerciseStyle) {
        (
            BsmInputs {
                kind: self.kind[i],
                spot: self.spot[i],
                strike: self.strike[i],
                years: self.years[i],
                rate: self.rate[i],
                dividend_yield: self.dividend_yield[i],
                volatility: self.volatility[i],
            },
            self.style.map_or(ExerciseStyle::European, |s| s[i]),
        )
    }
}

/// Sets every status to `Ok`, writing only those that are not.
#[inline]
fn reset_statuses(st: &mut [Status]) {
    for s in st.iter_mut().filter(|s| !s.is_ok()) {
        *s = Status::Ok;
    }
}

pub(crate) fn check_lengths(n: usize, cols: &[(&'static str, usize)]) -> Result<(), BatchError> {
    for &(column, got) in cols {
        if got != n {
            return Err(BatchError::LengthMismatch {
                column,
                got,
                expected: n,
            });
        }
    }
    Ok(())
}

/// Prices and Greeks of a batch, column by column, with a status per element.
#[derive(Debug, Clone, Default)]
pub struct GreeksBatch {
    /// Values (see [`Greeks`] for the units).
    pub price: Vec<f64>,
    /// ∂V/∂S.
    pub delta: Vec<f64>,
    /// ∂²V/∂S².
    pub gamma: Vec<f64>,
    /// ∂V/∂σ per 1.00 vol.
    pub vega: Vec<f64>,
    /// ∂V/∂t per year.
    pub theta: Vec<f64>,
    /// ∂V/∂r per 1.00 rate.
    pub rho: Vec<f64>,
    /// ∂²V/∂S∂σ.
    pub vanna: Vec<f64>,
    /// ∂²V/∂σ².
    pub volga: Vec<f64>,
    /// ∂Δ/∂t per year.
    pub charm: Vec<f64>,
    /// Per-element outcome.
    pub status: Vec<Status>,
}

impl GreeksBatch {
    /// `n` elements with `value` in every value column and `Ok` statuses (buffers for
    /// [`Backend::greeks_into`], or poisoned outputs that show which elements a run wrote).
    pub fn filled(n: usize, value: f64) -> GreeksBatch {
        let mut g = GreeksBatch::default();
        for c in g.columns_mut() {
            c.resize(n, value);
        }
        g.status.resize(n, Status::Ok);
        g
    }

    /// Element `j`'s values (`None`: NaN everywhere).
    fn set(&mut self, j: usize, g: Option<&Greeks>) {
        let v = g.map_or([f64::NAN; 9], |g| {
            [
                g.price, g.delta, g.gamma, g.vega, g.theta, g.rho, g.vanna, g.volga, g.charm,
            ]
        });
        for (c, x) in self.columns_mut().into_iter().zip(v) {
            c[j] = x;
        }
    }

    /// The nine value columns, price first, in [`Greeks`]' order.
    pub fn columns(&self) -> [&[f64]; 9] {
        [
            &self.price,
            &self.delta,
            &self.gamma,
            &self.vega,
            &self.theta,
            &self.rho,
            &self.vanna,
            &self.volga,
            &self.charm,
        ]
    }

    /// The nine value columns, mutable, in the order of [`GreeksBatch::columns`].
    pub fn columns_mut(&mut self) -> [&mut Vec<f64>; 9] {
        [
            &mut self.price,
            &mut self.delta,
            &mut self.gamma,
            &mut self.vega,
            &mut self.theta,
            &mut self.rho,
            &mut self.vanna,
            &mut self.volga,
            &mut self.charm,
        ]
    }

    /// Every column resized to `n` (kept elements are overwritten by the caller).
    pub(crate) fn resize(&mut self, n: usize) {
        for c in self.columns_mut() {
            c.resize(n, f64::NAN);
        }
        self.status.resize(n, Status::Ok);
    }

    /// Number of failed elements.
    pub fn failures(&self) -> usize {
        self.status.iter().filter(|s| !s.is_ok()).count()
    }
}

/// Prices and the first-order Greeks of a batch (the values of [`GreeksBatch`]'s columns of
/// the same names, without gamma, vanna, volga and charm, which are neither computed nor
/// stored): what a hedger or a position view needs, at a lower cost per element.
#[derive(Debug, Clone, Default)]
pub struct FirstOrderBatch {
    /// Values (see [`Greeks`] for the units).
    pub price: Vec<f64>,
    /// ∂V/∂S.
    pub delta: Vec<f64>,
    /// ∂V/∂σ per 1.00 vol.
    pub vega: Vec<f64>,
    /// ∂V/∂t per year.
    pub theta: Vec<f64>,
    /// ∂V/∂r per 1.00 rate.
    pub rho: Vec<f64>,
    /// Per-element outcome.
    pub status: Vec<Status>,
}

impl FirstOrderBatch {
    /// The value columns in the order of the kernel's first-order output set.
    fn columns(&mut self) -> [&mut Vec<f64>; crate::simd::FIRST_ORDER] {
        [
            &mut self.price,
            &mut self.delta,
            &mut self.vega,
            &mut self.theta,
            &mut self.rho,
        ]
    }

    /// Every column resized to `n` (kept elements are overwritten by the caller).
    pub(crate) fn resize(&mut self, n: usize) {
        for c in self.columns() {
            c.resize(n, f64::NAN);
        }
        self.status.resize(n, Status::Ok);
    }

    /// Number of failed elements.
    pub fn failures(&self) -> usize {
        self.status.iter().filter(|s| !s.is_ok()).count()
    }
}

/// Options whose implied volatility is wanted, as parallel columns.
#[derive(Debug, Clone, Copy)]
pub struct IvInput<'a> {
    /// Call or put.
    pub kind: &'a [OptionType],
    /// Option prices (per share, discounted).
    pub price: &'a [f64],
    /// Spot prices.
    pub spot: &'a [f64],
    /// Strikes.
    pub strike: &'a [f64],
    /// Years to expiry.
    pub years: &'a [f64],
    /// Rates.
    pub rate: &'a [f64],
    /// Dividend yields.
    pub dividend_yield: &'a [f64],
    /// Exercise style per element; `None` means all European.
    pub style: Option<&'a [ExerciseStyle]>,
}

impl IvInput<'_> {
    /// Number of elements, after checking every column has the same length.
    ///
    /// # Errors
    /// [`BatchError::LengthMismatch`].
    pub fn len(&self) -> Result<usize, BatchError> {
        let n = self.kind.len();
        check_lengths(
            n,
            &[
                ("price", self.price.len()),
                ("spot", self.spot.len()),
                ("strike", self.strike.len()),
                ("years", self.years.len()),
                ("rate", self.rate.len()),
                ("dividend_yield", self.dividend_yield.len()),
            ],
        )?;
        if let Some(s) = self.style {
            check_lengths(n, &[("style", s.len())])?;
        }
        Ok(n)
    }

    /// Whether the batch has no element.
    pub fn is_empty(&self) -> bool {
        self.kind.is_empty()
    }

    /// Element `i`'s terms at `volatility` (its price and style aside).
    pub fn at(&self, i: usize, volatility: f64) -> BsmInputs {
        BsmInputs {
            kind: self.kind[i],
            spot: self.spot[i],
            strike: self.strike[i],
            years: self.years[i],
            rate: self.rate[i],
            dividend_yield: self.dividend_yield[i],
            volatility,
        }
    }
}

/// Implied volatilities of a batch with a status per element.
#[derive(Debug, Clone, Default)]
pub struct IvBatch {
    /// Implied volatility (annualised decimal); NaN where the status failed.
    pub implied_volatility: Vec<f64>,
    /// Per-element outcome.
    pub status: Vec<Status>,
}

impl IvBatch {
    /// Number of failed elements.
    pub fn failures(&self) -> usize {
        self.status.iter().filter(|s| !s.is_ok()).count()
    }
}

fn log_open(d: &crate::cuda::CudaDevice) {
    tracing::info!(
        "device: CUDA {} (context {:.3} s, kernels ready {:.3} s later, {})",
        crate::cuda::Accelerator::describe(d),
        d.context_seconds,
        d.kernels_seconds,
        if d.from_cache {
            "from the cache"
        } else {
            "compiled"
        }
    );
}

/// Which device runs the batches that have a device kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceChoice {
    /// A CUDA GPU when one is usable, else the CPU (the log says which and why).
    Auto,
    /// The CPU only.
    Cpu,
    /// A CUDA GPU; an error when none is usable.
    Cuda,
}

/// The compute backend: a rayon pool of a chosen size, the American-engine settings, and
/// optionally an accelerator (a CUDA GPU) for the batches it has kernels for. Any accelerator
/// error falls back to the CPU for that batch, logged and counted ([`Backend::fallbacks`]).
#[derive(Debug)]
pub struct Backend {
    pool: rayon::ThreadPool,
    american: AmericanSettings,
    /// The accelerator: set at construction for `Cuda` and by `with_accelerator`, opened on
    /// first use for `Auto` (so commands without device work never touch the driver).
    accel: std::sync::OnceLock<Option<std::sync::Arc<dyn crate::cuda::Accelerator>>>,
    device: DeviceChoice,
    fallbacks: std::sync::atomic::AtomicU64,
    /// Run-time factors from the thermal policy.
    scales: std::sync::Arc<Scales>,
    /// Smaller pools for scaled-down worker counts, built on first use.
    small_pools: std::sync::Mutex<Vec<(usize, std::sync::Arc<rayon::ThreadPool>)>>,
    /// Workers used by the last batch (to log changes once).
    last_workers: std::sync::atomic::AtomicUsize,
    /// Send every eligible batch to the accelerator, ignoring its measured thresholds.
    force_device: bool,
}

/// Run-time factors, in (0, 1], that a thermal or throttle policy sets and every batch reads:
/// one on CPU worker threads, one on device batch sizes. Shared (`Arc`) between whoever
/// watches the hardware and the backends; results never depend on them (a batch's values are
/// the same for any thread count and any split).
#[derive(Debug)]
pub struct Scales {
    workers: std::sync::atomic::AtomicU64,
    batch: std::sync::atomic::AtomicU64,
}

impl Default for Scales {
    fn default() -> Self {
        Scales {
            workers: std::sync::atomic::AtomicU64::new(1f64.to_bits()),
            batch: std::sync::atomic::AtomicU64::new(1f64.to_bits()),
        }
    }
}

impl Scales {
    /// Both factors at 1.
    pub fn new() -> std::sync::Arc<Scales> {
        std::sync::Arc::new(Scales::default())
    }

    /// Sets both factors (each clamped to [0.01, 1]; NaN counts as 1).
    pub fn set(&self, workers: f64, batch: f64) {
        let clamp = |x: f64| if x.is_nan() { 1.0 } else { x.clamp(0.01, 1.0) };
        self.workers.store(
            clamp(workers).to_bits(),
            std::sync::atomic::Ordering::Relaxed,
        );
        self.batch
            .store(clamp(batch).to_bits(), std::sync::atomic::Ordering::Relaxed);
    }

    /// The factor on worker threads.
    pub fn workers(&self) -> f64 {
        f64::from_bits(self.workers.load(std::sync::atomic::Ordering::Relaxed))
    }

    /// The factor on device batch sizes.
    pub fn batch(&self) -> f64 {
        f64::from_bits(self.batch.load(std::sync::atomic::Ordering::Relaxed))
    }
}

impl Backend {
    /// A CPU backend with `threads` worker threads (`None`: one per logical core).
    ///
    /// # Errors
    /// [`BatchError::ThreadPool`] if the pool cannot be built.
    pub fn cpu(threads: Option<usize>) -> Result<Self, BatchError> {
        let n =
            threads.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .thread_name(|i| format!("wheelhouse-cpu-{i}"))
            .build()
            .map_err(|e| BatchError::ThreadPool {
                threads: n,
                message: e.to_string(),
            })?;
        Ok(Backend {
            pool,
            american: AmericanSettings::ACCURATE,
            accel: std::sync::OnceLock::new(),
            device: DeviceChoice::Cpu,
            fallbacks: std::sync::atomic::AtomicU64::new(0),
            scales: Scales::new(),
            small_pools: std::sync::Mutex::new(Vec::new()),
            last_workers: std::sync::atomic::AtomicUsize::new(n),
            force_device: false,
        })
    }

    /// Sends every eligible batch (all European, or any Monte Carlo) of at least 64 elements
    /// to the accelerator, ignoring the thresholds where the CPU measured faster: for
    /// benchmarks that time the device itself.
    pub fn force_device(mut self) -> Self {
        self.force_device = true;
        self
    }

    /// Reads worker and device-batch factors from `scales` (shared with a thermal monitor).
    pub fn with_scales(mut self, scales: std::sync::Arc<Scales>) -> Self {
        self.scales = scales;
        self
    }

    /// The factors this backend reads.
    pub fn scales(&self) -> &std::sync::Arc<Scales> {
        &self.scales
    }

    /// Worker threads the next batch uses: the pool's, scaled by [`Scales::workers`] (at
    /// least one).
    pub fn workers_now(&self) -> usize {
        let n = self.pool.current_num_threads();
        ((n as f64 * self.scales.workers()).floor() as usize).clamp(1, n)
    }

    /// Runs `f` in the pool of [`Backend::workers_now`] threads (the full pool, or a smaller
    /// one built once per size and kept).
    /// Runs `f` on every task: on the calling thread when there is only one (a batch of at
    /// most one chunk — handing it to a pool thread and waiting for it cost as much as pricing
    /// the 1 000 options themselves), on the pool otherwise.
    fn for_each_task<T: Send>(&self, tasks: Vec<T>, f: impl Fn(T) + Sync + Send) {
        if tasks.len() <= 1 {
            tasks.into_iter().for_each(f);
        } else {
            self.install(|| tasks.into_par_iter().for_each(f));
        }
    }

    /// Every status `Ok`, on the pool: 10⁷ of them are half a gigabyte, which one thread
    /// takes longer to write than a device takes to compute the batch.
    fn reset_statuses(&self, statuses: &mut [Status]) {
        self.install(|| {
            statuses
                .par_iter_mut()
                .with_min_len(1 << 14)
                .for_each(|s| *s = Status::Ok)
        });
    }

    pub(crate) fn install<R: Send>(&self, f: impl FnOnce() -> R + Send) -> R {
        let n = self.pool.current_num_threads();
        let w = self.workers_now();
        if self
            .last_workers
            .swap(w, std::sync::atomic::Ordering::Relaxed)
            != w
        {
            tracing::info!("CPU batches on {w} of {n} worker threads (policy factor)");
        }
        if w == n {
            return self.pool.install(f);
        }
        let small = {
            let mut pools = self
                .small_pools
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            match pools.iter().find(|(k, _)| *k == w) {
                Some((_, p)) => Some(p.clone()),
                None => rayon::ThreadPoolBuilder::new()
                    .num_threads(w)
                    .thread_name(|i| format!("wheelhouse-cpu-{i}"))
                    .build()
                    .ok()
                    .map(std::sync::Arc::new)
                    .inspect(|p| pools.push((w, p.clone()))),
            }
        };
        match small {
            Some(p) => p.install(f),
            // A pool that cannot be built: the full one (the factor is advice).
            None => self.pool.install(f),
        }
    }

    /// A backend on `device`: the CPU pool of [`Backend::cpu`] plus, for `Cuda` now and for
    /// `Auto` at the first batch that could use it, CUDA device 0 when it can be opened
    /// (libraries present, a device, kernels compiled or loaded from the cache).
    ///
    /// # Errors
    /// [`BatchError::ThreadPool`]; [`BatchError::DeviceUnavailable`] for `Cuda` without a usable
    /// GPU (with the reason).
    pub fn with_device(threads: Option<usize>, device: DeviceChoice) -> Result<Self, BatchError> {
        let mut b = Backend::cpu(threads)?;
        b.device = device;
        match device {
            DeviceChoice::Cpu => {
                let _ = b.accel.set(None);
            }
            DeviceChoice::Cuda => match crate::cuda::CudaDevice::open(0) {
                Ok(d) => {
                    log_open(&d);
                    let _ = b.accel.set(Some(std::sync::Arc::new(d)));
                }
                Err(why) => return Err(BatchError::DeviceUnavailable(why)),
            },
            DeviceChoice::Auto => {}
        }
        Ok(b)
    }

    /// The accelerator, opening it on first use under `Auto`.
    fn accel(&self) -> Option<&std::sync::Arc<dyn crate::cuda::Accelerator>> {
        self.accel
            .get_or_init(|| {
                if self.device != DeviceChoice::Auto {
                    return None;
                }
                match crate::cuda::CudaDevice::open(0) {
                    Ok(d) => {
                        log_open(&d);
                        Some(std::sync::Arc::new(d) as std::sync::Arc<dyn crate::cuda::Accelerator>)
                    }
                    Err(why) => {
                        tracing::info!("device: CPU ({} threads); no GPU: {why}", self.threads());
                        None
                    }
                }
            })
            .as_ref()
    }

    /// Adds an accelerator (tests inject failing ones to exercise the fallback).
    pub fn with_accelerator(self, a: std::sync::Arc<dyn crate::cuda::Accelerator>) -> Self {
        let accel = std::sync::OnceLock::new();
        let _ = accel.set(Some(a));
        Backend { accel, ..self }
    }

    /// The accelerator in use, described (opening it under `Auto`); `None` on the CPU.
    pub fn accelerator(&self) -> Option<String> {
        self.accel().map(|a| a.describe())
    }

    /// Batches the accelerator failed and the CPU ran instead.
    pub fn fallbacks(&self) -> u64 {
        self.fallbacks.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The accelerator for a single-precision price + Greeks batch of `n` elements, when there
    /// is one and the batch is large enough (or the device is forced).
    pub(crate) fn accel_for_f32(
        &self,
        n: usize,
    ) -> Option<&std::sync::Arc<dyn crate::cuda::Accelerator>> {
        let a = self.accel()?;
        (self.force_device || n >= a.min_greeks_f32(self.threads())).then_some(a)
    }

    /// The CPU's fp64 price + Greeks of `batch` into `out` (resized).
    pub(crate) fn greeks_reference(&self, batch: &OptionBatch<'_>, out: &mut GreeksBatch) {
        out.resize(batch.kind.len());
        self.greeks_cpu(batch, out);
    }

    /// [`Backend::fell_back`] for the other modules of the crate.
    pub(crate) fn count_fallback(&self, a: &dyn crate::cuda::Accelerator, why: &str) {
        self.fell_back(a, why);
    }

    /// Counts and logs a batch the accelerator failed (the CPU runs it).
    fn fell_back(&self, a: &dyn crate::cuda::Accelerator, why: &str) {
        self.fallbacks
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        tracing::warn!("{} failed, the CPU runs the batch: {why}", a.describe());
    }

    /// Whether a price + Greeks batch of `n` elements goes to the accelerator: there is one,
    /// the batch is all European and large enough (or the device is forced).
    fn device_takes_greeks(&self, batch: &OptionBatch<'_>, n: usize) -> bool {
        n >= crate::cuda::MIN_DEVICE_PATHS
            && !batch
                .style
                .is_some_and(|st| st.iter().any(|s| *s != ExerciseStyle::European))
            && self
                .accel()
                .is_some_and(|a| self.force_device || n >= a.min_greeks(self.threads()))
    }

    /// The American elements of a batch with `style`, when the accelerator takes them for
    /// `task`: there is one and they are at least its `min_american` (or the device is forced).
    fn american_for_device(
        &self,
        style: Option<&[ExerciseStyle]>,
        task: crate::cuda::AmericanTask,
    ) -> Option<(&std::sync::Arc<dyn crate::cuda::Accelerator>, Vec<usize>)> {
        let st = style?;
        let n = st.iter().filter(|s| **s == ExerciseStyle::American).count();
        if n == 0 {
            return None;
        }
        let a = self.accel()?;
        if !self.force_device && n < a.min_american(task, self.threads()) {
            return None;
        }
        let idx = st
            .iter()
            .enumerate()
            .filter(|(_, s)| **s == ExerciseStyle::American)
            .map(|(i, _)| i)
            .collect();
        Some((a, idx))
    }

    /// Runs `job` on the accelerator for the American elements of `batch` (gathered into
    /// columns of their own) when it takes them: per batch element, its row of the device's
    /// results (`u32::MAX` where the device has none or left it to the CPU engine), and `R`.
    fn american_on_device<R>(
        &self,
        batch: &OptionBatch<'_>,
        task: crate::cuda::AmericanTask,
        job: impl FnOnce(
            &dyn crate::cuda::Accelerator,
            &OptionBatch<'_>,
        ) -> Result<(R, Vec<usize>), String>,
    ) -> Option<(Vec<u32>, R)> {
        let (a, idx) = self.american_for_device(batch.style, task)?;
        // An all-American batch goes as it is; otherwise its American elements are gathered
        // into columns of their own (at 1 M options a gather writes ~60 MB of fresh memory).
        let gathered;
        let part = if idx.len() == batch.kind.len() {
            OptionBatch {
                style: None,
                ..*batch
            }
        } else {
            gathered = Gathered::new(
                batch.kind,
                [
                    batch.spot,
                    batch.strike,
                    batch.years,
                    batch.rate,
                    batch.dividend_yield,
                    batch.volatility,
                ],
                &idx,
            );
            gathered.batch()
        };
        match job(a.as_ref(), &part) {
            Ok((r, left)) => {
                let mut slot = vec![u32::MAX; batch.kind.len()];
                for (row, &i) in idx.iter().enumerate() {
                    slot[i] = row as u32;
                }
                for &row in &left {
                    slot[idx[row]] = u32::MAX;
                }
                tracing::debug!(
                    "American batch: {} elements on {}, {} left to the CPU engine",
                    idx.len(),
                    a.describe(),
                    left.len()
                );
                Some((slot, r))
            }
            Err(why) => {
                self.fell_back(a.as_ref(), &why);
                None
            }
        }
    }

    /// Price + Greeks on the accelerator when the batch is all European and large enough;
    /// `Some(elements left to the CPU)` when it ran, `None` to run it on the CPU.
    fn try_accelerated_greeks(
        &self,
        batch: &OptionBatch<'_>,
        out: &mut GreeksBatch,
    ) -> Option<Vec<usize>> {
        if !self.device_takes_greeks(batch, out.price.len()) {
            return None;
        }
        let a = self.accel()?;
        match a.greeks(batch, out) {
            Ok(flagged) => Some(flagged),
            Err(why) => {
                self.fell_back(a.as_ref(), &why);
                None
            }
        }
    }

    /// [`Backend::mc_tail`] past the book's checks.
    pub(crate) fn try_mc_tail(
        &self,
        book: &crate::mc::McBook<'_>,
        paths: usize,
        spec: &crate::mc::TailSpec,
        progress: &mut dyn FnMut(u64),
    ) -> Option<crate::mc::McTail> {
        if book.american {
            return None;
        }
        let (a, per_launch) = self.paths_device(paths)?;
        match a.mc_tail(book, paths, spec, per_launch, progress) {
            Ok(t) => {
                tracing::debug!(
                    "mc_tail: {paths} paths on {}, {} kept for the tail, finished on the {}",
                    a.describe(),
                    t.kept,
                    if t.rows.is_empty() { "host" } else { "device" }
                );
                Some(t)
            }
            Err(why) => {
                self.fell_back(a.as_ref(), &why);
                None
            }
        }
    }

    /// The accelerator for a Monte Carlo run of `n` paths, when there is one and the run is
    /// large enough for it (or the device is forced), with the paths per launch: the policy's
    /// batch factor splits a run into smaller launches (lower peak power and memory); path p
    /// is the same whichever launch computes it.
    pub(crate) fn paths_device(
        &self,
        n: usize,
    ) -> Option<(&std::sync::Arc<dyn crate::cuda::Accelerator>, usize)> {
        // Small batches never open a device.
        if n < crate::cuda::MIN_DEVICE_PATHS {
            return None;
        }
        let a = self.accel()?;
        if !self.force_device && n < a.min_paths() {
            tracing::debug!(
                "Monte Carlo: {n} paths on the CPU (below the device's {})",
                a.min_paths()
            );
            return None;
        }
        Some((
            a,
            ((n as f64 * self.scales.batch()).ceil() as usize).clamp(1, n),
        ))
    }

    pub(crate) fn try_accelerated(
        &self,
        book: &crate::mc::McBook<'_>,
        first_path: u64,
        out: &mut [f64],
    ) -> bool {
        let n = out.len();
        let Some((a, per_launch)) = self.paths_device(n) else {
            return false;
        };
        let mut done = 0;
        for sub in out.chunks_mut(per_launch) {
            if let Err(why) = a.mc_pnl(book, first_path + done as u64, sub) {
                self.fell_back(a.as_ref(), &why);
                return false;
            }
            done += sub.len();
        }
        tracing::debug!(
            "mc_pnl: {n} paths on {} ({} launch(es) of up to {per_launch})",
            a.describe(),
            n.div_ceil(per_launch)
        );
        true
    }

    /// Implied volatilities (and, with `greeks`, price + Greeks at them, chained on the
    /// device) on the accelerator when the batch is all European and large enough;
    /// `Some(elements left to the CPU)` when it ran (the others' statuses set to `Ok`).
    fn try_accelerated_iv(
        &self,
        input: &IvInput<'_>,
        out: &mut IvBatch,
        greeks: Option<&mut GreeksBatch>,
    ) -> Option<Vec<usize>> {
        let n = out.implied_volatility.len();
        if n < crate::cuda::MIN_DEVICE_PATHS
            || input
                .style
                .is_some_and(|st| st.iter().any(|s| *s != ExerciseStyle::European))
        {
            return None;
        }
        let a = self.accel()?;
        if !self.force_device && n < a.min_iv(self.threads()) {
            return None;
        }
        let r = match greeks {
            Some(g) => a
                .iv_greeks(input, out, g)
                .inspect(|_| self.reset_statuses(&mut g.status)),
            None => a.implied_volatility(input, out),
        };
        match r {
            Ok(flagged) => {
                self.reset_statuses(&mut out.status);
                tracing::debug!(
                    "implied volatility: {n} elements on {}, {} left to the CPU",
                    a.describe(),
                    flagged.len()
                );
                Some(flagged)
            }
            Err(why) => {
                self.fell_back(a.as_ref(), &why);
                None
            }
        }
    }

    /// A chain the device solved ([`crate::cuda::Accelerator::chain_risk`]): every status set
    /// to `Ok`, then the CPU's scalar solver and reference Greeks for the elements the device
    /// left.
    pub(crate) fn finish_chain_on_device(
        &self,
        input: &IvInput<'_>,
        flagged: &[usize],
        iv: &mut IvBatch,
        greeks: &mut GreeksBatch,
    ) {
        self.reset_statuses(&mut iv.status);
        self.reset_statuses(&mut greeks.status);
        self.scalar_iv_and_greeks(input, flagged, iv, Some(greeks));
    }

    /// The CPU's scalar solver (and the reference Greeks, with `greeks`) for the elements the
    /// device left, on the pool.
    fn scalar_iv_and_greeks(
        &self,
        input: &IvInput<'_>,
        flagged: &[usize],
        out: &mut IvBatch,
        greeks: Option<&mut GreeksBatch>,
    ) {
        let solved: Vec<(usize, f64, Status)> = self.install(|| {
            flagged
                .par_iter()
                .with_min_len(64)
                .map(|&j| {
                    let (mut v, mut st) = (f64::NAN, Status::Ok);
                    crate::iv_simd::scalar_into(input, j, &mut v, &mut st);
                    (j, v, st)
                })
                .collect()
        });
        let want_greeks = greeks.is_some();
        let mut g_out = greeks;
        for (j, v, st) in solved {
            out.implied_volatility[j] = v;
            out.status[j] = st.clone();
            if !want_greeks {
                continue;
            }
            let Some(g) = g_out.as_deref_mut() else {
                continue;
            };
            if let Status::Failed(e) = st {
                g.set(j, None);
                g.status[j] = Status::Failed(e);
                continue;
            }
            let e = input.at(j, v);
            match wheelhouse_pricing::black::validate_bsm(&e) {
                Ok(()) => {
                    g.set(
                        j,
                        Some(&wheelhouse_pricing::black::bsm_greeks_unchecked(&e)),
                    );
                    g.status[j] = Status::Ok;
                }
                Err(err) => {
                    g.set(j, None);
                    g.status[j] = Status::failed(err);
                }
            }
        }
    }

    /// Implied volatility of every element, then price and Greeks at it: what a chain
    /// snapshot needs. On a GPU the volatilities stay on the device between the two kernels
    /// (one upload, no round trip); on the CPU it is [`Backend::implied_volatility_into`]
    /// then [`Backend::greeks_into`]. An element whose volatility fails carries that error
    /// in both outputs, with NaN values.
    ///
    /// # Errors
    /// [`BatchError::LengthMismatch`]; on an error both outputs are left as they were.
    pub fn iv_and_greeks_into(
        &self,
        input: &IvInput<'_>,
        iv: &mut IvBatch,
        greeks: &mut GreeksBatch,
    ) -> Result<(), BatchError> {
        let n = input.len()?;
        iv.implied_volatility.resize(n, f64::NAN);
        iv.status.resize(n, Status::Ok);
        greeks.resize(n);
        if let Some(flagged) = self.try_accelerated_iv(input, iv, Some(greeks)) {
            self.scalar_iv_and_greeks(input, &flagged, iv, Some(greeks));
            return Ok(());
        }
        // (The device was tried above for the chain: not again for the IV alone.)
        self.implied_volatility_cpu(input, iv);
        let batch = OptionBatch {
            kind: input.kind,
            spot: input.spot,
            strike: input.strike,
            years: input.years,
            rate: input.rate,
            dividend_yield: input.dividend_yield,
            volatility: &iv.implied_volatility,
            style: input.style,
        };
        self.greeks_cpu(&batch, greeks);
        for (g, s) in greeks.status.iter_mut().zip(&iv.status) {
            if !s.is_ok() {
                *g = s.clone();
            }
        }
        Ok(())
    }

    /// Uses `settings` for American elements.
    pub fn with_american_settings(mut self, settings: AmericanSettings) -> Self {
        self.american = settings;
        self
    }

    /// The American-engine settings of this backend.
    pub fn american_settings(&self) -> AmericanSettings {
        self.american
    }

    /// Worker threads in the pool.
    pub fn threads(&self) -> usize {
        self.pool.current_num_threads()
    }

    /// Price and Greeks of every element, European by closed form and American by the
    /// Andersen–Lake–Offengenden engine.
    ///
    /// # Errors
    /// [`BatchError::LengthMismatch`] when the columns differ in length; element failures are
    /// in [`GreeksBatch::status`].
    pub fn greeks(&self, batch: &OptionBatch<'_>) -> Result<GreeksBatch, BatchError> {
        let mut out = GreeksBatch::default();
        self.greeks_into(batch, &mut out)?;
        Ok(out)
    }

    /// As [`Backend::greeks`], writing into `out`: its columns are resized to the batch and
    /// every element (values and status) is overwritten, so a caller that prices batch after
    /// batch reuses the same buffers — no allocation and no page faults per call, which at
    /// N ≥ 10⁵ costs more than the arithmetic.
    ///
    /// # Errors
    /// As [`Backend::greeks`]; on an error `out` is left as it was.
    pub fn greeks_into(
        &self,
        batch: &OptionBatch<'_>,
        out: &mut GreeksBatch,
    ) -> Result<(), BatchError> {
        let n = batch.len()?;
        out.resize(n);
        if let Some(flagged) = self.try_accelerated_greeks(batch, out) {
            self.reset_statuses(&mut out.status);
            // The elements the device left to the reference, on the pool (the far tails can be
            // a large share of a batch).
            let solved: Vec<(usize, Result<Greeks, PricingError>)> = self.install(|| {
                flagged
                    .par_iter()
                    .with_min_len(256)
                    .map(|&j| {
                        let (e, _) = batch.get(j);
                        (
                            j,
                            wheelhouse_pricing::black::validate_bsm(&e)
                                .map(|()| wheelhouse_pricing::black::bsm_greeks_unchecked(&e)),
                        )
                    })
                    .collect()
            });
            for (j, r) in solved {
                match r {
                    Ok(g) => out.set(j, Some(&g)),
                    Err(err) => {
                        out.set(j, None);
                        out.status[j] = Status::failed(err);
                    }
                }
            }
            return Ok(());
        }
        self.greeks_cpu(batch, out);
        Ok(())
    }

    /// [`Backend::greeks_into`] on the CPU pool (`out` already sized).
    fn greeks_cpu(&self, batch: &OptionBatch<'_>, out: &mut GreeksBatch) {
        let GreeksBatch {
            price,
            delta,
            gamma,
            vega,
            theta,
            rho,
            vanna,
            volga,
            charm,
            status,
        } = out;
        self.greeks_set_cpu(
            batch,
            [price, delta, gamma, vega, theta, rho, vanna, volga, charm],
            status,
        );
    }

    /// Price and the Greeks of output set `C` (see [`crate::simd::EuroOut`]) into `cols` and
    /// `status` (sized to the batch), on the CPU pool: runs of European elements through the
    /// vector kernel, American elements through the Andersen–Lake–Offengenden engine.
    fn greeks_set_cpu<const C: usize>(
        &self,
        batch: &OptionBatch<'_>,
        cols: [&mut Vec<f64>; C],
        status: &mut [Status],
    ) {
        let american = self.american;
        // The American elements on the accelerator when it takes them (the device call
        // returns before the pool starts), its results picked up per element below; those it
        // leaves run through the CPU engine.
        let device =
            self.american_on_device(batch, crate::cuda::AmericanTask::Greeks, |a, part| {
                let mut g = GreeksBatch::default();
                g.resize(part.kind.len());
                let left = a.american_greeks(part, &american, &mut g)?;
                Ok((g, left))
            });
        let from_device = |i: usize| -> Option<[f64; C]> {
            let (slot, g) = device.as_ref()?;
            let row = *slot.get(i)?;
            (row != u32::MAX).then(|| {
                let r = row as usize;
                crate::simd::output_values::<C>(&Greeks {
                    price: g.price[r],
                    delta: g.delta[r],
                    gamma: g.gamma[r],
                    vega: g.vega[r],
                    theta: g.theta[r],
                    rho: g.rho[r],
                    epsilon: f64::NAN,
                    vanna: g.vanna[r],
                    volga: g.volga[r],
                    charm: g.charm[r],
                    dual_delta: f64::NAN,
                    prob_itm: f64::NAN,
                })
            })
        };
        let chunk = chunk_len(batch.style, status.len(), self.threads());
        let mut col_chunks = cols.map(|c| c.chunks_mut(chunk));
        let tasks: Vec<_> = status
            .chunks_mut(chunk)
            .enumerate()
            .map(|(ci, st)| {
                let cs = col_chunks
                    .each_mut()
                    .map(|it| it.next().unwrap_or_default());
                (ci * chunk, cs, st)
            })
            .collect();
        self.for_each_task(tasks, |(start, mut cols, st)| {
            let len = st.len();
            // The kernels write the status of failed elements only; a reused buffer is
            // mostly `Ok` already, and reading the tag is cheaper than rewriting it.
            reset_statuses(st);
            let mut j = 0;
            while j < len {
                // The run of European elements from j, vectorised (crate::simd; an element's
                // result does not depend on where its run starts or ends).
                let end = batch.style.map_or(len, |sty| {
                    sty[start + j..start + len]
                        .iter()
                        .position(|s| *s != ExerciseStyle::European)
                        .map_or(len, |p| j + p)
                });
                if end > j {
                    let inp = batch.euro(start + j..start + end);
                    let mut o = crate::simd::EuroOut {
                        cols: cols.each_mut().map(|c| &mut c[j..end]),
                        status: &mut st[j..end],
                    };
                    crate::simd::european(&inp, &mut o);
                    j = end;
                }
                if j < len {
                    // An American element: the device's values, or the CPU engine.
                    let vals = if let Some(v) = from_device(start + j) {
                        v
                    } else {
                        let (inp, _) = batch.get(start + j);
                        match american::american_greeks(&inp, &american) {
                            Ok(g) => crate::simd::output_values::<C>(&g),
                            Err(e) => {
                                st[j] = Status::failed(e);
                                [f64::NAN; C]
                            }
                        }
                    };
                    for (c, x) in cols.iter_mut().zip(vals) {
                        c[j] = x;
                    }
                    j += 1;
                }
            }
        });
    }

    /// Price and first-order Greeks (delta, vega, theta, rho) of every element: the values of
    /// [`Backend::greeks`] for those columns (the same kernel without its second-order
    /// outputs, so the same bits, except on the rare lanes where a second-order Greek
    /// overflows and [`Backend::greeks`] takes the scalar reference for the whole element:
    /// there they agree within 1e-13 relative), into `out`, whose columns are resized to the
    /// batch and every element overwritten. On a GPU backend the device computes the full set
    /// and the first-order columns are kept.
    ///
    /// # Errors
    /// As [`Backend::greeks`]; on an error `out` is left as it was.
    pub fn first_order_into(
        &self,
        batch: &OptionBatch<'_>,
        out: &mut FirstOrderBatch,
    ) -> Result<(), BatchError> {
        let n = batch.len()?;
        if self.device_takes_greeks(batch, n) {
            let mut full = GreeksBatch::default();
            self.greeks_into(batch, &mut full)?;
            out.price = full.price;
            out.delta = full.delta;
            out.vega = full.vega;
            out.theta = full.theta;
            out.rho = full.rho;
            out.status = full.status;
            return Ok(());
        }
        out.resize(n);
        let FirstOrderBatch {
            price,
            delta,
            vega,
            theta,
            rho,
            status,
        } = out;
        self.greeks_set_cpu(batch, [price, delta, vega, theta, rho], status);
        Ok(())
    }

    /// As [`Backend::first_order_into`] into a new [`FirstOrderBatch`].
    ///
    /// # Errors
    /// As [`Backend::greeks`].
    pub fn first_order(&self, batch: &OptionBatch<'_>) -> Result<FirstOrderBatch, BatchError> {
        let mut out = FirstOrderBatch::default();
        self.first_order_into(batch, &mut out)?;
        Ok(out)
    }

    /// Prices alone of every element (European by the price-only vector kernel, American by
    /// the Andersen–Lake–Offengenden engine): the `price` and `status` of [`Backend::greeks`]
    /// at a fraction of its cost.
    ///
    /// # Errors
    /// [`BatchError::LengthMismatch`]; element failures are in the statuses.
    pub fn prices(&self, batch: &OptionBatch<'_>) -> Result<(Vec<f64>, Vec<Status>), BatchError> {
        let n = batch.len()?;
        let mut price = vec![f64::NAN; n];
        let mut status = vec![Status::Ok; n];
        let american = self.american;
        let device =
            self.american_on_device(batch, crate::cuda::AmericanTask::Prices, |a, part| {
                let mut p = vec![f64::NAN; part.kind.len()];
                let left = a.american_prices(part, &american, &mut p)?;
                Ok((p, left))
            });
        let from_device = |i: usize| -> Option<f64> {
            let (slot, p) = device.as_ref()?;
            let row = slot[i];
            (row != u32::MAX).then(|| p[row as usize])
        };
        let chunk = chunk_len(batch.style, n, self.threads());
        let tasks: Vec<_> = price
            .chunks_mut(chunk)
            .zip(status.chunks_mut(chunk))
            .enumerate()
            .collect();
        self.for_each_task(tasks, |(ci, (p, st))| {
            let start = ci * chunk;
            let inp = batch.euro(start..start + p.len());
            let mut failures = Vec::new();
            crate::simd::european_prices(&inp, p, &mut failures);
            for (j, e) in failures {
                st[j] = Status::failed(e);
            }
            if let Some(styles) = batch.style {
                for j in 0..p.len() {
                    if styles[start + j] == ExerciseStyle::American {
                        if let Some(v) = from_device(start + j) {
                            p[j] = v;
                            st[j] = Status::Ok;
                            continue;
                        }
                        let (e, _) = batch.get(start + j);
                        match american::american_price(&e, &american) {
                            Ok(v) => {
                                p[j] = v;
                                st[j] = Status::Ok;
                            }
                            Err(e) => {
                                p[j] = f64::NAN;
                                st[j] = Status::failed(e);
                            }
                        }
                    }
                }
            }
        });
        Ok((price, status))
    }

    /// Implied volatility of every element.
    ///
    /// # Errors
    /// [`BatchError::LengthMismatch`]; element failures are in [`IvBatch::status`].
    pub fn implied_volatility(&self, input: &IvInput<'_>) -> Result<IvBatch, BatchError> {
        let mut out = IvBatch::default();
        self.implied_volatility_into(input, &mut out)?;
        Ok(out)
    }

    /// As [`Backend::implied_volatility`], writing into `out` (resized to the batch; every
    /// element overwritten), so repeated batches reuse its buffers.
    ///
    /// # Errors
    /// As [`Backend::implied_volatility`]; on an error `out` is left as it was.
    pub fn implied_volatility_into(
        &self,
        input: &IvInput<'_>,
        out: &mut IvBatch,
    ) -> Result<(), BatchError> {
        let n = input.len()?;
        out.implied_volatility.resize(n, f64::NAN);
        out.status.resize(n, Status::Ok);
        if let Some(flagged) = self.try_accelerated_iv(input, out, None) {
            self.scalar_iv_and_greeks(input, &flagged, out, None);
            return Ok(());
        }
        self.implied_volatility_cpu(input, out);
        Ok(())
    }

    /// [`Backend::implied_volatility_into`] on the CPU pool (`out` already sized).
    fn implied_volatility_cpu(&self, input: &IvInput<'_>, out: &mut IvBatch) {
        let american = self.american;
        // American elements on the accelerator when it takes them (gathered with their price
        // in the volatility column), those it leaves through the CPU engine.
        let as_batch = OptionBatch {
            kind: input.kind,
            spot: input.spot,
            strike: input.strike,
            years: input.years,
            rate: input.rate,
            dividend_yield: input.dividend_yield,
            volatility: input.price,
            style: input.style,
        };
        let task = crate::cuda::AmericanTask::ImpliedVolatility;
        let device = self.american_on_device(&as_batch, task, |a, part| {
            let iv_part = IvInput {
                kind: part.kind,
                price: part.volatility,
                spot: part.spot,
                strike: part.strike,
                years: part.years,
                rate: part.rate,
                dividend_yield: part.dividend_yield,
                style: None,
            };
            let mut v = vec![f64::NAN; part.kind.len()];
            let left = a.american_iv(&iv_part, &american, &mut v)?;
            Ok((v, left))
        });
        let from_device = |i: usize| -> Option<f64> {
            let (slot, v) = device.as_ref()?;
            let row = slot[i];
            (row != u32::MAX).then(|| v[row as usize])
        };
        let chunk = chunk_len(input.style, out.status.len(), self.threads());
        let tasks: Vec<_> = out
            .implied_volatility
            .chunks_mut(chunk)
            .zip(out.status.chunks_mut(chunk))
            .enumerate()
            .collect();
        self.for_each_task(tasks, |(ci, (ivs, sts))| {
            let start = ci * chunk;
            // The solvers write values on success and statuses on failure only
            // (reusing the allocations of earlier failures); an element that got a
            // value is made `Ok` at the end.
            ivs.fill(f64::NAN);
            // European elements: 8-lane vector kernel, scalar fallback per lane
            // (crate::iv_simd); a lane's result depends only on its own inputs.
            crate::iv_simd::implied_volatility_chunk(input, start, ivs, sts);
            for j in 0..ivs.len() {
                let i = start + j;
                if input
                    .style
                    .is_none_or(|st| st[i] != ExerciseStyle::American)
                {
                    continue;
                }
                if let Some(v) = from_device(i) {
                    ivs[j] = v;
                    continue;
                }
                let r = american::american_implied_volatility(
                    input.price[i],
                    input.spot[i],
                    input.strike[i],
                    input.years[i],
                    input.rate[i],
                    input.dividend_yield[i],
                    input.kind[i],
                    &american,
                );
                match r {
                    Ok(v) => ivs[j] = v,
                    Err(e) => sts[j].set_failed(e),
                }
            }
            for (v, st) in ivs.iter().zip(sts.iter_mut()) {
                if !v.is_nan() && !st.is_ok() {
                    *st = Status::Ok;
                }
            }
        });
    }
}
