//! OANDA v20, the first live broker: its configuration (account, token, practice or live, hosts), a REST
//! client for the account, instruments and candles (`rest`), and the pricing stream that turns OANDA's
//! prices into ticks in the engine's ring (`pricing`, over `http_stream`). Shapes: `wire`.
//!
//! The token never leaves this module except in an `Authorization` header: [`Token`] has no `Display`,
//! no `Serialize`, and its `Debug` prints `***`. It is only sent over https, or over plain http to a
//! loopback address (the test fake); [`OandaConfig::new`] refuses anything else.

pub mod http_stream;
pub mod orders;
pub mod pricing;
pub mod rest;
pub mod transactions;
pub mod wire;

use std::fmt;
use thiserror::Error;

/// Practice (fxTrade Practice, the default) or live (fxTrade) account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Environment {
    /// A demo account: OANDA's practice hosts.
    Practice,
    /// Real money: OANDA's live hosts. Only when written explicitly.
    Live,
}

impl Environment {
    /// `practice` or `live`.
    pub fn as_str(self) -> &'static str {
        match self {
            Environment::Practice => "practice",
            Environment::Live => "live",
        }
    }

    /// Parses `practice` or `live` (exactly; nothing is guessed).
    pub fn parse(s: &str) -> Result<Environment, OandaError> {
        match s {
            "practice" => Ok(Environment::Practice),
            "live" => Ok(Environment::Live),
            other => Err(OandaError::Config(format!("environment must be \"practice\" or \"live\", got {other:?}"))),
        }
    }

    /// OANDA's REST and streaming hosts for this environment (developer.oanda.com/rest-live-v20/development-guide).
    pub fn default_urls(self) -> (&'static str, &'static str) {
        match self {
            Environment::Practice => ("https://api-fxpractice.oanda.com", "https://stream-fxpractice.oanda.com"),
            Environment::Live => ("https://api-fxtrade.oanda.com", "https://stream-fxtrade.oanda.com"),
        }
    }
}

/// An OANDA personal access token. Never printed, serialized or logged.
#[derive(Clone, PartialEq, Eq)]
pub struct Token(String);

impl Token {
    /// Wraps a token read from the environment or a file (surrounding whitespace removed).
    pub fn new(raw: &str) -> Result<Token, OandaError> {
        let t = raw.trim();
        if t.is_empty() {
            return Err(OandaError::Config("the OANDA token is empty".into()));
        }
        if !t.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(OandaError::Config("the OANDA token holds characters a token cannot have".into()));
        }
        Ok(Token(t.to_string()))
    }

    /// The `Authorization` header value.
    pub(crate) fn bearer(&self) -> String {
        format!("Bearer {}", self.0)
    }

    /// Whether `text` contains the token (to keep it out of messages built from server answers).
    pub(crate) fn redact(&self, text: &str) -> String {
        text.replace(&self.0, "***")
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token(***)")
    }
}

/// Everything needed to reach one OANDA account.
#[derive(Debug, Clone)]
pub struct OandaConfig {
    /// `101-004-1234567-001`.
    pub account_id: String,
    /// The personal access token.
    pub token: Token,
    /// Practice or live.
    pub environment: Environment,
    /// REST base URL (no trailing `/`).
    pub rest_url: String,
    /// Streaming base URL (no trailing `/`).
    pub stream_url: String,
}

impl OandaConfig {
    /// Checks the settings: an account id of the v20 form, and URLs the token may be sent to (https,
    /// or http to a loopback address). `rest_url`/`stream_url` None take the environment's hosts.
    pub fn new(
        account_id: &str,
        token: Token,
        environment: Environment,
        rest_url: Option<&str>,
        stream_url: Option<&str>,
    ) -> Result<OandaConfig, OandaError> {
        let id = account_id.trim();
        if id.is_empty() || !id.bytes().all(|b| b.is_ascii_digit() || b == b'-') {
            return Err(OandaError::Config(format!("the OANDA account id must look like 101-004-1234567-001, got {id:?}")));
        }
        let (rest_default, stream_default) = environment.default_urls();
        let rest_url = checked_url("rest_url", rest_url.unwrap_or(rest_default))?;
        let stream_url = checked_url("stream_url", stream_url.unwrap_or(stream_default))?;
        Ok(OandaConfig { account_id: id.to_string(), token, environment, rest_url, stream_url })
    }
}

