//! The wheel ledger: fills in, positions, cycles and cost basis out.
//!
//! # Fills
//! A [`Fill`] is one event on the account, in time order: a trade (buy `quantity > 0`, sell
//! `quantity < 0`; options in contracts, stock in shares), an assignment or exercise of an
//! option, an expiry, a dividend on held shares, or a cash deposit/withdrawal. A roll is a
//! closing trade and an opening trade that share a `link` id.
//!
//! # The wheel cycle
//! A cycle of an underlying starts at the first fill that leaves it not flat (no shares and
//! no open options before) and ends when it is flat again. Its state follows the positions:
//! cash → short put → shares (assigned) → covered call (shares + short call) → called away →
//! cash. Partial assignment leaves both shares and a short put; every combination is derived
//! from the positions, never assumed.
//!
//! # Money (all in account currency, fees included)
//! - `cash_flow`: the sum of the cycle's cash flows (premiums received are positive, buybacks,
//!   share purchases and fees negative, share sales and dividends positive).
//! - Adjusted cost basis per share (while holding shares) = `−cash_flow / shares`: the price
//!   at which selling the remaining shares ends the cycle at zero P&L. It is net of every
//!   premium collected in the cycle (the put premiums before assignment, the call premiums
//!   after, rolls' credits and debits) and of dividends. A call assigned at strike `K` then
//!   realises exactly `(K − basis) × shares`.
//! - Share basis (unadjusted): the average purchase price of the shares held.
//! - Realized P&L: options are realized when closed, expired or assigned (an assigned option
//!   closes at zero; the shares move at the strike); shares on sale against their average
//!   purchase price; dividends when received; fees when paid.
//! - Unrealized P&L: open positions marked to market against their open prices.
//!   `realized + unrealized = cash_flow + market value of open positions`.
//! - Return on capital: capital at risk is the strike × multiplier of each short put
//!   (cash-secured collateral) plus the purchase cost of the shares held; capital-days is its
//!   integral over the cycle in calendar days. Annualized ROC = `P&L × 365 / capital-days`
//!   (simple, not compounded).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use wheelhouse_core::{ExerciseStyle, OptionType, UnixNanos};

use crate::WheelError;

/// Nanoseconds per day.
const NANOS_PER_DAY: f64 = 86_400e9;

/// What a fill is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum InstrumentKind {
    /// Shares of the underlying.
    Stock,
    /// A call option.
    Call,
    /// A put option.
    Put,
    /// Cash (deposits and withdrawals).
    Cash,
}

impl InstrumentKind {
    /// Parses `stock|call|put|cash` (also `c`, `p`, case-insensitive).
    pub fn parse(s: &str) -> Option<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "stock" | "shares" | "equity" => Some(Self::Stock),
            "call" | "c" => Some(Self::Call),
            "put" | "p" => Some(Self::Put),
            "cash" => Some(Self::Cash),
            _ => None,
        }
    }

    /// Lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Stock => "stock",
            Self::Call => "call",
            Self::Put => "put",
            Self::Cash => "cash",
        }
    }

    /// The option type, for calls and puts.
    pub fn option_type(self) -> Option<OptionType> {
        match self {
            Self::Call => Some(OptionType::Call),
            Self::Put => Some(OptionType::Put),
            _ => None,
        }
    }
}

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FillEvent {
    /// A buy (`quantity > 0`) or sell (`quantity < 0`) at `price`.
    Trade,
    /// `|quantity|` short contracts (all when 0) assigned: puts buy shares at the strike, calls
    /// sell them.
    Assign,
    /// `|quantity|` long contracts (all when 0) exercised: calls buy shares at the strike, puts
    /// sell them.
    Exercise,
    /// `|quantity|` contracts (all when 0) expired worthless.
    Expire,
    /// A dividend of `price` per share on `quantity` shares (0: the shares held now). Paid
    /// after the cycle closed, it goes to that cycle.
    Dividend,
    /// Cash in (`quantity > 0`) or out (`quantity < 0`); kind `cash`.
    Deposit,
}

