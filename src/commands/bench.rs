//! `pinion bench`: latency and throughput figures that criterion cannot give (percentiles).

use clap::Args;

#[derive(Args)]
pub struct BenchArgs {}

pub fn run(_a: BenchArgs) -> anyhow::Result<()> {
    anyhow::bail!("pinion bench is being written")
}
