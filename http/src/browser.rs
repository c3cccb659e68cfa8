//! What the REST server and the front do for browsers: the `allowed_origins` gate (a state-changing
//! request or a `/ws` upgrade from any other `Origin` is refused 403 before anything runs), CORS
//! headers and preflights for the allowed origins, and the JSON `Content-Type` rule of
//! state-changing requests. Requests without an `Origin` header (curl, scripts) pass the gate.

use crate::api::{ApiError, Reply, Request};

/// Headers a browser may send on a cross-origin request.
pub const ALLOW_HEADERS: &str = "Authorization, Content-Type";
/// Response headers a browser script may read.
pub const EXPOSE_HEADERS: &str = "X-Total-Count, Link, Location";
/// Seconds a browser may cache a preflight answer.
pub const MAX_AGE_SECS: u32 = 600;

/// Checks and normalizes one configured origin: `scheme://host[:port]`, lowercased, without a path
/// (a trailing `/` is dropped).
pub fn parse_origin(raw: &str) -> Result<String, String> {
    let o = raw.trim().trim_end_matches('/').to_ascii_lowercase();
    let rest = o
        .strip_prefix("http://")
        .or_else(|| o.strip_prefix("https://"))
        .ok_or_else(|| format!("origin {raw:?} must start with http:// or https://"))?;
    if rest.is_empty() || rest.contains(['/', '?', '#', '@', ' ', ',']) {
        return Err(format!("origin {raw:?} must be scheme://host[:port] with no path, query or user"));
    }
    Ok(o)
}

/// True when `origin` (a request's `Origin` header) is one of `allowed` (normalized origins).
pub fn origin_allowed(allowed: &[String], origin: &str) -> bool {
    let o = origin.trim().trim_end_matches('/');
    allowed.iter().any(|a| a.eq_ignore_ascii_case(o))
}

/// True when `origin` is the origin of the page this server itself serves: `http(s)://` plus the
/// request's `Host`, and that host is `localhost` or a literal IP address (IPv4, or IPv6 in brackets).
/// A host name is not trusted this way (DNS rebinding could point a foreign page's name at this server);
/// list it in `allowed_origins` instead.
pub fn same_origin(origin: &str, host: Option<&str>) -> bool {
    let Some(host) = host.map(str::trim).filter(|h| !h.is_empty()) else { return false };
    let o = origin.trim().trim_end_matches('/');
    let Some(rest) = o.strip_prefix("http://").or_else(|| o.strip_prefix("https://")) else { return false };
    if !rest.eq_ignore_ascii_case(host) {
        return false;
    }
    let name = match host.strip_prefix('[') {
        Some(v6) => {
            return v6
                .split_once(']')
                .is_some_and(|(a, port)| a.parse::<std::net::Ipv6Addr>().is_ok() && (port.is_empty() || port.starts_with(':')))
        }
        None => host.rsplit_once(':').map_or(host, |(h, _)| h),
    };
    name.eq_ignore_ascii_case("localhost") || name.parse::<std::net::Ipv4Addr>().is_ok()
}

/// True for the methods that change state.
pub fn is_state_changing(method: &str) -> bool {
    matches!(method, "POST" | "PUT" | "PATCH" | "DELETE")
}

/// The gate: a request from a browser origin that is not allowed may only read (GET, HEAD); a
/// state-changing request or a preflight (OPTIONS) from it is refused.
pub fn check_origin(allowed: &[String], method: &str, origin: Option<&str>) -> Result<(), ApiError> {
    match origin {
        Some(o) if !origin_allowed(allowed, o) && (is_state_changing(method) || method == "OPTIONS") => Err(refusal(o)),
        _ => Ok(()),
    }
}

/// The 403 of an origin that is not allowed.
pub fn refusal(origin: &str) -> ApiError {
    ApiError::new(
        403,
        format!("origin {origin:?} not allowed: add it to allowed_origins (PINION_ALLOWED_ORIGINS) to call this server from a browser"),
    )
}

/// Adds the CORS headers of an allowed `origin` to `reply` (none for other origins or no origin).
pub fn with_cors(reply: Reply, allowed: &[String], origin: Option<&str>) -> Reply {
    match origin {
        Some(o) if origin_allowed(allowed, o) => reply
            .with_header("Access-Control-Allow-Origin", o.trim())
            .with_header("Vary", "Origin")
            .with_header("Access-Control-Expose-Headers", EXPOSE_HEADERS),
        _ => reply,
    }
}

/// The 204 answer to a preflight from an allowed origin: the path's methods (`allow`), the headers
/// a browser may send, and how long it may cache this. CORS headers are added by [`with_cors`].
pub fn preflight(allow: &str) -> Reply {
    Reply::no_content()
        .with_header("Allow", allow)
        .with_header("Access-Control-Allow-Methods", allow)
        .with_header("Access-Control-Allow-Headers", ALLOW_HEADERS)
        .with_header("Access-Control-Max-Age", MAX_AGE_SECS.to_string())
}

