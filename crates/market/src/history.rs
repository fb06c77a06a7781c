//! IV rank and IV percentile of a current value against its history.
//!
//! - IV rank = (current − min) / (max − min) over the history window, in [0, 1] (the current
//!   value included in min and max).
//! - IV percentile = fraction of history values strictly below the current one.

/// Rank and percentile of `current` within `history` (finite values only).
///
/// Returns `None` with fewer than two finite history values or a flat history.
pub fn iv_rank_percentile(current: f64, history: &[f64]) -> Option<(f64, f64)> {
    if !current.is_finite() {
        return None;
    }
    let h: Vec<f64> = history.iter().copied().filter(|v| v.is_finite()).collect();
    if h.len() < 2 {
        return None;
    }
    let lo = h.iter().copied().fold(current, f64::min);
    let hi = h.iter().copied().fold(current, f64::max);
    if hi <= lo {
        return None;
    }
    let rank = (current - lo) / (hi - lo);
    let below = h.iter().filter(|&&v| v < current).count();
    Some((rank, below as f64 / h.len() as f64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rank_and_percentile() {
        let h = [0.1, 0.2, 0.3, 0.4];
        let (r, p) = iv_rank_percentile(0.25, &h).unwrap();
        assert!((r - 0.5).abs() < 1e-15);
        assert!((p - 0.5).abs() < 1e-15);
        assert_eq!(iv_rank_percentile(0.5, &[0.2]), None);
        assert_eq!(iv_rank_percentile(0.2, &[0.2, 0.2]), None);
    }
}
