//! The dashboard's static files, compiled into the binary: `GET /` answers the page, `GET
//! /assets/<version>/<file>` its styles, ES modules and the vendored chart library.
//!
//! Why this shape: no build step and nothing to install, so the files are served as written. Each is
//! gzipped once (on first use) and answered compressed to clients that accept it, with a strong ETag
//! (a 304 for a matching `If-None-Match`). `<version>` is a hash of every asset, written into the page,
//! so the assets are cached for a year as immutable and a new build is fetched at once; the page
//! itself is revalidated on every load. Every answer carries a strict Content-Security-Policy: scripts,
//! styles and connections from this origin only, no inline code, no framing.

use crate::api::{Reply, Request};
use std::io::Write;
use std::sync::OnceLock;

/// The policy of every dashboard answer. `connect-src 'self'` covers `/ws` on this origin.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; \
                       font-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

macro_rules! asset {
    ($name:literal, $mime:literal) => {
        ($name, $mime, include_bytes!(concat!("../../assets/", $name)) as &'static [u8])
    };
}

/// (file name under `/assets/<version>/`, MIME type, bytes).
const FILES: &[(&str, &str, &[u8])] = &[
    asset!("app.css", "text/css; charset=utf-8"),
    asset!("app.js", "text/javascript; charset=utf-8"),
    asset!("api.js", "text/javascript; charset=utf-8"),
    asset!("state.js", "text/javascript; charset=utf-8"),
    asset!("dom.js", "text/javascript; charset=utf-8"),
    asset!("header.js", "text/javascript; charset=utf-8"),
    asset!("account.js", "text/javascript; charset=utf-8"),
    asset!("operations.js", "text/javascript; charset=utf-8"),
    asset!("operation_page.js", "text/javascript; charset=utf-8"),
    asset!("session.js", "text/javascript; charset=utf-8"),
    asset!("risk.js", "text/javascript; charset=utf-8"),
    asset!("logs.js", "text/javascript; charset=utf-8"),
    asset!("vendor/lightweight-charts.standalone.production.js", "text/javascript; charset=utf-8"),
    asset!("vendor/LICENSE-lightweight-charts.txt", "text/plain; charset=utf-8"),
];

const INDEX: &[u8] = include_bytes!("../../assets/index.html");

/// One file ready to answer.
struct Prepared {
    name: &'static str,
    mime: &'static str,
    plain: Vec<u8>,
    gzip: Vec<u8>,
    etag: String,
}

struct Bundle {
    version: String,
    index: Prepared,
    files: Vec<Prepared>,
}

/// FNV-1a, 64 bits: a stable content hash for ETags and the asset version (not a security measure).
fn fnv(bytes: &[u8], seed: u64) -> u64 {
    bytes.iter().fold(seed, |h, b| (h ^ *b as u64).wrapping_mul(0x0000_0100_0000_01b3))
}

const FNV_SEED: u64 = 0xcbf2_9ce4_8422_2325;

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::with_capacity(data.len() / 3), flate2::Compression::best());
    // Writing to a Vec cannot fail.
    let _ = enc.write_all(data);
    enc.finish().unwrap_or_default()
}

fn prepare(name: &'static str, mime: &'static str, plain: Vec<u8>) -> Prepared {
    let etag = format!("\"{:016x}\"", fnv(&plain, FNV_SEED));
    Prepared { name, mime, gzip: gzip(&plain), plain, etag }
}

fn bundle() -> &'static Bundle {
    static B: OnceLock<Bundle> = OnceLock::new();
    B.get_or_init(|| {
        let all = FILES.iter().fold(fnv(INDEX, FNV_SEED), |h, (n, _, b)| fnv(b, fnv(n.as_bytes(), h)));
        let version = format!("{:010x}", all & 0xff_ffff_ffff);
        let page = String::from_utf8_lossy(INDEX).replace("{{V}}", &version);
        let index = prepare("index.html", "text/html; charset=utf-8", page.into_bytes());
        let files = FILES.iter().map(|(n, m, b)| prepare(n, m, b.to_vec())).collect();
        Bundle { version, index, files }
    })
}

/// The version segment of this build's asset URLs.
pub fn version() -> &'static str {
    &bundle().version
}

/// True for the paths of the page and its assets: served without the token (they hold no data; the
/// page asks for the token and sends it on every API call).
pub fn is_public(path: &str) -> bool {
    matches!(path, "/" | "/index.html" | "/favicon.ico") || path.starts_with("/assets/")
}

