//! Typed model metadata: one catalogue entry with its `execution`, `selection` and
//! `description` parts, in medigan's `global.json` format.
//!
//! Every struct keeps the fields it does not know in `extra`, and nullable fields use
//! [`Field`], so an entry read from JSON serializes back to equal JSON.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Number, Value};

use super::field::Field;
use super::onnx::OnnxSpec;

/// One model's metadata, as stored under its id in the catalogue.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelMetadata {
    /// How to fetch and run the model.
    pub execution: Execution,
    /// What the model generates and how well: searched and ranked.
    pub selection: Selection,
    /// Human-readable facts: title, dates, publication.
    pub description: Description,
    /// Top-level fields this version does not know, kept as they are.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// The `execution` part: download, package and run information.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Execution {
    /// Name of the package (usually the model id).
    pub package_name: String,
    /// Where the package is downloaded from: an http(s) URL, `file://` URL or local path.
    pub package_link: String,
    /// File name of the weights (legacy) inside the package, without extension.
    pub model_name: String,
    /// Extension of the weights file, e.g. `.pt` (may be empty).
    pub extension: String,
    /// Size of a generated image, e.g. `[128, 128]` or `[256, 256, 4]`.
    pub image_size: Vec<Dimension>,
    /// Python packages the legacy package needs.
    pub dependencies: Vec<String>,
    /// The function that generates samples, and its arguments.
    pub generate_method: GenerateMethod,
    /// Which runtime runs the package; absent means the original Python package format.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runtime: Option<RuntimeKind>,
    /// sha256 of the package file, lower-case hex.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    /// Inputs and outputs of a native ONNX package.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub onnx: Option<OnnxSpec>,
    /// Fields this version does not know, kept as they are.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Which runtime executes a model package.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum RuntimeKind {
    /// A native package: ONNX graph(s) and metadata, no code.
    #[serde(rename = "onnx")]
    Onnx,
    /// A package in the original medigan format: Python code run in its own environment.
    #[serde(rename = "medigan-python")]
    MediganPython,
}

/// One entry of `image_size`: an integer, or (as some upstream entries write it) a numeric string.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Dimension {
    /// Written as a JSON number.
    Number(u64),
    /// Written as a string such as `"224"`.
    Text(String),
}

impl Dimension {
    /// The size as a number, if it is one.
    pub fn value(&self) -> Option<u64> {
        match self {
            Dimension::Number(n) => Some(*n),
            Dimension::Text(s) => s.trim().parse().ok(),
        }
    }
}

