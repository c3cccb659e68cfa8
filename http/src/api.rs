//! Request and response plumbing shared by every handler: the `{"detail": ...}` error, query strings,
//! JSON bodies with their limits, and pagination.

use serde_json::{json, Map, Value};

/// An HTTP answer with a JSON body.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    pub status: u16,
    pub body: Value,
}

impl Reply {
    pub fn ok(body: Value) -> Reply {
        Reply { status: 200, body }
    }
    pub fn created(body: Value) -> Reply {
        Reply { status: 201, body }
    }
    pub fn accepted(body: Value) -> Reply {
        Reply { status: 202, body }
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
        Reply { status: self.status, body: json!({ "detail": self.detail }) }
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
    pub fn query_param(&self, name: &str) -> Option<&str> {
        self.query.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    /// Parses the body as a JSON object; content type must be JSON.
    pub fn json_object(&self) -> Result<Map<String, Value>, ApiError> {
        self.require_json_type()?;
        if self.body.iter().all(|c| c.is_ascii_whitespace()) {
            return Err(ApiError::bad_request("request body is empty: expected a JSON object"));
        }
        crate::json_body::reject_duplicate_keys(&self.body)?;
        let v: Value =
            serde_json::from_slice(&self.body).map_err(|e| ApiError::bad_request(format!("request body is not valid JSON: {e}")))?;
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

    /// Refuses a body whose Content-Type is not `application/json` (400).
    pub fn require_json_type(&self) -> Result<(), ApiError> {
        match &self.content_type {
            Some(ct) if ct.split(';').next().is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json")) => Ok(()),
            Some(ct) => Err(ApiError::new(400, format!("Content-Type must be application/json, got {ct:?}"))),
            None => Err(ApiError::new(400, "Content-Type must be application/json")),
        }
    }
}

/// `limit`/`offset` of a growing list (default 100, max 1000).
pub fn page(req: &Request) -> Result<(usize, usize), ApiError> {
    let parse = |name: &str, default: usize, max: usize| -> Result<usize, ApiError> {
        match req.query_param(name) {
            None => Ok(default),
            Some(v) => match v.parse::<usize>() {
                Ok(n) if n <= max => Ok(n),
                _ => Err(ApiError::field(name, format!("must be an integer between 0 and {max}, got {v:?}"))),
            },
        }
    };
    Ok((parse("limit", 100, 1000)?, parse("offset", 0, usize::MAX)?))
}

/// Newest-first page of `items` (stored oldest first) rendered with `f`.
pub fn newest_first<T>(items: &[T], limit: usize, offset: usize, f: impl Fn(&T) -> Value) -> Value {
    Value::Array(items.iter().rev().skip(offset).take(limit).map(f).collect())
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
}