impl FillEvent {
    /// Parses an event name (`trade|open|close|assign|exercise|expire|dividend|deposit|withdraw`).
    pub fn parse(s: &str) -> Option<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "" | "trade" | "open" | "close" | "buy" | "sell" => Some(Self::Trade),
            "assign" | "assignment" | "assigned" => Some(Self::Assign),
            "exercise" | "exercised" => Some(Self::Exercise),
            "expire" | "expired" | "expiry" => Some(Self::Expire),
            "dividend" => Some(Self::Dividend),
            "deposit" | "withdraw" | "withdrawal" => Some(Self::Deposit),
            _ => None,
        }
    }

    /// Lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Trade => "trade",
            Self::Assign => "assign",
            Self::Exercise => "exercise",
            Self::Expire => "expire",
            Self::Dividend => "dividend",
            Self::Deposit => "deposit",
        }
    }
}

/// One event on the account.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Fill {
    /// When it happened.
    pub time: UnixNanos,
    /// Underlying symbol (empty for cash).
    pub underlying: String,
    /// Instrument.
    pub kind: InstrumentKind,
    /// What happened.
    pub event: FillEvent,
    /// Signed quantity: contracts for options, shares for stock, money for cash.
    pub quantity: f64,
    /// Per-share price (option premium per share, share price, dividend per share).
    pub price: f64,
    /// Strike (options).
    pub strike: Option<f64>,
    /// Expiration instant (options).
    pub expiration: Option<UnixNanos>,
    /// Exercise style (options).
    pub style: ExerciseStyle,
    /// Shares per contract (options; 100 by default).
    pub multiplier: f64,
    /// Fees and commissions, money, ≥ 0.
    pub fees: f64,
    /// Rolls: the closing and the opening trade share this id.
    pub link: Option<String>,
}

impl Fill {
    /// A trade on an option (contracts signed, price per share, multiplier 100, no fees).
    #[allow(clippy::too_many_arguments)]
    pub fn option_trade(
        time: UnixNanos,
        underlying: &str,
        kind: OptionType,
        strike: f64,
        expiration: UnixNanos,
        contracts: f64,
        price: f64,
    ) -> Self {
        Fill {
            time,
            underlying: underlying.to_string(),
            kind: match kind {
                OptionType::Call => InstrumentKind::Call,
                OptionType::Put => InstrumentKind::Put,
            },
            event: FillEvent::Trade,
            quantity: contracts,
            price,
            strike: Some(strike),
            expiration: Some(expiration),
            style: ExerciseStyle::American,
            multiplier: 100.0,
            fees: 0.0,
            link: None,
        }
    }

    /// A share trade.
    pub fn stock_trade(time: UnixNanos, underlying: &str, shares: f64, price: f64) -> Self {
        Fill {
            time,
            underlying: underlying.to_string(),
            kind: InstrumentKind::Stock,
            event: FillEvent::Trade,
            quantity: shares,
            price,
            strike: None,
            expiration: None,
            style: ExerciseStyle::American,
            multiplier: 1.0,
            fees: 0.0,
            link: None,
        }
    }

    /// A cash deposit (negative: withdrawal).
    pub fn deposit(time: UnixNanos, amount: f64) -> Self {
        Fill {
            time,
            underlying: String::new(),
            kind: InstrumentKind::Cash,
            event: FillEvent::Deposit,
            quantity: amount,
            price: 0.0,
            strike: None,
            expiration: None,
            style: ExerciseStyle::American,
            multiplier: 1.0,
            fees: 0.0,
            link: None,
        }
    }

    /// The same fill with another event.
    pub fn with_event(mut self, event: FillEvent) -> Self {
        self.event = event;
        self
    }

    /// The same fill with fees.
    pub fn with_fees(mut self, fees: f64) -> Self {
        self.fees = fees;
        self
    }

    /// The same fill with a roll link.
    pub fn with_link(mut self, link: &str) -> Self {
        self.link = Some(link.to_string());
        self
    }
}

/// Account type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum AccountType {
    /// Cash account: short puts fully cash-secured, calls covered.
    #[default]
    Cash,
    /// Reg-T margin account.
    Margin,
}

impl AccountType {
    /// Parses `cash|margin`.
    pub fn parse(s: &str) -> Option<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "cash" => Some(Self::Cash),
            "margin" | "regt" | "reg-t" => Some(Self::Margin),
            _ => None,
        }
    }

    /// Lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Cash => "cash",
            Self::Margin => "margin",
        }
    }
}

/// Identity of a position: underlying, instrument, and for options strike and expiration.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct PositionKey {
    /// Underlying.
    pub underlying: String,
    /// Stock, call or put.
    pub kind: InstrumentKind,
    /// Strike bits (`f64::to_bits`; 0 for stock).
    pub strike_bits: u64,
    /// Expiration (0 for stock).
    pub expiration: i64,
}

