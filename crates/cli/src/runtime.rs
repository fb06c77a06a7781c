//! The process's hardware runtime, built once on first use: thread-pool sizes per workload
//! class (from the cores the process may use), the thermal monitor (`--thermal-policy`) and
//! the scales it drives in every compute backend, and the memory budget the store and the
//! engines reserve from. Under memory pressure the store's DuckDB memory limit is halved (down
//! to 64 MiB) before anything is refused.

use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Duration;

use clap::ValueEnum;
use wheelhouse_compute::Scales;
use wheelhouse_hardware::budget::{Budget, Pressure, Priority, Reservation};
use wheelhouse_hardware::monitor::{Monitor, SystemSampler};
use wheelhouse_hardware::pools::PoolSizes;
use wheelhouse_hardware::thermal::{Policy, PolicyMode};
use wheelhouse_store::{MemoryLimit, Store};

/// `--thermal-policy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ThermalArg {
    /// Full speed until hot (85 °C warm, 92 °C hot).
    Maximum,
    /// The default (78 / 87 °C).
    Balanced,
    /// Cool and quiet (70 / 80 °C).
    Conservative,
    /// No monitor.
    Off,
}

static POLICY: OnceLock<ThermalArg> = OnceLock::new();
static RUNTIME: OnceLock<Runtime> = OnceLock::new();

/// Fraction of usable memory the process budgets for itself.
const BUDGET_FRACTION: f64 = 0.8;
/// Share of the budget DuckDB may use when no memory limit is configured.
const STORE_SHARE: f64 = 0.3;
/// The store's memory limit is never lowered below this.
const STORE_FLOOR: u64 = 64 << 20;

/// The store's reservation and the handle that lowers its limit.
type StoreSlot = Mutex<Option<(Reservation, MemoryLimit)>>;

pub(crate) struct Runtime {
    pub(crate) sizes: PoolSizes,
    pub(crate) scales: Arc<Scales>,
    pub(crate) budget: Budget,
    store: Arc<StoreSlot>,
    _monitor: Option<Monitor>,
}

/// Sets the policy (before the runtime is first used).
pub(crate) fn set_policy(p: ThermalArg) {
    let _ = POLICY.set(p);
}

/// The runtime (built on first call).
pub(crate) fn get() -> &'static Runtime {
    RUNTIME.get_or_init(|| {
        let hw = wheelhouse_hardware::Probe::system().hardware(
            wheelhouse_hardware::GpuReport::unavailable("not probed".into()),
        );
        let sizes = PoolSizes::for_machine(&hw);
        let scales = Scales::new();
        let mode = match POLICY.get().copied().unwrap_or(ThermalArg::Balanced) {
            ThermalArg::Maximum => Some(PolicyMode::Maximum),
            ThermalArg::Balanced => Some(PolicyMode::Balanced),
            ThermalArg::Conservative => Some(PolicyMode::Conservative),
            ThermalArg::Off => None,
        };
        let monitor = mode.map(|m| {
            let mon = Monitor::start(
                Policy::new(m),
                SystemSampler::new(),
                Some(Duration::from_secs(1)),
            );
            let s = scales.clone();
            mon.subscribe(move |_, p| s.set(p.worker_scale(), p.batch_scale()));
            mon
        });
        let budget = Budget::for_machine(&hw, BUDGET_FRACTION);
        let store: Arc<StoreSlot> = Arc::new(Mutex::new(None));
        let slot = store.clone();
        budget.on_pressure("store", move |p| relieve_store(&slot, p));
        tracing::debug!("runtime: pools {sizes:?}, budget {budget:?}");
        Runtime {
            sizes,
            scales,
            budget,
            store,
            _monitor: monitor,
        }
    })
}

