//! Memory budgets: a total (from the detected limit, or configured) split into named
//! components, reservations as RAII guards with a priority, evictable caches and pressure
//! callbacks.
//!
//! # Rules
//! - A reservation of `n` bytes for a component succeeds when the total stays within the hard
//!   limit and the component within its own limit (if it has one; [`Priority::High`] may exceed
//!   a component's limit, never the total).
//! - When a reservation would take the total above the pressure threshold (default 85 % of the
//!   total), the pressure callbacks run first, in registration order, each asked to free what
//!   is missing (shrink batch sizes, evict caches, lower DuckDB's memory limit) and returning
//!   what it freed; [`Priority::Low`] requests are then refused rather than cross the threshold.
//! - Over the hard limit a request is refused with [`BudgetError::Exhausted`], naming the
//!   component, the request and what is available: a clear error instead of the process being
//!   killed.
//! - Dropping a [`Reservation`] returns its bytes.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use thiserror::Error;

/// How much a request matters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Priority {
    /// Optional work (prefetch, larger-than-needed batches): refused above the pressure
    /// threshold.
    Low,
    /// Normal work.
    Normal,
    /// Work that must proceed: may exceed its component's limit (not the total).
    High,
}

/// Why a reservation was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum BudgetError {
    /// Not enough memory left.
    #[error(
        "memory budget exhausted: {component} asked for {requested} bytes, {available} available \
         ({used} of {total} in use)"
    )]
    Exhausted {
        /// The component.
        component: String,
        /// Bytes asked for.
        requested: u64,
        /// Bytes that could have been granted.
        available: u64,
        /// Bytes in use (all components).
        used: u64,
        /// The total.
        total: u64,
    },
    /// The component was never declared.
    #[error("unknown memory budget component {0}")]
    UnknownComponent(String),
}

/// What a pressure callback is told.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pressure {
    /// Bytes in use.
    pub used: u64,
    /// The pressure threshold, bytes.
    pub threshold: u64,
    /// Bytes the pending request needs freed to stay under the threshold.
    pub wanted: u64,
}

type Callback = Box<dyn Fn(Pressure) -> u64 + Send + Sync>;

struct Component {
    limit: Option<u64>,
    used: u64,
}

struct State {
    total: u64,
    threshold: u64,
    components: BTreeMap<String, Component>,
    callbacks: Vec<(String, Arc<Callback>)>,
    pressure_events: u64,
}

/// A memory budget shared by the components of a process.
#[derive(Clone)]
pub struct Budget {
    state: Arc<Mutex<State>>,
}

impl std::fmt::Debug for Budget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let u = self.usage();
        f.debug_struct("Budget")
            .field("total", &u.total)
            .field("used", &u.used)
            .finish()
    }
}

/// A snapshot of the budget.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Usage {
    /// The hard limit.
    pub total: u64,
    /// The pressure threshold.
    pub threshold: u64,
    /// In use.
    pub used: u64,
    /// Per component: (used, limit).
    pub components: BTreeMap<String, (u64, Option<u64>)>,
    /// Times the pressure callbacks ran.
    pub pressure_events: u64,
}

/// Bytes held for a component until dropped.
#[derive(Debug)]
#[must_use = "the bytes are returned when the reservation is dropped"]
pub struct Reservation {
    budget: Budget,
    component: String,
    bytes: u64,
}

impl Reservation {
    /// Bytes held.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Gives back all but `bytes` (nothing when it holds that much or less already): what a
    /// pressure callback does after shrinking the memory it accounts for.
    pub fn shrink_to(&mut self, bytes: u64) {
        if bytes >= self.bytes {
            return;
        }
        let mut s = self.budget.lock();
        if let Some(c) = s.components.get_mut(&self.component) {
            c.used = c.used.saturating_sub(self.bytes - bytes);
        }
        self.bytes = bytes;
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        let mut s = self.budget.lock();
        if let Some(c) = s.components.get_mut(&self.component) {
            c.used = c.used.saturating_sub(self.bytes);
        }
    }
}

impl Budget {
    /// A budget of `total` bytes with the pressure threshold at 85 %.
    pub fn new(total: u64) -> Budget {
        Budget {
            state: Arc::new(Mutex::new(State {
                total,
                threshold: (total as f64 * 0.85) as u64,
                components: BTreeMap::new(),
                callbacks: Vec::new(),
                pressure_events: 0,
            })),
        }
    }