/// An open position.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Position {
    /// Underlying.
    pub underlying: String,
    /// Stock, call or put.
    pub kind: InstrumentKind,
    /// Strike (options).
    pub strike: Option<f64>,
    /// Expiration (options).
    pub expiration: Option<UnixNanos>,
    /// Exercise style (options).
    pub style: ExerciseStyle,
    /// Signed quantity (contracts or shares; negative = short).
    pub quantity: f64,
    /// Average open price per share.
    pub open_price: f64,
    /// Time of the first opening fill.
    pub open_time: UnixNanos,
    /// Shares per contract (1 for stock).
    pub multiplier: f64,
}

impl Position {
    /// Shares controlled: quantity × multiplier (signed).
    pub fn shares(&self) -> f64 {
        self.quantity * self.multiplier
    }

    /// The option type (None for stock).
    pub fn option_type(&self) -> Option<OptionType> {
        self.kind.option_type()
    }
}

/// The derived wheel state of an underlying.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WheelState {
    /// No shares and no open options.
    Cash,
    /// Short puts, no shares.
    ShortPut,
    /// Shares, no short calls (after assignment or purchase).
    Shares,
    /// Shares with short calls against them.
    CoveredCall,
    /// Shares, short calls and short puts at once (e.g. after partial assignment).
    SharesAndShortPut,
    /// Anything else (long options, short shares, uncovered calls).
    Other,
}

impl WheelState {
    /// snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Cash => "cash",
            Self::ShortPut => "short_put",
            Self::Shares => "shares",
            Self::CoveredCall => "covered_call",
            Self::SharesAndShortPut => "shares_and_short_put",
            Self::Other => "other",
        }
    }
}

/// A state change of an underlying, for the cycle's history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Transition {
    /// When.
    pub time: UnixNanos,
    /// What caused it (event and instrument, e.g. "assign put 95").
    pub cause: String,
    /// State before.
    pub from: WheelState,
    /// State after.
    pub to: WheelState,
    /// Whether an assignment happened before the option's expiration.
    pub early: bool,
}

/// A roll: a closing and an opening trade with the same link.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Roll {
    /// Link id.
    pub link: String,
    /// When the opening leg filled.
    pub time: UnixNanos,
    /// Net cash of the two legs, money (positive = net credit), fees included.
    pub net_credit: f64,
}

/// One wheel cycle of an underlying.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cycle {
    /// Underlying.
    pub underlying: String,
    /// First fill.
    pub start: UnixNanos,
    /// When it became flat (None while open).
    pub end: Option<UnixNanos>,
    /// Sum of cash flows, money.
    pub cash_flow: f64,
    /// Option premium net of buybacks, money (fees excluded).
    pub net_premium: f64,
    /// Fees paid, money.
    pub fees: f64,
    /// Dividends received, money.
    pub dividends: f64,
    /// Realized P&L, money.
    pub realized_pnl: f64,
    /// Capital-days up to the end (or the ledger's `as_of`), money × days.
    pub capital_days: f64,
    /// State changes.
    pub transitions: Vec<Transition>,
    /// Rolls.
    pub rolls: Vec<Roll>,
    /// Number of assignments (partial ones counted separately).
    pub assignments: usize,
}

impl Cycle {
    /// Calendar days from start to end (or `as_of`).
    pub fn days(&self, as_of: UnixNanos) -> f64 {
        let end = self.end.unwrap_or(as_of);
        (end.0 - self.start.0).max(0) as f64 / NANOS_PER_DAY
    }
}

#[derive(Debug, Clone, Default)]
struct Lot {
    quantity: f64,
    open_price: f64,
    open_time: i64,
    strike: Option<f64>,
    expiration: Option<UnixNanos>,
    style: Option<ExerciseStyle>,
    multiplier: f64,
}

#[derive(Debug, Clone)]
struct UnderlyingBook {
    lots: BTreeMap<PositionKey, Lot>,
    cycle: Option<Cycle>,
    closed: Vec<Cycle>,
    last_time: i64,
    pending_links: BTreeMap<String, f64>,
}

impl UnderlyingBook {
    fn new() -> Self {
        UnderlyingBook {
            lots: BTreeMap::new(),
            cycle: None,
            closed: Vec::new(),
            last_time: i64::MIN,
            pending_links: BTreeMap::new(),
        }
    }

    fn is_flat(&self) -> bool {
        self.lots.values().all(|l| l.quantity == 0.0)
    }

