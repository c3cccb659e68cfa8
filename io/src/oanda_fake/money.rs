//! Exact money arithmetic for the fake account: P&L, position value and margin are computed as
//! integer ratios (i128) from price steps and unit steps and rounded once, to cents, half away from
//! zero. Amounts in an instrument's quote currency become home currency through the mid price of a
//! conversion pair (or the instrument itself when the home currency is its base).

use pinion_core::fixed::{div_round_half_away, format_decimal, Rate, POW10};

/// Decimal places the fake writes for account amounts (OANDA writes e.g. `"100000.0000"`).
pub(crate) const MONEY_DECIMALS: u8 = 4;

/// Formats cents as an OANDA account amount: `12345` is `"123.4500"`.
pub(crate) fn fmt_money(cents: i64) -> String {
    format_decimal(cents * 100, MONEY_DECIMALS)
}

/// A positive factor `num / den` that turns an amount in a quote currency into home currency.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Conv {
    pub num: i128,
    pub den: i128,
}

impl Conv {
    /// No conversion (the quote currency is the home currency).
    pub const ONE: Conv = Conv { num: 1, den: 1 };

    /// Multiply by the mid of a `QUOTE_HOME` pair quoted `bid`/`ask` at `prec` decimals.
    pub fn times_mid(bid: i64, ask: i64, prec: u8) -> Conv {
        Conv { num: (bid as i128 + ask as i128), den: 2 * POW10[prec as usize] as i128 }
    }

    /// Divide by the mid of a `HOME_QUOTE` pair quoted `bid`/`ask` at `prec` decimals.
    pub fn over_mid(bid: i64, ask: i64, prec: u8) -> Conv {
        Conv { num: 2 * POW10[prec as usize] as i128, den: (bid as i128 + ask as i128).max(1) }
    }
}

/// Decimal scale of units and prices of one instrument.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Scale {
    /// Decimal places of a price.
    pub price_prec: u8,
    /// Decimal places of a unit count.
    pub units_prec: u8,
}

impl Scale {
    fn denom(self) -> i128 {
        POW10[self.units_prec as usize] as i128 * POW10[self.price_prec as usize] as i128
    }

    /// Cents of `units × price_diff` (both in steps) in home currency.
    pub fn pl_cents(self, units: i64, price_diff: i64, conv: Conv) -> i64 {
        let num = units as i128 * price_diff as i128 * 100 * conv.num;
        div_round_half_away(num, self.denom() * conv.den) as i64
    }

    /// Cents of the value of `|units|` at the mid of `bid`/`ask`, in home currency.
    pub fn value_cents(self, units: i64, bid: i64, ask: i64, conv: Conv) -> i64 {
        let num = units.unsigned_abs() as i128 * (bid as i128 + ask as i128) * 100 * conv.num;
        div_round_half_away(num, 2 * self.denom() * conv.den) as i64
    }

    /// Cents of margin for `|units|` at the mid of `bid`/`ask`: value × `rate`, rounded once.
    pub fn margin_cents(self, units: i64, bid: i64, ask: i64, conv: Conv, rate: Rate) -> i64 {
        let num = units.unsigned_abs() as i128 * (bid as i128 + ask as i128) * 100 * conv.num * rate.0 as i128;
        div_round_half_away(num, 2 * self.denom() * conv.den * Rate::SCALE as i128) as i64
    }

    /// Cents of half the spread paid on `|units|` (OANDA's `halfSpreadCost`), in home currency.
    pub fn half_spread_cents(self, units: i64, bid: i64, ask: i64, conv: Conv) -> i64 {
        let num = units.unsigned_abs() as i128 * (ask as i128 - bid as i128) * 100 * conv.num;
        div_round_half_away(num, 2 * self.denom() * conv.den) as i64
    }
}

/// Volume-weighted average price in steps, `sum(|u| × p) / sum(|u|)`, rounded half away from zero.
pub(crate) fn vwap(value: i128, units: i128) -> i64 {
    if units == 0 {
        0
    } else {
        div_round_half_away(value, units) as i64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EU: Scale = Scale { price_prec: 5, units_prec: 0 };

    #[test]
    fn pl_in_usd_and_converted() {
        // 10,000 EUR_USD bought at 1.10236, sold at 1.10300: 64 steps × 10,000 = 6.40 USD.
        assert_eq!(EU.pl_cents(10_000, 64, Conv::ONE), 640);
        assert_eq!(EU.pl_cents(-10_000, 64, Conv::ONE), -640);
        // 1 unit × 1 step = 0.00001 USD rounds to 0 cents; 500 units × 1 step = 0.005 rounds away to 1.
        assert_eq!(EU.pl_cents(1, 1, Conv::ONE), 0);
        assert_eq!(EU.pl_cents(500, 1, Conv::ONE), 1);
        assert_eq!(EU.pl_cents(-500, 1, Conv::ONE), -1);
        // USD_JPY: 10,000 units × 0.100 JPY = 1,000 JPY at mid 110.000 = 9.09 USD.
        let uj = Scale { price_prec: 3, units_prec: 0 };
        assert_eq!(uj.pl_cents(10_000, 100, Conv::over_mid(109_990, 110_010, 3)), 909);
        // Value of 10,000 USD_JPY in USD is exactly 10,000.
        assert_eq!(uj.value_cents(10_000, 109_990, 110_010, Conv::over_mid(109_990, 110_010, 3)), 1_000_000);
    }

    #[test]
    fn margin_and_spread() {
        // 10,000 at mid 1.10235 = 11,023.50 USD; × 0.0333 = 367.082... → 367.08.
        assert_eq!(EU.value_cents(10_000, 110_234, 110_236, Conv::ONE), 1_102_350);
        assert_eq!(EU.margin_cents(10_000, 110_234, 110_236, Conv::ONE, Rate(33_300_000_000)), 36_708);
        assert_eq!(EU.half_spread_cents(10_000, 110_234, 110_236, Conv::ONE), 10);
        assert_eq!(fmt_money(-36_708), "-367.0800");
        assert_eq!(vwap(3 * 110_236 + 110_240, 4), 110_237);
    }
}
