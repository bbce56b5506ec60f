//! The backend-neutral session: tensors in, float32 tensors out, whichever backend runs the graph.

use std::fmt;
use std::path::Path;
use std::str::FromStr;

use ndarray::ArrayD;

use super::declaration::{self, Dim};
use super::error::{RuntimeError, dims_text};
use crate::catalog::{OnnxSpec, OutputSpec};

/// A loaded graph, ready to run batches. One session serves one thread at a time (`run` takes
/// `&mut self`); use one session per worker thread.
pub trait Session: Send {
    /// Runs one batch. `inputs` holds every declared input, each with the batch axis first; the
    /// result holds every declared output (in declaration order), batch axis first.
    fn run(&mut self, inputs: &[NamedTensor]) -> Result<Vec<NamedOutput>, RuntimeError>;

    /// The backend running this session.
    fn backend(&self) -> BackendKind;
}

/// The engines that can run an ONNX graph.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BackendKind {
    /// onnxruntime, loaded from a shared library at run time (fast; optional).
    Ort,
    /// tract, a pure-Rust ONNX runtime (always available; slower).
    Tract,
}

impl BackendKind {
    /// Every backend, fastest first.
    pub const ALL: [BackendKind; 2] = [BackendKind::Ort, BackendKind::Tract];

    /// The backend's short name, as `FromStr` reads it.
    pub fn name(self) -> &'static str {
        match self {
            BackendKind::Ort => "ort",
            BackendKind::Tract => "tract",
        }
    }

    /// The backend a setting names (`MEDIGAN_BACKEND` as [`crate::env::Variable::choice`]
    /// reads it): `None` for `auto`, unset or a name no backend has (then the fastest found runs).
    pub fn from_setting(setting: Option<&str>) -> Option<BackendKind> {
        setting.and_then(|name| name.parse().ok())
    }
}

impl fmt::Display for BackendKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for BackendKind {
    type Err = RuntimeError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "ort" | "onnxruntime" => Ok(BackendKind::Ort),
            "tract" => Ok(BackendKind::Tract),
            _ => Err(RuntimeError::UnknownBackend {
                name: s.to_string(),
            }),
        }
    }
}

/// Where a session runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Device {
    /// The CPU (every backend).
    #[default]
    Cpu,
    /// A CUDA GPU by device id (onnxruntime built with CUDA, and the `cuda` feature).
    Cuda(u32),
}

impl fmt::Display for Device {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Device::Cpu => f.write_str("the CPU"),
            Device::Cuda(id) => write!(f, "CUDA device {id}"),
        }
    }
}

/// How to open a session.
#[derive(Debug, Clone, Default)]
pub struct SessionOptions {
    /// The backend; `None` picks onnxruntime when its library is found, else tract.
    pub backend: Option<BackendKind>,
    /// Threads one onnxruntime session uses inside an operator; `None` leaves onnxruntime's
    /// default (one per core). One one-thread session per core, each on its own thread, is
    /// faster than one session using every core (`benches/inference.md`). tract runs on the
    /// calling thread and ignores it.
    pub intra_threads: Option<usize>,
    /// Where to run.
    pub device: Device,
}

/// The element type of a tensor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ElemType {
    /// 32-bit float.
    F32,
    /// 64-bit signed integer.
    I64,
    /// Any other type, by its name (`float16`, `sequence`, ...).
    Other(String),
}

impl fmt::Display for ElemType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ElemType::F32 => f.write_str("float32"),
            ElemType::I64 => f.write_str("int64"),
            ElemType::Other(name) => f.write_str(name),
        }
    }
}

/// The data of an input tensor.
#[derive(Debug, Clone, PartialEq)]
pub enum TensorData {
    /// float32 values (latents, noise, images, masks, one-hot classes).
    F32(ArrayD<f32>),
    /// int64 values (class indices).
    I64(ArrayD<i64>),
}

impl TensorData {
    /// The tensor's shape, batch axis first.
    pub fn shape(&self) -> &[usize] {
        match self {
            TensorData::F32(a) => a.shape(),
            TensorData::I64(a) => a.shape(),
        }
    }

    /// The tensor's element type.
    pub fn elem_type(&self) -> ElemType {
        match self {
            TensorData::F32(_) => ElemType::F32,
            TensorData::I64(_) => ElemType::I64,
        }
    }
}

/// An input tensor and the graph input it feeds.
#[derive(Debug, Clone, PartialEq)]
pub struct NamedTensor {
    /// The graph input's name.
    pub name: String,
    /// The values, batch axis first.
    pub data: TensorData,
}

impl NamedTensor {
    /// A float32 input.
    pub fn f32(name: impl Into<String>, data: ArrayD<f32>) -> Self {
        NamedTensor {
            name: name.into(),
            data: TensorData::F32(data),
        }
    }

    /// An int64 input.
    pub fn i64(name: impl Into<String>, data: ArrayD<i64>) -> Self {
        NamedTensor {
            name: name.into(),
            data: TensorData::I64(data),
        }
    }
}

