//! The CUDA backend: `cudarc` with dynamic loading (the binary builds and runs without CUDA),
//! kernels from header-free `.cu` files compiled at run time by NVRTC straight to a cubin for
//! the device's architecture and cached on disk (key: source hash, architecture, NVRTC
//! version), so a warm start loads in milliseconds.
//!
//! What runs here: the fused Monte Carlo kernel (`kernels/mc.cu`: Philox paths, Cholesky,
//! jumps, vol of vol, BSM revaluation, P&L per path) behind [`crate::Backend::mc_pnl`], with
//! the same Philox streams and AS 241 transform as the CPU (normals agree to a few ulps: the
//! kernel's tails use CUDA's `log`, the CPU a table `ln`), so P&L agrees to rounding, and its
//! VaR/CVaR reduction (`kernels/tail.cu`) behind [`crate::Backend::mc_tail`]; the European
//! price + Greeks kernel (`kernels/greeks.cu`) behind [`crate::Backend::greeks`], within the
//! CPU kernels' tolerance of the reference on 24 M random options; and European implied
//! volatility (`kernels/iv.cu`). Host batches for the last two go through pinned, reused
//! staging over two streams (`CudaDevice::staged`); the dispatcher sends them here where
//! that measured faster end to end (`min_greeks`, `min_iv`).

use std::path::PathBuf;
use std::sync::Arc;

use cudarc::driver::{
    CudaContext, CudaFunction, CudaSlice, CudaStream, CudaView, CudaViewMut, LaunchConfig,
    PinnedHostSlice, PushKernelArg,
};
use cudarc::nvrtc::Ptx;
use wheelhouse_pricing::OptionType;
use wheelhouse_pricing::american::AmericanSettings;
use wheelhouse_pricing::normal::{AS241_A, AS241_B, AS241_C, AS241_D, AS241_E, AS241_F};

use crate::mc::McBook;
use crate::philox::key_of;

/// The Monte Carlo kernel's source (without its coefficient header).
pub const MC_SOURCE: &str = include_str!("kernels/mc.cu");
/// The price + Greeks kernel's source.
pub const GREEKS_SOURCE: &str = include_str!("kernels/greeks.cu");
/// The implied-volatility kernel's source (without its coefficient header).
pub const IV_SOURCE: &str = include_str!("kernels/iv.cu");
/// The American (Andersen–Lake–Offengenden) kernels' source (without its settings header).
pub const AMERICAN_SOURCE: &str = include_str!("kernels/american.cu");
/// The Monte Carlo tail-reduction kernels' source.
pub const TAIL_SOURCE: &str = include_str!("kernels/tail.cu");
/// Histogram bins of the tail reduction (`TAIL_BINS` in kernels/tail.cu).
const TAIL_BINS: usize = 4096;
/// Blocks of its first pass (`TAIL_SCAN_BLOCKS`), each with `TAIL_SCAN_THREADS` threads.
const TAIL_SCAN_BLOCKS: u32 = 512;
const TAIL_SCAN_THREADS: u32 = 256;
/// Paths per block of the histogram pass (`TAIL_CHUNK`).
const TAIL_CHUNK: u32 = 8192;
/// Threads of the threshold pass (`TAIL_THRESHOLD_THREADS`).
const TAIL_THRESHOLD_THREADS: u32 = 1024;
/// Threads of the finishing pass (`TAIL_FINISH_THREADS`).
const TAIL_FINISH_THREADS: u32 = 1024;
/// Most losses the finishing pass sorts for one sample (the 1 % tail of 1.6 M paths): a power
/// of two, lowered to what a block's shared memory holds on the device.
const TAIL_FINISH_MAX: u32 = 16_384;
/// Fewest paths for which a device is even considered (below, the CPU always runs).
pub const MIN_DEVICE_PATHS: usize = 64;
/// Most underlyings the Monte Carlo kernel handles (its per-thread arrays).
pub const MC_MAX_UNDERLYINGS: usize = 64;

/// Something that runs batches away from the CPU pool; [`crate::Backend`] dispatches to it
/// and falls back to the CPU on any error.
pub trait Accelerator: Send + Sync + std::fmt::Debug {
    /// What it is (for logs and reports).
    fn describe(&self) -> String;
    /// Fewest paths worth sending to it (never, by default: no Monte Carlo kernel).
    fn min_paths(&self) -> usize {
        usize::MAX
    }
    /// [`crate::Backend::mc_pnl`] on the device.
    ///
    /// # Errors
    /// Why it could not, as text (the caller falls back to the CPU).
    fn mc_pnl(&self, _book: &McBook<'_>, _first_path: u64, _out: &mut [f64]) -> Result<(), String> {
        Err("no Monte Carlo kernel".into())
    }
    /// A whole Monte Carlo run of `paths` paths (0, 1, …), launched `per_launch` paths at a
    /// time, reduced to its tail ([`crate::McTail`]) without bringing every path's P&L back;
    /// `progress(paths done)` after each launch.
    ///
    /// # Errors
    /// Why it could not, as text (the caller runs the paths on the CPU).
    fn mc_tail(
        &self,
        _book: &McBook<'_>,
        _paths: usize,
        _spec: &crate::TailSpec,
        _per_launch: usize,
        _progress: &mut dyn FnMut(u64),
    ) -> Result<crate::McTail, String> {
        Err("no Monte Carlo tail reduction".into())
    }
    /// Fewest European elements worth sending for price + Greeks when the CPU pool has
    /// `cpu_threads` threads.
    fn min_greeks(&self, _cpu_threads: usize) -> usize {
        usize::MAX
    }
    /// Price + Greeks of an all-European batch into `out`; returns the elements the device
    /// left to the CPU reference (invalid inputs, far tails).
    ///
    /// # Errors
    /// Why it could not, as text (the caller falls back to the CPU).
    fn greeks(
        &self,
        _batch: &crate::OptionBatch<'_>,
        _out: &mut crate::GreeksBatch,
    ) -> Result<Vec<usize>, String> {
        Err("no price + Greeks kernel".into())
    }
    /// Fewest elements of a single-precision price + Greeks batch worth sending when the CPU
    /// pool has `cpu_threads` threads.
    fn min_greeks_f32(&self, _cpu_threads: usize) -> usize {
        usize::MAX
    }
    /// Price + Greeks of a single-precision batch into `out` (already sized), computed in
    /// fp32; returns the elements left to the CPU's fp64 reference.
    ///
    /// # Errors
    /// Why it could not, as text (the caller falls back to the CPU).
    fn greeks_f32(
        &self,
        _batch: &crate::OptionBatchF32<'_>,
        _out: &mut crate::GreeksBatchF32,
    ) -> Result<Vec<usize>, String> {
        Err("no fp32 price + Greeks kernel".into())
    }
    /// Fewest European elements worth sending for implied volatility when the CPU pool has
    /// `cpu_threads` threads.
    fn min_iv(&self, _cpu_threads: usize) -> usize {
        usize::MAX
    }
    /// Implied volatilities of an all-European batch into `out` (already sized); returns the
    /// elements left to the CPU's scalar solver.
    ///
    /// # Errors
    /// Why it could not, as text (the caller falls back to the CPU).
    fn implied_volatility(
        &self,
        _input: &crate::IvInput<'_>,
        _out: &mut crate::IvBatch,
    ) -> Result<Vec<usize>, String> {
        Err("no implied-volatility kernel".into())
    }
    /// Fewest American elements worth sending for `task` when the CPU pool has `cpu_threads`
    /// threads.
    fn min_american(&self, _task: AmericanTask, _cpu_threads: usize) -> usize {
        usize::MAX
    }
    /// American price + Greeks (the nine columns of [`crate::GreeksBatch`], as
    /// `american::american_greeks` defines them) of every element of `batch`, its style
    /// ignored, with `settings`, into `out` (already sized); returns the elements left to the
    /// CPU engine.
    ///
    /// # Errors
    /// Why it could not, as text (the caller falls back to the CPU).
    fn american_greeks(
        &self,
        _batch: &crate::OptionBatch<'_>,
        _settings: &AmericanSettings,
        _out: &mut crate::GreeksBatch,
    ) -> Result<Vec<usize>, String> {
        Err("no American kernels".into())
    }
    /// American prices of every element of `batch` (style ignored) into `out` (already
    /// sized); returns the elements left to the CPU engine.
    ///
    /// # Errors
    /// Why it could not, as text (the caller falls back to the CPU).
    fn american_prices(
        &self,
        _batch: &crate::OptionBatch<'_>,
        _settings: &AmericanSettings,
        _out: &mut [f64],
    ) -> Result<Vec<usize>, String> {
        Err("no American kernels".into())
    }
    /// American implied volatilities of every element of `input` (style ignored) into `out`
    /// (already sized); returns the elements left to the CPU engine.
    ///
    /// # Errors
    /// Why it could not, as text (the caller falls back to the CPU).
    fn american_iv(
        &self,
        _input: &crate::IvInput<'_>,
        _settings: &AmericanSettings,
        _out: &mut [f64],
    ) -> Result<Vec<usize>, String> {
        Err("no American kernels".into())
    }
    /// Implied volatilities and then price + Greeks at them, the volatilities staying on the
    /// device between the two kernels; returns the elements left to the CPU (for either).
    ///
    /// # Errors
    /// Why it could not, as text (the caller falls back to the CPU).
    fn iv_greeks(
        &self,
        _input: &crate::IvInput<'_>,
        _iv: &mut crate::IvBatch,
        _greeks: &mut crate::GreeksBatch,
    ) -> Result<Vec<usize>, String> {
        Err("no implied-volatility kernel".into())
    }
    /// Whether [`Accelerator::chain_risk`] is implemented.
    fn has_chain_risk(&self) -> bool {
        false
    }
    /// [`crate::Backend::chain_risk`] on the device, for an all-European chain: the chain's
    /// implied volatilities and price + Greeks into `iv` and `greeks` (already sized; returns
    /// the elements left to the CPU, as [`Accelerator::iv_greeks`]), each option position's
    /// volatility and value now, its quote's, into `columns.vol` and `columns.value_now` (a
    /// quote the device left is solved by the CPU's scalar solver), and the run of `paths`
    /// paths reduced to its tail as [`Accelerator::mc_tail`] does — or no tail, and no run,
    /// when a position's quote has no volatility (the caller reports it from the chain's
    /// statuses).
    ///
    /// # Errors
    /// Why it could not, as text (the caller runs the whole chain on the CPU).
    #[allow(clippy::too_many_arguments)]
    fn chain_risk(
        &self,
        _chain: &crate::ChainBook<'_>,
        _columns: &mut crate::ChainBookColumns,
        _iv: &mut crate::IvBatch,
        _greeks: &mut crate::GreeksBatch,
        _paths: usize,
        _spec: &crate::TailSpec,
        _per_launch: usize,
        _progress: &mut dyn FnMut(u64),
    ) -> Result<(Vec<usize>, Option<crate::McTail>), String> {
        Err("no chain risk run".into())
    }
}

/// What an American batch asks of a device ([`Accelerator::min_american`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AmericanTask {
    /// Price + Greeks (seven boundary solves an option).
    Greeks,
    /// Prices alone (one solve).
    Prices,
    /// Implied volatilities (a solve per iteration).
    ImpliedVolatility,
}

/// Whether the CUDA driver and NVRTC libraries can be loaded (cudarc panics on a missing
/// library, so this is asked first).
pub fn libraries_present() -> Result<(), String> {
    // SAFETY: these only try to open the shared libraries by name.
    let driver = unsafe { cudarc::driver::sys::is_culib_present() };
    // SAFETY: as above.
    let nvrtc = unsafe { cudarc::nvrtc::sys::is_culib_present() };
    match (driver, nvrtc) {
        (true, true) => Ok(()),
        (false, _) => Err("the CUDA driver library (libcuda.so) is not present".into()),
        (true, false) => Err("the NVRTC library (libnvrtc.so) is not present".into()),
    }
}

/// Whether the NVRTC library can be loaded (enough for [`compile_cubin`]; no driver or GPU
/// needed).
pub fn nvrtc_present() -> Result<(), String> {
    // SAFETY: this only tries to open the shared library by name.
    if unsafe { cudarc::nvrtc::sys::is_culib_present() } {
        Ok(())
    } else {
        Err("the NVRTC library (libnvrtc.so) is not present".into())
    }
}

/// A CUDA device with its compiled kernels.
pub struct CudaDevice {
    ctx: Arc<CudaContext>,
    stream: Arc<CudaStream>,
    mc: CudaFunction,
    /// `mc_book_from_chain`: a chain-fed book's volatilities and values.
    book_from_chain: CudaFunction,
    tail: [CudaFunction; 5],
    /// Most losses `tail_finish` sorts per sample (a power of two its shared memory holds).
    finish_cap: u32,
    greeks: CudaFunction,
    greeks_floor: CudaFunction,
    /// The fp32 price + Greeks kernel and its memory floor.
    greeks_f32: [CudaFunction; 2],
    /// `GREEKS_PER_THREAD` of the compiled module.
    greeks_per_thread: u32,
    iv: CudaFunction,
    /// `bsm_iv_deferred`: the lanes `bsm_iv` queued (region 1), solved after it.
    iv_deferred: CudaFunction,
    /// The American kernels per engine setting, compiled (or read from the cache) on first use:
    /// a slot per setting, so that a compile (seconds, cold) holds up only the callers that
    /// wait for the same kernels.
    american: std::sync::Mutex<Vec<(AmericanSettings, Arc<AmericanSlot>)>>,
    /// Pinned staging for host batches ([`CudaDevice::staged`]), made on first use.
    staging: std::sync::Mutex<Option<Staging>>,
    name: String,
    arch: String,
    sms: i32,
    /// Seconds from the call to kernels ready: the driver's context creation plus
    /// `kernels_seconds`.
    pub ready_seconds: f64,
    /// Seconds of the driver's context creation (cuInit and the primary context; the
    /// driver's cost, paid once per process).
    pub context_seconds: f64,
    /// Seconds from a context to the kernels loaded: the cached cubin read and loaded (the
    /// warm start), or NVRTC's compile (cold).
    pub kernels_seconds: f64,
    /// Whether the kernels came from the disk cache.
    pub from_cache: bool,
}

impl std::fmt::Debug for CudaDevice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CudaDevice")
            .field("name", &self.name)
            .field("arch", &self.arch)
            .field("sms", &self.sms)
            .finish()
    }
}

