//! A tiny std-only HTTP/1.1 client for the fake's tests: one request per connection (or several on
//! a kept-alive one), Content-Length or chunked bodies, and a line reader for the chunked streams.

use super::FakeOanda;
use serde_json::Value;
use std::io::{self, BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// A parsed response.
#[derive(Debug)]
pub(crate) struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Value,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

/// A client with a bearer token.
pub(crate) struct Client {
    addr: SocketAddr,
    token: Option<String>,
    account: String,
}

fn read_head<R: BufRead>(r: &mut R) -> io::Result<(u16, Vec<(String, String)>)> {
    let mut line = String::new();
    if r.read_line(&mut line)? == 0 {
        return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "connection closed before a response"));
    }
    let status =
        line.split_whitespace().nth(1).and_then(|s| s.parse().ok()).ok_or_else(|| io::Error::other(format!("bad status line {line:?}")))?;
    let mut headers = Vec::new();
    loop {
        line.clear();
        r.read_line(&mut line)?;
        let l = line.trim_end();
        if l.is_empty() {
            return Ok((status, headers));
        }
        if let Some((k, v)) = l.split_once(':') {
            headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
        }
    }
}

/// Reads one chunk's data; None at the terminating chunk.
fn read_chunk<R: BufRead>(r: &mut R) -> io::Result<Option<Vec<u8>>> {
    let mut line = String::new();
    if r.read_line(&mut line)? == 0 {
        return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "stream closed"));
    }
    let size = usize::from_str_radix(line.trim(), 16).map_err(|_| io::Error::other(format!("bad chunk size {line:?}")))?;
    let mut data = vec![0; size + 2];
    r.read_exact(&mut data)?;
    data.truncate(size);
    Ok((size > 0).then_some(data))
}

fn read_response<R: BufRead>(r: &mut R) -> io::Result<Resp> {
    let (status, headers) = read_head(r)?;
    let find = |k: &str| headers.iter().find(|(h, _)| h == k).map(|(_, v)| v.clone());
    let mut body = Vec::new();
    if let Some(n) = find("content-length").and_then(|v| v.parse::<usize>().ok()) {
        body.resize(n, 0);
        r.read_exact(&mut body)?;
    } else if find("transfer-encoding").is_some() {
        while let Some(c) = read_chunk(r)? {
            body.extend(c);
        }
    }
    let body = if body.is_empty() { Value::Null } else { serde_json::from_slice(&body).map_err(io::Error::other)? };
    Ok(Resp { status, headers, body })
}

impl Client {
    pub fn new(fake: &FakeOanda) -> Client {
        Client::with_token(fake, Some("fake-token"))
    }

    pub fn with_token(fake: &FakeOanda, token: Option<&str>) -> Client {
        Client { addr: fake.addr(), token: token.map(str::to_string), account: fake.account_id().to_string() }
    }

    /// `/v3/accounts/{id}{rest}`.
    pub fn acct(&self, rest: &str) -> String {
        format!("/v3/accounts/{}{rest}", self.account)
    }

    fn head(&self, method: &str, path: &str, body: &[u8], keep_alive: bool) -> Vec<u8> {
        let mut s = format!("{method} {path} HTTP/1.1\r\nHost: {}\r\nContent-Length: {}\r\n", self.addr, body.len());
        if let Some(t) = &self.token {
            s.push_str(&format!("Authorization: Bearer {t}\r\n"));
        }
        if body.is_empty() {
            s = s.replace("Content-Length: 0\r\n", "");
        } else {
            s.push_str("Content-Type: application/json\r\n");
        }
        s.push_str(if keep_alive { "\r\n" } else { "Connection: close\r\n\r\n" });
        let mut out = s.into_bytes();
        out.extend_from_slice(body);
        out
    }

    fn connect(&self) -> io::Result<TcpStream> {
        let s = TcpStream::connect(self.addr)?;
        s.set_read_timeout(Some(Duration::from_secs(10)))?;
        Ok(s)
    }

    pub fn request(&self, method: &str, path: &str, body: Option<&Value>) -> io::Result<Resp> {
        let body = body.map(|b| b.to_string().into_bytes()).unwrap_or_default();
        let mut s = self.connect()?;
        s.write_all(&self.head(method, path, &body, false))?;
        read_response(&mut BufReader::new(s))
    }

    pub fn get(&self, path: &str) -> Resp {
        self.request("GET", path, None).unwrap_or_else(|e| panic!("GET {path}: {e}"))
    }

    pub fn post(&self, path: &str, body: &Value) -> Resp {
        self.request("POST", path, Some(body)).unwrap_or_else(|e| panic!("POST {path}: {e}"))
    }

    pub fn put(&self, path: &str, body: &Value) -> Resp {
        self.request("PUT", path, Some(body)).unwrap_or_else(|e| panic!("PUT {path}: {e}"))
    }

    /// Sends several GETs on one kept-alive connection.
    pub fn get_keep_alive(&self, paths: &[&str]) -> io::Result<Vec<Resp>> {
        let s = self.connect()?;
        let mut w = s.try_clone()?;
        let mut r = BufReader::new(s);
        paths
            .iter()
            .map(|p| {
                w.write_all(&self.head("GET", p, b"", true))?;
                read_response(&mut r)
            })
            .collect()
    }

    /// Opens a stream; the head is read, lines follow.
    pub fn stream(&self, path: &str) -> io::Result<StreamReader> {
        let mut s = self.connect()?;
        s.write_all(&self.head("GET", path, b"", true))?;
        let mut r = BufReader::new(s);
        let (status, headers) = read_head(&mut r)?;
        Ok(StreamReader { r, status, headers })
    }
}

/// Reads one JSON object per chunk from a stream.
pub(crate) struct StreamReader {
    r: BufReader<TcpStream>,
    pub status: u16,
    pub headers: Vec<(String, String)>,
}

impl StreamReader {
    /// The next line; an error when the stream ends, breaks or times out.
    pub fn next(&mut self) -> io::Result<Value> {
        let data = read_chunk(&mut self.r)?.ok_or_else(|| io::Error::new(io::ErrorKind::UnexpectedEof, "stream ended"))?;
        serde_json::from_slice(&data).map_err(io::Error::other)
    }

    /// The next line of type `kind`, skipping others (at most `limit` lines).
    pub fn next_of(&mut self, kind: &str, limit: usize) -> io::Result<Value> {
        for _ in 0..limit {
            let v = self.next()?;
            if v["type"] == kind {
                return Ok(v);
            }
        }
        Err(io::Error::other(format!("no {kind} line within {limit} lines")))
    }
}
