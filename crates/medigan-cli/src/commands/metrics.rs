//! `medigan metrics REAL SYNTH`: every metric (or those of `--metrics`) from one embedding pass.

use std::process::ExitCode;

use medigan::Generators;
use medigan::evaluate::MetricSet;

use crate::cli::FidArgs;
use crate::settings::Output;

/// Computes every metric (or those of `--metrics`) of two folders and prints them.
pub fn run(generators: &Generators, args: &FidArgs, out: Output) -> anyhow::Result<ExitCode> {
    super::evaluation::run_folders(generators, args, MetricSet::ALL, out)
}