/// Options per thread of the price + Greeks kernel: 1, or 2 or 4 from
/// `WHEELHOUSE_GREEKS_PER_THREAD` (for tuning; it is compiled in, so part of the cache key).
pub fn greeks_per_thread() -> u32 {
    std::env::var("WHEELHOUSE_GREEKS_PER_THREAD")
        .ok()
        .and_then(|v| v.parse::<u32>().ok())
        .filter(|n| [1, 2, 4].contains(n))
        .unwrap_or(1)
}

/// A one-dimensional launch of `grid` blocks of `threads` threads, no dynamic shared memory.
fn blocks(grid: u32, threads: u32) -> LaunchConfig {
    LaunchConfig {
        grid_dim: (grid, 1, 1),
        block_dim: (threads, 1, 1),
        shared_mem_bytes: 0,
    }
}

/// The most losses (a power of two, at most [`TAIL_FINISH_MAX`]) `tail_finish` can sort in one
/// block on this device: its opt-in shared memory per block, less 1 KiB for the static part,
/// with the kernel's dynamic limit raised to match; 4 096 (32 KiB, always allowed) when the
/// device does not say or refuses.
fn finish_capacity(ctx: &Arc<CudaContext>, f: &CudaFunction) -> u32 {
    use cudarc::driver::sys::{CUdevice_attribute, CUfunction_attribute};
    let optin = ctx
        .attribute(CUdevice_attribute::CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN)
        .unwrap_or(0);
    let fits = (u32::try_from(optin).unwrap_or(0).saturating_sub(1024) / 8).min(TAIL_FINISH_MAX);
    let cap = if fits == 0 { 0 } else { 1u32 << fits.ilog2() };
    if cap > 4096
        && f.set_attribute(
            CUfunction_attribute::CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES,
            (cap * 8) as i32,
        )
        .is_ok()
    {
        cap
    } else {
        4096
    }
}

/// FNV-1a 64, a stable hash for the cache key.
fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h = 0xcbf2_9ce4_8422_2325u64;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// Every kernel of the device module: the Monte Carlo kernel with its coefficient tables (the
/// CPU's, to the bit) and the price + Greeks kernel.
pub fn module_source() -> String {
    let mut s = mc_source();
    s.push_str(&format!(
        "#define GREEKS_PER_THREAD {}\n",
        greeks_per_thread()
    ));
    s.push_str(GREEKS_SOURCE);
    s.push_str(&iv_source());
    s.push_str(TAIL_SOURCE);
    s
}

/// The implied-volatility kernel with Cody's coefficient tables (the CPU's, to the bit); it
/// also needs the AS 241 tables of [`mc_source`].
pub fn iv_source() -> String {
    use wheelhouse_pricing::normal::{A, B, C, D, P, Q};
    // Cody's tables in the constant bank, where an FP64 instruction reads a coefficient as an
    // operand instead of first building it in two registers: 5 % faster on an H200
    // (BENCHMARKS.md, 2026-12-03); `-DIV_TABLE_GLOBAL` puts them in global memory.
    let mut s = String::from(
        "#ifdef IV_TABLE_GLOBAL\n#define IV_TABLE __device__ const\n#else\n#define IV_TABLE __constant__\n#endif\n",
    );
    for (name, c) in [
        ("CODY_A", &A[..]),
        ("CODY_B", &B[..]),
        ("CODY_C", &C[..]),
        ("CODY_D", &D[..]),
        ("CODY_P", &P[..]),
        ("CODY_Q", &Q[..]),
    ] {
        let v: Vec<String> = c.iter().map(|x| format!("{x:e}")).collect();
        s.push_str(&format!(
            "IV_TABLE double {name}[{}] = {{{}}};\n",
            c.len(),
            v.join(", ")
        ));
    }
    // The asymptotic series of region 1, row-major (n, m).
    let n = wheelhouse_pricing::iv::ASYM_N;
    let asym: Vec<String> = wheelhouse_pricing::iv::ASYM_C
        .iter()
        .flatten()
        .map(|x| format!("{x:e}"))
        .collect();
    s.push_str(&format!(
        "#define IV_ASYM_N {n}\n__device__ const double IV_ASYM_C[{}] = {{{}}};\n",
        n * n,
        asym.join(", ")
    ));
    s.push_str(IV_SOURCE);
    s
}

/// The implied-volatility kernel (`bsm_iv`) with every table it reads, on its own: what a host
/// C++ build of it needs (tests/iv_kernel.rs).
pub fn iv_kernel_source() -> String {
    let mut s = as241_tables();
    s.push_str(&iv_source());
    s
}

/// The Monte Carlo kernel with its coefficient tables (the CPU's, to the bit).
pub fn mc_source() -> String {
    let mut s = as241_tables();
    s.push_str(MC_SOURCE);
    s
}

/// The AS 241 coefficient tables (the CPU's, to the bit) that the Monte Carlo and IV kernels
/// read.
fn as241_tables() -> String {
    let arr = |name: &str, c: &[f64; 8]| {
        let v: Vec<String> = c.iter().map(|x| format!("{x:e}")).collect();
        format!("WH_TABLE double {name}[8] = {{{}}};\n", v.join(", "))
    };
    // The coefficient tables live in global memory (`__device__ const`, the default) or, with
    // `-DWH_TABLE=__constant__`, in the constant bank, where an FP64 instruction can read a
    // coefficient as an operand instead of first building it in registers (for tuning).
    let mut s = String::from("#ifndef WH_TABLE\n#define WH_TABLE __device__ const\n#endif\n");
    for (n, c) in [
        ("AS241_A", &AS241_A),
        ("AS241_B", &AS241_B),
        ("AS241_C", &AS241_C),
        ("AS241_D", &AS241_D),
        ("AS241_E", &AS241_E),
        ("AS241_F", &AS241_F),
    ] {
        s.push_str(&arr(n, c));
    }
    s
}

