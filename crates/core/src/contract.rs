//! Option contract terms: right, exercise style and settlement.

/// Call or put (serialized as `call`/`put`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OptionType {
    /// Right to buy at the strike.
    Call,
    /// Right to sell at the strike.
    Put,
}

impl OptionType {
    /// `+1.0` for a call, `-1.0` for a put (the `ω` of the textbook formulas).
    #[inline]
    pub fn sign(self) -> f64 {
        match self {
            OptionType::Call => 1.0,
            OptionType::Put => -1.0,
        }
    }

    /// Parses `call`/`put` (also `c`/`p`, any case).
    pub fn parse(s: &str) -> Option<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "call" | "c" => Some(OptionType::Call),
            "put" | "p" => Some(OptionType::Put),
            _ => None,
        }
    }

    /// `"call"` or `"put"`.
    pub fn as_str(self) -> &'static str {
        match self {
            OptionType::Call => "call",
            OptionType::Put => "put",
        }
    }
}

/// Exercise style (serialized as `european`/`american`).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum ExerciseStyle {
    /// Exercise only at expiry.
    #[default]
    European,
    /// Exercise at any time up to expiry.
    American,
}

impl ExerciseStyle {
    /// Parses `european`/`american` (also `e`/`a`, any case).
    pub fn parse(s: &str) -> Option<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "european" | "e" | "eu" => Some(ExerciseStyle::European),
            "american" | "a" | "am" => Some(ExerciseStyle::American),
            _ => None,
        }
    }

    /// `"european"` or `"american"`.
    pub fn as_str(self) -> &'static str {
        match self {
            ExerciseStyle::European => "european",
            ExerciseStyle::American => "american",
        }
    }
}

/// When an expiring option's settlement value is fixed on its expiration date.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Settlement {
    /// PM-settled: the close, 16:00 America/New_York (US equity and ETF options, weeklies).
    #[default]
    Pm,
    /// AM-settled: the opening print, 09:30 America/New_York (e.g. standard SPX, NDX, RUT, VIX).
    Am,
}

impl Settlement {
    /// Parses `pm`/`am` (any case).
    pub fn parse(s: &str) -> Option<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "pm" => Some(Settlement::Pm),
            "am" => Some(Settlement::Am),
            _ => None,
        }
    }

    /// `"pm"` or `"am"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Settlement::Pm => "pm",
            Settlement::Am => "am",
        }
    }
}
