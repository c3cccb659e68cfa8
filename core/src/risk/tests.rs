use super::*;
use crate::time::parse_iso;
use serde_json::json;

fn ts(s: &str) -> i64 {
    parse_iso(s).unwrap()
}

fn usd(v: i64) -> Money {
    Money::from_units(v)
}

/// An engine at 2020-01-30 noon with 10,000 USD equity and default limits.
fn engine() -> RiskEngine {
    let mut r = RiskEngine::default();
    r.on_time(ts("2020-01-30T12:00:00Z"), usd(10_000));
    r
}

/// An entry that passes every default limit with room to spare.
fn ok_entry() -> EntryCheck {
    EntryCheck {
        instrument_symbol_net_units: 0,
        order_units: 10_000,
        size_precision: 0,
        order_notional_usd: usd(11_000),
        total_exposure_usd: usd(20_000),
        open_positions: 2,
        opens_new_position: true,
        risk_usd: Some(usd(20)),
        nav: usd(10_000),
        equity: usd(10_000),
    }
}

#[test]
fn defaults_match_the_api() {
    let l = RiskLimits::default();
    assert_eq!(l.max_total_exposure_usd, 100_000.0);
    assert_eq!(l.max_risk_per_trade_percent, 1.0);
    assert!(!l.use_atr_sizing);
    assert_eq!(l.atr_period, 14);
    assert_eq!(l.stop_loss_atr_multiplier, 1.5);
    assert_eq!(l.take_profit_atr_multiplier, 3.0);
    assert_eq!(l.stop_loss_pips, 20.0);
    assert_eq!(l.take_profit_pips, 40.0);
    assert_eq!(l.daily_loss_limit_pct, 5.0);
    assert_eq!(l.max_concurrent_positions, 10);
    assert_eq!(l.per_symbol_limit, 1_000_000);
    assert_eq!(l.validate(), Ok(()));
}

#[test]
fn serde_round_trip_and_unknown_fields() {
    let l = RiskLimits::default();
    let v = serde_json::to_value(l).unwrap();
    let names: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    let mut expected = RISK_FIELDS.to_vec();
    expected.sort_unstable();
    let mut names_sorted = names.clone();
    names_sorted.sort_unstable();
    assert_eq!(names_sorted, expected);
    assert_eq!(serde_json::from_value::<RiskLimits>(v).unwrap(), l);
    let partial: RiskLimits = serde_json::from_value(json!({"atr_period": 20})).unwrap();
    assert_eq!(partial.atr_period, 20);
    assert_eq!(partial.stop_loss_pips, 20.0);
    assert!(serde_json::from_value::<RiskLimits>(json!({"bogus": 1})).is_err());
}

#[test]
fn passing_entry_passes() {
    assert_eq!(engine().check_entry(&ok_entry()), Ok(()));
}

#[test]
fn max_concurrent_positions() {
    let mut r = engine();
    let at = |open, opens| EntryCheck { open_positions: open, opens_new_position: opens, ..ok_entry() };
    assert_eq!(r.check_entry(&at(9, true)), Ok(()));
    assert_eq!(r.check_entry(&at(10, true)), Err(RejectReason::MaxConcurrentPositions));
    // Adding to an existing position opens nothing new.
    assert_eq!(r.check_entry(&at(10, false)), Ok(()));
    r.limits.max_concurrent_positions = 1;
    assert_eq!(r.check_entry(&at(0, true)), Ok(()));
    assert_eq!(r.check_entry(&at(1, true)), Err(RejectReason::MaxConcurrentPositions));
}