/// The American kernels (`american_values`, `american_combine`, `american_iv`) for `settings`:
/// the discretisation compiled in, with the CPU engine's quadrature rules and cosines to the
/// bit, after the IV kernel's source (its European solver starts the American one).
///
/// # Errors
/// Settings the CPU engine refuses ([`AmericanSettings::validate`]).
pub fn american_source(settings: &AmericanSettings) -> Result<String, String> {
    use wheelhouse_pricing::american::{FixedPointEquation, chebyshev_cosines, quadrature_rule};
    settings.validate().map_err(|e| e.to_string())?;
    let list = |v: &[f64]| {
        v.iter()
            .map(|x| format!("{x:e}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut s = as241_tables();
    s.push_str(&iv_source());
    let st = settings;
    let eq = match st.equation {
        FixedPointEquation::FpB => 0,
        FixedPointEquation::FpA => 1,
        FixedPointEquation::Auto => 2,
    };
    s.push_str(&format!(
        "#define AM_N {}\n#define AM_CI {}\n#define AM_LC {}\n#define AM_IT {}\n\
         #define AM_NEWTON {}\n#define AM_LF {}\n#define AM_P {}\n#define AM_EQ {eq}\n",
        st.nodes,
        st.coarse_iterations,
        st.coarse_points,
        st.iterations,
        st.newton_iterations,
        st.integration_points,
        st.premium_points,
    ));
    let cos = chebyshev_cosines(st.nodes).ok_or("settings.nodes out of range")?;
    s.push_str(&format!(
        "__constant__ double AM_COS[{}] = {{{}}};\n",
        cos.len(),
        list(cos)
    ));
    for (tag, l) in [
        ("RC", st.coarse_points),
        ("RF", st.integration_points),
        ("RP", st.premium_points),
    ] {
        let (sin, cs, w) = quadrature_rule(l).ok_or("quadrature points out of range")?;
        for (suffix, v) in [("S", sin), ("C", cs), ("W", w)] {
            s.push_str(&format!(
                "__constant__ double AM_{tag}_{suffix}[{l}] = {{{}}};\n",
                list(v)
            ));
        }
    }
    s.push_str(AMERICAN_SOURCE);
    Ok(s)
}

/// The cubin of `src` for `arch` from the disk cache (key: `name`, the hash of the source and
/// the extra NVRTC options, the architecture, NVRTC's version), or compiled by NVRTC and
/// written there; whether it came from the cache.
fn cached_cubin(name: &str, src: &str, arch: &str) -> Result<(Vec<u8>, bool), String> {
    let (nv_major, nv_minor) = nvrtc_version()?;
    let keyed = format!("{src}\n// {}", extra_nvrtc_options().join(" "));
    let key = format!(
        "{name}-{:016x}-{arch}-nvrtc{nv_major}.{nv_minor}.cubin",
        fnv1a(keyed.as_bytes())
    );
    let cached = cache_dir().map(|d| d.join(&key));
    if let Some(b) = cached.as_ref().and_then(|p| std::fs::read(p).ok())
        && !b.is_empty()
    {
        return Ok((b, true));
    }
    let b = compile_cubin(src, arch)?;
    if let Some(p) = &cached {
        // A cache that cannot be written only costs the next start a compile.
        // A name of its own per writer: two threads of one process may compile the same
        // module at once.
        static WRITERS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let writer = WRITERS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let tmp = p.with_extension(format!("tmp{}-{writer}", std::process::id()));
        if let Some(d) = p.parent()
            && std::fs::create_dir_all(d).is_ok()
            && std::fs::write(&tmp, &b).is_ok()
        {
            let _ = std::fs::rename(&tmp, p);
        }
    }
    Ok((b, false))
}

/// A dispatcher threshold in elements: `var` when it is set to a number, else `few` when the
/// CPU pool has at most 8 threads and `many` with more.
fn threshold(var: &str, cpu_threads: usize, few: usize, many: usize) -> usize {
    if let Some(n) = std::env::var(var).ok().and_then(|v| v.parse().ok()) {
        return n;
    }
    if cpu_threads <= 8 { few } else { many }
}

/// The American kernels of one engine setting (kernels/american.cu).
struct AmericanKernels {
    values: CudaFunction,
    combine: CudaFunction,
    iv: CudaFunction,
}

/// One engine setting's American kernels, once compiled.
type AmericanSlot = std::sync::Mutex<Option<Arc<AmericanKernels>>>;

/// American evaluations per option for price + Greeks (`AM_VARIANTS` in kernels/american.cu).
const AMERICAN_VARIANTS: usize = 7;
/// Options per launch of the American kernels (bounds the device scratch: 7 evaluations of
/// 28 bytes each per option).
const AMERICAN_CHUNK: usize = 1 << 20;

fn cache_dir() -> Option<PathBuf> {
    if let Some(d) = std::env::var_os("WHEELHOUSE_CUDA_CACHE") {
        return Some(PathBuf::from(d));
    }
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))?;
    Some(base.join("wheelhouse").join("cuda"))
}

fn nvrtc_version() -> Result<(i32, i32), String> {
    let (mut major, mut minor) = (0, 0);
    // SAFETY: NVRTC writes two ints through valid pointers.
    let r = unsafe { cudarc::nvrtc::sys::nvrtcVersion(&mut major, &mut minor) };
    r.result().map_err(|e| format!("nvrtcVersion: {e}"))?;
    Ok((major, minor))
}

/// Extra NVRTC options from `WHEELHOUSE_NVRTC_OPTIONS` (whitespace-separated, e.g.
/// `--maxrregcount=64`), for tuning on a given GPU; part of the kernel cache key.
fn extra_nvrtc_options() -> Vec<String> {
    std::env::var("WHEELHOUSE_NVRTC_OPTIONS")
        .map(|v| v.split_whitespace().map(str::to_string).collect())
        .unwrap_or_default()
}

/// Compiles `src` to a cubin for `arch` (e.g. `sm_90`) with NVRTC (plus the options of
/// `WHEELHOUSE_NVRTC_OPTIONS`).
pub fn compile_cubin(src: &str, arch: &str) -> Result<Vec<u8>, String> {
    use cudarc::nvrtc::{result, sys};
    let c_src = std::ffi::CString::new(src).map_err(|e| e.to_string())?;
    let prog = result::create_program(&c_src, None).map_err(|e| format!("nvrtc: {e}"))?;
    let mut opts = vec![
        format!("--gpu-architecture={arch}"),
        "--fmad=true".to_string(),
        "--std=c++17".to_string(),
    ];
    opts.extend(extra_nvrtc_options());
    // SAFETY: `prog` was just created and is destroyed below, once.
    let compiled = unsafe { result::compile_program(prog, &opts) };
    let out = match compiled {
        Ok(()) => {
            let mut size = 0usize;
            // SAFETY: `prog` compiled; NVRTC writes the size, then that many bytes.
            unsafe { sys::nvrtcGetCUBINSize(prog, &mut size) }
                .result()
                .map_err(|e| format!("nvrtcGetCUBINSize: {e}"))
                .and_then(|()| {
                    let mut buf = vec![0u8; size];
                    // SAFETY: `buf` has the size NVRTC reported.
                    unsafe { sys::nvrtcGetCUBIN(prog, buf.as_mut_ptr().cast()) }
                        .result()
                        .map_err(|e| format!("nvrtcGetCUBIN: {e}"))
                        .map(|()| buf)
                })
        }
        Err(e) => {
            // SAFETY: `prog` is valid until destroyed below.
            let log = unsafe { result::get_program_log(prog) }
                .map(|l| {
                    l.iter()
                        .map(|&c| c as u8 as char)
                        .filter(|&c| c != '\0')
                        .collect::<String>()
                })
                .unwrap_or_default();
            Err(format!("NVRTC compile failed ({e}): {log}"))
        }
    };
    // SAFETY: `prog` is valid and destroyed once.
    let _ = unsafe { result::destroy_program(prog) };
    out
}

impl CudaDevice {
    /// Opens device `ordinal` and readies its kernels.
    ///
    /// # Errors
    /// Missing libraries, no device, a driver or NVRTC error, as text.
    pub fn open(ordinal: usize) -> Result<CudaDevice, String> {
        libraries_present()?;
        let started = std::time::Instant::now();
        let ctx = CudaContext::new(ordinal).map_err(|e| format!("CUDA device {ordinal}: {e}"))?;
        let context_seconds = started.elapsed().as_secs_f64();
        let (major, minor) = ctx
            .compute_capability()
            .map_err(|e| format!("compute capability: {e}"))?;
        let name = ctx.name().unwrap_or_else(|_| "CUDA device".into());
        let sms = ctx
            .attribute(
                cudarc::driver::sys::CUdevice_attribute::CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT,
            )
            .unwrap_or(0);
        let arch = format!("sm_{major}{minor}");
        let (cubin, from_cache) = cached_cubin("kernels", &module_source(), &arch)?;
        let module = ctx
            .load_module(Ptx::from_binary(cubin))
            .map_err(|e| format!("loading the kernels: {e}"))?;
        let mc = module
            .load_function("mc_pnl")
            .map_err(|e| format!("mc_pnl: {e}"))?;
        let book_from_chain = module
            .load_function("mc_book_from_chain")
            .map_err(|e| format!("mc_book_from_chain: {e}"))?;
        let mut tail = Vec::with_capacity(5);
        for f in [
            "tail_scan",
            "tail_hist",
            "tail_threshold",
            "tail_gather",
            "tail_finish",
        ] {
            tail.push(module.load_function(f).map_err(|e| format!("{f}: {e}"))?);
        }
        let tail: [CudaFunction; 5] = tail.try_into().map_err(|_| "tail kernels".to_string())?;
        let finish_cap = finish_capacity(&ctx, &tail[4]);
        let greeks = module
            .load_function("bsm_greeks")
            .map_err(|e| format!("bsm_greeks: {e}"))?;
        let greeks_floor = module
            .load_function("bsm_greeks_floor")
            .map_err(|e| format!("bsm_greeks_floor: {e}"))?;
        let greeks_f32 = [
            module
                .load_function("bsm_greeks_f32")
                .map_err(|e| format!("bsm_greeks_f32: {e}"))?,
            module
                .load_function("bsm_greeks_f32_floor")
                .map_err(|e| format!("bsm_greeks_f32_floor: {e}"))?,
        ];
        let iv = module
            .load_function("bsm_iv")
            .map_err(|e| format!("bsm_iv: {e}"))?;
        let iv_deferred = module
            .load_function("bsm_iv_deferred")
            .map_err(|e| format!("bsm_iv_deferred: {e}"))?;
        let stream = ctx.default_stream();
        Ok(CudaDevice {
            ctx,
            stream,
            mc,
            book_from_chain,
            tail,
            finish_cap,
            greeks,
            greeks_floor,
            greeks_f32,
            greeks_per_thread: greeks_per_thread(),
            iv,
            iv_deferred,
            american: std::sync::Mutex::new(Vec::new()),
            staging: std::sync::Mutex::new(None),
            name,
            arch,
            sms,
            ready_seconds: started.elapsed().as_secs_f64(),
            context_seconds,
            kernels_seconds: started.elapsed().as_secs_f64() - context_seconds,
            from_cache,
        })
    }

    /// Free and total device memory, bytes.
    ///
    /// # Errors
    /// A driver error, as text.
    pub fn memory(&self) -> Result<(usize, usize), String> {
        self.ctx.mem_get_info().map_err(|e| e.to_string())
    }

    /// Refuses a batch of `n` elements of `bytes_each` device bytes that free memory cannot
    /// hold (the caller falls back to the CPU).
    fn check_fits(&self, n: usize, bytes_each: usize) -> Result<(), String> {
        let (free, _) = self.memory()?;
        if n.saturating_mul(bytes_each).saturating_add(1 << 20) > free {
            return Err(format!(
                "{n} options need {} bytes of device memory, {free} free",
                n.saturating_mul(bytes_each)
            ));
        }
        Ok(())
    }

    /// One thread per element, in blocks of `block` threads (`WHEELHOUSE_CUDA_BLOCK` — a
    /// multiple of 32 up to the kernel's `max` — overrides, for tuning).
    fn launch_config(n: usize, block: u32, max: u32) -> LaunchConfig {
        let block = std::env::var("WHEELHOUSE_CUDA_BLOCK")
            .ok()
            .and_then(|v| v.parse::<u32>().ok())
            .filter(|b| *b >= 32 && *b <= max && b % 32 == 0)
            .unwrap_or(block);
        blocks((n as u32).div_ceil(block), block)
    }

    /// `bsm_iv` on device-resident inputs: (volatilities, statuses), left on the device.
    fn run_iv(
        &self,
        d: &DeviceInputs,
        d_price: &CudaSlice<f64>,
    ) -> Result<(CudaSlice<f64>, CudaSlice<i32>), String> {
        let s = &self.stream;
        let e = |e: cudarc::driver::DriverError| e.to_string();
        // SAFETY: uninitialised device memory of `n` elements; `bsm_iv` and `bsm_iv_deferred`
        // write every element of both (a volatility or NaN, and a status) before anything
        // reads them.
        let mut d_iv = unsafe { s.alloc::<f64>(d.n) }.map_err(e)?;
        // SAFETY: as above.
        let mut d_st = unsafe { s.alloc::<i32>(d.n) }.map_err(e)?;
        let mut queue = IvQueue::new(s, d.n)?;
        self.launch_iv(d, d_price, &mut d_iv, &mut d_st, &mut queue)?;
        Ok((d_iv, d_st))
    }

    /// `bsm_iv` (and its deferred pass) into device buffers of `d.n` elements.
    fn launch_iv(
        &self,
        d: &DeviceInputs,
        d_price: &CudaSlice<f64>,
        d_iv: &mut CudaSlice<f64>,
        d_st: &mut CudaSlice<i32>,
        queue: &mut IvQueue,
    ) -> Result<(), String> {
        let n = d.n;
        if d_iv.len() < n || d_st.len() < n || d_price.len() < n {
            return Err("bsm_iv: a buffer is shorter than the batch".into());
        }
        let cols = [
            d_price.slice(..n),
            d.spot.slice(..n),
            d.strike.slice(..n),
            d.years.slice(..n),
            d.rate.slice(..n),
            d.dividend_yield.slice(..n),
        ];
        self.launch_iv_on(
            &self.stream,
            &d.kind.slice(..n),
            &cols,
            (&mut d_iv.slice_mut(..n), &mut d_st.slice_mut(..n)),
            queue,
        )
    }

    /// `bsm_iv` on stream `s` over the elements of `kind` (`cols`: price, spot, strike, years,
    /// rate, dividend yield, each as long), then `bsm_iv_deferred` for the lanes it queued, into
    /// `out` (volatilities, statuses); the queue's count is zeroed first.
    fn launch_iv_on(
        &self,
        s: &Arc<CudaStream>,
        kind: &CudaView<'_, i32>,
        cols: &[CudaView<'_, f64>; 6],
        out: (&mut CudaViewMut<'_, f64>, &mut CudaViewMut<'_, i32>),
        queue: &mut IvQueue,
    ) -> Result<(), String> {
        let m = kind.len();
        if cols.iter().any(|c| c.len() != m) || out.0.len() != m || out.1.len() != m {
            return Err("bsm_iv: columns of different lengths".into());
        }
        if queue.index.len() < m {
            return Err("bsm_iv: the deferred-lane queue is shorter than the batch".into());
        }
        if m == 0 {
            return Ok(());
        }
        let n_i = i32::try_from(m).map_err(|_| format!("{m} elements: too many"))?;
        s.memset_zeros(&mut queue.count)
            .map_err(|e| format!("bsm_iv queue: {e}"))?;
        let (iv, st) = out;
        let mut b = s.launch_builder(&self.iv);
        b.arg(&n_i).arg(kind);
        for c in cols {
            b.arg(c);
        }
        b.arg(&mut *iv)
            .arg(&mut *st)
            .arg(&mut queue.index)
            .arg(&mut queue.count);
        let cfg = Self::launch_config(m, 512, 512);
        let block = cfg.block_dim.0;
        // SAFETY: the arguments match `bsm_iv` in kernels/iv.cu one for one (n, the kind and
        // six input columns, the volatility and status outputs, the queue of at least `m`
        // indices and its zeroed count); every view holds `m` elements (checked above),
        // threads past `m` return at once, and the block size is within the kernel's launch
        // bounds (512, or the `WHEELHOUSE_CUDA_BLOCK` a tuning build with a smaller
        // IV_BLOCK_BOUND is run with).
        unsafe { b.launch(cfg) }.map_err(|e| format!("bsm_iv: {e}"))?;
        // The queue holds at most `m` lanes; a grid of two blocks an SM loops over them.
        let grid = (m as u32)
            .div_ceil(block)
            .min(2 * u32::try_from(self.sms.max(1)).unwrap_or(1));
        let mut b = s.launch_builder(&self.iv_deferred);
        b.arg(&queue.index).arg(&queue.count).arg(kind);
        for c in cols {
            b.arg(c);
        }
        b.arg(&mut *iv).arg(&mut *st);
        // SAFETY: the arguments match `bsm_iv_deferred` in kernels/iv.cu one for one (the
        // queue and its count, written by `bsm_iv` before this launch on the same stream: each
        // index below `m`; the kind and six input columns; the two outputs of `m` elements);
        // blocks of `bsm_iv`'s size, which shares the launch bound.
        unsafe { b.launch(blocks(grid, block)) }.map_err(|e| format!("bsm_iv_deferred: {e}"))?;
        Ok(())
    }

    /// `bsm_greeks` on device-resident inputs and volatilities; copies the nine columns into
    /// `out` (already sized) and returns the status codes.
    fn run_greeks(
        &self,
        d: &DeviceInputs,
        d_vol: &CudaSlice<f64>,
        out: &mut crate::GreeksBatch,
    ) -> Result<Vec<i32>, String> {
        let s = &self.stream;
        let e = |e: cudarc::driver::DriverError| e.to_string();
        let (outs, d_status) = self.launch_greeks(d, d_vol)?;
        for (dst, src) in out.columns_mut().into_iter().zip(&outs) {
            s.memcpy_dtoh(src, dst.as_mut_slice()).map_err(e)?;
        }
        s.clone_dtoh(&d_status).map_err(e)
    }

    /// `bsm_greeks` launched on device-resident inputs; the nine columns and the statuses
    /// stay on the device.
    fn launch_greeks(
        &self,
        d: &DeviceInputs,
        d_vol: &CudaSlice<f64>,
    ) -> Result<(Vec<CudaSlice<f64>>, CudaSlice<i32>), String> {
        let s = &self.stream;
        let e = |e: cudarc::driver::DriverError| e.to_string();
        let mut outs: Vec<CudaSlice<f64>> = (0..9)
            .map(|_| s.alloc_zeros::<f64>(d.n))
            .collect::<Result<_, _>>()
            .map_err(e)?;
        let mut d_status = s.alloc_zeros::<i32>(d.n).map_err(e)?;
        self.launch_greeks_into(false, d, d_vol, &mut outs, &mut d_status)?;
        Ok((outs, d_status))
    }

    /// `bsm_greeks` (or, with `floor`, `bsm_greeks_floor`: the same traffic, no math) into
    /// nine device columns and a status column of `d.n` elements each.
    fn launch_greeks_into(
        &self,
        floor: bool,
        d: &DeviceInputs,
        d_vol: &CudaSlice<f64>,
        outs: &mut [CudaSlice<f64>],
        d_status: &mut CudaSlice<i32>,
    ) -> Result<(), String> {
        let s = &self.stream;
        if outs.len() != 9
            || outs.iter().any(|o| o.len() < d.n)
            || d_status.len() < d.n
            || d_vol.len() < d.n
        {
            return Err("bsm_greeks: nine output columns of the batch's length needed".into());
        }
        let n_i = i32::try_from(d.n).map_err(|_| format!("{} elements: too many", d.n))?;
        let (f, per_thread) = if floor {
            (&self.greeks_floor, 1)
        } else {
            (&self.greeks, self.greeks_per_thread as usize)
        };
        let mut b = s.launch_builder(f);
        b.arg(&n_i)
            .arg(&d.kind)
            .arg(&d.spot)
            .arg(&d.strike)
            .arg(&d.years)
            .arg(&d.rate)
            .arg(&d.dividend_yield)
            .arg(d_vol);
        for o in outs.iter_mut() {
            b.arg(o);
        }
        b.arg(d_status);
        // SAFETY: the arguments match `bsm_greeks` in kernels/greeks.cu one for one (n, the
        // kind and six input columns, nine output columns, the status column), every buffer
        // holds at least `n` elements (checked above), the grid covers `n` at `per_thread`
        // elements per thread (the kernel's GREEKS_PER_THREAD), and elements past `n` are
        // skipped.
        unsafe { b.launch(Self::launch_config(d.n.div_ceil(per_thread), 256, 1024)) }
            .map_err(|e| format!("launch: {e}"))?;
        Ok(())
    }

    /// Seconds per launch, inputs already on the device (best of `reps`, each launch
    /// synchronised): the IV kernel alone, and IV then price + Greeks at those volatilities
    /// (the device-resident chain). For benchmarks: what the kernels cost once a chain lives
    /// on the device, transfers excluded.
    ///
    /// # Errors
    /// A driver error, as text.
    pub fn time_resident_iv(
        &self,
        input: &crate::IvInput<'_>,
        reps: usize,
    ) -> Result<(f64, f64), String> {
        let mut c = self.resident_chain(input)?;
        let (mut iv_best, mut chain_best) = (f64::INFINITY, f64::INFINITY);
        for _ in 0..reps.max(1) {
            let t = std::time::Instant::now();
            self.run_resident(&mut c, false)?;
            iv_best = iv_best.min(t.elapsed().as_secs_f64());
            let t = std::time::Instant::now();
            self.run_resident(&mut c, true)?;
            chain_best = chain_best.min(t.elapsed().as_secs_f64());
        }
        Ok((iv_best, chain_best))
    }

    /// Sustained load: the resident IV → price + Greeks chain launched back to back for
    /// `seconds`, each pair synchronised; returns (seconds since the start, seconds of that
    /// launch pair) for every pair, to see clocks fall under a power cap.
    ///
    /// # Errors
    /// A driver error, as text.
    pub fn sustain_resident_iv(
        &self,
        input: &crate::IvInput<'_>,
        seconds: f64,
    ) -> Result<Vec<(f64, f64)>, String> {
        let mut c = self.resident_chain(input)?;
        let start = std::time::Instant::now();
        let mut log = Vec::new();
        while start.elapsed().as_secs_f64() < seconds {
            let t = std::time::Instant::now();
            self.run_resident(&mut c, true)?;
            log.push((start.elapsed().as_secs_f64(), t.elapsed().as_secs_f64()));
        }
        Ok(log)
    }

    /// An IV batch's columns on the device with the chain's output buffers, allocated once
    /// (as a resident pipeline keeps them) by a first, synchronised run.
    fn resident_chain(&self, input: &crate::IvInput<'_>) -> Result<ResidentChain, String> {
        let n = input.len().map_err(|e| e.to_string())?;
        self.check_fits(n, 7 * 8 + 4 + 8 + 4 + 4 + 9 * 8 + 4)?;
        let s = &self.stream;
        let e = |e: cudarc::driver::DriverError| e.to_string();
        let d = DeviceInputs::of_iv(s, input)?;
        let price = s.clone_htod(input.price).map_err(e)?;
        let mut queue = IvQueue::new(s, n)?;
        // SAFETY: uninitialised device memory of `n` elements; `bsm_iv` and `bsm_iv_deferred`
        // write every element of both before anything reads them.
        let mut iv = unsafe { s.alloc::<f64>(n) }.map_err(e)?;
        // SAFETY: as above.
        let mut iv_status = unsafe { s.alloc::<i32>(n) }.map_err(e)?;
        self.launch_iv(&d, &price, &mut iv, &mut iv_status, &mut queue)?;
        let (greeks, greeks_status) = self.launch_greeks(&d, &iv)?;
        s.synchronize().map_err(e)?;
        Ok(ResidentChain {
            d,
            price,
            iv,
            iv_status,
            queue,
            greeks,
            greeks_status,
        })
    }

    /// One synchronised run of the resident IV kernel, then (`greeks`) price + Greeks at its
    /// volatilities.
    fn run_resident(&self, c: &mut ResidentChain, greeks: bool) -> Result<(), String> {
        self.launch_iv(&c.d, &c.price, &mut c.iv, &mut c.iv_status, &mut c.queue)?;
        if greeks {
            self.launch_greeks_into(false, &c.d, &c.iv, &mut c.greeks, &mut c.greeks_status)?;
        }
        self.stream.synchronize().map_err(|e| e.to_string())
    }

    /// Resident price + 8 Greeks on `batch` already on the device, outputs reused, timed by
    /// device events (best of `reps` launches): the kernel, its memory floor (the same columns
    /// read and written with no math) and a device-to-device copy of 1 GiB, so the kernel can
    /// be set against the bandwidth bound. The kernel reads 52 bytes per option (kind 4, six
    /// f64 columns) and writes 76 (nine f64 columns, status 4).
    ///
    /// # Errors
    /// A driver error, as text.
    pub fn time_resident_greeks(
        &self,
        batch: &crate::OptionBatch<'_>,
        reps: usize,
    ) -> Result<ResidentGreeksTiming, String> {
        let n = batch.len().map_err(|e| e.to_string())?;
        self.check_fits(n, 6 * 8 + 4 + 9 * 8 + 4)?;
        let s = &self.stream;
        let e = |e: cudarc::driver::DriverError| e.to_string();
        let d = DeviceInputs::of_batch(s, batch)?;
        let d_vol = s.clone_htod(batch.volatility).map_err(e)?;
        let (mut outs, mut st) = self.launch_greeks(&d, &d_vol)?;
        s.synchronize().map_err(e)?;
        let timed = |f: &mut dyn FnMut() -> Result<(), String>| -> Result<f64, String> {
            let flags = Some(cudarc::driver::sys::CUevent_flags::CU_EVENT_DEFAULT);
            let mut best = f64::INFINITY;
            for _ in 0..reps.max(1) {
                let a = s.record_event(flags).map_err(e)?;
                f()?;
                let b = s.record_event(flags).map_err(e)?;
                best = best.min(f64::from(a.elapsed_ms(&b).map_err(e)?) * 1e-3);
            }
            Ok(best)
        };
        let kernel = timed(&mut || self.launch_greeks_into(false, &d, &d_vol, &mut outs, &mut st))?;
        let floor = timed(&mut || self.launch_greeks_into(true, &d, &d_vol, &mut outs, &mut st))?;
        drop((outs, st, d, d_vol));
        let words = 1usize << 27; // 1 GiB of f64
        self.check_fits(words, 16)?;
        let src = s.alloc_zeros::<f64>(words).map_err(e)?;
        let mut dst = s.alloc_zeros::<f64>(words).map_err(e)?;
        s.synchronize().map_err(e)?;
        let copy = timed(&mut || s.memcpy_dtod(&src, &mut dst).map_err(e))?;
        Ok(ResidentGreeksTiming {
            kernel_seconds: kernel,
            floor_seconds: floor,
            bytes_per_option: 52.0 + 76.0,
            copy_bytes_per_second: 2.0 * (words * 8) as f64 / copy,
        })
    }
}

/// [`CudaDevice::time_resident_greeks`]: seconds per launch of the kernel and of its memory
/// floor, and the device's copy bandwidth (bytes read + written per second).
#[derive(Debug, Clone, Copy)]
pub struct ResidentGreeksTiming {
    /// The price + Greeks kernel.
    pub kernel_seconds: f64,
    /// The same traffic with no math.
    pub floor_seconds: f64,
    /// Bytes read and written per option.
    pub bytes_per_option: f64,
    /// A device-to-device copy, bytes read + written per second.
    pub copy_bytes_per_second: f64,
}

/// An IV batch resident on the device with the IV → price + Greeks chain's output buffers
/// (for [`CudaDevice::time_resident_iv`] and [`CudaDevice::sustain_resident_iv`]).
struct ResidentChain {
    d: DeviceInputs,
    price: CudaSlice<f64>,
    iv: CudaSlice<f64>,
    iv_status: CudaSlice<i32>,
    queue: IvQueue,
    greeks: Vec<CudaSlice<f64>>,
    greeks_status: CudaSlice<i32>,
}

/// `bsm_iv`'s queue of deferred lanes (region 1, solved by `bsm_iv_deferred`): room for an
/// index per element, and their count (zeroed before each launch).
struct IvQueue {
    index: CudaSlice<i32>,
    count: CudaSlice<i32>,
}

impl IvQueue {
    fn new(s: &Arc<CudaStream>, cap: usize) -> Result<IvQueue, String> {
        let e = |e: cudarc::driver::DriverError| format!("bsm_iv queue: {e}");
        Ok(IvQueue {
            // SAFETY: uninitialised device memory; `bsm_iv_deferred` reads only the entries
            // below the count, which `bsm_iv` wrote first on the same stream.
            index: unsafe { s.alloc::<i32>(cap.max(1)) }.map_err(e)?,
            count: s.alloc_zeros::<i32>(1).map_err(e)?,
        })
    }
}

/// Input columns on the device (kind as 0 = call, 1 = put).
struct DeviceInputs {
    n: usize,
    kind: CudaSlice<i32>,
    spot: CudaSlice<f64>,
    strike: CudaSlice<f64>,
    years: CudaSlice<f64>,
    rate: CudaSlice<f64>,
    dividend_yield: CudaSlice<f64>,
}

impl DeviceInputs {
    /// Uploads the six columns every kernel reads.
    fn upload(
        s: &Arc<CudaStream>,
        kind: &[OptionType],
        spot: &[f64],
        strike: &[f64],
        years: &[f64],
        rate: &[f64],
        dividend_yield: &[f64],
    ) -> Result<DeviceInputs, String> {
        let e = |e: cudarc::driver::DriverError| e.to_string();
        Ok(DeviceInputs {
            n: kind.len(),
            kind: s.clone_htod(&kind_codes(kind)).map_err(e)?,
            spot: s.clone_htod(spot).map_err(e)?,
            strike: s.clone_htod(strike).map_err(e)?,
            years: s.clone_htod(years).map_err(e)?,
            rate: s.clone_htod(rate).map_err(e)?,
            dividend_yield: s.clone_htod(dividend_yield).map_err(e)?,
        })
    }

    /// The columns of a price + Greeks batch (its volatilities uploaded apart).
    fn of_batch(s: &Arc<CudaStream>, b: &crate::OptionBatch<'_>) -> Result<DeviceInputs, String> {
        DeviceInputs::upload(
            s,
            b.kind,
            b.spot,
            b.strike,
            b.years,
            b.rate,
            b.dividend_yield,
        )
    }

    /// The columns of an IV batch (its prices uploaded apart).
    fn of_iv(s: &Arc<CudaStream>, i: &crate::IvInput<'_>) -> Result<DeviceInputs, String> {
        DeviceInputs::upload(
            s,
            i.kind,
            i.spot,
            i.strike,
            i.years,
            i.rate,
            i.dividend_yield,
        )
    }
}

/// An IV batch's columns for [`CudaDevice::staged`].
fn host_columns<'a>(input: &crate::IvInput<'a>) -> HostColumns<'a> {
    HostColumns {
        kind: input.kind,
        market: [
            input.spot,
            input.strike,
            input.years,
            input.rate,
            input.dividend_yield,
        ],
        x: input.price,
    }
}

