//! Inputs shared by the `pricing_speed` and `gpu_iv` examples: the `wheelhouse bench` random
//! mix or a near-the-money chain mix, from a fixed seed.

use wheelhouse_pricing::OptionType;

struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        (z >> 11) as f64 / (1u64 << 53) as f64
    }
    fn log_uniform(&mut self, lo: f64, hi: f64) -> f64 {
        (lo.ln() + (hi.ln() - lo.ln()) * self.next()).exp()
    }
}

/// Input columns (spot 100): `random` — K/S log-U[0.25, 4], T log-U[1 h, 5 y], σ log-U[1 %,
/// 300 %], r U[−1 %, 10 %], q U[0, 6 %]; `chain` — K U[60, 140], T log-U[1 w, 2 y], σ U[10 %,
/// 80 %], r U[0, 5 %], q U[0, 3 %].
pub struct Columns {
    pub kind: Vec<OptionType>,
    pub spot: Vec<f64>,
    pub strike: Vec<f64>,
    pub years: Vec<f64>,
    pub rate: Vec<f64>,
    pub dividend_yield: Vec<f64>,
    pub volatility: Vec<f64>,
}

impl Columns {
    /// `n` elements of the chain mix (`chain`) or the random mix.
    pub fn generate(n: usize, chain: bool) -> Columns {
        let mut g = SplitMix(42);
        let mut c = Columns {
            kind: Vec::with_capacity(n),
            spot: vec![100.0; n],
            strike: Vec::with_capacity(n),
            years: Vec::with_capacity(n),
            rate: Vec::with_capacity(n),
            dividend_yield: Vec::with_capacity(n),
            volatility: Vec::with_capacity(n),
        };
        for _ in 0..n {
            c.kind.push(if g.next() < 0.5 {
                OptionType::Call
            } else {
                OptionType::Put
            });
            if chain {
                c.strike.push(60.0 + 80.0 * g.next());
                c.years.push(g.log_uniform(7.0 / 365.0, 2.0));
                c.rate.push(0.05 * g.next());
                c.dividend_yield.push(0.03 * g.next());
                c.volatility.push(0.1 + 0.7 * g.next());
            } else {
                c.strike.push(100.0 * g.log_uniform(0.25, 4.0));
                c.years.push(g.log_uniform(1.0 / 8760.0, 5.0));
                c.rate.push(-0.01 + 0.11 * g.next());
                c.dividend_yield.push(0.06 * g.next());
                c.volatility.push(g.log_uniform(0.01, 3.0));
            }
        }
        c
    }

    /// The same elements in a listed chain's order (expiry, then strike, then calls before
    /// puts), as a vendor's snapshot arrives, rather than shuffled.
    #[allow(dead_code)] // gpu_iv's `listed` mix; the other examples share this module
    pub fn into_listing_order(self) -> Columns {
        let mut idx: Vec<usize> = (0..self.kind.len()).collect();
        idx.sort_by(|&a, &b| {
            self.years[a]
                .total_cmp(&self.years[b])
                .then(self.strike[a].total_cmp(&self.strike[b]))
                .then((self.kind[a] == OptionType::Put).cmp(&(self.kind[b] == OptionType::Put)))
        });
        let pick = |v: &[f64]| idx.iter().map(|&i| v[i]).collect::<Vec<f64>>();
        Columns {
            kind: idx.iter().map(|&i| self.kind[i]).collect(),
            spot: pick(&self.spot),
            strike: pick(&self.strike),
            years: pick(&self.years),
            rate: pick(&self.rate),
            dividend_yield: pick(&self.dividend_yield),
            volatility: pick(&self.volatility),
        }
    }
}
