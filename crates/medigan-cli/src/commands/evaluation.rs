//! What `medigan fid`, `medigan metrics`, `medigan evaluate` and `medigan audit` share: the
//! evaluation flags translated into the library's [`EvaluationRequest`] (the library checks
//! them), and the reports printed.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use medigan::Generators;
use medigan::evaluate::planes::{PlaneOptions, PlanesRequest};
use medigan::evaluate::{
    EvaluateOptions, Evaluation, EvaluationRequest, ExtractorSpec, FeatureOptions,
    InputNormalization, KidOptions, MergeRequest, MetricOptions, MetricSet, ReadOptions,
    SyntheticSide, merge_stats, planes,
};
use serde_json::{Value, json};

use crate::cli::{ExtractionArgs, FidArgs, VolumeArgs, VolumeMode};
use crate::progress::Bar;
use crate::render;
use crate::settings::Output;

/// Compares two folders with the metrics of `--metrics`, else `default`, and prints them.
pub fn run_folders(
    generators: &Generators,
    args: &FidArgs,
    default: MetricSet,
    out: Output,
) -> anyhow::Result<ExitCode> {
    if !args.stats.merge_stats.is_empty() {
        return merge(args, out);
    }
    let (Some(real_arg), Some(synthetic_arg)) = (&args.real, &args.synthetic) else {
        anyhow::bail!("give the REAL and SYNTHETIC folders, or --merge-stats FILE...");
    };
    // A store URL on either side is read from a staged copy (bounded by
    // MEDIGAN_STORE_MAX_BYTES), removed when the command ends.
    let (real, _real_staged) = crate::stores::input(real_arg)?;
    let (synthetic, _synthetic_staged) = crate::stores::input(synthetic_arg)?;
    if args.volumes.volumes == VolumeMode::Planes {
        return planes(generators, args, &real, &synthetic, default, out);
    }
    let staged_dir = synthetic.display().to_string();
    let synthetic = SyntheticSide::Folder(synthetic);
    let mut request = request(&args.extraction, &real, synthetic, default)?;
    request.save_stats = args.stats.save_stats.clone();
    let mut reports = generators.evaluate(&request, &Bar::new(out.quiet))?;
    // A staged set is reported under its URL.
    for report in &mut reports {
        let shown = synthetic_arg.display().to_string();
        if report.subject == staged_dir {
            report.subject.clone_from(&shown);
        }
        if let Some(fid) = report.fid.as_mut().filter(|f| f.subject == staged_dir) {
            fid.subject = shown;
        }
    }
    print_reports(&reports, &request.metric_key(), out)?;
    if let Some(path) = &request.save_stats {
        render::note(
            out.quiet,
            format!("statistics written to `{}`", path.display()),
        );
    }
    super::success()
}

/// `--volumes planes`: the 2.5D FID of two folders of volumes, per plane and the mean.
fn planes(
    generators: &Generators,
    args: &FidArgs,
    real: &Path,
    synthetic: &Path,
    default: MetricSet,
    out: Output,
) -> anyhow::Result<ExitCode> {
    if args.stats.save_stats.is_some() {
        anyhow::bail!("--save-stats is not available with --volumes planes (three feature sets)");
    }
    let synthetic = SyntheticSide::Folder(synthetic.to_path_buf());
    run_planes(
        generators,
        &args.extraction,
        &args.volumes,
        real,
        synthetic,
        default,
        out,
    )
}

