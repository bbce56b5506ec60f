//! `medigan test`: the model test pipeline over chosen models or the whole catalogue.

use std::process::ExitCode;

use anyhow::bail;
use medigan::Generators;
use medigan::contribute::{ModelTestReport, Verdict};

use crate::cli::TestArgs;
use crate::progress::Bar;
use crate::render;
use crate::settings::Output;

/// Tests each model and prints a pass/fail table; exits 1 when any model fails.
pub fn run(generators: &Generators, args: &TestArgs, out: Output) -> anyhow::Result<ExitCode> {
    let models = chosen_models(generators, args)?;
    super::consent_to_legacy(generators, args.install_dependencies);
    let progress = Bar::new(out.quiet || out.json);
    let mut reports = Vec::with_capacity(models.len());
    for model in &models {
        if !out.quiet && !out.json {
            eprintln!("testing {model} ...");
        }
        reports.push(generators.test_model(model, &progress)?);
    }
    if out.json {
        render::json(&reports)?;
    } else {
        print_table(&reports)?;
    }
    let failed = reports
        .iter()
        .filter(|r| r.verdict == Verdict::Fail)
        .count();
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn chosen_models(generators: &Generators, args: &TestArgs) -> anyhow::Result<Vec<String>> {
    match (args.all, args.models.is_empty()) {
        (true, true) => Ok(generators.list_models()?),
        (true, false) => bail!("give model ids or --all, not both"),
        (false, true) => {
            bail!("name the models to test, or --all for every model of the catalogue")
        }
        (false, false) => args
            .models
            .iter()
            .map(|m| Ok(generators.get_config_by_id(m)?.id.clone()))
            .collect(),
    }
}

fn print_table(reports: &[ModelTestReport]) -> anyhow::Result<()> {
    let mut table = render::table(&["model", "result", "seconds", "details"]);
    for report in reports {
        let verdict = match report.verdict {
            Verdict::Pass => "pass",
            Verdict::Fail => "FAIL",
            Verdict::Skip => "skip",
        };
        let details = report.reason().unwrap_or_else(|| {
            report
                .checks
                .iter()
                .map(|c| c.name)
                .collect::<Vec<_>>()
                .join(", ")
        });
        table.add_row(vec![
            report.model_id.clone(),
            verdict.to_string(),
            format!("{:.2}", report.seconds),
            details,
        ]);
    }
    render::print_table(&table, "No models to test.")?;
    let count = |v: Verdict| reports.iter().filter(|r| r.verdict == v).count();
    render::line(format!(
        "{} passed, {} failed, {} skipped",
        count(Verdict::Pass),
        count(Verdict::Fail),
        count(Verdict::Skip)
    ))
}
