//! Tests of the fake over real TCP: the pricing stream (PRICE lines, heartbeats, instrument
//! filter, pacing), the read-only REST shapes, authorisation and HTTP errors, and building the
//! config from pinion tick data. Shared helpers for the order and fault tests live here too.

use super::test_client::Client;
use super::*;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

pub(super) const ACCOUNT: &str = "101-004-1234567-001";
/// 2020-01-30T15:27:51.438000000Z.
pub(super) const T0: i64 = 1_580_398_071_438_000_000;
const MS: i64 = 1_000_000;

/// EUR_USD, AUD_USD and USD_JPY with OANDA's usual settings.
pub(super) fn instruments() -> Vec<FakeInstrument> {
    vec![FakeInstrument::fx("EUR_USD"), FakeInstrument::fx("AUD_USD"), FakeInstrument::fx("USD_JPY")]
}

/// Speed 0 (the market moves only when pulled or pushed), 50 ms heartbeats, opening prices
/// EUR_USD 1.10234/1.10236, AUD_USD 0.67067/0.67070, USD_JPY 109.990/110.010, then `more`.
pub(super) fn config(more: Vec<FakeTick>) -> FakeConfig {
    let mut ticks = vec![
        FakeTick::new("EUR_USD", T0, 110_234, 110_236),
        FakeTick::new("AUD_USD", T0, 67_067, 67_070),
        FakeTick::new("USD_JPY", T0, 109_990, 110_010),
    ];
    ticks.extend(more);
    let mut cfg = FakeConfig::new(ACCOUNT, instruments(), ticks);
    cfg.speed = 0.0;
    cfg.warmup_ticks = 3;
    cfg.heartbeat_every = Duration::from_millis(50);
    cfg
}

pub(super) fn start(cfg: FakeConfig) -> (FakeOanda, Client) {
    let fake = FakeOanda::start(cfg).expect("fake starts");
    let client = Client::new(&fake);
    (fake, client)
}

/// A market order body.
pub(super) fn market(instrument: &str, units: i64, client_id: Option<&str>, sl: Option<&str>, tp: Option<&str>) -> Value {
    let mut o =
        json!({"type": "MARKET", "instrument": instrument, "units": units.to_string(), "timeInForce": "FOK", "positionFill": "DEFAULT"});
    if let Some(c) = client_id {
        o["clientExtensions"] = json!({"id": c});
    }
    if let Some(p) = sl {
        o["stopLossOnFill"] = json!({"price": p});
    }
    if let Some(p) = tp {
        o["takeProfitOnFill"] = json!({"price": p});
    }
    json!({ "order": o })
}

fn eur_ticks(n: i64) -> Vec<FakeTick> {
    (1..=n)
        .flat_map(|i| {
            [FakeTick::new("AUD_USD", T0 + i * MS, 67_067 + i, 67_070 + i), FakeTick::new("EUR_USD", T0 + i * MS, 110_234 + i, 110_236 + i)]
        })
        .collect()
}

#[test]
fn pricing_stream_sends_prices_then_heartbeats() {
    let (fake, c) = start(config(eur_ticks(3)));
    let mut s = c.stream(&c.acct("/pricing/stream?instruments=EUR_USD")).unwrap();
    assert_eq!(s.status, 200);
    assert!(s.headers.iter().any(|(k, v)| k == "transfer-encoding" && v == "chunked"));
    let first = s.next().unwrap();
    assert_eq!(
        first,
        json!({
            "type": "PRICE", "instrument": "EUR_USD", "time": "2020-01-30T15:27:51.438000000Z",
            "bids": [{"price": "1.10234", "liquidity": 1_000_000}], "asks": [{"price": "1.10236", "liquidity": 1_000_000}],
            "closeoutBid": "1.10234", "closeoutAsk": "1.10236", "status": "tradeable", "tradeable": true
        })
    );
    // Speed 0: the idle stream pulls the recorded ticks; AUD_USD ones are filtered out.
    for i in 1..=3 {
        let p = s.next().unwrap();
        assert_eq!((p["type"].as_str(), p["instrument"].as_str()), (Some("PRICE"), Some("EUR_USD")));
        assert_eq!(p["bids"][0]["price"], format!("1.{}", 10_234 + i));
        assert_eq!(p["time"], pinion_core::time::format_iso(T0 + i * MS));
    }
    let t = Instant::now();
    let hb = s.next().unwrap();
    assert_eq!(hb, json!({"type": "HEARTBEAT", "time": "2020-01-30T15:27:51.441000000Z"}));
    assert!(t.elapsed() < Duration::from_secs(2));
    assert_eq!(s.next().unwrap()["type"], "HEARTBEAT");
    assert_eq!(fake.remaining_ticks(), 0);
    let mut quiet = c.stream(&c.acct("/pricing/stream?instruments=EUR_USD&snapshot=false")).unwrap();
    assert_eq!(quiet.next().unwrap()["type"], "HEARTBEAT");
}

