//! `execution.onnx`: the declaration of a native package's graph, its inputs and its outputs.
//!
//! Shapes never include the batch dimension: the graph's first axis is the batch, and the
//! declared shape is what one sample needs or gives (`[C, H, W]` in 2D, `[C, D, H, W]` in 3D).
//! See `docs/model-format.md` for the format as a contributor sees it.

use std::path::{Component, Path};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Smallest accepted `truncation` of a latent: values are drawn until `|z| <= truncation`, which
/// takes about `1.25 / truncation` draws each, so a tiny truncation would never end.
pub const MIN_TRUNCATION: f64 = 0.01;

/// Most values one declared input or output of one sample may hold (2^31: 8 GiB of float32).
/// Larger declarations are refused before anything is allocated.
pub const MAX_DECLARED_VALUES: u64 = 1 << 31;

/// Why `graph` (the declared graph file) is not a plain relative path inside the package, if it
/// is not.
pub fn graph_path_problem(graph: &str) -> Option<&'static str> {
    if graph.is_empty() {
        return Some("it is empty");
    }
    if graph.starts_with(['/', '\\']) {
        return Some("it is an absolute path");
    }
    for component in Path::new(graph).components() {
        match component {
            Component::Normal(_) | Component::CurDir => {}
            Component::ParentDir => return Some("it leaves the package (`..`)"),
            Component::RootDir | Component::Prefix(_) => return Some("it is an absolute path"),
        }
    }
    None
}

/// The ONNX part of a native package's metadata.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OnnxSpec {
    /// File name of the generator graph inside the package, e.g. `generator.onnx`.
    pub graph: String,
    /// The graph's inputs, in any order.
    pub inputs: Vec<InputSpec>,
    /// The graph's outputs that are samples (image, optional mask); for a diffusion model, the
    /// final samples after the decoder.
    pub outputs: Vec<OutputSpec>,
    /// A diffusion model: `graph` is its denoiser, run by the sampler (`catalog::diffusion`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub diffusion: Option<super::DiffusionSpec>,
    /// The external-data files of `graph` (a graph over protobuf's 2 GB limit keeps its
    /// weights next to it), each with its size and sha256; empty for a self-contained graph.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub external_data: Vec<ExternalData>,
    /// Fields this version does not know, kept as they are.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// One external-data file of a graph (ONNX `TensorProto.external_data`, `location`): where it
/// is inside the package, its size and its sha256. The graph must name exactly the declared
/// files; each is checked before the graph is loaded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExternalData {
    /// Path of the file inside the package, relative to the graph's folder as the graph names
    /// it (e.g. `generator.onnx.data` next to `generator.onnx`).
    pub file: String,
    /// Its size in bytes.
    pub size: u64,
    /// Its sha256, 64 lower-case hex digits.
    pub sha256: String,
}

/// The problems of an `external_data` list (as JSON) declared at `at` (e.g.
/// `execution.onnx.external_data`): each entry must be an object with a plain relative `file`
/// inside the package (no `..`, not absolute), named once, a `size` and a 64-hex-digit `sha256`.
pub fn external_data_problems(value: &Value, at: &str) -> Vec<(String, String)> {
    let list: Vec<ExternalData> = match serde_path_to_error::deserialize(value) {
        Ok(list) => list,
        Err(e) => {
            let path = e.path().to_string();
            let field = if path == "." {
                at.to_string()
            } else {
                format!(
                    "{at}{}",
                    if path.starts_with('[') {
                        path
                    } else {
                        format!(".{path}")
                    }
                )
            };
            return vec![(field, e.into_inner().to_string())];
        }
    };
    let mut problems = Vec::new();
    for (i, data) in list.iter().enumerate() {
        let here = format!("{at}[{i}]");
        if let Some(reason) = graph_path_problem(&data.file) {
            problems.push((
                format!("{here}.file"),
                format!("refused: {reason}; name a file inside the package, e.g. \"generator.onnx.data\""),
            ));
        }
        if list[..i].iter().any(|d| d.file == data.file) {
            problems.push((
                format!("{here}.file"),
                format!("`{}` is listed twice", data.file),
            ));
        }
        if !(data.sha256.len() == 64
            && data
                .sha256
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)))
        {
            problems.push((
                format!("{here}.sha256"),
                format!("expected 64 lower-case hex digits, found `{}`", data.sha256),
            ));
        }
    }
    problems
}

