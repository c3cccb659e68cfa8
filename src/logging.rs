//! Logging set-up with `fern`: stderr always, plus a size-rotated file when a log directory is given.
//! Two line formats: `text` (default: `TIME LEVEL target: message key=value...`) and `json` (one
//! object per line, for log shippers: `{"time", "level", "target", "message", "fields"}`, where
//! `fields` holds the record's structured key-values, e.g. `log::info!(ms = 3.2; "...")`).

use anyhow::Context;
use serde::Deserialize;
use serde_json::{json, Map, Value};
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Rotates `pinion.log` -> `pinion.log.1` ... when it grows past `max_bytes`, keeping `keep` old files.
struct RotatingFile {
    path: PathBuf,
    file: File,
    written: u64,
    max_bytes: u64,
    keep: usize,
}

impl RotatingFile {
    fn open(path: PathBuf, max_bytes: u64, keep: usize) -> std::io::Result<RotatingFile> {
        let file = OpenOptions::new().create(true).append(true).open(&path)?;
        let written = file.metadata()?.len();
        Ok(RotatingFile { path, file, written, max_bytes, keep })
    }

    fn rotate(&mut self) -> std::io::Result<()> {
        for i in (1..self.keep).rev() {
            let from = self.path.with_extension(format!("log.{i}"));
            if from.exists() {
                std::fs::rename(&from, self.path.with_extension(format!("log.{}", i + 1)))?;
            }
        }
        std::fs::rename(&self.path, self.path.with_extension("log.1"))?;
        self.file = OpenOptions::new().create(true).append(true).open(&self.path)?;
        self.written = 0;
        Ok(())
    }
}

impl Write for RotatingFile {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.written + buf.len() as u64 > self.max_bytes && self.written > 0 {
            self.rotate()?;
        }
        let n = self.file.write(buf)?;
        self.written += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.file.flush()
    }
}

/// How each log line is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// `2026-01-01T00:00:00.000000000Z INFO  pinion::control: operation 3 paused`.
    #[default]
    Text,
    /// `{"time": ..., "level": "info", "target": ..., "message": ..., "fields": {...}}`.
    Json,
}

impl std::str::FromStr for LogFormat {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> anyhow::Result<LogFormat> {
        match s.trim() {
            "text" => Ok(LogFormat::Text),
            "json" => Ok(LogFormat::Json),
            other => anyhow::bail!("log format {other:?} is not one of text, json"),
        }
    }
}

/// Collects a record's key-values as JSON (numbers and booleans typed, the rest as text).
struct Fields(Map<String, Value>);

impl<'kvs> log::kv::VisitSource<'kvs> for Fields {
    fn visit_pair(&mut self, key: log::kv::Key<'kvs>, v: log::kv::Value<'kvs>) -> Result<(), log::kv::Error> {
        let value = match (v.to_bool(), v.to_i64(), v.to_u64(), v.to_f64()) {
            (Some(b), ..) => json!(b),
            (_, Some(i), ..) => json!(i),
            (_, _, Some(u), _) => json!(u),
            (_, _, _, Some(f)) => json!(f),
            _ => json!(v.to_string()),
        };
        self.0.insert(key.to_string(), value);
        Ok(())
    }
}

fn fields(record: &log::Record) -> Map<String, Value> {
    let mut f = Fields(Map::new());
    let _ = record.key_values().visit(&mut f);
    f.0
}

/// One line of the `json` format.
pub fn json_line(time: &str, message: &std::fmt::Arguments, record: &log::Record) -> String {
    let level = record.level().as_str().to_ascii_lowercase();
    json!({ "time": time, "level": level, "target": record.target(), "message": message.to_string(), "fields": fields(record) }).to_string()
}

/// One line of the `text` format.
pub fn text_line(time: &str, message: &std::fmt::Arguments, record: &log::Record) -> String {
    let mut line = format!("{time} {:<5} {}: {message}", record.level(), record.target());
    for (k, v) in fields(record) {
        let v = match v {
            Value::String(s) => s,
            other => other.to_string(),
        };
        line.push_str(&format!(" {k}={v}"));
    }
    line
}

