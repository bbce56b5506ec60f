//! `medigan catalog update|validate|sources|path`.

use std::process::ExitCode;

use anyhow::Context;
use medigan::Generators;
use medigan::catalog::{self, Problem, Severity, SourceInfo, SourceKind};
use serde_json::json;

use crate::cli::{CatalogCommand, ValidateArgs};
use crate::render;
use crate::settings::Output;

/// Runs one `catalog` subcommand.
pub fn run(
    generators: &Generators,
    command: CatalogCommand,
    out: Output,
) -> anyhow::Result<ExitCode> {
    match command {
        CatalogCommand::Update(args) => update(generators, args.url.as_deref(), out),
        CatalogCommand::Validate(args) => validate(generators, &args, out),
        CatalogCommand::Sources => sources(generators, out),
        CatalogCommand::Path => path(generators, out),
    }
}

fn update(generators: &Generators, url: Option<&str>, out: Output) -> anyhow::Result<ExitCode> {
    let settings = generators.settings();
    let report = catalog::source::update(&settings.catalog, &settings.home, url)?;
    if out.json {
        render::json(&report)?;
    } else {
        render::line(format!(
            "Updated the catalogue: {} models from {}\ncached at {}",
            report.models,
            report.url,
            report.path.display()
        ))?;
    }
    super::success()
}

fn validate(generators: &Generators, args: &ValidateArgs, out: Output) -> anyhow::Result<ExitCode> {
    let mut checked = Vec::new();
    let mut problems = Vec::new();
    if args.files.is_empty() {
        match generators.catalog() {
            Ok(catalog) => {
                checked.extend(catalog.sources().iter().map(|s| s.location.clone()));
                problems.extend(catalog.warnings().iter().cloned());
            }
            Err(medigan::Error::Catalog(catalog::CatalogError::Invalid {
                problems: found,
                source_name,
            })) => {
                checked.push(source_name);
                problems.extend(found);
            }
            Err(other) => return Err(other.into()),
        }
    } else {
        for file in &args.files {
            let text = std::fs::read_to_string(file)
                .with_context(|| format!("cannot read `{}`", file.display()))?;
            let found = catalog::validate::validate_catalog_text(&text)
                .with_context(|| format!("`{}` is not valid JSON", file.display()))?;
            checked.push(file.display().to_string());
            problems.extend(found);
        }
    }
    report_problems(&checked, &problems, args.strict, out)
}

fn report_problems(
    checked: &[String],
    problems: &[Problem],
    strict: bool,
    out: Output,
) -> anyhow::Result<ExitCode> {
    let errors = problems
        .iter()
        .filter(|p| p.severity == Severity::Error)
        .count();
    let warnings = problems.len() - errors;
    let failed = errors > 0 || (strict && warnings > 0);
    if out.json {
        let rows: Vec<_> = problems
            .iter()
            .map(|p| {
                json!({
                    "model": p.model,
                    "path": p.path,
                    "message": p.message,
                    "severity": if p.severity == Severity::Error { "error" } else { "warning" },
                })
            })
            .collect();
        render::json(&json!({ "checked": checked, "valid": !failed, "problems": rows }))?;
    } else {
        for problem in problems {
            render::line(problem)?;
        }
        render::line(format!(
            "Checked {}: {errors} error(s), {warnings} warning(s).",
            checked.join(", ")
        ))?;
    }
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

fn sources(generators: &Generators, out: Output) -> anyhow::Result<ExitCode> {
    let catalog = generators.catalog()?;
    let upstream = catalog::source::upstream_cache_path(&generators.settings().home);
    let snapshot = catalog::source::SNAPSHOT;
    let age_days = snapshot.age_days(std::time::SystemTime::now());
    let uses_snapshot = catalog
        .sources()
        .iter()
        .any(|s| s.kind == SourceKind::Snapshot);
    if out.json {
        render::json(&json!({
            "sources": catalog.sources(),
            "upstream_url": generators.settings().catalog.upstream_url,
            "upstream_cache": upstream,
            "snapshot": uses_snapshot.then(|| json!({
                "source_url": snapshot.source_url,
                "taken": snapshot.taken,
                "sha256": snapshot.sha256,
                "age_days": age_days,
            })),
        }))?;
        return super::success();
    }
    let mut table = render::table(&[
        "precedence",
        "kind",
        "location",
        "models",
        "replaced by later",
    ]);
    for (i, source) in catalog.sources().iter().enumerate() {
        table.add_row(source_row(i, source, age_days));
    }
    render::print_table(&table, "No catalogue source.")?;
    let has_upstream = catalog
        .sources()
        .iter()
        .any(|s| s.kind == SourceKind::Upstream);
    if generators.settings().catalog.explicit.is_empty() && !has_upstream {
        render::note(
            out.quiet,
            format!(
                "note: the upstream models come from the snapshot built into this binary (taken {}, {age_days} day(s) ago, sha256 {}); `medigan catalog update` fetches the current catalogue into {}",
                snapshot.taken,
                snapshot.sha256,
                upstream.display()
            ),
        );
    }
    super::success()
}

fn source_row(index: usize, source: &SourceInfo, snapshot_age_days: u64) -> Vec<String> {
    let kind = match source.kind {
        SourceKind::Snapshot => format!("upstream snapshot ({snapshot_age_days} day(s) old)"),
        SourceKind::Bundled => "bundled".into(),
        SourceKind::Upstream => "upstream (cached)".into(),
        SourceKind::File => "file".into(),
        SourceKind::Url => "url".into(),
    };
    vec![
        (index + 1).to_string(),
        kind,
        source.location.clone(),
        source.models.to_string(),
        source.overridden.to_string(),
    ]
}

fn path(generators: &Generators, out: Output) -> anyhow::Result<ExitCode> {
    let path = catalog::source::upstream_cache_path(&generators.settings().home);
    if out.json {
        render::json(&json!({ "upstream_cache": path, "exists": path.is_file() }))?;
    } else {
        render::line(path.display())?;
    }
    super::success()
}