/// The 2.5D FID of a real folder of volumes against a folder or models (`--volumes planes`),
/// printed as a table per report, or as JSON.
pub fn run_planes(
    generators: &Generators,
    extraction: &ExtractionArgs,
    volumes: &VolumeArgs,
    real: &Path,
    synthetic: SyntheticSide,
    default: MetricSet,
    out: Output,
) -> anyhow::Result<ExitCode> {
    let metrics = match &extraction.metrics {
        Some(list) => MetricSet::parse(list)?,
        None if default == MetricSet::ALL => MetricSet::FID,
        None => default,
    };
    let request = PlanesRequest {
        real: real.to_path_buf(),
        synthetic,
        extractor: extractor(extraction),
        options: options(extraction, metrics)?,
        planes: PlaneOptions {
            center_ratio: volumes.center_slices,
            every: volumes.every_slice,
            empty_below: volumes.empty_below,
            clip: volumes.clip,
        },
    };
    let reports = planes::run(generators, &request, &Bar::new(out.quiet))?;
    let metric_key = extraction
        .metric_key
        .clone()
        .unwrap_or_else(|| request.extractor.metric_key());
    if out.json {
        render::json(&json!({ "metric": metric_key, "reports": reports }))?;
        return super::success();
    }
    let mut table = render::table(&["subject", "plane", "FID", "real slices", "synthetic slices"]);
    for report in &reports {
        for p in &report.planes {
            table.add_row(vec![
                report.subject.clone(),
                p.plane.to_string(),
                distance_text(p.fid),
                p.real_slices.to_string(),
                p.synthetic_slices.to_string(),
            ]);
        }
        table.add_row(vec![
            report.subject.clone(),
            "mean".to_string(),
            distance_text(report.fid_mean),
            String::new(),
            String::new(),
        ]);
    }
    render::print_table(&table, "no results")?;
    for report in &reports {
        render::note(
            out.quiet,
            format!(
                "{}: {} real and {} synthetic volumes, extractor {}",
                report.subject, report.real_volumes, report.synthetic_volumes, report.extractor
            ),
        );
    }
    super::success()
}

/// `--merge-stats`: the FID of the union of saved statistics (FID only unless `--metrics`
/// asks for more, which is refused with the reason).
fn merge(args: &FidArgs, out: Output) -> anyhow::Result<ExitCode> {
    let metrics = match &args.extraction.metrics {
        Some(list) => MetricSet::parse(list)?,
        None => MetricSet::FID,
    };
    let request = MergeRequest {
        stats: args.stats.merge_stats.clone(),
        real_stats: args.stats.real_stats.clone(),
        metrics,
        metric_key: args.extraction.metric_key.clone(),
    };
    let (report, metric_key) = merge_stats(&request)?;
    print_reports(&[report], &metric_key, out)?;
    super::success()
}

/// The evaluation the flags ask for (checked by the library when it runs).
pub fn request(
    args: &ExtractionArgs,
    real: &Path,
    synthetic: SyntheticSide,
    default_metrics: MetricSet,
) -> anyhow::Result<EvaluationRequest> {
    Ok(EvaluationRequest {
        real: real.to_path_buf(),
        synthetic,
        extractor: extractor(args),
        options: options(args, default_metrics)?,
        metric_key: args.metric_key.clone(),
        save_stats: None,
        per_class: false,
    })
}

/// The extractor of `--extractor` and its input flags.
pub fn extractor(args: &ExtractionArgs) -> ExtractorSpec {
    ExtractorSpec {
        inception_weights: args.inception_weights.clone(),
        input_size: args.input_size,
        normalization: InputNormalization {
            range: args.range,
            mean_std: args.mean.zip(args.std),
        },
        output_name: args.output_name.clone(),
        ..ExtractorSpec::new(args.extractor.clone())
    }
}

/// How sets are embedded and scored: the metrics of `--metrics`, else `default_metrics`.
pub fn options(
    args: &ExtractionArgs,
    default_metrics: MetricSet,
) -> anyhow::Result<EvaluateOptions> {
    let metrics = match &args.metrics {
        Some(list) => MetricSet::parse(list)?,
        None => default_metrics,
    };
    Ok(EvaluateOptions {
        features: FeatureOptions {
            batch_size: args.batch,
            threads: args.threads,
            min_max: args.normalize,
            read: ReadOptions {
                npy_range: args.npy_range,
            },
        },
        split_seed: args.split_seed,
        cache_dir: args.cache_features.clone(),
        metrics: MetricOptions {
            metrics,
            kid: KidOptions {
                subsets: args.kid_subsets,
                subset_size: args.kid_subset_size,
                seed: args.resample_seed,
            },
            nearest_k: args.nearest_k,
            repeats: args.repeats,
            frd: args.frd.settings()?,
        },
    })
}

