//! What machine wheelhouse runs on: CPU model, topology, caches and vector features; memory
//! and the container's (cgroup) CPU quota and memory limit; NVIDIA GPUs through NVML (loaded at
//! run time: a machine without the driver reports "no NVML" instead of failing); and the live
//! state the thermal and throttle policy watches — GPU temperature, power, clocks, utilization,
//! throttle reasons, and CPU temperatures where the kernel exposes them.
//!
//! [`thermal`] turns sampled temperatures and GPU throttle reasons into a policy state with
//! hysteresis (batch-size and worker factors, headroom). [`budget`] splits the memory the process may use into named components with RAII
//! reservations, priorities and pressure callbacks.
//!
//! Everything is read from Linux's `/proc` and `/sys` under a root directory ([`Probe::at`]),
//! so the parsers are tested on fixture trees; [`Probe::system`] reads the real ones. Missing
//! files give `None` / empty lists, never an error: a field the machine does not expose is
//! reported as such.
#![deny(missing_docs)]
#![deny(unsafe_op_in_unsafe_fn)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde::Serialize;

pub mod budget;
mod gpu;
pub mod monitor;
pub mod pools;
pub mod thermal;

pub use gpu::{GpuInfo, GpuLive, GpuProbe, GpuReport};

/// The static description of the machine.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Hardware {
    /// The CPU.
    pub cpu: CpuInfo,
    /// Memory, with the container limit.
    pub memory: MemoryInfo,
    /// The cgroup limits in force, if any.
    pub cgroup: CgroupLimits,
    /// Cores the process may use: logical CPUs, capped by the cgroup CPU quota (rounded up)
    /// and the affinity mask.
    pub usable_cores: usize,
    /// Bytes the process may use: available memory capped by the cgroup memory limit (less
    /// what the cgroup already uses).
    pub usable_memory_bytes: Option<u64>,
    /// GPUs (NVML).
    pub gpus: GpuReport,
}

/// The CPU.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CpuInfo {
    /// Model name (`/proc/cpuinfo`).
    pub model: Option<String>,
    /// Logical CPUs online.
    pub logical: usize,
    /// Physical cores (distinct package/core id pairs); `None` if the topology is hidden.
    pub physical: Option<usize>,
    /// Sockets (distinct package ids).
    pub sockets: Option<usize>,
    /// Whether simultaneous multithreading is on (more logical CPUs than cores).
    pub smt: Option<bool>,
    /// Caches of CPU 0.
    pub caches: Vec<Cache>,
    /// Vector features the numeric kernels use (avx2, fma, avx512f, …) that the CPU has.
    pub features: Vec<String>,
}

/// One cache level.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Cache {
    /// 1, 2, 3.
    pub level: u8,
    /// Data, Instruction, Unified.
    pub kind: String,
    /// Size in bytes.
    pub size_bytes: u64,
    /// Logical CPUs sharing it.
    pub shared_by: usize,
}

/// Memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct MemoryInfo {
    /// MemTotal.
    pub total_bytes: Option<u64>,
    /// MemAvailable.
    pub available_bytes: Option<u64>,
}

/// Limits of the control group the process runs in.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct CgroupLimits {
    /// 1 or 2; `None` when no cgroup file system is mounted.
    pub version: Option<u8>,
    /// CPU quota in cores (quota / period); `None` when unlimited.
    pub cpu_quota_cores: Option<f64>,
    /// Memory limit in bytes; `None` when unlimited.
    pub memory_limit_bytes: Option<u64>,
    /// Memory the group uses now.
    pub memory_current_bytes: Option<u64>,
}

/// A temperature reading.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Sensor {
    /// Where it comes from: `hwmon/<chip>/<label>` or `thermal/<zone type>`.
    pub name: String,
    /// Degrees Celsius.
    pub celsius: f64,
}

/// Live state: what the thermal and throttle monitor samples.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LiveState {
    /// CPU and board temperatures; empty when the machine exposes none ("not exposed").
    pub cpu_temperatures: Vec<Sensor>,
    /// Available memory now.
    pub memory_available_bytes: Option<u64>,
    /// Memory the cgroup uses now.
    pub cgroup_memory_current_bytes: Option<u64>,
    /// Each GPU's state.
    pub gpus: Vec<GpuLive>,
}

