//! `medigan evaluate MODEL... --real DIR [-n N] [--plot FILE.svg]`.

use std::process::ExitCode;

use anyhow::Context;
use medigan::Generators;
use medigan::evaluate::plot::{PlotPoint, svg};
use medigan::evaluate::{MetricSet, SyntheticRun, SyntheticSide};

use super::evaluation::{print_reports, request};
use crate::cli::{EvaluateArgs, VolumeMode};
use crate::progress::Bar;
use crate::render;
use crate::settings::Output;

/// Embeds the real set once, then generates and evaluates each model against it.
pub fn run(generators: &Generators, args: &EvaluateArgs, out: Output) -> anyhow::Result<ExitCode> {
    super::consent_to_legacy(generators, args.install_dependencies);
    let synthetic = SyntheticSide::Models {
        models: args.models.clone(),
        run: SyntheticRun {
            num_samples: args.num_samples,
            seed: args.seed,
        },
    };
    if args.volumes.volumes == VolumeMode::Planes {
        if args.per_class || args.plot.is_some() {
            anyhow::bail!("--per-class and --plot are not available with --volumes planes");
        }
        return super::evaluation::run_planes(
            generators,
            &args.extraction,
            &args.volumes,
            &args.real,
            synthetic,
            MetricSet::FID,
            out,
        );
    }
    let mut request = request(&args.extraction, &args.real, synthetic, MetricSet::FID)?;
    request.per_class = args.per_class;
    let metric_key = request.metric_key();
    let reports = generators.evaluate(&request, &Bar::new(out.quiet))?;
    print_reports(&reports, &metric_key, out)?;
    if let Some(path) = &args.plot {
        // The models evaluated now are drawn from this run, not from their catalogue entry.
        let evaluated: Vec<&str> = reports.iter().map(|r| r.subject.as_str()).collect();
        let mut points = catalogue_points(generators, &metric_key, &evaluated)?;
        for r in reports.iter().filter_map(|r| r.fid.as_ref()) {
            if let Some(fid_rr) = r.fid_rr {
                points.push(PlotPoint {
                    label: short_label(&r.subject),
                    fid_rr,
                    fid_rs: r.fid_rs,
                    highlight: true,
                });
            }
        }
        let title = format!("{} real-synthetic against real-real", metric_key);
        medigan::fs::write_atomically(path, svg(&points, &title).as_bytes())
            .with_context(|| format!("could not write the plot `{}`", path.display()))?;
        render::note(
            out.quiet,
            format!(
                "plot: {} ({} points; red: evaluated now)",
                path.display(),
                points.len()
            ),
        );
    }
    super::success()
}

/// The catalogue's models that report `<key>` and `<key>_ratio` (FID_rr = FID x ratio), except
/// the models `skip` (full ids).
fn catalogue_points(
    generators: &Generators,
    key: &str,
    skip: &[&str],
) -> anyhow::Result<Vec<PlotPoint>> {
    let catalog = generators.catalog()?;
    let ratio_key = format!("{key}_ratio");
    Ok(catalog
        .selections()
        .filter(|(id, _)| !skip.contains(id))
        .filter_map(|(id, selection)| {
            let performance = selection.get("performance")?;
            let fid = performance.get(key)?.as_f64()?;
            let ratio = performance.get(&ratio_key)?.as_f64()?;
            Some(PlotPoint {
                label: short_label(id),
                fid_rr: fid * ratio,
                fid_rs: fid,
                highlight: false,
            })
        })
        .collect())
}

/// `00010_FASTGAN_...` -> `10`; other labels unchanged.
fn short_label(id: &str) -> String {
    match id.split_once('_') {
        Some((number, _)) if number.chars().all(|c| c.is_ascii_digit()) => {
            number.trim_start_matches('0').to_string()
        }
        _ => id.to_string(),
    }
}