/// Prints reports as tables and the catalogue lines, or as JSON.
pub fn print_reports(reports: &[Evaluation], metric_key: &str, out: Output) -> anyhow::Result<()> {
    if out.json {
        let items: Vec<Value> = reports.iter().map(|r| r.to_json(metric_key)).collect();
        return render::json(&json!({ "metric": metric_key, "reports": items }));
    }
    let optional = |v: Option<f64>, decimals: usize| {
        v.map_or_else(|| "-".to_string(), |v| format!("{v:.decimals$}"))
    };
    let fid_reports: Vec<_> = reports.iter().filter_map(|r| r.fid.as_ref()).collect();
    if !fid_reports.is_empty() {
        let mut table = render::table(&[
            "subject",
            "extractor",
            "FID_rs",
            "FID_rr",
            "rFID",
            "real",
            "synthetic",
            "normalised",
        ]);
        for r in fid_reports {
            table.add_row(vec![
                r.subject.clone(),
                r.extractor.clone(),
                distance_text(r.fid_rs),
                r.fid_rr.map_or_else(|| "-".to_string(), distance_text),
                optional(r.fid_ratio, 3),
                r.real_images.to_string(),
                r.synthetic_images.to_string(),
                if r.normalized { "yes" } else { "no" }.to_string(),
            ]);
        }
        render::print_table(&table, "no results")?;
        for note in reports.iter().filter_map(|r| r.fid.as_ref()?.ratio_note()) {
            render::note(out.quiet, format!("note: {note}"));
        }
    }
    print_other_metrics(reports)?;
    let frds: Vec<_> = reports
        .iter()
        .filter_map(|r| Some((r.subject.clone(), r.frd.as_ref()?)))
        .collect();
    if !frds.is_empty() {
        super::frd::print_table(&frds, out)?;
    }
    for r in reports
        .iter()
        .filter(|r| r.fid.is_some() || r.kid.is_some() || r.prdc.is_some())
    {
        let entry = r.catalog_performance(metric_key);
        let performance = &entry["selection"]["performance"];
        let text = serde_json::to_string_pretty(performance).context("format the entry")?;
        render::line(format!(
            "\n{} (paste into selection.performance of its catalogue entry):\n{text}",
            r.subject
        ))?;
    }
    Ok(())
}

/// A distance for the table: two decimals from 1 up, else four significant digits (a small
/// FID is not `0.00`); values within rounding noise of zero, negative zero included, are `0`.
fn distance_text(value: f64) -> String {
    if !value.is_finite() {
        return value.to_string();
    }
    if value.abs() < 1e-9 {
        return "0".into();
    }
    if value.abs() >= 1.0 {
        return format!("{value:.2}");
    }
    let decimals = (3.0 - value.abs().log10().floor()).clamp(2.0, 12.0) as usize;
    format!("{value:.decimals$}")
}

/// The KID, PRDC and CMMD table (with CMMD's note on its extractor), and the intervals of repeated evaluations, when there are any.
pub fn print_other_metrics(reports: &[Evaluation]) -> anyhow::Result<()> {
    if reports
        .iter()
        .any(|r| r.kid.is_some() || r.prdc.is_some() || r.cmmd.is_some())
    {
        let mut table = render::table(&[
            "subject",
            "KID",
            "KID std",
            "precision",
            "recall",
            "density",
            "coverage",
            "k",
            "CMMD",
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
                cell(r.cmmd.as_ref().map(|c| c.value), 6),
            ]);
        }
        render::line("")?;
        render::print_table(&table, "no results")?;
        if let Some(cmmd) = reports.iter().find_map(|r| r.cmmd.as_ref()) {
            render::line(format!("CMMD: {}", cmmd.note))?;
        }
    }
    if reports.iter().any(|r| !r.intervals.is_empty()) {
        let mut table = render::table(&["subject", "metric", "mean", "95% interval", "repeats"]);
        for r in reports {
            for (name, interval) in &r.intervals {
                let decimals = if name == "KID" || name == "CMMD" {
                    6
                } else {
                    4
                };
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

#[cfg(test)]
mod tests {
    use super::distance_text;

    #[test]
    fn small_distances_keep_their_digits_and_zero_has_no_sign() {
        assert_eq!(distance_text(0.0034), "0.003400");
        assert_eq!(distance_text(-0.0), "0");
        assert_eq!(distance_text(-1e-12), "0");
        assert_eq!(distance_text(67.6), "67.60");
        assert_eq!(distance_text(0.5), "0.5000");
    }
}
