//! The parameter sets of a sweep: every combination of a grid (`{"fast":[5,10],"slow":[20,50]}`), or
//! `n` seeded random samples from ranges (`{"fast":{"min":5,"max":50},"slow":[20,50,100]}`). Every
//! error names the key at fault.

use serde_json::{Map, Value};
use thiserror::Error;

/// One parameter set: strategy configuration keys and their values.
pub type Params = Map<String, Value>;

/// Most runs one sweep may expand to.
pub const MAX_COMBINATIONS: usize = 1_000_000;

/// Why a grid or a set of ranges was refused.
#[derive(Debug, Error, PartialEq)]
pub enum GridError {
    /// The grid is not a JSON object (or not JSON at all).
    #[error("--grid must be a JSON object of parameter -> list of values, e.g. {{\"fast\":[5,10],\"slow\":[20,50]}}: {0}")]
    NotObject(String),
    /// The grid has no keys.
    #[error("--grid has no parameters")]
    Empty,
    /// One key's values were refused.
    #[error("--grid key {key:?}: {msg}")]
    Key {
        /// The parameter.
        key: String,
        /// Why.
        msg: String,
    },
    /// The product of all lists is too large.
    #[error("--grid expands to {0} combinations; at most {MAX_COMBINATIONS} are allowed")]
    TooLarge(u128),
}

fn key_err(key: &str, msg: impl Into<String>) -> GridError {
    GridError::Key { key: key.to_string(), msg: msg.into() }
}

/// Parses grid text (JSON) into an object.
pub fn parse_grid(text: &str) -> Result<Map<String, Value>, GridError> {
    let v: Value = serde_json::from_str(text).map_err(|e| GridError::NotObject(e.to_string()))?;
    match v {
        Value::Object(m) if m.is_empty() => Err(GridError::Empty),
        Value::Object(m) => Ok(m),
        other => Err(GridError::NotObject(format!("got {}", kind(&other)))),
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

fn check_scalar(key: &str, v: &Value) -> Result<(), GridError> {
    match v {
        Value::Number(_) | Value::String(_) | Value::Bool(_) => Ok(()),
        other => Err(key_err(key, format!("values must be numbers, strings or booleans, got {}", kind(other)))),
    }
}

fn values_of<'a>(key: &str, v: &'a Value) -> Result<&'a [Value], GridError> {
    let Value::Array(list) = v else {
        return Err(key_err(key, format!("must be a list of values, got {}", kind(v))));
    };
    if list.is_empty() {
        return Err(key_err(key, "the list of values is empty"));
    }
    for x in list {
        check_scalar(key, x)?;
    }
    for (i, x) in list.iter().enumerate() {
        if list[..i].contains(x) {
            return Err(key_err(key, format!("value {x} is listed twice")));
        }
    }
    Ok(list)
}

/// Every combination of the grid's lists, keys in name order, the last key varying fastest.
pub fn expand_grid(grid: &Map<String, Value>) -> Result<Vec<Params>, GridError> {
    if grid.is_empty() {
        return Err(GridError::Empty);
    }
    let lists: Vec<(&String, &[Value])> = grid.iter().map(|(k, v)| Ok((k, values_of(k, v)?))).collect::<Result<_, GridError>>()?;
    let total: u128 = lists.iter().map(|(_, l)| l.len() as u128).product();
    if total > MAX_COMBINATIONS as u128 {
        return Err(GridError::TooLarge(total));
    }
    let mut out = Vec::with_capacity(total as usize);
    let mut idx = vec![0usize; lists.len()];
    loop {
        out.push(lists.iter().zip(&idx).map(|((k, l), &i)| ((*k).clone(), l[i].clone())).collect());
        let mut d = lists.len();
        loop {
            if d == 0 {
                return Ok(out);
            }
            d -= 1;
            idx[d] += 1;
            if idx[d] < lists[d].1.len() {
                break;
            }
            idx[d] = 0;
        }
    }
}

/// A small seeded generator (splitmix64): the same seed gives the same samples on every machine.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

enum Range {
    List(Vec<Value>),
    Int(i64, i64),
    Float(f64, f64),
}

fn range_of(key: &str, v: &Value) -> Result<Range, GridError> {
    match v {
        Value::Array(_) => Ok(Range::List(values_of(key, v)?.to_vec())),
        Value::Object(m) => {
            for k in m.keys() {
                if k != "min" && k != "max" {
                    return Err(key_err(key, format!("a range has only \"min\" and \"max\", got {k:?}")));
                }
            }
            let (Some(lo), Some(hi)) = (m.get("min"), m.get("max")) else {
                return Err(key_err(key, "a range needs both \"min\" and \"max\""));
            };
            if let (Some(a), Some(b)) = (lo.as_i64(), hi.as_i64()) {
                if a > b {
                    return Err(key_err(key, format!("min ({a}) is above max ({b})")));
                }
                return Ok(Range::Int(a, b));
            }
            match (lo.as_f64(), hi.as_f64()) {
                (Some(a), Some(b)) if a.is_finite() && b.is_finite() && a <= b => Ok(Range::Float(a, b)),
                (Some(a), Some(b)) => Err(key_err(key, format!("min ({a}) must be finite and not above max ({b})"))),
                _ => Err(key_err(key, "min and max must be numbers")),
            }
        }
        other => Err(key_err(key, format!("must be a list of values or {{\"min\":..,\"max\":..}}, got {}", kind(other)))),
    }
}

