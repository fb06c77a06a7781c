//! Philox4x32-10, the counter-based generator of Salmon, Moraes, Dror and Shaw, "Parallel
//! random numbers: as easy as 1, 2, 3" (SC 2011), as specified by Random123.
//!
//! A draw is a pure function of `(key, counter)`, so a Monte Carlo run keyed by
//! `(seed, path, step, factor)` gives the same numbers whatever the thread count or device.
//! Known-answer vectors: Random123 `tests/kat_vectors` (`philox4x32 10` lines), in the tests.

use wheelhouse_pricing::normal::inverse_norm_cdf;

const M0: u32 = 0xD251_1F53;
const M1: u32 = 0xCD9E_8D57;
const W0: u32 = 0x9E37_79B9;
const W1: u32 = 0xBB67_AE85;

#[inline]
fn mulhilo(a: u32, b: u32) -> (u32, u32) {
    let p = u64::from(a) * u64::from(b);
    ((p >> 32) as u32, p as u32)
}

/// Ten rounds of Philox4x32 on `counter` with `key`.
#[inline]
pub fn philox4x32_10(counter: [u32; 4], key: [u32; 2]) -> [u32; 4] {
    let mut c = counter;
    let mut k = key;
    for round in 0..10 {
        if round > 0 {
            k[0] = k[0].wrapping_add(W0);
            k[1] = k[1].wrapping_add(W1);
        }
        let (hi0, lo0) = mulhilo(M0, c[0]);
        let (hi1, lo1) = mulhilo(M1, c[2]);
        c = [hi1 ^ c[1] ^ k[0], lo1, hi0 ^ c[3] ^ k[1], lo0];
    }
    c
}

/// A uniform in (0, 1) from two 32-bit words: 52 random bits, offset by half a step, so the
/// values are `(j + ½)·2⁻⁵²`, all exactly representable, never 0 or 1.
#[inline]
pub fn uniform_open(hi: u32, lo: u32) -> f64 {
    let bits = (u64::from(hi) << 20) | (u64::from(lo) >> 12);
    (bits as f64 + 0.5) * (1.0 / 4_503_599_627_370_496.0)
}

/// Two standard normals for `(seed, path, step, factor)`, by the inverse CDF of two
/// uniforms (AS 241, ~1e-16 relative): deterministic to the bit on every platform.
#[inline]
pub fn normals(seed: u64, path: u64, step: u32, factor: u32) -> (f64, f64) {
    let key = [seed as u32, (seed >> 32) as u32];
    let r = philox4x32_10([path as u32, (path >> 32) as u32, step, factor], key);
    (
        inverse_norm_cdf(uniform_open(r[0], r[1])),
        inverse_norm_cdf(uniform_open(r[2], r[3])),
    )
}

/// One standard normal for `(seed, path, step, factor)`: factor pairs share a counter, the
/// even factor takes the first normal and the odd one the second.
#[inline]
pub fn normal(seed: u64, path: u64, step: u32, factor: u32) -> f64 {
    let (a, b) = normals(seed, path, step, factor / 2);
    if factor.is_multiple_of(2) { a } else { b }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Random123 `tests/kat_vectors`, the three `philox4x32 10` lines: counter[4] key[2] →
    /// result[4].
    #[test]
    fn known_answers() {
        let cases: [([u32; 4], [u32; 2], [u32; 4]); 3] = [
            (
                [0; 4],
                [0; 2],
                [0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8],
            ),
            (
                [u32::MAX; 4],
                [u32::MAX; 2],
                [0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd],
            ),
            (
                [0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344],
                [0xa4093822, 0x299f31d0],
                [0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1],
            ),
        ];
        for (ctr, key, want) in cases {
            assert_eq!(philox4x32_10(ctr, key), want);
        }
    }

    #[test]
    fn uniforms_stay_open_and_normals_have_unit_moments() {
        assert!(uniform_open(0, 0) > 0.0);
        assert!(uniform_open(u32::MAX, u32::MAX) < 1.0);
        let n = 200_000u64;
        let (mut s1, mut s2) = (0.0, 0.0);
        for p in 0..n {
            let z = normal(7, p, 3, 1);
            s1 += z;
            s2 += z * z;
        }
        let mean = s1 / n as f64;
        let var = s2 / n as f64 - mean * mean;
        // 5 standard errors.
        assert!(mean.abs() < 5.0 / (n as f64).sqrt(), "{mean}");
        assert!((var - 1.0).abs() < 5.0 * (2.0 / n as f64).sqrt(), "{var}");
        // Distinct factors of one counter are distinct draws.
        assert_ne!(normal(7, 1, 0, 0), normal(7, 1, 0, 1));
        assert_eq!(normal(7, 1, 0, 1), normals(7, 1, 0, 0).1);
    }
}
