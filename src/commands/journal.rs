//! `pinion journal verify|dump`: inspect a server's journal without starting it.

use crate::durable::kind_name;
use anyhow::Context;
use clap::{Args, Subcommand};
use std::path::PathBuf;

#[derive(Args)]
pub struct JournalArgs {
    #[command(subcommand)]
    pub command: JournalCommand,
}

#[derive(Subcommand)]
pub enum JournalCommand {
    /// Check every record's checksum and sequence; report a torn tail.
    Verify {
        /// The journal directory (DATA_DIR/journal).
        #[arg(default_value = "pinion-data/journal")]
        dir: PathBuf,
    },
    /// Print records as `seq<TAB>kind<TAB>len<TAB>payload`.
    Dump {
        #[arg(default_value = "pinion-data/journal")]
        dir: PathBuf,
        /// First sequence number to print.
        #[arg(long, default_value_t = 0)]
        from: u64,
    },
    /// Measure restart time for a journal of N events and the core's latency with the journal on/off.
    Bench {
        #[arg(long, default_value_t = 1_000_000)]
        events: u64,
        /// Seconds of trading per latency phase.
        #[arg(long, default_value_t = 10)]
        seconds: u64,
    },
}

pub fn run(a: JournalArgs) -> anyhow::Result<()> {
    match a.command {
        JournalCommand::Verify { dir } => {
            let report = pinion_io::journal::verify(&dir).with_context(|| format!("verifying {}", dir.display()))?;
            println!("{report}");
            Ok(())
        }
        JournalCommand::Bench { events, seconds } => crate::commands::journal_bench::run(events, seconds),
        JournalCommand::Dump { dir, from } => {
            let stdout = std::io::stdout();
            let mut out = stdout.lock();
            pinion_io::journal::dump(&dir, from, &mut out, |kind, payload| {
                format!("{} {}", kind_name(kind), String::from_utf8_lossy(payload))
            })
            .with_context(|| format!("dumping {}", dir.display()))?;
            Ok(())
        }
    }
}