/// Reads the machine under a root directory.
#[derive(Debug, Clone)]
pub struct Probe {
    root: PathBuf,
}

impl Probe {
    /// The running system (`/`).
    pub fn system() -> Probe {
        Probe::at("/")
    }

    /// A tree laid out like `/` (tests use fixture trees).
    pub fn at(root: impl Into<PathBuf>) -> Probe {
        Probe { root: root.into() }
    }

    fn read(&self, rel: &str) -> Option<String> {
        std::fs::read_to_string(self.root.join(rel.trim_start_matches('/'))).ok()
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.root.join(rel.trim_start_matches('/'))
    }

    /// The CPU.
    pub fn cpu(&self) -> CpuInfo {
        let cpuinfo = self.read("/proc/cpuinfo").unwrap_or_default();
        let model = cpuinfo
            .lines()
            .find_map(|l| {
                let (k, v) = l.split_once(':')?;
                matches!(k.trim(), "model name" | "Model" | "Hardware" | "cpu model")
                    .then(|| v.trim().to_string())
            })
            .filter(|s| !s.is_empty());
        let flags: BTreeSet<&str> = cpuinfo
            .lines()
            .find_map(|l| {
                let (k, v) = l.split_once(':')?;
                matches!(k.trim(), "flags" | "Features").then_some(v)
            })
            .map(|v| v.split_whitespace().collect())
            .unwrap_or_default();
        let features = [
            "sse4_2", "avx", "avx2", "fma", "avx512f", "avx512dq", "avx512vl", "asimd",
        ]
        .iter()
        .filter(|f| flags.contains(**f))
        .map(|f| f.to_string())
        .collect();
        let online = self
            .read("/sys/devices/system/cpu/online")
            .map(|s| parse_cpu_list(s.trim()))
            .filter(|v| !v.is_empty())
            .unwrap_or_else(|| {
                let n = cpuinfo
                    .lines()
                    .filter(|l| l.split(':').next().is_some_and(|k| k.trim() == "processor"))
                    .count();
                (0..n).collect()
            });
        let mut cores = BTreeSet::new();
        let mut packages = BTreeSet::new();
        let mut complete = !online.is_empty();
        for &c in &online {
            let base = format!("/sys/devices/system/cpu/cpu{c}/topology");
            let core = self
                .read(&format!("{base}/core_id"))
                .and_then(|s| s.trim().parse::<i64>().ok());
            let pkg = self
                .read(&format!("{base}/physical_package_id"))
                .and_then(|s| s.trim().parse::<i64>().ok());
            match (core, pkg) {
                (Some(c), Some(p)) => {
                    cores.insert((p, c));
                    packages.insert(p);
                }
                _ => complete = false,
            }
        }
        let physical = complete.then_some(cores.len());
        let logical = online.len().max(1);
        CpuInfo {
            model,
            logical,
            physical,
            sockets: complete.then_some(packages.len()),
            smt: physical.map(|p| logical > p),
            caches: self.caches(),
            features,
        }
    }

