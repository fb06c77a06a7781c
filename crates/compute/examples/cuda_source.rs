//! Prints a device module's source exactly as NVRTC compiles it (coefficient tables
//! included), for reading or for compiling it by hand: `cargo run -p wheelhouse-compute
//! --example cuda_source > module.cu` (the main module), or with `american [fast|accurate]`
//! the American kernels for those engine settings (default accurate), or with `iv` the
//! implied-volatility kernel alone.

use wheelhouse_pricing::american::AmericanSettings;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).is_some_and(|a| a == "american") {
        let st = if args.get(2).is_some_and(|a| a == "fast") {
            AmericanSettings::FAST
        } else {
            AmericanSettings::ACCURATE
        };
        match wheelhouse_compute::cuda::american_source(&st) {
            Ok(s) => print!("{s}"),
            Err(e) => {
                eprintln!("{e}");
                std::process::exit(2);
            }
        }
    } else if args.get(1).is_some_and(|a| a == "iv") {
        print!("{}", wheelhouse_compute::cuda::iv_kernel_source());
    } else {
        print!("{}", wheelhouse_compute::cuda::module_source());
    }
}