fn kind_codes(kind: &[OptionType]) -> Vec<i32> {
    kind.iter()
        .map(|k| if *k == OptionType::Call { 0 } else { 1 })
        .collect()
}

/// Indices of non-zero status codes.
fn flagged(status: &[i32]) -> Vec<usize> {
    status
        .iter()
        .enumerate()
        .filter(|(_, c)| **c != 0)
        .map(|(i, _)| i)
        .collect()
}

/// What a staged host batch runs on each chunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Job {
    /// Price + Greeks at the given volatilities.
    Greeks,
    /// Implied volatility of the given prices.
    Iv,
    /// Implied volatility, then price + Greeks at it.
    IvGreeks,
}

/// A host batch for [`CudaDevice::staged`]: the kind, the five market columns (spot, strike,
/// years, rate, dividend yield) and the sixth input (volatility for [`Job::Greeks`], price
/// otherwise).
struct HostColumns<'a> {
    kind: &'a [OptionType],
    market: [&'a [f64]; 5],
    x: &'a [f64],
}

/// Pinned host staging and device buffers for [`CudaDevice::staged`], allocated once per device
/// and reused: two lanes, each with its own stream, so that one chunk's copies and kernels run
/// while the host fills or drains the other lane. Column c of a lane's buffers occupies
/// elements c·chunk … (c+1)·chunk.
struct Staging {
    chunk: usize,
    lanes: Vec<Lane>,
}

struct Lane {
    stream: Arc<CudaStream>,
    /// The six f64 inputs (write-combined: the host only writes them).
    h_in: PinnedHostSlice<f64>,
    h_kind: PinnedHostSlice<i32>,
    /// Ten outputs: IV, then price and the eight Greeks (cached: the host reads them).
    h_out: PinnedHostSlice<f64>,
    /// IV status, Greeks status.
    h_status: PinnedHostSlice<i32>,
    d_in: Vec<CudaSlice<f64>>,
    d_kind: CudaSlice<i32>,
    d_out: Vec<CudaSlice<f64>>,
    d_status: Vec<CudaSlice<i32>>,
    iv_queue: IvQueue,
    /// Elements of the chunk in flight on this lane (its results not yet drained).
    pending: Option<std::ops::Range<usize>>,
}

/// Elements per chunk of a staged batch: 2¹⁹ (a lane's buffers 76 MB on the host and as much on
/// the device), or `WHEELHOUSE_STAGING_CHUNK` (for tuning; at least 4 096).
fn staging_chunk() -> usize {
    std::env::var("WHEELHOUSE_STAGING_CHUNK")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .filter(|c| *c >= 4096)
        .unwrap_or(1 << 19)
}

/// Whether host batches go through the pinned, two-lane pipeline (the default) or the plain
/// path that uploads whole columns from pageable memory (`WHEELHOUSE_GPU_STAGING=0`, kept to
/// measure the difference).
fn staging_enabled() -> bool {
    std::env::var("WHEELHOUSE_GPU_STAGING").map_or(true, |v| v != "0")
}

impl Lane {
    fn new(ctx: &Arc<CudaContext>, chunk: usize) -> Result<Lane, String> {
        let e = |e: cudarc::driver::DriverError| e.to_string();
        let stream = ctx.new_stream().map_err(e)?;
        // SAFETY: pinned host memory is handed out uninitialised; every element the device
        // reads is written by the host first (`fill`), and the host reads only elements the
        // device has written (`drain`, after the lane's stream is synchronised).
        let h_in = unsafe { ctx.alloc_pinned::<f64>(6 * chunk) }.map_err(e)?;
        // SAFETY: as above.
        let h_kind = unsafe { ctx.alloc_pinned::<i32>(chunk) }.map_err(e)?;
        // SAFETY: as above; flags 0 (not write-combined): the host reads these.
        let h_out = unsafe { ctx.alloc_pinned_with_flags::<f64>(10 * chunk, 0) }.map_err(e)?;
        // SAFETY: as above.
        let h_status = unsafe { ctx.alloc_pinned_with_flags::<i32>(2 * chunk, 0) }.map_err(e)?;
        let f64s = |k: usize| -> Result<Vec<CudaSlice<f64>>, String> {
            (0..k)
                .map(|_| stream.alloc_zeros::<f64>(chunk).map_err(e))
                .collect()
        };
        Ok(Lane {
            d_in: f64s(6)?,
            d_kind: stream.alloc_zeros::<i32>(chunk).map_err(e)?,
            d_out: f64s(10)?,
            d_status: vec![
                stream.alloc_zeros::<i32>(chunk).map_err(e)?,
                stream.alloc_zeros::<i32>(chunk).map_err(e)?,
            ],
            iv_queue: IvQueue::new(&stream, chunk)?,
            stream,
            h_in,
            h_kind,
            h_out,
            h_status,
            pending: None,
        })
    }
}