/// What an input of the graph is fed with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InputKind {
    /// A latent vector drawn from the sample's seed.
    Latent,
    /// A class label chosen by name (conditional models).
    Class,
    /// An input image given by the user (image-to-image models).
    Image,
    /// An input mask given by the user.
    Mask,
    /// Extra noise drawn from the sample's seed.
    Noise,
}

/// How a class input is encoded in the graph.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClassEncoding {
    /// An `int64` tensor of shape `[batch]` holding the class index.
    #[default]
    Index,
    /// A `float32` tensor of shape `[batch, classes]` holding a one-hot vector.
    OneHot,
}

/// The distribution a latent or noise input is drawn from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Distribution {
    /// Standard normal, N(0, 1).
    #[default]
    Normal,
    /// Uniform on [-1, 1).
    Uniform,
}

/// One input of the graph.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InputSpec {
    /// The input's name in the graph.
    pub name: String,
    /// What it is fed with.
    pub kind: InputKind,
    /// Shape of one sample's input, without the batch axis (latent, noise, image, mask).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shape: Option<Vec<usize>>,
    /// Distribution of a latent or noise input (default normal).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub distribution: Option<Distribution>,
    /// Truncation of a normal latent: values are redrawn until |z| <= truncation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub truncation: Option<f64>,
    /// Class names of a class input, in index order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub classes: Option<Vec<String>>,
    /// Encoding of a class input (default index).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encoding: Option<ClassEncoding>,
    /// Value range the graph expects for an image or mask input, e.g. `[-1, 1]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub range: Option<[f64; 2]>,
    /// Fields this version does not know, kept as they are.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// What an output of the graph holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutputKind {
    /// The synthetic image.
    Image,
    /// A segmentation mask belonging to the image.
    Mask,
}

/// One output of the graph.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutputSpec {
    /// The output's name in the graph.
    pub name: String,
    /// What it holds.
    pub kind: OutputKind,
    /// Shape of one sample, without the batch axis: `[C, H, W]` (2D) or `[C, D, H, W]` (3D).
    pub shape: Vec<usize>,
    /// The range of the values the graph emits, e.g. `[-1, 1]` for a tanh output.
    pub range: [f64; 2],
    /// Fields this version does not know, kept as they are.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl InputSpec {
    /// Number of values one sample's input holds (product of the declared shape).
    pub fn sample_len(&self) -> usize {
        self.shape.as_deref().map_or(0, |s| s.iter().product())
    }

    /// The class names of a class input (empty for other kinds).
    pub fn class_names(&self) -> &[String] {
        self.classes.as_deref().unwrap_or(&[])
    }
}

impl OutputSpec {
    /// Number of channels (the first axis of the declared shape).
    pub fn channels(&self) -> usize {
        self.shape.first().copied().unwrap_or(0)
    }

    /// Whether a sample is a volume (`[C, D, H, W]`) rather than an image.
    pub fn is_volume(&self) -> bool {
        self.shape.len() == 4
    }

    /// Number of values in one sample.
    pub fn sample_len(&self) -> usize {
        self.shape.iter().product()
    }
}

impl OnnxSpec {
    /// The first output of the given kind.
    pub fn output(&self, kind: OutputKind) -> Option<&OutputSpec> {
        self.outputs.iter().find(|o| o.kind == kind)
    }

    /// The first input of the given kind.
    pub fn input(&self, kind: InputKind) -> Option<&InputSpec> {
        self.inputs.iter().find(|i| i.kind == kind)
    }
}
