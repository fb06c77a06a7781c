//! Databento DBN imports: files written with the official encoder (plain and zstd) become
//! bars, NBBO and option quotes; unmapped records, missing underlying prices and schema
//! mismatches are reported, not dropped.

use std::path::Path;

use dbn::encode::dbn::Encoder;
use dbn::encode::{DbnEncodable, EncodeRecord};
use dbn::{
    CbboMsg, MappingInterval, Mbp1Msg, Metadata, OhlcvMsg, RecordHeader, SType, Schema,
    SymbolMapping, rtype,
};
use wheelhouse_store::{Store, StoreError, Table};

const D: u64 = 86_400_000_000_000;
/// 2013-03-01 00:00 UTC.
const T0: u64 = 1_362_096_000_000_000_000;

fn date(y: i32, m: u8, d: u8) -> time::Date {
    time::Date::from_calendar_date(y, time::Month::try_from(m).unwrap(), d).unwrap()
}

fn metadata(dataset: &str, schema: Schema, maps: &[(&str, u32)]) -> Metadata {
    Metadata::builder()
        .dataset(dataset.to_string())
        .schema(Some(schema))
        .start(T0)
        .stype_in(Some(SType::RawSymbol))
        .stype_out(SType::InstrumentId)
        .mappings(
            maps.iter()
                .map(|(sym, id)| SymbolMapping {
                    raw_symbol: (*sym).to_string(),
                    intervals: vec![MappingInterval {
                        start_date: date(2013, 2, 1),
                        end_date: date(2013, 4, 1),
                        symbol: id.to_string(),
                    }],
                })
                .collect(),
        )
        .build()
}

fn write<R: DbnEncodable>(path: &Path, meta: &Metadata, recs: &[R], zstd: bool) {
    let f = std::fs::File::create(path).unwrap();
    if zstd {
        let mut e = Encoder::with_zstd(f, meta).unwrap();
        for r in recs {
            e.encode_record(r).unwrap();
        }
    } else {
        let mut e = Encoder::new(f, meta).unwrap();
        for r in recs {
            e.encode_record(r).unwrap();
        }
    }
}

fn px(x: f64) -> i64 {
    (x * 1e9).round() as i64
}

