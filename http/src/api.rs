//! Request and response plumbing shared by every handler: the `{"detail": ...}` error, query strings,
//! JSON bodies with their limits, the bearer token check, and pagination (`limit`/`offset`, answered
//! with `X-Total-Count` and an RFC 8288 `Link: <...>; rel="next"`).

use serde_json::{json, Map, Value};

/// An HTTP answer with a JSON body (none for 204) and any headers beyond `Content-Type`.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    pub status: u16,
    pub body: Value,
    pub headers: Vec<(&'static str, String)>,
    /// A body sent as these bytes instead of `body` (the dashboard's static files; set Content-Type).
    pub raw: Option<&'static [u8]>,
}

impl Reply {
    pub fn new(status: u16, body: Value) -> Reply {
        Reply { status, body, headers: Vec::new(), raw: None }
    }
    pub fn ok(body: Value) -> Reply {
        Reply::new(200, body)
    }
    pub fn created(body: Value) -> Reply {
        Reply::new(201, body)
    }
    pub fn accepted(body: Value) -> Reply {
        Reply::new(202, body)
    }
    /// A 204 answer: no body, only headers.
    pub fn no_content() -> Reply {
        Reply::new(204, Value::Null)
    }
    /// Adds a header (the caller keeps names unique).
    pub fn with_header(mut self, name: &'static str, value: impl Into<String>) -> Reply {
        self.headers.push((name, value.into()));
        self
    }
    /// The value of header `name`, if set.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

/// An error answered as `{"detail": "..."}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: u16,
    pub detail: String,
}

impl ApiError {
    pub fn new(status: u16, detail: impl Into<String>) -> ApiError {
        ApiError { status, detail: detail.into() }
    }
    pub fn bad_request(detail: impl Into<String>) -> ApiError {
        ApiError::new(400, detail)
    }
    /// A 400 naming the offending field.
    pub fn field(field: &str, msg: impl std::fmt::Display) -> ApiError {
        ApiError::new(400, format!("{field}: {msg}"))
    }
    pub fn not_found(detail: impl Into<String>) -> ApiError {
        ApiError::new(404, detail)
    }
    pub fn conflict(detail: impl Into<String>) -> ApiError {
        ApiError::new(409, detail)
    }
    pub fn unavailable(detail: impl Into<String>) -> ApiError {
        ApiError::new(503, detail)
    }
    pub fn into_reply(self) -> Reply {
        Reply::new(self.status, json!({ "detail": self.detail }))
    }
}

pub type ApiResult = Result<Reply, ApiError>;

