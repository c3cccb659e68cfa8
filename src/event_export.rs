//! Wiring of `pinion serve --events-to` (`events_to`): starts `pinion-bus`'s event export over this
//! server's journal, with the node name and the record kinds `crate::durable` defines.

use crate::config::ServeConfig;
use anyhow::Context;
use pinion_io::journal::JournalHandle;
use std::time::Duration;

/// Longest a shutdown waits for the event export to publish what is journaled.
pub const EXPORT_DRAIN: Duration = Duration::from_secs(3);

/// Starts the export of journaled events to NATS JetStream (`events_to`), named by `node` (default:
/// the host name).
pub fn start(url: &str, cfg: &ServeConfig, journal: &JournalHandle) -> anyhow::Result<pinion_bus::export::Exporter> {
    let node = match &cfg.node {
        Some(n) => n.clone(),
        None => {
            let host = std::fs::read_to_string("/etc/hostname").ok().or_else(|| std::env::var("HOSTNAME").ok()).unwrap_or_default();
            let clean: String = host.trim().chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '_' }).take(64).collect();
            if clean.is_empty() {
                "pinion".to_string()
            } else {
                clean
            }
        }
    };
    let handle = journal.clone();
    let opts = pinion_bus::export::ExportOptions {
        url: url.to_string(),
        node: node.clone(),
        journal_dir: cfg.data_dir.join("journal"),
        durable_seq: Box::new(move || handle.durable_seq()),
        kind_of: crate::durable::export_kind,
    };
    let x = pinion_bus::export::Exporter::start(opts).context("starting the event export")?;
    log::info!("exporting journaled events to {url} as pinion.{node}.events.<kind>");
    Ok(x)
}