    fn state(&self) -> WheelState {
        let mut shares = 0.0;
        let mut short_calls = 0.0;
        let mut short_puts = 0.0;
        let mut other = false;
        for (k, l) in &self.lots {
            if l.quantity == 0.0 {
                continue;
            }
            match k.kind {
                InstrumentKind::Stock => shares += l.quantity,
                InstrumentKind::Call if l.quantity < 0.0 => {
                    short_calls -= l.quantity * l.multiplier
                }
                InstrumentKind::Put if l.quantity < 0.0 => short_puts -= l.quantity,
                _ => other = true,
            }
        }
        if other || shares < 0.0 || short_calls > shares + 1e-9 {
            return WheelState::Other;
        }
        match (shares > 0.0, short_calls > 0.0, short_puts > 0.0) {
            (false, false, false) => WheelState::Cash,
            (false, _, true) => WheelState::ShortPut,
            (true, false, false) => WheelState::Shares,
            (true, true, false) => WheelState::CoveredCall,
            (true, _, true) => WheelState::SharesAndShortPut,
            (false, true, false) => WheelState::Other,
        }
    }

    /// Capital at risk now: short puts' strike × multiplier plus shares' purchase cost.
    fn capital(&self) -> f64 {
        self.lots
            .iter()
            .map(|(k, l)| match k.kind {
                InstrumentKind::Stock if l.quantity > 0.0 => l.quantity * l.open_price,
                InstrumentKind::Put if l.quantity < 0.0 => {
                    -l.quantity * l.strike.unwrap_or(0.0) * l.multiplier
                }
                _ => 0.0,
            })
            .sum()
    }
}

/// A replayed ledger: positions, cycles and cash.
#[derive(Debug, Clone)]
pub struct Ledger {
    account: AccountType,
    cash: f64,
    books: BTreeMap<String, UnderlyingBook>,
    fills: usize,
    as_of: UnixNanos,
}

/// A summary of one underlying: its state, positions and cost basis.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UnderlyingSummary {
    /// Underlying.
    pub underlying: String,
    /// Derived state.
    pub state: WheelState,
    /// Shares held (signed).
    pub shares: f64,
    /// Average purchase price of the shares held (None without shares).
    pub share_basis: Option<f64>,
    /// Adjusted cost basis per share, net of the cycle's premiums and dividends (None without
    /// shares).
    pub adjusted_basis: Option<f64>,
    /// The open cycle (None when flat).
    pub open_cycle: Option<Cycle>,
    /// Closed cycles, oldest first.
    pub closed_cycles: Vec<Cycle>,
}

impl Ledger {
    /// An empty ledger.
    pub fn new(account: AccountType) -> Self {
        Ledger {
            account,
            cash: 0.0,
            books: BTreeMap::new(),
            fills: 0,
            as_of: UnixNanos(i64::MIN),
        }
    }

    /// Replays `fills` (sorted by time, stable) into a new ledger.
    ///
    /// # Errors
    /// The first invalid fill, with its index (0-based, in the given order).
    pub fn replay(account: AccountType, fills: &[Fill]) -> Result<Self, WheelError> {
        let mut order: Vec<usize> = (0..fills.len()).collect();
        order.sort_by_key(|&i| fills[i].time.0);
        let mut l = Ledger::new(account);
        for i in order {
            l.apply(&fills[i])
                .map_err(|reason| WheelError::Fill { index: i, reason })?;
        }
        Ok(l)
    }

    /// Account type.
    pub fn account(&self) -> AccountType {
        self.account
    }

    /// Cash balance, money.
    pub fn cash(&self) -> f64 {
        self.cash
    }

    /// Number of fills applied.
    pub fn fill_count(&self) -> usize {
        self.fills
    }

    /// Time of the last fill.
    pub fn last_time(&self) -> UnixNanos {
        self.as_of
    }

    /// Applies one fill.
    ///
    /// # Errors
    /// A sentence naming what is wrong with the fill.
    pub fn apply(&mut self, f: &Fill) -> Result<(), String> {
        // All or nothing: a fill that fails leaves the ledger as it was.
        let saved_book = self.books.get(&f.underlying).cloned();
        let saved = (self.cash, self.fills, self.as_of);
        let r = self.apply_inner(f);
        if r.is_err() {
            (self.cash, self.fills, self.as_of) = saved;
            match saved_book {
                Some(b) => {
                    self.books.insert(f.underlying.clone(), b);
                }
                None => {
                    self.books.remove(&f.underlying);
                }
            }
        }
        r
    }