impl CudaDevice {
    /// A host batch through the pinned two-lane pipeline: chunk by chunk, the host copies the
    /// inputs into a lane's pinned buffers, the lane's stream copies them up, runs the
    /// kernels and copies the results back, while the host works on the other lane. `outs`
    /// gets the job's output columns (IV; or price and the eight Greeks; or both, IV first);
    /// returns the elements any kernel left to the CPU, ascending.
    fn staged(
        &self,
        job: Job,
        input: &HostColumns<'_>,
        outs: &mut [&mut [f64]],
    ) -> Result<Vec<usize>, String> {
        let n = input.kind.len();
        let want = match job {
            Job::Greeks => 9,
            Job::Iv => 1,
            Job::IvGreeks => 10,
        };
        if outs.len() != want
            || outs.iter().any(|o| o.len() != n)
            || input.x.len() != n
            || input.market.iter().any(|c| c.len() != n)
        {
            return Err("staged batch: columns of different lengths".into());
        }
        let mut guard = self
            .staging
            .lock()
            .map_err(|_| "staging buffers poisoned".to_string())?;
        if guard.is_none() {
            let chunk = staging_chunk();
            // Both lanes' device buffers: 23 columns of f64/i32 per element (the last the IV
            // kernel's deferred-lane queue).
            self.check_fits(2 * chunk, 16 * 8 + 4 * 4)?;
            let lanes = (0..2)
                .map(|_| Lane::new(&self.ctx, chunk))
                .collect::<Result<Vec<_>, _>>()?;
            *guard = Some(Staging { chunk, lanes });
        }
        let st = guard.as_mut().ok_or("staging buffers")?;
        let chunk = st.chunk;
        let mut flagged = Vec::new();
        let result = (|| -> Result<(), String> {
            for (c, first) in (0..n).step_by(chunk).enumerate() {
                let range = first..(first + chunk).min(n);
                let lane = &mut st.lanes[c % 2];
                self.drain(job, lane, chunk, outs, &mut flagged)?;
                Self::fill(lane, chunk, input, range.clone())?;
                self.enqueue(job, lane, chunk, range.len())?;
                lane.pending = Some(range);
            }
            // The lane of the second-to-last chunk first: the flagged stay ascending.
            let last = n.div_ceil(chunk);
            for k in 0..2 {
                self.drain(
                    job,
                    &mut st.lanes[(last + k) % 2],
                    chunk,
                    outs,
                    &mut flagged,
                )?;
            }
            Ok(())
        })();
        if result.is_err() {
            // Leave no chunk half-tracked: the next batch starts from synchronised lanes.
            for lane in st.lanes.iter_mut() {
                let _ = lane.stream.synchronize();
                lane.pending = None;
            }
        }
        result.map(|()| flagged)
    }

    /// The host's copy of a chunk's inputs into a lane's pinned buffers (the lane has nothing
    /// in flight: `drain` ran first), a column per task.
    fn fill(
        lane: &mut Lane,
        chunk: usize,
        input: &HostColumns<'_>,
        range: std::ops::Range<usize>,
    ) -> Result<(), String> {
        use rayon::prelude::*;
        let e = |e: cudarc::driver::DriverError| e.to_string();
        let m = range.len();
        let kind = lane.h_kind.as_mut_slice().map_err(e)?;
        let h_in = lane.h_in.as_mut_slice().map_err(e)?;
        let sources = [
            input.market[0],
            input.market[1],
            input.market[2],
            input.market[3],
            input.market[4],
            input.x,
        ];
        rayon::join(
            || {
                for (d, k) in kind[..m].iter_mut().zip(&input.kind[range.clone()]) {
                    *d = if *k == OptionType::Call { 0 } else { 1 };
                }
            },
            || {
                h_in.par_chunks_mut(chunk)
                    .zip(sources.par_iter())
                    .for_each(|(dst, src)| dst[..m].copy_from_slice(&src[range.clone()]));
            },
        );
        Ok(())
    }

    /// A lane's chunk of `m` elements on its stream: inputs up, the job's kernels, outputs
    /// and statuses down into the lane's pinned buffers (all asynchronous to the host).
    fn enqueue(&self, job: Job, lane: &mut Lane, chunk: usize, m: usize) -> Result<(), String> {
        let e = |e: cudarc::driver::DriverError| e.to_string();
        let s = lane.stream.clone();
        // The copies from and to pinned memory are asynchronous: the host touches these
        // buffers again only after `drain` has synchronised the stream.
        let h_in = lane.h_in.as_slice().map_err(e)?;
        for (c, d) in lane.d_in.iter_mut().enumerate() {
            s.memcpy_htod(&h_in[c * chunk..c * chunk + m], &mut d.slice_mut(..m))
                .map_err(e)?;
        }
        let h_kind = lane.h_kind.as_slice().map_err(e)?;
        s.memcpy_htod(&h_kind[..m], &mut lane.d_kind.slice_mut(..m))
            .map_err(e)?;
        let n_i = i32::try_from(m).map_err(|_| format!("{m} elements: too many"))?;
        let inputs: Vec<_> = lane.d_in.iter().map(|d| d.slice(..m)).collect();
        let kind = lane.d_kind.slice(..m);
        let (iv_col, greeks_cols) = lane.d_out.split_at_mut(1);
        let (iv_status, greeks_status) = lane.d_status.split_at_mut(1);
        if job != Job::Greeks {
            let cols = [5, 0, 1, 2, 3, 4].map(|c| lane.d_in[c].slice(..m));
            self.launch_iv_on(
                &s,
                &kind,
                &cols,
                (
                    &mut iv_col[0].slice_mut(..m),
                    &mut iv_status[0].slice_mut(..m),
                ),
                &mut lane.iv_queue,
            )?;
        }
        if job != Job::Iv {
            let vol = if job == Job::Greeks {
                lane.d_in[5].slice(..m)
            } else {
                iv_col[0].slice(..m)
            };
            let mut outs: Vec<_> = greeks_cols.iter_mut().map(|d| d.slice_mut(..m)).collect();
            let mut st = greeks_status[0].slice_mut(..m);
            let mut b = s.launch_builder(&self.greeks);
            b.arg(&n_i).arg(&kind);
            for i in &inputs[..5] {
                b.arg(i);
            }
            b.arg(&vol);
            for o in outs.iter_mut() {
                b.arg(o);
            }
            b.arg(&mut st);
            let per_thread = self.greeks_per_thread as usize;
            // SAFETY: the arguments match `bsm_greeks` in kernels/greeks.cu one for one (n,
            // kind, spot, strike, years, rate, dividend yield, volatility, nine output
            // columns, status), every view holds `m` elements, the grid covers `m` at the
            // kernel's GREEKS_PER_THREAD and elements past `m` are skipped.
            unsafe { b.launch(Self::launch_config(m.div_ceil(per_thread), 256, 1024)) }
                .map_err(|e| format!("bsm_greeks: {e}"))?;
        }
        let h_out = lane.h_out.as_mut_slice().map_err(e)?;
        let h_status = lane.h_status.as_mut_slice().map_err(e)?;
        let cols = match job {
            Job::Greeks => 1..10,
            Job::Iv => 0..1,
            Job::IvGreeks => 0..10,
        };
        for c in cols {
            s.memcpy_dtoh(
                &lane.d_out[c].slice(..m),
                &mut h_out[c * chunk..c * chunk + m],
            )
            .map_err(e)?;
        }
        for c in 0..2 {
            if (c == 0 && job == Job::Greeks) || (c == 1 && job == Job::Iv) {
                continue;
            }
            s.memcpy_dtoh(
                &lane.d_status[c].slice(..m),
                &mut h_status[c * chunk..c * chunk + m],
            )
            .map_err(e)?;
        }
        Ok(())
    }

    /// Waits for a lane's chunk in flight, if any, copies its results to the caller's
    /// columns, a column per task, and appends the elements a kernel left to the CPU.
    fn drain(
        &self,
        job: Job,
        lane: &mut Lane,
        chunk: usize,
        outs: &mut [&mut [f64]],
        flagged: &mut Vec<usize>,
    ) -> Result<(), String> {
        use rayon::prelude::*;
        let Some(range) = lane.pending.take() else {
            return Ok(());
        };
        let e = |e: cudarc::driver::DriverError| e.to_string();
        lane.stream.synchronize().map_err(e)?;
        let m = range.len();
        let h_out = lane.h_out.as_slice().map_err(e)?;
        let h_status = lane.h_status.as_slice().map_err(e)?;
        let first_col = if job == Job::Greeks { 1 } else { 0 };
        rayon::join(
            || {
                outs.par_iter_mut().enumerate().for_each(|(j, o)| {
                    let c = first_col + j;
                    o[range.clone()].copy_from_slice(&h_out[c * chunk..c * chunk + m]);
                });
            },
            || {
                let iv = &h_status[..m];
                let gr = &h_status[chunk..chunk + m];
                for i in 0..m {
                    let code = match job {
                        Job::Greeks => gr[i],
                        Job::Iv => iv[i],
                        Job::IvGreeks => iv[i] | gr[i],
                    };
                    if code != 0 {
                        flagged.push(range.start + i);
                    }
                }
            },
        );
        Ok(())
    }
}

impl CudaDevice {
    /// The American kernels for `settings`: compiled on first use (or read from the disk
    /// cache), then kept.
    fn american_kernels(
        &self,
        settings: &AmericanSettings,
    ) -> Result<Arc<AmericanKernels>, String> {
        let slot = {
            let mut cache = self
                .american
                .lock()
                .map_err(|_| "American kernel cache poisoned".to_string())?;
            match cache.iter().find(|(st, _)| st == settings) {
                Some((_, slot)) => Arc::clone(slot),
                None => {
                    let slot = Arc::new(AmericanSlot::default());
                    cache.push((*settings, Arc::clone(&slot)));
                    slot
                }
            }
        };
        // Only this setting's slot is held while its kernels compile; a failure leaves it empty
        // for the next caller to try again.
        let mut kernels = slot
            .lock()
            .map_err(|_| "American kernel cache poisoned".to_string())?;
        if let Some(k) = kernels.as_ref() {
            return Ok(Arc::clone(k));
        }
        let started = std::time::Instant::now();
        let (cubin, from_cache) =
            cached_cubin("american", &american_source(settings)?, &self.arch)?;
        let module = self
            .ctx
            .load_module(Ptx::from_binary(cubin))
            .map_err(|e| format!("loading the American kernels: {e}"))?;
        let f = |name: &str| {
            module
                .load_function(name)
                .map_err(|e| format!("{name}: {e}"))
        };
        let k = Arc::new(AmericanKernels {
            values: f("american_values")?,
            combine: f("american_combine")?,
            iv: f("american_iv")?,
        });
        tracing::debug!(
            "American kernels for {settings:?} ready in {:.3} s ({})",
            started.elapsed().as_secs_f64(),
            if from_cache { "cached" } else { "compiled" }
        );
        *kernels = Some(Arc::clone(&k));
        Ok(k)
    }

    /// `american_values` (and with `greeks`, `american_combine`) on a batch, chunk by chunk:
    /// with `greeks`, the nine columns of `out` (already sized), else the prices into `out[0]`;
    /// returns the elements left to the CPU.
    fn run_american(
        &self,
        batch: &crate::OptionBatch<'_>,
        settings: &AmericanSettings,
        greeks: bool,
        out: &mut [&mut [f64]],
    ) -> Result<Vec<usize>, String> {
        let n = batch.len().map_err(|e| e.to_string())?;
        let k = self.american_kernels(settings)?;
        let variants = if greeks { AMERICAN_VARIANTS } else { 1 };
        let chunk = n.clamp(1, AMERICAN_CHUNK);
        self.check_fits(chunk, 7 * 8 + 4 + variants * 28 + 9 * 8 + 4)?;
        let s = &self.stream;
        let e = |e: cudarc::driver::DriverError| e.to_string();
        let mut left = Vec::new();
        let mut start = 0;
        while start < n {
            let end = (start + chunk).min(n);
            let m = end - start;
            let part = crate::OptionBatch {
                kind: &batch.kind[start..end],
                spot: &batch.spot[start..end],
                strike: &batch.strike[start..end],
                years: &batch.years[start..end],
                rate: &batch.rate[start..end],
                dividend_yield: &batch.dividend_yield[start..end],
                volatility: &batch.volatility[start..end],
                style: None,
            };
            let t_up = std::time::Instant::now();
            let d = DeviceInputs::of_batch(s, &part)?;
            let d_vol = s.clone_htod(part.volatility).map_err(e)?;
            s.synchronize().map_err(e)?;
            let up_s = t_up.elapsed().as_secs_f64();
            let t_kernels = std::time::Instant::now();
            // SAFETY: uninitialised device memory; `american_values` writes every one of its
            // `variants · m` elements (a value or NaN, and a flag) before anything reads them.
            let mut vp = unsafe { s.alloc::<f64>(variants * m) }.map_err(e)?;
            // SAFETY: as above.
            let mut vd = unsafe { s.alloc::<f64>(variants * m) }.map_err(e)?;
            // SAFETY: as above.
            let mut vg = unsafe { s.alloc::<f64>(variants * m) }.map_err(e)?;
            // SAFETY: as above.
            let mut vf = unsafe { s.alloc::<i32>(variants * m) }.map_err(e)?;
            let (m_i, v_i, g_i) = (m as i32, variants as i32, i32::from(greeks));
            let mut b = s.launch_builder(&k.values);
            b.arg(&m_i)
                .arg(&v_i)
                .arg(&g_i)
                .arg(&d.kind)
                .arg(&d.spot)
                .arg(&d.strike)
                .arg(&d.years)
                .arg(&d.rate)
                .arg(&d.dividend_yield)
                .arg(&d_vol)
                .arg(&mut vp)
                .arg(&mut vd)
                .arg(&mut vg)
                .arg(&mut vf);
            // SAFETY: the arguments match `american_values` in kernels/american.cu one for one
            // (n, variants, greeks, the kind and six input columns of `m` elements, three value
            // columns and a flag column of `variants · m`), threads past `variants · m` return
            // at once, and blocks are of the kernel's launch bound (128 threads).
            unsafe { b.launch(Self::launch_config(variants * m, 128, 128)) }
                .map_err(|e| format!("launch: {e}"))?;
            if greeks {
                let mut outs: Vec<CudaSlice<f64>> = (0..9)
                    // SAFETY: `american_combine` writes all `m` elements of each column.
                    .map(|_| unsafe { s.alloc::<f64>(m) })
                    .collect::<Result<_, _>>()
                    .map_err(e)?;
                // SAFETY: as above.
                let mut d_st = unsafe { s.alloc::<i32>(m) }.map_err(e)?;
                let mut b = s.launch_builder(&k.combine);
                b.arg(&m_i)
                    .arg(&d.spot)
                    .arg(&d.years)
                    .arg(&d.rate)
                    .arg(&d.dividend_yield)
                    .arg(&d_vol)
                    .arg(&vp)
                    .arg(&vd)
                    .arg(&vg)
                    .arg(&vf);
                for o in outs.iter_mut() {
                    b.arg(o);
                }
                b.arg(&mut d_st);
                // SAFETY: the arguments match `american_combine` one for one (n, five input
                // columns of `m`, the seven evaluations' columns of `7 · m`, nine output
                // columns and a status column of `m`); threads past `m` return at once.
                unsafe { b.launch(Self::launch_config(m, 256, 1024)) }
                    .map_err(|e| format!("launch: {e}"))?;
                s.synchronize().map_err(e)?;
                tracing::debug!(
                    "American price + Greeks: {m} options, upload {up_s:.6} s, kernels {:.6} s",
                    t_kernels.elapsed().as_secs_f64()
                );
                for (dst, src) in out.iter_mut().zip(&outs) {
                    s.memcpy_dtoh(src, &mut dst[start..end]).map_err(e)?;
                }
                let st = s.clone_dtoh(&d_st).map_err(e)?;
                left.extend(flagged(&st).into_iter().map(|j| start + j));
            } else {
                s.synchronize().map_err(e)?;
                tracing::debug!(
                    "American prices: {m} options, upload {up_s:.6} s, kernel {:.6} s",
                    t_kernels.elapsed().as_secs_f64()
                );
                s.memcpy_dtoh(&vp, &mut out[0][start..end]).map_err(e)?;
                let fl = s.clone_dtoh(&vf).map_err(e)?;
                // The exercise bit (4) is not a failure.
                left.extend(
                    fl.iter()
                        .enumerate()
                        .filter(|(_, f)| **f & !4 != 0)
                        .map(|(j, _)| start + j),
                );
            }
            start = end;
        }
        Ok(left)
    }
}

