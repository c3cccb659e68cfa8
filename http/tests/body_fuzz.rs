//! Property tests of request-body handling under hostile input: arbitrary bytes, JSON-ish token soup,
//! and well-formed bodies whose numbers are arbitrary (NaN and infinities become `null`, denormals,
//! huge and negative magnitudes, raw `1e309` text) go through `parse_body::<CreateOperationBody>` +
//! `validate` and `RiskLimits::apply_update`. Neither ever panics: each answers Ok or a 400 with a
//! detail, and whatever is accepted lies within the bounds of `pinion_core::bounds`.

use crossbeam_channel::bounded;
use pinion_core::bounds;
use pinion_core::fixed::Money;
use pinion_core::instrument::InstrumentTable;
use pinion_core::risk::RiskLimits;
use pinion_http::api::{ApiError, Request};
use pinion_http::app::{App, HttpConfig, NoDurability};
use pinion_http::extensions::Extensions;
use pinion_http::json_body::parse_body;
use pinion_http::operation_body::CreateOperationBody;
use pinion_http::readmodel::ReadModel;
use proptest::prelude::*;
use serde_json::{json, Map, Value};
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// An app that validates bodies (instrument table, fed instruments); validation never reaches the core.
fn app() -> App {
    let table = InstrumentTable::builtin();
    App {
        commands: bounded(1).0,
        read: Arc::new(ReadModel::new(table.clone(), Money::from_units(100_000))),
        instruments: table,
        fed_instruments: vec!["EUR_USD".into()],
        config: HttpConfig::default(),
        durability: Arc::new(NoDurability),
        started: Instant::now(),
        extensions: Extensions { providers: Vec::new() },
        changes: Mutex::new(()),
        live: None,
    }
}

fn post(body: Vec<u8>) -> Request {
    Request {
        method: "POST".into(),
        path: "/api/operations".into(),
        content_type: Some("application/json".into()),
        body,
        ..Default::default()
    }
}

fn is_400(e: &ApiError) -> bool {
    e.status == 400 && !e.detail.is_empty()
}

/// Parses and validates a create body; asserts the outcome is Ok within bounds, or a 400.
fn check_create(app: &App, body: Vec<u8>) -> Result<(), TestCaseError> {
    match parse_body::<CreateOperationBody>(&post(body)).and_then(|b| b.validate(app)) {
        Ok(spec) => {
            prop_assert!(spec.initial_capital >= Money::from_f64(bounds::CAPITAL_MIN));
            prop_assert!(spec.initial_capital <= Money::from_f64(bounds::CAPITAL_MAX));
            for v in [spec.stop_loss_value, spec.take_profit_value] {
                prop_assert!((bounds::PROTECTION_VALUE_MIN..=bounds::PROTECTION_VALUE_MAX).contains(&v), "{v}");
            }
            prop_assert!((bounds::EMERGENCY_PCT_MIN..=bounds::EMERGENCY_PCT_MAX).contains(&spec.emergency_stop_loss_pct));
        }
        Err(e) => prop_assert!(is_400(&e), "{} {}", e.status, e.detail),
    }
    Ok(())
}

/// Numbers that break naive checks, plus arbitrary ones (any f64: NaN, infinities and subnormals too).
fn hostile_f64() -> impl Strategy<Value = f64> {
    prop_oneof![
        any::<f64>(),
        Just(4.9e-324),
        Just(-4.9e-324),
        Just(2.2e-310),
        Just(1e308),
        Just(-1e308),
        Just(4_294_967_296.0),
        Just(-0.0),
        Just(0.0),
        -1e13..1e13f64,
        0.0..2.0f64,
    ]
}

/// JSON text of a number: serde_json's own rendering (NaN and infinities become null), or raw text that
/// overflows f64 or i64/u64.
fn number_text() -> impl Strategy<Value = String> {
    prop_oneof![
        hostile_f64().prop_map(|v| json!(v).to_string()),
        any::<i64>().prop_map(|v| v.to_string()),
        Just("1e309".to_string()),
        Just("-1e309".to_string()),
        Just("18446744073709551616".to_string()),
        Just("1e-400".to_string()),
    ]
}

const CREATE_NUMBERS: [&str; 4] = ["initial_capital", "stop_loss_value", "take_profit_value", "emergency_stop_loss_pct"];
const CONFIG_NUMBERS: [&str; 3] = ["fast", "slow", "trade_size"];
const SL_TYPES: [&str; 4] = ["ATR", "PERCENTAGE", "FIXED", "PIPS"];
const TP_TYPES: [&str; 5] = ["RISK_REWARD", "ATR", "PERCENTAGE", "FIXED", "PIPS"];

