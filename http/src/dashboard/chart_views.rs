//! The answers of `GET /api/operations/{id}/bars` (candles of one bar size with the strategy's indicator
//! values, the forming bar last) and `GET /api/operations/{id}/decisions` (the context each order was
//! sent in), copied from the engine's book on the core thread and rendered here, off it.

use crate::views::{enum_name, round_dp};
use pinion_core::bars::{x2_to_f64, Bar};
use pinion_core::engine::chart::{ChartBar, Decision, DecisionIntent};
use pinion_core::instrument::Instrument;
use pinion_core::strategy::IndicatorValues;
use pinion_core::time::format_iso;
use schemars::JsonSchema;
use serde::Serialize;
use std::collections::BTreeMap;

/// One OHLC bar of mid prices.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct BarView {
    /// Start of the bar, epoch seconds (UTC).
    pub time: i64,
    pub open: f64,
    pub high: f64,
    pub low: f64,
    pub close: f64,
    /// Ticks folded into it.
    pub ticks: u32,
    /// False for the bar still forming (the last one).
    pub closed: bool,
    /// The strategy's indicator values once it had seen this bar (primary size only), by name.
    pub indicators: BTreeMap<String, f64>,
}

/// An indicator the strategy shows.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct IndicatorInfo {
    pub name: String,
    /// True for a price level drawn over the candles (an EMA, a band); false for an oscillator.
    pub overlay: bool,
}

/// `GET /api/operations/{id}/bars`.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct BarsView {
    pub operation_id: u64,
    pub instrument: String,
    pub bar_size: String,
    /// Whether `bar_size` is the operation's primary bar size (the one its strategy decides on).
    pub primary: bool,
    /// Decimals of the instrument's prices.
    pub price_precision: u8,
    /// The indicators found in `bars`.
    pub indicators: Vec<IndicatorInfo>,
    /// Oldest first; the forming bar, if any, last.
    pub bars: Vec<BarView>,
}

fn px(x2: i64, prec: u8) -> f64 {
    round_dp(x2_to_f64(x2, prec), prec as i32 + 1)
}

fn indicator_map(v: &IndicatorValues) -> BTreeMap<String, f64> {
    v.as_slice().iter().map(|(n, x, _)| (n.to_string(), round_dp(*x, 8))).collect()
}

/// Renders one bar.
pub fn bar_view(b: &Bar, ind: &IndicatorValues, closed: bool, prec: u8) -> BarView {
    BarView {
        time: b.start_ns.div_euclid(1_000_000_000),
        open: px(b.open, prec),
        high: px(b.high, prec),
        low: px(b.low, prec),
        close: px(b.close, prec),
        ticks: b.ticks,
        closed,
        indicators: indicator_map(ind),
    }
}

/// What the core hands over for a bars answer.
pub struct BarsCopy {
    pub closed: Vec<ChartBar>,
    pub forming: Option<(Bar, IndicatorValues)>,
}

/// Renders a bars answer (`limit` newest bars, forming one included).
pub fn bars_view(op: (u64, &str, &str, bool), inst: &Instrument, copy: &BarsCopy, limit: usize) -> BarsView {
    let prec = inst.price_precision;
    let mut bars: Vec<BarView> = copy.closed.iter().map(|c| bar_view(&c.bar, &c.indicators, true, prec)).collect();
    if let Some((b, ind)) = &copy.forming {
        if bars.last().is_none_or(|l| l.time < b.start_ns.div_euclid(1_000_000_000)) {
            bars.push(bar_view(b, ind, false, prec));
        }
    }
    let skip = bars.len().saturating_sub(limit);
    bars.drain(..skip);
    let mut indicators: Vec<IndicatorInfo> = Vec::new();
    for c in copy.closed.iter().rev().take(1).chain(copy.closed.iter().rev().skip(1)) {
        for (n, _, overlay) in c.indicators.as_slice() {
            if !indicators.iter().any(|i| i.name == *n) {
                indicators.push(IndicatorInfo { name: n.to_string(), overlay: *overlay });
            }
        }
        if !indicators.is_empty() {
            break;
        }
    }
    BarsView {
        operation_id: op.0,
        instrument: op.1.to_string(),
        bar_size: op.2.to_string(),
        primary: op.3,
        price_precision: prec,
        indicators,
        bars,
    }
}

/// The risk verdict of an order.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct RiskVerdictView {
    /// True when every check passed (exits and protective orders are not risk-checked).
    pub passed: bool,
    /// The refusal, when one check failed.
    pub reason: Option<String>,
}

/// The context an order was sent in: what triggered it, the bar and indicator values (or the model's
/// action) behind it, the quote, the position before it, the protection sent with it, the risk verdict.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct DecisionView {
    pub order_id: u64,
    #[schemars(extend("enum" = ["ENTRY", "EXIT", "STOP_LOSS", "TAKE_PROFIT", "CLOSE", "RECOVERY", "REBALANCE"]))]
    pub purpose: String,
    /// Feed time of the decision, ISO 8601 UTC.
    pub timestamp: String,
    /// `bar_close` (a primary bar closed), `tick` (a tick-level strategy) or `model` (the session's model).
    #[schemars(extend("enum" = ["bar_close", "tick", "model"]))]
    pub trigger: String,
    /// `enter BUY`, `enter SELL`, `close` or `rebalance`.
    pub intent: String,
    /// The model's action for the symbol (-1..1), for session orders.
    pub model_action: Option<f64>,
    /// The latest closed primary bar at the decision.
    pub bar: Option<BarView>,
    /// The strategy's indicator values at the decision, by name.
    pub indicators: BTreeMap<String, f64>,
    pub bid: f64,
    pub ask: f64,
    /// The book's net position before the order, units (negative short).
    pub position_before: f64,
    /// The stop-loss price sent with the entry.
    pub stop: Option<f64>,
    /// The take-profit price sent with the entry.
    pub target: Option<f64>,
    /// False while the operation was paused (only exits go out then).
    pub entries_allowed: bool,
    pub risk: RiskVerdictView,
}

