//! CUDA kernels built and run as host C++, so that CI (no GPU) checks a kernel's logic
//! element by element against the CPU code it ports.
//!
//! The kernels are header-free C++ with CUDA's qualifiers; with [`PRELUDE`]'s macros a host
//! compiler builds the very source NVRTC gets. A test appends its own `main`, which reads its
//! input on stdin, runs every thread's code in turn (setting `blockIdx.x`), and prints one line
//! per element: an integer status, then each output as the hex bits of its double (see
//! [`MAIN_HELPERS`]). On the host the kernels use the C library's `exp` and `log`, as the
//! Rust code does; fused multiply-adds happen only where the source calls `fma` (the build
//! passes `-ffp-contract=off`).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// CUDA's qualifiers and built-ins as host C++.
pub const PRELUDE: &str = r#"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <vector>
#define __device__
#define __global__
#define __constant__ const
#define __forceinline__ inline
#define __noinline__ __attribute__((noinline))
#define __restrict__
#define __launch_bounds__(a, b)
static inline double __longlong_as_double(long long x) { double d; memcpy(&d, &x, 8); return d; }
static inline long long __double_as_longlong(double x) { long long u; memcpy(&u, &x, 8); return u; }
struct HostDim { unsigned x; };
static HostDim blockIdx = {0}, blockDim = {1}, threadIdx = {0}, gridDim = {1};
// Warp intrinsics for one-thread blocks (each thread its own warp) and a serial atomic.
static inline unsigned __activemask() { return 1u; }
static inline unsigned __ballot_sync(unsigned, bool p) { return p ? 1u : 0u; }
static inline int __shfl_sync(unsigned, int v, int) { return v; }
static inline int __popc(unsigned x) { return __builtin_popcount(x); }
static inline int __ffs(unsigned x) { return __builtin_ffs((int)x); }
static inline int atomicAdd(int* a, int v) { int old = *a; *a += v; return old; }
"#;

/// `bits(x)`: prints a space and the hex bits of a double, for a test's `main`.
pub const MAIN_HELPERS: &str = r#"
static void bits(double x) { unsigned long long u; memcpy(&u, &x, 8); printf(" %016llx", u); }
"#;

/// Builds `source` (the kernels) followed by `main` as a host program with `-O2
/// -ffp-contract=off` plus `defines` (e.g. `-DIV_SELECTS`), in a temporary directory named
/// after `tag` and the process. `None`, with a message, where no C++ compiler is found (`CXX`
/// or `c++`).
///
/// # Panics
/// If the build fails (the message holds the compiler's output).
pub fn build(source: &str, main: &str, tag: &str, defines: &[&str]) -> Option<PathBuf> {
    let cxx = std::env::var("CXX").unwrap_or_else(|_| "c++".into());
    if Command::new(&cxx).arg("--version").output().is_err() {
        eprintln!("skipped: no C++ compiler ({cxx})");
        return None;
    }
    let dir = std::env::temp_dir().join(format!("wheelhouse-host-{}-{tag}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let src = dir.join("kernels.cpp");
    let mut text = String::from(PRELUDE);
    text.push_str(MAIN_HELPERS);
    text.push_str(source);
    text.push_str(main);
    std::fs::write(&src, text).unwrap();
    let bin = dir.join("kernels");
    // No fused multiply-adds but the source's own: the Rust code has none either.
    let out = Command::new(&cxx)
        .args(["-O2", "-std=c++17", "-w", "-ffp-contract=off"])
        .args(defines)
        .arg("-o")
        .arg(&bin)
        .arg(&src)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "host build of the kernels ({tag}) failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(bin)
}

/// Runs a host kernel program with `input` on stdin: per output line, the status and the
/// doubles.
///
/// # Panics
/// If the program fails or prints something else.
pub fn run(bin: &Path, input: &str) -> Vec<(i32, Vec<f64>)> {
    let mut child = Command::new(bin)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "host kernels exited {}", out.status);
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            let mut it = l.split_whitespace();
            let st: i32 = it.next().unwrap().parse().unwrap();
            let v = it
                .map(|h| f64::from_bits(u64::from_str_radix(h, 16).unwrap()))
                .collect();
            (st, v)
        })
        .collect()
}
