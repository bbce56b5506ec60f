//! The runtime module's error: one variant per way finding, loading or running a graph can fail.

use crate::error::{Advice, Hint, Suggestion};
use std::path::PathBuf;

use super::declaration::Mismatch;
use super::session::{BackendKind, Device, ElemType};

/// Why a graph could not be loaded or run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RuntimeError {
    /// A backend name that is neither `ort` nor `tract`.
    #[error("unknown backend `{name}`; expected `ort` (or `onnxruntime`) or `tract`")]
    UnknownBackend {
        /// The name given.
        name: String,
    },

    /// A backend this build was compiled without (its cargo feature is off).
    #[error("the {} backend is not part of this build, so it cannot do this: {task}", backend.name())]
    BackendNotBuilt {
        /// The backend.
        backend: BackendKind,
        /// The cargo feature that adds it.
        feature: &'static str,
        /// What needed it.
        task: &'static str,
    },

    /// No onnxruntime shared library was found in any of the places searched.
    #[error(
        "the onnxruntime library was not found; looked in:\n{}\ninstall it with `pip install onnxruntime` (the wheel ships the library) or set ORT_DYLIB_PATH to a libonnxruntime shared library",
        bullets(tried)
    )]
    OrtNotFound {
        /// Each place searched and what was there.
        tried: Vec<String>,
    },

    /// The onnxruntime library was found but could not be opened (wrong file, too old).
    #[error("could not load the onnxruntime library `{}`", path.display())]
    OrtLoad {
        /// The library file.
        path: PathBuf,
        /// Why.
        #[source]
        source: ort::LoadDynamicError,
    },

    /// The onnxruntime environment could not be created.
    #[error("could not start onnxruntime from `{}`", path.display())]
    OrtEnvironment {
        /// The library file.
        path: PathBuf,
        /// Why.
        #[source]
        source: ort::Error,
    },

    /// onnxruntime could not create a session for the graph.
    #[error("onnxruntime could not load the graph `{}`", graph.display())]
    OrtSession {
        /// The graph file.
        graph: PathBuf,
        /// Why.
        #[source]
        source: ort::Error,
    },

    /// The build has no CUDA support compiled in.
    #[error(
        "CUDA device {device} was asked for, but this build has no CUDA support (not enabled in this build)"
    )]
    CudaNotEnabled {
        /// The CUDA device id asked for.
        device: u32,
    },

    /// The CUDA execution provider could not be registered (no GPU, no CUDA libraries).
    #[error("the CUDA execution provider for device {device} could not be registered for `{}`", graph.display())]
    CudaUnavailable {
        /// The CUDA device id asked for.
        device: u32,
        /// The graph file.
        graph: PathBuf,
        /// Why.
        #[source]
        source: ort::Error,
    },

    /// The backend cannot run on the device asked for.
    #[error("the {backend} backend cannot run on {device}; it runs on the CPU only")]
    DeviceUnsupported {
        /// The backend.
        backend: BackendKind,
        /// The device asked for.
        device: Device,
    },

    /// The package's `execution.onnx.graph` is not a plain relative file name.
    #[error("graph file name `{graph}` in execution.onnx is not allowed: {reason}")]
    GraphPath {
        /// The name as declared.
        graph: String,
        /// What is wrong with it.
        reason: &'static str,
    },

    /// The graph's external-data files are not as declared, or leave the package folder.
    #[error("graph `{}`: {problem}", graph.display())]
    ExternalData {
        /// The graph file.
        graph: PathBuf,
        /// What is wrong, naming the file and the field.
        problem: String,
    },

    /// The graph file does not exist.
    #[error("graph file `{}` does not exist", graph.display())]
    GraphMissing {
        /// The graph file.
        graph: PathBuf,
    },

    /// tract could not read or type the graph.
    #[error("tract could not load the graph `{}`", graph.display())]
    TractLoad {
        /// The graph file.
        graph: PathBuf,
        /// Why.
        #[source]
        source: Cause,
    },

    /// tract could not optimise the graph (for one batch size, or for any).
    #[error("tract could not optimise the graph `{}`{}", graph.display(), batch_text(*batch))]
    TractOptimise {
        /// The graph file.
        graph: PathBuf,
        /// The batch size it was concretised for, if any.
        batch: Option<usize>,
        /// Why.
        #[source]
        source: Cause,
    },

    /// A tensor the graph computes for one sample is larger than allowed (issue 26): refused
    /// before it runs, instead of allocating until an outside memory limit stops it.
    #[error(
        "`{}` computes a tensor of {bytes} bytes for one sample (`{node}`, shape {shape}), more \
         than the limit of {limit} bytes",
        graph.display()
    )]
    IntermediateTooLarge {
        /// The graph file.
        graph: PathBuf,
        /// The node computing it.
        node: String,
        /// Its shape at batch 1.
        shape: String,
        /// Its size.
        bytes: u64,
        /// The limit ([`crate::limits::max_sample_bytes`]).
        limit: u64,
    },

    /// The graph's inputs or outputs disagree with its declaration in `medigan.json`.
    #[error(
        "`{}` does not match its declaration in medigan.json (execution.onnx):\n{}",
        graph.display(),
        bullets(problems)
    )]
    Declaration {
        /// The graph file.
        graph: PathBuf,
        /// Every disagreement found.
        problems: Vec<Mismatch>,
    },

    /// A declared input was not given to `run`.
    #[error("input `{name}` of `{}` was not given", graph.display())]
    InputMissing {
        /// The graph file.
        graph: PathBuf,
        /// The input's name.
        name: String,
    },

    /// An input was given that the declaration does not know.
    #[error("`{}` has no input named `{name}`; its inputs are: {}", graph.display(), declared.join(", "))]
    InputUnknown {
        /// The graph file.
        graph: PathBuf,
        /// The name given.
        name: String,
        /// The declared input names.
        declared: Vec<String>,
    },

    /// The same input was given twice.
    #[error("input `{name}` of `{}` was given twice", graph.display())]
    InputDuplicate {
        /// The graph file.
        graph: PathBuf,
        /// The input's name.
        name: String,
    },

    /// An input tensor has the wrong element type.
    #[error("input `{name}` of `{}` must be {expected} but {given} was given", graph.display())]
    InputType {
        /// The graph file.
        graph: PathBuf,
        /// The input's name.
        name: String,
        /// The element type the declaration asks for.
        expected: ElemType,
        /// The element type given.
        given: ElemType,
    },

    /// An input tensor has the wrong shape.
    #[error("input `{name}` of `{}` must have shape {expected} but has {}", graph.display(), dims_text(given))]
    InputShape {
        /// The graph file.
        graph: PathBuf,
        /// The input's name.
        name: String,
        /// The expected shape, batch axis first (e.g. `[batch,100,1,1]`).
        expected: String,
        /// The shape given.
        given: Vec<usize>,
    },

    /// Two inputs disagree on the batch size.
    #[error("inputs of `{}` disagree on the batch size: `{first}` has {first_batch}, `{other}` has {other_batch}", graph.display())]
    BatchMismatch {
        /// The graph file.
        graph: PathBuf,
        /// The first input's name.
        first: String,
        /// Its batch size.
        first_batch: usize,
        /// The disagreeing input's name.
        other: String,
        /// Its batch size.
        other_batch: usize,
    },

    /// The batch size is zero.
    #[error("the batch of inputs for `{}` is empty (batch size 0)", graph.display())]
    EmptyBatch {
        /// The graph file.
        graph: PathBuf,
    },

    /// A batch ran longer than the inference time limit (see [`crate::limits`]).
    #[error(
        "inference of `{}` ({backend}) took longer than {seconds} s; MEDIGAN_INFERENCE_TIMEOUT sets the limit per batch",
        graph.display()
    )]
    InferenceTimeout {
        /// The graph file.
        graph: PathBuf,
        /// The backend.
        backend: BackendKind,
        /// The limit, in seconds.
        seconds: u64,
    },

    /// The backend panicked while running the graph (caught; the session is not used again).
    #[error("{backend} failed inside while running `{}`: {message}", graph.display())]
    BackendPanicked {
        /// The graph file.
        graph: PathBuf,
        /// The backend.
        backend: BackendKind,
        /// The panic's message.
        message: String,
    },

    /// The backend failed while running the graph.
    #[error("{backend} failed to run `{}` on a batch of {batch}", graph.display())]
    Run {
        /// The graph file.
        graph: PathBuf,
        /// The backend.
        backend: BackendKind,
        /// The batch size.
        batch: usize,
        /// Why.
        #[source]
        source: Cause,
    },

    /// A declared output was not produced.
    #[error("`{}` produced no output named `{name}`", graph.display())]
    OutputMissing {
        /// The graph file.
        graph: PathBuf,
        /// The output's name.
        name: String,
    },

    /// An output is not float32.
    #[error("output `{name}` of `{}` is {found}, not float32", graph.display())]
    OutputType {
        /// The graph file.
        graph: PathBuf,
        /// The output's name.
        name: String,
        /// The element type produced.
        found: ElemType,
    },

    /// An output has a shape other than the declared one.
    #[error("output `{name}` of `{}` has shape {} but the declaration gives {expected}", graph.display(), dims_text(found))]
    OutputShape {
        /// The graph file.
        graph: PathBuf,
        /// The output's name.
        name: String,
        /// The expected shape, batch axis first.
        expected: String,
        /// The shape produced.
        found: Vec<usize>,
    },
}