/// A base URL the token may be sent to: `https://host[:port]`, or `http://` to 127.0.0.1, ::1 or
/// localhost; no path, query or credentials.
fn checked_url(name: &str, url: &str) -> Result<String, OandaError> {
    let u = url.trim().trim_end_matches('/');
    let (scheme, rest) = u.split_once("://").ok_or_else(|| OandaError::Config(format!("{name} {u:?} is not an http(s) URL")))?;
    if rest.is_empty() || rest.contains(['/', '?', '#', '@']) {
        return Err(OandaError::Config(format!("{name} {u:?} must be scheme://host[:port] with no path or credentials")));
    }
    let host = host_of(rest);
    match scheme {
        "https" => Ok(u.to_string()),
        "http" if matches!(host, "127.0.0.1" | "localhost" | "[::1]") => Ok(u.to_string()),
        "http" => {
            Err(OandaError::Config(format!("{name} {u:?}: the token is only sent over https, or over plain http to a loopback address")))
        }
        _ => Err(OandaError::Config(format!("{name} {u:?} is not an http(s) URL"))),
    }
}

/// The host part of `host[:port]` (an IPv6 literal keeps its brackets).
pub(crate) fn host_of(authority: &str) -> &str {
    if authority.starts_with('[') {
        return authority.split_inclusive(']').next().unwrap_or(authority);
    }
    authority.rsplit_once(':').map_or(authority, |(h, _)| h)
}

/// What went wrong talking to OANDA. Messages never contain the token.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum OandaError {
    /// A setting is wrong (named in the message).
    #[error("OANDA configuration: {0}")]
    Config(String),
    /// 401/403: the token is wrong, expired, or not allowed on this account.
    #[error(
        "OANDA refused the token for account {account} ({status}): {message}; check PINION_OANDA_TOKEN, the account id and practice/live"
    )]
    Unauthorized {
        /// The account asked for.
        account: String,
        /// The HTTP status.
        status: u16,
        /// OANDA's `errorMessage`.
        message: String,
    },
    /// Any other non-2xx answer.
    #[error("OANDA answered {status} to {what}: {message}")]
    Http {
        /// What was asked (method and path, no query).
        what: String,
        /// The HTTP status.
        status: u16,
        /// OANDA's `errorMessage`, or the body.
        message: String,
    },
    /// The connection failed or timed out (the request may or may not have reached OANDA).
    #[error("OANDA {what}: {detail}")]
    Transport {
        /// What was asked.
        what: String,
        /// The cause.
        detail: String,
    },
    /// An answer did not have the documented shape.
    #[error("OANDA {what}: unexpected answer: {detail}")]
    Decode {
        /// What was asked.
        what: String,
        /// What did not fit.
        detail: String,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token() -> Token {
        Token::new("abc-123").expect("token")
    }

    #[test]
    fn urls_default_by_environment_and_the_token_goes_only_to_https_or_loopback() {
        let c = OandaConfig::new("101-004-1234567-001", token(), Environment::Practice, None, None).expect("config");
        assert_eq!(c.rest_url, "https://api-fxpractice.oanda.com");
        assert_eq!(c.stream_url, "https://stream-fxpractice.oanda.com");
        let live = OandaConfig::new("101-001-1-001", token(), Environment::Live, None, None).expect("config");
        assert_eq!(live.rest_url, "https://api-fxtrade.oanda.com");
        assert!(OandaConfig::new("1-2", token(), Environment::Practice, Some("http://127.0.0.1:9000/"), Some("http://localhost:9")).is_ok());
        let e = OandaConfig::new("1-2", token(), Environment::Practice, Some("http://example.com"), None).unwrap_err();
        assert!(e.to_string().contains("only sent over https"), "{e}");
        assert!(OandaConfig::new("1-2", token(), Environment::Practice, Some("https://u:p@x.com"), None).is_err());
        assert!(OandaConfig::new("x", token(), Environment::Practice, None, None).unwrap_err().to_string().contains("account id"));
    }

    #[test]
    fn the_token_is_never_printed() {
        let c = OandaConfig::new("1-2", token(), Environment::Practice, None, None).expect("config");
        let shown = format!("{c:?} {:?}", c.token);
        assert!(!shown.contains("abc-123") && shown.contains("***"), "{shown}");
        assert_eq!(c.token.redact("x abc-123 y"), "x *** y");
        assert!(Token::new("  ").is_err() && Token::new("a b").is_err());
        assert_eq!(Environment::parse("live"), Ok(Environment::Live));
        assert!(Environment::parse("Live").is_err());
    }
}