    fn apply_inner(&mut self, f: &Fill) -> Result<(), String> {
        validate(f)?;
        self.fills += 1;
        if f.time.0 > self.as_of.0 {
            self.as_of = f.time;
        }
        if f.kind == InstrumentKind::Cash {
            if f.event != FillEvent::Deposit {
                return Err(format!(
                    "kind cash takes event deposit, not {}",
                    f.event.as_str()
                ));
            }
            self.cash += f.quantity - f.fees;
            return Ok(());
        }
        let book = self
            .books
            .entry(f.underlying.clone())
            .or_insert_with(UnderlyingBook::new);
        // Accrue capital-days of the open cycle up to this fill.
        let capital = book.capital_capped();
        if let Some(c) = book.cycle.as_mut()
            && book.last_time != i64::MIN
        {
            c.capital_days += capital * (f.time.0 - book.last_time).max(0) as f64 / NANOS_PER_DAY;
        }
        book.last_time = f.time.0;
        let before = book.state();
        // A dividend paid after the shares are gone (pay date after the cycle closed) belongs
        // to the last cycle; `quantity` is then the entitled share count.
        if book.cycle.is_none() && f.event == FillEvent::Dividend {
            if f.kind != InstrumentKind::Stock {
                return Err("dividend applies to kind stock".into());
            }
            let last = book.closed.last_mut().ok_or_else(|| {
                format!(
                    "dividend on {} with no shares held now or before",
                    f.underlying
                )
            })?;
            if f.quantity <= 0.0 {
                return Err(format!(
                    "dividend on {} after its cycle closed: give the entitled shares as quantity",
                    f.underlying
                ));
            }
            let amount = f.quantity * f.price;
            self.cash += amount - f.fees;
            last.dividends += amount;
            last.realized_pnl += amount - f.fees;
            last.cash_flow += amount - f.fees;
            last.fees += f.fees;
            return Ok(());
        }
        if book.cycle.is_none() {
            if !matches!(f.event, FillEvent::Trade) {
                return Err(format!(
                    "{} on {} with no open position",
                    f.event.as_str(),
                    f.underlying
                ));
            }
            book.cycle = Some(Cycle {
                underlying: f.underlying.clone(),
                start: f.time,
                end: None,
                cash_flow: 0.0,
                net_premium: 0.0,
                fees: 0.0,
                dividends: 0.0,
                realized_pnl: 0.0,
                capital_days: 0.0,
                transitions: Vec::new(),
                rolls: Vec::new(),
                assignments: 0,
            });
        }
        let cash_before = self.cash;
        let mut early = false;
        let cause;
        match f.event {
            FillEvent::Trade => {
                let key = key_of(f);
                let mult = if f.kind == InstrumentKind::Stock {
                    1.0
                } else {
                    f.multiplier
                };
                let cash = -f.quantity * f.price * mult;
                self.cash += cash - f.fees;
                let c = book.cycle.as_mut().expect("cycle opened above");
                if f.kind != InstrumentKind::Stock {
                    c.net_premium += cash;
                }
                let realized = trade_into(book.lots.entry(key).or_default(), f, mult)?;
                let c = book.cycle.as_mut().expect("cycle opened above");
                c.realized_pnl += realized;
                cause = format!(
                    "{} {} {}{}",
                    if f.quantity > 0.0 { "buy" } else { "sell" },
                    fmt_qty(f.quantity.abs()),
                    f.kind.as_str(),
                    f.strike.map(|k| format!(" {k}")).unwrap_or_default()
                );
            }
            FillEvent::Assign | FillEvent::Exercise => {
                let ot = f.kind.option_type().ok_or_else(|| {
                    format!(
                        "{} applies to options, not {}",
                        f.event.as_str(),
                        f.kind.as_str()
                    )
                })?;
                let key = key_of(f);
                let assign = f.event == FillEvent::Assign;
                let lot = book
                    .lots
                    .get_mut(&key)
                    .filter(|l| l.quantity != 0.0)
                    .ok_or_else(|| {
                        format!(
                            "{} of {} {} {} with no such open position",
                            f.event.as_str(),
                            f.underlying,
                            f.kind.as_str(),
                            f.strike.unwrap_or(f64::NAN)
                        )
                    })?;
                let held = lot.quantity;
                // 0 means every open contract, as for expiries.
                let n = if f.quantity == 0.0 {
                    held.abs()
                } else {
                    f.quantity.abs()
                };
                if assign && held > 0.0 || !assign && held < 0.0 {
                    return Err(format!(
                        "{} needs a {} position; {} contracts are held",
                        f.event.as_str(),
                        if assign { "short" } else { "long" },
                        fmt_qty(held)
                    ));
                }
                if n > held.abs() + 1e-9 {
                    return Err(format!(
                        "{} of {} contracts but only {} are open",
                        f.event.as_str(),
                        fmt_qty(n),
                        fmt_qty(held.abs())
                    ));
                }
                let strike = lot.strike.expect("options have strikes");
                let mult = lot.multiplier;
                early = lot.expiration.is_some_and(|e| f.time.0 < e.0);
                // The option closes at zero: its whole open premium is realized.
                let signed_closed = if held < 0.0 { n } else { -n };
                let realized = -signed_closed * (0.0 - lot.open_price) * mult;
                lot.quantity += signed_closed;
                if lot.quantity.abs() < 1e-9 {
                    lot.quantity = 0.0;
                }
                let c = book.cycle.as_mut().expect("cycle open");
                c.realized_pnl += realized;
                c.assignments += usize::from(assign);
                // Shares move at the strike: short put / long call buy, short call / long put sell.
                let buy = matches!(
                    (ot, assign),
                    (OptionType::Put, true) | (OptionType::Call, false)
                );
                let shares = n * mult * if buy { 1.0 } else { -1.0 };
                let stock = Fill {
                    kind: InstrumentKind::Stock,
                    quantity: shares,
                    price: strike,
                    strike: None,
                    expiration: None,
                    multiplier: 1.0,
                    ..f.clone()
                };
                let skey = key_of(&stock);
                let slot = book.lots.entry(skey).or_default();
                if slot.quantity + shares < -1e-9 {
                    return Err(format!(
                        "{} would leave {} short {} shares (only {} held)",
                        f.event.as_str(),
                        f.underlying,
                        fmt_qty(-(slot.quantity + shares)),
                        fmt_qty(slot.quantity)
                    ));
                }
                let r2 = trade_into(slot, &stock, 1.0)?;
                self.cash += -shares * strike - f.fees;
                let c = book.cycle.as_mut().expect("cycle open");
                c.realized_pnl += r2;
                cause = format!(
                    "{}{} {} {} {}",
                    if early { "early " } else { "" },
                    f.event.as_str(),
                    fmt_qty(n),
                    f.kind.as_str(),
                    strike
                );
            }
            FillEvent::Expire => {
                if f.kind.option_type().is_none() {
                    return Err(format!(
                        "expire applies to options, not {}",
                        f.kind.as_str()
                    ));
                }
                let key = key_of(f);
                let lot = book
                    .lots
                    .get_mut(&key)
                    .filter(|l| l.quantity != 0.0)
                    .ok_or_else(|| {
                        format!(
                            "expire of {} {} {} with no such open position",
                            f.underlying,
                            f.kind.as_str(),
                            f.strike.unwrap_or(f64::NAN)
                        )
                    })?;
                if let Some(e) = lot.expiration
                    && f.time.0 < e.0 - 86_400_000_000_000
                {
                    return Err("expire more than a day before the expiration".into());
                }
                let n = if f.quantity == 0.0 {
                    lot.quantity.abs()
                } else {
                    f.quantity.abs()
                };
                if n > lot.quantity.abs() + 1e-9 {
                    return Err(format!(
                        "expire of {} contracts but only {} are open",
                        fmt_qty(n),
                        fmt_qty(lot.quantity.abs())
                    ));
                }
                let signed = if lot.quantity < 0.0 { n } else { -n };
                let realized = -signed * (0.0 - lot.open_price) * lot.multiplier;
                lot.quantity += signed;
                if lot.quantity.abs() < 1e-9 {
                    lot.quantity = 0.0;
                }
                self.cash -= f.fees;
                let c = book.cycle.as_mut().expect("cycle open");
                c.realized_pnl += realized;
                cause = format!(
                    "expire {} {} {}",
                    fmt_qty(n),
                    f.kind.as_str(),
                    f.strike.unwrap_or(f64::NAN)
                );
            }
            FillEvent::Dividend => {
                if f.kind != InstrumentKind::Stock {
                    return Err("dividend applies to kind stock".into());
                }
                // The entitled shares: `quantity` when given (shares held on the ex-date),
                // else the shares held now.
                let shares: f64 = if f.quantity != 0.0 {
                    f.quantity
                } else {
                    book.lots
                        .iter()
                        .filter(|(k, _)| k.kind == InstrumentKind::Stock)
                        .map(|(_, l)| l.quantity)
                        .sum()
                };
                let amount = shares * f.price;
                self.cash += amount - f.fees;
                let c = book.cycle.as_mut().expect("cycle open");
                c.dividends += amount;
                c.realized_pnl += amount;
                cause = format!("dividend {} per share", f.price);
            }
            FillEvent::Deposit => return Err("event deposit applies to kind cash".into()),
        }
        let flow = self.cash - cash_before;
        let after = book.state();
        let c = book.cycle.as_mut().expect("cycle open");
        c.cash_flow += flow;
        c.fees += f.fees;
        c.realized_pnl -= f.fees;
        if let Some(link) = &f.link {
            match book.pending_links.remove(link) {
                Some(first) => c.rolls.push(Roll {
                    link: link.clone(),
                    time: f.time,
                    net_credit: first + flow,
                }),
                None => {
                    book.pending_links.insert(link.clone(), flow);
                }
            }
        }
        if after != before {
            c.transitions.push(Transition {
                time: f.time,
                cause,
                from: before,
                to: after,
                early,
            });
        }
        // A roll's closing leg leaves the book flat for an instant: the cycle goes on until
        // its opening leg (same link) arrives.
        if book.is_flat() && book.pending_links.is_empty() {
            let mut c = book.cycle.take().expect("cycle open");
            c.end = Some(f.time);
            book.lots.retain(|_, l| l.quantity != 0.0);
            book.closed.push(c);
        } else {
            book.lots.retain(|_, l| l.quantity != 0.0);
        }
        Ok(())
    }

