//! Fixed-point numbers: prices and quantities as integer steps of an explicit precision, money as
//! integer cents, rates as integer pico-units. Decimal parsing is exact; rounding is half away from zero.

use serde::{Deserialize, Serialize};
use std::fmt;
use thiserror::Error;

/// Maximum decimal places accepted for prices and quantities.
pub const MAX_PRECISION: u8 = 9;

/// Powers of ten up to 10^18, for scaling between precisions.
pub const POW10: [i64; 19] = [
    1,
    10,
    100,
    1_000,
    10_000,
    100_000,
    1_000_000,
    10_000_000,
    100_000_000,
    1_000_000_000,
    10_000_000_000,
    100_000_000_000,
    1_000_000_000_000,
    10_000_000_000_000,
    100_000_000_000_000,
    1_000_000_000_000_000,
    10_000_000_000_000_000,
    100_000_000_000_000_000,
    1_000_000_000_000_000_000,
];

/// Why a decimal string could not be read.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DecimalError {
    /// The input was empty.
    #[error("empty number")]
    Empty,
    /// Not a plain decimal (bad character, no digits, a second point); carries the input text.
    #[error("not a decimal number: {0:?}")]
    Invalid(String),
    /// More decimal places than the precision allows (nonzero digits beyond it).
    #[error("{value:?} has more than {precision} decimal places")]
    TooPrecise {
        /// The input text.
        value: String,
        /// The allowed number of decimal places.
        precision: u8,
    },
    /// The value does not fit in an `i64` of steps at the requested precision; carries the input text.
    #[error("number out of range: {0:?}")]
    Overflow(String),
}