#[test]
fn per_symbol_limit() {
    let mut r = engine();
    let e = |net, order| EntryCheck { instrument_symbol_net_units: net, order_units: order, ..ok_entry() };
    assert_eq!(r.check_entry(&e(990_000, 10_000)), Ok(()));
    assert_eq!(r.check_entry(&e(990_000, 10_001)), Err(RejectReason::PerSymbolLimit));
    assert_eq!(r.check_entry(&e(-990_000, -10_000)), Ok(()));
    assert_eq!(r.check_entry(&e(-990_000, -10_001)), Err(RejectReason::PerSymbolLimit));
    // Already beyond the limit: reducing is allowed, increasing is not.
    assert_eq!(r.check_entry(&e(1_200_000, -100_000)), Ok(()));
    assert_eq!(r.check_entry(&e(1_200_000, 1)), Err(RejectReason::PerSymbolLimit));
    // Flipping through zero to beyond the limit on the other side.
    assert_eq!(r.check_entry(&e(500_000, -1_500_001)), Err(RejectReason::PerSymbolLimit));
    assert_eq!(r.check_entry(&e(500_000, -1_500_000)), Ok(()));
    // Fractional sizes: the limit is in whole units, net and order in size steps.
    r.limits.per_symbol_limit = 2;
    let frac = |net, order| EntryCheck { size_precision: 3, ..e(net, order) };
    assert_eq!(r.check_entry(&frac(1_500, 500)), Ok(()));
    assert_eq!(r.check_entry(&frac(1_500, 501)), Err(RejectReason::PerSymbolLimit));
}

#[test]
fn max_total_exposure() {
    let mut r = engine();
    let e = |total, order| EntryCheck { total_exposure_usd: Money(total), order_notional_usd: Money(order), ..ok_entry() };
    assert_eq!(r.check_entry(&e(9_000_000, 1_000_000)), Ok(()));
    assert_eq!(r.check_entry(&e(9_000_000, 1_000_001)), Err(RejectReason::MaxTotalExposure));
    r.limits.max_total_exposure_usd = 50_000.5;
    assert_eq!(r.check_entry(&e(4_000_000, 1_000_050)), Ok(()));
    assert_eq!(r.check_entry(&e(4_000_000, 1_000_051)), Err(RejectReason::MaxTotalExposure));
}

#[test]
fn max_risk_per_trade() {
    let mut r = engine();
    // 1% of 10,000.00 NAV = 100.00, plus one cent of tolerance.
    let e = |risk: Option<Money>| EntryCheck { risk_usd: risk, ..ok_entry() };
    assert_eq!(r.check_entry(&e(Some(Money(10_000)))), Ok(()));
    assert_eq!(r.check_entry(&e(Some(Money(10_001)))), Ok(()));
    assert_eq!(r.check_entry(&e(Some(Money(10_002)))), Err(RejectReason::MaxRiskPerTrade));
    assert_eq!(r.check_entry(&e(None)), Ok(()));
    r.limits.max_risk_per_trade_percent = 2.5;
    assert_eq!(r.check_entry(&e(Some(Money(25_001)))), Ok(()));
    assert_eq!(r.check_entry(&e(Some(Money(25_002)))), Err(RejectReason::MaxRiskPerTrade));
}

#[test]
fn checks_come_in_order() {
    let mut r = engine();
    let all_bad = EntryCheck {
        instrument_symbol_net_units: 999_999,
        order_units: 2,
        order_notional_usd: usd(100_000),
        total_exposure_usd: usd(1),
        open_positions: 10,
        opens_new_position: true,
        risk_usd: Some(usd(1_000)),
        ..ok_entry()
    };
    assert_eq!(r.check_entry(&all_bad), Err(RejectReason::MaxConcurrentPositions));
    let e = EntryCheck { opens_new_position: false, ..all_bad };
    assert_eq!(r.check_entry(&e), Err(RejectReason::PerSymbolLimit));
    let e = EntryCheck { order_units: 1, ..e };
    assert_eq!(r.check_entry(&e), Err(RejectReason::MaxTotalExposure));
    let e = EntryCheck { total_exposure_usd: Money::ZERO, ..e };
    assert_eq!(r.check_entry(&e), Err(RejectReason::MaxRiskPerTrade));
    let e = EntryCheck { risk_usd: Some(usd(100)), ..e };
    assert_eq!(r.check_entry(&e), Ok(()));
    // A daily-loss halt comes first of all.
    let halted = EntryCheck { equity: usd(9_000), ..all_bad };
    assert_eq!(r.check_entry(&halted), Err(RejectReason::DailyLossLimit));
}