    /// Open positions, by underlying then instrument.
    pub fn positions(&self) -> Vec<Position> {
        let mut out = Vec::new();
        for (u, b) in &self.books {
            for (k, l) in &b.lots {
                if l.quantity == 0.0 {
                    continue;
                }
                out.push(Position {
                    underlying: u.clone(),
                    kind: k.kind,
                    strike: l.strike,
                    expiration: l.expiration,
                    style: l.style.unwrap_or(ExerciseStyle::American),
                    quantity: l.quantity,
                    open_price: l.open_price,
                    open_time: UnixNanos(l.open_time),
                    multiplier: if k.kind == InstrumentKind::Stock {
                        1.0
                    } else {
                        l.multiplier
                    },
                });
            }
        }
        out
    }

    /// Underlyings with any fill.
    pub fn underlyings(&self) -> Vec<String> {
        self.books.keys().cloned().collect()
    }

    /// Underlyings with an open position, sorted.
    pub fn held_underlyings(&self) -> Vec<String> {
        self.books
            .iter()
            .filter(|(_, b)| !b.is_flat())
            .map(|(u, _)| u.clone())
            .collect()
    }

    /// The summary of one underlying at `as_of` (capital-days of the open cycle accrue up to it).
    pub fn summary(&self, underlying: &str, as_of: UnixNanos) -> Option<UnderlyingSummary> {
        let b = self.books.get(underlying)?;
        let shares: f64 = b
            .lots
            .iter()
            .filter(|(k, _)| k.kind == InstrumentKind::Stock)
            .map(|(_, l)| l.quantity)
            .sum();
        let share_cost: f64 = b
            .lots
            .iter()
            .filter(|(k, _)| k.kind == InstrumentKind::Stock)
            .map(|(_, l)| l.quantity * l.open_price)
            .sum();
        let open_cycle = b.cycle.clone().map(|mut c| {
            if b.last_time != i64::MIN && as_of.0 > b.last_time {
                c.capital_days +=
                    b.capital_capped() * (as_of.0 - b.last_time) as f64 / NANOS_PER_DAY;
            }
            c
        });
        let (share_basis, adjusted_basis) = if shares > 0.0 {
            (
                Some(share_cost / shares),
                open_cycle.as_ref().map(|c| -c.cash_flow / shares),
            )
        } else {
            (None, None)
        };
        Some(UnderlyingSummary {
            underlying: underlying.to_string(),
            state: b.state(),
            shares,
            share_basis,
            adjusted_basis,
            open_cycle,
            closed_cycles: b.closed.clone(),
        })
    }

