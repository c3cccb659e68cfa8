//! WebSocket push for `/ws`: topics, frames serialized once and shared by every client, the
//! non-blocking [`Broadcaster`] handle, and the per-client state that the front's mio loop drives
//! (bounded frame queue, subscriptions, non-blocking tungstenite writes).
//!
//! Client commands (text frames): `{"type":"subscribe","topics":["metric","order"]}` replaces the
//! subscription, `{"type":"unsubscribe","topics":[...]}` removes topics; both are acknowledged with
//! `{"type":"subscribed","data":{"topics":[...]}}`. Anything invalid is answered with
//! `{"type":"error","data":{"detail":"..."}}` and leaves the subscription unchanged.

use std::collections::VecDeque;
use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use crossbeam_channel::{Receiver, Sender, TrySendError};
use mio::net::TcpStream;
use mio::Waker;
use serde::Deserialize;
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::protocol::{CloseFrame, Role, WebSocketConfig};
use tungstenite::{Message, Utf8Bytes, WebSocket};

/// What a frame is about; clients subscribe per topic (all topics by default).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Topic {
    Status,
    Account,
    Positions,
    Order,
    Metric,
    Log,
}

/// A topic name that is not one of [`Topic::ALL`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown topic '{0}'")]
pub struct UnknownTopic(pub String);

impl Topic {
    pub const ALL: [Topic; 6] = [Topic::Status, Topic::Account, Topic::Positions, Topic::Order, Topic::Metric, Topic::Log];

    /// The wire name, also the frame's `type`.
    pub fn name(self) -> &'static str {
        match self {
            Topic::Status => "status",
            Topic::Account => "account",
            Topic::Positions => "positions",
            Topic::Order => "order",
            Topic::Metric => "metric",
            Topic::Log => "log",
        }
    }

    fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

impl std::str::FromStr for Topic {
    type Err = UnknownTopic;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Topic::ALL.into_iter().find(|t| t.name() == s).ok_or_else(|| UnknownTopic(s.to_string()))
    }
}

const ALL_TOPICS: u8 = (1 << Topic::ALL.len()) - 1;

/// One serialized JSON text frame; cloning shares the text.
#[derive(Clone, Debug)]
pub struct Frame {
    pub topic: Topic,
    pub text: Arc<str>,
    /// When the engine event it shows left the core (`CheapClock` ns; 0: none), for the
    /// `event_to_ws` hop the front records once the frame is written.
    pub origin_ns: u64,
}

impl Frame {
    pub fn new(topic: Topic, text: impl Into<Arc<str>>) -> Self {
        Frame { topic, text: text.into(), origin_ns: 0 }
    }

    /// The same frame, showing an event that left the core at `origin_ns`.
    pub fn with_origin(mut self, origin_ns: u64) -> Self {
        self.origin_ns = origin_ns;
        self
    }

    /// Serializes `{"type": <topic name>, "data": data}` once.
    pub fn json<T: serde::Serialize + ?Sized>(topic: Topic, data: &T) -> serde_json::Result<Self> {
        Ok(Frame::new(topic, envelope(topic.name(), data)?))
    }
}

/// `{"type": kind, "data": data}` with `type` first.
fn envelope<T: serde::Serialize + ?Sized>(kind: &str, data: &T) -> serde_json::Result<String> {
    #[derive(serde::Serialize)]
    struct Envelope<'a, T: ?Sized> {
        #[serde(rename = "type")]
        kind: &'a str,
        data: &'a T,
    }
    serde_json::to_string(&Envelope { kind, data })
}

struct BroadcastShared {
    tx: Sender<Frame>,
    waker: Arc<Waker>,
    wake_pending: AtomicBool,
    dropped: AtomicU64,
}

/// Cheap to clone; `send` never blocks (a full channel drops the frame and counts it).
#[derive(Clone)]
pub struct Broadcaster {
    shared: Arc<BroadcastShared>,
}

impl Broadcaster {
    /// Queues a frame for every subscribed client; false when it was dropped (channel full or
    /// front stopped).
    pub fn send(&self, frame: Frame) -> bool {
        let s = &self.shared;
        match s.tx.try_send(frame) {
            Ok(()) => {
                if !s.wake_pending.swap(true, Ordering::SeqCst) {
                    if let Err(e) = s.waker.wake() {
                        log::warn!("front waker failed: {e}");
                    }
                }
                true
            }
            Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
                s.dropped.fetch_add(1, Ordering::Relaxed);
                false
            }
        }
    }

    /// Frames dropped because the front's channel was full or gone.
    pub fn dropped(&self) -> u64 {
        self.shared.dropped.load(Ordering::Relaxed)
    }
}

/// The front thread's end of the broadcast channel.
pub(crate) struct BroadcastRx {
    rx: Receiver<Frame>,
    shared: Arc<BroadcastShared>,
}

