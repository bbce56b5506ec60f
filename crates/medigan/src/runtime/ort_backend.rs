//! The onnxruntime backend: the library is found and opened at run time (see [`super::dylib`]),
//! one environment per process, one session per worker thread.

use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock, PoisonError};

use ndarray::{ArrayD, CowArray, IxDyn};
use ort::environment::Environment;
use ort::session::SessionInputValue;
use ort::value::{TensorElementType, TensorRef, ValueType};

use super::declaration::{self, Dim, GraphSignature, PortInfo};
use super::dylib::{self, OrtLibrary};
use super::error::{Cause, RuntimeError};
use super::session::{
    BackendKind, Device, ElemType, NamedOutput, NamedTensor, Session, SessionOptions, TensorData,
    validate_inputs, validate_output,
};
use crate::catalog::OnnxSpec;

/// The process's onnxruntime: the library it was loaded from and its environment.
struct OrtRuntime {
    library: OrtLibrary,
    env: Environment,
}

static RUNTIME: OnceLock<OrtRuntime> = OnceLock::new();
static INIT: Mutex<()> = Mutex::new(());

/// Finds, opens and initialises onnxruntime once per process; later calls return the same.
fn runtime() -> Result<&'static OrtRuntime, RuntimeError> {
    if let Some(rt) = RUNTIME.get() {
        return Ok(rt);
    }
    let _guard = INIT.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(rt) = RUNTIME.get() {
        return Ok(rt);
    }
    let library = dylib::find_onnxruntime()?;
    let env = environment(&library.path)?;
    tracing::info!(path = %library.path.display(), source = %library.source, "onnxruntime loaded");
    Ok(RUNTIME.get_or_init(|| OrtRuntime { library, env }))
}

fn environment(path: &Path) -> Result<Environment, RuntimeError> {
    let builder = ort::init_from(path).map_err(|source| RuntimeError::OrtLoad {
        path: path.into(),
        source,
    })?;
    builder
        .with_name("medigan")
        .with_telemetry(false)
        .with_logger(std::sync::Arc::new(ort_log_line))
        .build()
        .map_err(|source| RuntimeError::OrtEnvironment {
            path: path.into(),
            source,
        })
}

/// onnxruntime's log lines go through `tracing` like medigan's own, so `-q` and the log level
/// apply and no terminal colours leak out (issue #14, defect 21). Its warnings are mostly
/// about graph optimisation, for developers: shown with `-v`; its errors as warnings (the
/// failure itself comes back as an error).
fn ort_log_line(level: ort::logging::LogLevel, category: &str, _id: &str, at: &str, message: &str) {
    use ort::logging::LogLevel;
    match level {
        LogLevel::Verbose | LogLevel::Info => tracing::debug!("onnxruntime [{category}] {message}"),
        LogLevel::Warning => tracing::info!("onnxruntime [{category}] {message}"),
        LogLevel::Error | LogLevel::Fatal => {
            tracing::warn!("onnxruntime [{category}] {message} ({at})");
        }
    }
}

/// The onnxruntime library this process uses, loading it if needed.
pub fn ort_library() -> Result<&'static OrtLibrary, RuntimeError> {
    runtime().map(|rt| &rt.library)
}

/// A graph loaded into onnxruntime.
pub struct OrtSession {
    graph: PathBuf,
    spec: OnnxSpec,
    session: ort::session::Session,
}

impl std::fmt::Debug for OrtSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OrtSession")
            .field("graph", &self.graph)
            .finish_non_exhaustive()
    }
}