    /// Adjusted cost basis per share of `underlying` (None without shares).
    pub fn adjusted_basis(&self, underlying: &str) -> Option<f64> {
        self.summary(underlying, self.as_of)
            .and_then(|s| s.adjusted_basis)
    }
}

impl UnderlyingBook {
    fn capital_capped(&self) -> f64 {
        self.capital().max(0.0)
    }
}

/// Unrealized P&L of positions marked at `mark(position) → price per share`.
pub fn unrealized_pnl(positions: &[Position], mut mark: impl FnMut(&Position) -> f64) -> f64 {
    positions
        .iter()
        .map(|p| (mark(p) - p.open_price) * p.quantity * p.multiplier)
        .sum()
}

/// Annualized return on capital: `pnl × 365 / capital_days` (None without capital).
pub fn annualized_roc(pnl: f64, capital_days: f64) -> Option<f64> {
    (capital_days > 0.0).then(|| pnl * 365.0 / capital_days)
}

fn fmt_qty(q: f64) -> String {
    if q.fract() == 0.0 {
        format!("{}", q as i64)
    } else {
        format!("{q}")
    }
}

fn key_of(f: &Fill) -> PositionKey {
    PositionKey {
        underlying: f.underlying.clone(),
        kind: f.kind,
        strike_bits: f.strike.map_or(0, f64::to_bits),
        expiration: f.expiration.map_or(0, |e| e.0),
    }
}

