//! `medigan audit MODEL|SYNTH_DIR --train DIR [--holdout DIR] [--gallery DIR]`: does a model
//! copy its training images?

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use medigan::Generators;
use medigan::evaluate::SyntheticRun;
use medigan::evaluate::audit::{
    AuditOptions, AuditReport, AuditRequest, AuditSubject, GalleryRequest,
};
use serde_json::json;

use super::evaluation::{extractor, options};
use crate::cli::AuditArgs;
use crate::progress::Bar;
use crate::render;
use crate::settings::Output;
use medigan::evaluate::MetricSet;

/// Audits a model's samples or a folder against the training (and holdout) images.
pub fn run(generators: &Generators, args: &AuditArgs, out: Output) -> anyhow::Result<ExitCode> {
    let request = AuditRequest {
        subject: AuditSubject::folder_or_model(
            &args.subject,
            SyntheticRun {
                num_samples: args.num_samples,
                seed: args.seed,
            },
        ),
        train: args.train.clone(),
        holdout: args.holdout.clone(),
        extractor: extractor(&args.extraction),
        options: AuditOptions {
            pixel_size: args.pixel_size,
            max_shift: args.max_shift,
            margin: args.margin,
            pixel_metric: args.pixel_metric.parse().map_err(medigan::Error::from)?,
            evaluate: options(&args.extraction, MetricSet::FID)?,
        },
        gallery: args.gallery.clone().map(|dir| GalleryRequest {
            dir,
            pairs: args.pairs,
        }),
    };
    let outcome = generators.audit(&request, &Bar::new(out.quiet))?;
    print_report(&outcome.report, outcome.gallery.as_deref(), out)?;
    super::success()
}

fn print_report(report: &AuditReport, page: Option<&Path>, out: Output) -> anyhow::Result<()> {
    if out.json {
        let mut value = serde_json::to_value(report).context("format the report")?;
        if let Some(map) = value.as_object_mut() {
            map.insert("catalog".into(), report.catalog_privacy());
            map.insert("gallery".into(), json!(page));
        }
        return render::json(&value);
    }
    let mut table = render::table(&[
        "synthetic",
        "closest training image (pixels)",
        "correlation",
        "feature distance",
        "flag",
    ]);
    for m in report
        .matches
        .iter()
        .filter(|m| m.flagged)
        .chain(report.matches.iter().filter(|m| !m.flagged).take(5))
    {
        table.add_row(vec![
            render::shorten(&m.synthetic_label, 40),
            format!(
                "{}{}",
                render::shorten(&m.pixel_nearest_label, 40),
                if m.pixel_flipped { " (mirrored)" } else { "" }
            ),
            format!("{:.4}", m.pixel_similarity),
            format!("{:.4}", m.feature_distance),
            if m.flagged { "likely copy" } else { "" }.into(),
        ]);
    }
    render::print_table(&table, "no synthetic images")?;
    render::line(format!(
        "\n{} of {} synthetic images flagged as likely copies (calibration: {}; thresholds: \
         correlation > {:.4} or feature distance < {:.4}, margin {})",
        report.flagged,
        report.synthetic_images,
        report.calibration,
        report.pixel_threshold,
        report.feature_threshold,
        report.margin
    ))?;
    render::line(format!(
        "feature distance to the closest training image, median: synthetic {:.4}, {} {:.4}",
        report.synthetic_dcr.median, report.calibration, report.calibration_dcr.median
    ))?;
    if let Some(page) = page {
        render::line(format!("gallery: {}", page.display()))?;
    }
    let privacy = report.catalog_privacy();
    let text = serde_json::to_string_pretty(&privacy["selection"]["privacy_preservation"])
        .context("format the entry")?;
    render::line(format!(
        "\n{} (paste into selection.privacy_preservation of its catalogue entry):\n{text}",
        report.subject
    ))?;
    Ok(())
}
