//! The parsers on fixture trees laid out like `/proc` and `/sys`, and a smoke test of the
//! real machine.

use std::fs;
use std::path::Path;

use wheelhouse_hardware::{GpuReport, Probe, parse_cpu_list, parse_size};

fn put(root: &Path, rel: &str, text: &str) {
    let p = root.join(rel);
    fs::create_dir_all(p.parent().unwrap()).unwrap();
    fs::write(p, text).unwrap();
}

/// Two sockets × 2 cores × 2 threads, caches, cgroup v2 with a 1.5-core quota and a 3 GiB
/// limit, one hwmon chip and one thermal zone.
fn fixture(root: &Path) {
    let mut cpuinfo = String::new();
    for c in 0..8 {
        cpuinfo.push_str(&format!(
            "processor\t: {c}\nmodel name\t: Test CPU @ 3.0GHz\nflags\t\t: fpu sse4_2 avx avx2 fma avx512f\n\n"
        ));
        // Threads c and c + 4 share a core; packages 0 (cpus 0,1,4,5) and 1.
        let core = c % 2;
        let pkg = (c % 4) / 2;
        put(
            root,
            &format!("sys/devices/system/cpu/cpu{c}/topology/core_id"),
            &format!("{core}\n"),
        );
        put(
            root,
            &format!("sys/devices/system/cpu/cpu{c}/topology/physical_package_id"),
            &format!("{pkg}\n"),
        );
    }
    put(root, "proc/cpuinfo", &cpuinfo);
    put(root, "sys/devices/system/cpu/online", "0-7\n");
    let cache = "sys/devices/system/cpu/cpu0/cache";
    for (i, (level, kind, size, shared)) in [
        ("1", "Data", "48K", "0,4"),
        ("1", "Instruction", "32K", "0,4"),
        ("2", "Unified", "2048K", "0,4"),
        ("3", "Unified", "105M", "0-1,4-5"),
    ]
    .iter()
    .enumerate()
    {
        put(root, &format!("{cache}/index{i}/level"), level);
        put(root, &format!("{cache}/index{i}/type"), kind);
        put(root, &format!("{cache}/index{i}/size"), size);
        put(root, &format!("{cache}/index{i}/shared_cpu_list"), shared);
    }
    put(
        root,
        "proc/meminfo",
        "MemTotal:       16384000 kB\nMemFree:         1000 kB\nMemAvailable:    8192000 kB\n",
    );
    put(root, "sys/fs/cgroup/cgroup.controllers", "cpu memory\n");
    put(root, "sys/fs/cgroup/cpu.max", "150000 100000\n");
    put(root, "sys/fs/cgroup/memory.max", "3221225472\n");
    put(root, "sys/fs/cgroup/memory.current", "1073741824\n");
    put(root, "sys/class/hwmon/hwmon0/name", "coretemp\n");
    put(root, "sys/class/hwmon/hwmon0/temp1_input", "45000\n");
    put(root, "sys/class/hwmon/hwmon0/temp1_label", "Package id 0\n");
    put(root, "sys/class/hwmon/hwmon0/temp2_input", "41500\n");
    put(
        root,
        "sys/class/thermal/thermal_zone0/type",
        "x86_pkg_temp\n",
    );
    put(root, "sys/class/thermal/thermal_zone0/temp", "46000\n");
}

#[test]
fn fixture_machine_is_read_exactly() {
    let dir = tempfile::tempdir().unwrap();
    fixture(dir.path());
    let p = Probe::at(dir.path());
    let hw = p.hardware(GpuReport::unavailable("test".into()));
    let cpu = &hw.cpu;
    assert_eq!(cpu.model.as_deref(), Some("Test CPU @ 3.0GHz"));
    assert_eq!(cpu.logical, 8);
    assert_eq!(cpu.physical, Some(4));
    assert_eq!(cpu.sockets, Some(2));
    assert_eq!(cpu.smt, Some(true));
    assert_eq!(cpu.features, ["sse4_2", "avx", "avx2", "fma", "avx512f"]);
    assert_eq!(cpu.caches.len(), 4);
    assert_eq!(cpu.caches[0].size_bytes, 48 * 1024);
    assert_eq!(cpu.caches[3].size_bytes, 105 * 1024 * 1024);
    assert_eq!(cpu.caches[3].shared_by, 4);
    assert_eq!(hw.memory.total_bytes, Some(16_384_000 * 1024));
    assert_eq!(hw.memory.available_bytes, Some(8_192_000 * 1024));
    assert_eq!(hw.cgroup.version, Some(2));
    assert_eq!(hw.cgroup.cpu_quota_cores, Some(1.5));
    assert_eq!(hw.cgroup.memory_limit_bytes, Some(3 << 30));
    // 1.5 cores of quota → 2 usable; memory: min(available 7.8 GiB, limit − current = 2 GiB).
    assert_eq!(hw.usable_cores, 2);
    assert_eq!(hw.usable_memory_bytes, Some(2 << 30));
    let t = p.temperatures();
    let names: Vec<&str> = t.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "hwmon/coretemp/Package id 0",
            "hwmon/coretemp/temp2",
            "thermal/x86_pkg_temp"
        ]
    );
    assert_eq!(t[1].celsius, 41.5);
    let live = p.live(None);
    assert_eq!(live.cgroup_memory_current_bytes, Some(1 << 30));
    assert!(live.gpus.is_empty());
}

