//! The registry rendered from an `App` built by hand: every family once, with HELP and TYPE before its
//! samples, the routes answering text and JSON, and the request timer labelling by route template.

use super::*;
use crate::api::Request;
use crate::app::{HttpConfig, NoDurability};
use crate::extensions::Extensions;
use crate::readmodel::ReadModel;
use crossbeam_channel::bounded;
use pinion_core::fixed::Money;
use pinion_core::instrument::InstrumentTable;
use std::collections::BTreeSet;
use std::time::Instant;

fn app(metrics: Option<Arc<Metrics>>) -> App {
    let table = InstrumentTable::builtin();
    App {
        commands: bounded(1).0,
        read: Arc::new(ReadModel::new(table.clone(), Money::from_units(100_000))),
        instruments: table,
        fed_instruments: vec!["EUR_USD".into()],
        config: HttpConfig { metrics, ..HttpConfig::default() },
        durability: Arc::new(NoDurability),
        started: Instant::now(),
        extensions: Extensions { providers: Vec::new() },
        changes: std::sync::Mutex::new(()),
        live: None,
    }
}

/// Families in order of appearance; panics if a sample comes before its family's TYPE or a family
/// is declared twice.
fn families(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let name = rest.split(' ').next().unwrap_or_default().to_string();
            assert!(!out.contains(&name), "{name} declared twice");
            out.push(name);
        } else if !line.starts_with('#') {
            let name = line.split(['{', ' ']).next().unwrap_or_default();
            let current = out.last().cloned().unwrap_or_default();
            let base = ["_bucket", "_sum", "_count"].iter().find_map(|s| name.strip_suffix(s)).filter(|b| *b == current);
            assert!(name == current || base.is_some(), "sample {name} outside its family ({current})");
        }
    }
    out
}

#[test]
fn the_exposition_covers_every_family_once() {
    let tel = Arc::new(Telemetry::new(InstrumentTable::builtin().len()));
    let m = Arc::new(Metrics::new(tel.clone()));
    m.set_idle_policy("busy_spin");
    m.add_collector(|e| e.single("pinion_extra_total", Kind::Counter, "Extra", 7.0));
    tel.record(Hop::TickToIntent, 150);
    let a = app(Some(m.clone()));
    let timer = request_timer(&a, "GET", "/api/operations/12").expect("a timer");
    timer.finish(200);
    let text = m.render(&a);
    let names: BTreeSet<String> = families(&text).into_iter().collect();
    for want in [
        "pinion_build_info",
        "pinion_ticks_processed_total",
        "pinion_feed_connected",
        "pinion_hop_latency_seconds",
        "pinion_orders_total",
        "pinion_order_rejections_total",
        "pinion_fills_total",
        "pinion_operations",
        "pinion_account_equity_usd",
        "pinion_account_balance_usd",
        "pinion_account_unrealized_pl_usd",
        "pinion_account_margin_used_usd",
        "pinion_open_positions",
        "pinion_ring_fill",
        "pinion_snapshots_total",
        "pinion_snapshot_duration_seconds",
        "pinion_http_requests_total",
        "pinion_http_request_duration_seconds",
        "pinion_extra_total",
    ] {
        assert!(names.contains(want), "{want} missing from\n{text}");
    }
    assert!(text.contains("pinion_build_info{version=\"") && text.contains("idle_policy=\"busy_spin\"} 1\n"), "{text}");
    assert!(text.contains("pinion_ticks_processed_total{instrument=\"EUR_USD\"} 0\n"), "{text}");
    assert!(text.contains("pinion_hop_latency_seconds_bucket{hop=\"tick_to_intent\",le=\"2.5e-07\"} 1\n"), "{text}");
    assert!(text.contains("pinion_http_requests_total{route=\"/api/operations/{id}\",method=\"GET\",status=\"200\"} 1\n"), "{text}");
    assert!(text.contains("pinion_operations{status=\"active\"} 0\n"));
    assert!(!names.contains("pinion_broker_round_trip_seconds"), "no live broker configured");
    tel.set_broker_configured(true);
    assert!(m.render(&a).contains("# TYPE pinion_broker_round_trip_seconds histogram"));
}

#[test]
fn the_routes_answer_text_and_json() {
    let m = Arc::new(Metrics::new(Arc::new(Telemetry::new(4))));
    let a = app(Some(m));
    let get = |path: &str| Request { method: "GET".into(), path: path.into(), ..Request::default() };
    let r = route(&a, &get("/metrics")).expect("routed").expect("ok");
    assert_eq!(r.header("Content-Type"), Some(CONTENT_TYPE));
    assert!(r.body.as_str().is_some_and(|t| t.contains("# TYPE pinion_orders_total counter")));
    let l = route(&a, &get("/api/latency")).expect("routed").expect("ok");
    assert_eq!(l.body["hops"].as_array().map(Vec::len), Some(7));
    assert_eq!(l.body["hops"][2]["hop"], "tick_to_intent");
    assert!(route(&a, &Request { method: "POST".into(), ..get("/metrics") }).is_none());
    assert!(route(&a, &get("/metricz")).is_none());
    // Without a registry the read model is still exported.
    let bare = app(None);
    let r = route(&bare, &get("/metrics")).expect("routed").expect("ok");
    assert!(r.body.as_str().is_some_and(|t| t.contains("pinion_account_equity_usd 100000")), "{:?}", r.body);
    assert!(request_timer(&bare, "GET", "/metrics").is_none());
}