/// An incoming request, already read (body size-limited) and split.
#[derive(Debug, Clone, Default)]
pub struct Request {
    pub method: String,
    pub path: String,
    pub query: Vec<(String, String)>,
    pub content_type: Option<String>,
    pub body: Vec<u8>,
    /// The `Accept-Encoding` header (the dashboard's assets are answered gzipped when it allows).
    pub accept_encoding: Option<String>,
    /// The `If-None-Match` header (a matching ETag is answered 304).
    pub if_none_match: Option<String>,
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => {
                let hex = |c: u8| (c as char).to_digit(16);
                match (hex(b[i + 1]), hex(b[i + 2])) {
                    (Some(h), Some(l)) => {
                        out.push((h * 16 + l) as u8);
                        i += 2;
                    }
                    _ => out.push(b'%'),
                }
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Splits `/a/b?x=1&y=2` into the path and decoded query pairs.
pub fn split_url(url: &str) -> (String, Vec<(String, String)>) {
    let (path, q) = url.split_once('?').unwrap_or((url, ""));
    let query = q
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect();
    (path.to_string(), query)
}

impl Request {
    /// A `POST` of a JSON body (`Content-Type: application/json`), as in-process callers send one.
    pub fn post_json(path: &str, body: &str) -> Request {
        Request {
            method: "POST".into(),
            path: path.into(),
            content_type: Some("application/json".into()),
            body: body.as_bytes().to_vec(),
            ..Default::default()
        }
    }

    pub fn query_param(&self, name: &str) -> Option<&str> {
        self.query.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    /// Parses the body as a JSON object; content type must be JSON.
    pub fn json_object(&self) -> Result<Map<String, Value>, ApiError> {
        self.require_json_type()?;
        if self.body.iter().all(|c| c.is_ascii_whitespace()) {
            return Err(ApiError::bad_request("request body is empty: expected a JSON object"));
        }
        let v: Value =
            serde_json::from_slice(&self.body).map_err(|e| ApiError::bad_request(format!("request body is not valid JSON: {e}")))?;
        crate::json_body::reject_duplicate_keys(&self.body)?;
        match v {
            Value::Object(m) => Ok(m),
            _ => Err(ApiError::bad_request("request body must be a JSON object")),
        }
    }

    /// Like [`json_object`](Self::json_object) but an absent/empty body is an empty object.
    pub fn optional_json_object(&self) -> Result<Map<String, Value>, ApiError> {
        if self.body.iter().all(|c| c.is_ascii_whitespace()) {
            return Ok(Map::new());
        }
        self.json_object()
    }

    /// Checks `Content-Type: application/json` (parameters such as a charset allowed).
    pub fn require_json_type(&self) -> Result<(), ApiError> {
        match &self.content_type {
            Some(ct) if ct.split(';').next().is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json")) => Ok(()),
            Some(ct) => Err(ApiError::new(400, format!("Content-Type must be application/json, got {ct:?}"))),
            None => Err(ApiError::new(400, "Content-Type must be application/json")),
        }
    }
}

/// Checks an `Authorization` header value against the expected bearer token: the scheme is matched
/// case-insensitively (RFC 9110), the token exactly and in constant time.
pub fn bearer_matches(authorization: Option<&str>, expected: &str) -> bool {
    let given = authorization.and_then(|v| {
        let (scheme, rest) = v.trim().split_once(' ')?;
        scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
    });
    given.is_some_and(|t| constant_time_eq(t.as_bytes(), expected.as_bytes()))
}

/// Equality whose time does not depend on where the inputs differ.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Most rows one page may hold; also the `limit` default is [`DEFAULT_LIMIT`].
pub const MAX_LIMIT: usize = 1000;
pub const DEFAULT_LIMIT: usize = 100;

/// `limit`/`offset` of a list request, and its `before_id` cursor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    /// Most rows in the answer (1..=1000).
    pub limit: usize,
    /// Rows skipped (after the cursor, if any).
    pub offset: usize,
    /// Only rows whose id is below this (lists newest first: the next page of a client that saw id N
    /// asks `before_id=N`; rows arriving meanwhile never shift it, unlike `offset`).
    pub before_id: Option<u64>,
}

/// Reads `limit` (1..=1000, default 100), `offset` (>= 0, default 0) and `before_id` (>= 1, optional);
/// a bad one is a 400 naming it.
pub fn page(req: &Request) -> Result<Page, ApiError> {
    let parse = |name: &str, default: usize, min: usize, max: usize| -> Result<usize, ApiError> {
        let Some(v) = req.query_param(name) else { return Ok(default) };
        match v.parse::<usize>() {
            Ok(n) if (min..=max).contains(&n) => Ok(n),
            _ if max == usize::MAX => Err(ApiError::field(name, format!("must be an integer of at least {min}, got {v:?}"))),
            _ => Err(ApiError::field(name, format!("must be an integer between {min} and {max}, got {v:?}"))),
        }
    };
    let before_id = match req.query_param("before_id") {
        None => None,
        Some(v) => match v.parse::<u64>() {
            Ok(n) if n >= 1 => Some(n),
            _ => return Err(ApiError::field("before_id", format!("must be a row id (an integer of at least 1), got {v:?}"))),
        },
    };
    Ok(Page { limit: parse("limit", DEFAULT_LIMIT, 1, MAX_LIMIT)?, offset: parse("offset", 0, 0, usize::MAX)?, before_id })
}

/// One page of a list: the rendered rows and how many rows the whole (filtered) list holds.
#[derive(Debug, Clone, PartialEq)]
pub struct Listed {
    /// The rendered rows (a JSON array).
    pub rows: Value,
    /// Rows in the whole list after filtering (`X-Total-Count`).
    pub total: usize,
    /// The page asked for.
    pub page: Page,
    /// With a `before_id` cursor: the id of this page's last row when more rows follow it.
    pub cursor_next: Option<u64>,
}

/// The page `p` of `items` (already in answer order) rendered with `f`, with the list's total. For lists
/// without row ids (positions); `before_id` does not apply to them.
pub fn take_page<I: IntoIterator>(items: I, p: Page, f: impl FnMut(I::Item) -> Value) -> Listed
where
    I::IntoIter: ExactSizeIterator,
{
    let it = items.into_iter();
    let total = it.len();
    Listed { rows: Value::Array(it.skip(p.offset).take(p.limit).map(f).collect()), total, page: p, cursor_next: None }
}

/// The page `p` of `items_desc` (newest first, ids decreasing; `total` of them) rendered with `f`:
/// rows at or above `before_id` are skipped first, then `offset` rows.
pub fn take_page_by_id<T>(
    items_desc: impl Iterator<Item = T>,
    total: usize,
    p: Page,
    id_of: impl Fn(&T) -> u64,
    mut f: impl FnMut(T) -> Value,
) -> Listed {
    let mut rest = items_desc.skip_while(|t| p.before_id.is_some_and(|b| id_of(t) >= b)).skip(p.offset);
    let (mut rows, mut last) = (Vec::new(), None);
    for t in rest.by_ref().take(p.limit) {
        last = Some(id_of(&t));
        rows.push(f(t));
    }
    let cursor_next = if rest.next().is_some() { last } else { None };
    Listed { rows: Value::Array(rows), total, page: p, cursor_next }
}

/// Newest-first page of `items` (stored oldest first, ids increasing) rendered with `f`.
pub fn newest_first<T>(items: &[T], p: Page, id_of: impl Fn(&T) -> u64, f: impl Fn(&T) -> Value) -> Listed {
    take_page_by_id(items.iter().rev(), items.len(), p, |t| id_of(t), f)
}

impl Listed {
    /// The 200 answer: the rows, `X-Total-Count`, and `Link: <...>; rel="next"` when rows remain past
    /// this page: with a `before_id` cursor, the same URL with `before_id` set to this page's last id
    /// (and no `offset`); otherwise with `offset` advanced. Every other parameter is kept.
    pub fn reply(self, req: &Request) -> Reply {
        let mut r = Reply::ok(self.rows).with_header("X-Total-Count", self.total.to_string());
        let link = match (self.page.before_id, self.cursor_next) {
            (Some(_), Some(last)) => {
                let mut without_offset = req.clone();
                without_offset.query.retain(|(k, _)| k != "offset");
                Some(url_with(&without_offset, "before_id", &last.to_string()))
            }
            (Some(_), None) => None,
            (None, _) => {
                let next = self.page.offset.saturating_add(self.page.limit);
                (next < self.total).then(|| url_with(req, "offset", &next.to_string()))
            }
        };
        if let Some(url) = link {
            r = r.with_header("Link", format!("<{url}>; rel=\"next\""));
        }
        r
    }
}

/// Percent-encodes everything but RFC 3986 unreserved characters.
fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The request's path and query with parameter `name` set to `value` (replacing it, or appended).
pub fn url_with(req: &Request, name: &str, value: &str) -> String {
    let mut pairs: Vec<(&str, &str)> = req.query.iter().filter(|(k, _)| k != name).map(|(k, v)| (k.as_str(), v.as_str())).collect();
    pairs.push((name, value));
    let q: Vec<String> = pairs.iter().map(|(k, v)| format!("{}={}", percent_encode(k), percent_encode(v))).collect();
    format!("{}?{}", req.path, q.join("&"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_split_and_decode() {
        let (p, q) = split_url("/api/operations?status=active&x=a%20b+c");
        assert_eq!(p, "/api/operations");
        assert_eq!(q, vec![("status".into(), "active".into()), ("x".into(), "a b c".into())]);
        assert_eq!(split_url("/x?bad=%zz").1, vec![("bad".into(), "%zz".into())]);
        assert_eq!(split_url("/x?t=%4").1, vec![("t".into(), "%4".into())]);
    }

    fn req(url: &str) -> Request {
        let (path, query) = split_url(url);
        Request { method: "GET".into(), path, query, ..Request::default() }
    }

    #[test]
    fn page_ranges_name_the_field() {
        assert_eq!(page(&req("/l")).unwrap(), Page { limit: 100, offset: 0, before_id: None });
        assert_eq!(page(&req("/l?limit=1000&offset=5")).unwrap(), Page { limit: 1000, offset: 5, before_id: None });
        for (q, field) in [
            ("limit=0", "limit"),
            ("limit=1001", "limit"),
            ("limit=-1", "limit"),
            ("limit=", "limit"),
            ("offset=-1", "offset"),
            ("offset=x", "offset"),
        ] {
            let e = page(&req(&format!("/l?{q}"))).unwrap_err();
            assert_eq!(e.status, 400, "{q}");
            assert!(e.detail.starts_with(&format!("{field}: ")), "{q}: {}", e.detail);
        }
    }

    #[test]
    fn pages_count_the_total_and_link_the_next_one() {
        let items = [1, 2, 3, 4, 5];
        let r = req("/l?status=a%20b&limit=2&offset=1");
        let listed = newest_first(&items, page(&r).unwrap(), |x| *x as u64, |x| json!(x));
        assert_eq!((listed.rows.clone(), listed.total), (json!([4, 3]), 5));
        let reply = listed.reply(&r);
        assert_eq!(reply.header("X-Total-Count"), Some("5"));
        assert_eq!(reply.header("Link"), Some("</l?status=a%20b&limit=2&offset=3>; rel=\"next\""));
        // The last page links nowhere; past the end is empty and still counts.
        let last = req("/l?limit=2&offset=3");
        assert_eq!(newest_first(&items, page(&last).unwrap(), |x| *x as u64, |x| json!(x)).reply(&last).header("Link"), None);
        let past = take_page(items.iter(), Page { limit: 2, offset: 9, before_id: None }, |x| json!(x));
        assert_eq!((past.rows, past.total), (json!([]), 5));
    }

    #[test]
    fn bearer_scheme_is_case_insensitive() {
        for h in ["Bearer s3cr t", "bearer s3cr t", "BEARER  s3cr t ", " Bearer s3cr t"] {
            assert!(bearer_matches(Some(h), "s3cr t"), "{h:?}");
        }
        for h in ["Bearer s3cr", "Basic s3cr t", "Bearers3cr t", "s3cr t", ""] {
            assert!(!bearer_matches(Some(h), "s3cr t"), "{h:?}");
        }
        assert!(!bearer_matches(None, "x"));
    }

    #[test]
    fn a_before_id_cursor_pages_without_drift() {
        let mut items: Vec<u64> = (1..=7).collect();
        let r = req("/l?limit=3&before_id=7&x=1");
        let first = newest_first(&items, page(&r).unwrap(), |x| *x, |x| json!(x));
        assert_eq!(first.rows, json!([6, 5, 4]));
        let link = first.clone().reply(&r).header("Link").map(str::to_string);
        assert_eq!(link.as_deref(), Some("</l?limit=3&x=1&before_id=4>; rel=\"next\""));
        // Rows arriving meanwhile do not shift the next page.
        items.extend(8..=20);
        let next = req("/l?limit=3&x=1&before_id=4");
        let second = newest_first(&items, page(&next).unwrap(), |x| *x, |x| json!(x));
        assert_eq!(second.rows, json!([3, 2, 1]));
        assert_eq!(second.reply(&next).header("Link"), None, "nothing below 1");
        assert_eq!(page(&req("/l?before_id=0")).unwrap_err().detail.split(':').next(), Some("before_id"));
    }
}