/// Parses a plain decimal (`-12.3400`) into an integer count of `10^-precision` steps, exactly.
/// Extra trailing zeros beyond the precision are accepted; other extra digits are an error.
pub fn parse_decimal(s: &[u8], precision: u8) -> Result<i64, DecimalError> {
    let text = || String::from_utf8_lossy(s).into_owned();
    if s.is_empty() {
        return Err(DecimalError::Empty);
    }
    let (neg, digits) = match s[0] {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    if digits.is_empty() {
        return Err(DecimalError::Invalid(text()));
    }
    let mut value: i64 = 0;
    let mut frac_digits: u8 = 0;
    let mut seen_dot = false;
    let mut seen_digit = false;
    for &c in digits {
        match c {
            b'0'..=b'9' => {
                seen_digit = true;
                let d = (c - b'0') as i64;
                if seen_dot {
                    if frac_digits >= precision {
                        if d != 0 {
                            return Err(DecimalError::TooPrecise { value: text(), precision });
                        }
                        continue;
                    }
                    frac_digits += 1;
                }
                value = value.checked_mul(10).and_then(|v| v.checked_add(d)).ok_or_else(|| DecimalError::Overflow(text()))?;
            }
            b'.' if !seen_dot => seen_dot = true,
            _ => return Err(DecimalError::Invalid(text())),
        }
    }
    if !seen_digit {
        return Err(DecimalError::Invalid(text()));
    }
    let scale = POW10[(precision - frac_digits) as usize];
    let value = value.checked_mul(scale).ok_or_else(|| DecimalError::Overflow(text()))?;
    Ok(if neg { -value } else { value })
}

/// Number of digits after the decimal point in a decimal string (its written precision).
pub fn written_precision(s: &[u8]) -> u8 {
    match s.iter().position(|&c| c == b'.') {
        Some(p) => (s.len() - p - 1).min(u8::MAX as usize) as u8,
        None => 0,
    }
}

/// Formats `raw` steps of `10^-precision` as a decimal string with exactly `precision` places.
pub fn format_decimal(raw: i64, precision: u8) -> String {
    if precision == 0 {
        return raw.to_string();
    }
    let p = POW10[precision as usize];
    let sign = if raw < 0 { "-" } else { "" };
    let a = raw.unsigned_abs();
    format!("{sign}{}.{:0width$}", a / p as u64, a % p as u64, width = precision as usize)
}

/// Divides with rounding half away from zero.
pub fn div_round_half_away(num: i128, den: i128) -> i128 {
    debug_assert!(den != 0);
    let (num, den) = if den < 0 { (-num, -den) } else { (num, den) };
    let q = num / den;
    let r = num % den;
    if 2 * r.abs() >= den {
        q + num.signum()
    } else {
        q
    }
}

/// A price as an integer number of the instrument's smallest price steps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize)]
#[repr(transparent)]
pub struct Price(pub i64);

impl Price {
    /// The price in currency units as f64, given the instrument's price precision (decimal places).
    pub fn as_f64(self, precision: u8) -> f64 {
        self.0 as f64 / POW10[precision as usize] as f64
    }
    /// Nearest price step to `value` (used only for derived levels such as stops).
    pub fn from_f64(value: f64, precision: u8) -> Price {
        Price((value * POW10[precision as usize] as f64).round() as i64)
    }
    /// The price as a decimal string with exactly `precision` places.
    pub fn format(self, precision: u8) -> String {
        format_decimal(self.0, precision)
    }
}

/// A quantity as an integer number of the instrument's smallest size steps (FX: units).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize)]
#[repr(transparent)]
pub struct Quantity(pub i64);

impl Quantity {
    /// The quantity in whole units as f64, given the instrument's size precision (decimal places).
    pub fn as_f64(self, precision: u8) -> f64 {
        self.0 as f64 / POW10[precision as usize] as f64
    }
    /// The quantity as a decimal string with exactly `precision` places.
    pub fn format(self, precision: u8) -> String {
        format_decimal(self.0, precision)
    }
}

/// Money in integer cents of its currency.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize)]
#[repr(transparent)]
pub struct Money(pub i64);

impl Money {
    /// Zero cents.
    pub const ZERO: Money = Money(0);
    /// `units` whole currency units (`units * 100` cents).
    pub fn from_units(units: i64) -> Money {
        Money(units * 100)
    }
    /// Parses a decimal amount, rounding to cents half away from zero.
    pub fn parse(s: &str) -> Result<Money, DecimalError> {
        let raw = parse_decimal_lossy(s.trim().as_bytes(), 9)?;
        Ok(Money(div_round_half_away(raw as i128, 10_000_000) as i64))
    }
    /// Rounds an f64 amount to cents (for JSON inputs that arrive as numbers).
    pub fn from_f64(v: f64) -> Money {
        Money((v * 100.0).round() as i64)
    }
    /// The amount in currency units (cents / 100) as f64, for display and ratios only.
    pub fn as_f64(self) -> f64 {
        self.0 as f64 / 100.0
    }
    /// The raw amount in cents.
    pub fn cents(self) -> i64 {
        self.0
    }
}

impl std::ops::Add for Money {
    type Output = Money;
    fn add(self, o: Money) -> Money {
        Money(self.0 + o.0)
    }
}
impl std::ops::Sub for Money {
    type Output = Money;
    fn sub(self, o: Money) -> Money {
        Money(self.0 - o.0)
    }
}
impl std::ops::AddAssign for Money {
    fn add_assign(&mut self, o: Money) {
        self.0 += o.0
    }
}
impl std::ops::SubAssign for Money {
    fn sub_assign(&mut self, o: Money) {
        self.0 -= o.0
    }
}
impl std::ops::Neg for Money {
    type Output = Money;
    fn neg(self) -> Money {
        Money(-self.0)
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&format_decimal(self.0, 2))
    }
}

/// Like [`parse_decimal`] but rounds (half away from zero) digits beyond `precision`.
fn parse_decimal_lossy(s: &[u8], precision: u8) -> Result<i64, DecimalError> {
    match s.iter().position(|&c| c == b'.') {
        Some(dot) if s.len() - dot - 1 > precision as usize => {
            let cut = dot + 1 + precision as usize;
            let head = parse_decimal(&s[..cut], precision)?;
            let next = s[cut];
            if !next.is_ascii_digit() || !s[cut..].iter().all(u8::is_ascii_digit) {
                return Err(DecimalError::Invalid(String::from_utf8_lossy(s).into_owned()));
            }
            let neg = s.first() == Some(&b'-');
            Ok(match (next >= b'5', neg) {
                (true, true) => head - 1,
                (true, false) => head + 1,
                _ => head,
            })
        }
        _ => parse_decimal(s, precision),
    }
}

