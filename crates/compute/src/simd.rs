//! Vectorised European Black-Scholes-Merton price and Greeks for [`crate::Backend::greeks`].
//!
//! # Design
//! The closed form of [`bsm_greeks_unchecked`] is evaluated on tiles of [`TILE`] elements held
//! as lane arrays (`[f64; TILE]`, struct of arrays). Each stage is a short branch-free loop over
//! the tile that LLVM turns into vector instructions (zmm with AVX-512, ymm with AVX2); stages
//! are separate loops so that their iterations are independent, and each loop iteration works
//! on a pack of two lanes half a tile apart with their operations interleaved, so the CPU always
//! has two independent dependency chains to overlap. No libm call in the lane code:
//!
//! * `exp`: Cody–Waite reduction x = k·ln2 + r (k·ln2_hi exact by FMA), e^r = 1 + r + r²·Q(r)
//!   (Q: degree-9 Chebyshev fit, relative error < 2e-17) and an exact ·2^k built from the
//!   exponent bits in two halves (overflow gives +∞, underflow rounds once into the
//!   subnormals); error below 1 ulp.
//! * `ln`: x = 2^k·z with z ∈ [0.6875, 1.375) from the bits, a 128-entry table of 1/c (7
//!   significant bits, so r = z/c − 1 is exact with one FMA) and −ln(1/c) in double-double,
//!   ln(1 + r) by its Taylor series to r¹¹ (|r| < 0.0091), summed error-free: a double-double
//!   with error below 2^-70 relative. Rounded, it is the correctly rounded ln(S/K) — which is
//!   what the platform `ln` of the scalar reference returns except within about 0.02 ulp of a
//!   rounding midpoint (glibc's and musl's `log` are within 0.52 ulp). Lanes within 0.025 ulp of
//!   a midpoint (about 4 %) take the scalar `ln`, so ln(S/K) is the reference's bit for bit: N(d)
//!   has relative condition number ≈ d², and one ulp of ln(S/K) costs more than 1e-13 at
//!   |d| ≈ 30.
//! * d₁, d₂: as in the reference, double-double — ln(S/K) with the rounding of S/K compensated,
//!   x/σ√T with its remainder, d₁,₂ = x/σ√T ± σ√T/2 by TwoSum — and N(d), φ(d) corrected to first
//!   order in the low parts (N(ω(d + δ)) ≈ N(ωd) + ωφ(d)δ), so d's rounding is not amplified.
//! * Normal CDF: Cody's three rational approximations (the coefficients and break points of
//!   [`wheelhouse_pricing::normal::norm_cdf`]), all evaluated on every lane with FMA and
//!   selected per lane, with one division; the third interval is rewritten as a rational in y²
//!   (no 1/y²). Φ(x) for x < −0.66 is ½·e^{−x²/2}·erfcx(|x|/√2), where e^{−x²/2} comes from a
//!   split exponent (x = h + l, h with 26 significant bits so h² is exact; the small part
//!   −l(x + h)/2 joins the reduced argument of `exp`): relative accuracy holds in the tails.
//! * One exponential for both Gaussian factors: e^{−d²/2} of the d of smaller magnitude by
//!   the split exponent, the other from φ(d₂)/φ(d₁) = S·e^{−qT}/(K·e^{−rT}) (see
//!   `Tile::stage_gauss`).
//! * Full tiles are read from the input columns and written to the output columns in place
//!   (no copy through the tile); the last, partial tile goes through padded buffers.
//! * Out of the money (ωd₁, ωd₂ < 0) the price is written as the reference writes it,
//!   a·φ(d₁)·√(π/2)·(erfcx(−ωd₁/√2) − erfcx(−ωd₂/√2)) (Jäckel), so the cancellation between its
//!   two terms happens between well-conditioned numbers.
//! * Far tails: where e^{−d²/2} is tiny but not 0 (36 < |d| ≤ 40), every quantity proportional
//!   to it is computed scaled by 2^600 and unscaled at the end (flushing what would be
//!   subnormal, i.e. below 2.2e-308, to 0): no subnormal operand ever reaches an instruction,
//!   which on x86 would cost a microcode assist of ~150 cycles per vector instruction.
//!
//! The price and Greeks are then the expressions of [`bsm_greeks_unchecked`], with divisions by
//! S, σ, √T, T as multiplications by reciprocals (S/K, 1/(S·σ√T) and the two Cody ratios are the
//! only divisions).
//!
//! # Bit-identical results
//! Each element's result depends only on that element's inputs: no lane-crossing operation,
//! and a run's last, partial tile goes through the same code on a padded tile. Hence results do
//! not depend on the thread count, chunking, batch length or offset. The AVX-512 and AVX2
//! copies perform the same IEEE operations (FMA included) and give the same bits; the scalar
//! fallback (CPUs without AVX2+FMA, non-x86) is [`bsm_greeks_unchecked`] itself.
//!
//! # Exceptional lanes
//! Invalid elements get [`Status::Failed`] from [`validate_bsm`] and NaN outputs. Valid elements
//! outside the range the lane code is written for (S, K, T, σ outside [2^-300, 2^300],
//! |r|, |q| > 2^300, or σ√T > 35 with a d in the far tail) or with any output not finite are
//! recomputed with [`bsm_greeks_unchecked`], so they match the scalar path exactly.

use crate::batch::Status;
use wheelhouse_pricing::black::{bsm_greeks_unchecked, validate_bsm};
use wheelhouse_pricing::{BsmInputs, Greeks, OptionType, PricingError};

/// Elements per tile of the lane code (a multiple of every vector width).
pub(crate) const TILE: usize = 32;

/// Number of output columns (price, delta, gamma, vega, theta, rho, vanna, volga, charm).
pub(crate) const OUTPUTS: usize = 9;

/// Number of output columns of the first-order set (price, delta, vega, theta, rho).
pub(crate) const FIRST_ORDER: usize = 5;

/// Input columns of a run of European elements (all of the same length).
#[derive(Debug, Clone, Copy)]
pub(crate) struct EuroIn<'a> {
    /// Call or put.
    pub(crate) kind: &'a [OptionType],
    /// Spot prices.
    pub(crate) spot: &'a [f64],
    /// Strikes.
    pub(crate) strike: &'a [f64],
    /// Years to expiry.
    pub(crate) years: &'a [f64],
    /// Rates.
    pub(crate) rate: &'a [f64],
    /// Dividend yields.
    pub(crate) dividend_yield: &'a [f64],
    /// Volatilities.
    pub(crate) volatility: &'a [f64],
}

impl EuroIn<'_> {
    #[inline(always)]
    fn len(&self) -> usize {
        self.kind.len()
    }

    #[inline(always)]
    fn get(&self, i: usize) -> BsmInputs {
        BsmInputs {
            kind: self.kind[i],
            spot: self.spot[i],
            strike: self.strike[i],
            years: self.years[i],
            rate: self.rate[i],
            dividend_yield: self.dividend_yield[i],
            volatility: self.volatility[i],
        }
    }
}

/// Output columns of a run, each as long as the input run, and the per-element status.
/// `C` = [`OUTPUTS`]: the full set, in the order price, delta, gamma, vega, theta, rho, vanna,
/// volga, charm; `C` = [`FIRST_ORDER`]: price, delta, vega, theta, rho (the same values; the
/// second-order Greeks are neither computed nor stored).
#[derive(Debug)]
pub(crate) struct EuroOut<'a, const C: usize = OUTPUTS> {
    /// The value columns.
    pub(crate) cols: [&'a mut [f64]; C],
    /// Per-element outcome (left untouched for elements that succeed).
    pub(crate) status: &'a mut [Status],
}

/// The values of output set `C` (see [`EuroOut`]) from a [`Greeks`].
#[inline(always)]
pub(crate) fn output_values<const C: usize>(g: &Greeks) -> [f64; C] {
    const { assert!(C == OUTPUTS || C == FIRST_ORDER) };
    let all = [
        g.price, g.delta, g.gamma, g.vega, g.theta, g.rho, g.vanna, g.volga, g.charm,
    ];
    let first = [g.price, g.delta, g.vega, g.theta, g.rho];
    std::array::from_fn(|k| if C == OUTPUTS { all[k] } else { first[k] })
}

impl<const C: usize> EuroOut<'_, C> {
    #[inline(always)]
    fn put(&mut self, i: usize, g: &Greeks) {
        for (c, x) in self.cols.iter_mut().zip(output_values::<C>(g)) {
            c[i] = x;
        }
    }

    #[inline(always)]
    fn fail(&mut self, i: usize, e: PricingError) {
        for c in self.cols.iter_mut() {
            c[i] = f64::NAN;
        }
        self.status[i] = Status::failed(e);
    }

    /// The scalar path for element `i`: validation, then [`bsm_greeks_unchecked`].
    #[inline(always)]
    fn scalar(&mut self, inp: &EuroIn<'_>, i: usize) {
        let e = inp.get(i);
        match validate_bsm(&e) {
            Ok(()) => self.put(i, &bsm_greeks_unchecked(&e)),
            Err(err) => self.fail(i, err),
        }
    }
}

/// Which implementation runs the lane code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Level {
    /// Element by element with [`bsm_greeks_unchecked`] (any CPU).
    Scalar,
    /// The lane code compiled for AVX2 + FMA.
    Avx2,
    /// The lane code compiled for AVX-512 F/DQ/VL (+ AVX2, FMA).
    Avx512,
}

impl Level {
    /// The best level this CPU supports.
    pub(crate) fn detect() -> Level {
        if Level::Avx512.available() {
            Level::Avx512
        } else if Level::Avx2.available() {
            Level::Avx2
        } else {
            Level::Scalar
        }
    }

    /// Whether this CPU can run `self`.
    pub(crate) fn available(self) -> bool {
        match self {
            Level::Scalar => true,
            #[cfg(target_arch = "x86_64")]
            Level::Avx2 => {
                std::arch::is_x86_feature_detected!("avx2")
                    && std::arch::is_x86_feature_detected!("fma")
            }
            #[cfg(target_arch = "x86_64")]
            Level::Avx512 => {
                Level::Avx2.available()
                    && std::arch::is_x86_feature_detected!("avx512f")
                    && std::arch::is_x86_feature_detected!("avx512dq")
                    && std::arch::is_x86_feature_detected!("avx512vl")
            }
            #[cfg(not(target_arch = "x86_64"))]
            _ => false,
        }
    }
}

/// Prices and Greeks (the set `C` of [`EuroOut`]) of a run of European elements with the
/// best level of this CPU.
#[inline]
pub(crate) fn european<const C: usize>(inp: &EuroIn<'_>, out: &mut EuroOut<'_, C>) {
    european_at(Level::detect(), inp, out);
}

/// As [`european`] with a chosen level; a level this CPU lacks runs [`Level::Scalar`].
pub(crate) fn european_at<const C: usize>(
    level: Level,
    inp: &EuroIn<'_>,
    out: &mut EuroOut<'_, C>,
) {
    let n = inp.len();
    let lens = [
        inp.spot.len(),
        inp.strike.len(),
        inp.years.len(),
        inp.rate.len(),
        inp.dividend_yield.len(),
        inp.volatility.len(),
        out.status.len(),
    ];
    assert!(
        lens.into_iter()
            .chain(out.cols.iter().map(|c| c.len()))
            .all(|l| l == n),
        "the columns of a run must have the same length"
    );
    match level {
        #[cfg(target_arch = "x86_64")]
        Level::Avx512 if level.available() => {
            // SAFETY: the CPU supports every feature `run_avx512` is compiled for (checked just
            // above by `available`).
            unsafe { run_avx512(inp, out) }
        }
        #[cfg(target_arch = "x86_64")]
        Level::Avx2 if level.available() => {
            // SAFETY: the CPU supports AVX2 and FMA (checked just above by `available`).
            unsafe { run_avx2(inp, out) }
        }
        _ => {
            for i in 0..n {
                out.scalar(inp, i);
            }
        }
    }
}

