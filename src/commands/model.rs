//! `pinion model example`: builds the shipped example TorchScript policy reproducibly with `tch`.

use anyhow::Context;
use clap::{Args, Subcommand};
use pinion_models::{build_example, EXAMPLE_LOOKBACK_WINDOW, EXAMPLE_MAX_SYMBOLS, EXAMPLE_N_FEATURES};
use std::path::{Path, PathBuf};

#[derive(Args)]
pub struct ModelArgs {
    #[command(subcommand)]
    pub command: ModelCommand,
}

#[derive(Subcommand)]
pub enum ModelCommand {
    /// Build the example policy (traced TorchScript + NAME.json metadata).
    Example {
        #[arg(long, default_value = "models/example.pt")]
        out: PathBuf,
        #[arg(long, default_value_t = EXAMPLE_MAX_SYMBOLS)]
        max_symbols: usize,
        #[arg(long, default_value_t = EXAMPLE_LOOKBACK_WINDOW)]
        lookback_window: usize,
    },
}

/// Writes the example model to `out` (creating the directory).
pub fn write_example(out: &Path, max_symbols: usize, lookback_window: usize) -> anyhow::Result<()> {
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    build_example(out, max_symbols, lookback_window, EXAMPLE_N_FEATURES)
        .with_context(|| format!("building the example model at {}", out.display()))?;
    Ok(())
}

pub fn run(a: ModelArgs) -> anyhow::Result<()> {
    match a.command {
        ModelCommand::Example { out, max_symbols, lookback_window } => {
            write_example(&out, max_symbols, lookback_window)?;
            println!(
                "{}",
                serde_json::json!({ "model": out.display().to_string(), "max_symbols": max_symbols, "lookback_window": lookback_window, "n_features": EXAMPLE_N_FEATURES })
            );
            Ok(())
        }
    }
}