impl OrtSession {
    /// Loads `graph`, checks it against `spec`, and prepares it to run on `options.device`
    /// with `options.intra_threads` threads.
    pub fn load(
        graph: &Path,
        spec: &OnnxSpec,
        options: &SessionOptions,
    ) -> Result<Self, RuntimeError> {
        if !graph.is_file() {
            return Err(RuntimeError::GraphMissing {
                graph: graph.into(),
            });
        }
        // External data is read from the graph's folder (`commit_from_file`), never outside it.
        super::check_locations(graph)?;
        // Issue 26, finding 12: the intermediate tensors bounded as for tract, from the
        // graph's shapes, before onnxruntime allocates anything.
        super::tract_backend::check_graph_intermediates(graph, spec)?;
        let env = &runtime()?.env;
        let builder =
            builder(env, options.intra_threads).map_err(|source| RuntimeError::OrtSession {
                graph: graph.into(),
                source,
            })?;
        let builder = with_device(builder, options.device, graph)?;
        let session = commit(builder, graph).map_err(|source| RuntimeError::OrtSession {
            graph: graph.into(),
            source,
        })?;
        let problems = declaration::check_declaration(spec, &signature(&session));
        if !problems.is_empty() {
            return Err(RuntimeError::Declaration {
                graph: graph.into(),
                problems,
            });
        }
        Ok(OrtSession {
            graph: graph.into(),
            spec: spec.clone(),
            session,
        })
    }

    /// The graph's inputs and outputs as onnxruntime reports them.
    pub fn signature(&self) -> GraphSignature {
        signature(&self.session)
    }
}

/// The inputs and outputs an ONNX file declares, as onnxruntime reads them (the graph is loaded
/// on one thread and dropped): [`crate::runtime::read_signature`] of a build without tract.
pub fn read_signature(graph: &Path) -> Result<GraphSignature, RuntimeError> {
    if !graph.is_file() {
        return Err(RuntimeError::GraphMissing {
            graph: graph.into(),
        });
    }
    super::check_locations(graph)?;
    let env = &runtime()?.env;
    let session = builder(env, Some(1))
        .and_then(|builder| commit(builder, graph))
        .map_err(|source| RuntimeError::OrtSession {
            graph: graph.into(),
            source,
        })?;
    Ok(signature(&session))
}

// Builder errors are not Send/Sync: each step converts them to `ort::Error` before returning.
fn builder(
    env: &Environment,
    threads: Option<usize>,
) -> ort::Result<ort::session::builder::SessionBuilder> {
    let builder = ort::session::Session::builder(env)?;
    Ok(match threads {
        Some(n) => builder.with_intra_threads(n)?,
        None => builder,
    })
}

fn commit(
    mut builder: ort::session::builder::SessionBuilder,
    graph: &Path,
) -> ort::Result<ort::session::Session> {
    builder.commit_from_file(graph)
}

/// Registers the execution provider for `device` (nothing for the CPU: registering the CPU
/// provider explicitly turns its memory arena off).
fn with_device(
    builder: ort::session::builder::SessionBuilder,
    device: Device,
    graph: &Path,
) -> Result<ort::session::builder::SessionBuilder, RuntimeError> {
    match device {
        Device::Cpu => Ok(builder),
        Device::Cuda(id) => with_cuda(builder, id, graph),
    }
}

#[cfg(feature = "cuda")]
fn with_cuda(
    builder: ort::session::builder::SessionBuilder,
    id: u32,
    graph: &Path,
) -> Result<ort::session::builder::SessionBuilder, RuntimeError> {
    let device_id = i32::try_from(id).unwrap_or(i32::MAX);
    let cuda = ort::ep::CUDA::default()
        .with_device_id(device_id)
        .build()
        .error_on_failure();
    builder
        .with_execution_providers([cuda])
        .map_err(|e| RuntimeError::CudaUnavailable {
            device: id,
            graph: graph.into(),
            source: ort::Error::from(e),
        })
}

#[cfg(not(feature = "cuda"))]
fn with_cuda(
    _builder: ort::session::builder::SessionBuilder,
    id: u32,
    _graph: &Path,
) -> Result<ort::session::builder::SessionBuilder, RuntimeError> {
    Err(RuntimeError::CudaNotEnabled { device: id })
}

fn signature(session: &ort::session::Session) -> GraphSignature {
    let port = |o: &ort::value::Outlet| port_info(o.name(), o.dtype());
    GraphSignature {
        inputs: session.inputs().iter().map(port).collect(),
        outputs: session.outputs().iter().map(port).collect(),
    }
}

