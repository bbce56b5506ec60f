//! The native package a conversion writes: `medigan.json` (the catalogue entry carried over,
//! `execution` made native), the graph, `LICENSE` and the model card `README.md`.

use std::path::Path;

use serde_json::{Map, Value, json};

use super::ConvertError;
use super::export::{Exported, OPSET};
use super::verify::Verification;
use crate::catalog::{
    ClassEncoding, Distribution, InputKind, InputSpec, ModelEntry, OnnxSpec, OutputKind,
    OutputSpec, RuntimeKind,
};

/// File name of the graph inside a converted package.
pub const GRAPH: &str = "generator.onnx";

/// The size (bytes) over which the export scripts write a graph's tensors to an external-data
/// file: `MEDIGAN_EXTERNAL_DATA_THRESHOLD_BYTES` when set (tests set it low), else `None` (the
/// scripts' default, 2 000 000 000 bytes: under protobuf's 2 GiB limit). The export request
/// carries it as `external_data_threshold`.
pub fn external_data_threshold() -> Option<u64> {
    crate::env::EXTERNAL_DATA_THRESHOLD.whole_number()
}

/// Declares, next to each graph of a converted package's `medigan.json` value (`{id: entry}`:
/// `execution.onnx.graph` and `execution.onnx.diffusion.decoder.graph`), the external-data
/// files the graph in `dir` names, each with its size and sha256 (`external_data`). A graph
/// without external data gets no field. Refuses a location outside the package folder.
pub fn declare_external_data(package: &mut Value, dir: &Path) -> Result<(), ConvertError> {
    let Some(entries) = package.as_object_mut() else {
        return Ok(());
    };
    for (id, entry) in entries.iter_mut() {
        let Some(onnx) = entry
            .pointer_mut("/execution/onnx")
            .and_then(Value::as_object_mut)
        else {
            continue;
        };
        declare_one(id, onnx, dir)?;
        if let Some(decoder) = onnx
            .get_mut("diffusion")
            .and_then(|d| d.get_mut("decoder"))
            .and_then(Value::as_object_mut)
        {
            declare_one(id, decoder, dir)?;
        }
    }
    Ok(())
}

fn declare_one(id: &str, holder: &mut Map<String, Value>, dir: &Path) -> Result<(), ConvertError> {
    let Some(graph) = holder.get("graph").and_then(Value::as_str) else {
        return Ok(());
    };
    let path = crate::runtime::graph_path_of(dir, graph).map_err(|e| ConvertError::Export {
        model: id.to_string(),
        what: e.to_string(),
        stderr: String::new(),
    })?;
    let files =
        crate::runtime::describe_external_data(&path).map_err(|e| ConvertError::Export {
            model: id.to_string(),
            what: e.to_string(),
            stderr: String::new(),
        })?;
    if !files.is_empty() {
        let list = serde_json::to_value(&files).unwrap_or_default();
        holder.insert("external_data".into(), list);
    }
    Ok(())
}

/// Where a converted package came from.
#[derive(Debug, Clone)]
pub struct ConversionProvenance {
    /// sha256 of the legacy package.
    pub package_sha256: String,
    /// Its link in the catalogue.
    pub package_link: String,
    /// The medigan-rs version that converted it.
    pub tool: String,
}

/// The class names of the graph's class input: the entry's `selection.condition` when it names
/// every traced class, else the class numbers.
pub fn class_names(entry: &ModelEntry, exported: &Exported) -> Vec<String> {
    let Some(seen) = exported
        .inputs
        .iter()
        .find(|i| i.kind == "class")
        .and_then(|i| i.seen.as_ref())
    else {
        return Vec::new();
    };
    let named = super::plan::class_names(entry);
    let needed = seen.iter().max().map_or(0, |&m| m as usize + 1);
    if named.len() >= needed.max(2) {
        named
    } else {
        (0..needed.max(2)).map(|i| i.to_string()).collect()
    }
}

/// The `execution.onnx` declaration of the exported graph.
pub fn onnx_spec(exported: &Exported, classes: &[String]) -> OnnxSpec {
    let inputs = exported
        .inputs
        .iter()
        .map(|input| {
            let class = input.kind == "class";
            InputSpec {
                name: input.name.clone(),
                kind: if class {
                    InputKind::Class
                } else {
                    InputKind::Latent
                },
                shape: input.shape.clone(),
                distribution: (!class).then_some(Distribution::Normal),
                truncation: None,
                classes: class.then(|| classes.to_vec()),
                encoding: class.then_some(ClassEncoding::Index),
                range: None,
                extra: Map::new(),
            }
        })
        .collect();
    let outputs = exported
        .outputs
        .iter()
        .map(|output| OutputSpec {
            name: output.name.clone(),
            kind: if output.kind == "mask" {
                OutputKind::Mask
            } else {
                OutputKind::Image
            },
            shape: output.shape.clone(),
            range: output.mapping.range(),
            extra: Map::new(),
        })
        .collect();
    OnnxSpec {
        graph: GRAPH.to_string(),
        inputs,
        outputs,
        diffusion: None,
        external_data: Vec::new(),
        extra: Map::new(),
    }
}

