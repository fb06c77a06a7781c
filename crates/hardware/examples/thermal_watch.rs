//! Watches the GPUs and the throttle policy for a while: every `interval` ms one JSON line with
//! each GPU's live state (power, SM clock, temperature, NVML throttle reasons) and the policy's
//! state and scales, plus one line per policy transition. Run it beside a sustained load (for
//! example a PyTorch fp64 matrix multiply) to see the power cap reach the policy.
//!
//! `thermal_watch [seconds=30] [interval_ms=250] [maximum|balanced|conservative]`

use std::sync::Arc;
use std::time::{Duration, Instant};

use wheelhouse_hardware::GpuProbe;
use wheelhouse_hardware::monitor::{Monitor, SystemSampler};
use wheelhouse_hardware::thermal::{Policy, PolicyMode};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let seconds: f64 = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(30.0);
    let every = Duration::from_millis(args.get(2).and_then(|s| s.parse().ok()).unwrap_or(250));
    let mode = match args.get(3).map(String::as_str) {
        Some("maximum") => PolicyMode::Maximum,
        Some("conservative") => PolicyMode::Conservative,
        _ => PolicyMode::Balanced,
    };
    let gpus = match GpuProbe::new() {
        Ok(g) => g,
        Err(e) => {
            eprintln!("no GPU to watch: {e}");
            std::process::exit(2);
        }
    };
    let started = Arc::new(Instant::now());
    // Sampled by hand below (the same sampler the CLI's monitor runs on its thread).
    let monitor = Monitor::start(Policy::new(mode), SystemSampler::new(), None);
    let t0 = Arc::clone(&started);
    monitor.subscribe(move |t, p| {
        println!(
            "{{\"at_s\":{:.3},\"transition\":{},\"batch_scale\":{},\"worker_scale\":{}}}",
            t0.elapsed().as_secs_f64(),
            serde_json::to_string(t).unwrap_or_default(),
            p.batch_scale(),
            p.worker_scale()
        );
    });
    while started.elapsed().as_secs_f64() < seconds {
        monitor.step();
        let p = monitor.policy();
        println!(
            "{{\"at_s\":{:.3},\"gpus\":{},\"state\":\"{:?}\",\"batch_scale\":{},\"worker_scale\":{}}}",
            started.elapsed().as_secs_f64(),
            serde_json::to_string(&gpus.live()).unwrap_or_default(),
            p.state,
            p.batch_scale(),
            p.worker_scale()
        );
        std::thread::sleep(every);
    }
}