pub(crate) fn broadcast_channel(waker: Arc<Waker>, capacity: usize) -> (Broadcaster, BroadcastRx) {
    let (tx, rx) = crossbeam_channel::bounded(capacity.max(1));
    let shared = Arc::new(BroadcastShared { tx, waker, wake_pending: AtomicBool::new(false), dropped: AtomicU64::new(0) });
    (Broadcaster { shared: shared.clone() }, BroadcastRx { rx, shared })
}

impl BroadcastRx {
    /// Moves up to `max` frames into `out`, converted once to tungstenite's shared text type, with
    /// their origin.
    pub(crate) fn drain(&self, max: usize, out: &mut Vec<(Topic, Utf8Bytes, u64)>) {
        // Clear before draining: a sender that pushes afterwards will wake us again.
        self.shared.wake_pending.store(false, Ordering::SeqCst);
        out.extend(self.rx.try_iter().take(max).map(|f| (f.topic, Utf8Bytes::from(&*f.text), f.origin_ns)));
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.rx.is_empty()
    }
}

/// Why a client connection ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WsEnd {
    /// Close handshake done or the peer went away.
    Closed,
    /// Its queue of unsent frames overflowed.
    Slow,
    /// Socket error.
    Failed,
    /// The client broke the protocol: close with this RFC 6455 code (1002 protocol error, 1007
    /// invalid UTF-8 in a text message, 1009 message too big) and a Close frame.
    Violation(u16),
}

/// A connected WebSocket client inside the front's loop.
pub(crate) struct WsClient {
    ws: WebSocket<TcpStream>,
    handshake: Vec<u8>,
    handshake_sent: usize,
    pending: VecDeque<Utf8Bytes>,
    topics: u8,
    /// tungstenite holds unflushed bytes: wait for a writable event.
    blocked: bool,
}

fn ws_config() -> WebSocketConfig {
    // Clients send only small commands; keep per-client memory small for thousands of clients.
    WebSocketConfig::default()
        .read_buffer_size(4096)
        .write_buffer_size(16 * 1024)
        .max_message_size(Some(64 * 1024))
        .max_frame_size(Some(64 * 1024))
}

impl WsClient {
    /// `handshake` is the 101 response still to write; `leftover` the bytes read past the head.
    pub(crate) fn new(stream: TcpStream, handshake: Vec<u8>, leftover: Vec<u8>) -> Self {
        WsClient {
            ws: WebSocket::from_partially_read(stream, leftover, Role::Server, Some(ws_config())),
            handshake,
            handshake_sent: 0,
            pending: VecDeque::new(),
            topics: ALL_TOPICS,
            blocked: false,
        }
    }

    pub(crate) fn stream_mut(&mut self) -> &mut TcpStream {
        self.ws.get_mut()
    }

    /// Queues a frame that bypasses subscriptions and the queue bound (snapshot, replies).
    pub(crate) fn push_direct(&mut self, text: Utf8Bytes) {
        self.pending.push_back(text);
    }

    /// Queues a broadcast frame if subscribed (Ok(true)); `Err(Slow)` when the queue is full.
    pub(crate) fn offer(&mut self, topic: Topic, text: &Utf8Bytes, cap: usize) -> Result<bool, WsEnd> {
        if self.topics & topic.bit() == 0 {
            return Ok(false);
        }
        if self.pending.len() >= cap {
            return Err(WsEnd::Slow);
        }
        self.pending.push_back(text.clone());
        Ok(true)
    }

    /// Handles a poll event: writes what it can, then reads commands and control frames.
    /// Returns the number of frames handed to the socket.
    pub(crate) fn on_event(&mut self) -> Result<u64, WsEnd> {
        let mut sent = self.pump()?;
        if self.handshake_sent < self.handshake.len() {
            return Ok(sent);
        }
        self.read_all()?;
        sent += self.pump()?;
        Ok(sent)
    }

