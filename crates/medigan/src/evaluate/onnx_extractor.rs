//! A feature extractor from a user's ONNX file (e.g. a RadImageNet network), run by the
//! project's runtime (onnxruntime or tract).
//!
//! The graph takes one float32 image input `[batch, 3, H, W]` and gives features as
//! `[batch, D]` or `[batch, D, 1, 1]` (a pooled output), with a dynamic batch axis. Its input
//! size comes from the graph when fixed there, else from the user; the value range and mean/std
//! are the user's declaration (the graph cannot say what it was trained on).

use std::path::PathBuf;

use ndarray::{Array2, ArrayView4, Ix2};
use serde_json::Map;
use sha2::{Digest, Sha256};

use super::error::EvaluateError;
use super::extractor::{ExtractorSource, FeatureExtractor, InputNormalization};
use crate::catalog::{InputKind, InputSpec, OnnxSpec, OutputKind, OutputSpec};
use crate::runtime::{
    BackendKind, Dim, NamedTensor, PortInfo, Session, SessionOptions, open_session, read_signature,
};

/// What the user declares about an ONNX feature extractor.
#[derive(Debug, Clone, PartialEq)]
pub struct OnnxExtractorConfig {
    /// The `.onnx` file.
    pub graph: PathBuf,
    /// `[height, width]`; required when the graph leaves them dynamic, checked when it fixes them.
    pub input_size: Option<[usize; 2]>,
    /// The value range and mean/std the network expects.
    pub normalization: InputNormalization,
    /// The output holding the features (default: the graph's first output).
    pub output: Option<String>,
    /// The backend (default: onnxruntime when found, else tract).
    pub backend: Option<BackendKind>,
}

/// A checked ONNX extractor declaration, from which each worker opens its own session.
#[derive(Debug, Clone)]
pub struct OnnxExtractorSpec {
    config: OnnxExtractorConfig,
    spec: OnnxSpec,
    size: [usize; 2],
    dims: usize,
    output_rank: usize,
    name: String,
    sha256: String,
}

impl OnnxExtractorSpec {
    /// Reads the graph's signature and checks it against the declaration.
    pub fn resolve(config: OnnxExtractorConfig) -> Result<OnnxExtractorSpec, EvaluateError> {
        let graph = &config.graph;
        let signature = read_signature(graph)?;
        let refuse = |reason: String| EvaluateError::Extractor {
            name: graph.display().to_string(),
            reason,
        };
        let [input] = signature.inputs.as_slice() else {
            let names: Vec<&str> = signature.inputs.iter().map(|p| p.name.as_str()).collect();
            return Err(refuse(format!(
                "a feature extractor takes exactly one input (the images); this graph has {}: {}",
                names.len(),
                names.join(", ")
            )));
        };
        let size = input_size(input, config.input_size).map_err(refuse)?;
        let output = match &config.output {
            Some(name) => signature
                .outputs
                .iter()
                .find(|p| &p.name == name)
                .ok_or_else(|| {
                    let names: Vec<&str> =
                        signature.outputs.iter().map(|p| p.name.as_str()).collect();
                    refuse(format!(
                        "no output named `{name}`; the outputs are: {}",
                        names.join(", ")
                    ))
                })?,
            None => signature
                .outputs
                .first()
                .ok_or_else(|| refuse("the graph has no output".into()))?,
        };
        let (dims, output_shape) = feature_shape(output).map_err(refuse)?;
        let spec = OnnxSpec {
            graph: graph.display().to_string(),
            inputs: vec![InputSpec {
                name: input.name.clone(),
                kind: InputKind::Image,
                shape: Some(vec![3, size[0], size[1]]),
                distribution: None,
                truncation: None,
                classes: None,
                encoding: None,
                range: Some(config.normalization.range.map(f64::from)),
                extra: Map::new(),
            }],
            outputs: vec![OutputSpec {
                name: output.name.clone(),
                kind: OutputKind::Image,
                shape: output_shape.clone(),
                range: [f64::NEG_INFINITY, f64::INFINITY],
                extra: Map::new(),
            }],
            diffusion: None,
            external_data: Vec::new(),
            extra: Map::new(),
        };
        let bytes = std::fs::read(graph).map_err(EvaluateError::io("read", graph))?;
        let digest = hex::encode(Sha256::digest(&bytes));
        let file = graph
            .file_name()
            .map_or_else(|| "graph".into(), |f| f.to_string_lossy().into_owned());
        let name = format!("onnx:{file}@{}", &digest[..12]);
        Ok(OnnxExtractorSpec {
            output_rank: output_shape.len() + 1,
            config,
            spec,
            size,
            dims,
            name,
            sha256: digest,
        })
    }

    /// The extractor's name: `onnx:<file name>@<first 12 hex digits of its sha256>`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// `[height, width]` of the input.
    pub fn input_size(&self) -> [usize; 2] {
        self.size
    }

    /// Features per image.
    pub fn feature_dims(&self) -> usize {
        self.dims
    }