/// `execution.generate_method`: the package's generate function.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GenerateMethod {
    /// Name of the function inside the package's `__init__.py`.
    pub name: String,
    /// Its arguments: the standard ones and the model specific defaults.
    pub args: GenerateArgs,
    /// Length of the latent vector, where the model has one.
    #[serde(default, skip_serializing_if = "Field::is_absent")]
    pub input_latent_vector_size: Field<Value>,
    /// Fields this version does not know, kept as they are.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `execution.generate_method.args`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GenerateArgs {
    /// The standard arguments (`model_file`, `num_samples`, `output_path`, `save_images`).
    pub base: Vec<String>,
    /// Model specific keyword arguments and their defaults.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom: Option<Map<String, Value>>,
    /// Fields this version does not know, kept as they are.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// The `selection` part: searched by keyword and ranked by its `performance` metrics.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Selection {
    /// Metrics (`FID`, `FID_ratio`, `CLF.trained_on_real_and_fake.f1`, ...), possibly nested.
    pub performance: Map<String, Value>,
    /// Use cases, e.g. `classification`.
    #[serde(default, skip_serializing_if = "Field::is_absent")]
    pub use_cases: Field<Vec<String>>,
    /// Organs shown, e.g. `breast`.
    #[serde(default, skip_serializing_if = "Field::is_absent")]
    pub organ: Field<Vec<String>>,
    /// Imaging modalities, e.g. `MMG`.
    #[serde(default, skip_serializing_if = "Field::is_absent")]
    pub modality: Field<Vec<String>>,
    /// Scanner vendors of the training data.
    #[serde(default, skip_serializing_if = "Field::is_absent")]
    pub vendors: Field<Vec<String>>,
    /// Centres the training data comes from.
    #[serde(default, skip_serializing_if = "Field::is_absent")]
    pub centres: Field<Vec<String>>,
    /// What the model does, e.g. `noise to image`.
    #[serde(default, skip_serializing_if = "Field::is_absent")]
    pub function: Field<Vec<String>>,
    /// Conditions the model takes, e.g. `benign`.
    #[serde(default, skip_serializing_if = "Field::is_absent")]
    pub condition: Field<Vec<String>>,
    /// Training data sets.
    #[serde(default, skip_serializing_if = "Field::is_absent")]
    pub dataset: Field<Vec<String>>,
    /// Augmentations used in training.
    #[serde(default, skip_serializing_if = "Field::is_absent")]
    pub augmentations: Field<Vec<String>>,
    /// What the samples show, e.g. `calcification`.
    #[serde(default, skip_serializing_if = "Field::is_absent")]
    pub generates: Field<Vec<String>>,
    /// Image height in pixels.
    #[serde(default, skip_serializing_if = "Field::is_absent")]
    pub height: Field<Number>,
    /// Image width in pixels.
    #[serde(default, skip_serializing_if = "Field::is_absent")]
    pub width: Field<Number>,
    /// Channels or slices.
    #[serde(default, skip_serializing_if = "Field::is_absent")]
    pub depth: Field<Number>,
    /// Model type, e.g. `DCGAN`.
    #[serde(default, skip_serializing_if = "Field::is_absent", rename = "type")]
    pub model_type: Field<String>,
    /// Licence of the model.
    #[serde(default, skip_serializing_if = "Field::is_absent")]
    pub license: Field<String>,
    /// `public` or `non-public` training data.
    #[serde(default, skip_serializing_if = "Field::is_absent")]
    pub dataset_type: Field<String>,
    /// Privacy preservation technique, if any.
    #[serde(default, skip_serializing_if = "Field::is_absent")]
    pub privacy_preservation: Field<String>,
    /// Free keywords.
    #[serde(default, skip_serializing_if = "Field::is_absent")]
    pub tags: Field<Vec<String>>,
    /// Year, as a number or a string.
    #[serde(default, skip_serializing_if = "Field::is_absent")]
    pub year: Field<Value>,
    /// Fields this version does not know, kept as they are.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// The `description` part: facts for people.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Description {
    /// Title of the model.
    pub title: String,
    /// When the model was provided.
    #[serde(default, skip_serializing_if = "Field::is_absent")]
    pub provided_date: Field<String>,
    /// When the model was trained.
    #[serde(default, skip_serializing_if = "Field::is_absent")]
    pub trained_date: Field<String>,
    /// Epoch(s) of the provided weights.
    #[serde(default, skip_serializing_if = "Field::is_absent")]
    pub provided_after_epoch: Field<Value>,
    /// Version of the model package.
    #[serde(default, skip_serializing_if = "Field::is_absent")]
    pub version: Field<String>,
    /// Related publication.
    #[serde(default, skip_serializing_if = "Field::is_absent")]
    pub publication: Field<String>,
    /// DOIs of the package and publications.
    #[serde(default, skip_serializing_if = "Field::is_absent")]
    pub doi: Field<Vec<String>>,
    /// Help texts of the model specific inputs.
    #[serde(default, skip_serializing_if = "Field::is_absent")]
    pub inputs: Field<Vec<String>>,
    /// Free description.
    #[serde(default, skip_serializing_if = "Field::is_absent")]
    pub comment: Field<String>,
    /// Fields this version does not know, kept as they are.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl ModelMetadata {
    /// The runtime that executes this model (`MediganPython` when none is declared).
    pub fn runtime(&self) -> RuntimeKind {
        self.execution.runtime.unwrap_or(RuntimeKind::MediganPython)
    }
}
