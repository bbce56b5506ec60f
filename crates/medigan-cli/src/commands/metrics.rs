//! `medigan metrics REAL SYNTH`: every metric from one embedding pass (and the tables of KID,
//! PRDC and repeat intervals that `medigan fid` and `medigan evaluate` print too).

use std::process::ExitCode;

use medigan::Generators;
use medigan::evaluate::{Evaluation, ImageSet, MetricSet, check_set_size};

use super::fid::{Extraction, print_reports};
use crate::cli::FidArgs;
use crate::progress::Bar;
use crate::render;
use crate::settings::Output;

/// Computes every metric (or those of `--metrics`) of two folders and prints them.
pub fn run(generators: &Generators, args: &FidArgs, out: Output) -> anyhow::Result<ExitCode> {
    run_folders(generators, args, MetricSet::ALL, out)
}

/// Compares two folders with the metrics of `--metrics`, else `default`, and prints them.
pub fn run_folders(
    generators: &Generators,
    args: &FidArgs,
    default: MetricSet,
    out: Output,
) -> anyhow::Result<ExitCode> {
    // Both folders are checked before any weights are downloaded.
    for (folder, what) in [
        (&args.real, "the real set"),
        (&args.synthetic, "the synthetic set"),
    ] {
        let set = ImageSet::from_folder(folder)?;
        check_set_size(&set, what)?;
    }
    let extraction = Extraction::resolve_with(generators, &args.extraction, default, out)?;
    let bar = Bar::new(out.quiet);
    let report = generators.metrics(
        &args.real,
        &args.synthetic,
        extraction.source.as_ref(),
        &extraction.options,
        &bar,
    )?;
    print_reports(&[report], &extraction.metric_key, out)?;
    super::success()
}

/// The KID and PRDC table, and the intervals of repeated evaluations, when there are any.
pub fn print_other_metrics(reports: &[Evaluation]) -> anyhow::Result<()> {
    if reports.iter().any(|r| r.kid.is_some() || r.prdc.is_some()) {
        let mut table = render::table(&[
            "subject",
            "KID",
            "KID std",
            "precision",
            "recall",
            "density",
            "coverage",
            "k",
        ]);
        let cell = |v: Option<f64>, decimals: usize| {
            v.map_or_else(|| "-".to_string(), |v| format!("{v:.decimals$}"))
        };
        for r in reports {
            let prdc = r.prdc.as_ref();
            table.add_row(vec![
                r.subject.clone(),
                cell(r.kid.map(|k| k.mean), 6),
                cell(r.kid.map(|k| k.std), 6),
                cell(prdc.map(|p| p.precision), 4),
                cell(prdc.map(|p| p.recall), 4),
                cell(prdc.map(|p| p.density), 4),
                cell(prdc.map(|p| p.coverage), 4),
                prdc.map_or_else(|| "-".into(), |p| p.nearest_k.to_string()),
            ]);
        }
        render::line("")?;
        render::print_table(&table, "no results")?;
    }
    if reports.iter().any(|r| !r.intervals.is_empty()) {
        let mut table = render::table(&["subject", "metric", "mean", "95% interval", "repeats"]);
        for r in reports {
            for (name, interval) in &r.intervals {
                let decimals = if name == "KID" { 6 } else { 4 };
                table.add_row(vec![
                    r.subject.clone(),
                    name.clone(),
                    format!("{:.decimals$}", interval.mean),
                    format!(
                        "[{:.decimals$}, {:.decimals$}]",
                        interval.low, interval.high
                    ),
                    interval.count.to_string(),
                ]);
            }
        }
        render::line("")?;
        render::print_table(&table, "no results")?;
    }
    Ok(())
}