    /// Opens a session (one per worker thread) with `intra_threads` threads inside operators.
    pub fn open(&self, intra_threads: Option<usize>) -> Result<OnnxExtractor, EvaluateError> {
        let options = SessionOptions {
            backend: self.config.backend,
            intra_threads,
            ..SessionOptions::default()
        };
        let loaded = open_session(&self.config.graph, &self.spec, &options)?;
        if let Some(hint) = &loaded.hint {
            tracing::info!("{hint}");
        }
        Ok(OnnxExtractor {
            session: loaded.session,
            spec: self.clone(),
        })
    }
}

/// A running ONNX feature extractor (one per worker thread).
pub struct OnnxExtractor {
    session: Box<dyn Session>,
    spec: OnnxExtractorSpec,
}

impl std::fmt::Debug for OnnxExtractor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OnnxExtractor")
            .field("name", &self.spec.name)
            .field("backend", &self.session.backend())
            .finish()
    }
}

impl OnnxExtractor {
    /// The backend running it.
    pub fn backend(&self) -> BackendKind {
        self.session.backend()
    }
}

impl FeatureExtractor for OnnxExtractor {
    fn name(&self) -> String {
        self.spec.name.clone()
    }

    fn input_size(&self) -> [usize; 2] {
        self.spec.size
    }

    fn feature_dims(&self) -> usize {
        self.spec.dims
    }

    fn normalization(&self) -> InputNormalization {
        self.spec.config.normalization
    }

    fn extract(&mut self, batch: ArrayView4<'_, f32>) -> Result<Array2<f32>, EvaluateError> {
        let n = batch.shape()[0];
        let input = NamedTensor::f32(
            self.spec.spec.inputs[0].name.clone(),
            batch.to_owned().into_dyn(),
        );
        let outputs = self.session.run(&[input])?;
        let features = outputs
            .into_iter()
            .next()
            .ok_or_else(|| EvaluateError::Extractor {
                name: self.spec.name.clone(),
                reason: "the run gave no output".into(),
            })?
            .data;
        debug_assert_eq!(features.ndim(), self.spec.output_rank);
        features
            .into_shape_with_order((n, self.spec.dims))
            .and_then(|a| a.into_dimensionality::<Ix2>())
            .map_err(|e| EvaluateError::Extractor {
                name: self.spec.name.clone(),
                reason: format!("features of unexpected shape: {e}"),
            })
    }
}

/// The input size: fixed by the graph, given by the user, or both (then they must agree).
fn input_size(input: &PortInfo, given: Option<[usize; 2]>) -> Result<[usize; 2], String> {
    let dims = input.dims.as_deref().unwrap_or(&[]);
    let [_, channels, h, w] = dims else {
        return Err(format!(
            "input `{}` must be [batch, 3, height, width]; the graph gives it {} dimensions",
            input.name,
            dims.len()
        ));
    };
    if !matches!(channels, Dim::Fixed(3) | Dim::Symbol(_) | Dim::Unknown) {
        return Err(format!(
            "input `{}` must have 3 channels (NCHW); the graph has {channels} on axis 1 \
             (an NHWC graph needs a transpose before export)",
            input.name
        ));
    }
    let fixed = |d: &Dim| match d {
        Dim::Fixed(n) => usize::try_from(*n).ok(),
        _ => None,
    };
    match ((fixed(h), fixed(w)), given) {
        ((Some(h), Some(w)), None) => Ok([h, w]),
        ((Some(h), Some(w)), Some(g)) if g == [h, w] => Ok(g),
        ((Some(h), Some(w)), Some(g)) => Err(format!(
            "the graph takes {h}x{w} images, but the input size given is {}x{}",
            g[0], g[1]
        )),
        (_, Some(g)) if g[0] > 0 && g[1] > 0 => Ok(g),
        _ => Err(format!(
            "input `{}` has a dynamic height or width: give the input size (--input-size)",
            input.name
        )),
    }
}

/// The feature length and the per-sample output shape: `[D]` or `[D, 1, 1]`.
fn feature_shape(output: &PortInfo) -> Result<(usize, Vec<usize>), String> {
    let dims = output.dims.as_deref().unwrap_or(&[]);
    let fixed: Option<Vec<usize>> = dims
        .iter()
        .skip(1)
        .map(|d| match d {
            Dim::Fixed(n) => usize::try_from(*n).ok(),
            _ => None,
        })
        .collect();
    match (dims.len(), fixed) {
        (2, Some(shape)) if shape[0] > 0 => Ok((shape[0], shape)),
        (4, Some(shape)) if shape[0] > 0 && shape[1] == 1 && shape[2] == 1 => Ok((shape[0], shape)),
        _ => Err(format!(
            "output `{}` must be [batch, D] or [batch, D, 1, 1] with D fixed; the graph gives [{}]",
            output.name,
            dims.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        )),
    }
}

impl ExtractorSource for OnnxExtractorSpec {
    fn name(&self) -> String {
        self.name.clone()
    }

    fn sha256(&self) -> Option<String> {
        Some(self.sha256.clone())
    }

    fn input_size(&self) -> [usize; 2] {
        self.size
    }

    fn feature_dims(&self) -> usize {
        self.dims
    }

    fn normalization(&self) -> InputNormalization {
        self.config.normalization
    }

    /// One single-threaded session per worker: on few cores, one one-thread session per core
    /// beats one session using every core (as for generation).
    fn make(&self) -> Result<Box<dyn FeatureExtractor>, EvaluateError> {
        Ok(Box::new(self.open(Some(1))?))
    }
}
