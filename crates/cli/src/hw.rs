//! `wheelhouse hw`: what this machine is and how it is doing.

use std::time::Duration;

use clap::Args;
use serde_json::json;
use wheelhouse_hardware::thermal::{Policy, PolicyMode, Sample};
use wheelhouse_hardware::{GpuProbe, GpuReport, Hardware, LiveState, Probe};

use crate::{EXIT_OK, Exit, Format};

/// `wheelhouse hw`.
#[derive(Debug, Args)]
pub struct HwArgs {
    /// Keep sampling the live state (temperatures, power, clocks, utilization, throttle
    /// reasons) every --interval seconds until interrupted (or --count samples).
    #[arg(long)]
    pub watch: bool,
    /// Seconds between samples with --watch.
    #[arg(long, default_value_t = 1.0)]
    pub interval: f64,
    /// Stop after this many samples with --watch.
    #[arg(long)]
    pub count: Option<u64>,
    /// Thermal policy mode the samples are judged by (thresholds, batch and worker factors).
    #[arg(long, value_enum, default_value = "balanced")]
    pub policy: PolicyArg,
}

/// `--policy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum PolicyArg {
    /// Full speed until hot (warm 85 °C, hot 92 °C).
    Maximum,
    /// Warm 78 °C, hot 87 °C.
    Balanced,
    /// Warm 70 °C, hot 80 °C; smaller batches from the start.
    Conservative,
}

fn policy_json(
    p: &Policy,
    t: Option<&wheelhouse_hardware::thermal::Transition>,
) -> serde_json::Value {
    json!({
        "mode": p.mode,
        "state": p.state,
        "batch_scale": p.batch_scale(),
        "worker_scale": p.worker_scale(),
        "headroom_c": p.headroom_c(),
        "transition": t,
    })
}

fn print_policy(p: &Policy, t: Option<&wheelhouse_hardware::thermal::Transition>) {
    println!(
        "policy {:?}: {:?}, batch ×{}, workers ×{}, headroom {}",
        p.mode,
        p.state,
        p.batch_scale(),
        p.worker_scale(),
        p.headroom_c()
            .map_or("unknown (no temperature exposed)".into(), |h| format!(
                "{h:.1} °C"
            ))
    );
    if let Some(t) = t {
        println!("  {:?} → {:?}: {}", t.from, t.to, t.reason);
    }
}

fn gib(b: Option<u64>) -> String {
    b.map_or("n/a".into(), |b| {
        format!("{:.1} GiB", b as f64 / (1u64 << 30) as f64)
    })
}

fn opt<T: std::fmt::Display>(x: Option<T>, unit: &str) -> String {
    x.map_or("n/a".into(), |v| format!("{v}{unit}"))
}

fn print_static(hw: &Hardware) {
    let c = &hw.cpu;
    println!("CPU     {}", c.model.as_deref().unwrap_or("unknown model"));
    println!(
        "        {} logical, {} physical cores, {} socket(s), SMT {}",
        c.logical,
        opt(c.physical, ""),
        opt(c.sockets, ""),
        c.smt.map_or("unknown", |s| if s { "on" } else { "off" })
    );
    for k in &c.caches {
        println!(
            "        L{} {:<11} {:>8} KiB, shared by {}",
            k.level,
            k.kind,
            k.size_bytes / 1024,
            k.shared_by
        );
    }
    println!("        features: {}", c.features.join(" "));
    println!(
        "memory  total {}, available {}",
        gib(hw.memory.total_bytes),
        gib(hw.memory.available_bytes)
    );
    match hw.cgroup.version {
        None => println!("cgroup  none mounted"),
        Some(v) => println!(
            "cgroup  v{v}: CPU quota {}, memory limit {}",
            hw.cgroup
                .cpu_quota_cores
                .map_or("none".into(), |q| format!("{q:.2} cores")),
            hw.cgroup
                .memory_limit_bytes
                .map_or("none".into(), |b| gib(Some(b)))
        ),
    }
    println!(
        "usable  {} cores, {}",
        hw.usable_cores,
        gib(hw.usable_memory_bytes)
    );
    print_gpus(&hw.gpus);
}

