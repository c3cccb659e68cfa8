//! `pinion bench orders`: OANDA order round trips against the fake OANDA on loopback: pinion's order
//! client sends a MARKET order (with a stop and target attached, pinion's client id) and reads the fill
//! into the venue report the engine applies; `--orders` of them, alternating buy and sell, timed one by
//! one. Prints p50/p90/p99 in microseconds. The network part is loopback, so this is pinion's own cost
//! plus the fake's; a real OANDA round trip adds tens of milliseconds of network.

use super::{note, OrdersArgs, Pct};
use pinion_core::fixed::{Price, Quantity};
use pinion_core::instrument::InstrumentId;
use pinion_core::order::{BookId, Order, OrderPurpose, OrderType, Side};
use pinion_io::oanda::orders::{OrderClient, OrderToSend};
use pinion_io::oanda::{Environment, OandaConfig, Token};
use pinion_io::oanda_fake::{FakeConfig, FakeInstrument, FakeOanda, FakeTick};
use serde_json::json;
use std::time::{Duration, Instant};

const ACCOUNT: &str = "101-004-1234567-001";

pub fn run(a: OrdersArgs) -> anyhow::Result<()> {
    let ticks = vec![FakeTick::parse("EUR_USD", 1_580_398_071_438_000_000, "1.10234", "1.10246", 5).map_err(|e| anyhow::anyhow!("{e:?}"))?];
    let mut cfg = FakeConfig::new(ACCOUNT, vec![FakeInstrument::fx("EUR_USD")], ticks);
    cfg.warmup_ticks = 1;
    cfg.speed = 0.0;
    cfg.starting_balance = pinion_core::fixed::Money::from_units(100_000_000);
    let fake = FakeOanda::start(cfg)?;
    let token = Token::new("fake-token")?;
    let oanda = OandaConfig::new(ACCOUNT, token, Environment::Practice, Some(&fake.base_url()), Some(&fake.base_url()))?;
    let client = OrderClient::new(oanda, Duration::from_secs(10));
    note(format!("{} orders against the fake OANDA on {}", a.orders, fake.base_url()));
    let mut samples = Vec::with_capacity(a.orders);
    for i in 0..a.orders {
        let side = if i % 2 == 0 { Side::Buy } else { Side::Sell };
        let o = OrderToSend {
            order: Order {
                id: i as u64 + 1,
                book: BookId(1),
                instrument: InstrumentId(0),
                side,
                order_type: OrderType::Market,
                purpose: OrderPurpose::Entry,
                quantity: Quantity(1000),
                price: Price(0),
                created_ns: 1,
            },
            instrument: "EUR_USD".into(),
            price_precision: 5,
            size_precision: 0,
            stop_loss: Some(if side == Side::Buy { Price(109_000) } else { Price(111_500) }),
            take_profit: Some(if side == Side::Buy { Price(111_500) } else { Price(109_000) }),
            maybe_sent: false,
        };
        let t0 = Instant::now();
        let r = client.execute(&o)?;
        samples.push(t0.elapsed().as_nanos() as u64);
        anyhow::ensure!(matches!(r.report, pinion_core::broker::VenueReport::Filled { .. }), "order {i}: {:?}", r.report);
    }
    let warm = samples.split_off(samples.len().min(10));
    let p = Pct::of(warm);
    println!("{}", json!({ "bench": "oanda_order_round_trip", "orders": a.orders, "us": p.json(1000.0) }));
    fake.stop();
    Ok(())
}