/// `n` distinct random parameter sets from `ranges` (lists are sampled uniformly; an integer range
/// `{"min":5,"max":50}` gives integers, a decimal one decimals), seeded for reproducibility. Fewer
/// than `n` come back when the space holds fewer distinct sets.
pub fn sample_random(ranges: &Map<String, Value>, n: usize, seed: u64) -> Result<Vec<Params>, GridError> {
    if ranges.is_empty() {
        return Err(GridError::Empty);
    }
    if n > MAX_COMBINATIONS {
        return Err(GridError::TooLarge(n as u128));
    }
    let parsed: Vec<(&String, Range)> = ranges.iter().map(|(k, v)| Ok((k, range_of(k, v)?))).collect::<Result<_, GridError>>()?;
    let mut rng = SplitMix(seed);
    let mut out: Vec<Params> = Vec::with_capacity(n);
    let mut attempts = 0usize;
    while out.len() < n && attempts < n.saturating_mul(20).max(100) {
        attempts += 1;
        let p: Params = parsed
            .iter()
            .map(|(k, r)| {
                let v = match r {
                    Range::List(l) => l[(rng.next() % l.len() as u64) as usize].clone(),
                    Range::Int(a, b) => {
                        let span = (*b as i128 - *a as i128 + 1) as u128;
                        Value::from((*a as i128 + (rng.next() as u128 % span) as i128) as i64)
                    }
                    Range::Float(a, b) => {
                        let x = a + (b - a) * rng.unit();
                        // Six significant decimals keep the values readable in tables.
                        Value::from((x * 1e6).round() / 1e6)
                    }
                };
                ((*k).clone(), v)
            })
            .collect();
        if !out.contains(&p) {
            out.push(p);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grid(s: &str) -> Map<String, Value> {
        parse_grid(s).unwrap()
    }

    #[test]
    fn expands_every_combination_in_key_order() {
        let combos = expand_grid(&grid(r#"{"slow":[20,50,100],"fast":[5,10,20]}"#)).unwrap();
        assert_eq!(combos.len(), 9);
        assert_eq!(Value::Object(combos[0].clone()), serde_json::json!({"fast":5,"slow":20}));
        assert_eq!(Value::Object(combos[1].clone()), serde_json::json!({"fast":5,"slow":50}));
        assert_eq!(Value::Object(combos[8].clone()), serde_json::json!({"fast":20,"slow":100}));
    }

    #[test]
    fn bad_grids_name_the_key() {
        assert!(matches!(parse_grid("[1,2]"), Err(GridError::NotObject(_))));
        assert!(matches!(parse_grid("{"), Err(GridError::NotObject(_))));
        assert_eq!(parse_grid("{}"), Err(GridError::Empty));
        let e = expand_grid(&grid(r#"{"fast":[5],"slow":[]}"#)).unwrap_err();
        assert_eq!(e, key_err("slow", "the list of values is empty"));
        assert!(e.to_string().contains("\"slow\""), "{e}");
        let e = expand_grid(&grid(r#"{"fast":5}"#)).unwrap_err();
        assert!(e.to_string().contains("\"fast\"") && e.to_string().contains("list"), "{e}");
        let e = expand_grid(&grid(r#"{"fast":[5,[1]]}"#)).unwrap_err();
        assert!(e.to_string().contains("\"fast\""), "{e}");
        let e = expand_grid(&grid(r#"{"fast":[5,5]}"#)).unwrap_err();
        assert!(e.to_string().contains("twice"), "{e}");
        let big = format!(r#"{{"a":{l},"b":{l},"c":{l}}}"#, l = serde_json::to_string(&(0..101).collect::<Vec<_>>()).unwrap());
        assert!(matches!(expand_grid(&grid(&big)), Err(GridError::TooLarge(1_030_301))));
    }

    #[test]
    fn random_samples_are_seeded_distinct_and_in_range() {
        let r = grid(r#"{"fast":{"min":2,"max":30},"slow":[50,100],"k":{"min":0.5,"max":1.5}}"#);
        let a = sample_random(&r, 20, 7).unwrap();
        assert_eq!(a, sample_random(&r, 20, 7).unwrap());
        assert_ne!(a, sample_random(&r, 20, 8).unwrap());
        assert_eq!(a.len(), 20);
        for p in &a {
            let f = p["fast"].as_i64().unwrap();
            assert!((2..=30).contains(&f));
            assert!([50, 100].contains(&p["slow"].as_i64().unwrap()));
            let k = p["k"].as_f64().unwrap();
            assert!((0.5..=1.5).contains(&k));
        }
        // A space of 2 sets gives 2.
        assert_eq!(sample_random(&grid(r#"{"a":[1,2]}"#), 10, 1).unwrap().len(), 2);
        let e = sample_random(&grid(r#"{"fast":{"min":9,"max":3}}"#), 3, 1).unwrap_err();
        assert!(e.to_string().contains("\"fast\""), "{e}");
        let e = sample_random(&grid(r#"{"fast":{"lo":1}}"#), 3, 1).unwrap_err();
        assert!(e.to_string().contains("\"fast\""), "{e}");
    }
}