#[test]
fn daily_loss_limit_halts_until_next_utc_day() {
    let mut r = RiskEngine::default();
    assert!(!r.check_daily_loss(usd(1)), "no baseline before the first tick");
    assert_eq!(r.day_start_ns(), None);
    r.on_time(ts("2020-01-30T08:00:00Z"), usd(10_000));
    assert_eq!(r.day_start_ns(), Some(ts("2020-01-30T00:00:00Z")));
    assert_eq!(r.day_start_equity(), usd(10_000));
    // Later ticks the same day keep the baseline.
    r.on_time(ts("2020-01-30T20:00:00Z"), usd(12_345));
    assert_eq!(r.day_start_equity(), usd(10_000));
    assert_eq!(r.daily_loss_limit(), usd(500));

    // Exactly 5% down: not beyond the limit.
    let at_limit = EntryCheck { equity: usd(9_500), ..ok_entry() };
    assert_eq!(r.check_entry(&at_limit), Ok(()));
    assert!(!r.is_halted());
    // One cent beyond: halted.
    let beyond = EntryCheck { equity: Money(949_999), ..ok_entry() };
    assert_eq!(r.check_entry(&beyond), Err(RejectReason::DailyLossLimit));
    assert!(r.is_halted());
    // Sticky for the rest of the day, even when equity recovers.
    r.on_time(ts("2020-01-30T23:59:59Z"), usd(11_000));
    let recovered = EntryCheck { equity: usd(11_000), ..ok_entry() };
    assert_eq!(r.check_entry(&recovered), Err(RejectReason::DailyLossLimit));
    assert!(r.check_daily_loss(usd(11_000)));

    // 00:00:00 UTC the next day: the halt lifts, the baseline is the equity then.
    r.on_time(ts("2020-01-31T00:00:00Z"), usd(9_000));
    assert!(!r.is_halted());
    assert_eq!(r.day_start_ns(), Some(ts("2020-01-31T00:00:00Z")));
    assert_eq!(r.day_start_equity(), usd(9_000));
    assert_eq!(r.check_entry(&EntryCheck { equity: usd(8_550), ..ok_entry() }), Ok(()));
    assert_eq!(r.check_entry(&EntryCheck { equity: Money(854_999), ..ok_entry() }), Err(RejectReason::DailyLossLimit));
}

#[test]
fn daily_loss_counts_only_losses() {
    let mut r = engine();
    assert!(!r.check_daily_loss(usd(50_000)));
    r.limits.daily_loss_limit_pct = 1.0;
    assert!(!r.check_daily_loss(usd(9_900)));
    assert!(r.check_daily_loss(Money(989_999)));
}

#[test]
fn day_roll_on_skipped_days_and_time_going_back() {
    let mut r = engine();
    assert!(r.check_daily_loss(usd(1)));
    r.on_time(ts("2020-02-03T10:00:00Z"), usd(1));
    assert!(!r.is_halted());
    assert_eq!(r.day_start_ns(), Some(ts("2020-02-03T00:00:00Z")));
    r.on_time(ts("2020-02-02T23:00:00Z"), usd(2));
    assert_eq!(r.day_start_ns(), Some(ts("2020-02-02T00:00:00Z")));
    assert_eq!(r.day_start_equity(), usd(2));
}