#[test]
fn pricing_stream_paces_at_speed_and_loops() {
    let mut cfg = config(vec![FakeTick::new("EUR_USD", T0 + 100 * MS, 110_240, 110_242)]);
    cfg.speed = 2.0;
    cfg.loop_ticks = true;
    cfg.warmup_ticks = 0;
    let (_fake, c) = start(cfg);
    let mut s = c.stream(&c.acct("/pricing/stream?instruments=EUR_USD%2CAUD_USD")).unwrap();
    let t = Instant::now();
    let mut times = Vec::new();
    while times.len() < 5 {
        let v = s.next().unwrap();
        if v["type"] == "PRICE" && v["instrument"] == "EUR_USD" {
            times.push(pinion_core::time::parse_iso(v["time"].as_str().unwrap()).unwrap());
        }
    }
    // Recorded gaps of 100 ms at speed 2 take about 50 ms each; looping keeps time increasing.
    assert!(times.windows(2).all(|w| w[0] < w[1]), "{times:?}");
    assert!(t.elapsed() >= Duration::from_millis(80), "{:?}", t.elapsed());
}

#[test]
fn rest_shapes_for_account_instruments_pricing_and_candles() {
    let more: Vec<FakeTick> = (0..5).map(|i| FakeTick::new("EUR_USD", T0 + i * 40_000 * MS, 110_240 + i, 110_243 + i)).collect();
    let mut cfg = config(more);
    cfg.warmup_ticks = 8;
    let (_fake, c) = start(cfg);
    let s = c.get(&c.acct("/summary"));
    assert_eq!(s.status, 200);
    let a = &s.body["account"];
    assert_eq!((a["id"].as_str(), a["currency"].as_str(), a["balance"].as_str()), (Some(ACCOUNT), Some("USD"), Some("100000.0000")));
    assert_eq!((a["NAV"].as_str(), a["marginUsed"].as_str(), a["openTradeCount"].as_u64()), (Some("100000.0000"), Some("0.0000"), Some(0)));
    assert_eq!((a["hedgingEnabled"].as_bool(), a["lastTransactionID"].as_str()), (Some(false), Some("2")));
    assert_eq!(s.body["lastTransactionID"], "2");
    let txns = c.get(&c.acct("/transactions/sinceid?id=0")).body;
    assert_eq!(txns["transactions"][0]["type"], "CREATE");
    assert_eq!(txns["transactions"][1]["type"], "TRANSFER_FUNDS");
    assert_eq!(txns["transactions"][1]["accountBalance"], "100000.0000");
    let inst = c.get(&c.acct("/instruments?instruments=EUR_USD,USD_JPY")).body;
    assert_eq!(inst["instruments"].as_array().map(Vec::len), Some(2));
    let eu = &inst["instruments"][0];
    assert_eq!(
        (eu["name"].as_str(), eu["type"].as_str(), eu["displayPrecision"].as_u64(), eu["pipLocation"].as_i64()),
        (Some("EUR_USD"), Some("CURRENCY"), Some(5), Some(-4))
    );
    assert_eq!(
        (eu["marginRate"].as_str(), eu["tradeUnitsPrecision"].as_u64(), eu["minimumTradeSize"].as_str()),
        (Some("0.0333"), Some(0), Some("1"))
    );
    assert_eq!(inst["instruments"][1]["displayPrecision"], 3);
    let p = c.get(&c.acct("/pricing?instruments=USD_JPY")).body;
    assert_eq!(p["prices"][0]["bids"][0]["price"], "109.990");
    // EUR_USD quotes at 15:27:51 (two), 15:28:31, 15:29:11, 15:29:51, 15:30:31 (the market clock).
    let cd = c.get("/v3/instruments/EUR_USD/candles?granularity=M1&count=2&price=MBA").body;
    assert_eq!((cd["instrument"].as_str(), cd["granularity"].as_str()), (Some("EUR_USD"), Some("M1")));
    let list = cd["candles"].as_array().unwrap();
    assert_eq!(list.len(), 2);
    assert_eq!(list[0]["time"], "2020-01-30T15:29:00.000000000Z");
    assert_eq!((list[0]["complete"].as_bool(), list[1]["complete"].as_bool()), (Some(true), Some(false)));
    assert_eq!(list[0]["volume"], 2);
    // Mids 1.102435 and 1.102445 round half away from zero.
    assert_eq!(list[0]["mid"], json!({"o": "1.10244", "h": "1.10245", "l": "1.10244", "c": "1.10245"}));
    assert_eq!(list[0]["bid"]["o"], "1.10242");
    assert_eq!(list[0]["ask"]["c"], "1.10246");
    assert_eq!(c.get("/v3/instruments/EUR_USD/candles?granularity=W").status, 400);
    assert_eq!(c.get("/v3/instruments/EUR_USD/candles?count=5001").status, 400);
    assert_eq!(c.get("/v3/instruments/XAU_USD/candles").body["errorMessage"], "Invalid value specified for 'instrument'");
}

