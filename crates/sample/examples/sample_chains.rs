//! Times the default sample generation and prints a summary.
//!
//! `cargo run --release -p wheelhouse-sample --example sample_chains [-- DATE SYMBOL]`: with a
//! date and a symbol, also prints that day's chain as CSV.

use std::time::Instant;

use wheelhouse_sample::{ChainConfig, ChainGenerator, embedded_history, sample_rates};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let t0 = Instant::now();
    let hist = embedded_history();
    let rates = sample_rates(&hist);
    let t_load = t0.elapsed();
    let cfg = ChainConfig::default();
    let generator = ChainGenerator::new(&hist, &rates, &cfg)?;
    let t1 = Instant::now();
    let quotes = generator.generate()?;
    let t_gen = t1.elapsed();
    let days = generator.snapshots().len();
    println!(
        "history + rates {:.3} s; generated {} quotes in {} symbol-days in {:.3} s ({} threads)",
        t_load.as_secs_f64(),
        quotes.len(),
        days,
        t_gen.as_secs_f64(),
        rayon::current_num_threads()
    );
    for sym in &cfg.symbols {
        let q: Vec<_> = quotes.iter().filter(|q| &q.underlying == sym).collect();
        let zero_vol = q.iter().filter(|q| q.volume == Some(0)).count();
        let zero_bid = q.iter().filter(|q| q.bid == 0.0).count();
        let no_last = q.iter().filter(|q| q.last.is_none()).count();
        let vol: i64 = q.iter().filter_map(|q| q.volume).sum();
        println!(
            "{sym}: {} quotes, {:.0} per day, {:.0} contracts/day, zero volume {:.0} %, zero bid {:.0} %, no last {:.0} %",
            q.len(),
            q.len() as f64 * cfg.symbols.len() as f64 / days as f64,
            vol as f64 * cfg.symbols.len() as f64 / days as f64,
            100.0 * zero_vol as f64 / q.len() as f64,
            100.0 * zero_bid as f64 / q.len() as f64,
            100.0 * no_last as f64 / q.len() as f64,
        );
    }
    let args: Vec<String> = std::env::args().collect();
    if let [_, date, sym] = args.as_slice() {
        let date: jiff::civil::Date = date.parse()?;
        let m = generator.day_model(sym, date)?;
        println!(
            "# {sym} {date} spot {} q {:.4} rv20 {:.3} rv60 {:.3} rv252 {:.3} surface {:?}",
            m.spot,
            m.dividend_yield,
            m.realized_vol_20d,
            m.realized_vol_60d,
            m.realized_vol_252d,
            m.surface
        );
        println!("expiry,kind,type,strike,years,vol,theo,european,bid,ask,last,volume,oi");
        for q in generator.generate_day_detailed(sym, date)? {
            let exp = wheelhouse_core::exchange_time::new_york_date(q.quote.expiration)?;
            println!(
                "{exp},{:?},{},{},{:.4},{:.4},{:.4},{:.4},{},{},{:?},{:?},{:?}",
                q.expiry_kind,
                q.quote.option_type.as_str(),
                q.quote.strike,
                q.years,
                q.volatility,
                q.theo,
                q.european,
                q.quote.bid,
                q.quote.ask,
                q.quote.last,
                q.quote.volume,
                q.quote.open_interest
            );
        }
    }
    Ok(())
}
