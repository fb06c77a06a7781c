//! The thermal monitor: a background thread that samples the sensors on an interval, runs the
//! [`Policy`] state machine and publishes every change of state — logged through `tracing`
//! (warnings going hotter, information cooling down) and handed to subscribers, which is how
//! the engines learn to lower their batch sizes and worker counts (the CLI subscribes the
//! compute backend's scales).
//!
//! Sampling is behind [`Sampler`] so that tests (and CI, which has no GPU and often no exposed
//! sensors) can script thermal events.

use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::thermal::{Policy, Sample, Transition};

/// A source of sensor samples.
pub trait Sampler: Send + 'static {
    /// One sample now.
    fn sample(&mut self) -> Sample;
}

/// Samples this machine: CPU sensors (hwmon / thermal zones) and, when NVML opened, the GPUs'
/// temperature and throttle reasons.
#[derive(Debug)]
pub struct SystemSampler {
    probe: crate::Probe,
    gpus: Option<crate::GpuProbe>,
}

impl SystemSampler {
    /// The system's sensors (NVML opened once; without it, CPU sensors only).
    pub fn new() -> SystemSampler {
        SystemSampler {
            probe: crate::Probe::system(),
            gpus: crate::GpuProbe::new().ok(),
        }
    }
}

impl Default for SystemSampler {
    fn default() -> Self {
        SystemSampler::new()
    }
}

impl Sampler for SystemSampler {
    fn sample(&mut self) -> Sample {
        Sample::of(&self.probe.live(self.gpus.as_ref()))
    }
}

type Subscriber = Box<dyn Fn(&Transition, &Policy) + Send + Sync>;

struct Shared {
    policy: Mutex<Policy>,
    subscribers: Mutex<Vec<Subscriber>>,
    sampler: Mutex<Box<dyn Sampler>>,
    stop: Mutex<bool>,
    wake: Condvar,
}

impl Shared {
    fn step(&self) -> Option<Transition> {
        let sample = self
            .sampler
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .sample();
        let (t, policy) = {
            let mut p = self.policy.lock().unwrap_or_else(PoisonError::into_inner);
            (p.update(&sample), p.clone())
        };
        if let Some(t) = &t {
            let msg = format!(
                "thermal: {:?} → {:?} ({}); batch sizes ×{}, workers ×{}",
                t.from,
                t.to,
                t.reason,
                policy.batch_scale(),
                policy.worker_scale()
            );
            if t.to > t.from {
                tracing::warn!("{msg}");
            } else {
                tracing::info!("{msg}");
            }
            for s in self
                .subscribers
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .iter()
            {
                s(t, &policy);
            }
        }
        t
    }
}

/// A running monitor; stops (and joins its thread) when dropped.
pub struct Monitor {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for Monitor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Monitor")
            .field("policy", &self.policy())
            .finish()
    }
}

impl Monitor {
    /// A monitor of `policy` over `sampler`, sampling every `interval` on its own thread
    /// (`None`: no thread; call [`Monitor::step`]). The first sample is taken before this
    /// returns, so the state is known at once.
    pub fn start(policy: Policy, sampler: impl Sampler, interval: Option<Duration>) -> Monitor {
        let shared = Arc::new(Shared {
            policy: Mutex::new(policy),
            subscribers: Mutex::new(Vec::new()),
            sampler: Mutex::new(Box::new(sampler)),
            stop: Mutex::new(false),
            wake: Condvar::new(),
        });
        shared.step();
        let thread = interval.map(|every| {
            let sh = shared.clone();
            std::thread::Builder::new()
                .name("wheelhouse-thermal".into())
                .spawn(move || {
                    loop {
                        let stop = sh.stop.lock().unwrap_or_else(PoisonError::into_inner);
                        let (stop, _) = sh
                            .wake
                            .wait_timeout_while(stop, every, |s| !*s)
                            .unwrap_or_else(PoisonError::into_inner);
                        if *stop {
                            return;
                        }
                        drop(stop);
                        sh.step();
                    }
                })
                .ok()
        });
        Monitor {
            shared,
            thread: thread.flatten(),
        }
    }