    fn caches(&self) -> Vec<Cache> {
        let mut out = Vec::new();
        let dir = self.path("/sys/devices/system/cpu/cpu0/cache");
        let Ok(entries) = std::fs::read_dir(&dir) else {
            return out;
        };
        let mut names: Vec<String> = entries
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with("index"))
            .collect();
        names.sort();
        for n in names {
            let f = |x: &str| {
                std::fs::read_to_string(dir.join(&n).join(x))
                    .ok()
                    .map(|s| s.trim().to_string())
            };
            let (Some(level), Some(kind), Some(size)) = (f("level"), f("type"), f("size")) else {
                continue;
            };
            let (Some(level), Some(size_bytes)) = (level.parse().ok(), parse_size(&size)) else {
                continue;
            };
            let shared_by = f("shared_cpu_list").map_or(1, |s| parse_cpu_list(&s).len().max(1));
            out.push(Cache {
                level,
                kind,
                size_bytes,
                shared_by,
            });
        }
        out
    }

    /// Memory from `/proc/meminfo`.
    pub fn memory(&self) -> MemoryInfo {
        let m = self.read("/proc/meminfo").unwrap_or_default();
        let field = |name: &str| {
            m.lines().find_map(|l| {
                let rest = l.strip_prefix(name)?.strip_prefix(':')?;
                let mut it = rest.split_whitespace();
                let v: u64 = it.next()?.parse().ok()?;
                Some(match it.next() {
                    Some("kB") => v * 1024,
                    _ => v,
                })
            })
        };
        MemoryInfo {
            total_bytes: field("MemTotal"),
            available_bytes: field("MemAvailable"),
        }
    }

    /// The cgroup limits (v2 unified hierarchy, else v1 controllers), of the group mounted at
    /// `/sys/fs/cgroup` (inside a container: the container's own group).
    pub fn cgroup(&self) -> CgroupLimits {
        if self.path("/sys/fs/cgroup/cgroup.controllers").exists() {
            let cpu = self.read("/sys/fs/cgroup/cpu.max").and_then(|s| {
                let mut it = s.split_whitespace();
                let q = it.next()?;
                let p: f64 = it.next().unwrap_or("100000").parse().ok()?;
                (q != "max").then(|| q.parse::<f64>().ok().map(|q| q / p))?
            });
            let mem = self
                .read("/sys/fs/cgroup/memory.max")
                .and_then(|s| s.trim().parse::<u64>().ok());
            let cur = self
                .read("/sys/fs/cgroup/memory.current")
                .and_then(|s| s.trim().parse::<u64>().ok());
            return CgroupLimits {
                version: Some(2),
                cpu_quota_cores: cpu,
                memory_limit_bytes: mem,
                memory_current_bytes: cur,
            };
        }
        let quota = self
            .read("/sys/fs/cgroup/cpu/cpu.cfs_quota_us")
            .or_else(|| self.read("/sys/fs/cgroup/cpu,cpuacct/cpu.cfs_quota_us"))
            .and_then(|s| s.trim().parse::<i64>().ok());
        let period = self
            .read("/sys/fs/cgroup/cpu/cpu.cfs_period_us")
            .or_else(|| self.read("/sys/fs/cgroup/cpu,cpuacct/cpu.cfs_period_us"))
            .and_then(|s| s.trim().parse::<i64>().ok());
        let mem = self
            .read("/sys/fs/cgroup/memory/memory.limit_in_bytes")
            .and_then(|s| s.trim().parse::<u64>().ok())
            // v1 reports "no limit" as a huge page-rounded number.
            .filter(|&b| b < (1u64 << 60));
        let cur = self
            .read("/sys/fs/cgroup/memory/memory.usage_in_bytes")
            .and_then(|s| s.trim().parse::<u64>().ok());
        let any = quota.is_some() || mem.is_some() || cur.is_some();
        CgroupLimits {
            version: any.then_some(1),
            cpu_quota_cores: match (quota, period) {
                (Some(q), Some(p)) if q > 0 && p > 0 => Some(q as f64 / p as f64),
                _ => None,
            },
            memory_limit_bytes: mem,
            memory_current_bytes: cur,
        }
    }

    /// Temperatures from hwmon chips and thermal zones (empty when none is exposed, as in most
    /// virtual machines).
    pub fn temperatures(&self) -> Vec<Sensor> {
        let mut out = Vec::new();
        let hw = self.path("/sys/class/hwmon");
        if let Ok(entries) = std::fs::read_dir(&hw) {
            let mut dirs: Vec<PathBuf> = entries.filter_map(|e| e.ok()).map(|e| e.path()).collect();
            dirs.sort();
            for d in dirs {
                let chip = std::fs::read_to_string(d.join("name"))
                    .map(|s| s.trim().to_string())
                    .unwrap_or_else(|_| "hwmon".into());
                let Ok(files) = std::fs::read_dir(&d) else {
                    continue;
                };
                let mut inputs: Vec<String> = files
                    .filter_map(|e| e.ok())
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .filter(|n| n.starts_with("temp") && n.ends_with("_input"))
                    .collect();
                inputs.sort();
                for i in inputs {
                    let stem = i.trim_end_matches("_input");
                    let Some(milli) = std::fs::read_to_string(d.join(&i))
                        .ok()
                        .and_then(|s| s.trim().parse::<f64>().ok())
                    else {
                        continue;
                    };
                    let label = std::fs::read_to_string(d.join(format!("{stem}_label")))
                        .map(|s| s.trim().to_string())
                        .unwrap_or_else(|_| stem.to_string());
                    out.push(Sensor {
                        name: format!("hwmon/{chip}/{label}"),
                        celsius: milli / 1000.0,
                    });
                }
            }
        }
        let th = self.path("/sys/class/thermal");
        if let Ok(entries) = std::fs::read_dir(&th) {
            let mut zones: Vec<PathBuf> = entries
                .filter_map(|e| e.ok())
                .map(|e| e.path())
                .filter(|p| {
                    p.file_name()
                        .is_some_and(|n| n.to_string_lossy().starts_with("thermal_zone"))
                })
                .collect();
            zones.sort();
            for z in zones {
                let kind = std::fs::read_to_string(z.join("type"))
                    .map(|s| s.trim().to_string())
                    .unwrap_or_else(|_| "zone".into());
                if let Some(milli) = std::fs::read_to_string(z.join("temp"))
                    .ok()
                    .and_then(|s| s.trim().parse::<f64>().ok())
                {
                    out.push(Sensor {
                        name: format!("thermal/{kind}"),
                        celsius: milli / 1000.0,
                    });
                }
            }
        }
        out
    }

    /// The static description, with the GPUs from `gpus` (see [`GpuProbe`]).
    pub fn hardware(&self, gpus: GpuReport) -> Hardware {
        let cpu = self.cpu();
        let memory = self.memory();
        let cgroup = self.cgroup();
        let mut usable_cores = cpu.logical;
        if let Some(q) = cgroup.cpu_quota_cores {
            usable_cores = usable_cores.min((q.ceil() as usize).max(1));
        }
        // The affinity mask of this process (only for the real system).
        if self.root == Path::new("/")
            && let Ok(n) = std::thread::available_parallelism()
        {
            usable_cores = usable_cores.min(n.get());
        }
        let room = cgroup
            .memory_limit_bytes
            .map(|l| l.saturating_sub(cgroup.memory_current_bytes.unwrap_or(0)));
        let usable_memory_bytes = match (memory.available_bytes, room) {
            (Some(a), Some(r)) => Some(a.min(r)),
            (a, r) => a.or(r),
        };
        Hardware {
            cpu,
            memory,
            cgroup,
            usable_cores,
            usable_memory_bytes,
            gpus,
        }
    }

    /// The live state, with the GPUs' from `gpus` when NVML is loaded.
    pub fn live(&self, gpus: Option<&GpuProbe>) -> LiveState {
        LiveState {
            cpu_temperatures: self.temperatures(),
            memory_available_bytes: self.memory().available_bytes,
            cgroup_memory_current_bytes: self.cgroup().memory_current_bytes,
            gpus: gpus.map(GpuProbe::live).unwrap_or_default(),
        }
    }
}

