//! Thread-pool sizes per workload class, from the cores this process may use (the cgroup CPU
//! quota and affinity mask included, see [`crate::Hardware::usable_cores`]) and the thermal
//! policy's worker factor.
//!
//! | class | threads (of `c` usable cores) | why |
//! |---|---|---|
//! | options math | `c` | pricing, IV and Greeks batches: compute bound, scale with cores |
//! | risk | `c` | Monte Carlo and stress grids: compute bound |
//! | market data | `⌈c/2⌉` | imports and chain analytics share the machine with DuckDB |
//! | strategy | `⌈c/4⌉` | advice and backtests: many small jobs, latency not throughput |
//! | I/O | `min(c, 4)` | files, bus and database calls: waiting, not computing |
//!
//! A hot or throttled state scales the compute classes by the policy's worker factor (at
//! least one thread each); I/O is left alone (it does not heat anything).

use serde::Serialize;

/// What kind of work a pool runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum WorkloadClass {
    /// Pricing, implied volatility, Greeks.
    OptionsMath,
    /// Imports, chain analytics, surfaces.
    MarketData,
    /// The advisor and backtests.
    Strategy,
    /// Monte Carlo, stress, margin.
    Risk,
    /// Files, database, bus.
    Io,
}

impl WorkloadClass {
    /// Every class.
    pub const ALL: [WorkloadClass; 5] = [
        WorkloadClass::OptionsMath,
        WorkloadClass::MarketData,
        WorkloadClass::Strategy,
        WorkloadClass::Risk,
        WorkloadClass::Io,
    ];
}

/// Threads per class.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct PoolSizes {
    /// Cores the sizes were derived from.
    pub usable_cores: usize,
    /// Options math.
    pub options_math: usize,
    /// Market data.
    pub market_data: usize,
    /// Strategy.
    pub strategy: usize,
    /// Risk.
    pub risk: usize,
    /// I/O.
    pub io: usize,
}

impl PoolSizes {
    /// Sizes for `cores` usable cores (at least one thread per class).
    pub fn for_cores(cores: usize) -> PoolSizes {
        let c = cores.max(1);
        PoolSizes {
            usable_cores: c,
            options_math: c,
            market_data: c.div_ceil(2),
            strategy: c.div_ceil(4),
            risk: c,
            io: c.min(4),
        }
    }

    /// Sizes for this machine.
    pub fn for_machine(hw: &crate::Hardware) -> PoolSizes {
        PoolSizes::for_cores(hw.usable_cores)
    }

    /// Threads of `class`.
    pub fn threads(&self, class: WorkloadClass) -> usize {
        match class {
            WorkloadClass::OptionsMath => self.options_math,
            WorkloadClass::MarketData => self.market_data,
            WorkloadClass::Strategy => self.strategy,
            WorkloadClass::Risk => self.risk,
            WorkloadClass::Io => self.io,
        }
    }

    /// The compute classes scaled by `policy`'s worker factor (I/O unchanged).
    pub fn under(&self, policy: &crate::thermal::Policy) -> PoolSizes {
        PoolSizes {
            options_math: policy.workers(self.options_math),
            market_data: policy.workers(self.market_data),
            strategy: policy.workers(self.strategy),
            risk: policy.workers(self.risk),
            ..*self
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::thermal::{Policy, PolicyMode, Sample};

    #[test]
    fn sizes_follow_the_cores_and_the_policy() {
        let two = PoolSizes::for_cores(2);
        assert_eq!(WorkloadClass::ALL.map(|c| two.threads(c)), [2, 1, 1, 2, 2]);
        let many = PoolSizes::for_cores(16);
        assert_eq!(
            WorkloadClass::ALL.map(|c| many.threads(c)),
            [16, 8, 4, 16, 4]
        );
        assert_eq!(PoolSizes::for_cores(0).options_math, 1);
        // Hot under the balanced policy: compute classes at half, I/O unchanged.
        let mut p = Policy::new(PolicyMode::Balanced);
        p.update(&Sample {
            max_temperature_c: Some(95.0),
            gpu_throttled: false,
        });
        let hot = many.under(&p);
        assert_eq!(WorkloadClass::ALL.map(|c| hot.threads(c)), [8, 4, 2, 8, 4]);
        assert_eq!(two.under(&p).strategy, 1);
    }
}
