//! `pinion import`: recorded ticks -> pinion's binary tick file.

use anyhow::Context;
use clap::Args;
use pinion_io::{import_files, ImportInput, ImportOptions};
use std::path::PathBuf;

#[derive(Args)]
pub struct ImportArgs {
    /// Input files: CSV quote ticks (ts_ns,bid,ask,bid_size,ask_size), CSV trades, or OANDA price-stream
    /// JSON lines; gzip or plain. Prefix with `SYMBOL=` to name the instrument (else taken from the file name).
    #[arg(required = true)]
    pub inputs: Vec<String>,
    /// Output .pinticks file.
    #[arg(short, long)]
    pub output: PathBuf,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
}

pub fn run(a: ImportArgs) -> anyhow::Result<()> {
    let inputs: Vec<ImportInput> = a
        .inputs
        .iter()
        .map(|s| match s.split_once('=') {
            Some((sym, path)) if !sym.contains('/') => ImportInput::new(path).with_instrument(sym),
            _ => ImportInput::new(s.as_str()),
        })
        .collect();
    let opts = if a.quiet { ImportOptions::quiet() } else { ImportOptions::default() };
    let summary = import_files(&inputs, &a.output, &opts).with_context(|| format!("importing into {}", a.output.display()))?;
    let s = &summary;
    let line = serde_json::json!({
        "output": s.output.display().to_string(),
        "ticks": s.total,
        "instruments": s.per_instrument,
        "first_ts": pinion_core::time::format_iso(s.first_ts),
        "last_ts": pinion_core::time::format_iso(s.last_ts),
        "seconds": s.elapsed_s,
        "ticks_per_second": if s.elapsed_s > 0.0 { (s.total as f64 / s.elapsed_s).round() } else { 0.0 },
    });
    println!("{line}");
    Ok(())
}