    /// The budget for this machine: `fraction` of the memory the process may use (available
    /// memory capped by the cgroup limit), with the standard components (store, caches,
    /// gpu_workspace, bus, engines) declared without limits of their own.
    pub fn for_machine(hw: &crate::Hardware, fraction: f64) -> Budget {
        let usable = hw
            .usable_memory_bytes
            .or(hw.memory.total_bytes)
            .unwrap_or(1 << 30);
        let b = Budget::new((usable as f64 * fraction.clamp(0.0, 1.0)) as u64);
        for c in ["store", "caches", "gpu_workspace", "bus", "engines"] {
            b.declare(c, None);
        }
        b
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding the lock leaves consistent counters (every update is a single
        // assignment), so a poisoned lock is still usable.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Sets the pressure threshold as a fraction of the total.
    pub fn set_pressure_threshold(&self, fraction: f64) {
        let mut s = self.lock();
        s.threshold = (s.total as f64 * fraction.clamp(0.0, 1.0)) as u64;
    }

    /// Declares (or re-limits) a component.
    pub fn declare(&self, name: &str, limit: Option<u64>) {
        let mut s = self.lock();
        s.components
            .entry(name.to_string())
            .and_modify(|c| c.limit = limit)
            .or_insert(Component { limit, used: 0 });
    }

    /// Registers a pressure callback (an evictable cache, a batch-size reducer, the store's
    /// memory limit); it gets the pressure and returns the bytes it freed (which it must also
    /// have released from its own reservations).
    pub fn on_pressure(&self, name: &str, f: impl Fn(Pressure) -> u64 + Send + Sync + 'static) {
        self.lock()
            .callbacks
            .push((name.to_string(), Arc::new(Box::new(f))));
    }

    /// Reserves `bytes` for `component`.
    ///
    /// # Errors
    /// [`BudgetError::UnknownComponent`]; [`BudgetError::Exhausted`] when the request does not
    /// fit (see the module's rules).
    pub fn reserve(
        &self,
        component: &str,
        bytes: u64,
        priority: Priority,
    ) -> Result<Reservation, BudgetError> {
        // Pressure callbacks run without the lock held (they release their own reservations).
        let pressure = {
            let s = self.lock();
            if !s.components.contains_key(component) {
                return Err(BudgetError::UnknownComponent(component.to_string()));
            }
            let used: u64 = s.components.values().map(|c| c.used).sum();
            (used + bytes > s.threshold).then(|| {
                (
                    Pressure {
                        used,
                        threshold: s.threshold,
                        wanted: used + bytes - s.threshold,
                    },
                    s.callbacks
                        .iter()
                        .map(|(_, f)| f.clone())
                        .collect::<Vec<_>>(),
                )
            })
        };
        if let Some((p, callbacks)) = pressure {
            self.lock().pressure_events += 1;
            let mut freed = 0u64;
            for f in callbacks {
                if freed >= p.wanted {
                    break;
                }
                freed += f(Pressure {
                    wanted: p.wanted - freed,
                    ..p
                });
            }
            tracing::info!(
                "memory pressure: {} bytes over the threshold for {component}, {freed} freed",
                p.wanted
            );
        }
        let mut s = self.lock();
        let used: u64 = s.components.values().map(|c| c.used).sum();
        let (total, threshold) = (s.total, s.threshold);
        let c = s
            .components
            .get_mut(component)
            .ok_or_else(|| BudgetError::UnknownComponent(component.to_string()))?;
        let cap_total = if priority == Priority::Low {
            threshold
        } else {
            total
        };
        let mut available = cap_total.saturating_sub(used);
        if priority != Priority::High
            && let Some(l) = c.limit
        {
            available = available.min(l.saturating_sub(c.used));
        }
        if bytes > available {
            return Err(BudgetError::Exhausted {
                component: component.to_string(),
                requested: bytes,
                available,
                used,
                total,
            });
        }
        c.used += bytes;
        Ok(Reservation {
            budget: self.clone(),
            component: component.to_string(),
            bytes,
        })
    }

    /// The largest number of items of `bytes_per_item` (at most `wanted`) that `component` can
    /// reserve now at `priority` without pressure: how batch sizes shrink under a budget.
    pub fn fitting_items(
        &self,
        component: &str,
        bytes_per_item: u64,
        wanted: u64,
        priority: Priority,
    ) -> u64 {
        let s = self.lock();
        let used: u64 = s.components.values().map(|c| c.used).sum();
        let mut room = s.threshold.saturating_sub(used);
        if priority != Priority::High
            && let Some(c) = s.components.get(component)
            && let Some(l) = c.limit
        {
            room = room.min(l.saturating_sub(c.used));
        }
        (room / bytes_per_item.max(1)).min(wanted)
    }

    /// A snapshot.
    pub fn usage(&self) -> Usage {
        let s = self.lock();
        Usage {
            total: s.total,
            threshold: s.threshold,
            used: s.components.values().map(|c| c.used).sum(),
            components: s
                .components
                .iter()
                .map(|(n, c)| (n.clone(), (c.used, c.limit)))
                .collect(),
            pressure_events: s.pressure_events,
        }
    }
}