/// The price alone of a run of European elements (the lane code of [`european`] without its
/// Greeks, so its prices agree with [`european`]'s within its stated tolerance), with the best
/// level of this CPU. Failed elements get NaN and are listed in `failures` (index in the run,
/// error).
pub(crate) fn european_prices(
    inp: &EuroIn<'_>,
    price: &mut [f64],
    failures: &mut Vec<(usize, PricingError)>,
) {
    european_prices_at(Level::detect(), inp, price, failures);
}

/// As [`european_prices`] with a chosen level.
pub(crate) fn european_prices_at(
    level: Level,
    inp: &EuroIn<'_>,
    price: &mut [f64],
    failures: &mut Vec<(usize, PricingError)>,
) {
    let n = inp.len();
    assert!(
        [
            inp.spot.len(),
            inp.strike.len(),
            inp.years.len(),
            inp.rate.len(),
            inp.dividend_yield.len(),
            inp.volatility.len(),
            price.len(),
        ]
        .into_iter()
        .all(|l| l == n),
        "the columns of a run must have the same length"
    );
    match level {
        #[cfg(target_arch = "x86_64")]
        Level::Avx512 if level.available() => {
            // SAFETY: the CPU supports every feature `prices_avx512` is compiled for (checked
            // just above by `available`).
            unsafe { prices_avx512(inp, price, failures) }
        }
        #[cfg(target_arch = "x86_64")]
        Level::Avx2 if level.available() => {
            // SAFETY: the CPU supports AVX2 and FMA (checked just above by `available`).
            unsafe { prices_avx2(inp, price, failures) }
        }
        _ => {
            for i in 0..n {
                scalar_price(inp, i, price, failures);
            }
        }
    }
}

/// One option revalued on many Monte Carlo paths: its terms, and per path the spot, the log
/// of the spot as the path generator has it (so ln(S/K) needs no logarithm) and the
/// volatility.
#[derive(Debug, Clone, Copy)]
pub(crate) struct McPriceIn<'a> {
    pub(crate) kind: OptionType,
    pub(crate) strike: f64,
    pub(crate) years: f64,
    pub(crate) rate: f64,
    pub(crate) dividend_yield: f64,
    pub(crate) spot: &'a [f64],
    pub(crate) ln_spot: &'a [f64],
    pub(crate) vol: &'a [f64],
}

/// The per-option constants of a Monte Carlo run.
struct McConst {
    ln_k: f64,
    rq_t: f64,
    dq: f64,
    dr: f64,
    sqrt_t: f64,
}

impl McConst {
    fn of(inp: &McPriceIn<'_>) -> McConst {
        McConst {
            ln_k: inp.strike.ln(),
            rq_t: (inp.rate - inp.dividend_yield) * inp.years,
            dq: (-inp.dividend_yield * inp.years).exp(),
            dr: (-inp.rate * inp.years).exp(),
            sqrt_t: inp.years.sqrt(),
        }
    }
}

/// Black–Scholes–Merton prices of one option on many paths: the price lane code of
/// [`european_prices`] with ln(S/K) = ln S − ln K from the path's log spot and the discount
/// factors computed once per option. Agrees with the scalar reference within 1e-12 relative
/// plus the effect of ln S's own rounding (relative 4e-15·|d|/σ√T: 1e-12 at d = 25, σ√T = 0.1,
/// a price near 1e-137·S; test). An option whose terms fail validation, and lanes outside the lane code's domain, go
/// through the scalar reference (failures listed as in [`european_prices`]).
pub(crate) fn mc_prices(
    inp: &McPriceIn<'_>,
    price: &mut [f64],
    failures: &mut Vec<(usize, PricingError)>,
) {
    mc_prices_at(Level::detect(), inp, price, failures);
}

/// As [`mc_prices`] with a chosen level.
pub(crate) fn mc_prices_at(
    level: Level,
    inp: &McPriceIn<'_>,
    price: &mut [f64],
    failures: &mut Vec<(usize, PricingError)>,
) {
    let n = inp.spot.len();
    assert!(
        inp.ln_spot.len() == n && inp.vol.len() == n && price.len() == n,
        "the columns of a run must have the same length"
    );
    let terms_ok = inp.strike.is_finite()
        && inp.strike > 0.0
        && inp.years.is_finite()
        && inp.years > 0.0
        && inp.rate.is_finite()
        && inp.dividend_yield.is_finite()
        && inp.strike <= REGULAR_MAX
        && inp.strike >= REGULAR_MIN
        && inp.rate.abs() <= REGULAR_MAX
        && inp.dividend_yield.abs() <= REGULAR_MAX;
    match level {
        #[cfg(target_arch = "x86_64")]
        Level::Avx512 if level.available() && terms_ok => {
            // SAFETY: the CPU supports every feature `mc_avx512` is compiled for (checked just
            // above by `available`).
            unsafe { mc_avx512(inp, price, failures) }
        }
        #[cfg(target_arch = "x86_64")]
        Level::Avx2 if level.available() && terms_ok => {
            // SAFETY: the CPU supports AVX2 and FMA (checked just above by `available`).
            unsafe { mc_avx2(inp, price, failures) }
        }
        _ => {
            for i in 0..n {
                scalar_mc_price(inp, i, price, failures);
            }
        }
    }
}