/// A dimensionless rate (commission, margin) in integer steps of 10^-12, so decimal inputs are exact.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize)]
#[repr(transparent)]
pub struct Rate(pub i64);

impl Rate {
    /// Steps per 1.0: a `Rate` of `SCALE` is 100%.
    pub const SCALE: i64 = 1_000_000_000_000;
    /// A zero rate.
    pub const ZERO: Rate = Rate(0);
    /// Parses a decimal rate (`0.00002`) exactly, with up to 12 decimal places.
    pub fn parse(s: &str) -> Result<Rate, DecimalError> {
        parse_decimal(s.trim().as_bytes(), 12).map(Rate)
    }
    /// From an f64 through its shortest decimal form, so `0.00002` is exactly 2e-5.
    pub fn from_f64(v: f64) -> Result<Rate, DecimalError> {
        if !v.is_finite() {
            return Err(DecimalError::Invalid(v.to_string()));
        }
        Rate::parse(&format!("{v}")).or_else(|_| Ok(Rate((v * Self::SCALE as f64).round() as i64)))
    }
    /// The rate as f64 (`raw / SCALE`).
    pub fn as_f64(self) -> f64 {
        self.0 as f64 / Self::SCALE as f64
    }
    /// `money * rate`, rounded to cents half away from zero.
    pub fn apply(self, money: Money) -> Money {
        Money(div_round_half_away(money.0 as i128 * self.0 as i128, Self::SCALE as i128) as i64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_decimals_exactly() {
        assert_eq!(parse_decimal(b"0.67067", 5), Ok(67067));
        assert_eq!(parse_decimal(b"109.5", 3), Ok(109500));
        assert_eq!(parse_decimal(b"-1.2", 2), Ok(-120));
        assert_eq!(parse_decimal(b"1.121200", 5), Ok(112120));
        assert!(matches!(parse_decimal(b"1.121201", 5), Err(DecimalError::TooPrecise { .. })));
        assert!(matches!(parse_decimal(b"1.2.3", 5), Err(DecimalError::Invalid(_))));
        assert!(matches!(parse_decimal(b"NaN", 5), Err(DecimalError::Invalid(_))));
        assert!(matches!(parse_decimal(b"", 5), Err(DecimalError::Empty)));
        assert!(matches!(parse_decimal(b"-", 5), Err(DecimalError::Invalid(_))));
    }

    #[test]
    fn formats_decimals() {
        assert_eq!(format_decimal(67067, 5), "0.67067");
        assert_eq!(format_decimal(-5, 2), "-0.05");
        assert_eq!(format_decimal(109500, 3), "109.500");
        assert_eq!(format_decimal(42, 0), "42");
    }

    #[test]
    fn rounds_half_away_from_zero() {
        assert_eq!(div_round_half_away(5, 10), 1);
        assert_eq!(div_round_half_away(-5, 10), -1);
        assert_eq!(div_round_half_away(4, 10), 0);
        assert_eq!(div_round_half_away(-15, 10), -2);
        assert_eq!(div_round_half_away(14, -10), -1);
    }

    #[test]
    fn money_and_rates() {
        assert_eq!(Money::parse("1000000").unwrap(), Money(100_000_000));
        assert_eq!(Money::parse("0.005").unwrap(), Money(1));
        assert_eq!(Money::parse("-0.005").unwrap(), Money(-1));
        let r = Rate::from_f64(0.00002).unwrap();
        assert_eq!(r, Rate(20_000_000));
        // 67,067.00 USD notional * 0.00002 = 1.34134 -> 1.34
        assert_eq!(r.apply(Money(6_706_700)), Money(134));
        assert_eq!(Rate::parse("0.5").unwrap().apply(Money(1)), Money(1));
    }
}
