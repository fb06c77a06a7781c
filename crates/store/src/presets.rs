//! Vendor layouts built in as presets.
//!
//! # Cboe DataShop "Option EOD Summary" (`--preset cboe`)
//! One row per contract and day with the 15:45 ET snapshot (`bid_1545`, `ask_1545`,
//! `active_underlying_price_1545`, vendor `implied_volatility_1545` and Greeks) and end-of-day
//! fields. wheelhouse stores the 15:45 snapshot: `quote_time` = `quote_date` 15:45 New York,
//! bid/ask at 15:45, the active underlying price at 15:45, last = `close`, volume =
//! `trade_volume`, open interest, vendor IV/delta/gamma/vega/theta at 15:45. The `root` decides
//! exercise style and settlement: the index roots in [`INDEX_ROOTS`] are European (AM- or
//! PM-settled as listed), every other root American and PM-settled.

use crate::StoreError;
use crate::mapping::Mapping;
use crate::spec::Table;

/// Index option roots with European exercise: `(root, settlement)`.
pub const INDEX_ROOTS: &[(&str, &str)] = &[
    ("SPX", "am"),
    ("SPXW", "pm"),
    ("SPXQ", "pm"),
    ("SPXPM", "pm"),
    ("XSP", "pm"),
    ("NDX", "am"),
    ("NDXP", "pm"),
    ("RUT", "am"),
    ("RUTW", "pm"),
    ("MRUT", "pm"),
    ("VIX", "am"),
    ("VIXW", "am"),
    ("DJX", "am"),
    ("XEO", "pm"),
    ("MXEF", "pm"),
    ("MXEA", "pm"),
];

/// A built-in vendor layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Preset {
    /// Cboe DataShop Option EOD Summary CSV.
    Cboe,
}

impl Preset {
    /// Parses `cboe`.
    pub fn parse(s: &str) -> Option<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "cboe" | "cboe-eod" | "datashop" => Some(Preset::Cboe),
            _ => None,
        }
    }

    /// The mapping implementing the preset for `table`.
    ///
    /// # Errors
    /// [`StoreError::Mapping`] when the preset has no layout for `table`.
    pub fn mapping(self, table: Table) -> Result<Mapping, StoreError> {
        match (self, table) {
            (Preset::Cboe, Table::Quotes) => {
                let mut roots = String::new();
                for (root, settle) in INDEX_ROOTS {
                    roots.push_str(&format!(
                        "[roots.{root}]\nstyle = \"european\"\nsettlement = \"{settle}\"\n"
                    ));
                }
                let toml = format!(
                    r#"
table = "quotes"
time_zone = "America/New_York"
[columns]
underlying = "underlying_symbol"
root = "root"
quote_time = "quote_date"
expiration = "expiration"
strike = "strike"
type = "option_type"
bid = "bid_1545"
ask = "ask_1545"
last = "close"
volume = "trade_volume"
open_interest = "open_interest"
underlying_price = "active_underlying_price_1545"
vendor_iv = "implied_volatility_1545"
vendor_delta = "delta_1545"
vendor_gamma = "gamma_1545"
vendor_vega = "vega_1545"
vendor_theta = "theta_1545"
[times]
quote_time = "15:45"
{roots}"#
                );
                Mapping::from_toml(&toml, "preset cboe", table)
            }
            (Preset::Cboe, other) => Err(StoreError::Mapping {
                file: "preset cboe".into(),
                reason: format!(
                    "the Cboe Option EOD Summary preset imports option quotes, not {}",
                    other.spec().db_table
                ),
            }),
        }
    }
}