/// Parses a CPU list such as `0-3,8,10-11`.
pub fn parse_cpu_list(s: &str) -> Vec<usize> {
    let mut out = Vec::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        match part.split_once('-') {
            Some((a, b)) => {
                if let (Ok(a), Ok(b)) = (a.parse::<usize>(), b.parse::<usize>())
                    && a <= b
                    && b - a < 1 << 16
                {
                    out.extend(a..=b);
                }
            }
            None => {
                if let Ok(a) = part.parse() {
                    out.push(a);
                }
            }
        }
    }
    out
}

/// Parses a sysfs size such as `48K`, `2048K`, `32M`.
pub fn parse_size(s: &str) -> Option<u64> {
    let s = s.trim();
    let (num, mult) = match s.chars().last()? {
        'K' | 'k' => (&s[..s.len() - 1], 1024),
        'M' | 'm' => (&s[..s.len() - 1], 1024 * 1024),
        'G' | 'g' => (&s[..s.len() - 1], 1024 * 1024 * 1024),
        _ => (s, 1),
    };
    num.trim().parse::<u64>().ok().map(|v| v * mult)
}

/// The whole static description of this machine, GPUs included (NVML when loadable).
pub fn detect() -> Hardware {
    Probe::system().hardware(GpuProbe::new().map_or_else(GpuReport::unavailable, |g| g.report()))
}
