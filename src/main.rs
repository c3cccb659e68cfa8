//! The `pinion` binary: wires core, io, http and models together behind subcommands.
fn main() {}
