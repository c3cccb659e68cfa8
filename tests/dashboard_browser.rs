//! The dashboard in a real headless Chromium against a real `pinion serve`: the page loads and shows the
//! engine and WebSocket state live; an operation is created through the form (a bad field first, whose
//! 400 detail shows next to it); orders and chart markers appear as it trades and the "why" panel
//! explains one; it is paused, resumed and stopped; the session is configured and started and its
//! warm-up progress shows; a risk limit changed in the form makes an order refused, with its reason in a
//! toast; the log holds the history; after a reload the equity history is back; with a token the page
//! asks for it. Any console error fails the test; every page is saved as a screenshot under
//! `target/browser-artifacts/`. Needs Debian's `chromium` and `chromium-driver` (scripts/test.sh
//! installs them; `PINION_SKIP_BROWSER_TESTS=1` skips when they are missing).

mod browser_support;
mod common;

use browser_support::launch;
use common::{poll, Server};
use serde_json::json;
use std::time::Duration;

const SPEED: f64 = 300.0;
/// Console entries the scenario provokes on purpose: the 400 of the bad create form field, the 409s it
/// may meet, the 401 before the token is given.
const EXPECTED: &[&str] = &["status of 400", "status of 409", "status of 401"];

/// One browser test at a time: each runs a server and a Chromium, and the machine has two cores.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|p| p.into_inner())
}

fn no_console_errors(b: &browser_support::Browser, when: &str) {
    let errors = b.console_errors(EXPECTED);
    assert!(errors.is_empty(), "console errors {when}:\n{}", errors.join("\n"));
}

