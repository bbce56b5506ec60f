//! `medigan frd REAL SYNTH`: the Frechet Radiomics Distance of two folders (frd-score's FRD,
//! radiomics computed natively).

use std::process::ExitCode;

use medigan::Generators;
use medigan::evaluate::frd::{FrdReport, FrdRequest};

use crate::cli::FrdArgs;
use crate::progress::Bar;
use crate::render;
use crate::settings::Output;

/// Computes the FRD of two folders and prints it.
pub fn run(generators: &Generators, args: &FrdArgs, out: Output) -> anyhow::Result<ExitCode> {
    if !args.merge_stats.is_empty() {
        let report = generators.frd_merged(&args.merge_stats, args.frd.paper_log)?;
        let request = FrdRequest::default();
        print_report(&request, &report, out)?;
        return super::success();
    }
    let request = request(args)?;
    let report = generators.frd(&request, &Bar::new(out.quiet))?;
    print_report(&request, &report, out)?;
    if let Some(path) = &request.save_stats {
        render::note(
            out.quiet,
            format!("features written to `{}`", path.display()),
        );
    }
    super::success()
}

/// The typed request of the command's flags.
pub fn request(args: &FrdArgs) -> anyhow::Result<FrdRequest> {
    let (real_masks, synthetic_masks) = match args.masks.as_slice() {
        [] => (None, None),
        [real, synthetic] => (Some(real.clone()), Some(synthetic.clone())),
        _ => anyhow::bail!("--masks takes two folders: REAL_MASKS SYNTHETIC_MASKS"),
    };
    let (Some(real), Some(synthetic)) = (&args.real, &args.synthetic) else {
        anyhow::bail!("give the REAL and SYNTHETIC folders, or --merge-stats FILE...");
    };
    Ok(FrdRequest {
        real: real.clone(),
        synthetic: synthetic.clone(),
        save_stats: args.save_stats.clone(),
        real_masks,
        synthetic_masks,
        settings: args.frd.settings()?,
    })
}

/// The report as a table (or JSON with `--json`).
pub fn print_report(request: &FrdRequest, report: &FrdReport, out: Output) -> anyhow::Result<()> {
    if out.json {
        return render::json(&report.to_json_for(request));
    }
    let subject = if request.synthetic.as_os_str().is_empty() {
        "the union of the shards".to_string()
    } else {
        request.synthetic.display().to_string()
    };
    print_table(&[(subject, report)], out)
}

/// FRD reports as one table, each row a subject, then the convention and any dropped features.
pub fn print_table(rows: &[(String, &FrdReport)], out: Output) -> anyhow::Result<()> {
    let mut table = render::table(&[
        "subject",
        "FRD",
        "version",
        "d^2",
        "features",
        "real",
        "synthetic",
    ]);
    for (subject, report) in rows {
        table.add_row(vec![
            subject.clone(),
            format!("{:.6}", report.frd),
            report.version.name().to_string(),
            format!("{:.6}", report.squared_distance),
            format!("{} of {}", report.features_used, report.features_extracted),
            images_text(report.images[0], report.dropped_images[0]),
            images_text(report.images[1], report.dropped_images[1]),
        ]);
    }
    render::print_table(&table, "")?;
    for (_, report) in rows {
        render::note(out.quiet, format!("FRD = {}", report.convention));
        if !report.dropped_features.is_empty() {
            render::note(
                out.quiet,
                format!(
                    "{} features constant on the real set were left out: {}",
                    report.dropped_features.len(),
                    render::first_items(&report.dropped_features, 5)
                ),
            );
        }
    }
    Ok(())
}

fn images_text(read: usize, dropped: usize) -> String {
    match dropped {
        0 => read.to_string(),
        d => format!("{} ({d} left out)", read - d),
    }
}