    fn read_all(&mut self) -> Result<(), WsEnd> {
        loop {
            match self.ws.read() {
                Ok(Message::Text(text)) => self.command(text.as_str()),
                Ok(Message::Binary(_)) => self.reply_error("binary frames are not supported"),
                // Pings are answered and close frames echoed by tungstenite on the next write.
                Ok(_) => {}
                Err(tungstenite::Error::Io(e)) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(tungstenite::Error::Io(e)) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed) => return Err(WsEnd::Closed),
                Err(tungstenite::Error::Protocol(tungstenite::error::ProtocolError::ResetWithoutClosingHandshake)) => {
                    return Err(WsEnd::Closed)
                }
                Err(e @ (tungstenite::Error::Protocol(_) | tungstenite::Error::Utf8(_) | tungstenite::Error::Capacity(_))) => {
                    let code = match e {
                        tungstenite::Error::Utf8(_) => 1007,
                        tungstenite::Error::Capacity(_) => 1009,
                        _ => 1002,
                    };
                    log::debug!("ws client broke the protocol ({code}): {e}");
                    return Err(WsEnd::Violation(code));
                }
                Err(e) => {
                    log::debug!("ws client read failed: {e}");
                    return Err(WsEnd::Failed);
                }
            }
        }
    }

    /// Writes the handshake, then queued frames, until done or the socket would block.
    pub(crate) fn pump(&mut self) -> Result<u64, WsEnd> {
        while self.handshake_sent < self.handshake.len() {
            let rest = &self.handshake[self.handshake_sent..];
            match self.ws.get_mut().write(rest) {
                Ok(0) => return Err(WsEnd::Closed),
                Ok(n) => self.handshake_sent += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(0),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return Err(WsEnd::Failed),
            }
        }
        if !self.handshake.is_empty() {
            self.handshake = Vec::new();
            self.handshake_sent = 0;
        }
        if self.blocked {
            match flush_result(self.ws.flush())? {
                true => self.blocked = false,
                false => return Ok(0),
            }
        }
        let mut sent = 0;
        while let Some(text) = self.pending.pop_front() {
            // On WouldBlock the frame is already in tungstenite's buffer: count it as handed over.
            let written = flush_result(self.ws.write(Message::Text(text)))?;
            sent += 1;
            if !written {
                self.blocked = true;
                return Ok(sent);
            }
        }
        self.blocked = !flush_result(self.ws.flush())?;
        Ok(sent)
    }

    /// Best-effort close frame (server shutdown); never blocks.
    pub(crate) fn close_going_away(&mut self) {
        let frame = CloseFrame { code: CloseCode::Away, reason: "server shutting down".into() };
        let _ = self.ws.close(Some(frame));
    }

    /// The socket and the raw Close frame (`code`, with a reason) that ends a client which broke
    /// the protocol; only the socket when tungstenite still holds unsent bytes (the frame would
    /// interleave with them).
    pub(crate) fn into_close(mut self, code: u16) -> Result<(TcpStream, Vec<u8>), TcpStream> {
        if self.handshake_sent < self.handshake.len() || self.ws.flush().is_err() {
            return Err(self.ws.into_inner());
        }
        let reason: &[u8] = match code {
            1007 => b"invalid UTF-8 in a text message",
            1009 => b"message too big",
            _ => b"protocol error",
        };
        // FIN + Close opcode, unmasked (server to client), payload = code + reason (< 126 bytes).
        let mut frame = vec![0x88, (2 + reason.len()) as u8];
        frame.extend_from_slice(&code.to_be_bytes());
        frame.extend_from_slice(reason);
        Ok((self.ws.into_inner(), frame))
    }

    fn command(&mut self, text: &str) {
        #[derive(Deserialize)]
        struct Command {
            #[serde(rename = "type")]
            kind: String,
            topics: Option<Vec<String>>,
        }
        let cmd: Command = match serde_json::from_str(text) {
            Ok(c) => c,
            Err(e) => return self.reply_error(&format!("invalid command: {e}")),
        };
        let subscribe = match cmd.kind.as_str() {
            "subscribe" => true,
            "unsubscribe" => false,
            other => return self.reply_error(&format!("unknown command type '{other}'")),
        };
        let Some(names) = cmd.topics else {
            return self.reply_error("missing field 'topics'");
        };
        let mut mask = 0u8;
        for name in &names {
            match name.parse::<Topic>() {
                Ok(t) => mask |= t.bit(),
                Err(e) => return self.reply_error(&e.to_string()),
            }
        }
        self.topics = if subscribe { mask } else { self.topics & !mask };
        let topics: Vec<&str> = Topic::ALL.into_iter().filter(|t| self.topics & t.bit() != 0).map(Topic::name).collect();
        self.reply("subscribed", &serde_json::json!({ "topics": topics }));
    }

    fn reply_error(&mut self, detail: &str) {
        self.reply("error", &serde_json::json!({ "detail": detail }));
    }

    fn reply(&mut self, kind: &str, data: &serde_json::Value) {
        match envelope(kind, data) {
            Ok(text) => self.push_direct(Utf8Bytes::from(text)),
            Err(e) => log::error!("cannot serialize a ws reply: {e}"),
        }
    }
}

/// Ok(true): written; Ok(false): would block (data kept in tungstenite's buffer).
fn flush_result(r: tungstenite::Result<()>) -> Result<bool, WsEnd> {
    match r {
        Ok(()) => Ok(true),
        Err(tungstenite::Error::Io(e)) if e.kind() == io::ErrorKind::WouldBlock => Ok(false),
        Err(tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed) => Err(WsEnd::Closed),
        Err(e) => {
            log::debug!("ws client write failed: {e}");
            Err(WsEnd::Failed)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topic_names_round_trip() {
        for t in Topic::ALL {
            assert_eq!(t.name().parse::<Topic>(), Ok(t));
        }
        assert_eq!("tick".parse::<Topic>(), Err(UnknownTopic("tick".into())));
        assert_eq!(ALL_TOPICS, 0b11_1111);
    }

    #[test]
    fn frame_json_envelope() {
        let f = Frame::json(Topic::Metric, &serde_json::json!({"equity": 1.5})).unwrap();
        assert_eq!(f.topic, Topic::Metric);
        assert_eq!(&*f.text, r#"{"type":"metric","data":{"equity":1.5}}"#);
    }
}
