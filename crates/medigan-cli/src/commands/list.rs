//! `medigan list`: every model of the catalogue.

use std::process::ExitCode;

use medigan::Generators;
use medigan::catalog::{ModelEntry, RuntimeKind};
use serde_json::json;

use crate::render;
use crate::settings::Output;

/// Lists the models as a table, or as JSON objects.
pub fn run(generators: &Generators, out: Output) -> anyhow::Result<ExitCode> {
    let catalog = generators.catalog()?;
    if out.json {
        let rows: Vec<_> = catalog
            .entries()
            .iter()
            .map(|e| {
                json!({
                    "model_id": e.id,
                    "title": e.metadata.description.title,
                    "runtime": runtime_name(e),
                    "source": catalog.sources()[e.source].location,
                })
            })
            .collect();
        render::json(&rows)?;
        return super::success();
    }
    let mut table = render::table(&["model", "type", "modality", "generates", "runtime"]);
    for entry in catalog.entries() {
        table.add_row(summary_row(entry));
    }
    render::print_table(&table, "The catalogue has no models.")?;
    if catalog
        .sources()
        .iter()
        .any(|s| s.kind == medigan::catalog::SourceKind::Snapshot)
    {
        render::note(
            out.quiet,
            format!(
                "note: the upstream models are from the catalogue snapshot built into this binary (taken {}); `medigan catalog update` fetches the current one",
                medigan::catalog::source::SNAPSHOT.taken
            ),
        );
    }
    super::success()
}

/// The runtime name shown to users.
pub fn runtime_name(entry: &ModelEntry) -> &'static str {
    let diffusion = entry
        .metadata
        .execution
        .onnx
        .as_ref()
        .is_some_and(|o| o.diffusion.is_some());
    match entry.metadata.runtime() {
        RuntimeKind::Onnx if diffusion => "onnx diffusion",
        RuntimeKind::Onnx => "onnx",
        RuntimeKind::MediganPython => "python",
    }
}

/// One row of a model table: id, type, modality, what it generates, runtime.
pub fn summary_row(entry: &ModelEntry) -> Vec<String> {
    let selection = &entry.metadata.selection;
    let list = |field: &medigan::catalog::Field<Vec<String>>| {
        field
            .get()
            .map_or(String::new(), |items| render::first_items(items, 2))
    };
    vec![
        entry.id.clone(),
        selection.model_type.get().cloned().unwrap_or_default(),
        list(&selection.modality),
        list(&selection.generates),
        runtime_name(entry).to_string(),
    ]
}
