//! Counter-based randomness: every draw is a pure function of a key (seed, symbol, date,
//! contract, stream), so any subset of the sample regenerates identically and in any order.

use wheelhouse_pricing::normal::inverse_norm_cdf;

/// SplitMix64 finaliser (Steele, Lea, Flood 2014): a bijective 64-bit mixer.
#[inline]
pub(crate) fn splitmix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A hash key built by chaining components through [`splitmix64`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Key(u64);

impl Key {
    /// The root key of a seed.
    pub(crate) fn new(seed: u64) -> Self {
        Key(splitmix64(seed))
    }

    /// This key extended by one component.
    #[inline]
    pub(crate) fn with(self, component: u64) -> Self {
        Key(splitmix64(self.0 ^ splitmix64(component)))
    }

    /// This key extended by a string (FNV-1a of its bytes).
    pub(crate) fn with_str(self, s: &str) -> Self {
        let mut h: u64 = 0xCBF2_9CE4_8422_2325;
        for b in s.bytes() {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01B3);
        }
        self.with(h)
    }

    /// A uniform draw in the open interval (0, 1) for stream `stream` of this key.
    #[inline]
    pub(crate) fn uniform(self, stream: u64) -> f64 {
        let bits = self.with(stream).0 >> 11; // 53 bits
        (bits as f64 + 0.5) / (1u64 << 53) as f64
    }

    /// A standard normal draw for stream `stream` (inverse CDF of [`Key::uniform`]).
    #[inline]
    pub(crate) fn normal(self, stream: u64) -> f64 {
        inverse_norm_cdf(self.uniform(stream))
    }
}

/// A Poisson draw with mean `lambda` from the uniform `u` (inversion; a rounded normal
/// approximation above λ = 50). Non-finite or non-positive means give 0.
pub(crate) fn poisson(lambda: f64, u: f64) -> i64 {
    if !(lambda.is_finite() && lambda > 0.0) {
        return 0;
    }
    if lambda > 50.0 {
        let x = lambda + lambda.sqrt() * inverse_norm_cdf(u);
        return x.round().max(0.0) as i64;
    }
    let mut p = (-lambda).exp();
    let mut cdf = p;
    let mut k = 0i64;
    while u > cdf && k < 1000 {
        k += 1;
        p *= lambda / k as f64;
        cdf += p;
    }
    k
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_pure_and_distinct() {
        let a = Key::new(1).with_str("AAPL").with(15_000);
        assert_eq!(a, Key::new(1).with_str("AAPL").with(15_000));
        assert_ne!(a, Key::new(2).with_str("AAPL").with(15_000));
        assert_ne!(a, Key::new(1).with_str("AAPM").with(15_000));
        assert_ne!(a.uniform(0), a.uniform(1));
    }

    #[test]
    fn draws_have_the_right_moments() {
        let k = Key::new(7);
        let n = 100_000;
        let (mut s, mut s2, mut su) = (0.0, 0.0, 0.0);
        for i in 0..n {
            let z = k.normal(i);
            s += z;
            s2 += z * z;
            let u = k.uniform(i + n);
            assert!(u > 0.0 && u < 1.0);
            su += u;
        }
        let nf = n as f64;
        assert!((s / nf).abs() < 0.02);
        assert!((s2 / nf - 1.0).abs() < 0.02);
        assert!((su / nf - 0.5).abs() < 0.01);
        for lambda in [0.3, 4.0, 80.0] {
            let m: f64 = (0..n)
                .map(|i| poisson(lambda, k.uniform(3 * n + i)) as f64)
                .sum::<f64>()
                / nf;
            assert!((m / lambda - 1.0).abs() < 0.03, "{lambda} {m}");
        }
        assert_eq!(poisson(0.0, 0.5), 0);
        assert_eq!(poisson(f64::NAN, 0.5), 0);
    }
}
