//! `medigan bundle export|import`: offline bundles for air-gapped sites (`medigan::bundle`).

use std::process::ExitCode;

use medigan::Generators;
use medigan::bundle::{BundleLimits, BundleReport, ExportOptions};

use crate::cli::BundleCommand;
use crate::render;
use crate::settings::Output;

/// Runs one `bundle` subcommand.
pub fn run(
    generators: &Generators,
    command: BundleCommand,
    out: Output,
) -> anyhow::Result<ExitCode> {
    let (verb, report) = match command {
        BundleCommand::Export(args) => {
            let options = ExportOptions {
                platform: args.platform,
                python_version: args.python_version,
                skip_dependencies: args.skip_dependencies,
            };
            let report = medigan::bundle::export(generators, &args.ids, &args.output, &options)?;
            ("wrote", report)
        }
        BundleCommand::Import(args) => {
            let home = &generators.settings().home;
            let report = medigan::bundle::import(home, &args.bundle, &BundleLimits::default())?;
            ("imported", report)
        }
    };
    print(verb, &report, out)?;
    super::success()
}

fn print(verb: &str, report: &BundleReport, out: Output) -> anyhow::Result<()> {
    if out.json {
        return render::json(report);
    }
    render::line(format!(
        "{verb} `{}`: {} ({}), {}, {} bytes",
        report.path.display(),
        render::count(report.models.len() as u64, "model"),
        report.models.join(", "),
        render::count(report.wheels as u64, "wheel"),
        report.bytes
    ))
}