#[test]
fn bars_nbbo_and_opra_quotes() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open_in_memory().unwrap();
    let mut nop = |_: u64, _: u64| {};

    // Daily bars: two AAPL days and one record of an unmapped instrument.
    let bar = |iid: u32, day: u64, c: f64| OhlcvMsg {
        hd: RecordHeader::new::<OhlcvMsg>(rtype::OHLCV_1D, 1, iid, T0 + day * D),
        open: px(c - 1.0),
        high: px(c + 2.0),
        low: px(c - 3.0),
        close: px(c),
        volume: 1_000_000,
    };
    let bars = dir.path().join("aapl.ohlcv-1d.dbn.zst");
    write(
        &bars,
        &metadata("XNAS.ITCH", Schema::Ohlcv1D, &[("AAPL", 7)]),
        &[bar(7, 0, 430.47), bar(9, 0, 1.0), bar(7, 3, 420.05)],
        true,
    );
    let r = store
        .import_dbn(Table::Bars, &bars, None, &mut nop)
        .unwrap();
    assert_eq!(
        (r.rows_read, r.accepted, r.rejected),
        (3, 2, 1),
        "{:?}",
        r.rejections
    );
    assert_eq!(r.rejections[0].line, 2);
    assert!(r.rejections[0].reason.contains("instrument id 9"));
    let ts: i64 = store
        .connection()
        .query_row("SELECT min(ts) FROM bars", [], |r| r.get(0))
        .unwrap();
    assert_eq!(
        ts, 1_362_171_600_000_000_000,
        "daily bar at the 16:00 New York close"
    );
    // Idempotent.
    assert_eq!(
        store
            .import_dbn(Table::Bars, &bars, None, &mut nop)
            .unwrap()
            .accepted,
        0
    );
    // Asking for another table is refused.
    let e = store
        .import_dbn(Table::Quotes, &bars, None, &mut nop)
        .unwrap_err();
    assert!(matches!(e, StoreError::MalformedFile { .. }), "{e}");

    // Underlying NBBO at 15:59:59 New York.
    let t_quote = 1_362_171_599_000_000_000u64;
    let mut nbbo = Mbp1Msg {
        hd: RecordHeader::new::<Mbp1Msg>(rtype::MBP_1, 1, 7, t_quote - 500_000_000),
        ts_recv: t_quote - 500_000_000,
        ..Default::default()
    };
    nbbo.levels[0].bid_px = px(430.40);
    nbbo.levels[0].ask_px = px(430.50);
    nbbo.levels[0].bid_sz = 100;
    nbbo.levels[0].ask_sz = 200;
    let nb = dir.path().join("aapl.mbp-1.dbn");
    write(
        &nb,
        &metadata("XNAS.ITCH", Schema::Mbp1, &[("AAPL", 7)]),
        &[nbbo],
        false,
    );
    let r = store.import_dbn(Table::Nbbo, &nb, None, &mut nop).unwrap();
    assert_eq!(r.accepted, 1, "{:?}", r.rejections);

    // OPRA 1-second consolidated BBO: an AAPL call, an unmapped id, an MSFT put (no MSFT
    // price stored), an AAPL put without an offer.
    let q = |iid: u32, bid: f64, ask: i64| {
        let mut m = CbboMsg::default_for_schema(Schema::Cbbo1S);
        m.hd = RecordHeader::new::<CbboMsg>(rtype::CBBO_1S, 20, iid, t_quote);
        m.ts_recv = t_quote;
        m.levels[0].bid_px = px(bid);
        m.levels[0].ask_px = ask;
        m
    };
    let opra = dir.path().join("opra.cbbo-1s.dbn.zst");
    write(
        &opra,
        &metadata(
            "OPRA.PILLAR",
            Schema::Cbbo1S,
            &[
                ("AAPL  130315C00430000", 100),
                ("MSFT  130315P00028000", 101),
                ("AAPL  130315P00430000", 102),
            ],
        ),
        &[
            q(100, 9.10, px(9.30)),
            q(555, 1.0, px(1.1)),
            q(101, 0.5, px(0.55)),
            q(102, 8.0, i64::MAX),
        ],
        true,
    );
    let r = store
        .import_dbn(Table::Quotes, &opra, None, &mut nop)
        .unwrap();
    assert_eq!(
        (r.rows_read, r.accepted, r.rejected),
        (4, 1, 3),
        "{:?}",
        r.rejections
    );
    let reasons: Vec<(u64, &str)> = r
        .rejections
        .iter()
        .map(|x| (x.line, x.reason.as_str()))
        .collect();
    assert!(
        reasons[0].0 == 2 && reasons[0].1.contains("no OSI symbol"),
        "{reasons:?}"
    );
    assert!(
        reasons[1].0 == 3 && reasons[1].1.contains("no MSFT price"),
        "{reasons:?}"
    );
    assert!(
        reasons[2].0 == 4 && reasons[2].1.contains("no offer"),
        "{reasons:?}"
    );
    let (und, exp, strike, ty, spot, bid): (String, i64, f64, String, f64, f64) = store
        .connection()
        .query_row(
            "SELECT underlying, expiration, strike, type, underlying_price, bid FROM option_quotes",
            [],
            |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                ))
            },
        )
        .unwrap();
    assert_eq!((und.as_str(), strike, ty.as_str()), ("AAPL", 430.0, "call"));
    assert_eq!(exp, 1_363_377_600_000_000_000, "2013-03-15 16:00 New York");
    assert!((spot - 430.45).abs() < 1e-9 && (bid - 9.10).abs() < 1e-9);
}