/// Single-precision input columns on the device.
struct DeviceInputsF32 {
    n: usize,
    kind: CudaSlice<i32>,
    cols: Vec<CudaSlice<f32>>,
}

impl CudaDevice {
    /// Uploads a single-precision batch.
    fn upload_f32(&self, b: &crate::OptionBatchF32<'_>) -> Result<DeviceInputsF32, String> {
        let s = &self.stream;
        let e = |e: cudarc::driver::DriverError| e.to_string();
        let n = b.len().map_err(|e| e.to_string())?;
        let mut cols = Vec::with_capacity(6);
        for c in [
            b.spot,
            b.strike,
            b.years,
            b.rate,
            b.dividend_yield,
            b.volatility,
        ] {
            cols.push(s.clone_htod(c).map_err(e)?);
        }
        Ok(DeviceInputsF32 {
            n,
            kind: s.clone_htod(&kind_codes(b.kind)).map_err(e)?,
            cols,
        })
    }

    /// `bsm_greeks_f32` (or with `floor` its memory floor) into nine columns and a status
    /// column of `d.n` elements.
    fn launch_greeks_f32(
        &self,
        floor: bool,
        d: &DeviceInputsF32,
        outs: &mut [CudaSlice<f32>],
        st: &mut CudaSlice<i32>,
    ) -> Result<(), String> {
        if outs.len() != 9 || outs.iter().any(|o| o.len() < d.n) || st.len() < d.n {
            return Err("bsm_greeks_f32: nine output columns of the batch's length needed".into());
        }
        let n_i = i32::try_from(d.n).map_err(|_| format!("{} elements: too many", d.n))?;
        let mut b = self
            .stream
            .launch_builder(&self.greeks_f32[usize::from(floor)]);
        b.arg(&n_i).arg(&d.kind);
        for c in &d.cols {
            b.arg(c);
        }
        for o in outs.iter_mut() {
            b.arg(o);
        }
        b.arg(st);
        // SAFETY: the arguments match `bsm_greeks_f32` (and its floor) in kernels/greeks.cu one
        // for one (n, the kind and six f32 input columns, nine f32 output columns, the status),
        // every buffer holds at least `n` elements (checked above), threads past `n` return.
        unsafe { b.launch(Self::launch_config(d.n, 256, 1024)) }
            .map_err(|e| format!("launch: {e}"))?;
        Ok(())
    }

    /// Device output buffers for `n` options: nine f32 columns and the statuses.
    fn f32_outputs(&self, n: usize) -> Result<(Vec<CudaSlice<f32>>, CudaSlice<i32>), String> {
        let s = &self.stream;
        let e = |e: cudarc::driver::DriverError| e.to_string();
        let outs = (0..9)
            .map(|_| s.alloc_zeros::<f32>(n))
            .collect::<Result<Vec<_>, _>>()
            .map_err(e)?;
        Ok((outs, s.alloc_zeros::<i32>(n).map_err(e)?))
    }

    /// Seconds per launch of the fp32 price + Greeks kernel and of its memory floor, inputs
    /// resident (best of `reps`, device events), with bytes per option: what the fp32 mode
    /// costs once a batch lives on the device.
    ///
    /// # Errors
    /// A driver error, as text.
    pub fn time_resident_greeks_f32(
        &self,
        batch: &crate::OptionBatchF32<'_>,
        reps: usize,
    ) -> Result<ResidentGreeksTiming, String> {
        let n = batch.len().map_err(|e| e.to_string())?;
        self.check_fits(n, 6 * 4 + 4 + 9 * 4 + 4)?;
        let s = &self.stream;
        let e = |e: cudarc::driver::DriverError| e.to_string();
        let d = self.upload_f32(batch)?;
        let (mut outs, mut st) = self.f32_outputs(n)?;
        let flags = Some(cudarc::driver::sys::CUevent_flags::CU_EVENT_DEFAULT);
        let mut best = [f64::INFINITY; 2];
        for _ in 0..reps.max(1) {
            for (floor, b) in [false, true].into_iter().zip(best.iter_mut()) {
                let a = s.record_event(flags).map_err(e)?;
                self.launch_greeks_f32(floor, &d, &mut outs, &mut st)?;
                let z = s.record_event(flags).map_err(e)?;
                *b = b.min(f64::from(a.elapsed_ms(&z).map_err(e)?) * 1e-3);
            }
        }
        Ok(ResidentGreeksTiming {
            kernel_seconds: best[0],
            floor_seconds: best[1],
            bytes_per_option: 28.0 + 40.0,
            copy_bytes_per_second: f64::NAN,
        })
    }
}

impl Accelerator for CudaDevice {
    fn min_greeks(&self, cpu_threads: usize) -> usize {
        // Measured end to end on an H200 host (BENCHMARKS.md, 2026-12-03), host columns into
        // reused outputs through the pinned staging: the GPU does 10 M chain options in
        // 40–46 ms and 1 M in 4.6 ms, the host's transfers being most of it. 4 CPU threads take
        // 1.0 ms for 100 k (a tie) and 12.9 ms for 1 M (the GPU 2.8× faster); 16 threads take
        // 32.5 ms for 10 M and win at every size. So: the device from 200 k options when the
        // pool has at most 8 threads, never otherwise. `WHEELHOUSE_GPU_GREEKS_MIN=N` overrides.
        threshold(
            "WHEELHOUSE_GPU_GREEKS_MIN",
            cpu_threads,
            200_000,
            usize::MAX,
        )
    }

    fn greeks(
        &self,
        batch: &crate::OptionBatch<'_>,
        out: &mut crate::GreeksBatch,
    ) -> Result<Vec<usize>, String> {
        let n = batch.len().map_err(|e| e.to_string())?;
        if staging_enabled() {
            let mut cols: Vec<&mut [f64]> = out
                .columns_mut()
                .into_iter()
                .map(Vec::as_mut_slice)
                .collect();
            let input = HostColumns {
                kind: batch.kind,
                market: [
                    batch.spot,
                    batch.strike,
                    batch.years,
                    batch.rate,
                    batch.dividend_yield,
                ],
                x: batch.volatility,
            };
            return self.staged(Job::Greeks, &input, &mut cols);
        }
        self.check_fits(n, 7 * 8 + 4 + 9 * 8 + 4)?;
        let s = &self.stream;
        let e = |e: cudarc::driver::DriverError| e.to_string();
        let d = DeviceInputs::of_batch(s, batch)?;
        let d_v = s.clone_htod(batch.volatility).map_err(e)?;
        let status = self.run_greeks(&d, &d_v, out)?;
        Ok(flagged(&status))
    }

    fn min_greeks_f32(&self, cpu_threads: usize) -> usize {
        // Measured on an H200 host (BENCHMARKS.md, 2026-12-03, fifth session): resident, the
        // fp32 kernel is 1.77× faster than fp64 (10 M chain options in 0.188 ms), but from
        // host columns the copies dominate: 1 M in 11.5–13.3 ms, 10 M in 151 ms. The CPU's
        // rounded fp64 reference takes 1 M in 4.2 ms on 16 threads and 15.9 ms on 4, 10 M in
        // 35 ms on 16. So: the device from 1 M options when the pool has at most 8 threads,
        // never with more. `WHEELHOUSE_GPU_GREEKS_F32_MIN=N` overrides.
        threshold(
            "WHEELHOUSE_GPU_GREEKS_F32_MIN",
            cpu_threads,
            1_000_000,
            usize::MAX,
        )
    }

    fn greeks_f32(
        &self,
        batch: &crate::OptionBatchF32<'_>,
        out: &mut crate::GreeksBatchF32,
    ) -> Result<Vec<usize>, String> {
        let n = batch.len().map_err(|e| e.to_string())?;
        self.check_fits(n, 6 * 4 + 4 + 9 * 4 + 4)?;
        let s = &self.stream;
        let e = |e: cudarc::driver::DriverError| e.to_string();
        let d = self.upload_f32(batch)?;
        // SAFETY: `bsm_greeks_f32` writes every element of every column before it is read.
        let mut outs = (0..9)
            .map(|_| unsafe { s.alloc::<f32>(n) })
            .collect::<Result<Vec<_>, _>>()
            .map_err(e)?;
        // SAFETY: as above.
        let mut st = unsafe { s.alloc::<i32>(n) }.map_err(e)?;
        self.launch_greeks_f32(false, &d, &mut outs, &mut st)?;
        for (dst, src) in out.columns_mut().into_iter().zip(&outs) {
            s.memcpy_dtoh(src, dst.as_mut_slice()).map_err(e)?;
        }
        let status = s.clone_dtoh(&st).map_err(e)?;
        Ok(flagged(&status))
    }

    fn min_iv(&self, cpu_threads: usize) -> usize {
        // Measured on an H200 host (BENCHMARKS.md, 2026-12-03), host columns in and out
        // through the pinned staging, the elements the kernel leaves solved on the CPU: against
        // 4 CPU threads the device is 1.6× faster at 10 k chain quotes and 4–6× from 100 k;
        // against 16 threads it loses at 10 k (0.38 vs 0.31 ms) and wins from 100 k (1.09 vs
        // 1.47 ms; 2.2× at 10 M). So: the device from 10 k elements when the pool has at most
        // 8 threads, from 100 k otherwise. `WHEELHOUSE_GPU_IV_MIN=N` overrides.
        threshold("WHEELHOUSE_GPU_IV_MIN", cpu_threads, 10_000, 100_000)
    }

    fn implied_volatility(
        &self,
        input: &crate::IvInput<'_>,
        out: &mut crate::IvBatch,
    ) -> Result<Vec<usize>, String> {
        let n = input.len().map_err(|e| e.to_string())?;
        if staging_enabled() {
            let mut cols: Vec<&mut [f64]> = vec![&mut out.implied_volatility];
            return self.staged(Job::Iv, &host_columns(input), &mut cols);
        }
        self.check_fits(n, 7 * 8 + 4 + 8 + 4 + 4)?;
        let s = &self.stream;
        let e = |e: cudarc::driver::DriverError| e.to_string();
        let d = DeviceInputs::of_iv(s, input)?;
        let d_p = s.clone_htod(input.price).map_err(e)?;
        let (d_iv, d_st) = self.run_iv(&d, &d_p)?;
        s.memcpy_dtoh(&d_iv, out.implied_volatility.as_mut_slice())
            .map_err(e)?;
        let status = s.clone_dtoh(&d_st).map_err(e)?;
        Ok(flagged(&status))
    }

    fn iv_greeks(
        &self,
        input: &crate::IvInput<'_>,
        iv: &mut crate::IvBatch,
        greeks: &mut crate::GreeksBatch,
    ) -> Result<Vec<usize>, String> {
        let n = input.len().map_err(|e| e.to_string())?;
        if staging_enabled() {
            let mut cols: Vec<&mut [f64]> = std::iter::once(&mut iv.implied_volatility)
                .chain(greeks.columns_mut())
                .map(Vec::as_mut_slice)
                .collect();
            return self.staged(Job::IvGreeks, &host_columns(input), &mut cols);
        }
        self.check_fits(n, 7 * 8 + 4 + 8 + 4 + 4 + 9 * 8 + 4)?;
        let s = &self.stream;
        let e = |e: cudarc::driver::DriverError| e.to_string();
        let d = DeviceInputs::of_iv(s, input)?;
        let d_p = s.clone_htod(input.price).map_err(e)?;
        // The volatilities never leave the device between the two kernels (same stream).
        let (d_iv, d_iv_status) = self.run_iv(&d, &d_p)?;
        let greeks_status = self.run_greeks(&d, &d_iv, greeks)?;
        s.memcpy_dtoh(&d_iv, iv.implied_volatility.as_mut_slice())
            .map_err(e)?;
        let iv_status = s.clone_dtoh(&d_iv_status).map_err(e)?;
        Ok(iv_status
            .iter()
            .zip(&greeks_status)
            .enumerate()
            .filter(|(_, (a, b))| **a != 0 || **b != 0)
            .map(|(i, _)| i)
            .collect())
    }

    fn min_american(&self, task: AmericanTask, cpu_threads: usize) -> usize {
        // Measured end to end on an H200 host (BENCHMARKS.md, 2026-12-03, fifth session), chain
        // quotes, accurate settings. A launch with its copies costs the device about 1 ms, and
        // one thread per option makes a small batch as slow as its slowest option (an implied
        // volatility is several sequential boundary solves: 5–12 ms for up to 1 000 options).
        // * price + Greeks (seven solves an option): the device wins from 16 options against 4
        //   CPU threads (2.0×) and against 16 (1.4×), 18× at 1 000;
        // * prices: from 128 against 4 threads (1.5×; 0.8× at 64), from 1 000 against 16
        //   (2.3×; 0.8× at 256);
        // * implied volatility: from 1 000 against 4 threads (1.8×; 0.7× at 256), between
        //   1 000 (0.6×) and 10 000 (3.3×) against 16.
        // `WHEELHOUSE_GPU_AMERICAN_MIN=N` overrides all three.
        let (few, many) = match task {
            AmericanTask::Greeks => (16, 32),
            AmericanTask::Prices => (128, 1_000),
            AmericanTask::ImpliedVolatility => (1_000, 4_000),
        };
        threshold("WHEELHOUSE_GPU_AMERICAN_MIN", cpu_threads, few, many)
    }