/// Parses a level name (`error`, `warn`, `info`, `debug`, `trace`, `off`).
pub fn parse_level(s: &str) -> anyhow::Result<log::LevelFilter> {
    s.parse().with_context(|| format!("log level {s:?} is not one of off, error, warn, info, debug, trace"))
}

/// Extra destination for INFO-and-above records (the WebSocket `log` feed). It receives each record as
/// logged: `args()` is the bare message, without the time, level and target the text outputs add.
pub type RecordHook = Box<dyn Fn(&log::Record) + Send + Sync>;

/// Installs the global logger: stderr and the rotating file get formatted lines; `extra` receives every
/// record at INFO or above unformatted.
pub fn init(level: log::LevelFilter, format: LogFormat, log_dir: Option<&Path>, extra: Option<RecordHook>) -> anyhow::Result<()> {
    let mut text = fern::Dispatch::new()
        .level(level)
        .format(move |out, message, record| {
            let ts = pinion_core::time::format_iso(
                std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos() as i64),
            );
            let line = match format {
                LogFormat::Text => text_line(&ts, message, record),
                LogFormat::Json => json_line(&ts, message, record),
            };
            out.finish(format_args!("{line}"))
        })
        .chain(std::io::stderr());
    if let Some(dir) = log_dir {
        std::fs::create_dir_all(dir).with_context(|| format!("creating log directory {}", dir.display()))?;
        let file = RotatingFile::open(dir.join("pinion.log"), 16 << 20, 5)
            .with_context(|| format!("opening {}", dir.join("pinion.log").display()))?;
        text = text.chain(Box::new(file) as Box<dyn Write + Send>);
    }
    // The format and `level` apply to the text outputs only: the hook sits beside them and gets INFO and
    // above whatever the text level (control actions are `log` frames even under `--log-level warn`).
    let outer = level.max(if extra.is_some() { log::LevelFilter::Info } else { level });
    let mut dispatch = fern::Dispatch::new().level(outer).level_for("tiny_http", log::LevelFilter::Warn).chain(text);
    if let Some(f) = extra {
        dispatch = dispatch.chain(fern::Output::call(move |r| {
            if r.level() <= log::Level::Info {
                f(r)
            }
        }));
    }
    dispatch.apply().context("installing the logger")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_lines_carry_time_level_target_message_and_fields() {
        let args = format_args!("snapshot 7 written");
        let kvs: [(&str, log::kv::Value); 3] = [("ms", 3.5.into()), ("bytes", 1024u64.into()), ("ok", true.into())];
        let record = log::Record::builder().level(log::Level::Info).target("pinion::snapshots").args(args).key_values(&kvs).build();
        let line = json_line("2026-01-01T00:00:00Z", record.args(), &record);
        let v: Value = serde_json::from_str(&line).expect("one JSON object");
        assert_eq!(v["time"], "2026-01-01T00:00:00Z");
        assert_eq!(v["level"], "info");
        assert_eq!(v["target"], "pinion::snapshots");
        assert_eq!(v["message"], "snapshot 7 written");
        assert_eq!(v["fields"], json!({ "ms": 3.5, "bytes": 1024, "ok": true }));
        assert!(!line.contains('\n'));
        let text = text_line("T", record.args(), &record);
        assert_eq!(text, "T INFO  pinion::snapshots: snapshot 7 written bytes=1024 ms=3.5 ok=true");
        let plain = log::Record::builder().level(log::Level::Warn).target("x").args(format_args!("a \"quoted\"\nline")).build();
        let v: Value = serde_json::from_str(&json_line("T", plain.args(), &plain)).expect("escaped");
        assert_eq!((v["message"].as_str(), v["fields"].clone()), (Some("a \"quoted\"\nline"), json!({})));
        assert_eq!("json".parse::<LogFormat>().unwrap(), LogFormat::Json);
        assert!("yaml".parse::<LogFormat>().is_err());
    }
}