const TOKENS: [&str; 24] = [
    "{",
    "}",
    "[",
    "]",
    ":",
    ",",
    "\"",
    "\"asset\"",
    "\"EUR_USD\"",
    "\"bar_sizes\"",
    "\"1 min\"",
    "\"strategy_name\"",
    "\"ema_cross\"",
    "\"initial_capital\"",
    "\"stop_loss_value\"",
    "\"strategy_config\"",
    "\"trade_size\"",
    "1e309",
    "4.9e-324",
    "-0",
    "null",
    "true",
    "\\u0000",
    " ",
];

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_are_ok_or_400(body in proptest::collection::vec(any::<u8>(), 0..200)) {
        check_create(&app(), body)?;
    }

    #[test]
    fn json_ish_token_soup_is_ok_or_400(tokens in proptest::collection::vec(proptest::sample::select(&TOKENS[..]), 0..40)) {
        check_create(&app(), tokens.concat().into_bytes())?;
    }

    #[test]
    fn well_formed_bodies_with_arbitrary_numbers_are_ok_or_400(
        numbers in proptest::collection::vec((proptest::sample::select(&CREATE_NUMBERS[..]), number_text()), 0..4),
        config in proptest::collection::vec((proptest::sample::select(&CONFIG_NUMBERS[..]), number_text()), 0..3),
        sl in proptest::sample::select(&SL_TYPES[..]),
        tp in proptest::sample::select(&TP_TYPES[..]),
    ) {
        // Assembled as text, so that numbers serde_json cannot hold (1e309) reach the parser as sent.
        let mut fields = vec![
            r#""asset": "EUR_USD""#.to_string(),
            r#""bar_sizes": ["1 min"]"#.to_string(),
            r#""strategy_name": "ema_cross""#.to_string(),
            format!(r#""stop_loss_type": "{sl}""#),
            format!(r#""take_profit_type": "{tp}""#),
        ];
        let mut seen = Vec::new();
        for (k, v) in numbers {
            if !seen.contains(&k) {
                seen.push(k);
                fields.push(format!(r#""{k}": {v}"#));
            }
        }
        let mut cfg = Vec::new();
        for (k, v) in config {
            if !cfg.iter().any(|c: &String| c.starts_with(&format!("\"{k}\""))) {
                cfg.push(format!(r#""{k}": {v}"#));
            }
        }
        fields.push(format!(r#""strategy_config": {{{}}}"#, cfg.join(", ")));
        check_create(&app(), format!("{{{}}}", fields.join(", ")).into_bytes())?;
    }

    #[test]
    fn risk_updates_with_arbitrary_values_are_ok_or_name_the_field(
        values in proptest::collection::vec(
            (proptest::sample::select(&pinion_core::risk::RISK_FIELDS[..]), prop_oneof![
                hostile_f64().prop_map(|v| json!(v)),
                any::<i64>().prop_map(|v| json!(v)),
                any::<u64>().prop_map(|v| json!(v)),
                any::<bool>().prop_map(|v| json!(v)),
                Just(Value::Null),
                Just(json!("5")),
            ]),
            0..6,
        ),
    ) {
        let update: Map<String, Value> = values.into_iter().map(|(k, v)| (k.to_string(), v)).collect();
        let mut limits = RiskLimits::default();
        match limits.apply_update(&Value::Object(update.clone())) {
            Ok(()) => {
                prop_assert!(limits.validate().is_ok(), "{limits:?}");
                prop_assert!(limits.max_total_exposure_usd <= bounds::EXPOSURE_MAX);
                prop_assert!(limits.per_symbol_limit <= bounds::PER_SYMBOL_LIMIT_MAX);
            }
            Err(e) => {
                prop_assert!(update.contains_key(&e.field), "{e} names a field of {update:?}");
                prop_assert_eq!(limits, RiskLimits::default(), "all or nothing");
            }
        }
    }
}

#[test]
fn serde_json_refuses_numbers_beyond_f64_as_a_400() {
    // serde_json answers "number out of range" for 1e309 rather than parsing it as infinity.
    let e = parse_body::<CreateOperationBody>(&post(
        br#"{"asset": "EUR_USD", "bar_sizes": ["1 min"], "strategy_name": "ema_cross", "initial_capital": 1e309}"#.to_vec(),
    ))
    .expect_err("refused");
    assert!(is_400(&e), "{}", e.detail);
    // A denormal parses, and validation refuses it naming the field.
    let body = br#"{"asset": "EUR_USD", "bar_sizes": ["1 min"], "strategy_name": "ema_cross", "initial_capital": 4.9e-324}"#;
    let e = parse_body::<CreateOperationBody>(&post(body.to_vec())).and_then(|b| b.validate(&app())).expect_err("refused");
    assert!(e.detail.starts_with("initial_capital: "), "{}", e.detail);
}