    fn american_greeks(
        &self,
        batch: &crate::OptionBatch<'_>,
        settings: &AmericanSettings,
        out: &mut crate::GreeksBatch,
    ) -> Result<Vec<usize>, String> {
        let mut cols: Vec<&mut [f64]> = out
            .columns_mut()
            .into_iter()
            .map(Vec::as_mut_slice)
            .collect();
        self.run_american(batch, settings, true, &mut cols)
    }

    fn american_prices(
        &self,
        batch: &crate::OptionBatch<'_>,
        settings: &AmericanSettings,
        out: &mut [f64],
    ) -> Result<Vec<usize>, String> {
        self.run_american(batch, settings, false, &mut [out])
    }

    fn american_iv(
        &self,
        input: &crate::IvInput<'_>,
        settings: &AmericanSettings,
        out: &mut [f64],
    ) -> Result<Vec<usize>, String> {
        let n = input.len().map_err(|e| e.to_string())?;
        let k = self.american_kernels(settings)?;
        self.check_fits(n, 7 * 8 + 4 + 8 + 4)?;
        let s = &self.stream;
        let e = |e: cudarc::driver::DriverError| e.to_string();
        let d = DeviceInputs::of_iv(s, input)?;
        let d_p = s.clone_htod(input.price).map_err(e)?;
        // SAFETY: `american_iv` writes every element of both before anything reads them.
        let mut d_iv = unsafe { s.alloc::<f64>(n) }.map_err(e)?;
        // SAFETY: as above.
        let mut d_st = unsafe { s.alloc::<i32>(n) }.map_err(e)?;
        let n_i = i32::try_from(n).map_err(|_| format!("{n} elements: too many"))?;
        let t_kernel = std::time::Instant::now();
        let mut b = s.launch_builder(&k.iv);
        b.arg(&n_i)
            .arg(&d.kind)
            .arg(&d_p)
            .arg(&d.spot)
            .arg(&d.strike)
            .arg(&d.years)
            .arg(&d.rate)
            .arg(&d.dividend_yield)
            .arg(&mut d_iv)
            .arg(&mut d_st);
        // SAFETY: the arguments match `american_iv` in kernels/american.cu one for one (n, the
        // kind, the price and five market columns, the volatility and status outputs), every
        // buffer holds `n` elements, threads past `n` return at once, and blocks are of the
        // kernel's launch bound (128 threads).
        unsafe { b.launch(Self::launch_config(n, 128, 128)) }
            .map_err(|e| format!("launch: {e}"))?;
        s.synchronize().map_err(e)?;
        tracing::debug!(
            "American IV: {n} options, kernel {:.6} s",
            t_kernel.elapsed().as_secs_f64()
        );
        s.memcpy_dtoh(&d_iv, out).map_err(e)?;
        let st = s.clone_dtoh(&d_st).map_err(e)?;
        Ok(flagged(&st))
    }

    fn describe(&self) -> String {
        format!("{} ({}, {} SMs)", self.name, self.arch, self.sms)
    }

    fn min_paths(&self) -> usize {
        // Measured on an H200 host (BENCHMARKS.md): a first launch in a process costs ~11 ms
        // (uploads, module warm-up), a warm 1 M-path batch 6 ms; 16 CPU threads do 10 k paths
        // in 2.5 ms and 100 k in 16 ms. Below this many paths the CPU is as fast or faster.
        65_536
    }

    fn mc_pnl(&self, book: &McBook<'_>, first_path: u64, out: &mut [f64]) -> Result<(), String> {
        let n = out.len();
        let (free, _) = self.memory()?;
        if n * 8 + 4096 > free {
            return Err(format!(
                "{n} paths need {} bytes of device memory, {free} free",
                n * 8
            ));
        }
        let db = McDeviceBook::upload(&self.stream, book)?;
        let s = &self.stream;
        let e = |e: cudarc::driver::DriverError| e.to_string();
        let mut d_out = s.alloc_zeros::<f64>(n.max(1)).map_err(e)?;
        self.launch_mc(&db, first_path, n, &mut d_out.slice_mut(..))?;
        let host = s.clone_dtoh(&d_out).map_err(e)?;
        out.copy_from_slice(&host[..n]);
        if let Some(i) = out.iter().position(|v| !v.is_finite()) {
            return Err(format!(
                "path {} gave a non-finite P&L on the device",
                first_path + i as u64
            ));
        }
        Ok(())
    }

    fn mc_tail(
        &self,
        book: &McBook<'_>,
        paths: usize,
        spec: &crate::TailSpec,
        per_launch: usize,
        progress: &mut dyn FnMut(u64),
    ) -> Result<crate::McTail, String> {
        let db = McDeviceBook::upload(&self.stream, book)?;
        self.tail_run(&db, paths, spec, per_launch, progress)
    }

    fn has_chain_risk(&self) -> bool {
        true
    }

    fn chain_risk(
        &self,
        chain: &crate::ChainBook<'_>,
        columns: &mut crate::ChainBookColumns,
        iv: &mut crate::IvBatch,
        greeks: &mut crate::GreeksBatch,
        paths: usize,
        spec: &crate::TailSpec,
        per_launch: usize,
        progress: &mut dyn FnMut(u64),
    ) -> Result<(Vec<usize>, Option<crate::McTail>), String> {
        let input = &chain.quotes;
        let n = input.len().map_err(|e| e.to_string())?;
        // What the gather and the book's upload rely on (`Backend::chain_risk` checked it; this
        // method is public).
        let no = chain.option_quote.len();
        if chain.option_quote.iter().any(|&q| q >= n)
            || columns.vol.len() != no
            || columns.value_now.len() != no
            || columns.kind.len() != no
        {
            return Err("chain risk: a position's quote or column is out of range".into());
        }
        if chain.spot.len() > MC_MAX_UNDERLYINGS {
            return Err(format!(
                "{} underlyings: the kernel handles {MC_MAX_UNDERLYINGS}",
                chain.spot.len()
            ));
        }
        if staging_enabled() {
            // The chain through the pinned two-lane pipeline (IV then price + Greeks per chunk,
            // the volatilities staying on the device between the two), its outputs back to the
            // caller as they must come anyway; the book's few volatilities and values picked
            // from them go up with the book. 1.4–1.7× faster than keeping whole columns
            // resident from pageable memory and gathering on the device (the path below,
            // `WHEELHOUSE_GPU_STAGING=0`; BENCHMARKS.md, 2026-12-03, sixth session).
            let flagged = self.iv_greeks(input, iv, greeks)?;
            for (o, &q) in chain.option_quote.iter().enumerate() {
                let (v, p) = if flagged.binary_search(&q).is_ok() {
                    match crate::chain_risk::solve_quote(input, q) {
                        Ok(vp) => vp,
                        // The caller reports it from the chain's statuses.
                        Err(_) => return Ok((flagged, None)),
                    }
                } else {
                    (iv.implied_volatility[q], greeks.price[q])
                };
                columns.vol[o] = v;
                columns.value_now[o] = p;
            }
            let db = McDeviceBook::upload(&self.stream, &chain.book(columns))?;
            let tail = self.tail_run(&db, paths, spec, per_launch, progress)?;
            return Ok((flagged, Some(tail)));
        }
        self.check_fits(n, 7 * 8 + 4 + 8 + 4 + 4 + 9 * 8 + 4)?;
        let s = &self.stream;
        let e = |e: cudarc::driver::DriverError| e.to_string();
        // The chain: one upload, IV then price + Greeks at it (same stream, on the device).
        let d = DeviceInputs::of_iv(s, input)?;
        let d_p = s.clone_htod(input.price).map_err(e)?;
        let (d_iv, d_iv_status) = self.run_iv(&d, &d_p)?;
        let (outs, d_g_status) = self.launch_greeks(&d, &d_iv)?;
        // The book, its volatilities and values gathered from the chain's outputs.
        let mut db = McDeviceBook::upload(s, &chain.book(columns))?;
        let mut unsolved = false;
        if no > 0 {
            debug_assert!(db.f_at[BOOK_VOL].1 == no && db.f_at[BOOK_VALUE].1 == no);
            let quote: Vec<i32> = chain
                .option_quote
                .iter()
                .map(|&q| i32::try_from(q).map_err(|_| format!("quote {q}: too many")))
                .collect::<Result<_, _>>()?;
            let d_quote = s.clone_htod(&quote).map_err(e)?;
            let mut picked = s.alloc_zeros::<f64>(2 * no).map_err(e)?;
            let mut flag = s.alloc_zeros::<i32>(no).map_err(e)?;
            let (vol_at, value_at) = (db.f_at[BOOK_VOL].0, db.f_at[BOOK_VALUE].0);
            let no_i = i32::try_from(no).map_err(|_| format!("{no} options: too many"))?;
            let (vol_at_i, value_at_i) = (
                i32::try_from(vol_at).map_err(|_| "book too long".to_string())?,
                i32::try_from(value_at).map_err(|_| "book too long".to_string())?,
            );
            let mut b = s.launch_builder(&self.book_from_chain);
            b.arg(&no_i)
                .arg(&d_quote)
                .arg(&d_iv)
                .arg(&d_iv_status)
                .arg(&outs[0])
                .arg(&d_g_status)
                .arg(&chain.vol_shock)
                .arg(&mut db.f)
                .arg(&vol_at_i)
                .arg(&value_at_i)
                .arg(&mut picked)
                .arg(&mut flag);
            // SAFETY: matches `mc_book_from_chain(int, const int*, const double*, const int*,
            // const double*, const int*, double, double*, int, int, double*, int*)` in
            // kernels/mc.cu; `quote` holds `no` indices below the chain's length (checked by
            // `ChainBook::terms`), the chain's columns hold `n` elements, the book's option
            // columns at `vol_at` and `value_at` hold `no` each, `picked` 2·no and `flag` no.
            unsafe { b.launch(blocks((no as u32).div_ceil(128), 128)) }
                .map_err(|e| format!("mc_book_from_chain: {e}"))?;
            let picked = s.clone_dtoh(&picked).map_err(e)?;
            let flag = s.clone_dtoh(&flag).map_err(e)?;
            for o in 0..no {
                let (mut v, mut p) = (picked[2 * o], picked[2 * o + 1]);
                if flag[o] != 0 {
                    // A quote the device left: the CPU's solver, patched into the book.
                    let q = chain.option_quote[o];
                    match crate::chain_risk::solve_quote(input, q) {
                        Ok(vp) => (v, p) = vp,
                        Err(_) => {
                            unsolved = true;
                            continue;
                        }
                    }
                    let vs = [v + chain.vol_shock];
                    s.memcpy_htod(&vs, &mut db.f.slice_mut(vol_at + o..vol_at + o + 1))
                        .map_err(e)?;
                    s.memcpy_htod(&[p], &mut db.f.slice_mut(value_at + o..value_at + o + 1))
                        .map_err(e)?;
                }
                columns.vol[o] = v;
                columns.value_now[o] = p;
            }
        }
        // The chain's outputs back to the caller, then the run.
        s.memcpy_dtoh(&d_iv, iv.implied_volatility.as_mut_slice())
            .map_err(e)?;
        for (dst, src) in greeks.columns_mut().into_iter().zip(&outs) {
            s.memcpy_dtoh(src, dst.as_mut_slice()).map_err(e)?;
        }
        let iv_status = s.clone_dtoh(&d_iv_status).map_err(e)?;
        let g_status = s.clone_dtoh(&d_g_status).map_err(e)?;
        drop((d, d_p, d_iv, d_iv_status, outs, d_g_status));
        let flagged = iv_status
            .iter()
            .zip(&g_status)
            .enumerate()
            .filter(|(_, (a, b))| **a != 0 || **b != 0)
            .map(|(i, _)| i)
            .collect();
        if unsolved {
            // The caller reports it from the chain's statuses.
            return Ok((flagged, None));
        }
        let tail = self.tail_run(&db, paths, spec, per_launch, progress)?;
        Ok((flagged, Some(tail)))
    }
}

