//! NVIDIA GPUs through NVML (`nvml-wrapper`, which loads `libnvidia-ml.so` at run time).

use nvml_wrapper::Nvml;
use nvml_wrapper::enum_wrappers::device::{Clock, TemperatureSensor};
use serde::Serialize;

/// What NVML says about the machine's GPUs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GpuReport {
    /// Whether NVML could be loaded and initialised.
    pub nvml: bool,
    /// Why not, when it could not.
    pub reason: Option<String>,
    /// Driver version.
    pub driver_version: Option<String>,
    /// Highest CUDA version the driver supports, `major.minor`.
    pub cuda_version: Option<String>,
    /// The devices.
    pub devices: Vec<GpuInfo>,
}

impl GpuReport {
    /// No NVML, with the reason.
    pub fn unavailable(reason: String) -> GpuReport {
        GpuReport {
            nvml: false,
            reason: Some(reason),
            driver_version: None,
            cuda_version: None,
            devices: Vec::new(),
        }
    }
}

/// One GPU.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GpuInfo {
    /// NVML index.
    pub index: u32,
    /// Product name.
    pub name: Option<String>,
    /// UUID.
    pub uuid: Option<String>,
    /// Compute capability `major.minor`.
    pub compute_capability: Option<String>,
    /// Streaming multiprocessors (where NVML reports them).
    pub sm_count: Option<u32>,
    /// Total device memory, bytes.
    pub memory_total_bytes: Option<u64>,
    /// Maximum SM clock, MHz.
    pub max_sm_clock_mhz: Option<u32>,
    /// Maximum memory clock, MHz.
    pub max_memory_clock_mhz: Option<u32>,
    /// Enforced power limit, watts.
    pub power_limit_w: Option<f64>,
}

/// One GPU's live state.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GpuLive {
    /// NVML index.
    pub index: u32,
    /// Die temperature, °C.
    pub temperature_c: Option<u32>,
    /// Power draw, watts.
    pub power_w: Option<f64>,
    /// Enforced power limit, watts.
    pub power_limit_w: Option<f64>,
    /// SM clock now, MHz.
    pub sm_clock_mhz: Option<u32>,
    /// Memory clock now, MHz.
    pub memory_clock_mhz: Option<u32>,
    /// Percent of time a kernel ran over the last sample period.
    pub utilization_gpu_pct: Option<u32>,
    /// Percent of time memory was read or written.
    pub utilization_memory_pct: Option<u32>,
    /// Free device memory, bytes.
    pub memory_free_bytes: Option<u64>,
    /// Clock throttle reasons in force (NVML names, e.g. `SW_POWER_CAP`, `HW_SLOWDOWN`,
    /// `SW_THERMAL_SLOWDOWN`; `GPU_IDLE` when nothing runs).
    pub throttle_reasons: Vec<String>,
}

impl GpuLive {
    /// Whether the GPU is held back by power or heat (power cap, hardware or thermal
    /// slowdown, power brake) — what the throttle policy reacts to.
    pub fn throttled(&self) -> bool {
        self.throttle_reasons.iter().any(|r| {
            matches!(
                r.as_str(),
                "SW_POWER_CAP"
                    | "HW_SLOWDOWN"
                    | "SW_THERMAL_SLOWDOWN"
                    | "HW_THERMAL_SLOWDOWN"
                    | "HW_POWER_BRAKE_SLOWDOWN"
            )
        })
    }
}

/// A loaded NVML, kept to sample the live state repeatedly.
pub struct GpuProbe {
    nvml: Nvml,
}

impl std::fmt::Debug for GpuProbe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("GpuProbe")
    }
}

impl GpuProbe {
    /// Loads and initialises NVML.
    ///
    /// # Errors
    /// Why it could not (no `libnvidia-ml.so`, no driver, …), as text.
    pub fn new() -> Result<GpuProbe, String> {
        Nvml::init()
            .map(|nvml| GpuProbe { nvml })
            .map_err(|e| format!("NVML not available: {e}"))
    }

    /// The static report.
    pub fn report(&self) -> GpuReport {
        let n = self.nvml.device_count().unwrap_or(0);
        let cuda_version = self.nvml.sys_cuda_driver_version().ok().map(|v| {
            format!(
                "{}.{}",
                nvml_wrapper::cuda_driver_version_major(v),
                nvml_wrapper::cuda_driver_version_minor(v)
            )
        });
        let devices = (0..n)
            .filter_map(|i| {
                let d = self.nvml.device_by_index(i).ok()?;
                Some(GpuInfo {
                    index: i,
                    name: d.name().ok(),
                    uuid: d.uuid().ok(),
                    compute_capability: d
                        .cuda_compute_capability()
                        .ok()
                        .map(|c| format!("{}.{}", c.major, c.minor)),
                    sm_count: d.attributes().ok().map(|a| a.multiprocessor_count),
                    memory_total_bytes: d.memory_info().ok().map(|m| m.total),
                    max_sm_clock_mhz: d.max_clock_info(Clock::SM).ok(),
                    max_memory_clock_mhz: d.max_clock_info(Clock::Memory).ok(),
                    power_limit_w: d.enforced_power_limit().ok().map(|mw| f64::from(mw) / 1e3),
                })
            })
            .collect();
        GpuReport {
            nvml: true,
            reason: None,
            driver_version: self.nvml.sys_driver_version().ok(),
            cuda_version,
            devices,
        }
    }

    /// Every GPU's live state.
    pub fn live(&self) -> Vec<GpuLive> {
        let n = self.nvml.device_count().unwrap_or(0);
        (0..n)
            .filter_map(|i| {
                let d = self.nvml.device_by_index(i).ok()?;
                let util = d.utilization_rates().ok();
                Some(GpuLive {
                    index: i,
                    temperature_c: d.temperature(TemperatureSensor::Gpu).ok(),
                    power_w: d.power_usage().ok().map(|mw| f64::from(mw) / 1e3),
                    power_limit_w: d.enforced_power_limit().ok().map(|mw| f64::from(mw) / 1e3),
                    sm_clock_mhz: d.clock_info(Clock::SM).ok(),
                    memory_clock_mhz: d.clock_info(Clock::Memory).ok(),
                    utilization_gpu_pct: util.as_ref().map(|u| u.gpu),
                    utilization_memory_pct: util.as_ref().map(|u| u.memory),
                    memory_free_bytes: d.memory_info().ok().map(|m| m.free),
                    throttle_reasons: d
                        .current_throttle_reasons()
                        .map(|r| r.iter_names().map(|(n, _)| n.to_string()).collect())
                        .unwrap_or_default(),
                })
            })
            .collect()
    }
}