fn port_info(name: &str, dtype: &ValueType) -> PortInfo {
    let ValueType::Tensor {
        ty,
        shape,
        dimension_symbols,
    } = dtype
    else {
        let what = match dtype {
            ValueType::Sequence(_) => "sequence",
            ValueType::Map { .. } => "map",
            _ => "optional",
        };
        return PortInfo {
            name: name.into(),
            elem: Some(ElemType::Other(what.into())),
            dims: None,
        };
    };
    let dims = shape
        .iter()
        .enumerate()
        .map(|(i, &d)| match u64::try_from(d) {
            Ok(n) => Dim::Fixed(n),
            Err(_) => match dimension_symbols.get(i) {
                Some(s) if !s.is_empty() => Dim::Symbol(s.clone()),
                _ => Dim::Unknown,
            },
        })
        .collect();
    PortInfo {
        name: name.into(),
        elem: Some(elem_type(*ty)),
        dims: Some(dims),
    }
}

fn elem_type(ty: TensorElementType) -> ElemType {
    match ty {
        TensorElementType::Float32 => ElemType::F32,
        TensorElementType::Int64 => ElemType::I64,
        other => ElemType::Other(onnx_type_name(other)),
    }
}

fn onnx_type_name(ty: TensorElementType) -> String {
    match ty {
        TensorElementType::Float16 => "float16".into(),
        TensorElementType::Float64 => "float64".into(),
        TensorElementType::Int32 => "int32".into(),
        TensorElementType::Uint8 => "uint8".into(),
        TensorElementType::Bool => "bool".into(),
        other => format!("{other:?}").to_ascii_lowercase(),
    }
}

impl Session for OrtSession {
    fn run(&mut self, inputs: &[NamedTensor]) -> Result<Vec<NamedOutput>, RuntimeError> {
        let batch = validate_inputs(&self.graph, &self.spec, inputs)?;
        let fail = |e: ort::Error| RuntimeError::Run {
            graph: self.graph.clone(),
            backend: BackendKind::Ort,
            batch,
            source: Cause(e.to_string()),
        };
        let contiguous: Vec<Contiguous<'_>> = inputs.iter().map(Contiguous::of).collect();
        let values = contiguous
            .iter()
            .zip(inputs)
            .map(|(c, t)| Ok((Cow::Borrowed(t.name.as_str()), c.value()?)))
            .collect::<ort::Result<Vec<(Cow<'_, str>, SessionInputValue<'_>)>>>()
            .map_err(fail)?;
        let outputs = self.session.run(values).map_err(fail)?;
        let mut result = Vec::with_capacity(self.spec.outputs.len());
        for declared in &self.spec.outputs {
            let value = outputs
                .get(&declared.name)
                .ok_or_else(|| RuntimeError::OutputMissing {
                    graph: self.graph.clone(),
                    name: declared.name.clone(),
                })?;
            let data = extract_f32(value, &self.graph, &declared.name)?;
            validate_output(&self.graph, declared, batch, &data)?;
            result.push(NamedOutput {
                name: declared.name.clone(),
                data,
            });
        }
        Ok(result)
    }

    fn backend(&self) -> BackendKind {
        BackendKind::Ort
    }
}

/// An input in standard (C-contiguous) layout, borrowed when it already is.
enum Contiguous<'a> {
    F32(CowArray<'a, f32, IxDyn>),
    I64(CowArray<'a, i64, IxDyn>),
}

impl<'a> Contiguous<'a> {
    fn of(tensor: &'a NamedTensor) -> Self {
        match &tensor.data {
            TensorData::F32(a) => Contiguous::F32(a.as_standard_layout()),
            TensorData::I64(a) => Contiguous::I64(a.as_standard_layout()),
        }
    }

    fn value(&self) -> ort::Result<SessionInputValue<'_>> {
        Ok(match self {
            Contiguous::F32(a) => TensorRef::from_array_view(a)?.into(),
            Contiguous::I64(a) => TensorRef::from_array_view(a)?.into(),
        })
    }
}

fn extract_f32(
    value: &ort::value::DynValue,
    graph: &Path,
    name: &str,
) -> Result<ArrayD<f32>, RuntimeError> {
    match value.try_extract_array::<f32>() {
        Ok(view) => Ok(view.to_owned()),
        Err(_) => Err(RuntimeError::OutputType {
            graph: graph.into(),
            name: name.into(),
            found: value
                .dtype()
                .tensor_type()
                .map_or(ElemType::Other("non-tensor".into()), elem_type),
        }),
    }
}