/// The converted package's `medigan.json`: the entry with a native `execution`.
pub fn metadata_json(
    entry: &ModelEntry,
    exported: &Exported,
    classes: &[String],
    provenance: &ConversionProvenance,
) -> Result<Value, ConvertError> {
    let mut metadata = entry.metadata.clone();
    let execution = &mut metadata.execution;
    execution.package_name = entry.id.clone();
    execution.package_link = ".".into();
    execution.model_name = "generator".into();
    execution.extension = ".onnx".into();
    execution.dependencies = Vec::new();
    execution.generate_method.args.custom = Some(Map::new());
    execution.runtime = Some(RuntimeKind::Onnx);
    execution.sha256 = None;
    execution.onnx = Some(onnx_spec(exported, classes));
    execution.extra.insert(
        "converted_from".into(),
        json!({
            "package_link": provenance.package_link,
            "package_sha256": provenance.package_sha256,
            "tool": provenance.tool,
            "torch": exported.torch,
            "opset": OPSET,
        }),
    );
    let value = serde_json::to_value(&metadata).map_err(|e| ConvertError::Export {
        model: entry.id.clone(),
        what: format!("cannot write the metadata: {e}"),
        stderr: String::new(),
    })?;
    Ok(json!({ entry.id.clone(): value }))
}

/// Writes `medigan.json` and `LICENSE` into `dir` (the graph is there already).
pub fn write_metadata(
    dir: &Path,
    entry: &ModelEntry,
    metadata: &Value,
) -> Result<(), ConvertError> {
    let path = dir.join("medigan.json");
    let text = serde_json::to_string_pretty(metadata).unwrap_or_default() + "\n";
    std::fs::write(&path, text).map_err(ConvertError::io("write", &path))?;
    let licence = entry.metadata.selection.license.get().cloned();
    let text = match licence {
        Some(name) => format!(
            "{name}\n\nThe licence of the weights, as the catalogue entry of the legacy package \
             `{}` gives it (selection.license). The converted graph holds the same weights.\n",
            entry.id
        ),
        None => format!(
            "The catalogue entry of the legacy package `{}` names no licence: ask its authors \
             before sharing this package.\n",
            entry.id
        ),
    };
    let path = dir.join("LICENSE");
    std::fs::write(&path, text).map_err(ConvertError::io("write", &path))
}

/// The model card: what the model is, that it was converted, from what, and how well it agrees.
pub fn card(
    entry: &ModelEntry,
    exported: &Exported,
    classes: &[String],
    provenance: &ConversionProvenance,
    verification: &Verification,
    accepted_differences: bool,
) -> String {
    let description = &entry.metadata.description;
    let mut text = format!("# {}\n\n", description.title);
    text.push_str(&format!(
        "Model `{}`, **converted** by `medigan convert` ({}) from the legacy medigan package \
         `{}` (sha256 `{}`) into a native package: an ONNX graph (opset {OPSET}) and \
         `medigan.json`, no code.\n\n",
        entry.id, provenance.tool, provenance.package_link, provenance.package_sha256
    ));
    text.push_str("## Conversion\n\n");
    text.push_str(&format!(
        "- exported module: `{}`, with torch {} (`torch.onnx.export`, TorchScript exporter, \
         dynamic batch axis)\n",
        exported.module, exported.torch
    ));
    if let Some(checker) = &exported.checker {
        text.push_str(&format!("- graph checked with {checker}\n"));
    }
    if let Some(error) = exported.graph_error {
        text.push_str(&format!(
            "- graph vs module on a batch of another size: max abs error {error:.3e}\n"
        ));
    }
    for input in &exported.inputs {
        match input.kind.as_str() {
            "class" => text.push_str(&format!(
                "- input `{}`: class index ({})\n",
                input.name,
                classes.join(", ")
            )),
            _ => text.push_str(&format!(
                "- input `{}`: latent {:?} ~ N(0, 1), the package's `input_latent_vector`\n",
                input.name,
                input.shape.as_deref().unwrap_or(&[])
            )),
        }
    }
    for output in &exported.outputs {
        text.push_str(&format!(
            "- output `{}` {:?} (module channels {}..{}): {}\n",
            output.name,
            output.shape,
            output.channels[0],
            output.channels[1],
            output.mapping.describe()
        ));
    }
    text.push_str("\n## Verification\n\n");
    text.push_str(&verification.markdown());
    if accepted_differences && !verification.passed {
        text.push_str(
            "\n**Written with `--accept-differences`: the images above differ from the legacy \
             package's beyond the tolerance.**\n",
        );
    }
    text.push_str("\n## Licence and citation\n\n");
    if let Some(licence) = entry.metadata.selection.license.get() {
        text.push_str(&format!("Licence: {licence} (see `LICENSE`).\n\n"));
    }
    if let Some(publication) = description.publication.get() {
        text.push_str(&format!("Publication: {publication}\n\n"));
    }
    if let Some(dois) = description.doi.get().filter(|d| !d.is_empty()) {
        text.push_str(&format!("DOI: {}\n\n", dois.join(", ")));
    }
    if let Some(comment) = description.comment.get() {
        text.push_str(&format!("{comment}\n\n"));
    }
    text.push_str(&format!(
        "To publish it: `medigan contribute <this folder> --id {}` asks for what the legacy \
         entry lacks (the upstream catalogue has no `description.authors`).\n",
        entry.id
    ));
    text
}