/// The JSON rule of state-changing requests: a POST always needs `Content-Type: application/json`;
/// PUT, PATCH and DELETE need it when they carry a body or any `Content-Type`. Other methods pass.
pub fn check_content_type(req: &Request) -> Result<(), ApiError> {
    let has_body = !req.body.is_empty() || req.content_type.is_some();
    if req.method == "POST" || (is_state_changing(&req.method) && has_body) {
        req.require_json_type()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allowed() -> Vec<String> {
        vec![parse_origin("https://App.example.com/").unwrap(), parse_origin("http://localhost:3000").unwrap()]
    }

    #[test]
    fn origins_parse_and_match_exactly() {
        assert_eq!(allowed(), vec!["https://app.example.com".to_string(), "http://localhost:3000".to_string()]);
        for bad in ["app.example.com", "ftp://x", "https://", "https://x/path", "https://a,https://b", "*"] {
            assert!(parse_origin(bad).is_err(), "{bad}");
        }
        assert!(origin_allowed(&allowed(), "https://app.example.com"));
        assert!(origin_allowed(&allowed(), "HTTPS://APP.EXAMPLE.COM"));
        assert!(!origin_allowed(&allowed(), "https://app.example.com:8443"));
        assert!(!origin_allowed(&allowed(), "http://app.example.com"));
        assert!(!origin_allowed(&allowed(), "null"));
        assert!(!origin_allowed(&[], "http://localhost:3000"));
    }

    #[test]
    fn the_page_own_origin_is_its_host_on_literal_addresses_only() {
        assert!(same_origin("http://127.0.0.1:8000", Some("127.0.0.1:8000")));
        assert!(same_origin("http://localhost:8000/", Some("LOCALHOST:8000")));
        assert!(same_origin("http://[::1]:8000", Some("[::1]:8000")));
        assert!(!same_origin("http://127.0.0.1:8001", Some("127.0.0.1:8000")), "another port");
        assert!(!same_origin("http://evil.example:8000", Some("evil.example:8000")), "a host name may be rebound");
        assert!(!same_origin("http://127.0.0.1:8000", None));
        assert!(!same_origin("null", Some("127.0.0.1:8000")));
    }

    #[test]
    fn the_gate_refuses_only_foreign_browser_writes() {
        let a = allowed();
        assert!(check_origin(&a, "POST", None).is_ok());
        assert!(check_origin(&a, "DELETE", Some("http://localhost:3000")).is_ok());
        assert!(check_origin(&a, "GET", Some("https://evil.example")).is_ok());
        for m in ["POST", "PUT", "PATCH", "DELETE", "OPTIONS"] {
            let e = check_origin(&a, m, Some("https://evil.example")).unwrap_err();
            assert_eq!(e.status, 403);
            assert!(e.detail.contains("origin \"https://evil.example\" not allowed"), "{}", e.detail);
        }
    }

    #[test]
    fn cors_headers_only_for_allowed_origins() {
        let a = allowed();
        let r = with_cors(Reply::ok(serde_json::json!({})), &a, Some("http://localhost:3000"));
        assert_eq!(r.header("Access-Control-Allow-Origin"), Some("http://localhost:3000"));
        assert_eq!(r.header("Vary"), Some("Origin"));
        assert!(with_cors(Reply::ok(serde_json::json!({})), &a, Some("https://evil.example")).headers.is_empty());
        assert!(with_cors(Reply::ok(serde_json::json!({})), &a, None).headers.is_empty());
        let p = preflight("GET, HEAD, OPTIONS");
        assert_eq!((p.status, p.header("Access-Control-Allow-Headers")), (204, Some(ALLOW_HEADERS)));
    }

    #[test]
    fn state_changes_need_json() {
        let req = |method: &str, ct: Option<&str>, body: &[u8]| Request {
            method: method.into(),
            content_type: ct.map(String::from),
            body: body.to_vec(),
            ..Request::default()
        };
        assert!(check_content_type(&req("POST", None, b"")).is_err());
        assert!(check_content_type(&req("POST", Some("text/plain"), b"{}")).is_err());
        assert!(check_content_type(&req("POST", Some("application/json; charset=utf-8"), b"")).is_ok());
        assert!(check_content_type(&req("DELETE", None, b"")).is_ok());
        assert!(check_content_type(&req("DELETE", None, b"{}")).is_err());
        assert!(check_content_type(&req("DELETE", Some("text/plain"), b"")).is_err());
        assert!(check_content_type(&req("GET", Some("text/plain"), b"x")).is_ok());
    }
}
