//! Philox4x32-10, the counter-based generator of Salmon, Moraes, Dror and Shaw, "Parallel
//! random numbers: as easy as 1, 2, 3" (SC 2011), as specified by Random123, and the standard
//! normals the Monte Carlo engines draw from it.
//!
//! A draw is a pure function of `(key, counter)`, so a Monte Carlo run keyed by
//! `(seed, path, step, factor)` gives the same numbers whatever the thread count or device.
//! Known-answer vectors: Random123 `tests/kat_vectors` (`philox4x32 10` lines), in the tests.
//!
//! # Normals
//! Counter `(path mod 2³², path div 2³², step, pair)` under key `(seed mod 2³², seed div 2³²)`
//! gives four words; words 0–1 and 2–3 make two uniforms with 52 random bits each
//! ([`uniform_open`]), turned into normals for factors `2·pair` and `2·pair + 1` by the inverse
//! normal CDF — Wichura's AS 241 with the coefficients of
//! [`wheelhouse_pricing::normal::inverse_norm_cdf`], its polynomials by fused multiply-add
//! Horner steps, and in the tails a table-driven `ln` without division written out here (error
//! below 1 ulp there), so that the lane code has no library call. Within 6 ulps of mpmath over
//! every uniform the generator can produce (test). `f64::mul_add` is exactly rounded on every
//! platform and the lane code has no lane-crossing operation, so the vector copies (AVX-512,
//! AVX2) and the scalar functions below give the same bits: [`normal`] is the lane code on one
//! lane. (Without hardware FMA the scalar copy is slow, not different.)

// Lane code: loops over lane indices that address several arrays at once.
#![allow(clippy::needless_range_loop)]

use crate::simd::{LN2_HI, LN2_LO, LOG_INVC, LOG_LOGC_HI, LOG_LOGC_LO, LOG_OFF};
use wheelhouse_pricing::normal::{AS241_A, AS241_B, AS241_C, AS241_D, AS241_E, AS241_F};

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

/// The Philox key of a seed.
#[inline]
pub fn key_of(seed: u64) -> [u32; 2] {
    [seed as u32, (seed >> 32) as u32]
}

/// Two standard normals for `(seed, path, step, pair)`: factors `2·pair` and `2·pair + 1`.
#[inline]
pub fn normals(seed: u64, path: u64, step: u32, pair: u32) -> (f64, f64) {
    let mut za = [0.0; 1];
    let mut zb = [0.0; 1];
    normal_pair_lanes(
        key_of(seed),
        &[path as u32],
        &[(path >> 32) as u32],
        step,
        pair,
        &mut za,
        &mut zb,
    );
    (za[0], zb[0])
}

/// One standard normal for `(seed, path, step, factor)`: factor pairs share a counter, the
/// even factor takes the first normal and the odd one the second.
#[inline]
pub fn normal(seed: u64, path: u64, step: u32, factor: u32) -> f64 {
    let (a, b) = normals(seed, path, step, factor / 2);
    if factor.is_multiple_of(2) { a } else { b }
}

/// Φ⁻¹ of a uniform in (0, 1) as the lane code computes it (see the module notes).
#[inline]
pub fn inverse_normal(u: f64) -> f64 {
    let mut x = [u];
    inverse_normal_lanes(&mut x);
    x[0]
}

// ---------------------------------------------------------------------------------------------
// Lane code: plain loops over `[_; L]` arrays, vectorised by LLVM in the target-feature context
// of the caller (every function is `#[inline(always)]`).