    /// Calls `f` on every change of state from now on, and once now with the current policy
    /// (as a transition from the state to itself), so a subscriber starts in step.
    pub fn subscribe(&self, f: impl Fn(&Transition, &Policy) + Send + Sync + 'static) {
        let p = self.policy();
        f(
            &Transition {
                from: p.state,
                to: p.state,
                reason: "current state".into(),
            },
            &p,
        );
        self.shared
            .subscribers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(Box::new(f));
    }

    /// Samples now (outside the interval); returns the transition, if any.
    pub fn step(&self) -> Option<Transition> {
        self.shared.step()
    }

    /// The policy as of the last sample.
    pub fn policy(&self) -> Policy {
        self.shared
            .policy
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

impl Drop for Monitor {
    fn drop(&mut self) {
        *self
            .shared
            .stop
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = true;
        self.shared.wake.notify_all();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::thermal::{PolicyMode, ThermalState};
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// Plays a script of samples, then repeats the last.
    struct Script(Vec<Sample>, usize);

    impl Sampler for Script {
        fn sample(&mut self) -> Sample {
            let s = self.0[self.1.min(self.0.len() - 1)];
            self.1 += 1;
            s
        }
    }

    fn t(c: f64) -> Sample {
        Sample {
            max_temperature_c: Some(c),
            gpu_throttled: false,
        }
    }

    #[test]
    fn scripted_thermal_event_reaches_subscribers_with_the_scales() {
        let capped = Sample {
            max_temperature_c: Some(70.0),
            gpu_throttled: true,
        };
        let script = vec![t(60.0), t(80.0), t(90.0), capped, t(70.0), t(70.0), t(70.0)];
        let m = Monitor::start(Policy::new(PolicyMode::Balanced), Script(script, 0), None);
        let seen = Arc::new(Mutex::new(Vec::new()));
        let s2 = seen.clone();
        m.subscribe(move |tr, p| {
            s2.lock()
                .unwrap()
                .push((tr.to, p.batch_scale(), p.worker_scale()));
        });
        for _ in 0..6 {
            m.step();
        }
        let seen = seen.lock().unwrap().clone();
        use ThermalState::*;
        assert_eq!(
            seen,
            vec![
                (Normal, 1.0, 1.0),    // the subscription itself
                (Warm, 0.75, 1.0),     // 80 °C
                (Hot, 0.5, 0.5),       // 90 °C
                (Throttled, 0.5, 0.5), // power cap
                (Normal, 1.0, 1.0),    // two clear samples at 70 °C (below 78 − 5)
            ]
        );
        assert_eq!(m.policy().state, Normal);
    }

    #[test]
    fn the_thread_samples_on_its_interval_and_stops_on_drop() {
        struct Count(Arc<AtomicUsize>);
        impl Sampler for Count {
            fn sample(&mut self) -> Sample {
                self.0.fetch_add(1, Ordering::SeqCst);
                Sample::default()
            }
        }
        let n = Arc::new(AtomicUsize::new(0));
        let m = Monitor::start(
            Policy::new(PolicyMode::Maximum),
            Count(n.clone()),
            Some(Duration::from_millis(5)),
        );
        let t0 = std::time::Instant::now();
        while n.load(Ordering::SeqCst) < 4 && t0.elapsed() < Duration::from_secs(10) {
            std::thread::sleep(Duration::from_millis(2));
        }
        assert!(n.load(Ordering::SeqCst) >= 4);
        drop(m);
        let after = n.load(Ordering::SeqCst);
        std::thread::sleep(Duration::from_millis(30));
        assert_eq!(n.load(Ordering::SeqCst), after, "no sample after drop");
    }
}
