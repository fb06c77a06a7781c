//! Price + Greeks on the GPU against the CPU reference: random European options over the
//! golden ranges (1 hour to 5 years, strike/spot 0.25–4, vol 1 %–300 %, rates −1 %–10 %,
//! yields 0–6 %), every column compared with the tolerance of the CPU kernels' own test
//! (1e-13·|v| + 1e-15·max(S, K)) and the worst relative error reported, with timings.
//! `WHEELHOUSE_GPU_GREEKS_MIN=1 cargo run --release -p wheelhouse-compute --example gpu_greeks --
//! [n] [threads] [random|chain]` (the variable routes the batch to the GPU; it is off by
//! default). `chain` draws the inputs of `torch_peer.py chain` instead (S 100, K U[60, 140],
//! T log-U[1 week, 2 years], σ U[10 %, 80 %], r U[0, 5 %], q U[0, 3 %]): quotes a chain holds,
//! none in the far tails that the kernel leaves to the CPU (41 % of the random ones are).

use std::time::Instant;

use wheelhouse_compute::{Backend, DeviceChoice, GreeksBatch, OptionBatch};
use wheelhouse_core::OptionType;
use wheelhouse_testkit::random::{log_uniform, uniforms};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let n: usize = args
        .get(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(4_000_000);
    let threads: Option<usize> = args.get(2).and_then(|s| s.parse().ok());
    let chain = args.get(3).is_some_and(|m| m == "chain");
    let mut u = uniforms(0x2545_F491_4F6C_DD1D);
    let lu = log_uniform;
    let mut kind = Vec::with_capacity(n);
    let (mut s, mut k, mut t, mut r, mut q, mut v) =
        (vec![], vec![], vec![], vec![], vec![], vec![]);
    for i in 0..n {
        kind.push(if i % 2 == 0 {
            OptionType::Call
        } else {
            OptionType::Put
        });
        if chain {
            s.push(100.0);
            k.push(60.0 + 80.0 * u());
            t.push(lu(u(), 7.0 / 365.0, 2.0));
            r.push(0.05 * u());
            q.push(0.03 * u());
            v.push(0.1 + 0.7 * u());
            continue;
        }
        let spot = lu(u(), 5.0, 2000.0);
        s.push(spot);
        k.push(spot * lu(u(), 0.25, 4.0));
        t.push(lu(u(), 1.0 / 8760.0, 5.0));
        r.push(-0.01 + 0.11 * u());
        q.push(0.06 * u());
        v.push(lu(u(), 0.01, 3.0));
    }
    // A few invalid elements: they must fail exactly as on the CPU.
    s[7] = -1.0;
    v[11] = f64::NAN;
    let batch = OptionBatch {
        kind: &kind,
        spot: &s,
        strike: &k,
        years: &t,
        rate: &r,
        dividend_yield: &q,
        volatility: &v,
        style: None,
    };
    let gpu = Backend::with_device(threads, DeviceChoice::Cuda).unwrap();
    let cpu = Backend::cpu(threads).unwrap();
    // End to end from host columns into reused output columns (`greeks_into`, as a caller
    // pricing batch after batch does: no allocation or page faults in the timing), on both.
    let mut gt = vec![];
    let mut g = GreeksBatch::default();
    gpu.greeks_into(&batch, &mut g).unwrap();
    for _ in 0..3 {
        let t0 = Instant::now();
        gpu.greeks_into(&batch, &mut g).unwrap();
        gt.push(t0.elapsed().as_secs_f64());
    }
    let mut c = GreeksBatch::default();
    cpu.greeks_into(&batch, &mut c).unwrap();
    let mut ct = f64::INFINITY;
    for _ in 0..3 {
        let t0 = Instant::now();
        cpu.greeks_into(&batch, &mut c).unwrap();
        ct = ct.min(t0.elapsed().as_secs_f64());
    }
    let names = [
        "price", "delta", "gamma", "vega", "theta", "rho", "vanna", "volga", "charm",
    ];
    let gc = [
        &g.price, &g.delta, &g.gamma, &g.vega, &g.theta, &g.rho, &g.vanna, &g.volga, &g.charm,
    ];
    let cc = [
        &c.price, &c.delta, &c.gamma, &c.vega, &c.theta, &c.rho, &c.vanna, &c.volga, &c.charm,
    ];
    let mut report = vec![];
    let mut outside = 0usize;
    for (ci, name) in names.iter().enumerate() {
        let (mut worst_rel, mut over_tol) = (0.0f64, 0usize);
        for i in 0..n {
            let (a, b) = (gc[ci][i], cc[ci][i]);
            if !c.status[i].is_ok() {
                assert!(!g.status[i].is_ok() && a.is_nan(), "element {i} status");
                continue;
            }
            let tol = 1e-13 * b.abs() + 1e-15 * s[i].max(k[i]);
            let d = (a - b).abs();
            if d > tol {
                over_tol += 1;
            }
            if b.abs() > 1e-300 {
                worst_rel = worst_rel.max(d / b.abs());
            }
        }
        outside += over_tol;
        report.push(format!(
            "\"{name}\":{{\"worst_rel\":{worst_rel:.3e},\"over_tol\":{over_tol}}}"
        ));
    }
    // Resident: the kernel alone on device-resident columns, against the copy bandwidth.
    let dev = wheelhouse_compute::cuda::CudaDevice::open(0).expect("device");
    let t = dev.time_resident_greeks(&batch, 10).expect("resident");
    let bytes = t.bytes_per_option * n as f64;
    println!(
        "{{\"mix\":{:?},\"resident_kernel_s\":{:.6},\"floor_kernel_s\":{:.6},\"resident_options_per_s\":{:.4e},\"kernel_bytes_per_s\":{:.4e},\"copy_bytes_per_s\":{:.4e},\"fraction_of_floor\":{:.3},\"fraction_of_copy_bandwidth\":{:.3},\"floor_fraction_of_copy\":{:.3},\"per_thread\":{}}}",
        if chain { "chain" } else { "random" },
        t.kernel_seconds,
        t.floor_seconds,
        n as f64 / t.kernel_seconds,
        bytes / t.kernel_seconds,
        t.copy_bytes_per_second,
        t.floor_seconds / t.kernel_seconds,
        bytes / t.kernel_seconds / t.copy_bytes_per_second,
        bytes / t.floor_seconds / t.copy_bytes_per_second,
        wheelhouse_compute::cuda::greeks_per_thread()
    );
    println!(
        "{{\"n\":{n},\"device\":{:?},\"gpu_seconds\":{gt:?},\"cpu_seconds\":{ct:.4},\"cpu_threads\":{},\"gpu_options_per_s\":{:.3e},\"failed_elements\":{},\"fallbacks\":{},\"outside_tolerance\":{outside},{}}}",
        gpu.accelerator().unwrap_or_default(),
        cpu.threads(),
        n as f64 / gt.iter().cloned().fold(f64::INFINITY, f64::min),
        g.failures(),
        gpu.fallbacks(),
        report.join(",")
    );
}
