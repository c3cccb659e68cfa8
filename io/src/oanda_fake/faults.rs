//! Fault injection for the fake, driven from Rust (not HTTP): answer the next requests to a route
//! with 503 or 429, delay answers, execute a request but close the connection without answering,
//! change the required token, stall the pricing stream, and cut stream connections. Also the
//! registry of open connections that cutting (and shutting down) works on.

use std::collections::HashMap;
use std::net::{Shutdown, TcpStream};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// How a failed request is answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailWith {
    /// 503 Service Unavailable, `{"errorMessage": ...}`.
    Unavailable,
    /// 429 Too Many Requests with a `Retry-After` header (whole seconds, rounded up).
    TooManyRequests {
        /// The wait the header announces.
        retry_after: Duration,
    },
}

/// What a rule does to a matching request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    Fail(FailWith),
    Delay(Duration),
    Swallow,
}

/// A rule for the next `remaining` requests matching `method` (if any) and ending in `suffix`.
#[derive(Debug, Clone)]
struct Rule {
    method: Option<String>,
    suffix: String,
    remaining: u32,
    action: Action,
}

impl Rule {
    /// `route` is `"METHOD /path-suffix"`, `"/path-suffix"` or `"*"` (every request).
    fn new(route: &str, remaining: u32, action: Action) -> Rule {
        let route = route.trim();
        let (method, suffix) = match route.split_once(' ') {
            Some((m, s)) => (Some(m.trim().to_ascii_uppercase()), s.trim()),
            None => (None, route),
        };
        let suffix = if suffix == "*" { "" } else { suffix };
        Rule { method, suffix: suffix.to_string(), remaining, action }
    }

    fn matches(&self, method: &str, path: &str) -> bool {
        self.remaining > 0 && self.method.as_deref().is_none_or(|m| m == method) && path.ends_with(&self.suffix)
    }
}

/// What to do with one request, decided (and counted) when it arrives.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Plan {
    /// Answer with this failure instead of handling the request.
    pub fail: Option<FailWith>,
    /// Wait this long before writing the answer (after handling the request).
    pub delay: Option<Duration>,
    /// Handle the request, then close the connection without answering.
    pub swallow: bool,
}

/// What an open connection is serving.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ConnKind {
    Rest,
    Pricing,
    Transactions,
}

/// Open connections, so faults and shutdown can cut them.
#[derive(Debug, Default)]
pub(crate) struct Conns {
    next: u64,
    open: HashMap<u64, (ConnKind, TcpStream)>,
}

impl Conns {
    /// Registers a connection (a clone of its socket) and returns its key.
    pub fn add(&mut self, kind: ConnKind, s: TcpStream) -> u64 {
        self.next += 1;
        self.open.insert(self.next, (kind, s));
        self.next
    }
    /// Changes what a connection serves (a REST connection that became a stream).
    pub fn set_kind(&mut self, key: u64, kind: ConnKind) {
        if let Some(e) = self.open.get_mut(&key) {
            e.0 = kind;
        }
    }
    /// Forgets a closed connection.
    pub fn remove(&mut self, key: u64) {
        self.open.remove(&key);
    }
    /// Shuts down every connection of `kind` (all when None); returns how many.
    pub fn cut(&mut self, kind: Option<ConnKind>) -> usize {
        let mut n = 0;
        for (k, s) in self.open.values() {
            if kind.is_none_or(|want| want == *k) {
                let _ = s.shutdown(Shutdown::Both);
                n += 1;
            }
        }
        n
    }
    /// How many connections of `kind` are open.
    pub fn count(&self, kind: ConnKind) -> usize {
        self.open.values().filter(|(k, _)| *k == kind).count()
    }
}

/// The fault controls of a running fake; get them with [`FakeOanda::faults`](super::FakeOanda::faults).
///
/// Routes name requests as `"METHOD /path-suffix"` (`"POST /orders"`), `"/path-suffix"`
/// (`"/pricing/stream"`, any method) or `"*"` (every request); the suffix is matched against the
/// end of the request path, without the query.
#[derive(Debug, Default)]
pub struct Faults {
    rules: Mutex<Vec<Rule>>,
    delay_all: Mutex<Option<Duration>>,
    token: Mutex<Option<String>>,
    stall_until: Mutex<Option<Instant>>,
    pub(crate) conns: Mutex<Conns>,
}