#[test]
fn the_dashboard_drives_the_engine_in_a_real_browser() {
    let _one = serial();
    let Some(b) = launch("dashboard") else { return };
    let models = tempfile::tempdir().expect("a model directory");
    let s = Server::start_with_models(SPEED, models.path());
    let base = format!("http://{}", s.addr);
    b.goto(&format!("{base}/"));

    // The header shows the engine and the socket live, and the staleness badges go green.
    b.wait_js("the engine state", 30, "return document.querySelector('[data-testid=engine-state]').dataset.state === 'running'");
    b.wait_js("the socket to be live", 30, "return document.querySelector('[data-testid=ws-state]').dataset.state === 'open'");
    b.wait_js(
        "fresh account and metric topics",
        30,
        "return ['account','metric'].every(t => document.querySelector(`[data-testid=stale-${t}]`)?.dataset.state === 'fresh')",
    );
    b.wait_js("the NAV", 20, "return document.querySelector('[data-testid=acct-nav]').textContent.includes('.')");
    b.screenshot("account");
    no_console_errors(&b, "on load");

    // Create an operation through the form: a bad field first.
    b.click("nav-operations");
    b.click("ops-new");
    b.find("create-form", 10);
    b.select("f-asset", "EUR_USD");
    b.select("f-stop_loss_type", "PIPS");
    b.type_into("f-stop_loss_value", "-5");
    b.type_into("f-strategy_config", r#"{"fast": 3, "slow": 8, "trade_size": 1000}"#);
    b.click("create-submit");
    let err = b.wait_text("err-stop_loss_value", "stop_loss_value", 15);
    assert!(err.starts_with("stop_loss_value:"), "the 400 detail shows next to its field: {err}");
    b.screenshot("create-form-400");
    b.type_into("f-stop_loss_value", "10");
    b.click("create-submit");
    b.wait_js(
        "the operation page",
        20,
        "return location.hash === '#/operations/1' && document.querySelector('[data-testid=op-title]')?.dataset.status === 'active'",
    );

    // Orders and markers appear as it trades.
    b.wait_js(
        "orders in the table",
        90,
        "return Number((document.querySelector('[data-testid=op-total]')?.textContent || '0').split(' ')[0]) > 0",
    );
    b.wait_js(
        "entry/exit markers on the chart",
        90,
        "return Number(document.querySelector('[data-testid=price-chart]')?.dataset.markers || 0) > 0",
    );
    b.wait_js("candles with indicator lines", 30, "return document.querySelector('[data-testid=legend-ema_fast]') !== null");
    b.screenshot("operation");
    // Pause, resume and stop it.
    b.click("opp-pause");
    b.wait_js("paused", 15, "return document.querySelector('[data-testid=op-title]').dataset.status === 'paused'");
    // Paused, it sends no more orders (its last one closed its position): the why panel explains that one.
    std::thread::sleep(Duration::from_secs(2));
    b.wait_js("an order's why button pressed", 10, "const r = document.querySelector('[data-testid^=why-]'); if (r) r.click(); return !!r");
    let why = b.wait_text("why-panel", "Why order", 15);
    assert!(why.contains("Risk checks"), "{why}");
    b.screenshot("why");
    b.click("why-close");

    b.click("opp-resume");
    b.wait_js("active again", 15, "return document.querySelector('[data-testid=op-title]').dataset.status === 'active'");
    b.click("opp-stop");
    b.click("confirm-ok");
    b.wait_js("closed", 15, "return document.querySelector('[data-testid=op-title]').dataset.status === 'closed'");
    assert_eq!(s.get_ok("/api/operations/1")["status"], "closed");
    no_console_errors(&b, "while creating, watching and steering the operation");

    // Configure and start the session; warm-up progress shows.
    b.click("nav-session");
    b.wait_js("the model list", 60, "const m = document.querySelector('[data-testid=session-model]'); return m && m.value !== ''");
    b.click("session-start-btn");
    b.wait_js("warm-up progress", 90, "return [...document.querySelectorAll('[data-testid^=warmup-]')].some(e => Number(e.dataset.have) > 0) || document.querySelector('[data-testid=session-state]')?.dataset.state === 'running'");
    b.screenshot("session");
    assert!(["warming_up", "running"].contains(&s.get_ok("/session/status")["state"].as_str().unwrap_or_default()));
    s.post_json("/session/stop", &json!({}));

    // A risk limit changed in the form refuses the next entry, with its reason in a toast.
    let op = s.post_json(
        "/api/operations",
        &json!({ "asset": "AUD_USD", "bar_sizes": ["1 min"], "strategy_name": "ema_cross",
                 "strategy_config": { "fast": 2, "slow": 5, "trade_size": 1000 }, "stop_loss_type": "PIPS", "stop_loss_value": 10 }),
    );
    assert_eq!(op.status, 201, "{}", op.text);
    b.click("nav-risk");
    b.wait_js("the limits prefilled", 15, "return document.querySelector('[data-testid=risk-max_concurrent_positions]').value !== ''");
    b.type_into("risk-per_symbol_limit", "1");
    b.click("risk-save");
    b.find("toast-risk-updated", 15);
    let refusal = b.wait_text("toasts", "per_symbol_limit would be exceeded", 90);
    assert!(refusal.contains("Rejected"), "{refusal}");
    b.screenshot("risk-refusal");

    // The log holds the history from before the page was opened, and the live records.
    b.click("nav-log");
    b.wait_text("log-lines", "pinion serving on", 15);
    b.wait_text("log-lines", "operation 1 created", 15);
    b.type_into("log-search", "refused");
    b.wait_text("log-lines", "per_symbol_limit", 15);
    b.screenshot("log");
    b.click("nav-audit");
    b.wait_text("audit-list", "operation 1", 15);
    b.screenshot("audit");

    // A dropped socket turns the badges red, reconnects by itself and reads everything again.
    b.js("window.__pinionDropSocket()", json!([]));
    b.wait_js("the badges red while the socket is down", 10, "return document.querySelector('[data-testid=stale-metric]')?.dataset.state === 'down' || document.querySelector('[data-testid=ws-state]').dataset.state !== 'open'");
    b.wait_js("the socket back", 30, "return document.querySelector('[data-testid=ws-state]').dataset.state === 'open'");
    b.wait_js("fresh metrics again", 30, "return document.querySelector('[data-testid=stale-metric]')?.dataset.state === 'fresh'");

    // The theme and time zone are settings kept in the browser.
    b.click("settings-toggle");
    b.select("setting-theme", "light");
    b.select("setting-tz", "local");
    b.screenshot("light-theme");
    let kept = b.js(
        "return [localStorage.getItem('pinion.theme'), localStorage.getItem('pinion.tz'), document.documentElement.dataset.theme]",
        json!([]),
    );
    assert_eq!(kept, json!(["light", "local", "light"]));
    b.select("setting-theme", "dark");
    b.select("setting-tz", "utc");
    b.click("settings-toggle");

    // After a reload the equity history is back, with the control actions on it.
    poll("equity history on the server", Duration::from_secs(30), || (s.get_ok("/api/equity").as_array()?.len() >= 3).then_some(()));
    b.goto(&format!("{base}/#/account"));
    b.wait_js(
        "the equity history after a reload",
        20,
        "return Number((document.querySelector('[data-testid=equity-count]')?.textContent || '0').split(' ')[0]) >= 3",
    );
    b.screenshot("account-after-reload");

    // The emergency stop asks for the word, then closes everything and stops every operation.
    b.click("emergency-stop");
    b.find("confirm-dialog", 10);
    assert_eq!(b.attr("confirm-ok", "disabled").as_deref(), Some("true"), "disabled until STOP is typed");
    b.type_into("confirm-input", "STOP");
    b.click("confirm-ok");
    b.find("toast-emergency", 30);
    b.screenshot("emergency-stop");
    let ops = s.get_ok("/api/operations");
    assert!(ops.as_array().is_some_and(|a| a.iter().all(|o| o["status"] == "closed")), "{ops}");
    // Every position is closed: the operations' and the model session's.
    poll("every position closed", Duration::from_secs(30), || s.get_ok("/account/positions").as_array()?.is_empty().then_some(()));
    let st = s.get_ok("/session/status");
    assert_ne!(st["state"], "running", "{st}");
    assert_eq!(st["open_positions"], json!([]), "{st}");
    no_console_errors(&b, "in the session, risk, log, reconnect, settings, reload and emergency steps");
}

#[test]
fn with_a_token_the_dashboard_asks_for_it_once() {
    let _one = serial();
    let Some(b) = launch("token") else { return };
    let s = Server::start_with_env(SPEED, &[("PINION_TOKEN", "s3cret-token")]);
    let base = format!("http://{}", s.addr);
    b.goto(&format!("{base}/"));
    b.find("token-dialog", 20);
    b.screenshot("token-prompt");
    b.type_into("token-input", "wrong");
    b.click("token-submit");
    b.wait_text("token-error", "not accepted", 15);
    b.type_into("token-input", "s3cret-token");
    b.click("token-submit");
    b.wait_js(
        "the socket to be live with the token",
        30,
        "return document.querySelector('[data-testid=ws-state]')?.dataset.state === 'open'",
    );
    b.wait_js("the NAV", 20, "return document.querySelector('[data-testid=acct-nav]').textContent.includes('.')");
    // Asked once: a reload goes straight in.
    b.goto(&format!("{base}/"));
    b.wait_js("live again without a prompt", 30, "return document.querySelector('[data-testid=ws-state]')?.dataset.state === 'open'");
    assert!(b.try_find("token-dialog").is_none(), "the token is asked for once");
    b.screenshot("token-accepted");
    no_console_errors(&b, "with a token");
}

/// Time to first render and per-update cost in the browser, written to
/// `target/browser-artifacts/perf.json` (the figures in BENCHMARKS.md): an operation with 5,000 orders or
/// more opened cold (REST, candles, markers, the orders page), and a 24-hour equity curve (86,400 points,
/// one a second) drawn and then updated live. The bounds only catch a collapse; the figures are the point.
#[test]
fn the_dashboard_stays_fast_with_a_day_of_equity_and_5000_orders() {
    let _one = serial();
    let Some(b) = launch("perf") else { return };
    let s = Server::start(2000.0);
    let op = s.post_json(
        "/api/operations",
        &json!({ "asset": "EUR_USD", "bar_sizes": ["1 min"], "strategy_name": "ema_cross",
                 "strategy_config": { "fast": 2, "slow": 3, "trade_size": 1000 }, "stop_loss_type": "PIPS", "stop_loss_value": 10 }),
    );
    assert_eq!(op.status, 201, "{}", op.text);
    let orders = poll("5,000 orders", Duration::from_secs(240), || {
        let r = s.get("/api/operations/1/orders?limit=1");
        let n: u64 = r.header("X-Total-Count")?.parse().ok()?;
        (n >= 5000).then_some(n)
    });
    // Paused: the page is measured drawing 5,000 orders, not racing thousands more a second on 2 cores
    // (bars and prices go on updating live).
    assert_eq!(s.post_json("/api/operations/1/pause", &json!({})).status, 200);
    let base = format!("http://{}", s.addr);
    b.goto(&format!("{base}/#/operations/1"));
    let first = b.wait_js(
        "the operation page's first render",
        60,
        "const p = (window.__pinionPerf?.updates || []).find(u => u[0] === 'operation-page-first-render'); return p ? p[1] : null",
    );
    let ready = b.js("return window.__pinionReady", json!([]));
    b.wait_js("markers", 30, "return Number(document.querySelector('[data-testid=price-chart]')?.dataset.markers || 0) > 0");
    // Live price updates for a while, then their cost.
    std::thread::sleep(Duration::from_secs(6));
    let price_updates = b.js(
        "const u = window.__pinionPerf.updates.filter(x => x[0] === 'price-update').map(x => x[1]); return { n: u.length, mean: u.reduce((a, b) => a + b, 0) / Math.max(1, u.length), max: Math.max(0, ...u) }",
        json!([]),
    );
    let table = b.js(
        "const u = window.__pinionPerf.updates.filter(x => x[0] === 'operation-orders-table').map(x => x[1]); return Math.max(0, ...u)",
        json!([]),
    );
    b.screenshot("operation-5000-orders");
    // Started, then polled: the run takes longer than one WebDriver exchange may.
    let bench = |n: u32| {
        b.js(&format!("window.__bench = null; window.__pinionBenchEquity({n}, 120).then(r => {{ window.__bench = r; }});"), json!([]));
        b.wait_js("the equity benchmark", 180, "return window.__bench")
    };
    // 86,400 points: a day at one a second; 20,000: the same day as the page loads it (`max_points`).
    let equity = bench(86_400);
    let equity_page = bench(20_000);
    let figures = json!({
        "orders": orders,
        "operation_page_first_render_ms": first,
        "page_ready_ms": ready,
        "orders_table_page_render_ms": table,
        "price_chart_live_update_ms": price_updates,
        "equity_24h": equity,
        "equity_24h_as_loaded": equity_page,
    });
    eprintln!("dashboard performance: {figures:#}");
    let dir = browser_support::artifacts_dir();
    std::fs::create_dir_all(&dir).expect("the artifacts directory");
    std::fs::write(dir.join("perf.json"), serde_json::to_vec_pretty(&figures).unwrap_or_default()).expect("perf.json");
    // The figures go to BENCHMARKS.md from a quiet machine; here only a collapse fails (a shared
    // 2-core CI machine runs other tests alongside the browser).
    assert!(first.as_f64().is_some_and(|ms| ms < 20_000.0), "first render of a 5,000-order operation: {first}");
    assert!(equity_page["first_render_ms"].as_f64().is_some_and(|ms| ms < 20_000.0), "24 h equity curve as loaded: {equity_page}");
    assert!(equity_page["update"]["mean"].as_f64().is_some_and(|ms| ms < 100.0), "an equity update collapsed: {equity_page}");
    no_console_errors(&b, "in the performance run");
}
