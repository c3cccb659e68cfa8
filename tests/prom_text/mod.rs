//! A strict parser of the Prometheus text exposition format 0.0.4 for the end-to-end tests, and the
//! consistency checks of its histograms. Strict where scrapers are: a family's `# TYPE` comes before
//! its samples and only once, its samples form one group, names and label names follow the grammar,
//! label values are quoted with `\\`, `\"` and `\n` escapes, values are Go floats (`NaN`, `+Inf`).
//! (The `prometheus-parse` crate reads labels with a regex that stops at the first `}`, so it cannot
//! read a label value such as `/api/operations/{id}`.)

#![allow(dead_code)]

use std::collections::BTreeMap;

/// One sample line.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

/// A metric family: its type, help and samples in order.
#[derive(Debug, Clone, Default)]
pub struct Family {
    pub kind: String,
    pub help: String,
    pub samples: Vec<Sample>,
}

fn is_name(s: &str, colon: bool) -> bool {
    let mut chars = s.chars();
    let ok_first = |c: char| c.is_ascii_alphabetic() || c == '_' || (colon && c == ':');
    chars.next().is_some_and(ok_first) && chars.all(|c| ok_first(c) || c.is_ascii_digit())
}

fn parse_value(s: &str) -> Result<f64, String> {
    match s {
        "NaN" => Ok(f64::NAN),
        "+Inf" => Ok(f64::INFINITY),
        "-Inf" => Ok(f64::NEG_INFINITY),
        _ => s.parse::<f64>().map_err(|_| format!("bad value {s:?}")).and_then(|v| {
            if v.is_finite() {
                Ok(v)
            } else {
                Err(format!("bad value {s:?}"))
            }
        }),
    }
}

/// `{a="x",b="y"}` at the start of `s`: the labels and the rest after `}`.
fn parse_labels(s: &str) -> Result<(BTreeMap<String, String>, &str), String> {
    let mut labels = BTreeMap::new();
    let mut rest = s.strip_prefix('{').ok_or("labels must start with {")?;
    loop {
        if let Some(r) = rest.strip_prefix('}') {
            return Ok((labels, r));
        }
        let eq = rest.find('=').ok_or("a label without =")?;
        let name = &rest[..eq];
        if !is_name(name, false) {
            return Err(format!("bad label name {name:?}"));
        }
        let mut chars = rest[eq + 1..].char_indices();
        if chars.next().map(|(_, c)| c) != Some('"') {
            return Err(format!("label {name} is not quoted"));
        }
        let mut value = String::new();
        let mut end = None;
        while let Some((i, c)) = chars.next() {
            match c {
                '\\' => match chars.next().map(|(_, c)| c) {
                    Some('\\') => value.push('\\'),
                    Some('"') => value.push('"'),
                    Some('n') => value.push('\n'),
                    other => return Err(format!("bad escape \\{other:?} in label {name}")),
                },
                '"' => {
                    end = Some(eq + 1 + i + 1);
                    break;
                }
                '\n' => return Err("a raw newline in a label value".into()),
                c => value.push(c),
            }
        }
        let end = end.ok_or_else(|| format!("label {name} is not closed"))?;
        if labels.insert(name.to_string(), value).is_some() {
            return Err(format!("label {name} twice"));
        }
        rest = &rest[end..];
        rest = rest.strip_prefix(',').unwrap_or(rest);
    }
}

/// The family a sample name belongs to, given the families declared.
fn family_of<'a>(name: &'a str, families: &BTreeMap<String, Family>) -> &'a str {
    for suffix in ["_bucket", "_sum", "_count"] {
        if let Some(base) = name.strip_suffix(suffix) {
            if families.get(base).is_some_and(|f| f.kind == "histogram" || f.kind == "summary") {
                return base;
            }
        }
    }
    name
}

/// Parses a whole exposition.
pub fn parse(text: &str) -> Result<BTreeMap<String, Family>, String> {
    let mut families: BTreeMap<String, Family> = BTreeMap::new();
    let mut current: Option<String> = None;
    let mut closed: Vec<String> = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let at = |e: String| format!("line {}: {e}: {line:?}", n + 1);
        if line.trim().is_empty() {
            continue;
        }
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, help) = rest.split_once(' ').unwrap_or((rest, ""));
            families.entry(name.to_string()).or_default().help = help.replace("\\n", "\n").replace("\\\\", "\\");
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').ok_or_else(|| at("TYPE without a type".into()))?;
            if !is_name(name, true) {
                return Err(at(format!("bad metric name {name:?}")));
            }
            if !["counter", "gauge", "histogram", "summary", "untyped"].contains(&kind) {
                return Err(at(format!("unknown type {kind:?}")));
            }
            let f = families.entry(name.to_string()).or_default();
            if !f.kind.is_empty() || !f.samples.is_empty() {
                return Err(at(format!("TYPE of {name} after its first TYPE or sample")));
            }
            f.kind = kind.to_string();
            if let Some(prev) = current.replace(name.to_string()) {
                closed.push(prev);
            }
            continue;
        }
        if line.starts_with('#') {
            continue;
        }
        let name_end = line.find(['{', ' ']).ok_or_else(|| at("no value".into()))?;
        let name = &line[..name_end];
        if !is_name(name, true) {
            return Err(at(format!("bad metric name {name:?}")));
        }
        let (labels, rest) = if line[name_end..].starts_with('{') {
            parse_labels(&line[name_end..]).map_err(at)?
        } else {
            (BTreeMap::new(), &line[name_end..])
        };
        let mut parts = rest.split_whitespace();
        let value = parse_value(parts.next().ok_or_else(|| at("no value".into()))?).map_err(at)?;
        if let Some(ts) = parts.next() {
            ts.parse::<i64>().map_err(|_| at(format!("bad timestamp {ts:?}")))?;
        }
        if parts.next().is_some() {
            return Err(at("trailing text".into()));
        }
        let family = family_of(name, &families).to_string();
        if closed.contains(&family) || current.as_deref() != Some(family.as_str()) {
            return Err(at(format!("sample of {family} outside its group (or before its TYPE)")));
        }
        families.entry(family).or_default().samples.push(Sample { name: name.to_string(), labels, value });
    }
    Ok(families)
}

