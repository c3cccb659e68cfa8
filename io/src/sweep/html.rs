//! The sweep's HTML report: one self-contained page (inline CSS and SVG, no script, nothing fetched)
//! with the ranking table, a heatmap of the ranking metric over two parameters, and the realized
//! equity curves of the best runs.

use super::metrics::RunResult;
use super::output::{param_keys, Metric};
use serde_json::Value;
use std::fmt::Write as _;

/// Rows shown in the ranking table.
const TABLE_ROWS: usize = 100;
/// Equity curves drawn.
const CURVES: usize = 5;
const COLORS: [&str; CURVES] = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e"];

fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

fn show(v: &Value) -> String {
    match v {
        Value::String(s) => esc(s),
        other => esc(&other.to_string()),
    }
}

/// Orders parameter values: numbers by value, then everything else by text.
fn value_order(a: &Value, b: &Value) -> std::cmp::Ordering {
    match (a.as_f64(), b.as_f64()) {
        (Some(x), Some(y)) => x.total_cmp(&y),
        _ => a.to_string().cmp(&b.to_string()),
    }
}

/// The page for `ranked` (best first). `heat` names the two parameters of the heatmap (default: the
/// first two parameters); a heatmap cell shows the best metric over the other parameters and files.
pub fn render(title: &str, ranked: &[RunResult], metric: Metric, heat: Option<(&str, &str)>) -> String {
    let keys = param_keys(ranked);
    let mut h = String::new();
    let _ = write!(
        h,
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>{t}</title><style>\
body{{font-family:sans-serif;margin:24px;color:#222}}table{{border-collapse:collapse;font-size:13px}}\
td,th{{border:1px solid #ccc;padding:3px 7px;text-align:right}}th{{background:#eee}}td.l{{text-align:left}}\
.heat td{{min-width:60px}}</style></head><body><h1>{t}</h1><p>{n} runs, ranked by <b>{m}</b>.</p>",
        t = esc(title),
        n = ranked.len(),
        m = metric.name()
    );
    ranking_table(&mut h, ranked, &keys);
    let heat_keys = heat.map(|(a, b)| (a.to_string(), b.to_string())).or_else(|| match keys.as_slice() {
        [a, b, ..] => Some((a.clone(), b.clone())),
        _ => None,
    });
    if let Some((x, y)) = heat_keys {
        heatmap(&mut h, ranked, metric, &x, &y);
    }
    curves(&mut h, &ranked[..ranked.len().min(CURVES)]);
    h.push_str("</body></html>\n");
    h
}

fn ranking_table(h: &mut String, ranked: &[RunResult], keys: &[String]) {
    h.push_str("<h2>Ranking</h2><table><tr><th>rank</th><th>run</th><th>file</th>");
    for k in keys {
        let _ = write!(h, "<th>{}</th>", esc(k));
    }
    h.push_str("<th>trades</th><th>win rate</th><th>P/L</th><th>profit factor</th><th>max DD</th><th>Sharpe</th><th>commission</th><th>ticks/s</th></tr>");
    for (i, r) in ranked.iter().take(TABLE_ROWS).enumerate() {
        let _ = write!(h, "<tr><td>{}</td><td>{}</td><td class=\"l\">{}</td>", i + 1, r.run, esc(&r.file));
        for k in keys {
            let _ = write!(h, "<td>{}</td>", r.params.get(k).map(show).unwrap_or_default());
        }
        let pf = r.profit_factor.map(|x| format!("{x:.3}")).unwrap_or_else(|| "&infin;".into());
        let _ = write!(
            h,
            "<td>{}</td><td>{:.1}%</td><td>{:.2}</td><td>{pf}</td><td>{:.2}</td><td>{:.3}</td><td>{:.2}</td><td>{:.0}</td></tr>",
            r.trades,
            r.win_rate * 100.0,
            r.pnl,
            r.max_drawdown,
            r.sharpe,
            r.commission,
            r.ticks_per_second
        );
    }
    h.push_str("</table>");
    if ranked.len() > TABLE_ROWS {
        let _ = write!(h, "<p>(the first {TABLE_ROWS} of {} runs; the CSV has them all)</p>", ranked.len());
    }
}

fn heatmap(h: &mut String, ranked: &[RunResult], metric: Metric, x: &str, y: &str) {
    let mut xs: Vec<Value> = Vec::new();
    let mut ys: Vec<Value> = Vec::new();
    for r in ranked {
        if let (Some(a), Some(b)) = (r.params.get(x), r.params.get(y)) {
            if !xs.contains(a) {
                xs.push(a.clone());
            }
            if !ys.contains(b) {
                ys.push(b.clone());
            }
        }
    }
    if xs.is_empty() || ys.is_empty() {
        return;
    }
    xs.sort_by(value_order);
    ys.sort_by(value_order);
    // Best score per cell (ranked is best first, so the first row seen for a cell is its best).
    let mut cells: Vec<Option<&RunResult>> = vec![None; xs.len() * ys.len()];
    for r in ranked {
        if let (Some(a), Some(b)) = (r.params.get(x), r.params.get(y)) {
            let (Some(i), Some(j)) = (xs.iter().position(|v| v == a), ys.iter().position(|v| v == b)) else { continue };
            cells[j * xs.len() + i].get_or_insert(r);
        }
    }
    let scores: Vec<f64> = cells.iter().flatten().map(|r| metric.score(r)).filter(|s| s.is_finite()).collect();
    let lo = scores.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = scores.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let _ = write!(
        h,
        "<h2>Heatmap: {m} over {x} (columns) and {y} (rows)</h2><p>Each cell: the best run with those two values (green is better).</p><table class=\"heat\"><tr><th>{y} \\ {x}</th>",
        m = metric.name(),
        x = esc(x),
        y = esc(y)
    );
    for v in &xs {
        let _ = write!(h, "<th>{}</th>", show(v));
    }
    h.push_str("</tr>");
    for (j, yv) in ys.iter().enumerate() {
        let _ = write!(h, "<tr><th>{}</th>", show(yv));
        for i in 0..xs.len() {
            match cells[j * xs.len() + i] {
                Some(r) => {
                    let s = metric.score(r);
                    let t = if hi > lo && s.is_finite() { (s - lo) / (hi - lo) } else { 1.0 };
                    let (red, green) = ((255.0 * (1.0 - t)) as u8, (200.0 * t + 55.0) as u8);
                    let _ = write!(h, "<td style=\"background:rgb({red},{green},90)\">{:.2}</td>", metric.value(r));
                }
                None => h.push_str("<td></td>"),
            }
        }
        h.push_str("</tr>");
    }
    h.push_str("</table>");
}

fn curves(h: &mut String, best: &[RunResult]) {
    let pts: Vec<&(i64, i64)> = best.iter().flat_map(|r| r.equity.iter()).collect();
    if pts.is_empty() {
        return;
    }
    let (w, ht, pad) = (900.0, 320.0, 40.0);
    let t0 = pts.iter().map(|p| p.0).min().unwrap_or(0) as f64;
    let t1 = pts.iter().map(|p| p.0).max().unwrap_or(1) as f64;
    let v0 = pts.iter().map(|p| p.1).min().unwrap_or(0) as f64;
    let v1 = pts.iter().map(|p| p.1).max().unwrap_or(1) as f64;
    let sx = |t: f64| pad + if t1 > t0 { (t - t0) / (t1 - t0) * (w - 2.0 * pad) } else { 0.0 };
    let sy = |v: f64| ht - pad - if v1 > v0 { (v - v0) / (v1 - v0) * (ht - 2.0 * pad) } else { 0.0 };
    let _ = write!(
        h,
        "<h2>Realized equity of the best {} runs</h2><svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{ht}\" style=\"border:1px solid #ccc\">\
<text x=\"4\" y=\"14\" font-size=\"11\">{:.2}</text><text x=\"4\" y=\"{}\" font-size=\"11\">{:.2}</text>",
        best.len(),
        v1 / 100.0,
        ht - 4.0,
        v0 / 100.0
    );
    for (r, color) in best.iter().zip(COLORS) {
        let line: Vec<String> = r.equity.iter().map(|&(t, v)| format!("{:.1},{:.1}", sx(t as f64), sy(v as f64))).collect();
        let _ = write!(h, "<polyline fill=\"none\" stroke=\"{color}\" stroke-width=\"1.5\" points=\"{}\"/>", line.join(" "));
    }
    h.push_str("</svg><ul>");
    for (r, color) in best.iter().zip(COLORS) {
        let _ = write!(
            h,
            "<li><span style=\"color:{color}\">&#9632;</span> run {} ({}) {}: P/L {:.2}</li>",
            r.run,
            esc(&r.file),
            esc(&Value::Object(r.params.clone()).to_string()),
            r.pnl
        );
    }
    h.push_str("</ul>");
}