/// Renders one decision.
pub fn decision_view(d: &Decision, inst: &Instrument) -> DecisionView {
    let prec = inst.price_precision;
    let steps = |p: i64| pinion_core::fixed::Price(p).as_f64(prec);
    let (trigger, intent, model_action) = match d.intent {
        DecisionIntent::Enter(side) => (if d.on_bar_close { "bar_close" } else { "tick" }, format!("enter {}", side.as_str()), None),
        DecisionIntent::Close => (if d.on_bar_close { "bar_close" } else { "tick" }, "close".to_string(), None),
        DecisionIntent::Model { action } => ("model", "rebalance".to_string(), Some(round_dp(action as f64, 6))),
    };
    DecisionView {
        order_id: d.order_id,
        purpose: enum_name(d.purpose),
        timestamp: format_iso(d.ts_ns),
        trigger: trigger.into(),
        intent,
        model_action,
        bar: d.bar.as_ref().map(|b| bar_view(b, &IndicatorValues::default(), true, prec)),
        indicators: indicator_map(&d.indicators),
        bid: steps(d.bid),
        ask: steps(d.ask),
        position_before: crate::views::units(d.position_before, inst),
        stop: d.stop.map(steps),
        target: d.target.map(steps),
        entries_allowed: d.entries_allowed,
        risk: RiskVerdictView { passed: d.refused.is_none(), reason: d.refused.map(|r| r.describe().to_string()) },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pinion_core::order::{OrderPurpose, RejectReason, Side};

    fn bar(start_s: i64, close_x2: i64) -> Bar {
        Bar {
            start_ns: start_s * 1_000_000_000,
            end_ns: (start_s + 60) * 1_000_000_000,
            open: 220_000,
            high: 220_010,
            low: 219_990,
            close: close_x2,
            ticks: 3,
        }
    }

    #[test]
    fn bars_are_oldest_first_with_the_forming_one_last_and_their_indicators() {
        let inst = Instrument::fx("EUR", "USD");
        let mut ind = IndicatorValues::default();
        ind.push("ema_fast", 1.1, true);
        ind.push("rsi", 55.0, false);
        let copy = BarsCopy {
            closed: vec![
                ChartBar { bar: bar(0, 220_002), indicators: IndicatorValues::default() },
                ChartBar { bar: bar(60, 220_004), indicators: ind },
            ],
            forming: Some((bar(120, 220_006), ind)),
        };
        let v = bars_view((7, "EUR-USD", "1 min", true), &inst, &copy, 10);
        assert_eq!(v.bars.iter().map(|b| (b.time, b.closed)).collect::<Vec<_>>(), vec![(0, true), (60, true), (120, false)]);
        assert_eq!(v.bars[1].close, 1.10002);
        assert_eq!(v.bars[1].indicators.get("ema_fast"), Some(&1.1));
        let names: Vec<(&str, bool)> = v.indicators.iter().map(|i| (i.name.as_str(), i.overlay)).collect();
        assert_eq!(names, vec![("ema_fast", true), ("rsi", false)]);
        assert_eq!(
            bars_view((7, "EUR-USD", "1 min", true), &inst, &copy, 2).bars.first().map(|b| b.time),
            Some(60),
            "limit keeps the newest"
        );
    }

    #[test]
    fn a_decision_names_its_trigger_quote_and_risk_verdict() {
        let inst = Instrument::fx("EUR", "USD");
        let d = Decision {
            order_id: 9,
            purpose: OrderPurpose::Entry,
            ts_ns: 0,
            intent: DecisionIntent::Enter(Side::Buy),
            on_bar_close: true,
            bar: Some(bar(0, 220_002)),
            indicators: IndicatorValues::default(),
            bid: 110_000,
            ask: 110_002,
            position_before: -1000,
            stop: Some(109_900),
            target: None,
            entries_allowed: true,
            refused: Some(RejectReason::PerSymbolLimit),
        };
        let v = decision_view(&d, &inst);
        assert_eq!((v.trigger.as_str(), v.intent.as_str(), v.purpose.as_str()), ("bar_close", "enter BUY", "ENTRY"));
        assert_eq!((v.bid, v.ask, v.stop, v.position_before), (1.1, 1.10002, Some(1.099), -1000.0));
        assert!(!v.risk.passed);
        assert_eq!(v.risk.reason.as_deref(), Some("per_symbol_limit would be exceeded"));
        let m = decision_view(&Decision { intent: DecisionIntent::Model { action: 0.5 }, refused: None, ..d }, &inst);
        assert_eq!((m.trigger.as_str(), m.model_action, m.risk.passed), ("model", Some(0.5), true));
    }
}