#[test]
fn cgroup_v1_and_unlimited_groups() {
    let dir = tempfile::tempdir().unwrap();
    let r = dir.path();
    put(r, "sys/fs/cgroup/cpu/cpu.cfs_quota_us", "-1\n");
    put(r, "sys/fs/cgroup/cpu/cpu.cfs_period_us", "100000\n");
    put(
        r,
        "sys/fs/cgroup/memory/memory.limit_in_bytes",
        "9223372036854771712\n",
    );
    let c = Probe::at(r).cgroup();
    assert_eq!(c.version, Some(1));
    assert_eq!(c.cpu_quota_cores, None);
    assert_eq!(c.memory_limit_bytes, None);
    put(r, "sys/fs/cgroup/cpu/cpu.cfs_quota_us", "250000\n");
    put(
        r,
        "sys/fs/cgroup/memory/memory.limit_in_bytes",
        "1073741824\n",
    );
    let c = Probe::at(r).cgroup();
    assert_eq!(c.cpu_quota_cores, Some(2.5));
    assert_eq!(c.memory_limit_bytes, Some(1 << 30));
    // v2 "max".
    let d2 = tempfile::tempdir().unwrap();
    put(d2.path(), "sys/fs/cgroup/cgroup.controllers", "cpu\n");
    put(d2.path(), "sys/fs/cgroup/cpu.max", "max 100000\n");
    put(d2.path(), "sys/fs/cgroup/memory.max", "max\n");
    let c = Probe::at(d2.path()).cgroup();
    assert_eq!(
        (c.version, c.cpu_quota_cores, c.memory_limit_bytes),
        (Some(2), None, None)
    );
}

#[test]
fn empty_tree_reports_nothing_instead_of_failing() {
    let dir = tempfile::tempdir().unwrap();
    let p = Probe::at(dir.path());
    let hw = p.hardware(GpuReport::unavailable("none".into()));
    assert_eq!(hw.cpu.model, None);
    assert_eq!(hw.cpu.physical, None);
    assert_eq!(hw.cpu.logical, 1);
    assert!(hw.cpu.caches.is_empty());
    assert_eq!(hw.cgroup.version, None);
    assert!(p.temperatures().is_empty());
}

#[test]
fn lists_and_sizes() {
    assert_eq!(parse_cpu_list("0-3,8,10-11"), [0, 1, 2, 3, 8, 10, 11]);
    assert_eq!(parse_cpu_list(""), Vec::<usize>::new());
    assert_eq!(parse_cpu_list("5-2,x"), Vec::<usize>::new());
    assert_eq!(parse_size("48K"), Some(49152));
    assert_eq!(parse_size("32M"), Some(32 << 20));
    assert_eq!(parse_size("12"), Some(12));
    assert_eq!(parse_size("K"), None);
}

/// This machine: at least one core and some memory; NVML either loads or says why.
#[test]
fn the_real_machine() {
    let hw = wheelhouse_hardware::detect();
    assert!(hw.usable_cores >= 1);
    assert!(hw.cpu.logical >= hw.usable_cores);
    assert!(hw.memory.total_bytes.unwrap_or(1) > 0);
    assert!(hw.gpus.nvml || hw.gpus.reason.is_some());
}

/// The container's CPU quota (1.5 cores on an 8-CPU host) sizes the workload-class pools.
#[test]
fn cgroup_quota_sizes_the_thread_pools() {
    use wheelhouse_hardware::pools::{PoolSizes, WorkloadClass};
    let dir = tempfile::tempdir().unwrap();
    fixture(dir.path());
    let hw = Probe::at(dir.path()).hardware(GpuReport::unavailable("test".into()));
    let sizes = PoolSizes::for_machine(&hw);
    assert_eq!(sizes.usable_cores, hw.usable_cores);
    assert!(hw.usable_cores <= 2, "quota 1.5 → at most 2 cores");
    assert_eq!(sizes.threads(WorkloadClass::OptionsMath), hw.usable_cores);
    assert!(WorkloadClass::ALL.iter().all(|&c| sizes.threads(c) >= 1));
}