/// Applies a trade to a lot (average-price accounting). Returns the realized P&L.
fn trade_into(lot: &mut Lot, f: &Fill, mult: f64) -> Result<f64, String> {
    let q = f.quantity;
    if lot.quantity == 0.0 {
        *lot = Lot {
            quantity: q,
            open_price: f.price,
            open_time: f.time.0,
            strike: f.strike,
            expiration: f.expiration,
            style: Some(f.style),
            multiplier: mult,
        };
        return Ok(0.0);
    }
    if (lot.multiplier - mult).abs() > 1e-12 {
        return Err(format!(
            "multiplier {mult} differs from the open position's {}",
            lot.multiplier
        ));
    }
    if lot.quantity.signum() == q.signum() {
        let total = lot.quantity + q;
        lot.open_price = (lot.open_price * lot.quantity + f.price * q) / total;
        lot.quantity = total;
        return Ok(0.0);
    }
    if q.abs() > lot.quantity.abs() + 1e-9 {
        return Err(format!(
            "closes {} but only {} are open (a trade that flips a position must be two fills)",
            fmt_qty(q.abs()),
            fmt_qty(lot.quantity.abs())
        ));
    }
    // Closing |q| units: realized = (close − open) × closed units, signed by the lot's side.
    let realized = (f.price - lot.open_price) * (-q) * mult;
    lot.quantity += q;
    if lot.quantity.abs() < 1e-9 {
        lot.quantity = 0.0;
    }
    Ok(realized)
}

fn validate(f: &Fill) -> Result<(), String> {
    if !f.quantity.is_finite() {
        return Err(format!("quantity {} is not a number", f.quantity));
    }
    if !f.price.is_finite() || f.price < 0.0 {
        return Err(format!("price {} must be a number ≥ 0", f.price));
    }
    if !f.fees.is_finite() || f.fees < 0.0 {
        return Err(format!("fees {} must be a number ≥ 0", f.fees));
    }
    match f.kind {
        InstrumentKind::Call | InstrumentKind::Put => {
            match f.strike {
                Some(k) if k.is_finite() && k > 0.0 => {}
                Some(k) => return Err(format!("strike {k} must be > 0")),
                None => return Err(format!("{} needs a strike", f.kind.as_str())),
            }
            if f.expiration.is_none() {
                return Err(format!("{} needs an expiration", f.kind.as_str()));
            }
            if !(f.multiplier.is_finite() && f.multiplier > 0.0) {
                return Err(format!("multiplier {} must be > 0", f.multiplier));
            }
            if f.event == FillEvent::Trade
                && let Some(e) = f.expiration
                && f.time.0 > e.0
            {
                return Err("trade after the option's expiration".into());
            }
        }
        InstrumentKind::Stock | InstrumentKind::Cash => {}
    }
    if f.kind != InstrumentKind::Cash && f.underlying.trim().is_empty() {
        return Err("underlying is empty".into());
    }
    if f.event == FillEvent::Trade && f.quantity == 0.0 {
        return Err("trade quantity is 0".into());
    }
    Ok(())
}