fn print_gpus(g: &GpuReport) {
    if !g.nvml {
        println!(
            "GPU     none usable: {}",
            g.reason.as_deref().unwrap_or("unknown")
        );
        return;
    }
    println!(
        "GPU     driver {}, CUDA {}, {} device(s)",
        g.driver_version.as_deref().unwrap_or("?"),
        g.cuda_version.as_deref().unwrap_or("?"),
        g.devices.len()
    );
    for d in &g.devices {
        println!(
            "  [{}] {}  cc {}  SMs {}  {}  max SM {} MHz  power limit {} W",
            d.index,
            d.name.as_deref().unwrap_or("?"),
            d.compute_capability.as_deref().unwrap_or("?"),
            opt(d.sm_count, ""),
            gib(d.memory_total_bytes),
            opt(d.max_sm_clock_mhz, ""),
            d.power_limit_w.map_or("n/a".into(), |w| format!("{w:.0}"))
        );
    }
}

fn print_live(l: &LiveState) {
    if l.cpu_temperatures.is_empty() {
        println!("CPU temperature: not exposed");
    } else {
        for s in &l.cpu_temperatures {
            println!("{:<40} {:>6.1} °C", s.name, s.celsius);
        }
    }
    println!("memory available {}", gib(l.memory_available_bytes));
    for g in &l.gpus {
        println!(
            "GPU {}: {} °C, {} / {} W, SM {} MHz, mem {} MHz, util {} %, mem util {} %, free {}, throttle: {}{}",
            g.index,
            opt(g.temperature_c, ""),
            g.power_w.map_or("n/a".into(), |w| format!("{w:.0}")),
            g.power_limit_w.map_or("n/a".into(), |w| format!("{w:.0}")),
            opt(g.sm_clock_mhz, ""),
            opt(g.memory_clock_mhz, ""),
            opt(g.utilization_gpu_pct, ""),
            opt(g.utilization_memory_pct, ""),
            gib(g.memory_free_bytes),
            if g.throttle_reasons.is_empty() {
                "none".to_string()
            } else {
                g.throttle_reasons.join(",")
            },
            if g.throttled() { "  [THROTTLED]" } else { "" }
        );
    }
}

/// Runs `wheelhouse hw`.
pub fn hw(args: HwArgs, format: Option<Format>) -> Result<u8, Exit> {
    if !(args.interval.is_finite() && args.interval > 0.0) {
        return Err(Exit::usage(anyhow::anyhow!(
            "--interval must be a positive number of seconds, got {}",
            args.interval
        )));
    }
    let probe = Probe::system();
    let gpu = GpuProbe::new();
    if let Err(why) = &gpu {
        tracing::info!("{why}");
    }
    let report = match &gpu {
        Ok(g) => g.report(),
        Err(e) => GpuReport::unavailable(e.clone()),
    };
    let hw = probe.hardware(report);
    let json = matches!(format, Some(Format::Json));
    let mut policy = Policy::new(match args.policy {
        PolicyArg::Maximum => PolicyMode::Maximum,
        PolicyArg::Balanced => PolicyMode::Balanced,
        PolicyArg::Conservative => PolicyMode::Conservative,
    });
    let live = probe.live(gpu.as_ref().ok());
    let t = policy.update(&Sample::of(&live));
    if json {
        println!(
            "{}",
            json!({"hardware": hw, "live": live, "policy": policy_json(&policy, t.as_ref())})
        );
    } else {
        print_static(&hw);
        println!();
        print_live(&live);
        print_policy(&policy, t.as_ref());
    }
    if args.watch {
        let mut n = 1u64;
        while args.count.is_none_or(|c| n < c) {
            std::thread::sleep(Duration::from_secs_f64(args.interval));
            let live = probe.live(gpu.as_ref().ok());
            let t = policy.update(&Sample::of(&live));
            if let Some(t) = &t {
                tracing::info!("thermal policy: {:?} → {:?}: {}", t.from, t.to, t.reason);
            }
            if json {
                println!(
                    "{}",
                    json!({"live": live, "policy": policy_json(&policy, t.as_ref())})
                );
            } else {
                println!();
                print_live(&live);
                print_policy(&policy, t.as_ref());
            }
            n += 1;
        }
    }
    Ok(EXIT_OK)
}
