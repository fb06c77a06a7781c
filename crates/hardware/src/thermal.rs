//! Thermal and throttle policy: a state machine over sampled temperatures and GPU throttle
//! reasons, with hysteresis, in one of three modes, that tells the engines how much to scale
//! their batch sizes and worker counts, and how much headroom is left.
//!
//! # States
//! `Normal` → `Warm` at the mode's warm threshold, → `Hot` at its hot threshold; back down only
//! once the temperature is `hysteresis` degrees below the threshold it crossed. `Throttled`
//! whenever a GPU reports a power cap, hardware slowdown or thermal slowdown (NVML throttle
//! reasons: sustained fp64 load on an H100/H200 reaches the power cap and the SM clock drops);
//! it clears after two consecutive samples without one. The hottest sensor counts.
//!
//! | mode | warm | hot | batch scale (normal / warm / hot, throttled) | workers |
//! |---|---|---|---|---|
//! | maximum | 85 °C | 92 °C | 1 / 1 / 0.5 | 1 / 1 / 0.75 |
//! | balanced | 78 °C | 87 °C | 1 / 0.75 / 0.5 | 1 / 1 / 0.5 |
//! | conservative | 70 °C | 80 °C | 0.75 / 0.5 / 0.25 | 0.75 / 0.5 / 0.5 |

use serde::Serialize;

/// How aggressively to use the hardware.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum PolicyMode {
    /// Full speed until hot.
    Maximum,
    /// The default.
    Balanced,
    /// Cool and quiet.
    Conservative,
}

/// The thermal state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub enum ThermalState {
    /// Below the warm threshold.
    Normal,
    /// Between warm and hot.
    Warm,
    /// Above hot.
    Hot,
    /// A GPU is power- or heat-throttled.
    Throttled,
}

/// One sample of the sensors.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize)]
pub struct Sample {
    /// The hottest temperature seen (CPU or GPU), °C; `None` when nothing is exposed.
    pub max_temperature_c: Option<f64>,
    /// Whether any GPU reports a power cap, hardware or thermal slowdown.
    pub gpu_throttled: bool,
}

impl Sample {
    /// A sample from the live state (the hottest of every CPU sensor and GPU).
    pub fn of(live: &crate::LiveState) -> Sample {
        let cpu = live.cpu_temperatures.iter().map(|s| s.celsius);
        let gpu = live
            .gpus
            .iter()
            .filter_map(|g| g.temperature_c.map(f64::from));
        Sample {
            max_temperature_c: cpu
                .chain(gpu)
                .fold(None, |m: Option<f64>, t| Some(m.map_or(t, |m| m.max(t)))),
            gpu_throttled: live.gpus.iter().any(|g| g.throttled()),
        }
    }
}

/// A change of state and why.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Transition {
    /// Before.
    pub from: ThermalState,
    /// After.
    pub to: ThermalState,
    /// Why, in words.
    pub reason: String,
}

/// The policy: mode, thresholds, state.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Policy {
    /// The mode.
    pub mode: PolicyMode,
    /// Warm threshold, °C.
    pub warm_c: f64,
    /// Hot threshold, °C.
    pub hot_c: f64,
    /// Degrees below a threshold before the state comes back down.
    pub hysteresis_c: f64,
    /// The state now.
    pub state: ThermalState,
    /// The temperature state underneath a throttle (what `Throttled` returns to).
    temp_state: ThermalState,
    clear_samples: u32,
    last_temperature_c: Option<f64>,
}

impl Policy {
    /// A policy in `mode`, starting `Normal`.
    pub fn new(mode: PolicyMode) -> Policy {
        let (warm_c, hot_c) = match mode {
            PolicyMode::Maximum => (85.0, 92.0),
            PolicyMode::Balanced => (78.0, 87.0),
            PolicyMode::Conservative => (70.0, 80.0),
        };
        Policy {
            mode,
            warm_c,
            hot_c,
            hysteresis_c: 5.0,
            state: ThermalState::Normal,
            temp_state: ThermalState::Normal,
            clear_samples: 0,
            last_temperature_c: None,
        }
    }

    /// Takes a sample; returns the transition when the state changed.
    pub fn update(&mut self, s: &Sample) -> Option<Transition> {
        let before = self.state;
        if let Some(t) = s.max_temperature_c {
            self.last_temperature_c = Some(t);
            self.temp_state = match self.temp_state {
                ThermalState::Normal | ThermalState::Throttled if t >= self.hot_c => {
                    ThermalState::Hot
                }
                ThermalState::Normal | ThermalState::Throttled if t >= self.warm_c => {
                    ThermalState::Warm
                }
                ThermalState::Warm if t >= self.hot_c => ThermalState::Hot,
                ThermalState::Warm if t < self.warm_c - self.hysteresis_c => ThermalState::Normal,
                ThermalState::Hot if t < self.warm_c - self.hysteresis_c => ThermalState::Normal,
                ThermalState::Hot if t < self.hot_c - self.hysteresis_c => ThermalState::Warm,
                other => other,
            };
        }
        if s.gpu_throttled {
            self.clear_samples = 0;
            self.state = ThermalState::Throttled;
        } else if self.state == ThermalState::Throttled {
            self.clear_samples += 1;
            if self.clear_samples >= 2 {
                self.state = self.temp_state;
            }
        } else {
            self.state = self.temp_state;
        }
        (self.state != before).then(|| Transition {
            from: before,
            to: self.state,
            reason: if s.gpu_throttled {
                "a GPU reports a power cap or a thermal/hardware slowdown".to_string()
            } else if before == ThermalState::Throttled {
                "GPU throttling cleared for two samples".to_string()
            } else {
                format!(
                    "hottest sensor {:.1} °C (warm {:.0}, hot {:.0}, hysteresis {:.0})",
                    self.last_temperature_c.unwrap_or(f64::NAN),
                    self.warm_c,
                    self.hot_c,
                    self.hysteresis_c
                )
            },
        })
    }