impl CudaDevice {
    /// The run of `paths` paths of the uploaded book `db` reduced to its tail (the body of
    /// [`Accelerator::mc_tail`]).
    fn tail_run(
        &self,
        db: &McDeviceBook,
        paths: usize,
        spec: &crate::TailSpec,
        per_launch: usize,
        progress: &mut dyn FnMut(u64),
    ) -> Result<crate::McTail, String> {
        let n_i = i32::try_from(paths).map_err(|_| format!("{paths} paths: too many"))?;
        // P&L, and the gathered (index, P&L) pairs (at most every path).
        let (free, _) = self.memory()?;
        let bytes = paths.saturating_mul(8 + 4 + 8) + (spec.batches + 1) * TAIL_BINS * 4;
        if bytes + (1 << 20) > free {
            return Err(format!(
                "{paths} paths need {bytes} bytes of device memory, {free} free"
            ));
        }
        let s = &self.stream;
        let e = |e: cudarc::driver::DriverError| e.to_string();
        // SAFETY: uninitialised device memory; the launches below write every one of its
        // `paths` elements (thread j of a launch writes element first + j) before the tail
        // kernels read them.
        let mut d_pnl = unsafe { s.alloc::<f64>(paths) }.map_err(e)?;
        let per_launch = per_launch.clamp(1, paths);
        let mut first = 0usize;
        while first < paths {
            let m = per_launch.min(paths - first);
            self.launch_mc(db, first as u64, m, &mut d_pnl.slice_mut(first..first + m))?;
            first += m;
            if first < paths {
                s.synchronize().map_err(e)?;
            }
            progress(first as u64);
        }
        // Histogram rows: the batches that have paths, then the paths after them; the need of
        // each batch, then of the whole run.
        let per = paths.checked_div(spec.batches).unwrap_or(0);
        let batches = if per > 0 { spec.batches } else { 0 };
        let mut need: Vec<i32> = vec![i32::try_from(spec.need(per)).unwrap_or(i32::MAX); batches];
        need.push(i32::try_from(spec.need(paths)).unwrap_or(n_i));
        let rows = need.len();
        let d_need = s.clone_htod(&need).map_err(e)?;
        let mut range = s.clone_htod(&[u64::MAX, 0u64]).map_err(e)?;
        let mut first_bad = s.clone_htod(&[n_i]).map_err(e)?;
        let mut block_sum = s.alloc_zeros::<f64>(TAIL_SCAN_BLOCKS as usize).map_err(e)?;
        let mut hist = s.alloc_zeros::<u32>(rows * TAIL_BINS).map_err(e)?;
        let mut threshold = s.alloc_zeros::<i32>(rows).map_err(e)?;
        let mut count = s.alloc_zeros::<u32>(1).map_err(e)?;
        // SAFETY: written by `tail_gather` up to `count` elements, the only ones read back.
        let mut out_index = unsafe { s.alloc::<i32>(paths) }.map_err(e)?;
        // SAFETY: as above.
        let mut out_pnl = unsafe { s.alloc::<f64>(paths) }.map_err(e)?;
        let (per_i, batches_i) = (
            i32::try_from(per).map_err(|_| "batch too long".to_string())?,
            i32::try_from(batches).map_err(|_| "too many batches".to_string())?,
        );
        let mut b = s.launch_builder(&self.tail[0]);
        b.arg(&n_i)
            .arg(&d_pnl)
            .arg(&mut range)
            .arg(&mut first_bad)
            .arg(&mut block_sum);
        // SAFETY: matches `tail_scan(int, const double*, u64*, int*, double*)`; `d_pnl` holds
        // `paths` elements, `range` 2, `first_bad` 1, `block_sum` one per block of the grid.
        unsafe { b.launch(blocks(TAIL_SCAN_BLOCKS, TAIL_SCAN_THREADS)) }
            .map_err(|e| format!("tail_scan: {e}"))?;
        let mut b = s.launch_builder(&self.tail[1]);
        b.arg(&n_i)
            .arg(&d_pnl)
            .arg(&per_i)
            .arg(&batches_i)
            .arg(&range)
            .arg(&mut hist);
        // SAFETY: matches `tail_hist(int, const double*, int, int, const u64*, u32*)`; `hist`
        // has (batches + 1) rows of TAIL_BINS, the rows the kernel indexes; block b counts paths
        // b·TAIL_CHUNK … (b+1)·TAIL_CHUNK ∩ [0, n).
        unsafe { b.launch(blocks((paths as u32).div_ceil(TAIL_CHUNK), 256)) }
            .map_err(|e| format!("tail_hist: {e}"))?;
        let mut b = s.launch_builder(&self.tail[2]);
        b.arg(&hist)
            .arg(&batches_i)
            .arg(&d_need)
            .arg(&mut threshold);
        // SAFETY: matches `tail_threshold(const u32*, int, const int*, int*)`; one block of
        // TAIL_THRESHOLD_THREADS per entry of `need` and of `threshold` (the batches, then the
        // whole run), and `hist` has batches + 1 rows.
        unsafe { b.launch(blocks(rows as u32, TAIL_THRESHOLD_THREADS)) }
            .map_err(|e| format!("tail_threshold: {e}"))?;
        let mut b = s.launch_builder(&self.tail[3]);
        b.arg(&n_i)
            .arg(&d_pnl)
            .arg(&per_i)
            .arg(&batches_i)
            .arg(&range)
            .arg(&threshold)
            .arg(&mut count)
            .arg(&mut out_index)
            .arg(&mut out_pnl);
        // SAFETY: matches `tail_gather(int, const double*, int, int, const u64*, const int*,
        // u32*, int*, double*)`; `threshold` has batches + 1 entries (the rows indexed), the
        // outputs hold `paths` elements, at most one per path is written; the block size is a
        // multiple of 32 (the warp vote).
        unsafe { b.launch(blocks((paths as u32).div_ceil(256), 256)) }
            .map_err(|e| format!("tail_gather: {e}"))?;
        // The finish on the device: one small copy back instead of the gathered paths and the
        // host's select and sorts.
        let mut result = s.alloc_zeros::<f64>(3 + 2 * rows).map_err(e)?;
        let zero: f64 = [0.0f64; 0].iter().sum();
        let cap = self.finish_cap;
        let (cap_i, sums_i) = (cap as i32, TAIL_SCAN_BLOCKS as i32);
        let mut b = s.launch_builder(&self.tail[4]);
        b.arg(&n_i)
            .arg(&per_i)
            .arg(&batches_i)
            .arg(&count)
            .arg(&out_index)
            .arg(&out_pnl)
            .arg(&d_need)
            .arg(&cap_i)
            .arg(&first_bad)
            .arg(&block_sum)
            .arg(&sums_i)
            .arg(&zero)
            .arg(&mut result);
        let finish = LaunchConfig {
            shared_mem_bytes: cap * 8,
            ..blocks(rows as u32, TAIL_FINISH_THREADS)
        };
        // SAFETY: matches `tail_finish(int, int, int, const u32*, const int*, const double*,
        // const int*, int, const int*, const double*, int, double, double*)`; one block per
        // row (batches + 1 = the entries of `need`), `result` holds 3 + 2 per row, `block_sum`
        // TAIL_SCAN_BLOCKS, the gathered columns `count` valid entries; the dynamic shared
        // memory is `cap` keys, within the limit `finish_capacity` set.
        unsafe { b.launch(finish) }.map_err(|e| format!("tail_finish: {e}"))?;
        let head = s.clone_dtoh(&result).map_err(e)?;
        if head[0] < f64::from(n_i) {
            return Err(format!(
                "path {} gave a non-finite P&L on the device",
                head[0]
            ));
        }
        let kept = head[1] as usize;
        let pnl_sum = head[2];
        let finished: Vec<crate::TailRow> = head[3..]
            .chunks_exact(2)
            .map(|r| crate::TailRow {
                var: r[0],
                above: r[1],
            })
            .collect();
        if finished
            .iter()
            .all(|r| r.var.is_finite() && r.above.is_finite())
        {
            return Ok(crate::McTail {
                paths,
                pnl_sum,
                kept,
                index: Vec::new(),
                pnl: Vec::new(),
                rows: finished,
            });
        }
        // A sample with more gathered paths than a block sorts: the host finishes.
        tracing::debug!("mc_tail: {kept} paths kept, beyond the device's finish ({cap} a sample)");
        let mut index = vec![0i32; kept];
        let mut pnl = vec![0.0f64; kept];
        if kept > 0 {
            s.memcpy_dtoh(&out_index.slice(..kept), index.as_mut_slice())
                .map_err(e)?;
            s.memcpy_dtoh(&out_pnl.slice(..kept), pnl.as_mut_slice())
                .map_err(e)?;
        }
        Ok(crate::McTail {
            paths,
            pnl_sum,
            kept,
            index: index.into_iter().map(|i| i as u64).collect(),
            pnl,
            rows: Vec::new(),
        })
    }
}

/// Where the option volatilities and values now sit among [`McDeviceBook`]'s columns.
const BOOK_VOL: usize = 12;
const BOOK_VALUE: usize = 14;

/// A Monte Carlo book's constants on the device (one upload per run), in the form `mc_pnl`
/// takes them.
struct McDeviceBook {
    key: [u32; 2],
    nu: i32,
    steps: i32,
    dt: f64,
    n_stock: i32,
    n_opt: i32,
    vol_of_vol: f64,
    jumps: (i32, f64, f64, f64),
    /// base, scale, cholesky, spot, stock quantity, then per option: sign, strike, ln strike,
    /// years left at the horizon, (r − q)·t, e^{−qt}, e^{−rt}, volatility, quantity, value now;
    /// end to end, `f_at` giving each column's (start, length).
    f: CudaSlice<f64>,
    f_at: Vec<(usize, usize)>,
    /// Stock underlying, option underlying (`i_at`: as `f_at`).
    i: CudaSlice<i32>,
    i_at: Vec<(usize, usize)>,
}

impl McDeviceBook {
    fn upload(s: &Arc<CudaStream>, book: &McBook<'_>) -> Result<McDeviceBook, String> {
        let nu = book.spot.len();
        if nu > MC_MAX_UNDERLYINGS {
            return Err(format!(
                "{nu} underlyings: the kernel handles {MC_MAX_UNDERLYINGS}"
            ));
        }
        if book.american {
            return Err("American revaluation runs on the CPU".into());
        }
        let h = f64::from(book.steps) * book.dt;
        let steps = f64::from(book.steps);
        let base: Vec<f64> = (0..nu)
            .map(|i| {
                book.spot[i].ln()
                    + (book.drift[i] - 0.5 * book.vol[i] * book.vol[i]) * book.dt * steps
            })
            .collect();
        let scale: Vec<f64> = book.vol.iter().map(|v| v * book.dt.sqrt()).collect();
        let no = book.option_underlying.len();
        let opt_u: Vec<i32> = book.option_underlying.iter().map(|&u| u as i32).collect();
        let opt_w: Vec<f64> = book
            .option_kind
            .iter()
            .map(|k| if *k == OptionType::Call { 1.0 } else { -1.0 })
            .collect();
        let opt_t: Vec<f64> = book.option_years.iter().map(|t| t - h).collect();
        let opt_ln_k: Vec<f64> = book.option_strike.iter().map(|k| k.ln()).collect();
        let opt_rq_t: Vec<f64> = (0..no)
            .map(|o| (book.option_rate[o] - book.option_dividend_yield[o]) * opt_t[o])
            .collect();
        let opt_dq: Vec<f64> = (0..no)
            .map(|o| (-book.option_dividend_yield[o] * opt_t[o]).exp())
            .collect();
        let opt_dr: Vec<f64> = (0..no)
            .map(|o| (-book.option_rate[o] * opt_t[o]).exp())
            .collect();
        let opt_vol: Vec<f64> = book.option_vol.iter().map(|v| v + book.vol_shock).collect();
        let stock_u: Vec<i32> = book.stock_underlying.iter().map(|&u| u as i32).collect();
        let e = |e: cudarc::driver::DriverError| e.to_string();
        // One upload per type: the columns end to end, each at least one element long so empty
        // position lists still give valid pointers (a copy costs ~10 µs of latency each).
        let f = [
            &base[..],
            &scale,
            book.cholesky,
            book.spot,
            book.stock_quantity,
            &opt_w,
            book.option_strike,
            &opt_ln_k,
            &opt_t,
            &opt_rq_t,
            &opt_dq,
            &opt_dr,
            &opt_vol,
            book.option_quantity,
            book.option_value_now,
        ]
        .map(|v| if v.is_empty() { &[0.0f64][..] } else { v });
        let i = [&stock_u[..], &opt_u].map(|v| if v.is_empty() { &[0i32][..] } else { v });
        fn spans<T>(cols: &[&[T]]) -> Vec<(usize, usize)> {
            let mut at = 0;
            cols.iter()
                .map(|c| {
                    at += c.len();
                    (at - c.len(), c.len())
                })
                .collect()
        }
        let (f_at, i_at) = (spans(&f), spans(&i));
        let f = s.clone_htod(&f.concat()).map_err(e)?;
        let i = s.clone_htod(&i.concat()).map_err(e)?;
        Ok(McDeviceBook {
            key: key_of(book.seed),
            nu: nu as i32,
            steps: book.steps as i32,
            dt: book.dt,
            n_stock: stock_u.len() as i32,
            n_opt: no as i32,
            vol_of_vol: book.vol_of_vol,
            jumps: match book.jumps {
                Some(j) => (1, j.intensity, j.mean, j.sd),
                None => (0, 0.0, 0.0, 0.0),
            },
            f,
            f_at,
            i,
            i_at,
        })
    }
}

impl CudaDevice {
    /// `mc_pnl` for paths `first_path .. first_path + n` into `out` (at least `n` elements).
    fn launch_mc(
        &self,
        db: &McDeviceBook,
        first_path: u64,
        n: usize,
        out: &mut cudarc::driver::CudaViewMut<'_, f64>,
    ) -> Result<(), String> {
        if out.len() < n {
            return Err("mc_pnl: the output is shorter than the launch".into());
        }
        let n_i = i32::try_from(n).map_err(|_| format!("{n} paths: too many"))?;
        // Shared memory: 2·nu doubles a thread, at most 48 KiB a block (the default limit), so
        // blocks of 128 threads up to 24 underlyings and fewer (≥ 32) above.
        let per_thread = 16 * db.nu.max(1) as u32;
        let threads = ((48 * 1024 / per_thread) / 32 * 32).clamp(32, 128);
        let cfg = LaunchConfig {
            shared_mem_bytes: per_thread * threads,
            ..blocks((n as u32).div_ceil(threads), threads)
        };
        let f: Vec<_> = db.f_at.iter().map(|&(a, l)| db.f.slice(a..a + l)).collect();
        let i: Vec<_> = db.i_at.iter().map(|&(a, l)| db.i.slice(a..a + l)).collect();
        let mut b = self.stream.launch_builder(&self.mc);
        b.arg(&n_i)
            .arg(&first_path)
            .arg(&db.key[0])
            .arg(&db.key[1])
            .arg(&db.steps)
            .arg(&db.dt)
            .arg(&db.nu)
            .arg(&f[0])
            .arg(&f[1])
            .arg(&f[2])
            .arg(&f[3])
            .arg(&db.n_stock)
            .arg(&i[0])
            .arg(&f[4])
            .arg(&db.n_opt)
            .arg(&i[1]);
        for col in &f[5..] {
            b.arg(col);
        }
        b.arg(&db.vol_of_vol)
            .arg(&db.jumps.0)
            .arg(&db.jumps.1)
            .arg(&db.jumps.2)
            .arg(&db.jumps.3)
            .arg(out);
        // SAFETY: the argument list matches `mc_pnl`'s signature in kernels/mc.cu one for one
        // (types and order: n, first path, key, steps, dt, nu, base, scale, cholesky, spot,
        // stocks (count, underlying, quantity), options (count, underlying, ten columns), vol
        // of vol, jumps, out), every buffer holds at least the elements the kernel reads for
        // the counts passed, `out` has `n` elements for threads 0..n, and the dynamic shared
        // memory holds the 2·nu doubles of every thread of a block (nu ≤ 64: at most 32 KiB).
        unsafe { b.launch(cfg) }.map_err(|e| format!("launch: {e}"))?;
        Ok(())
    }
}
