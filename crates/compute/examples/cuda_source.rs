//! Prints the device module's source exactly as NVRTC compiles it (coefficient tables
//! included), for reading or for compiling it by hand: `cargo run -p wheelhouse-compute
//! --example cuda_source > module.cu`.

fn main() {
    print!("{}", wheelhouse_compute::cuda::module_source());
}
