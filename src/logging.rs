//! Logging set-up with `fern`: stderr always, plus a size-rotated file when a log directory is given.

use anyhow::Context;
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

/// Parses a level name (`error`, `warn`, `info`, `debug`, `trace`, `off`).
pub fn parse_level(s: &str) -> anyhow::Result<log::LevelFilter> {
    s.parse().with_context(|| format!("log level {s:?} is not one of off, error, warn, info, debug, trace"))
}

/// Extra destination for INFO-and-above records (the WebSocket `log` feed). It receives each record as
/// logged: `args()` is the bare message, without the time, level and target the text outputs add.
pub type RecordHook = Box<dyn Fn(&log::Record) + Send + Sync>;

/// Installs the global logger: stderr and the rotating file get formatted lines; `extra` receives every
/// record at INFO or above unformatted.
pub fn init(level: log::LevelFilter, log_dir: Option<&Path>, extra: Option<RecordHook>) -> anyhow::Result<()> {
    let mut text = fern::Dispatch::new()
        .level(level)
        .format(|out, message, record| {
            let ts = pinion_core::time::format_iso(
                std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos() as i64),
            );
            out.finish(format_args!("{ts} {:<5} {}: {message}", record.level(), record.target()))
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
