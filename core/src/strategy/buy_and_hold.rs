//! `BuyAndHoldStrategy`: buys once at the first primary bar close and holds (a benchmark for the others).

use super::{Strategy, StrategyContext};
use crate::bars::Bar;
use crate::order::Side;
use serde::Deserialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct BuyAndHoldConfig {}

#[derive(serde::Serialize, serde::Deserialize)]
pub struct BuyAndHold {
    done: bool,
}

impl BuyAndHold {
    pub fn new(_cfg: BuyAndHoldConfig) -> BuyAndHold {
        BuyAndHold { done: false }
    }
}

impl Strategy for BuyAndHold {
    super::saved_with_serde!();

    fn name(&self) -> &'static str {
        "BuyAndHoldStrategy"
    }

    fn on_bar(&mut self, size_index: usize, _bar: &Bar, ctx: &mut StrategyContext) {
        if size_index == ctx.primary && !self.done && ctx.position == 0 && ctx.entries_allowed {
            self.done = true;
            ctx.enter(Side::Buy, None);
        }
    }
}