/// The store's pressure callback: lowers DuckDB's memory limit by what is wanted, at least
/// halving it, never below [`STORE_FLOOR`]; returns the bytes freed.
fn relieve_store(slot: &StoreSlot, p: Pressure) -> u64 {
    let mut guard = slot.lock().unwrap_or_else(PoisonError::into_inner);
    let Some((res, limit)) = guard.as_mut() else {
        return 0;
    };
    let have = res.bytes();
    let want = have.saturating_sub(p.wanted).min(have / 2).max(STORE_FLOOR);
    if want >= have || limit.set_bytes(want).is_err() {
        return 0;
    }
    res.shrink_to(want);
    tracing::warn!(
        "memory pressure: DuckDB memory limit lowered from {} to {} MiB",
        have >> 20,
        want >> 20
    );
    have - want
}

impl Runtime {
    /// DuckDB's memory limit when none is configured: a share of the budget.
    pub(crate) fn default_store_memory(&self) -> String {
        let bytes = (self.budget.usage().total as f64 * STORE_SHARE) as u64;
        format!("{}MiB", (bytes.max(STORE_FLOOR)) >> 20)
    }

    /// DuckDB's threads when none are configured: the cores this process may use (the
    /// cgroup quota and affinity mask respected, which DuckDB's own default does not).
    pub(crate) fn default_store_threads(&self) -> usize {
        self.sizes.usable_cores
    }

    /// Accounts for an opened store in the budget (its DuckDB memory limit, lowered to what
    /// the budget can hold) and lets memory pressure lower that limit.
    pub(crate) fn attach_store(&self, store: &Store) {
        let Ok(limit) = store.memory_limit() else {
            return;
        };
        let Ok(mut bytes) = limit.bytes() else {
            return;
        };
        let fits = self
            .budget
            .fitting_items("store", 1 << 20, bytes >> 20, Priority::Normal)
            << 20;
        // (DuckDB reports its limit rounded, so compare whole MiB.)
        if fits >> 20 < bytes >> 20 {
            let lowered = fits.max(STORE_FLOOR);
            if limit.set_bytes(lowered).is_ok() {
                tracing::info!(
                    "DuckDB memory limit {} MiB lowered to {} MiB to fit the memory budget",
                    bytes >> 20,
                    lowered >> 20
                );
                bytes = lowered;
            }
        }
        let mut slot = self.store.lock().unwrap_or_else(PoisonError::into_inner);
        // The previous store's reservation (if any) is released first.
        *slot = None;
        if let Ok(res) = self.budget.reserve("store", bytes, Priority::Normal) {
            *slot = Some((res, limit));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A Monte Carlo reservation that crosses the pressure threshold lowers the store's DuckDB
    /// limit (database-wide) and is then granted.
    #[test]
    fn pressure_lowers_the_duckdb_limit_before_refusing() {
        let budget = Budget::new(1 << 30);
        budget.declare("store", None);
        budget.declare("engines", None);
        let store = Store::open_in_memory().unwrap();
        let limit = store.memory_limit().unwrap();
        limit.set_bytes(800 << 20).unwrap();
        let res = budget
            .reserve("store", 800 << 20, Priority::Normal)
            .unwrap();
        let slot: Arc<StoreSlot> = Arc::new(Mutex::new(Some((res, limit))));
        let s2 = slot.clone();
        budget.on_pressure("store", move |p| relieve_store(&s2, p));
        // 800 MiB in use of 1 GiB (threshold 870 MiB): 200 MiB more needs 130 MiB freed.
        let mc = budget
            .reserve("engines", 200 << 20, Priority::Normal)
            .unwrap();
        assert_eq!(mc.bytes(), 200 << 20);
        let text: String = store
            .connection()
            .query_row("SELECT current_setting('memory_limit')", [], |r| r.get(0))
            .unwrap();
        let g = slot.lock().unwrap();
        let now = g.as_ref().unwrap().0.bytes();
        // Halved (the 130 MiB wanted is less than half), and DuckDB says so.
        assert_eq!(now, 400 << 20);
        assert!(text.starts_with("400") && text.contains("MiB"), "{text}");
        assert_eq!(budget.usage().pressure_events, 1);
    }
}