    /// Factor for batch sizes in this state.
    pub fn batch_scale(&self) -> f64 {
        use ThermalState::*;
        match (self.mode, self.state) {
            (PolicyMode::Maximum, Normal | Warm) => 1.0,
            (PolicyMode::Maximum, Hot | Throttled) => 0.5,
            (PolicyMode::Balanced, Normal) => 1.0,
            (PolicyMode::Balanced, Warm) => 0.75,
            (PolicyMode::Balanced, Hot | Throttled) => 0.5,
            (PolicyMode::Conservative, Normal) => 0.75,
            (PolicyMode::Conservative, Warm) => 0.5,
            (PolicyMode::Conservative, Hot | Throttled) => 0.25,
        }
    }

    /// Factor for worker counts in this state.
    pub fn worker_scale(&self) -> f64 {
        use ThermalState::*;
        match (self.mode, self.state) {
            (PolicyMode::Maximum, Normal | Warm) => 1.0,
            (PolicyMode::Maximum, Hot | Throttled) => 0.75,
            (PolicyMode::Balanced, Normal | Warm) => 1.0,
            (PolicyMode::Balanced, Hot | Throttled) => 0.5,
            (PolicyMode::Conservative, Normal) => 0.75,
            (PolicyMode::Conservative, Warm | Hot | Throttled) => 0.5,
        }
    }

    /// Workers to use out of `available` (at least one).
    pub fn workers(&self, available: usize) -> usize {
        ((available as f64 * self.worker_scale()).floor() as usize).max(1)
    }

    /// Degrees left below the hot threshold at the last sample (negative when above); `None`
    /// when no temperature is exposed.
    pub fn headroom_c(&self) -> Option<f64> {
        self.last_temperature_c.map(|t| self.hot_c - t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(t: f64) -> Sample {
        Sample {
            max_temperature_c: Some(t),
            gpu_throttled: false,
        }
    }

    /// Up at the thresholds, down only past the hysteresis; batch and worker factors follow.
    #[test]
    fn hysteresis() {
        let mut p = Policy::new(PolicyMode::Balanced);
        assert!(p.update(&at(60.0)).is_none());
        assert_eq!(p.update(&at(78.0)).unwrap().to, ThermalState::Warm);
        assert_eq!(p.batch_scale(), 0.75);
        // 76 is below 78 but not by the hysteresis: still warm.
        assert!(p.update(&at(76.0)).is_none());
        assert_eq!(p.update(&at(88.0)).unwrap().to, ThermalState::Hot);
        assert_eq!((p.batch_scale(), p.workers(16)), (0.5, 8));
        assert!(p.update(&at(84.0)).is_none());
        assert_eq!(p.update(&at(81.0)).unwrap().to, ThermalState::Warm);
        let t = p.update(&at(72.0)).unwrap();
        assert_eq!((t.from, t.to), (ThermalState::Warm, ThermalState::Normal));
        assert!(t.reason.contains("72.0"));
        assert_eq!(p.headroom_c(), Some(15.0));
        // From hot straight to normal on a big drop.
        p.update(&at(95.0));
        assert_eq!(p.update(&at(50.0)).unwrap().to, ThermalState::Normal);
    }

    /// The power cap (NVML SW_POWER_CAP) throttles at any temperature; two clean samples end it.
    #[test]
    fn throttle_reasons_win_and_clear_after_two_samples() {
        let mut p = Policy::new(PolicyMode::Maximum);
        let capped = Sample {
            max_temperature_c: Some(55.0),
            gpu_throttled: true,
        };
        let t = p.update(&capped).unwrap();
        assert_eq!(t.to, ThermalState::Throttled);
        assert!(t.reason.contains("power cap"));
        assert_eq!((p.batch_scale(), p.workers(16)), (0.5, 12));
        assert!(p.update(&at(55.0)).is_none());
        assert_eq!(p.update(&at(55.0)).unwrap().to, ThermalState::Normal);
        // No sensors at all: the state stays, headroom unknown.
        let mut q = Policy::new(PolicyMode::Conservative);
        assert!(q.update(&Sample::default()).is_none());
        assert_eq!(q.headroom_c(), None);
        assert_eq!(q.workers(2), 1);
    }

    #[test]
    fn samples_take_the_hottest_sensor() {
        let live = crate::LiveState {
            cpu_temperatures: vec![
                crate::Sensor {
                    name: "a".into(),
                    celsius: 50.0,
                },
                crate::Sensor {
                    name: "b".into(),
                    celsius: 61.5,
                },
            ],
            memory_available_bytes: None,
            cgroup_memory_current_bytes: None,
            gpus: vec![],
        };
        let s = Sample::of(&live);
        assert_eq!(s.max_temperature_c, Some(61.5));
        assert!(!s.gpu_throttled);
    }
}