/// Philox4x32-10 on `L` counters that differ in their first two words. The words are held
/// in 64-bit lanes whose upper halves may carry garbage between rounds (a 32×32→64-bit
/// multiply reads only the lower halves), masked at the end.
#[inline(always)]
pub(crate) fn philox_lanes<const L: usize>(
    key: [u32; 2],
    c0: &[u32; L],
    c1: &[u32; L],
    c2: u32,
    c3: u32,
) -> [[u64; L]; 4] {
    const LO: u64 = 0xFFFF_FFFF;
    let mut a: [u64; L] = std::array::from_fn(|l| u64::from(c0[l]));
    let mut b: [u64; L] = std::array::from_fn(|l| u64::from(c1[l]));
    let mut c = [u64::from(c2); L];
    let mut d = [u64::from(c3); L];
    let mut k = key;
    for round in 0..10 {
        if round > 0 {
            k[0] = k[0].wrapping_add(W0);
            k[1] = k[1].wrapping_add(W1);
        }
        let (k0, k1) = (u64::from(k[0]), u64::from(k[1]));
        for l in 0..L {
            let p0 = u64::from(M0) * (a[l] & LO);
            let p1 = u64::from(M1) * (c[l] & LO);
            a[l] = (p1 >> 32) ^ b[l] ^ k0;
            b[l] = p1;
            c[l] = (p0 >> 32) ^ d[l] ^ k1;
            d[l] = p0;
        }
    }
    for l in 0..L {
        a[l] &= LO;
        b[l] &= LO;
        c[l] &= LO;
        d[l] &= LO;
    }
    [a, b, c, d]
}

/// [`uniform_open`] on lanes (32-bit words in 64-bit lanes), built from the bits
/// (1 + j·2⁻⁵² − 1 + 2⁻⁵³, every step exact, so the same value as `uniform_open`).
#[inline(always)]
fn uniform_lanes<const L: usize>(hi: &[u64; L], lo: &[u64; L], out: &mut [f64; L]) {
    for l in 0..L {
        let bits = (hi[l] << 20) | (lo[l] >> 12);
        out[l] =
            (f64::from_bits(0x3FF0_0000_0000_0000 | bits) - 1.0) + 1.0 / 9_007_199_254_740_992.0;
    }
}

/// The two normals of counter `(path, step, pair)` for `L` paths (`p0`, `p1`: the low and high
/// words of each lane's path).
#[inline(always)]
pub(crate) fn normal_pair_lanes<const L: usize>(
    key: [u32; 2],
    p0: &[u32; L],
    p1: &[u32; L],
    step: u32,
    pair: u32,
    za: &mut [f64; L],
    zb: &mut [f64; L],
) {
    let r = philox_lanes(key, p0, p1, step, pair);
    uniform_lanes(&r[0], &r[1], za);
    uniform_lanes(&r[2], &r[3], zb);
    inverse_normal_lanes(za);
    inverse_normal_lanes(zb);
}

/// The uniforms of counter `(path, step, pair)` for 16 paths: `u[l]` is path `l`'s first
/// (factor `2·pair`), `u[16 + l]` its second.
#[inline(always)]
pub(crate) fn uniform_pair_16(
    key: [u32; 2],
    p0: &[u32; 16],
    p1: &[u32; 16],
    step: u32,
    pair: u32,
    u: &mut [f64],
) {
    let r = philox_lanes(key, p0, p1, step, pair);
    let mut a = [0.0; 16];
    let mut b = [0.0; 16];
    uniform_lanes(&r[0], &r[1], &mut a);
    uniform_lanes(&r[2], &r[3], &mut b);
    u[..16].copy_from_slice(&a);
    u[16..32].copy_from_slice(&b);
}

/// Φ⁻¹ in place over a buffer of uniforms (length a multiple of 32), with the tails
/// compacted: the central rational runs on every element, 32 at a time, and records the
/// elements beyond it (15 %); the tail formula (ln, √, rational) then runs on those alone, 16
/// at a time. Per element the same operations as [`inverse_normal`], so the same bits.
#[inline(always)]
pub(crate) fn inverse_normal_buffer(
    buf: &mut [f64],
    tail_idx: &mut Vec<u32>,
    tail_u: &mut Vec<f64>,
) {
    tail_idx.clear();
    tail_u.clear();
    for (c, chunk) in buf.chunks_exact_mut(32).enumerate() {
        let u: &mut [f64; 32] = chunk.try_into().expect("chunks of 32");
        let saved = *u;
        let mask = central_lanes(u);
        let mut m = mask;
        while m != 0 {
            let l = m.trailing_zeros() as usize;
            tail_idx.push((c * 32 + l) as u32);
            tail_u.push(saved[l]);
            m &= m - 1;
        }
    }
    for (idx, us) in tail_idx.chunks(16).zip(tail_u.chunks(16)) {
        // A partial last group computes on stand-ins.
        let mut u = [0.01; 16];
        u[..us.len()].copy_from_slice(us);
        tail_lanes(&mut u);
        for (&i, &x) in idx.iter().zip(&u) {
            buf[i as usize] = x;
        }
    }
}