#[test]
fn authorization_and_http_errors() {
    let (fake, c) = start(config(vec![]));
    let unauthorized = json!({"errorMessage": "Insufficient authorization to perform request."});
    for token in [Some("wrong"), None] {
        let r = test_client::Client::with_token(&fake, token).get(&c.acct("/summary"));
        assert_eq!((r.status, &r.body), (401, &unauthorized));
        assert!(r.header("RequestID").is_some());
    }
    let other = c.get("/v3/accounts/101-004-7654321-001/summary");
    assert_eq!((other.status, other.body["errorMessage"].as_str()), (403, Some("The provided request was forbidden.")));
    assert_eq!(c.get("/v3/nothing").status, 404);
    assert_eq!(c.request("DELETE", &c.acct("/orders"), None).unwrap().status, 405);
    assert_eq!(c.get(&c.acct("/pricing/stream")).status, 400);
    let bad = c.get(&c.acct("/pricing/stream?instruments=EUR_USD,XAU_USD"));
    assert_eq!((bad.status, bad.body["errorMessage"].as_str()), (400, Some("Invalid value specified for 'instruments'")));
    assert_eq!(c.get(&c.acct("/transactions/sinceid")).status, 400);
    assert_eq!(c.get(&c.acct("/transactions/99")).body["errorCode"], "NO_SUCH_TRANSACTION");
    assert_eq!(c.get(&c.acct("/orders/@nope")).body["errorCode"], "NO_SUCH_ORDER");
    assert_eq!(c.get(&c.acct("/trades/77")).status, 404);
    let junk = c.request("POST", &c.acct("/orders"), None).unwrap();
    assert_eq!((junk.status, junk.body["errorMessage"].as_str().map(|m| m.starts_with("Invalid JSON"))), (400, Some(true)));
    // Keep-alive: two answers on one connection.
    let both = c.get_keep_alive(&[&c.acct("/summary"), &c.acct("/openTrades")]).unwrap();
    assert_eq!((both[0].status, both[1].body["trades"].as_array().map(Vec::len)), (200, Some(0)));
    assert_eq!(fake.requests_received("GET /summary"), 4);
}

#[test]
fn config_from_recorded_tick_data() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/data/audusd_truefx_20200130-31_quotes.csv.gz");
    if !path.exists() {
        eprintln!("skipped: {} not found", path.display());
        return;
    }
    let data = crate::load_ticks(&path).unwrap();
    let mut cfg = FakeConfig::from_tick_data(ACCOUNT, &data, &pinion_core::instrument::InstrumentTable::builtin()).unwrap();
    assert_eq!(cfg.ticks.len(), 100_000);
    cfg.warmup_ticks = 1;
    cfg.speed = 0.0;
    let (_fake, c) = start(cfg);
    let p = c.get(&c.acct("/pricing?instruments=AUD_USD")).body;
    assert_eq!(p["prices"][0]["bids"][0]["price"], "0.67067");
    assert_eq!(p["prices"][0]["asks"][0]["price"], "0.67070");
    assert_eq!(p["time"], pinion_core::time::format_iso(1_580_398_089_820_000_000));
}