#[test]
fn sizing_for_risk() {
    let r = RiskEngine::default();
    // 1% of 10,000 USD = 100 USD over a 20-pip stop on EUR_USD (USD quote): 50,000 units.
    let units = r.max_units_for_risk(usd(10_000), 0.0020, 1.0);
    assert!((units - 50_000.0).abs() < 1e-6, "{units}");
    // USD_JPY: 0.20 JPY stop, 1 JPY = 0.0091 USD.
    let units = r.max_units_for_risk(usd(10_000), 0.20, 0.0091);
    assert!((units * 0.20 * 0.0091 - 100.0).abs() < 1e-9);
    assert_eq!(r.max_units_for_risk(usd(10_000), 0.0, 1.0), 0.0);
    assert_eq!(r.max_units_for_risk(usd(10_000), 0.002, f64::NAN), 0.0);
    assert_eq!(r.max_units_for_risk(Money(-1), 0.002, 1.0), 0.0);
}

#[test]
fn stop_distances() {
    let mut r = RiskEngine::default();
    let (s, t) = r.stop_distance(None, 0.0001).unwrap();
    assert!((s - 0.0020).abs() < 1e-12 && (t - 0.0040).abs() < 1e-12);
    assert_eq!(r.stop_distance(None, 0.0), None);
    r.limits.use_atr_sizing = true;
    assert_eq!(r.stop_distance(None, 0.0001), None);
    assert_eq!(r.stop_distance(Some(0.0), 0.0001), None);
    let (s, t) = r.stop_distance(Some(0.002), 0.0001).unwrap();
    assert!((s - 0.003).abs() < 1e-12 && (t - 0.006).abs() < 1e-12);
}

#[test]
fn update_is_partial() {
    let mut l = RiskLimits::default();
    l.apply_update(&json!({"max_total_exposure_usd": 50000, "use_atr_sizing": true})).unwrap();
    assert_eq!(l.max_total_exposure_usd, 50_000.0);
    assert!(l.use_atr_sizing);
    let expected = RiskLimits { max_total_exposure_usd: 50_000.0, use_atr_sizing: true, ..RiskLimits::default() };
    assert_eq!(l, expected);
    l.apply_update(&json!({})).unwrap();
    assert_eq!(l, expected);
    l.apply_update(&json!({"atr_period": 21.0, "per_symbol_limit": 5000, "daily_loss_limit_pct": 100})).unwrap();
    assert_eq!((l.atr_period, l.per_symbol_limit, l.daily_loss_limit_pct), (21, 5000, 100.0));
    assert_eq!(l.max_total_exposure_usd, 50_000.0);
}

#[test]
fn update_every_field() {
    let mut l = RiskLimits::default();
    l.apply_update(&json!({
        "max_total_exposure_usd": 1.5,
        "max_risk_per_trade_percent": 0.5,
        "use_atr_sizing": true,
        "atr_period": 1000,
        "stop_loss_atr_multiplier": 100,
        "take_profit_atr_multiplier": 0.1,
        "stop_loss_pips": 10000,
        "take_profit_pips": 0.5,
        "daily_loss_limit_pct": 2,
        "max_concurrent_positions": 10000,
        "per_symbol_limit": 1
    }))
    .unwrap();
    let expected = RiskLimits {
        max_total_exposure_usd: 1.5,
        max_risk_per_trade_percent: 0.5,
        use_atr_sizing: true,
        atr_period: 1000,
        stop_loss_atr_multiplier: 100.0,
        take_profit_atr_multiplier: 0.1,
        stop_loss_pips: 10_000.0,
        take_profit_pips: 0.5,
        daily_loss_limit_pct: 2.0,
        max_concurrent_positions: 10_000,
        per_symbol_limit: 1,
    };
    assert_eq!(l, expected);
}

fn update_err(body: serde_json::Value) -> RiskUpdateError {
    let mut l = RiskLimits::default();
    let err = l.apply_update(&body).unwrap_err();
    assert_eq!(l, RiskLimits::default(), "nothing changes on error: {err}");
    err
}