impl Hint for RuntimeError {
    fn advice(&self) -> Option<crate::error::Advice> {
        match self {
            RuntimeError::OrtNotFound { .. } if super::TRACT_ENABLED => Some(
                Advice::text("or choose the pure-Rust backend with ")
                    .then(Suggestion::TractBackend)
                    .then_text(" (slower, always available)"),
            ),
            RuntimeError::BackendNotBuilt { feature, .. } => Some(format!(
                "use onnxruntime (`pip install onnxruntime`, or ORT_DYLIB_PATH), or a build with \
                 the cargo feature `{feature}` (the medigan command line has it)"
            ).into()),
            RuntimeError::OrtLoad { .. } | RuntimeError::OrtEnvironment { .. } => Some(
                "`pip install -U onnxruntime` gives a recent library; ORT_DYLIB_PATH picks another one"
                    .into(),
            ),
            RuntimeError::CudaNotEnabled { .. } => {
                Some("rebuild with `--features cuda`, or run on the CPU".into())
            }
            RuntimeError::CudaUnavailable { .. } => Some(
                "install the `onnxruntime-gpu` wheel and the CUDA 12 libraries, or run on the CPU"
                    .into(),
            ),
            RuntimeError::InferenceTimeout { .. } => Some(
                "a smaller --batch, or MEDIGAN_INFERENCE_TIMEOUT=SECONDS (0: no limit) for a model that is just slow"
                    .into(),
            ),
            RuntimeError::IntermediateTooLarge { .. } => Some(
                "MEDIGAN_MAX_SAMPLE_BYTES=BYTES raises the limit, if the machine has the memory"
                    .into(),
            ),
            RuntimeError::Declaration { .. } => Some(
                "fix `execution.onnx` in medigan.json, or re-export the graph with the declared names and shapes"
                    .into(),
            ),
            _ => None,
        }
    }
}

