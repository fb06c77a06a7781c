//! Seeded uniform draws for tests, benchmarks and examples that generate their own inputs:
//! xorshift64 (Marsaglia), 53-bit uniforms in [0, 1). Not for statistics: for fixed,
//! reproducible input sets.

/// A stream of uniforms in [0, 1) from `seed` (non-zero).
pub fn uniforms(seed: u64) -> impl FnMut() -> f64 {
    let mut s = seed;
    move || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        (s >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Maps a uniform `u` in [0, 1) to [`lo`, `hi`) evenly in the logarithm (`lo`, `hi` > 0).
pub fn log_uniform(u: f64, lo: f64, hi: f64) -> f64 {
    (lo.ln() + (hi.ln() - lo.ln()) * u).exp()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uniforms_are_in_range_and_reproducible() {
        let (mut a, mut b) = (uniforms(7), uniforms(7));
        let xs: Vec<f64> = (0..10_000).map(|_| a()).collect();
        assert!(xs.iter().all(|x| (0.0..1.0).contains(x)));
        assert!(
            xs.iter()
                .zip((0..10_000).map(|_| b()))
                .all(|(x, y)| *x == y)
        );
        let mean = xs.iter().sum::<f64>() / xs.len() as f64;
        assert!((mean - 0.5).abs() < 0.02, "{mean}");
        let l = log_uniform(0.5, 1.0, 100.0);
        assert!((l - 10.0).abs() < 1e-12, "{l}");
        assert_eq!(log_uniform(0.0, 2.0, 8.0), 2.0);
    }
}