/// `c[7]·x⁷ + … + c[0]` by Horner's scheme with fused multiply-adds (one rounding per step;
/// `mul_add` is exactly rounded on every platform, so every copy of the lane code agrees).
#[inline(always)]
fn horner8(c: &[f64; 8], x: f64) -> f64 {
    let mut y = c[7];
    for k in (0..7).rev() {
        y = y.mul_add(x, c[k]);
    }
    y
}

/// Φ⁻¹(u) in place for `u` in (0, 1) (AS 241, polynomials by FMA Horner).
#[inline(always)]
pub(crate) fn inverse_normal_lanes<const L: usize>(u: &mut [f64; L]) {
    let saved = *u;
    if central_lanes(u) != 0 {
        let mut t = saved;
        tail_lanes(&mut t);
        for l in 0..L {
            if (saved[l] - 0.5).abs() > 0.425 {
                u[l] = t[l];
            }
        }
    }
}

/// AS 241's central region in place: Φ⁻¹(u) for |u − ½| ≤ 0.425; other lanes get a value of no
/// use and their bit set in the returned mask (lanes 0–63).
#[inline(always)]
fn central_lanes<const L: usize>(u: &mut [f64; L]) -> u64 {
    let mut mask = 0u64;
    for l in 0..L {
        let q = u[l] - 0.5;
        let r = (-q).mul_add(q, 0.180625);
        u[l] = q * horner8(&AS241_A, r) / horner8(&AS241_B, r);
        mask |= u64::from(q.abs() > 0.425) << l;
    }
    mask
}

/// AS 241's tails in place: Φ⁻¹(u) for |u − ½| > 0.425 (any u in (0, 1) computes, the central
/// ones to no use).
#[inline(always)]
fn tail_lanes<const L: usize>(u: &mut [f64; L]) {
    let mut p = [0.0; L];
    for l in 0..L {
        p[l] = if u[l] < 0.5 { u[l] } else { 1.0 - u[l] };
    }
    let lnp = ln_lanes(&p);
    let mut r = [0.0; L];
    let mut any_far = false;
    let mut num = [0.0; L];
    let mut den = [0.0; L];
    for l in 0..L {
        r[l] = (-lnp[l]).sqrt();
        any_far |= r[l] > 5.0;
        let s = r[l] - 1.6;
        num[l] = horner8(&AS241_C, s);
        den[l] = horner8(&AS241_D, s);
    }
    if any_far {
        for l in 0..L {
            let s = r[l] - 5.0;
            if r[l] > 5.0 {
                num[l] = horner8(&AS241_E, s);
                den[l] = horner8(&AS241_F, s);
            }
        }
    }
    for l in 0..L {
        let v = num[l] / den[l];
        u[l] = if u[l] < 0.5 { -v } else { v };
    }
}