/// Locks a mutex, taking the data even if a panicking thread poisoned it.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Faults {
    pub(crate) fn new(token: Option<String>) -> Faults {
        Faults { token: Mutex::new(token), ..Faults::default() }
    }

    fn add(&self, route: &str, n: u32, action: Action) {
        lock(&self.rules).push(Rule::new(route, n, action));
    }

    /// Answers the next `n` requests matching `route` with `with` instead of handling them.
    pub fn fail_next(&self, route: &str, n: u32, with: FailWith) {
        self.add(route, n, Action::Fail(with));
    }

    /// Answers the next `n` requests matching `route` with 503.
    pub fn fail_next_503(&self, route: &str, n: u32) {
        self.fail_next(route, n, FailWith::Unavailable);
    }

    /// Answers the next `n` requests matching `route` with 429 and `Retry-After`.
    pub fn fail_next_429(&self, route: &str, n: u32, retry_after: Duration) {
        self.fail_next(route, n, FailWith::TooManyRequests { retry_after });
    }

    /// Handles the next `n` requests matching `route` normally but writes each answer `delay` late.
    pub fn delay_next(&self, route: &str, n: u32, delay: Duration) {
        self.add(route, n, Action::Delay(delay));
    }

    /// Delays every answer by `delay` (None: no longer), on top of [`delay_next`](Self::delay_next).
    pub fn delay_all(&self, delay: Option<Duration>) {
        *lock(&self.delay_all) = delay;
    }

    /// Executes the next `n` requests matching `route` (an order fills, its transactions exist) but
    /// closes each connection without an answer.
    pub fn swallow_next(&self, route: &str, n: u32) {
        self.add(route, n, Action::Swallow);
    }

    /// Sets the token requests must carry as `Authorization: Bearer <token>` (None: any).
    /// A wrong or missing one gets 401 `{"errorMessage":"Insufficient authorization to perform request."}`.
    pub fn set_token(&self, token: Option<&str>) {
        *lock(&self.token) = token.map(str::to_string);
    }

    /// The token now required, if any.
    pub fn token(&self) -> Option<String> {
        lock(&self.token).clone()
    }

    /// Stalls every pricing stream for `d`: nothing is written, not even heartbeats; prices that
    /// arrive meanwhile are sent afterwards.
    pub fn stall_pricing(&self, d: Duration) {
        *lock(&self.stall_until) = Some(Instant::now() + d);
    }

    /// Whether pricing streams are stalled now.
    pub(crate) fn pricing_stalled(&self) -> bool {
        lock(&self.stall_until).is_some_and(|t| Instant::now() < t)
    }

    /// Cuts every open pricing stream connection; returns how many.
    pub fn drop_pricing_streams(&self) -> usize {
        lock(&self.conns).cut(Some(ConnKind::Pricing))
    }

    /// Cuts every open transaction stream connection; returns how many.
    pub fn drop_transaction_streams(&self) -> usize {
        lock(&self.conns).cut(Some(ConnKind::Transactions))
    }

    /// Open pricing stream connections.
    pub fn pricing_streams(&self) -> usize {
        lock(&self.conns).count(ConnKind::Pricing)
    }

    /// Open transaction stream connections.
    pub fn transaction_streams(&self) -> usize {
        lock(&self.conns).count(ConnKind::Transactions)
    }

    /// Removes every pending rule, the global delay and any stall (the token stays).
    pub fn clear(&self) {
        lock(&self.rules).clear();
        *lock(&self.delay_all) = None;
        *lock(&self.stall_until) = None;
    }

    /// Decides what happens to a request, using up one count of each rule applied.
    pub(crate) fn plan(&self, method: &str, path: &str) -> Plan {
        let mut plan = Plan { delay: *lock(&self.delay_all), ..Plan::default() };
        let mut rules = lock(&self.rules);
        let (mut failed, mut delayed, mut swallowed) = (false, false, false);
        for r in rules.iter_mut().filter(|r| r.matches(method, path)) {
            match r.action {
                Action::Fail(f) if !failed => {
                    plan.fail = Some(f);
                    failed = true;
                }
                Action::Delay(d) if !delayed => {
                    plan.delay = Some(plan.delay.unwrap_or_default() + d);
                    delayed = true;
                }
                Action::Swallow if !swallowed => {
                    plan.swallow = true;
                    swallowed = true;
                }
                _ => continue,
            }
            r.remaining -= 1;
        }
        rules.retain(|r| r.remaining > 0);
        plan
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_match_and_count_down() {
        let f = Faults::new(None);
        f.fail_next_503("POST /orders", 1);
        f.swallow_next("/orders", 1);
        f.delay_next("*", 2, Duration::from_millis(5));
        let first = f.plan("GET", "/v3/accounts/a/trades");
        assert_eq!((first.fail, first.swallow), (None, false));
        let p = f.plan("POST", "/v3/accounts/a/orders");
        assert_eq!(p.fail, Some(FailWith::Unavailable));
        assert!(p.swallow);
        // The two delays are used up by the first two requests.
        assert_eq!(p.delay, Some(Duration::from_millis(5)));
        assert_eq!(f.plan("POST", "/v3/accounts/a/orders"), Plan::default());
        f.fail_next_429("/pricing", 1, Duration::from_secs(2));
        assert_eq!(f.plan("GET", "/x/pricing").fail, Some(FailWith::TooManyRequests { retry_after: Duration::from_secs(2) }));
        f.stall_pricing(Duration::from_secs(60));
        assert!(f.pricing_stalled());
        f.clear();
        assert!(!f.pricing_stalled());
    }
}