fn answer(req: &Request, f: &'static Prepared, cache: &'static str) -> Reply {
    let base = Reply::new(200, serde_json::Value::Null)
        .with_header("ETag", f.etag.clone())
        .with_header("Cache-Control", cache)
        .with_header("Vary", "Accept-Encoding")
        .with_header("Content-Security-Policy", CSP)
        .with_header("X-Content-Type-Options", "nosniff")
        .with_header("Referrer-Policy", "no-referrer")
        .with_header("X-Frame-Options", "DENY");
    let matched = req.if_none_match.as_deref().is_some_and(|v| v.split(',').any(|t| t.trim().trim_start_matches("W/") == f.etag));
    if matched {
        return Reply { status: 304, ..base };
    }
    let gz = req.accept_encoding.as_deref().is_some_and(|v| {
        v.split(',').any(|e| {
            let mut it = e.split(';');
            it.next().is_some_and(|n| n.trim().eq_ignore_ascii_case("gzip")) && !it.any(|p| p.trim().replace(' ', "") == "q=0")
        })
    });
    let r = base.with_header("Content-Type", f.mime);
    if gz {
        Reply { raw: Some(&f.gzip), ..r.with_header("Content-Encoding", "gzip") }
    } else {
        Reply { raw: Some(&f.plain), ..r }
    }
}

/// Answers `GET /`, `/index.html` and `/assets/...`; None for any other request. An unknown asset is a
/// 404; an asset under another version is served but not cached (a page from an older build).
pub fn route(req: &Request) -> Option<Reply> {
    if req.method != "GET" || !is_public(&req.path) {
        return None;
    }
    let b = bundle();
    if matches!(req.path.as_str(), "/" | "/index.html") {
        return Some(answer(req, &b.index, "no-cache"));
    }
    if req.path == "/favicon.ico" {
        return Some(Reply::no_content().with_header("Cache-Control", "public, max-age=86400"));
    }
    let rest = req.path.trim_start_matches("/assets/");
    let (v, name) = rest.split_once('/')?;
    let cache = if v == b.version { "public, max-age=31536000, immutable" } else { "no-cache" };
    match b.files.iter().find(|f| f.name == name) {
        Some(f) => Some(answer(req, f, cache)),
        None => Some(crate::api::ApiError::not_found(format!("no dashboard asset {name:?}")).into_reply()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get(path: &str, enc: Option<&str>, inm: Option<&str>) -> Reply {
        let req = Request {
            method: "GET".into(),
            path: path.into(),
            accept_encoding: enc.map(String::from),
            if_none_match: inm.map(String::from),
            ..Request::default()
        };
        route(&req).expect("a dashboard path")
    }

    #[test]
    fn the_page_names_versioned_assets_and_is_revalidated() {
        let r = get("/", None, None);
        assert_eq!((r.status, r.header("Cache-Control")), (200, Some("no-cache")));
        let page = String::from_utf8_lossy(r.raw.unwrap_or_default()).to_string();
        assert!(page.contains(&format!("/assets/{}/app.js", version())), "{page}");
        assert!(!page.contains("{{V}}"));
        assert_eq!(r.header("Content-Security-Policy"), Some(CSP));
    }

    #[test]
    fn assets_are_gzipped_cached_and_answer_304() {
        let path = format!("/assets/{}/app.js", version());
        let plain = get(&path, None, None);
        let gz = get(&path, Some("br, gzip;q=0.8"), None);
        assert_eq!(gz.header("Content-Encoding"), Some("gzip"));
        assert!(gz.raw.unwrap_or_default().len() < plain.raw.unwrap_or_default().len());
        assert_eq!(plain.header("Cache-Control"), Some("public, max-age=31536000, immutable"));
        assert_eq!(get(&path, Some("gzip;q=0"), None).header("Content-Encoding"), None);
        let etag = plain.header("ETag").unwrap_or_default().to_string();
        assert_eq!(get(&path, None, Some(&etag)).status, 304);
        assert_eq!(get("/assets/old/app.js", None, None).header("Cache-Control"), Some("no-cache"));
        assert_eq!(get(&format!("/assets/{}/nope.js", version()), None, None).status, 404);
        assert!(route(&Request { method: "GET".into(), path: "/api/x".into(), ..Request::default() }).is_none());
    }
}