impl RuntimeError {
    /// Whether the failure is about the onnxruntime library itself (so tract can stand in).
    pub fn is_ort_unavailable(&self) -> bool {
        matches!(
            self,
            RuntimeError::OrtNotFound { .. }
                | RuntimeError::OrtLoad { .. }
                | RuntimeError::OrtEnvironment { .. }
        )
    }
}

/// The message of a backend's own error, kept as the source of a [`RuntimeError`].
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Cause(pub String);

impl Cause {
    /// The full chain of a tract (anyhow) error as one line.
    #[cfg(feature = "tract")]
    pub(crate) fn tract(error: &tract_onnx::prelude::TractError) -> Cause {
        Cause(format!("{error:#}"))
    }
}

fn bullets<T: std::fmt::Display>(items: &[T]) -> String {
    let lines: Vec<String> = items.iter().map(|item| format!("  - {item}")).collect();
    lines.join("\n")
}

fn batch_text(batch: Option<usize>) -> String {
    batch.map_or_else(String::new, |n| format!(" for a batch of {n}"))
}

/// `[4,100,1,1]`: a shape as the messages write it.
pub(crate) fn dims_text(dims: &[usize]) -> String {
    let parts: Vec<String> = dims.iter().map(usize::to_string).collect();
    format!("[{}]", parts.join(","))
}
