//! `medigan fid REAL SYNTH`: FID (and the metrics of `--metrics`) of two folders.

use std::process::ExitCode;

use medigan::Generators;
use medigan::evaluate::MetricSet;

use crate::cli::FidArgs;
use crate::settings::Output;

/// Computes the FID (and the metrics of `--metrics`) of two folders and prints it.
pub fn run(generators: &Generators, args: &FidArgs, out: Output) -> anyhow::Result<ExitCode> {
    super::evaluation::run_folders(generators, args, MetricSet::FID, out)
}