/// One histogram series: its (le, cumulative count) buckets, its `_sum` and its `_count`.
type Series = (Vec<(f64, f64)>, Option<f64>, Option<f64>);

/// Checks every histogram: per series (labels without `le`), buckets in increasing `le` ending at
/// `+Inf`, cumulative counts that never decrease, `+Inf` equal to `_count`, and a `_sum` that is not
/// negative (and positive when anything was counted, for latencies). Returns the series checked.
pub fn check_histograms(families: &BTreeMap<String, Family>) -> Result<usize, String> {
    let mut checked = 0;
    for (name, f) in families.iter().filter(|(_, f)| f.kind == "histogram") {
        let mut series: BTreeMap<Vec<(String, String)>, Series> = BTreeMap::new();
        for s in &f.samples {
            let key: Vec<(String, String)> = s.labels.iter().filter(|(k, _)| *k != "le").map(|(k, v)| (k.clone(), v.clone())).collect();
            let e = series.entry(key).or_default();
            if s.name == format!("{name}_bucket") {
                let le = s.labels.get("le").ok_or_else(|| format!("{name}: a bucket without le"))?;
                e.0.push((parse_value(le)?, s.value));
            } else if s.name == format!("{name}_sum") {
                e.1 = Some(s.value);
            } else if s.name == format!("{name}_count") {
                e.2 = Some(s.value);
            } else {
                return Err(format!("{name}: unexpected sample {}", s.name));
            }
        }
        for (labels, (buckets, sum, count)) in series {
            let what = format!("{name}{labels:?}");
            let count = count.ok_or_else(|| format!("{what}: no _count"))?;
            let sum = sum.ok_or_else(|| format!("{what}: no _sum"))?;
            if buckets.is_empty() || buckets.last().map(|b| b.0) != Some(f64::INFINITY) {
                return Err(format!("{what}: the last bucket is not +Inf"));
            }
            if !buckets.windows(2).all(|w| w[0].0 < w[1].0 && w[0].1 <= w[1].1) {
                return Err(format!("{what}: buckets not increasing in le or decreasing in count: {buckets:?}"));
            }
            if buckets.last().map(|b| b.1) != Some(count) || count.fract() != 0.0 || count < 0.0 {
                return Err(format!("{what}: +Inf bucket {:?} != _count {count}", buckets.last()));
            }
            if sum < 0.0 || (count > 0.0 && sum <= 0.0) || (count == 0.0 && sum != 0.0) {
                return Err(format!("{what}: _sum {sum} does not fit _count {count}"));
            }
            checked += 1;
        }
    }
    Ok(checked)
}

/// The value of the sample `name` whose labels include `labels`.
pub fn value(families: &BTreeMap<String, Family>, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    families
        .get(family_of(name, families))?
        .samples
        .iter()
        .find(|s| s.name == name && labels.iter().all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v)))
        .map(|s| s.value)
}

#[test]
fn the_parser_is_strict() {
    let good = "# HELP a_total A.\n# TYPE a_total counter\na_total{route=\"/x/{id}\",q=\"a\\\"b\\\\c\\nd\"} 3\n# TYPE h histogram\nh_bucket{le=\"0.1\"} 1\nh_bucket{le=\"+Inf\"} 2\nh_sum 0.5\nh_count 2\n";
    let f = parse(good).expect("parses");
    assert_eq!(value(&f, "a_total", &[("route", "/x/{id}")]), Some(3.0));
    assert_eq!(f["a_total"].samples[0].labels["q"], "a\"b\\c\nd");
    assert_eq!(check_histograms(&f), Ok(1));
    for bad in [
        "a 1\n",                                           // no TYPE
        "# TYPE a gauge\n# TYPE a gauge\na 1\n",           // TYPE twice
        "# TYPE a gauge\na 1\n# TYPE b gauge\nb 1\na 2\n", // a's group reopened
        "# TYPE a gauge\na{x=1} 1\n",                      // unquoted
        "# TYPE a gauge\na{x=\"1} 1\n",                    // unclosed
        "# TYPE a gauge\na one\n",                         // not a number
        "# TYPE 1a gauge\n1a 1\n",                         // bad name
        "# TYPE a gauge\na{x=\"\\q\"} 1\n",                // bad escape
    ] {
        assert!(parse(bad).is_err(), "{bad:?} parsed");
    }
    let inconsistent = [
        "# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 1\nh_sum 1\nh_count 1\n",
        "# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 1\nh_sum 1\nh_count 2\n",
        "# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_sum 1\nh_count 1\n",
        "# TYPE h histogram\nh_bucket{le=\"+Inf\"} 1\nh_sum 0\nh_count 1\n",
    ];
    for text in inconsistent {
        assert!(check_histograms(&parse(text).expect("parses")).is_err(), "{text:?} passed");
    }
}
