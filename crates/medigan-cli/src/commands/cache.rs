//! `medigan cache ls|verify|rm|path`.

use std::process::ExitCode;

use medigan::Generators;
use serde_json::json;

use crate::cli::CacheCommand;
use crate::render;
use crate::settings::Output;

/// Runs one `cache` subcommand.
pub fn run(
    generators: &Generators,
    command: CacheCommand,
    out: Output,
) -> anyhow::Result<ExitCode> {
    let store = generators.store();
    match command {
        CacheCommand::Path => {
            if out.json {
                render::json(
                    &json!({ "home": generators.settings().home.root(), "packages": store.path(),
                        "envs": generators.settings().home.envs_dir(),
                        "graphs": generators.settings().home.graphs_dir() }),
                )?;
            } else {
                render::line(store.path().display())?;
            }
        }
        CacheCommand::Ls => {
            let packages = store.list()?;
            if out.json {
                let rows: Vec<_> = packages
                    .iter()
                    .map(|p| json!({"sha256": p.sha256, "labels": p.labels, "source": p.source, "size": p.size, "files": p.files, "dir": p.dir}))
                    .collect();
                render::json(&rows)?;
            } else {
                let mut table = render::table(&["sha256", "models", "size", "files", "source"]);
                for p in &packages {
                    table.add_row(vec![
                        p.sha256[..12].to_string(),
                        p.labels.join(", "),
                        human_size(p.size),
                        p.files.to_string(),
                        render::shorten(&p.source, 60),
                    ]);
                }
                render::print_table(&table, "The package cache is empty.")?;
            }
        }
        CacheCommand::Verify(args) => {
            let key = store_key(generators, &args.key);
            let report = store.verify(&key)?;
            if out.json {
                render::json(
                    &json!({"sha256": report.sha256, "ok": report.is_ok(), "checked": report.checked,
                    "changed": report.changed, "missing": report.missing, "added": report.added}),
                )?;
            } else if report.is_ok() {
                render::line(format!(
                    "ok: {} files of {} match their record",
                    report.checked,
                    &report.sha256[..12]
                ))?;
            } else {
                for (label, files) in [
                    ("changed", &report.changed),
                    ("missing", &report.missing),
                    ("added", &report.added),
                ] {
                    for file in files {
                        render::line(format!("{label}: {file}"))?;
                    }
                }
                render::note(
                    out.quiet,
                    format!(
                        "hint: `medigan cache rm {}` removes the damaged package; the next use fetches it again",
                        &report.sha256[..12]
                    ),
                );
            }
            if !report.is_ok() {
                return Ok(ExitCode::FAILURE);
            }
        }
        CacheCommand::Rm(args) => {
            let key = store_key(generators, &args.key);
            let removed = store.remove(&key)?;
            if out.json {
                render::json(&json!({"removed": removed.sha256, "dir": removed.dir}))?;
            } else {
                render::line(format!(
                    "removed {} ({})",
                    &removed.sha256[..12],
                    removed.labels.join(", ")
                ))?;
            }
        }
    }
    super::success()
}

/// What the store knows a package by: a model id in any form the other commands take (`900`,
/// `00900`, a prefix) becomes the full id it was fetched as; anything else (a sha256 or a
/// prefix of one) is passed on as it is.
fn store_key(generators: &Generators, key: &str) -> String {
    generators
        .catalog()
        .ok()
        .and_then(|catalog| catalog.resolve(key).ok())
        .map_or_else(|| key.to_string(), |entry| entry.id.clone())
}

fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["B", "KiB", "MiB", "GiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}