/// An output tensor of a run.
#[derive(Debug, Clone, PartialEq)]
pub struct NamedOutput {
    /// The graph output's name.
    pub name: String,
    /// The values, batch axis first.
    pub data: ArrayD<f32>,
}

/// Checks a run's inputs against the declaration and returns the batch size.
pub(crate) fn validate_inputs(
    graph: &Path,
    spec: &OnnxSpec,
    inputs: &[NamedTensor],
) -> Result<usize, RuntimeError> {
    check_names(graph, spec, inputs)?;
    let mut batch: Option<(&str, usize)> = None;
    for declared in &spec.inputs {
        let given = inputs
            .iter()
            .find(|t| t.name == declared.name)
            .ok_or_else(|| RuntimeError::InputMissing {
                graph: graph.into(),
                name: declared.name.clone(),
            })?;
        let n = check_input(graph, declared, given)?;
        match batch {
            None => batch = Some((&given.name, n)),
            Some((first, m)) if m != n => {
                return Err(RuntimeError::BatchMismatch {
                    graph: graph.into(),
                    first: first.to_string(),
                    first_batch: m,
                    other: given.name.clone(),
                    other_batch: n,
                });
            }
            Some(_) => {}
        }
    }
    match batch {
        Some((_, n)) if n > 0 => Ok(n),
        _ => Err(RuntimeError::EmptyBatch {
            graph: graph.into(),
        }),
    }
}

/// Every given input is declared, and none is given twice.
fn check_names(graph: &Path, spec: &OnnxSpec, inputs: &[NamedTensor]) -> Result<(), RuntimeError> {
    for (i, tensor) in inputs.iter().enumerate() {
        if !spec.inputs.iter().any(|d| d.name == tensor.name) {
            return Err(RuntimeError::InputUnknown {
                graph: graph.into(),
                name: tensor.name.clone(),
                declared: spec.inputs.iter().map(|d| d.name.clone()).collect(),
            });
        }
        if inputs[..i].iter().any(|t| t.name == tensor.name) {
            return Err(RuntimeError::InputDuplicate {
                graph: graph.into(),
                name: tensor.name.clone(),
            });
        }
    }
    Ok(())
}

/// One input's type and shape; returns its batch size.
fn check_input(
    graph: &Path,
    declared: &crate::catalog::InputSpec,
    given: &NamedTensor,
) -> Result<usize, RuntimeError> {
    let expected = declaration::expected_input(declared);
    let given_type = given.data.elem_type();
    if given_type != expected.elem {
        return Err(RuntimeError::InputType {
            graph: graph.into(),
            name: given.name.clone(),
            expected: expected.elem,
            given: given_type,
        });
    }
    let shape = given.data.shape();
    let fits = match &expected.sample {
        Some(sample) => shape_fits(shape, sample),
        None => !shape.is_empty(),
    };
    if !fits {
        return Err(RuntimeError::InputShape {
            graph: graph.into(),
            name: given.name.clone(),
            expected: declaration::batched_text(expected.sample.as_deref()),
            given: shape.to_vec(),
        });
    }
    Ok(shape[0])
}

/// Whether `shape` is `[batch, ...sample]` (unknown sample dims match anything).
fn shape_fits(shape: &[usize], sample: &[Dim]) -> bool {
    shape.len() == sample.len() + 1
        && shape[1..].iter().zip(sample).all(|(&n, d)| match d {
            Dim::Fixed(m) => u64::try_from(n).is_ok_and(|n| n == *m),
            _ => true,
        })
}

/// Checks one output of a run against its declaration.
pub(crate) fn validate_output(
    graph: &Path,
    declared: &OutputSpec,
    batch: usize,
    data: &ArrayD<f32>,
) -> Result<(), RuntimeError> {
    let mut expected = Vec::with_capacity(declared.shape.len() + 1);
    expected.push(batch);
    expected.extend_from_slice(&declared.shape);
    if data.shape() == expected.as_slice() {
        Ok(())
    } else {
        Err(RuntimeError::OutputShape {
            graph: graph.into(),
            name: declared.name.clone(),
            expected: dims_text(&expected),
            found: data.shape().to_vec(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_word_of_medigan_backend_names_the_backend_it_reads_as() {
        let crate::env::Kind::Choice(groups) = crate::env::BACKEND.kind else {
            panic!("MEDIGAN_BACKEND is not a choice");
        };
        for group in groups {
            let setting = BackendKind::from_setting(group.first().copied());
            for word in *group {
                let parsed: Option<BackendKind> = word.parse().ok();
                assert_eq!(parsed, setting, "{word}");
            }
        }
        for backend in BackendKind::ALL {
            let reading = crate::env::BACKEND.reading(Some(&backend.name().to_uppercase()));
            assert_eq!(reading, backend.name());
        }
        assert_eq!(BackendKind::from_setting(Some("auto")), None);
        assert_eq!(BackendKind::from_setting(None), None);
    }
}