/// The scalar reference for path `i` of a Monte Carlo run.
#[inline(always)]
fn scalar_mc_price(
    inp: &McPriceIn<'_>,
    i: usize,
    price: &mut [f64],
    failures: &mut Vec<(usize, PricingError)>,
) {
    let e = BsmInputs {
        kind: inp.kind,
        spot: inp.spot[i],
        strike: inp.strike,
        years: inp.years,
        rate: inp.rate,
        dividend_yield: inp.dividend_yield,
        volatility: inp.vol[i],
    };
    match validate_bsm(&e) {
        Ok(()) => price[i] = bsm_greeks_unchecked(&e).price,
        Err(err) => {
            price[i] = f64::NAN;
            failures.push((i, err));
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512dq,avx512vl,avx2,fma")]
fn mc_avx512(inp: &McPriceIn<'_>, price: &mut [f64], failures: &mut Vec<(usize, PricingError)>) {
    run_mc_tiles(inp, price, failures);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn mc_avx2(inp: &McPriceIn<'_>, price: &mut [f64], failures: &mut Vec<(usize, PricingError)>) {
    run_mc_tiles(inp, price, failures);
}

/// The scalar reference for the price of element `i`.
#[inline(always)]
fn scalar_price(
    inp: &EuroIn<'_>,
    i: usize,
    price: &mut [f64],
    failures: &mut Vec<(usize, PricingError)>,
) {
    let e = inp.get(i);
    match validate_bsm(&e) {
        Ok(()) => price[i] = bsm_greeks_unchecked(&e).price,
        Err(err) => {
            price[i] = f64::NAN;
            failures.push((i, err));
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512dq,avx512vl,avx2,fma")]
fn prices_avx512(inp: &EuroIn<'_>, price: &mut [f64], failures: &mut Vec<(usize, PricingError)>) {
    run_price_tiles(inp, price, failures);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn prices_avx2(inp: &EuroIn<'_>, price: &mut [f64], failures: &mut Vec<(usize, PricingError)>) {
    run_price_tiles(inp, price, failures);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512dq,avx512vl,avx2,fma")]
fn run_avx512<const C: usize>(inp: &EuroIn<'_>, out: &mut EuroOut<'_, C>) {
    run_tiles(inp, out);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn run_avx2<const C: usize>(inp: &EuroIn<'_>, out: &mut EuroOut<'_, C>) {
    run_tiles(inp, out);
}

// ---------------------------------------------------------------------------------------------
// Lane packs. The per-lane code below works on packs of two lanes, one from each half of a
// tile, with every operation written for both: the loop over a tile is vectorised with one
// lane per vector element, and each vector iteration then carries two independent dependency
// chains whose instructions alternate, which the CPU overlaps. Everything is
// `#[inline(always)]`, so it is compiled in the target-feature context of the caller
// (`f64::mul_add` is then one FMA instruction).

/// Lanes per pack.
const PACK: usize = 2;

/// A pack of f64 lanes.
#[derive(Clone, Copy)]
struct V([f64; PACK]);
/// A pack of u64 lanes (bit patterns and small integers).
#[derive(Clone, Copy)]
struct U([u64; PACK]);
/// A pack of lane conditions.
#[derive(Clone, Copy)]
struct M([bool; PACK]);

/// Builds a pack from an element-wise expression of the lane index (a plain loop: no closure,
/// so it always inlines).
macro_rules! pack {
    ($t:ident, $z:expr, |$i:ident| $e:expr) => {{
        let mut o = [$z; PACK];
        for $i in 0..PACK {
            o[$i] = $e;
        }
        $t(o)
    }};
}

macro_rules! v_binop {
    ($tr:ident, $m:ident, $op:tt) => {
        impl std::ops::$tr for V {
            type Output = V;
            #[inline(always)]
            fn $m(self, o: V) -> V {
                pack!(V, 0.0, |i| self.0[i] $op o.0[i])
            }
        }
        impl std::ops::$tr<f64> for V {
            type Output = V;
            #[inline(always)]
            fn $m(self, o: f64) -> V {
                pack!(V, 0.0, |i| self.0[i] $op o)
            }
        }
        impl std::ops::$tr<V> for f64 {
            type Output = V;
            #[inline(always)]
            fn $m(self, o: V) -> V {
                pack!(V, 0.0, |i| self $op o.0[i])
            }
        }
    };
}
v_binop!(Add, add, +);
v_binop!(Sub, sub, -);
v_binop!(Mul, mul, *);
v_binop!(Div, div, /);

impl std::ops::Neg for V {
    type Output = V;
    #[inline(always)]
    fn neg(self) -> V {
        pack!(V, 0.0, |i| -self.0[i])
    }
}

macro_rules! m_binop {
    ($tr:ident, $m:ident, $op:tt) => {
        impl std::ops::$tr for M {
            type Output = M;
            #[inline(always)]
            fn $m(self, o: M) -> M {
                pack!(M, false, |i| self.0[i] $op o.0[i])
            }
        }
    };
}
m_binop!(BitAnd, bitand, &);
m_binop!(BitOr, bitor, |);

impl std::ops::Not for M {
    type Output = M;
    #[inline(always)]
    fn not(self) -> M {
        pack!(M, false, |i| !self.0[i])
    }
}

/// Element-wise comparisons of a pack with a pack or a constant.
macro_rules! v_cmp {
    ($($m:ident $op:tt),*) => {
        impl V {
            $(
                #[inline(always)]
                fn $m(self, o: impl Into<V>) -> M {
                    let o = o.into();
                    pack!(M, false, |i| self.0[i] $op o.0[i])
                }
            )*
        }
    };
}
v_cmp!(lt <, le <=, gt >, ge >=, ne !=);

impl From<f64> for V {
    #[inline(always)]
    fn from(x: f64) -> V {
        V([x; PACK])
    }
}

impl V {
    /// Lanes `j` and `j + TILE/2` of a tile column.
    #[inline(always)]
    fn load(a: &[f64; TILE], j: usize) -> V {
        pack!(V, 0.0, |i| a[j + i * (TILE / PACK)])
    }
    #[inline(always)]
    fn store(self, a: &mut [f64; TILE], j: usize) {
        for i in 0..PACK {
            a[j + i * (TILE / PACK)] = self.0[i];
        }
    }
    /// self·a + b with one rounding.
    #[inline(always)]
    fn fma(self, a: impl Into<V>, b: impl Into<V>) -> V {
        let (a, b) = (a.into(), b.into());
        pack!(V, 0.0, |i| self.0[i].mul_add(a.0[i], b.0[i]))
    }
    #[inline(always)]
    fn abs(self) -> V {
        pack!(V, 0.0, |i| self.0[i].abs())
    }
    #[inline(always)]
    fn sqrt(self) -> V {
        pack!(V, 0.0, |i| self.0[i].sqrt())
    }
    /// min(self, c) for lanes that are not NaN (NaN lanes give c).
    #[inline(always)]
    fn min(self, c: f64) -> V {
        pack!(V, 0.0, |i| self.0[i].min(c))
    }
    #[inline(always)]
    fn bits(self) -> U {
        pack!(U, 0, |i| self.0[i].to_bits())
    }
}

impl U {
    #[inline(always)]
    fn add(self, o: u64) -> U {
        pack!(U, 0, |i| self.0[i].wrapping_add(o))
    }
    #[inline(always)]
    fn sub(self, o: u64) -> U {
        pack!(U, 0, |i| self.0[i].wrapping_sub(o))
    }
    #[inline(always)]
    fn sub_u(self, o: U) -> U {
        pack!(U, 0, |i| self.0[i].wrapping_sub(o.0[i]))
    }
    #[inline(always)]
    fn add_u(self, o: U) -> U {
        pack!(U, 0, |i| self.0[i].wrapping_add(o.0[i]))
    }
    #[inline(always)]
    fn and(self, o: u64) -> U {
        pack!(U, 0, |i| self.0[i] & o)
    }
    #[inline(always)]
    fn shl(self, n: u32) -> U {
        pack!(U, 0, |i| self.0[i] << n)
    }
    #[inline(always)]
    fn shr(self, n: u32) -> U {
        pack!(U, 0, |i| self.0[i] >> n)
    }
    /// Arithmetic shift right (the lanes as i64).
    #[inline(always)]
    fn sra(self, n: u32) -> U {
        pack!(U, 0, |i| ((self.0[i] as i64) >> n) as u64)
    }
    #[inline(always)]
    fn lt(self, o: u64) -> M {
        pack!(M, false, |i| self.0[i] < o)
    }
    #[inline(always)]
    fn is_zero(self) -> M {
        pack!(M, false, |i| self.0[i] == 0)
    }
    /// Reinterprets the bits as f64.
    #[inline(always)]
    fn f64(self) -> V {
        pack!(V, 0.0, |i| f64::from_bits(self.0[i]))
    }
    /// `table[lane & 127]`.
    #[inline(always)]
    fn gather(self, table: &[f64; 128]) -> V {
        pack!(V, 0.0, |i| table[(self.0[i] & 127) as usize])
    }
}

impl M {
    /// `a` where the lane condition holds, else `b`.
    #[inline(always)]
    fn sel(self, a: impl Into<V>, b: impl Into<V>) -> V {
        let (a, b) = (a.into(), b.into());
        pack!(V, 0.0, |i| if self.0[i] { a.0[i] } else { b.0[i] })
    }
    /// As [`M::sel`] for integer lanes.
    #[inline(always)]
    fn sel_u(self, a: u64, b: u64) -> U {
        pack!(U, 0, |i| if self.0[i] { a } else { b })
    }
    #[inline(always)]
    fn load(a: &[bool; TILE], j: usize) -> M {
        pack!(M, false, |i| a[j + i * (TILE / PACK)])
    }
    #[inline(always)]
    fn store(self, a: &mut [bool; TILE], j: usize) {
        for i in 0..PACK {
            a[j + i * (TILE / PACK)] = self.0[i];
        }
    }
}

/// Error-free sum: `a + b = s + e` exactly (Knuth's TwoSum).
#[inline(always)]
fn two_sum(a: V, b: V) -> (V, V) {
    let s = a + b;
    let bb = s - a;
    (s, (a - (s - bb)) + (b - bb))
}

/// Horner evaluation of Σ c[j]·x^j (ascending coefficients), with FMA.
#[inline(always)]
fn poly<const N: usize>(x: V, c: &[f64; N]) -> V {
    let mut acc = V::from(c[N - 1]);
    let mut j = N - 1;
    while j > 0 {
        j -= 1;
        acc = acc.fma(x, c[j]);
    }
    acc
}

/// 1.5·2^52: adding it rounds a double of magnitude < 2^51 to an integer held in the low bits.
const SHIFT: f64 = 6_755_399_441_055_744.0;

// ---------------------------------------------------------------------------------------------
// exp

const LOG2E: f64 = std::f64::consts::LOG2_E;
/// ln 2 rounded to a multiple of 2^-43 (42 significant bits): k·LN2_HI is exact for |k| < 2^11.
pub(crate) const LN2_HI: f64 = 0.6931471805598903;
/// ln 2 − LN2_HI.
pub(crate) const LN2_LO: f64 = 5.497923018708371e-14;
/// (e^r − 1 − r)/r² on |r| ≤ 0.3468: Chebyshev fit of degree 9 (mpmath `chebyfit`), ascending;
/// relative error of 1 + r + r²·Q(r) below 1.7e-17.
const EXP_Q: [f64; 10] = [
    0.5000000000000001,
    0.16666666666666669,
    0.04166666666662394,
    0.008333333333330048,
    0.0013888888917307917,
    0.0001984126986312606,
    2.4801521149665677e-05,
    2.7557268347499137e-06,
    2.762015799025116e-07,
    2.510043897623718e-08,
];

/// e^(x + x_lo)·2^m for |x_lo| ≤ 2^-10 (a low-order part of the argument) and m ≤ 1000, with
/// an error below one ulp: +∞ on overflow, correctly rounded into the subnormals and 0 on
/// underflow, NaN for NaN.
#[inline(always)]
fn exp_lane(x: V, x_lo: V, m: U) -> V {
    // Clamp, keeping NaN.
    let x = x.gt(710.0).sel(710.0, x);
    let x = x.lt(-760.0).sel(-760.0, x);
    let t = x.fma(LOG2E, SHIFT);
    let kf = t - SHIFT;
    let k = t.bits().sub(SHIFT.to_bits()).add_u(m);
    // x − k·LN2_HI is exact (FMA; the result has fewer significant bits than x).
    let r = (-kf).fma(LN2_HI, x) + (-kf).fma(LN2_LO, x_lo);
    let p = (r * r).fma(poly(r, &EXP_Q), r) + 1.0;
    // 2^k = 2^k1 · 2^k2 with both halves in the normal exponent range for |k| ≤ 2044.
    let k1 = k.sra(1);
    let k2 = k.sub_u(k1);
    p * k1.add(1023).shl(52).f64() * k2.add(1023).shl(52).f64()
}

/// Clamp of |x| for the Gaussian factor: e^{−800}·2^600 is far below every threshold.
const GAUSS_CLAMP: f64 = 40.0;

/// e^{−a²/2}·2^m for 0 ≤ a ≤ [`GAUSS_CLAMP`], with a split exponent: a = h + l with h the top
/// 26 significant bits of a, so that h²/2 is exact and −l(a + h)/2 is the low part of the
/// argument (the rounding of a² never enters the exponent).
#[inline(always)]
fn gauss_lane(a: V, m: U) -> V {
    let h = a.bits().and(0xFFFF_FFFF_F800_0000).f64();
    let l = a - h;
    exp_lane(-0.5 * (h * h), -0.5 * (l * (a + h)), m)
}

/// Lanes with a |d₁| or |d₂| in (UNDERFLOW_BAND, GAUSS_CLAMP] compute every quantity
/// proportional to e^{−d²/2} scaled by 2^[`TAIL_SCALE`]: unscaled, such products would be
/// subnormal (no accuracy left, and a microcode assist of ~150 cycles per vector instruction on
/// x86). Unscaling flushes what is below the normal range to 0. Beyond the clamp, e^{−d²/2}
/// underflows to exactly 0, which costs nothing.
const UNDERFLOW_BAND: f64 = 36.0;
/// The binary exponent of that scaling.
const TAIL_SCALE: u64 = 600;

/// Scaling of the lanes of a pack: m, 2^-m and the magnitude below which a scaled value
/// unscales to a subnormal (flushed to 0).
#[derive(Clone, Copy)]
struct Scale {
    m: U,
    inv: V,
    flush: V,
}

impl Scale {
    /// The scaling of band lanes (`band`), none elsewhere.
    #[inline(always)]
    fn new(band: M) -> Scale {
        Scale {
            m: band.sel_u(TAIL_SCALE, 0),
            inv: band.sel(f64::from_bits((1023 - TAIL_SCALE) << 52), 1.0),
            flush: band.sel(f64::from_bits((1 + TAIL_SCALE) << 52), 0.0),
        }
    }

    /// x·2^-m, or 0 where that would be subnormal.
    #[inline(always)]
    fn unscale(self, x: V) -> V {
        x.abs().lt(self.flush).sel(0.0, x) * self.inv
    }
}

// ---------------------------------------------------------------------------------------------
// ln

/// z ∈ [0.6875, 1.375) is split into 128 subintervals by the top mantissa bits of bits(z) − OFF.
pub(crate) const LOG_OFF: u64 = 0x3fe6_0000_0000_0000;
/// Taylor coefficients of (ln(1+r) − r + r²/2)/r³ = 1/3 − r/4 + … + r⁸/11 (truncation below
/// 2^-78·|r| for |r| < 0.0091).
const LOG_P: [f64; 9] = [
    1.0 / 3.0,
    -1.0 / 4.0,
    1.0 / 5.0,
    -1.0 / 6.0,
    1.0 / 7.0,
    -1.0 / 8.0,
    1.0 / 9.0,
    -1.0 / 10.0,
    1.0 / 11.0,
];
/// Lanes whose ln is closer than this many ulps to a rounding midpoint take the scalar `ln`.
const LOG_GUARD_ULPS: f64 = 0.025;

/// First half of [`ln_lane`]: the table lookup. Returns r = z/c − 1 (exact), the exact high
/// part k·ln2_hi + ln(c)_hi, and the low part k·ln2_lo + ln(c)_lo.
#[inline(always)]
fn ln_lookup(x: V) -> (V, V, V) {
    let ix = x.bits();
    let tmp = ix.sub(LOG_OFF);
    let idx = tmp.shr(45);
    let k = tmp.sra(52);
    let z = ix.sub_u(tmp.and(0xfff << 52)).f64();
    // ln x = k·ln2 + ln c + ln(1 + r), r = z/c − 1 = z·invc − 1 exactly (invc has 7 bits).
    let r = z.fma(idx.gather(&LOG_INVC), -1.0);
    // k as f64 without an int→float instruction (AVX2 has none for i64).
    let kf = k.add(SHIFT.to_bits()).f64() - SHIFT;
    // k·LN2_HI + ln c (high part): both multiples of 2^-43, |sum| < 2^10: exact.
    let s1 = kf.fma(LN2_HI, idx.gather(&LOG_LOGC_HI));
    let lo = kf.fma(LN2_LO, idx.gather(&LOG_LOGC_LO));
    (r, s1, lo)
}

/// (ln x correctly rounded, flag) from [`ln_lookup`]'s parts: the flag is set where the value
/// is not certain to be the libm's — within [`LOG_GUARD_ULPS`] of a rounding midpoint, a power
/// of two, or x not a positive normal finite number.
#[inline(always)]
fn ln_finish(x: V, r: V, s1: V, lo: V) -> (V, M) {
    let (hi, e1) = two_sum(s1, r);
    // r² = r2 + r2_lo exactly; −r²/2 joins hi by a second TwoSum.
    let r2 = r * r;
    let r2_lo = r.fma(r, -r2);
    let (hi2, e2) = two_sum(hi, -0.5 * r2);
    let tail = r2_lo.fma(-0.5, r2 * r * poly(r, &LOG_P));
    let lo = lo + e1 + e2 + tail;
    let y = hi2 + lo;
    // (hi2 + lo) − y exactly (|hi2| ≥ |lo|): where the exact value lies from y.
    let rem = lo - (y - hi2);
    let ulp = y.bits().and(0x7ff0_0000_0000_0000).sub(52 << 52).f64();
    let near_mid = (rem.abs() - 0.5 * ulp).abs().lt(LOG_GUARD_ULPS * ulp);
    // Below a power of two the spacing halves: leave those to the scalar code too.
    let pow2 = y.bits().and(0x000f_ffff_ffff_ffff).is_zero();
    // x positive, normal and finite ⇔ bits(x) − bits(MIN_POSITIVE) < bits(∞) − bits(MIN_POSITIVE).
    let regular = x
        .bits()
        .sub(f64::MIN_POSITIVE.to_bits())
        .lt(f64::INFINITY.to_bits() - f64::MIN_POSITIVE.to_bits());
    (y, ((near_mid | pow2) & y.ne(0.0)) | !regular)
}

/// ln x per lane, correctly rounded except where the flag is set (see [`ln_finish`]).
#[cfg(test)]
#[inline(always)]
fn ln_lane(x: V) -> (V, M) {
    let (r, s1, lo) = ln_lookup(x);
    ln_finish(x, r, s1, lo)
}

// ---------------------------------------------------------------------------------------------
// Normal CDF and erfcx: Cody's rational approximations (those of wheelhouse_pricing::normal),
// all three intervals on every lane in ascending powers for FMA Horner evaluation (one rounding
// per step), the right one selected per lane.

const FRAC_1_SQRT_2: f64 = std::f64::consts::FRAC_1_SQRT_2;
const ONE_OVER_SQRT_PI: f64 = 0.564_189_583_547_756_3;
const ONE_OVER_SQRT_TWO_PI: f64 = 0.398_942_280_401_432_7;
/// √(π/2).
const SQRT_HALF_PI: f64 = 1.253_314_137_315_500_3;
/// √2 · 0.46875: the break point in the variable of Φ.
const CDF_THRESHOLD: f64 = 0.6629126073623883;

// |y| ≤ 0.46875: erf(y)/y = A(z)/B(z), z = y² (Cody 1969).
const CODY_A: [f64; 5] = [
    3209.3775891384694,
    377.485237685302,
    113.86415415105016,
    3.1611237438705655,
    0.18577770618460315,
];
const CODY_B: [f64; 5] = [
    2844.236833439171,
    1282.6165260773723,
    244.02463793444417,
    23.601290952344122,
    1.0,
];
// 0.46875 < y ≤ 4: erfcx(y) = C(y)/D(y).
const CODY_C: [f64; 9] = [
    1230.3393547979972,
    2051.0783778260716,
    1712.0476126340707,
    881.952221241769,
    298.6351381974001,
    66.11919063714163,
    8.883149794388377,
    0.5641884969886701,
    2.1531153547440383e-08,
];
const CODY_D: [f64; 9] = [
    1230.3393548037495,
    3439.3676741437216,
    4362.619090143247,
    3290.7992357334597,
    1621.3895745666903,
    537.1811018620099,
    117.6939508913125,
    15.744926110709835,
    1.0,
];
// y > 4: erfcx(y) = (1/√π − z·P(z)/Q(z))/y with z = 1/y². Multiplied through by w⁵ (w = y²):
// z·P(z)/Q(z) = P̃(w)/(w·Q̃(w)), P̃ and Q̃ with the coefficient orders reversed.
const CODY_P_REV: [f64; 6] = [
    0.016315387137302097,
    0.30532663496123236,
    0.36034489994980445,
    0.12578172611122926,
    0.016083785148742275,
    0.0006587491615298378,
];
const CODY_Q_REV: [f64; 6] = [
    1.0,
    2.568520192289822,
    1.8729528499234604,
    0.5279051029514285,
    0.06051834131244132,
    0.0023352049762686918,
];

/// Numerator and denominator of Cody's rational for |u|/√2 = y: erf(y)/y for |u| ≤ 0.66,
/// erfcx(y) above.
#[inline(always)]
fn cdf_rational(u: V) -> (V, V) {
    let y = (u * FRAC_1_SQRT_2).abs().min(GAUSS_CLAMP);
    let z = y * y;
    let wq = z * poly(z, &CODY_Q_REV);
    let central = u.abs().le(CDF_THRESHOLD);
    let inner = y.le(4.0);
    let num = central.sel(
        poly(z, &CODY_A),
        inner.sel(
            poly(y, &CODY_C),
            wq.fma(ONE_OVER_SQRT_PI, -poly(z, &CODY_P_REV)),
        ),
    );
    let den = central.sel(poly(z, &CODY_B), inner.sel(poly(y, &CODY_D), y * wq));
    (num, den)
}

/// (Φ(u), r) from [`cdf_rational`]'s parts and g = e^{−u²/2}·2^m (from [`gauss_lane`]), where
/// r = erfcx(|u|/√2) for |u| > 0.66 and r = erf(y)/y (y = |u|/√2) otherwise. For u < −0.66,
/// Φ(u) is returned scaled by 2^m like g.
#[inline(always)]
fn cdf_finish(u: V, num: V, den: V, g: V, scale: Scale) -> (V, V) {
    let ratio = num / den;
    // |u| ≤ 0.66: Φ = ½ + ½·erf(u/√2); otherwise ½·erfc(|u|/√2) = ½·e^{−u²/2}·erfcx(|u|/√2) is
    // the tail on the side of u's sign.
    let tail = g * (0.5 * ratio);
    let phi = u.abs().le(CDF_THRESHOLD).sel(
        (0.5 * (u * FRAC_1_SQRT_2)).fma(ratio, 0.5),
        u.lt(0.0).sel(tail, 1.0 - scale.unscale(tail)),
    );
    (phi, ratio)
}

// ---------------------------------------------------------------------------------------------
// Tiles

/// Stand-in inputs for invalid and padding lanes (spot, strike, years, rate, yield, vol).
const FILL: [f64; 6] = [1.0, 1.0, 1.0, 0.0, 0.0, 0.2];
/// Bounds of the inputs the lane code is written for; other lanes take the scalar code.
const REGULAR_MIN: f64 = f64::from_bits((1023 - 300) << 52); // 2^-300
const REGULAR_MAX: f64 = f64::from_bits((1023 + 300) << 52); // 2^300

/// One tile of a run in struct-of-arrays form: the inputs and every intermediate, so that each
/// stage below is a short loop over the tile with independent iterations.
struct Tile {
    /// The per-path inputs of a Monte Carlo run (see [`Tile::compute_mc`]; European runs read
    /// their columns in place, [`Tile::sources`]), and the call/put flags.
    input: [[f64; TILE]; 6],
    kind: [OptionType; TILE],
    /// The price of the price-only and Monte Carlo kernels (`o[0]`; the Greeks kernels write
    /// to their destination tiles).
    o: [[f64; TILE]; OUTPUTS],
    w: [f64; TILE],
    x: [[f64; TILE]; 6],
    redo: [bool; TILE],
    ratio: [f64; TILE],
    ln_sk: [f64; TILE],
    scalar_ln: [bool; TILE],
    ln_r: [f64; TILE],
    ln_s1: [f64; TILE],
    ln_lo: [f64; TILE],
    band: [bool; TILE],
    num: [[f64; TILE]; 2],
    den: [[f64; TILE]; 2],
    d: [[f64; TILE]; 2],
    d_lo: [[f64; TILE]; 2],
    g: [[f64; TILE]; 2],
    phi: [[f64; TILE]; 2],
    erfcx: [[f64; TILE]; 2],
    pdf1: [f64; TILE],
    nd1: [f64; TILE],
    term_s: [f64; TILE],
    term_k: [f64; TILE],
    price: [f64; TILE],
    otm: [bool; TILE],
    sqrt_t: [f64; TILE],
    sst: [f64; TILE],
    inv_sst: [f64; TILE],
    inv_s_sst: [f64; TILE],
    dq: [f64; TILE],
    dr: [f64; TILE],
}

impl Tile {
    fn new() -> Tile {
        let z = [0.0; TILE];
        Tile {
            input: [z; 6],
            kind: [OptionType::Call; TILE],
            o: [z; OUTPUTS],
            w: z,
            x: [z; 6],
            redo: [false; TILE],
            ratio: z,
            ln_sk: z,
            scalar_ln: [false; TILE],
            ln_r: z,
            ln_s1: z,
            ln_lo: z,
            band: [false; TILE],
            num: [z; 2],
            den: [z; 2],
            d: [z; 2],
            d_lo: [z; 2],
            g: [z; 2],
            phi: [z; 2],
            erfcx: [z; 2],
            pdf1: z,
            nd1: z,
            term_s: z,
            term_k: z,
            price: z,
            otm: [false; TILE],
            sqrt_t: z,
            sst: z,
            inv_sst: z,
            inv_s_sst: z,
            dq: z,
            dr: z,
        }
    }

    /// The input columns of elements `i .. i + m` of a run (m ≤ [`TILE`]): a full tile is read
    /// in place, a partial one is copied into `pad` and padded with [`FILL`]. The call/put
    /// flags go to `kind`.
    #[inline(always)]
    fn sources<'s>(
        &mut self,
        inp: &'s EuroIn<'_>,
        i: usize,
        m: usize,
        pad: &'s mut [[f64; TILE]; 6],
    ) -> [&'s [f64; TILE]; 6] {
        let cols = [
            inp.spot,
            inp.strike,
            inp.years,
            inp.rate,
            inp.dividend_yield,
            inp.volatility,
        ];
        self.kind[..m].copy_from_slice(&inp.kind[i..i + m]);
        if m == TILE {
            let full = |c: &'s [f64]| <&[f64; TILE]>::try_from(&c[i..i + TILE]);
            if let (Ok(a), Ok(b), Ok(c), Ok(d), Ok(e), Ok(f)) = (
                full(cols[0]),
                full(cols[1]),
                full(cols[2]),
                full(cols[3]),
                full(cols[4]),
                full(cols[5]),
            ) {
                return [a, b, c, d, e, f];
            }
        }
        for (c, (x, col)) in pad.iter_mut().zip(cols).enumerate() {
            x.fill(FILL[c]);
            x[..m].copy_from_slice(&col[i..i + m]);
        }
        pad.each_ref()
    }

    /// The stages up to d₁, d₂ and the discount factors (shared by [`Tile::compute`] and
    /// [`Tile::compute_price`]).
    #[inline(always)]
    fn front_stages(&mut self, src: &[&[f64; TILE]; 6]) {
        for j in 0..TILE / PACK {
            self.stage_inputs(src, j);
        }
        for j in 0..TILE / PACK {
            let (r, s1, lo) = ln_lookup(V::load(&self.ratio, j));
            r.store(&mut self.ln_r, j);
            s1.store(&mut self.ln_s1, j);
            lo.store(&mut self.ln_lo, j);
        }
        for j in 0..TILE / PACK {
            let (y, flag) = ln_finish(
                V::load(&self.ratio, j),
                V::load(&self.ln_r, j),
                V::load(&self.ln_s1, j),
                V::load(&self.ln_lo, j),
            );
            y.store(&mut self.ln_sk, j);
            flag.store(&mut self.scalar_ln, j);
        }
        // Lanes whose ln(S/K) may round differently from the libm's take the libm's (skipping
        // eight lanes at a time where none does).
        for_each_set(&self.scalar_ln, |j| self.ln_sk[j] = self.ratio[j].ln());
        for j in 0..TILE / PACK {
            self.stage_d(j);
        }
        for j in 0..TILE / PACK {
            self.stage_discount(j);
        }
    }

    /// Every stage over the whole tile, from `input` and `kind` to `o` (the output set `C` of
    /// [`EuroOut`], in its order). Each stage is a loop over the first half of the tile, lane
    /// `j` standing for the pack of lanes j and j + TILE/2. (All the arrays are fields of the
    /// tile, so LLVM sees that they do not overlap and vectorises every loop without run-time
    /// alias checks.)
    #[inline(always)]
    fn compute<const C: usize>(
        &mut self,
        src: &[&[f64; TILE]; 6],
        dst: &mut [&mut [f64; TILE]; C],
    ) {
        self.front_stages(src);
        self.tail_stages();
        for j in 0..TILE / PACK {
            self.stage_outputs::<C>(dst, j);
        }
    }

    /// As [`Tile::compute`] for the price alone (into `o[0]`).
    #[inline(always)]
    fn compute_price(&mut self, src: &[&[f64; TILE]; 6]) {
        self.front_stages(src);
        self.tail_stages();
        for j in 0..TILE / PACK {
            self.stage_price(j);
        }
    }

    /// As [`Tile::compute_price`] for a Monte Carlo run of one option (see [`mc_prices`]):
    /// `input[0]` spot, `input[1]` σ√T, `input[2]` ln S − ln K per lane; `x[1]` (strike),
    /// `ratio` ((r − q)T), `dq`, `dr` and `w` set for the whole run.
    #[inline(always)]
    fn compute_mc(&mut self) {
        for j in 0..TILE / PACK {
            self.stage_mc(j);
        }
        self.tail_stages();
        for j in 0..TILE / PACK {
            self.stage_price(j);
        }
    }

    /// d₁, d₂ of a Monte Carlo lane from ln(S/K) + (r − q)T and σ√T, as [`Tile::stage_d`].
    #[inline(always)]
    fn stage_mc(&mut self, j: usize) {
        let s = V::load(&self.input[0], j);
        let sst = V::load(&self.input[1], j);
        let ok = s.ge(REGULAR_MIN) & s.le(REGULAR_MAX) & sst.ge(REGULAR_MIN) & sst.le(REGULAR_MAX);
        let s = ok.sel(s, 1.0);
        let sst = ok.sel(sst, 0.2);
        let x = ok.sel(V::load(&self.input[2], j), 0.0) + V::load(&self.ratio, j);
        let inv_sst = 1.0 / sst;
        let h = x * inv_sst;
        let h_lo = (-h).fma(sst, x) * inv_sst;
        let (d1, e1) = two_sum(h, 0.5 * sst);
        let (d2, e2) = two_sum(h, -0.5 * sst);
        let in_band = |d: V| d.abs().gt(UNDERFLOW_BAND) & d.abs().le(GAUSS_CLAMP);
        let band = in_band(d1) | in_band(d2);
        let odd = band & (d1.abs().lt(1.0) | d2.abs().lt(1.0) | (d1 * d2).le(0.0));
        (!ok | odd).store(&mut self.redo, j);
        (band & !odd).store(&mut self.band, j);
        odd.sel(0.0, d1).store(&mut self.d[0], j);
        odd.sel(0.0, d2).store(&mut self.d[1], j);
        (e1 + h_lo).store(&mut self.d_lo[0], j);
        (e2 + h_lo).store(&mut self.d_lo[1], j);
        s.store(&mut self.x[0], j);
    }

    /// The price alone from [`Tile::stage_terms`]' value (unscaled where scaled).
    #[inline(always)]
    fn stage_price(&mut self, j: usize) {
        let band = M::load(&self.band, j);
        let ns = Scale::new(band & M::load(&self.otm, j));
        let price = ns.unscale(V::load(&self.price, j));
        price.store(&mut self.o[0], j);
        (M::load(&self.redo, j) | (price * 0.0).ne(0.0)).store(&mut self.redo, j);
    }

    /// The stages after d₁, d₂ up to the price's terms.
    #[inline(always)]
    fn tail_stages(&mut self) {
        for j in 0..TILE / PACK {
            self.stage_gauss(j);
        }
        for j in 0..TILE / PACK {
            self.stage_rational(0, j);
            self.stage_rational(1, j);
        }
        for j in 0..TILE / PACK {
            self.stage_cdf(0, j);
            self.stage_cdf(1, j);
        }
        for j in 0..TILE / PACK {
            self.stage_terms(j);
        }
    }

    /// Lanes outside the regular domain (which includes every invalid input: NaN fails each
    /// comparison) are redone by the scalar code; they compute on stand-in inputs meanwhile.
    /// Then ln(S/K).
    #[inline(always)]
    fn stage_inputs(&mut self, src: &[&[f64; TILE]; 6], j: usize) {
        let v = [
            V::load(src[0], j),
            V::load(src[1], j),
            V::load(src[2], j),
            V::load(src[3], j),
            V::load(src[4], j),
            V::load(src[5], j),
        ];
        #[inline(always)]
        fn regular(a: V) -> M {
            a.ge(REGULAR_MIN) & a.le(REGULAR_MAX)
        }
        let ok = regular(v[0])
            & regular(v[1])
            & regular(v[2])
            & regular(v[5])
            & v[3].abs().le(REGULAR_MAX)
            & v[4].abs().le(REGULAR_MAX);
        (!ok).store(&mut self.redo, j);
        // One by one (a loop here could keep the stage from being vectorised).
        ok.sel(v[0], FILL[0]).store(&mut self.x[0], j);
        ok.sel(v[1], FILL[1]).store(&mut self.x[1], j);
        ok.sel(v[2], FILL[2]).store(&mut self.x[2], j);
        ok.sel(v[3], FILL[3]).store(&mut self.x[3], j);
        ok.sel(v[4], FILL[4]).store(&mut self.x[4], j);
        ok.sel(v[5], FILL[5]).store(&mut self.x[5], j);
        let call = pack!(M, false, |i| self.kind[j + i * (TILE / PACK)]
            == OptionType::Call);
        call.sel(1.0, -1.0).store(&mut self.w, j);
        let ratio = ok.sel(v[0], FILL[0]) / ok.sel(v[1], FILL[1]);
        ratio.store(&mut self.ratio, j);
    }

    /// d₁, d₂ in double-double and the discount factors, as `bsm_greeks_unchecked`.
    #[inline(always)]
    fn stage_d(&mut self, j: usize) {
        let (s, k, t) = (
            V::load(&self.x[0], j),
            V::load(&self.x[1], j),
            V::load(&self.x[2], j),
        );
        let (r, q) = (V::load(&self.x[3], j), V::load(&self.x[4], j));
        let vol = V::load(&self.x[5], j);
        let sqrt_t = t.sqrt();
        let sst = vol * sqrt_t;
        // One division for both reciprocals (each within 2 ulps).
        let inv_s_sst = 1.0 / (s * sst);
        let inv_sst = inv_s_sst * s;
        let inv_s = inv_s_sst * sst;
        // ln(S/K) with the rounding of S/K compensated, then x/σ√T with its remainder.
        let ratio = V::load(&self.ratio, j);
        let x = (V::load(&self.ln_sk, j) + (-ratio).fma(k, s) * inv_s) + (r - q) * t;
        let h = x * inv_sst;
        let h_lo = (-h).fma(sst, x) * inv_sst;
        let (d1, e1) = two_sum(h, 0.5 * sst);
        let (d2, e2) = two_sum(h, -0.5 * sst);
        // Far-tail lanes (see UNDERFLOW_BAND) compute scaled; those that are also near the
        // money on one side (σ√T > 35, outside any realistic input) take the scalar code.
        let in_band = |d: V| d.abs().gt(UNDERFLOW_BAND) & d.abs().le(GAUSS_CLAMP);
        let band = in_band(d1) | in_band(d2);
        let odd = band & (d1.abs().lt(1.0) | d2.abs().lt(1.0) | (d1 * d2).le(0.0));
        (M::load(&self.redo, j) | odd).store(&mut self.redo, j);
        (band & !odd).store(&mut self.band, j);
        odd.sel(0.0, d1).store(&mut self.d[0], j);
        odd.sel(0.0, d2).store(&mut self.d[1], j);
        (e1 + h_lo).store(&mut self.d_lo[0], j);
        (e2 + h_lo).store(&mut self.d_lo[1], j);
        sqrt_t.store(&mut self.sqrt_t, j);
        sst.store(&mut self.sst, j);
        inv_sst.store(&mut self.inv_sst, j);
        inv_s_sst.store(&mut self.inv_s_sst, j);
    }

    /// The discount factors e^{−qT}, e^{−rT}.
    #[inline(always)]
    fn stage_discount(&mut self, j: usize) {
        let t = V::load(&self.x[2], j);
        let none = U([0; PACK]);
        exp_lane(-V::load(&self.x[4], j) * t, V::from(0.0), none).store(&mut self.dq, j);
        exp_lane(-V::load(&self.x[3], j) * t, V::from(0.0), none).store(&mut self.dr, j);
    }

    /// The Gaussian factors e^{−d₁²/2}, e^{−d₂²/2} at the high parts of d (scaled in band
    /// lanes) with one exponential: for the d of smaller magnitude (the anchor) by
    /// [`gauss_lane`], for the other from the identity φ(d₂)/φ(d₁) = e^{(d₁² − d₂²)/2} = e^x =
    /// S·e^{−qT}/(K·e^{−rT}) (exact for the exact d's, x = ln(S/K) + (r − q)T), carried from
    /// the high parts to the exact d's and back by the first-order factors e^{−d·d_lo} (the
    /// same correction [`Tile::stage_terms`] applies): relative error a few ulps, below the
    /// d²·ulp that the rounding of x costs either way. Deriving the smaller factor from the
    /// larger never overflows; lanes where S·e^{−qT} or K·e^{−rT} is outside [2^-900, 2^900]
    /// (|qT| or |rT| beyond ~400) are redone by the scalar code.
    #[inline(always)]
    fn stage_gauss(&mut self, j: usize) {
        const TINY: f64 = f64::from_bits((1023 - 900) << 52);
        const HUGE: f64 = f64::from_bits((1023 + 900) << 52);
        let scale = Scale::new(M::load(&self.band, j));
        let (d1, d2) = (V::load(&self.d[0], j), V::load(&self.d[1], j));
        let (d1_lo, d2_lo) = (V::load(&self.d_lo[0], j), V::load(&self.d_lo[1], j));
        let num = V::load(&self.x[0], j) * V::load(&self.dq, j);
        let den = V::load(&self.x[1], j) * V::load(&self.dr, j);
        let first = d1.abs().le(d2.abs());
        let anchor = first.sel(d1, d2);
        let g = gauss_lane(anchor.abs().min(GAUSS_CLAMP), scale.m);
        // e^{±x}: the other factor over the anchor's (≤ 1 in exact arithmetic).
        let ratio = first.sel(num, den) / first.sel(den, num);
        // e^{−d_a·d_a_lo}/e^{−d_o·d_o_lo} to first order (|d·d_lo| < 2e-13).
        let corr = d2.fma(d2_lo, (-d1).fma(d1_lo, 1.0));
        let corr = first.sel(corr, 2.0 - corr);
        let other = g * ratio * corr;
        first.sel(g, other).store(&mut self.g[0], j);
        first.sel(other, g).store(&mut self.g[1], j);
        let ok = num.ge(TINY) & num.le(HUGE) & den.ge(TINY) & den.le(HUGE);
        (M::load(&self.redo, j) | !ok).store(&mut self.redo, j);
    }

    /// The numerator and denominator of Cody's rational for ω·d (see [`cdf_rational`]).
    #[inline(always)]
    fn stage_rational(&mut self, i: usize, j: usize) {
        let (num, den) = cdf_rational(V::load(&self.w, j) * V::load(&self.d[i], j));
        num.store(&mut self.num[i], j);
        den.store(&mut self.den[i], j);
    }

    /// Φ(ω·d) and erfcx(|d|/√2) (see [`cdf_finish`]).
    #[inline(always)]
    fn stage_cdf(&mut self, i: usize, j: usize) {
        let scale = Scale::new(M::load(&self.band, j));
        let u = V::load(&self.w, j) * V::load(&self.d[i], j);
        let (phi, erfcx) = cdf_finish(
            u,
            V::load(&self.num[i], j),
            V::load(&self.den[i], j),
            V::load(&self.g[i], j),
            scale,
        );
        phi.store(&mut self.phi[i], j);
        erfcx.store(&mut self.erfcx[i], j);
    }

    /// N(ωd₁), N(ωd₂) corrected to first order for the low parts of d, φ(d₁), the two terms
    /// of the price and the price, as `bsm_greeks_unchecked` computes them: out of the money
    /// (ωd₁, ωd₂ < 0) both terms written with erfcx and a·φ(d₁) = b·φ(d₂), as the reference does.
    /// In band lanes everything proportional to φ, and out of the money everything, is scaled
    /// (unscaled by [`Tile::stage_outputs`]).
    #[inline(always)]
    fn stage_terms(&mut self, j: usize) {
        let (s, k) = (V::load(&self.x[0], j), V::load(&self.x[1], j));
        let w = V::load(&self.w, j);
        let (dq, dr) = (V::load(&self.dq, j), V::load(&self.dr, j));
        let scale = Scale::new(M::load(&self.band, j));
        let (d1, d2) = (V::load(&self.d[0], j), V::load(&self.d[1], j));
        let (d1_lo, d2_lo) = (V::load(&self.d_lo[0], j), V::load(&self.d_lo[1], j));
        let (e1, e2) = (V::load(&self.erfcx[0], j), V::load(&self.erfcx[1], j));
        let (phi1, phi2) = (V::load(&self.phi[0], j), V::load(&self.phi[1], j));
        let pdf1_hi = ONE_OVER_SQRT_TWO_PI * V::load(&self.g[0], j);
        let pdf2_hi = ONE_OVER_SQRT_TWO_PI * V::load(&self.g[1], j);
        let pdf1 = (-pdf1_hi * d1).fma(d1_lo, pdf1_hi);
        let pdf2 = (-pdf2_hi * d2).fma(d2_lo, pdf2_hi);
        let wd1_neg = (w * d1).lt(0.0);
        let wd2_neg = (w * d2).lt(0.0);
        let otm = wd1_neg & wd2_neg;
        let c1 = d1.abs().le(CDF_THRESHOLD);
        let c2 = d2.abs().le(CDF_THRESHOLD);
        // N(ω(d + d_lo)) ≈ N(ωd) + ω·φ(d)·d_lo, with φ scaled where N(ωd) is (the lower tail).
        let p1 = (wd1_neg & !c1).sel(pdf1_hi, scale.unscale(pdf1_hi));
        let p2 = (wd2_neg & !c2).sel(pdf2_hi, scale.unscale(pdf2_hi));
        // Out of the money N(ωd) = φ(d)·√(π/2)·erfcx(|d|/√2); in the central interval, where
        // the Cody ratio is erf(y)/y, that is ½·erfc(y)·(1 − d·d_lo) (the Gaussian cancels).
        #[inline(always)]
        fn central_n(d: V, d_lo: V, ratio: V) -> V {
            let y = d.abs() * FRAC_1_SQRT_2;
            (0.5 * (-y).fma(ratio, 1.0)) * (-d).fma(d_lo, 1.0)
        }
        let nd1 = otm.sel(
            c1.sel(central_n(d1, d1_lo, e1), pdf1 * SQRT_HALF_PI * e1),
            (w * p1).fma(d1_lo, phi1),
        );
        let nd2 = otm.sel(
            c2.sel(central_n(d2, d2_lo, e2), pdf2 * SQRT_HALF_PI * e2),
            (w * p2).fma(d2_lo, phi2),
        );
        let sdq = s * dq;
        let common = sdq * pdf1 * SQRT_HALF_PI;
        // Out of the money with both |d| above the central interval, the reference's form:
        // a·φ(d₁)·√(π/2) as the common factor of both terms and of the price.
        let erfcx_form = otm & !(c1 | c2);
        let term_s = erfcx_form.sel(common * e1, sdq * nd1);
        let term_k = erfcx_form.sel(common * e2, k * dr * nd2);
        let price = erfcx_form.sel(w * common * (e1 - e2), w * (term_s - term_k));
        pdf1.store(&mut self.pdf1, j);
        nd1.store(&mut self.nd1, j);
        term_s.store(&mut self.term_s, j);
        term_k.store(&mut self.term_k, j);
        price.store(&mut self.price, j);
        otm.store(&mut self.otm, j);
    }

    /// The outputs of set `C` (see [`EuroOut`]) from [`Tile::stage_terms`]' values (unscaled
    /// where scaled).
    #[inline(always)]
    fn stage_outputs<const C: usize>(&mut self, dst: &mut [&mut [f64; TILE]; C], j: usize) {
        // As a slice: the full set's indices must type-check for the first-order set too.
        let o: &mut [&mut [f64; TILE]] = dst;
        let (s, t) = (V::load(&self.x[0], j), V::load(&self.x[2], j));
        let (r, q) = (V::load(&self.x[3], j), V::load(&self.x[4], j));
        let vol = V::load(&self.x[5], j);
        let w = V::load(&self.w, j);
        let sqrt_t = V::load(&self.sqrt_t, j);
        let inv_sst = V::load(&self.inv_sst, j);
        let dq = V::load(&self.dq, j);
        let band = M::load(&self.band, j);
        let scale = Scale::new(band);
        // Out of the money, the N terms are scaled too.
        let ns = Scale::new(band & M::load(&self.otm, j));
        let (pdf1, nd1) = (V::load(&self.pdf1, j), V::load(&self.nd1, j));
        let (term_s, term_k) = (V::load(&self.term_s, j), V::load(&self.term_k, j));
        let inv_sqrt_t = vol * inv_sst;
        let dq_pdf = dq * pdf1;
        let vega = s * dq_pdf * sqrt_t;
        let delta = w * dq * nd1;
        let price = ns.unscale(V::load(&self.price, j));
        let delta_out = ns.unscale(delta);
        let vega_out = scale.unscale(vega);
        let theta = scale.unscale((-0.5 * s * dq_pdf) * (vol * inv_sqrt_t))
            + ns.unscale(w * (q * term_s - r * term_k));
        let rho = ns.unscale(w * t * term_k);
        let sum = if C == OUTPUTS {
            let sst = V::load(&self.sst, j);
            let inv_s_sst = V::load(&self.inv_s_sst, j);
            let d1 = V::load(&self.d[0], j) + V::load(&self.d_lo[0], j);
            let d2 = V::load(&self.d[1], j) + V::load(&self.d_lo[1], j);
            let inv_vol = sqrt_t * inv_sst;
            let gamma = scale.unscale(dq_pdf * inv_s_sst);
            let vanna = scale.unscale(-dq_pdf * d2 * inv_vol);
            let volga = scale.unscale(vega * d1 * d2 * inv_vol);
            let charm = ns.unscale(q * delta)
                - scale.unscale(
                    dq_pdf
                        * (2.0 * (r - q) * t - d2 * sst)
                        * (0.5 * inv_sst * inv_sqrt_t * inv_sqrt_t),
                );
            // Stored one by one (a loop here could keep the stage from being vectorised).
            price.store(o[0], j);
            delta_out.store(o[1], j);
            gamma.store(o[2], j);
            vega_out.store(o[3], j);
            theta.store(o[4], j);
            rho.store(o[5], j);
            vanna.store(o[6], j);
            volga.store(o[7], j);
            charm.store(o[8], j);
            price + delta_out + gamma + vega_out + theta + rho + vanna + volga + charm
        } else {
            price.store(o[0], j);
            delta_out.store(o[1], j);
            vega_out.store(o[2], j);
            theta.store(o[3], j);
            rho.store(o[4], j);
            price + delta_out + vega_out + theta + rho
        };
        // Any output ±∞ or NaN (sum·0 is NaN then; a finite sum that overflows only costs a
        // needless redo).
        (M::load(&self.redo, j) | (sum * 0.0).ne(0.0)).store(&mut self.redo, j);
    }
}

/// Calls `f(j)` for every `j` with `flags[j]` set, testing eight flags at a time.
#[inline(always)]
fn for_each_set(flags: &[bool; TILE], mut f: impl FnMut(usize)) {
    for (k, eight) in flags.chunks_exact(8).enumerate() {
        let any = eight.iter().fold(0u8, |a, &b| a | u8::from(b));
        if any != 0 {
            for (l, &b) in eight.iter().enumerate() {
                if b {
                    f(8 * k + l);
                }
            }
        }
    }
}

/// The Monte Carlo price lane code over a run (see [`mc_prices`]).
#[inline(always)]
fn run_mc_tiles(inp: &McPriceIn<'_>, price: &mut [f64], failures: &mut Vec<(usize, PricingError)>) {
    let n = inp.spot.len();
    let k = McConst::of(inp);
    let mut tile = Tile::new();
    tile.x[1] = [inp.strike; TILE];
    tile.ratio = [k.rq_t; TILE];
    tile.dq = [k.dq; TILE];
    tile.dr = [k.dr; TILE];
    tile.w = [if inp.kind == OptionType::Call {
        1.0
    } else {
        -1.0
    }; TILE];
    let mut i = 0;
    while i < n {
        let m = TILE.min(n - i);
        if m < TILE {
            tile.input[0].fill(1.0);
            tile.input[1].fill(0.2);
            tile.input[2].fill(0.0);
        }
        tile.input[0][..m].copy_from_slice(&inp.spot[i..i + m]);
        for j in 0..m {
            tile.input[1][j] = inp.vol[i + j] * k.sqrt_t;
            tile.input[2][j] = inp.ln_spot[i + j] - k.ln_k;
        }
        tile.compute_mc();
        price[i..i + m].copy_from_slice(&tile.o[0][..m]);
        for_each_set(&tile.redo, |j| {
            if j < m {
                scalar_mc_price(inp, i + j, price, failures);
            }
        });
        i += m;
    }
}

/// The price lane code over a whole run, tile by tile (as [`run_tiles`]).
#[inline(always)]
fn run_price_tiles(inp: &EuroIn<'_>, price: &mut [f64], failures: &mut Vec<(usize, PricingError)>) {
    let n = inp.len();
    let mut tile = Tile::new();
    let mut pad = [[0.0; TILE]; 6];
    let mut i = 0;
    while i < n {
        let m = TILE.min(n - i);
        let src = tile.sources(inp, i, m, &mut pad);
        tile.compute_price(&src);
        price[i..i + m].copy_from_slice(&tile.o[0][..m]);
        for_each_set(&tile.redo, |j| {
            if j < m {
                scalar_price(inp, i + j, price, failures);
            }
        });
        i += m;
    }
}

/// The lane code over a whole run, tile by tile; the last tile is padded with [`FILL`].
#[inline(always)]
fn run_tiles<const C: usize>(inp: &EuroIn<'_>, out: &mut EuroOut<'_, C>) {
    let n = inp.len();
    let mut tile = Tile::new();
    let mut pad = [[0.0; TILE]; 6];
    let mut opad = [[0.0; TILE]; C];
    let mut i = 0;
    while i < n {
        let m = TILE.min(n - i);
        let src = tile.sources(inp, i, m, &mut pad);
        // A full tile is written in place; a partial one through `opad`.
        let dst = out
            .cols
            .each_mut()
            .map(|c| c[i..].first_chunk_mut::<TILE>());
        if dst.iter().all(Option::is_some) {
            let mut dst = dst.map(|d| d.unwrap_or_else(|| unreachable!("checked just above")));
            tile.compute::<C>(&src, &mut dst);
        } else {
            tile.compute::<C>(&src, &mut opad.each_mut());
            for (col, v) in out.cols.iter_mut().zip(&opad) {
                col[i..i + m].copy_from_slice(&v[..m]);
            }
        }
        for_each_set(&tile.redo, |j| {
            if j < m {
                out.scalar(inp, i + j);
            }
        });
        i += m;
    }
}

// ---------------------------------------------------------------------------------------------
// Tables of ln (mpmath, 100 digits). Subinterval i of z ∈ [0.6875, 1.375) is [bits⁻¹(OFF + i·2^45), bits⁻¹(OFF + (i+1)·2^45));
// LOG_INVC[i] is 2/(lo + hi) rounded to 7 significant bits (1 for the two subintervals next to
// z = 1, so that ln x is relatively accurate near x = 1); LOG_LOGC_HI[i] is −ln(LOG_INVC[i])
// rounded to a multiple of 2^-43 and LOG_LOGC_LO[i] the rest, rounded to f64 (mpmath, 100
// digits).
pub(crate) const LOG_INVC: [f64; 128] = [
    1.453125, 1.4375, 1.4375, 1.421875, 1.421875, 1.40625, 1.40625, 1.390625, 1.390625, 1.375,
    1.375, 1.359375, 1.359375, 1.34375, 1.34375, 1.34375, 1.328125, 1.328125, 1.3125, 1.3125,
    1.296875, 1.296875, 1.296875, 1.28125, 1.28125, 1.265625, 1.265625, 1.265625, 1.25, 1.25,
    1.234375, 1.234375, 1.234375, 1.21875, 1.21875, 1.203125, 1.203125, 1.203125, 1.1875, 1.1875,
    1.1875, 1.171875, 1.171875, 1.171875, 1.15625, 1.15625, 1.15625, 1.140625, 1.140625, 1.140625,
    1.125, 1.125, 1.125, 1.109375, 1.109375, 1.109375, 1.09375, 1.09375, 1.09375, 1.09375,
    1.078125, 1.078125, 1.078125, 1.0625, 1.0625, 1.0625, 1.0625, 1.046875, 1.046875, 1.046875,
    1.03125, 1.03125, 1.03125, 1.03125, 1.015625, 1.015625, 1.015625, 1.015625, 1.0, 1.0, 1.0,
    0.9921875, 0.984375, 0.9765625, 0.96875, 0.9609375, 0.953125, 0.9453125, 0.9375, 0.9296875,
    0.921875, 0.9140625, 0.9140625, 0.90625, 0.8984375, 0.890625, 0.8828125, 0.8828125, 0.875,
    0.8671875, 0.859375, 0.859375, 0.8515625, 0.84375, 0.8359375, 0.8359375, 0.828125, 0.8203125,
    0.8203125, 0.8125, 0.8046875, 0.8046875, 0.796875, 0.7890625, 0.7890625, 0.78125, 0.78125,
    0.7734375, 0.765625, 0.765625, 0.7578125, 0.7578125, 0.75, 0.75, 0.7421875, 0.734375, 0.734375,
    0.7265625,
];
pub(crate) const LOG_LOGC_HI: [f64; 128] = [
    -0.37371640979358745,
    -0.3629054936893681,
    -0.3629054936893681,
    -0.3519764231572253,
    -0.3519764231572253,
    -0.34092658697056777,
    -0.34092658697056777,
    -0.3297532863724655,
    -0.3297532863724655,
    -0.31845373111855224,
    -0.31845373111855224,
    -0.3070250352949415,
    -0.3070250352949415,
    -0.2954642128938758,
    -0.2954642128938758,
    -0.2954642128938758,
    -0.28376817313062475,
    -0.28376817313062475,
    -0.2719337154836694,
    -0.2719337154836694,
    -0.25995752443691345,
    -0.25995752443691345,
    -0.25995752443691345,
    -0.2478361639045943,
    -0.2478361639045943,
    -0.23556607131274632,
    -0.23556607131274632,
    -0.23556607131274632,
    -0.22314355131425145,
    -0.22314355131425145,
    -0.21056476910735,
    -0.21056476910735,
    -0.21056476910735,
    -0.19782574332987224,
    -0.19782574332987224,
    -0.18492233849406148,
    -0.18492233849406148,
    -0.18492233849406148,
    -0.17185025692663203,
    -0.17185025692663203,
    -0.17185025692663203,
    -0.15860503017665906,
    -0.15860503017665906,
    -0.15860503017665906,
    -0.1451820098444614,
    -0.1451820098444614,
    -0.1451820098444614,
    -0.131576357788731,
    -0.131576357788731,
    -0.131576357788731,
    -0.11778303565643,
    -0.11778303565643,
    -0.11778303565643,
    -0.10379679368168127,
    -0.10379679368168127,
    -0.10379679368168127,
    -0.089612158689647,
    -0.089612158689647,
    -0.089612158689647,
    -0.089612158689647,
    -0.07522342123763792,
    -0.07522342123763792,
    -0.07522342123763792,
    -0.06062462181648698,
    -0.06062462181648698,
    -0.06062462181648698,
    -0.06062462181648698,
    -0.045809536031242715,
    -0.045809536031242715,
    -0.045809536031242715,
    -0.03077165866670839,
    -0.03077165866670839,
    -0.03077165866670839,
    -0.03077165866670839,
    -0.015504186535963527,
    -0.015504186535963527,
    -0.015504186535963527,
    -0.015504186535963527,
    0.0,
    0.0,
    0.0,
    0.007843177461040796,
    0.01574835696817445,
    0.023716526617363343,
    0.03174869831457272,
    0.039845908547249564,
    0.048009219186383234,
    0.056239718322899535,
    0.0645385211375924,
    0.07290677080811747,
    0.08134563945395712,
    0.08985632912185793,
    0.08985632912185793,
    0.09844007281321865,
    0.10709813555638448,
    0.11583181552509814,
    0.12464244520731427,
    0.12464244520731427,
    0.13353139262449076,
    0.14250006260726877,
    0.15154989812720032,
    0.15154989812720032,
    0.16068238169043525,
    0.16989903679541385,
    0.17920142945774842,
    0.17920142945774842,
    0.18859116980752333,
    0.19806991376208316,
    0.19806991376208316,
    0.20763936477828793,
    0.21730127569003344,
    0.21730127569003344,
    0.22705745063535687,
    0.2369097470783572,
    0.2369097470783572,
    0.2468600779315011,
    0.2468600779315011,
    0.2569104137850218,
    0.2670627852490952,
    0.2670627852490952,
    0.27731928541618345,
    0.27731928541618345,
    0.28768207245173016,
    0.28768207245173016,
    0.29815337231912054,
    0.30873548164959175,
    0.30873548164959175,
    0.31943077076641657,
];
pub(crate) const LOG_LOGC_LO: [f64; 128] = [
    3.364344013825529e-15,
    -3.6708569716349383e-16,
    -3.6708569716349383e-16,
    4.714192128836809e-14,
    4.714192128836809e-14,
    -2.544157440035963e-14,
    -2.544157440035963e-14,
    -2.500123826022799e-15,
    -2.500123826022799e-15,
    1.7625431312172662e-14,
    1.7625431312172662e-14,
    2.9655274673691784e-14,
    2.9655274673691784e-14,
    3.993416384387844e-14,
    3.993416384387844e-14,
    3.993416384387844e-14,
    -1.9852665484979036e-14,
    -1.9852665484979036e-14,
    2.7643769993528702e-14,
    2.7643769993528702e-14,
    -1.2621729398885316e-14,
    -1.2621729398885316e-14,
    -1.2621729398885316e-14,
    1.3029797173308663e-14,
    1.3029797173308663e-14,
    -2.0592242769647135e-14,
    -2.0592242769647135e-14,
    -2.0592242769647135e-14,
    4.169796584527195e-14,
    4.169796584527195e-14,
    3.6507188831790577e-16,
    3.6507188831790577e-16,
    3.6507188831790577e-16,
    -4.7641388950792196e-14,
    -4.7641388950792196e-14,
    4.9485167661250996e-14,
    4.9485167661250996e-14,
    4.9485167661250996e-14,
    -2.7194441649495324e-14,
    -2.7194441649495324e-14,
    -2.7194441649495324e-14,
    2.0472357800461955e-14,
    2.0472357800461955e-14,
    2.0472357800461955e-14,
    -3.6506824353335045e-14,
    -3.6506824353335045e-14,
    -3.6506824353335045e-14,
    1.1729485484531301e-14,
    1.1729485484531301e-14,
    1.1729485484531301e-14,
    4.654729747598445e-14,
    4.654729747598445e-14,
    4.654729747598445e-14,
    3.7700471749674615e-14,
    3.7700471749674615e-14,
    3.7700471749674615e-14,
    -4.012913552726574e-14,
    -4.012913552726574e-14,
    -4.012913552726574e-14,
    -4.012913552726574e-14,
    5.0396178134370583e-14,
    5.0396178134370583e-14,
    5.0396178134370583e-14,
    5.213620639136504e-14,
    5.213620639136504e-14,
    5.213620639136504e-14,
    5.213620639136504e-14,
    -5.148849572685811e-14,
    -5.148849572685811e-14,
    -5.148849572685811e-14,
    -4.529814257790929e-14,
    -4.529814257790929e-14,
    -4.529814257790929e-14,
    -4.529814257790929e-14,
    -1.7274567499706107e-15,
    -1.7274567499706107e-15,
    -1.7274567499706107e-15,
    -1.7274567499706107e-15,
    0.0,
    0.0,
    0.0,
    -1.4902732911301337e-14,
    -3.527980389655325e-14,
    -4.730054772033249e-14,
    7.580310369375161e-15,
    -4.9893776716773285e-14,
    -2.262629393030674e-14,
    -2.345674491018699e-14,
    -2.1225608044809997e-14,
    -2.9690894981172655e-14,
    -4.713370778300984e-15,
    3.1218748807418837e-15,
    3.1218748807418837e-15,
    3.3871241029241416e-14,
    -1.7376727386423858e-14,
    2.3568822182038756e-14,
    -3.767012502308738e-14,
    -3.767012502308738e-14,
    3.1859736349078334e-14,
    1.4256439478199035e-14,
    6.157896229122976e-16,
    6.157896229122976e-16,
    3.821577743916796e-14,
    -1.6376276414097503e-14,
    -3.742530094732263e-14,
    -3.742530094732263e-14,
    2.6693431578015818e-14,
    1.0634128304268335e-14,
    1.0634128304268335e-14,
    -4.3425422595242564e-14,
    -5.204008743405884e-14,
    -5.204008743405884e-14,
    -1.078736749871691e-14,
    5.015686013791602e-16,
    5.015686013791602e-16,
    2.4688324156011588e-14,
    2.4688324156011588e-14,
    5.465121253624792e-15,
    -4.996736502345936e-14,
    -4.996736502345936e-14,
    5.089628039500759e-14,
    5.089628039500759e-14,
    5.076326383153408e-14,
    5.076326383153408e-14,
    -4.4204083338755686e-14,
    2.1522127491642888e-14,
    2.1522127491642888e-14,
    -5.534326352070679e-14,
];

#[cfg(test)]
mod tests {
    //! The lane primitives against libm, the table invariants, and the dispatch levels against
    //! each other and against the scalar reference.
    use super::*;

    /// splitmix64 → uniform in [a, b).
    struct Rng(u64);
    impl Rng {
        fn unif(&mut self, a: f64, b: f64) -> f64 {
            self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^= z >> 31;
            a + (b - a) * ((z >> 11) as f64 / (1u64 << 53) as f64)
        }
        fn log_unif(&mut self, a: f64, b: f64) -> f64 {
            self.unif(a.ln(), b.ln()).exp()
        }
    }

    fn ulps(a: f64, b: f64) -> u64 {
        (a.to_bits() as i64).abs_diff(b.to_bits() as i64)
    }

    /// Status equality that treats the NaN inside an error as equal to itself.
    fn same_status(a: &Status, b: &Status) -> bool {
        format!("{a:?}") == format!("{b:?}")
    }

    #[test]
    fn log_tables_hold_their_invariants() {
        for i in 0..128 {
            let invc = LOG_INVC[i];
            // At most 7 significant bits, so z·invc − 1 is exact.
            assert_eq!(invc.to_bits() & ((1u64 << 46) - 1), 0, "invc[{i}]");
            // The high part of ln c is a multiple of 2^-43.
            let scaled = LOG_LOGC_HI[i] * 2f64.powi(43);
            assert_eq!(scaled, scaled.round(), "logc_hi[{i}]");
            let want = -invc.ln();
            assert!(
                (LOG_LOGC_HI[i] + LOG_LOGC_LO[i] - want).abs() <= 1.2e-16 * want.abs().max(1e-300)
            );
            // |r| < 0.0091 over the subinterval.
            let lo = f64::from_bits(LOG_OFF + ((i as u64) << 45));
            let hi = f64::from_bits(LOG_OFF + ((i as u64 + 1) << 45));
            assert!((lo * invc - 1.0).abs() < 0.0091 && (hi * invc - 1.0).abs() < 0.0091);
        }
    }

    #[test]
    fn ln_is_the_libm_value_wherever_not_flagged() {
        let mut rng = Rng(1);
        let mut flagged = 0;
        let n = 1 << 20;
        for k in 0..n {
            let x = match k % 4 {
                0 => rng.log_unif(0.125, 8.0),
                1 => rng.unif(0.97, 1.03),
                2 => 1.0 + rng.unif(-1e-9, 1e-9),
                _ => rng.log_unif(1e-300, 1e300),
            };
            let (y, flag) = ln_lane(V::from(x));
            if flag.0[0] {
                flagged += 1;
            } else {
                assert_eq!(y.0[0].to_bits(), x.ln().to_bits(), "ln({x:e})");
            }
        }
        assert!(flagged < n / 15, "{flagged} of {n} flagged");
        // Exceptional arguments are always flagged (the scalar `ln` decides).
        for x in [0.0, -1.0, f64::INFINITY, f64::NAN, 1e-310] {
            assert!(ln_lane(V::from(x)).1.0[0], "{x}");
        }
        assert_eq!(ln_lane(V::from(1.0)).0.0[0], 0.0);
    }

    #[test]
    fn exp_is_within_one_ulp() {
        let mut rng = Rng(2);
        let zero = V::from(0.0);
        let none = U([0; PACK]);
        for _ in 0..200_000 {
            let x = rng.unif(-745.0, 709.0);
            let got = exp_lane(V::from(x), zero, none).0[0];
            let want = x.exp();
            if want >= f64::MIN_POSITIVE {
                assert!(ulps(got, want) <= 1, "exp({x}) = {got:e}, libm {want:e}");
            } else {
                assert!((got - want).abs() <= f64::from_bits(1), "exp({x})");
            }
        }
        assert_eq!(exp_lane(V::from(710.0), zero, none).0[0], f64::INFINITY);
        assert_eq!(exp_lane(V::from(-800.0), zero, none).0[0], 0.0);
        assert!(exp_lane(V::from(f64::NAN), zero, none).0[0].is_nan());
        // The scaled form used in the far tails: e^x·2^600 (exact scaling of a normal e^x).
        for x in [-700.0, -650.5, -600.25] {
            let scaled = exp_lane(V::from(x), zero, U([TAIL_SCALE; PACK])).0[0];
            assert!(ulps(scaled, f64::exp(x) * 2f64.powi(600)) <= 1, "{x}");
        }
    }

    #[test]
    fn gauss_matches_the_mpmath_density() {
        // φ(x)·√(2π) = e^{−x²/2} against the mpmath golden table of wheelhouse_pricing::normal.
        let mut n = 0;
        for line in include_str!("../../testkit/data/normal.csv").lines() {
            let mut f = line.split(',');
            if f.next() != Some("norm_pdf") {
                continue;
            }
            let x: f64 = f.next().unwrap().parse().unwrap();
            let want: f64 = f.next().unwrap().parse().unwrap();
            if x.abs() > 37.0 {
                continue; // subnormal range: the lane code scales these (see UNDERFLOW_BAND)
            }
            let got = ONE_OVER_SQRT_TWO_PI * gauss_lane(V::from(x.abs()), U([0; PACK])).0[0];
            assert!(ulps(got, want) <= 2, "φ({x}) = {got:e}, mpmath {want:e}");
            n += 1;
        }
        assert!(n > 1000);
    }

    /// Columns of `n` elements: random over the test ranges, tails, and invalid or extreme
    /// inputs every 97th element.
    fn columns(n: usize, seed: u64) -> (Vec<OptionType>, [Vec<f64>; 6]) {
        let mut rng = Rng(seed);
        let mut kind = Vec::with_capacity(n);
        let mut c: [Vec<f64>; 6] = Default::default();
        let odd = [
            f64::NAN,
            -1.0,
            0.0,
            f64::INFINITY,
            1e-310,
            1e300,
            -1e300,
            1e-200,
        ];
        for i in 0..n {
            kind.push(if i % 2 == 0 {
                OptionType::Call
            } else {
                OptionType::Put
            });
            let s = rng.log_unif(5.0, 2000.0);
            let mut v = [
                s,
                s * rng.log_unif(0.25, 4.0),
                rng.log_unif(1.0 / 8760.0, 5.0),
                rng.unif(-0.01, 0.10),
                rng.unif(0.0, 0.06),
                rng.log_unif(0.01, 3.0),
            ];
            if i % 97 == 13 {
                v[(i / 97) % 6] = odd[(i / 7) % odd.len()];
            }
            for (col, x) in c.iter_mut().zip(v) {
                col.push(x);
            }
        }
        (kind, c)
    }

    fn run(level: Level, kind: &[OptionType], c: &[Vec<f64>; 6]) -> ([Vec<f64>; 9], Vec<Status>) {
        let n = kind.len();
        let mut o: [Vec<f64>; 9] = std::array::from_fn(|_| vec![f64::NAN; n]);
        let mut st = vec![Status::Ok; n];
        let inp = EuroIn {
            kind,
            spot: &c[0],
            strike: &c[1],
            years: &c[2],
            rate: &c[3],
            dividend_yield: &c[4],
            volatility: &c[5],
        };
        let [a0, a1, a2, a3, a4, a5, a6, a7, a8] = &mut o;
        let mut out = EuroOut {
            cols: [a0, a1, a2, a3, a4, a5, a6, a7, a8],
            status: &mut st,
        };
        european_at(level, &inp, &mut out);
        (o, st)
    }

    #[test]
    fn scalar_level_is_the_reference_and_invalid_elements_fail_alike() {
        let (kind, c) = columns(5_000, 4);
        let (o, st) = run(Level::Scalar, &kind, &c);
        let mut failed = 0;
        for i in 0..kind.len() {
            let inp = BsmInputs {
                kind: kind[i],
                spot: c[0][i],
                strike: c[1][i],
                years: c[2][i],
                rate: c[3][i],
                dividend_yield: c[4][i],
                volatility: c[5][i],
            };
            match validate_bsm(&inp) {
                Ok(()) => {
                    let g = bsm_greeks_unchecked(&inp);
                    let want = [
                        g.price, g.delta, g.gamma, g.vega, g.theta, g.rho, g.vanna, g.volga,
                        g.charm,
                    ];
                    assert!(st[i].is_ok());
                    for (col, w) in o.iter().zip(want) {
                        assert_eq!(col[i].to_bits(), w.to_bits(), "element {i}");
                    }
                }
                Err(e) => {
                    failed += 1;
                    assert!(same_status(&st[i], &Status::failed(e)), "element {i}");
                    assert!(o.iter().all(|col| col[i].is_nan()));
                }
            }
        }
        assert!(failed > 10);
    }

    #[test]
    fn vector_levels_agree_bit_for_bit_and_fail_like_the_scalar_path() {
        let (kind, c) = columns(20_011, 5);
        let (scalar_o, scalar_st) = run(Level::Scalar, &kind, &c);
        let mut levels = vec![];
        for level in [Level::Avx2, Level::Avx512] {
            if level.available() {
                levels.push(run(level, &kind, &c));
            }
        }
        if let [(a, sa), (b, sb)] = &levels[..] {
            for i in 0..kind.len() {
                assert!(same_status(&sa[i], &sb[i]), "element {i}");
                for (x, y) in a.iter().zip(b) {
                    assert_eq!(x[i].to_bits(), y[i].to_bits(), "element {i}");
                }
            }
        }
        for (o, st) in &levels {
            // Same statuses as the scalar path; failed and exceptional elements are the
            // reference's bit for bit.
            for i in 0..kind.len() {
                assert!(same_status(&st[i], &scalar_st[i]), "element {i}");
                let exotic = c.iter().enumerate().any(|(k, col)| {
                    let x = col[i];
                    if k == 3 || k == 4 {
                        x.is_nan() || x.abs() > REGULAR_MAX
                    } else {
                        !(REGULAR_MIN..=REGULAR_MAX).contains(&x)
                    }
                });
                if !st[i].is_ok() || exotic {
                    for (col, want) in o.iter().zip(&scalar_o) {
                        assert_eq!(col[i].to_bits(), want[i].to_bits(), "element {i}");
                    }
                }
            }
        }
    }

    /// The price-only kernel gives the full kernel's price at every level (bit for bit but for
    /// lanes the full kernel redid because a Greek overflowed, within 1e-13 relative there) and
    /// fails on exactly the elements the full kernel fails on.
    #[test]
    fn price_only_kernel_matches_the_full_kernel() {
        let (kind, c) = columns(20_011, 6);
        let inp = EuroIn {
            kind: &kind,
            spot: &c[0],
            strike: &c[1],
            years: &c[2],
            rate: &c[3],
            dividend_yield: &c[4],
            volatility: &c[5],
        };
        for level in [Level::Scalar, Level::Avx2, Level::Avx512] {
            if !level.available() {
                continue;
            }
            let (o, st) = run(level, &kind, &c);
            let mut price = vec![0.0; kind.len()];
            let mut failures = vec![];
            european_prices_at(level, &inp, &mut price, &mut failures);
            let failed: Vec<usize> = failures.iter().map(|f| f.0).collect();
            let want: Vec<usize> = (0..kind.len()).filter(|&i| !st[i].is_ok()).collect();
            assert_eq!(failed, want, "{level:?}");
            assert!(!want.is_empty());
            let mut differ = 0;
            for i in 0..kind.len() {
                if st[i].is_ok() {
                    if price[i].to_bits() != o[0][i].to_bits() {
                        differ += 1;
                        let tol = 1e-13 * o[0][i].abs() + 1e-300;
                        assert!((price[i] - o[0][i]).abs() <= tol, "{level:?} element {i}");
                    }
                } else {
                    assert!(price[i].is_nan());
                }
            }
            assert!(differ * 1000 < kind.len(), "{level:?}: {differ} differ");
        }
    }

    /// The Monte Carlo price kernel against the scalar reference on random paths (1e-12
    /// relative + 1e-300), at every level; bad terms and bad spots fail like the reference.
    #[test]
    fn mc_price_kernel_matches_the_reference() {
        let mut rng = Rng(77);
        for level in [Level::Scalar, Level::Avx2, Level::Avx512] {
            if !level.available() {
                continue;
            }
            for case in 0..200 {
                let kind = if case % 2 == 0 {
                    OptionType::Call
                } else {
                    OptionType::Put
                };
                let s0 = rng.log_unif(5.0, 2000.0);
                let strike = s0 * rng.log_unif(0.5, 2.0);
                let years = rng.log_unif(1.0 / 365.0, 3.0);
                let rate = rng.unif(-0.01, 0.08);
                let q = rng.unif(0.0, 0.05);
                let n = 37 + case % 50;
                let ln_spot: Vec<f64> = (0..n).map(|_| s0.ln() + rng.unif(-0.6, 0.6)).collect();
                let mut spot: Vec<f64> = ln_spot.iter().map(|x| x.exp()).collect();
                let vol: Vec<f64> = (0..n).map(|_| rng.log_unif(0.02, 2.0)).collect();
                if case == 7 {
                    spot[3] = f64::INFINITY;
                }
                let inp = McPriceIn {
                    kind,
                    strike,
                    years,
                    rate,
                    dividend_yield: q,
                    spot: &spot,
                    ln_spot: &ln_spot,
                    vol: &vol,
                };
                let mut price = vec![0.0; n];
                let mut failures = vec![];
                mc_prices_at(level, &inp, &mut price, &mut failures);
                for i in 0..n {
                    let e = BsmInputs {
                        kind,
                        spot: spot[i],
                        strike,
                        years,
                        rate,
                        dividend_yield: q,
                        volatility: vol[i],
                    };
                    match validate_bsm(&e) {
                        Ok(()) => {
                            let want = bsm_greeks_unchecked(&e).price;
                            // ln(S/K) from the path's log spot carries ~1e-16·|ln S| absolute;
                            // a price's relative condition number in ln(S/K) is about |d|/σ√T.
                            let sst = vol[i] * years.sqrt();
                            let d = (spot[i] / strike).ln() / sst;
                            let tol = want.abs() * (1e-12 + 4e-15 * d.abs() / sst) + 1e-300;
                            assert!(
                                (price[i] - want).abs() <= tol,
                                "{level:?} case {case} path {i}: {} vs {want}",
                                price[i]
                            );
                        }
                        Err(_) => {
                            assert!(price[i].is_nan());
                            assert!(failures.iter().any(|f| f.0 == i));
                        }
                    }
                }
                if case == 7 {
                    assert_eq!(failures.len(), 1);
                }
            }
            // Bad terms: every path fails.
            let inp = McPriceIn {
                kind: OptionType::Put,
                strike: -1.0,
                years: 1.0,
                rate: 0.0,
                dividend_yield: 0.0,
                spot: &[100.0; 5],
                ln_spot: &[100f64.ln(); 5],
                vol: &[0.2; 5],
            };
            let mut price = vec![0.0; 5];
            let mut failures = vec![];
            mc_prices_at(level, &inp, &mut price, &mut failures);
            assert_eq!(failures.len(), 5);
        }
    }
}