/// ln x for positive normal `x`, without a division: x = 2^k·z, z ∈ [0.6875, 1.375), the
/// 128-entry table of 1/c (7 significant bits) and −ln(1/c) (mpmath, in `crate::simd`),
/// r = z/c − 1 = z·(1/c) − 1 rounded once (a fused multiply-add),
/// ln(1 + r) by its Taylor series to r⁸ (|r| < 0.0091: truncation below 1e-17). Absolute error
/// within 0.5 ulp of the result + 2e-18: within 1 ulp wherever |ln x| ≥ 0.02, which covers its
/// use here (x ≤ 0.075, |ln x| > 2.5).
#[inline(always)]
pub(crate) fn ln_lanes<const L: usize>(x: &[f64; L]) -> [f64; L] {
    let mut out = [0.0; L];
    for l in 0..L {
        let ix = x[l].to_bits();
        let tmp = ix.wrapping_sub(LOG_OFF);
        let idx = ((tmp >> 45) & 127) as usize;
        let k = (tmp as i64) >> 52;
        let z = f64::from_bits(ix.wrapping_sub(tmp & (0xfff << 52)));
        // z·(1/c) − 1 with one rounding.
        let r = z.mul_add(LOG_INVC[idx], -1.0);
        let kf = k as f64;
        // Both multiples of 2^-43 and small: exact.
        let s1 = kf * LN2_HI + LOG_LOGC_HI[idx];
        let lo = kf * LN2_LO + LOG_LOGC_LO[idx];
        let mut p: f64 = -0.125;
        for c in [1.0 / 7.0, -1.0 / 6.0, 0.2, -0.25, 1.0 / 3.0, -0.5] {
            p = p.mul_add(r, c);
        }
        let t = (r * r) * p;
        out[l] = s1 + (r + (lo + t));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use wheelhouse_pricing::normal::inverse_norm_cdf;

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
            let r = philox_lanes(key, &[ctr[0]; 3], &[ctr[1]; 3], ctr[2], ctr[3]);
            for l in 0..3 {
                let got = [r[0][l], r[1][l], r[2][l], r[3][l]].map(|w| w as u32);
                assert_eq!(got, want);
                assert!(r.iter().all(|w| w[l] >> 32 == 0));
            }
        }
    }

    #[test]
    fn uniforms_stay_open_and_lanes_match_scalar() {
        assert!(uniform_open(0, 0) > 0.0);
        assert!(uniform_open(u32::MAX, u32::MAX) < 1.0);
        let mut s = 0x1234_5678_9abc_def0u64;
        for _ in 0..10_000 {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let (hi, lo) = ((s >> 32) as u32, s as u32);
            let mut out = [0.0];
            uniform_lanes(&[u64::from(hi)], &[u64::from(lo)], &mut out);
            assert_eq!(out[0].to_bits(), uniform_open(hi, lo).to_bits());
        }
        let mut out = [0.0; 2];
        uniform_lanes(&[0, 0xFFFF_FFFF], &[0, 0xFFFF_FFFF], &mut out);
        assert_eq!(out, [uniform_open(0, 0), uniform_open(u32::MAX, u32::MAX)]);
    }

    /// The lane `ln` against the platform's over (2⁻⁶⁰, ½], every exponent and the table's
    /// boundaries: within 1 ulp.
    #[test]
    fn ln_within_one_ulp() {
        let mut s = 7u64;
        let mut worst = 0u64;
        for e in -60..=0 {
            for _ in 0..4000 {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                let m = 1.0 + (s >> 12) as f64 / 4_503_599_627_370_496.0;
                let x = m * 2f64.powi(e - 1);
                if x > 0.5 {
                    continue;
                }
                let got = ln_lanes(&[x])[0];
                let want = x.ln();
                let d = got.to_bits().abs_diff(want.to_bits());
                worst = worst.max(d);
            }
        }
        for x in [
            0.5,
            0.25,
            0.075,
            0.01,
            0.6875 / 4.0,
            1.375 / 8.0,
            2f64.powi(-53),
        ] {
            let d = ln_lanes(&[x])[0].to_bits().abs_diff(x.ln().to_bits());
            worst = worst.max(d);
        }
        assert!(worst <= 1, "worst {worst} ulps");
    }

    /// The lane inverse CDF: within 6 ulps of mpmath (50 digits, the golden table of
    /// `wheelhouse_pricing::normal`, the bound `inverse_norm_cdf` itself meets) over the
    /// uniforms the generator can produce, [2⁻⁵³, 1 − 2⁻⁵³], and within 8 ulps of
    /// `inverse_norm_cdf` (both within 6 of the exact value) on random and log-uniform
    /// draws.
    #[test]
    fn inverse_matches_references() {
        let golden = include_str!("../../testkit/data/normal.csv");
        let mut rows = 0;
        for line in golden
            .lines()
            .filter(|l| l.starts_with("inverse_norm_cdf,"))
        {
            let mut it = line.split(',').skip(1);
            let p: f64 = it.next().unwrap().parse().unwrap();
            let want: f64 = it.next().unwrap().parse().unwrap();
            if !(2f64.powi(-53)..=1.0 - 2f64.powi(-53)).contains(&p) {
                continue;
            }
            rows += 1;
            let got = inverse_normal(p);
            let ulp = f64::from_bits(want.abs().to_bits() + 1) - want.abs();
            let e = (got - want).abs() / ulp.max(f64::from_bits(1));
            assert!(e <= 6.0, "p = {p}: {got} vs {want} ({e} ulps)");
        }
        assert!(rows > 500, "{rows}");
        let mut s = 99u64;
        let mut worst_tail = 0u64;
        let check = |u: f64, worst_tail: &mut u64| {
            let got = inverse_normal(u);
            let want = inverse_norm_cdf(u);
            let d = got.to_bits().abs_diff(want.to_bits());
            if (u - 0.5).abs() <= 0.425 {
                assert!(d <= 8, "u = {u}: {d} ulps");
            } else {
                *worst_tail = (*worst_tail).max(d);
            }
        };
        for _ in 0..200_000 {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            check(uniform_open((s >> 32) as u32, s as u32), &mut worst_tail);
            // Log-uniform tails down to 2⁻⁵³.
            let e = -((s >> 58) as i32) - 1;
            let t = (1.0 + (s & 0xffff) as f64 / 65536.0) * 2f64.powi(e.max(-52) - 1);
            check(t, &mut worst_tail);
            check(1.0 - t, &mut worst_tail);
        }
        check(uniform_open(0, 0), &mut worst_tail);
        check(uniform_open(u32::MAX, u32::MAX), &mut worst_tail);
        assert!(worst_tail <= 8, "worst tail {worst_tail} ulps");
        assert!(inverse_normal(uniform_open(0, 0)) < -8.0);
    }

    /// Every lane width gives the scalar function's bits.
    #[test]
    fn lanes_match_scalar_normals() {
        let key = key_of(0xDEAD_BEEF_0000_0042);
        let p0: [u32; 16] = std::array::from_fn(|l| (u32::MAX - 7).wrapping_add(l as u32));
        let p1 = [3u32; 16];
        let mut za = [0.0; 16];
        let mut zb = [0.0; 16];
        normal_pair_lanes(key, &p0, &p1, 5, 2, &mut za, &mut zb);
        for l in 0..16 {
            let path = (3u64 << 32) | u64::from(p0[l]);
            let (a, b) = normals(0xDEAD_BEEF_0000_0042, path, 5, 2);
            assert_eq!(
                (za[l].to_bits(), zb[l].to_bits()),
                (a.to_bits(), b.to_bits())
            );
            assert_eq!(normal(0xDEAD_BEEF_0000_0042, path, 5, 5), b);
        }
    }

    #[test]
    fn normals_have_unit_moments() {
        let n = 200_000u64;
        let (mut s1, mut s2, mut s4) = (0.0, 0.0, 0.0);
        for p in 0..n {
            let z = normal(7, p, 3, 1);
            s1 += z;
            s2 += z * z;
            s4 += z * z * z * z;
        }
        let nf = n as f64;
        let mean = s1 / nf;
        let var = s2 / nf - mean * mean;
        // 5 standard errors.
        assert!(mean.abs() < 5.0 / nf.sqrt(), "{mean}");
        assert!((var - 1.0).abs() < 5.0 * (2.0 / nf).sqrt(), "{var}");
        assert!(
            (s4 / nf - 3.0).abs() < 5.0 * (96.0 / nf).sqrt(),
            "{}",
            s4 / nf
        );
        assert_ne!(normal(7, 1, 0, 0), normal(7, 1, 0, 1));
    }
}
