//! `medigan info MODEL`: a model's metadata.

use std::process::ExitCode;

use medigan::Generators;
use medigan::catalog::ModelEntry;
use serde_json::Value;

use crate::cli::InfoArgs;
use crate::render;
use crate::settings::Output;

/// Shows the metadata of one model: a summary for people, the whole entry as JSON.
pub fn run(generators: &Generators, args: &InfoArgs, out: Output) -> anyhow::Result<ExitCode> {
    let entry = generators.get_config_by_id(&args.model)?;
    if out.json {
        let mut object = serde_json::Map::new();
        object.insert(entry.id.clone(), serde_json::to_value(&entry.metadata)?);
        render::json(&Value::Object(object))?;
        return super::success();
    }
    let catalog = generators.catalog()?;
    for (label, value) in summary(entry) {
        if !value.is_empty() {
            render::line(format!("{label:<12} {value}"))?;
        }
    }
    let source = &catalog.sources()[entry.source];
    render::line(format!("{:<12} {}", "source", source.location))?;
    if let Some(card) = model_card(source, entry) {
        render::line(format!("{:<12} {}", "card", card.display()))?;
    }
    super::success()
}

/// The model card (`README.md`) of a package described by its own `medigan.json` (a package
/// folder read as the catalogue, e.g. one fetched from an `hf://` link).
fn model_card(
    source: &medigan::catalog::SourceInfo,
    entry: &ModelEntry,
) -> Option<std::path::PathBuf> {
    let link = entry.metadata.execution.package_link.trim();
    if source.kind != medigan::catalog::SourceKind::File || !matches!(link, "." | "./") {
        return None;
    }
    let card = std::path::Path::new(&source.location)
        .parent()?
        .join("README.md");
    card.is_file().then_some(card)
}

fn summary(entry: &ModelEntry) -> Vec<(&'static str, String)> {
    let m = &entry.metadata;
    let list = |field: &medigan::catalog::Field<Vec<String>>| {
        field.get().map_or(String::new(), |items| items.join(", "))
    };
    let text = |field: &medigan::catalog::Field<String>| field.get().cloned().unwrap_or_default();
    let size: Vec<String> = m
        .execution
        .image_size
        .iter()
        .map(|d| d.value().map_or("?".into(), |v| v.to_string()))
        .collect();
    vec![
        ("model", entry.id.clone()),
        ("title", m.description.title.clone()),
        ("type", text(&m.selection.model_type)),
        ("runtime", super::list::runtime_name(entry).to_string()),
        ("modality", list(&m.selection.modality)),
        ("organ", list(&m.selection.organ)),
        ("generates", list(&m.selection.generates)),
        ("image size", size.join(" x ")),
        ("latent", latent(entry)),
        ("sampler", sampler(entry)),
        ("license", text(&m.selection.license)),
        ("dataset", list(&m.selection.dataset)),
        ("version", text(&m.description.version)),
        ("doi", list(&m.description.doi)),
        ("publication", text(&m.description.publication)),
        ("package", m.execution.package_link.clone()),
        ("metrics", metrics(&m.selection.performance)),
    ]
}

/// The latent drawn from each sample's seed: the ONNX latent input, or a legacy package's
/// `input_latent_vector_size` (passed as `input_latent_vector`).
fn latent(entry: &ModelEntry) -> String {
    let execution = &entry.metadata.execution;
    let native = execution
        .onnx
        .as_ref()
        .and_then(|spec| spec.input(medigan::catalog::InputKind::Latent))
        .map(|input| format!("{} values (input `{}`)", input.sample_len(), input.name));
    let legacy = || {
        let size = execution.generate_method.input_latent_vector_size.get()?;
        size.as_u64()
            .map(|n| format!("{n} values (input_latent_vector, drawn from each sample's seed)"))
    };
    native
        .or_else(legacy)
        .unwrap_or_else(|| match entry.metadata.runtime() {
            medigan::catalog::RuntimeKind::Onnx => String::new(),
            _ => "none declared: the package draws its own (seeded per block of 8 samples)".into(),
        })
}

/// A diffusion model's sampling defaults: steps, scheduler, guidance, noise, decoder.
fn sampler(entry: &ModelEntry) -> String {
    let Some(d) = entry
        .metadata
        .execution
        .onnx
        .as_ref()
        .and_then(|o| o.diffusion.as_ref())
    else {
        return String::new();
    };
    let scheduler = match &d.scheduler {
        medigan::catalog::SchedulerSource::File(file) => format!("scheduler from {file}"),
        medigan::catalog::SchedulerSource::Inline(config) => config
            .get("_class_name")
            .and_then(Value::as_str)
            .unwrap_or("inline scheduler")
            .to_string(),
    };
    let mut parts = vec![
        format!("{} steps (--steps)", d.steps),
        format!("{scheduler} (--scheduler)"),
        format!("noise {:?}", d.noise.shape),
    ];
    if let Some(g) = d.guidance_scale {
        parts.push(format!("guidance {g} (--guidance)"));
    }
    if let Some(decoder) = &d.decoder {
        parts.push(format!("latent decoder {}", decoder.graph));
    }
    for input in &d.conditioning {
        if input.kind == medigan::catalog::ConditioningKind::Prompt {
            let mut quoted: Vec<String> = input
                .prompts
                .iter()
                .take(50)
                .map(|p| format!("{p:?}"))
                .collect();
            if input.prompts.len() > quoted.len() {
                quoted.push(format!("and {} more", input.prompts.len() - quoted.len()));
            }
            parts.push(format!(
                "{} prompts (--prompt, exactly one of: {})",
                input.prompts.len(),
                quoted.join(", ")
            ));
        }
    }
    parts.join(", ")
}

fn metrics(performance: &serde_json::Map<String, Value>) -> String {
    let shown: Vec<String> = performance
        .iter()
        .filter(|(_, v)| v.is_number() || v.as_str().is_some_and(|s| !s.is_empty()))
        .map(|(k, v)| format!("{k}={}", v.as_str().map_or(v.to_string(), String::from)))
        .collect();
    shown.join(", ")
}