#[test]
fn update_rejects_non_objects() {
    for body in [json!([]), json!(null), json!("x"), json!(1)] {
        let e = update_err(body);
        assert_eq!(e.field, "body");
        assert_eq!(e.to_string(), "body: must be a JSON object");
    }
}

#[test]
fn update_names_unknown_fields() {
    let e = update_err(json!({"max_total_exposure_usd": 5.0, "max_exposure": 1}));
    assert_eq!(e.field, "max_exposure");
    for f in RISK_FIELDS {
        assert!(e.message.contains(f), "{e}");
    }
    assert!(e.to_string().starts_with("max_exposure: unknown field"), "{e}");
}

#[test]
fn update_names_wrong_types() {
    let cases = [
        (json!({"max_total_exposure_usd": "100"}), "max_total_exposure_usd: must be a number"),
        (json!({"max_risk_per_trade_percent": null}), "max_risk_per_trade_percent: must be a number"),
        (json!({"use_atr_sizing": 1}), "use_atr_sizing: must be a boolean"),
        (json!({"atr_period": 14.5}), "atr_period: must be an integer"),
        (json!({"atr_period": "14"}), "atr_period: must be an integer"),
        (json!({"max_concurrent_positions": true}), "max_concurrent_positions: must be an integer"),
        (json!({"per_symbol_limit": [1]}), "per_symbol_limit: must be an integer"),
        (json!({"stop_loss_pips": {}}), "stop_loss_pips: must be a number"),
    ];
    for (body, msg) in cases {
        assert_eq!(update_err(body).to_string(), msg);
    }
}

#[test]
fn update_names_out_of_range() {
    let cases = [
        json!({"max_total_exposure_usd": 0}),
        json!({"max_total_exposure_usd": -1}),
        json!({"max_risk_per_trade_percent": 0}),
        json!({"max_risk_per_trade_percent": 100.01}),
        json!({"atr_period": 0}),
        json!({"atr_period": 1001}),
        json!({"atr_period": -3}),
        json!({"stop_loss_atr_multiplier": 0}),
        json!({"take_profit_atr_multiplier": 100.5}),
        json!({"stop_loss_pips": -20}),
        json!({"take_profit_pips": 10000.01}),
        json!({"daily_loss_limit_pct": 0}),
        json!({"daily_loss_limit_pct": 101}),
        json!({"max_concurrent_positions": 10001}),
        json!({"per_symbol_limit": 0}),
        json!({"per_symbol_limit": u64::MAX}),
    ];
    for body in cases {
        let field = body.as_object().unwrap().keys().next().unwrap().clone();
        let e = update_err(body.clone());
        assert_eq!(e.field, field, "{body}");
        assert!(e.message.starts_with("must be"), "{e}");
    }
}

#[test]
fn update_is_all_or_nothing() {
    // Valid fields before and after an invalid one are not applied either.
    let e = update_err(json!({
        "atr_period": 30,
        "daily_loss_limit_pct": 0,
        "stop_loss_pips": 25
    }));
    assert_eq!(e.field, "daily_loss_limit_pct");
}

#[test]
fn validate_names_the_field() {
    let l = RiskLimits { take_profit_pips: f64::NAN, ..RiskLimits::default() };
    assert_eq!(l.validate().unwrap_err().field, "take_profit_pips");
    let l = RiskLimits { max_total_exposure_usd: f64::INFINITY, ..RiskLimits::default() };
    assert_eq!(l.validate().unwrap_err().field, "max_total_exposure_usd");
    let l = RiskLimits { per_symbol_limit: -5, ..RiskLimits::default() };
    assert_eq!(l.validate().unwrap_err().field, "per_symbol_limit");
}

