//! Memory budgets: reservations, limits, priorities, pressure callbacks that evict a cache,
//! clear refusals.

use std::sync::{Arc, Mutex};

use wheelhouse_hardware::budget::{Budget, BudgetError, Priority, Reservation};

#[test]
fn reservations_add_up_and_return_on_drop() {
    let b = Budget::new(1000);
    b.declare("engines", None);
    b.declare("caches", Some(300));
    let a = b.reserve("engines", 400, Priority::Normal).unwrap();
    let c = b.reserve("caches", 200, Priority::Normal).unwrap();
    assert_eq!(b.usage().used, 600);
    assert_eq!(b.usage().components["caches"], (200, Some(300)));
    drop(a);
    assert_eq!(b.usage().used, 200);
    drop(c);
    assert_eq!(b.usage().used, 0);
}

#[test]
fn limits_priorities_and_clear_refusals() {
    let b = Budget::new(1000);
    b.declare("caches", Some(300));
    b.declare("engines", None);
    let _c = b.reserve("caches", 250, Priority::Normal).unwrap();
    // The component's own limit: Normal refused, High allowed past it.
    let e = b.reserve("caches", 100, Priority::Normal).unwrap_err();
    assert!(
        matches!(e, BudgetError::Exhausted { available: 50, .. }),
        "{e}"
    );
    let _h = b.reserve("caches", 100, Priority::High).unwrap();
    // The hard limit: a clear error naming the component and the numbers.
    let e = b.reserve("engines", 700, Priority::High).unwrap_err();
    let msg = e.to_string();
    assert!(
        msg.contains("engines") && msg.contains("700") && msg.contains("650 available"),
        "{msg}"
    );
    // Low priority is refused above the pressure threshold (850) even under the total.
    let e = b.reserve("engines", 550, Priority::Low).unwrap_err();
    assert!(
        matches!(e, BudgetError::Exhausted { available: 500, .. }),
        "{e}"
    );
    let _n = b.reserve("engines", 550, Priority::Normal).unwrap();
    assert!(matches!(
        b.reserve("bus", 1, Priority::Normal),
        Err(BudgetError::UnknownComponent(_))
    ));
}

/// An evictable cache registered as a pressure callback gives its memory back when a request
/// would cross the threshold; a batch-size query shrinks with what is left.
#[test]
fn pressure_evicts_caches_first() {
    let b = Budget::new(1000);
    b.declare("caches", None);
    b.declare("engines", None);
    let cache: Arc<Mutex<Vec<Reservation>>> = Arc::new(Mutex::new(Vec::new()));
    for _ in 0..6 {
        let r = b.reserve("caches", 100, Priority::Low).unwrap();
        cache.lock().unwrap().push(r);
    }
    let held = cache.clone();
    b.on_pressure("cache eviction", move |p| {
        let mut v = held.lock().unwrap();
        let mut freed = 0;
        while freed < p.wanted {
            match v.pop() {
                Some(r) => freed += r.bytes(),
                None => break,
            }
        }
        freed
    });
    assert_eq!(b.usage().pressure_events, 0);
    // 600 used; 400 more crosses 850 by 150: two cache entries go.
    let big = b.reserve("engines", 400, Priority::Normal).unwrap();
    assert_eq!(b.usage().pressure_events, 1);
    assert_eq!(cache.lock().unwrap().len(), 4);
    assert_eq!(b.usage().used, 800);
    assert_eq!(b.fitting_items("engines", 8, 1_000, Priority::Normal), 6);
    drop(big);
    assert_eq!(b.fitting_items("engines", 8, 10, Priority::Normal), 10);
}

#[test]
fn machine_budget_has_the_standard_components() {
    let hw = wheelhouse_hardware::Probe::system()
        .hardware(wheelhouse_hardware::GpuReport::unavailable("test".into()));
    let b = Budget::for_machine(&hw, 0.5);
    let u = b.usage();
    assert!(u.total > 0);
    for c in ["store", "caches", "gpu_workspace", "bus", "engines"] {
        assert!(u.components.contains_key(c), "{c}");
    }
}
