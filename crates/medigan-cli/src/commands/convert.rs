//! `medigan convert`: a legacy package into a native one, or the `--all --dry-run` table.

use std::process::ExitCode;

use anyhow::bail;
use medigan::Generators;
use medigan::convert::{self, ConvertOptions, Plan};

use crate::cli::ConvertArgs;
use crate::progress::Bar;
use crate::render;
use crate::settings::Output;

/// Converts one model, or prints the dry-run table.
pub fn run(generators: &Generators, args: &ConvertArgs, out: Output) -> anyhow::Result<ExitCode> {
    if let Some(path) = args.model.as_deref().map(std::path::Path::new)
        && convert::source_kind(path).is_some()
    {
        return match args.dry_run {
            true => dry_run_folder(path, args, out),
            false => convert_folder(generators, path, args, out),
        };
    }
    match (&args.model, args.all, args.dry_run) {
        (None, true, true) => dry_run_all(generators, out),
        (Some(_), true, _) => bail!("give a model or --all, not both"),
        (None, true, false) => bail!(
            "--all only goes with --dry-run: converting runs each package's code; convert the \
             models one by one"
        ),
        (None, false, _) => bail!("name the model to convert, or --all --dry-run"),
        (Some(model), false, true) => dry_run_one(generators, model, out),
        (Some(model), false, false) => convert_one(generators, model, args, out),
    }
}

fn convert_one(
    generators: &Generators,
    model: &str,
    args: &ConvertArgs,
    out: Output,
) -> anyhow::Result<ExitCode> {
    if args.prompts.is_some() {
        bail!(
            "--prompts applies to a text-conditioned diffusers pipeline folder              (StableDiffusionPipeline), not to a legacy package; leave it out"
        );
    }
    super::consent_to_legacy(generators, args.install_dependencies);
    let options = ConvertOptions {
        model: model.to_string(),
        out: args.out.clone(),
        samples: args.samples,
        tolerance: args.tolerance,
        accept_differences: args.accept_differences,
        id: args.id.clone(),
        steps: args.steps,
        prompts: Vec::new(),
    };
    let progress = Bar::new(out.quiet || out.json);
    let report = convert::convert(generators, &options, &progress)?;
    if out.json {
        render::json(&report)?;
        return super::success();
    }
    render::line(format!(
        "converted {} ({} exported with torch {}) into {}",
        report.model_id,
        report.module,
        report.torch,
        report.dir.display()
    ))?;
    render::line(format!(
        "verification over {} seeds ({}): {}",
        report.verification.seeds,
        report.verification.runs.join(", "),
        if report.verification.passed {
            "equal within the tolerance"
        } else {
            "DIFFERENT (written because of --accept-differences)"
        }
    ))?;
    render::line(report.verification.summary())?;
    super::success()
}

fn convert_folder(
    generators: &Generators,
    path: &std::path::Path,
    args: &ConvertArgs,
    out: Output,
) -> anyhow::Result<ExitCode> {
    super::consent_to_legacy(generators, args.install_dependencies);
    let options = ConvertOptions {
        model: path.display().to_string(),
        out: args.out.clone(),
        samples: args.samples,
        tolerance: args.tolerance,
        accept_differences: args.accept_differences,
        id: args.id.clone(),
        steps: args.steps,
        prompts: match &args.prompts {
            Some(file) => convert::diffusers::read_prompts(file)?,
            None => Vec::new(),
        },
    };
    let report = convert::convert_folder(generators, path, &options)?;
    if out.json {
        render::json(&report)?;
        return super::success();
    }
    render::line(report.summary())?;
    let v = report.verification();
    render::line(format!(
        "verification: {} samples, {} steps of {}, the source's own loop vs medigan from the \
         same noise: {}",
        v.samples,
        v.steps,
        v.scheduler,
        if v.passed {
            "equal within the tolerance"
        } else {
            "DIFFERENT (written because of --accept-differences)"
        }
    ))?;
    render::line(v.summary())?;
    super::success()
}

fn dry_run_folder(
    path: &std::path::Path,
    args: &ConvertArgs,
    out: Output,
) -> anyhow::Result<ExitCode> {
    let id = args
        .id
        .clone()
        .unwrap_or_else(|| convert::folder_source::default_id(path));
    let (plan, dependencies) = convert::folder_plan(path, &id).map_err(medigan::Error::from)?;
    let row = convert::DryRunRow {
        model_id: id,
        plan,
        dependencies,
    };
    print_rows(&[row], out)
}

fn dry_run_one(generators: &Generators, model: &str, out: Output) -> anyhow::Result<ExitCode> {
    let entry = generators.get_config_by_id(model)?;
    let row = convert::DryRunRow {
        model_id: entry.id.clone(),
        plan: convert::plan_entry(entry),
        dependencies: entry.metadata.execution.dependencies.clone(),
    };
    print_rows(&[row], out)
}

fn dry_run_all(generators: &Generators, out: Output) -> anyhow::Result<ExitCode> {
    let rows = convert::dry_run(generators.catalog()?);
    print_rows(&rows, out)
}

fn print_rows(rows: &[convert::DryRunRow], out: Output) -> anyhow::Result<ExitCode> {
    if out.json {
        render::json(&rows)?;
        return super::success();
    }
    let mut table = render::table(&["model", "convert would", "details"]);
    for row in rows {
        let (action, detail) = match &row.plan {
            Plan::Convert(inputs) => ("convert", inputs.clone()),
            Plan::Refuse(reason) => ("refuse", reason.clone()),
            Plan::Native => ("skip", "a native package already".to_string()),
        };
        table.add_row(vec![row.model_id.clone(), action.to_string(), detail]);
    }
    render::print_table(&table, "No legacy models in the catalogue.")?;
    let count = |a: &str| {
        rows.iter()
            .filter(|r| {
                matches!(
                    (&r.plan, a),
                    (Plan::Convert(_), "c") | (Plan::Refuse(_), "r")
                )
            })
            .count()
    };
    render::line(format!(
        "{} would be converted (if their export and verification succeed), {} refused; \
         nothing was downloaded or run. Folders convert too: `medigan convert PATH --dry-run` \
         for a diffusers pipeline (DDPM, DDIM, LDM with AutoencoderKL or VQModel, \
         class-conditional UNet, StableDiffusionPipeline with --prompts FILE) or a MONAI \
         bundle (2D latent diffusion; MAISI-shaped 3D rectified flow with class label and \
         spacing)",
        count("c"),
        count("r")
    ))?;
    super::success()
}