#[test]
fn max_concurrent_positions_zero_freezes_every_entry() {
    let mut r = engine();
    assert_eq!(r.apply_update(&json!({"max_concurrent_positions": 0}), usd(10_000)).map(|l| l.max_concurrent_positions), Ok(0));
    assert_eq!(r.limits.validate(), Ok(()));
    let at = |open, opens| EntryCheck { open_positions: open, opens_new_position: opens, ..ok_entry() };
    // Nothing open yet, opening, or adding to a position: all refused.
    assert_eq!(r.check_entry(&at(0, true)), Err(RejectReason::MaxConcurrentPositions));
    assert_eq!(r.check_entry(&at(1, false)), Err(RejectReason::MaxConcurrentPositions));
    // Raising it again lets entries through.
    r.limits.apply_update(&json!({"max_concurrent_positions": 1})).unwrap();
    assert_eq!(r.check_entry(&at(0, true)), Ok(()));
    // Negative or beyond the maximum is still refused.
    assert_eq!(update_err(json!({"max_concurrent_positions": -1})).field, "max_concurrent_positions");
    assert_eq!(update_err(json!({"max_concurrent_positions": 10_001})).field, "max_concurrent_positions");
}

/// An engine halted by a 6% loss (limit 5%) on 2020-01-30.
fn halted() -> RiskEngine {
    let mut r = engine();
    assert!(r.check_daily_loss(usd(9_400)));
    assert!(r.is_halted());
    r
}

#[test]
fn raising_the_daily_loss_limit_past_todays_loss_lifts_the_halt() {
    // Raised past the loss: lifted at once, entries pass.
    let mut r = halted();
    r.apply_update(&json!({"daily_loss_limit_pct": 10}), usd(9_400)).unwrap();
    assert!(!r.is_halted());
    assert_eq!(r.check_entry(&EntryCheck { equity: usd(9_400), ..ok_entry() }), Ok(()));
    // A loss beyond the new limit halts again, sticky as before.
    assert!(r.check_daily_loss(Money(899_999)));
    assert!(r.check_daily_loss(usd(10_000)));

    // Raised, but not past today's loss: still halted, and the next check keeps it.
    let mut r = halted();
    r.apply_update(&json!({"daily_loss_limit_pct": 5.5}), usd(9_400)).unwrap();
    assert!(r.is_halted());
    assert_eq!(r.check_entry(&EntryCheck { equity: usd(9_400), ..ok_entry() }), Err(RejectReason::DailyLossLimit));

    // Other fields, or a lower limit, leave the halt in force even when equity recovered.
    let mut r = halted();
    r.apply_update(&json!({"max_concurrent_positions": 3, "daily_loss_limit_pct": 4}), usd(10_000)).unwrap();
    assert!(r.is_halted());
    assert!(r.check_daily_loss(usd(10_000)));
}

#[test]
fn a_limit_changed_without_equity_is_rechecked_at_the_next_check() {
    // Limits replaced directly (journal replay, session start): the next check re-checks a raised
    // limit against the loss then, exactly as after `apply_update`.
    let mut r = halted();
    r.limits.daily_loss_limit_pct = 10.0;
    assert!(r.is_halted(), "nothing changes before the next check");
    assert!(!r.check_daily_loss(usd(9_400)));
    assert!(!r.is_halted());
    let mut r = halted();
    r.limits.daily_loss_limit_pct = 5.5;
    assert!(r.check_daily_loss(usd(9_400)));
}

#[test]
fn lowering_the_daily_loss_limit_below_todays_loss_halts_at_the_next_check() {
    let mut r = engine();
    assert!(!r.check_daily_loss(usd(9_700)), "3% down, limit 5%");
    r.apply_update(&json!({"daily_loss_limit_pct": 2}), usd(9_700)).unwrap();
    assert!(!r.is_halted(), "the update itself halts nothing");
    assert_eq!(r.check_entry(&EntryCheck { equity: usd(9_700), ..ok_entry() }), Err(RejectReason::DailyLossLimit));
    assert!(r.is_halted());
    // Sticky for the day from then on.
    assert!(r.check_daily_loss(usd(10_000)));
    r.on_time(ts("2020-01-31T00:00:00Z"), usd(9_700));
    assert!(!r.is_halted());
}
