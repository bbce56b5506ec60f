//! What `convert` would do with a catalogue entry, decided from its metadata alone (no download,
//! no code run): the table of `medigan convert --all --dry-run`, and the first check of a real
//! conversion.

use serde::Serialize;

use crate::catalog::{Catalog, ModelEntry};
use crate::legacy;

/// The verdict on one entry, from metadata.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "action", content = "detail")]
pub enum Plan {
    /// Convert: the inputs the native package would have.
    Convert(String),
    /// Refuse, and why.
    Refuse(String),
    /// Already a native package: nothing to do.
    Native,
}

/// One row of the dry-run table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DryRunRow {
    /// The model id.
    pub model_id: String,
    /// What convert would do.
    #[serde(flatten)]
    pub plan: Plan,
    /// The Python packages its environment would get.
    pub dependencies: Vec<String>,
}

/// Dependencies that mean the package runs on another framework than torch.
const OTHER_FRAMEWORKS: &[&str] = &["tensorflow", "keras", "jax", "mxnet", "paddle"];

/// What convert would do with `entry`, from its metadata.
pub fn plan_entry(entry: &ModelEntry) -> Plan {
    if !legacy::is_legacy(entry) {
        return Plan::Native;
    }
    let execution = &entry.metadata.execution;
    let method = &execution.generate_method;
    let custom = method.args.custom.clone().unwrap_or_default();
    if let Some(framework) = execution
        .dependencies
        .iter()
        .find_map(|d| other_framework(d))
    {
        return Plan::Refuse(format!(
            "a {framework} package: convert exports torch modules only"
        ));
    }
    let latent = method
        .input_latent_vector_size
        .get()
        .and_then(|v| v.as_u64())
        .filter(|&v| v > 0);
    let Some(latent) = latent else {
        let image_argument = custom
            .keys()
            .find(|k| k.to_ascii_lowercase().contains("path"));
        return Plan::Refuse(if let Some(argument) = image_argument {
            format!(
                "image-to-image (images from `{argument}`), no latent input (no \
                 input_latent_vector_size): its network takes the image tensor, which this \
                 version does not export"
            )
        } else {
            "no latent input (no input_latent_vector_size): the package draws its own \
             noise, which a native package cannot reproduce"
                .into()
        });
    };
    let mut inputs = format!("latent [{latent}]");
    if custom.contains_key("condition") {
        let classes = class_names(entry);
        inputs.push_str(&format!(
            " + class `condition` ({})",
            if classes.is_empty() {
                "classes from the traced values".to_string()
            } else {
                classes.join(", ")
            }
        ));
    }
    if custom.contains_key("input_path") {
        inputs.push_str(" (an `input_path` argument keeps its default)");
    }
    Plan::Convert(inputs)
}

/// The name of the framework a dependency belongs to, if not torch.
fn other_framework(dependency: &str) -> Option<&'static str> {
    let name = dependency.trim().to_ascii_lowercase();
    OTHER_FRAMEWORKS
        .iter()
        .find(|f| name.starts_with(**f))
        .copied()
}

/// The class names of a conditional entry: `selection.condition`.
pub fn class_names(entry: &ModelEntry) -> Vec<String> {
    entry
        .metadata
        .selection
        .condition
        .get()
        .cloned()
        .unwrap_or_default()
}

/// The dry-run table over every legacy entry of the catalogue, in catalogue order.
pub fn dry_run(catalog: &Catalog) -> Vec<DryRunRow> {
    catalog
        .entries()
        .iter()
        .filter(|e| legacy::is_legacy(e))
        .map(|entry| DryRunRow {
            model_id: entry.id.clone(),
            plan: plan_entry(entry),
            dependencies: entry.metadata.execution.dependencies.clone(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frameworks_other_than_torch_are_named() {
        assert_eq!(other_framework("tensorflow==2.9"), Some("tensorflow"));
        assert_eq!(other_framework(" Keras"), Some("keras"));
        assert_eq!(other_framework("torch"), None);
    }
}
