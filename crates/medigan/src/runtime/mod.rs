//! Running a loaded generator: the ONNX backends (onnxruntime, tract) behind one trait (the paper's `model_executor`).
//!
//! | file | job |
//! |---|---|
//! | `session` | the [`Session`] trait, tensors in and out, [`BackendKind`], [`SessionOptions`] |
//! | `ort_backend` | onnxruntime, opened at run time ([`OrtSession`]) |
//! | `tract_backend` | tract, pure Rust, always there ([`TractSession`], [`TractPlanning`]) |
//! | `tract_facts` | tract's view of the graph: its signature, the input facts it is given |
//! | `dylib` | finding `libonnxruntime` ([`find_onnxruntime`]) |
//! | `check` | the graph against its `execution.onnx` declaration ([`check_declaration`]) |
//! | `external_data` | graphs with external-data files: locations, declaration checks ([`check_external_data`]) |
//! | `error` | [`RuntimeError`] |
//!
//! Loading is staged: [`graph_path`] (a safe file name inside the package) -> [`resolve_backend`]
//! -> `OrtSession::load` / `TractSession::load` (read, check the declaration, optimise) ->
//! [`Session::run`] (check the inputs, run, check the outputs). [`open_session`] does all of it.

mod declaration;
mod dylib;
mod error;
mod external_data;
mod ort_backend;
mod session;
#[cfg(feature = "tract")]
mod tract_backend;
#[cfg(not(feature = "tract"))]
#[path = "tract_disabled.rs"]
mod tract_backend;
#[cfg(feature = "tract")]
mod tract_facts;
mod watchdog;

use std::path::{Path, PathBuf};

pub use declaration::{Dim, GraphSignature, Mismatch, Port, PortInfo, check_declaration};
pub use dylib::{LibrarySource, ORT_DYLIB_PATH, OrtLibrary, find_onnxruntime};
pub use error::{Cause, RuntimeError};
pub use external_data::{
    check_external_data, check_locations, describe_external_data, graph_locations,
};
#[cfg(not(feature = "tract"))]
pub use ort_backend::read_signature;
pub use ort_backend::{OrtSession, ort_library, read_signature as read_signature_with_ort};
pub use session::{
    BackendKind, Device, ElemType, NamedOutput, NamedTensor, Session, SessionOptions, TensorData,
};
pub use tract_backend::{TractPlanning, TractSession};
pub use watchdog::{GuardedSession, INFERENCE_THREAD, panic_message};

use crate::catalog::OnnxSpec;

/// Whether this build has the tract backend (cargo feature `tract`, on by default; the Python
/// wheel leaves it out and always runs onnxruntime).
pub const TRACT_ENABLED: bool = cfg!(feature = "tract");

/// The hint given when tract stands in because onnxruntime was not found.
pub const FASTER_BACKEND_HINT: &str = "using tract (pure Rust); for onnxruntime, 1.6-1.8x faster: \
     `pip install onnxruntime` or set ORT_DYLIB_PATH to a libonnxruntime shared library";

/// Picks the backend: an explicit choice is honoured (onnxruntime asked for but not found is an
/// error listing the places tried); without one, onnxruntime when its library is found, else
/// tract with a one-line hint on how to get the faster backend.
pub fn resolve_backend(
    preference: Option<BackendKind>,
) -> Result<(BackendKind, Option<String>), RuntimeError> {
    match preference {
        Some(BackendKind::Tract) => Ok((BackendKind::Tract, None)),
        Some(BackendKind::Ort) => find_onnxruntime().map(|_| (BackendKind::Ort, None)),
        None => match find_onnxruntime() {
            Ok(_) => Ok((BackendKind::Ort, None)),
            Err(e) if !TRACT_ENABLED => Err(e),
            Err(_) => Ok((BackendKind::Tract, Some(FASTER_BACKEND_HINT.to_string()))),
        },
    }
}

/// A session and, when the backend was chosen for the user, a hint about that choice.
pub struct LoadedSession {
    /// The session.
    pub session: Box<dyn Session>,
    /// A line for the user (e.g. how to get the faster backend), if any.
    pub hint: Option<String>,
}

impl std::fmt::Debug for LoadedSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadedSession")
            .field("backend", &self.session.backend())
            .field("hint", &self.hint)
            .finish()
    }
}

/// Opens `graph` with the backend [`resolve_backend`] picks, checking it against `spec`.
///
/// Without an explicit backend, a library that is found but cannot be opened (too old, broken)
/// also falls back to tract, with a hint saying why.
///
/// The session runs on a thread of its own, with the time limit per batch of
/// [`crate::limits::inference_timeout`] and backend panics turned into errors ([`GuardedSession`]).
pub fn open_session(
    graph: &Path,
    spec: &OnnxSpec,
    options: &SessionOptions,
) -> Result<LoadedSession, RuntimeError> {
    let loaded = open_unguarded(graph, spec, options)?;
    let timeout = crate::limits::inference_timeout();
    let session = GuardedSession::new(loaded.session, graph.to_path_buf(), timeout)?;
    Ok(LoadedSession {
        session: Box::new(session),
        hint: loaded.hint,
    })
}

fn open_unguarded(
    graph: &Path,
    spec: &OnnxSpec,
    options: &SessionOptions,
) -> Result<LoadedSession, RuntimeError> {
    let (backend, hint) = resolve_backend(options.backend)?;
    match backend {
        BackendKind::Tract => {
            let session = TractSession::load(graph, spec, options)?;
            Ok(LoadedSession {
                session: Box::new(session),
                hint,
            })
        }
        BackendKind::Ort => match OrtSession::load(graph, spec, options) {
            Ok(session) => Ok(LoadedSession {
                session: Box::new(session),
                hint,
            }),
            Err(e) if options.backend.is_none() && e.is_ort_unavailable() && TRACT_ENABLED => {
                let session = TractSession::load(graph, spec, options)?;
                let hint = format!("using tract because onnxruntime could not be opened: {e}");
                Ok(LoadedSession {
                    session: Box::new(session),
                    hint: Some(hint),
                })
            }
            Err(e) => Err(e),
        },
    }
}

/// The inputs and outputs an ONNX file declares (names, element types, dimensions), read with
/// tract's parser without loading the graph (with onnxruntime in a build without tract): what
/// a caller needs to build an [`OnnxSpec`] for a graph it did not declare itself (a user's
/// feature extractor).
#[cfg(feature = "tract")]
pub fn read_signature(graph: &Path) -> Result<GraphSignature, RuntimeError> {
    use tract_onnx::prelude::Framework as _;
    if !graph.is_file() {
        return Err(RuntimeError::GraphMissing {
            graph: graph.into(),
        });
    }
    let proto = tract_onnx::onnx()
        .proto_model_for_path(graph)
        .map_err(|e| RuntimeError::TractLoad {
            graph: graph.into(),
            source: Cause::tract(&e),
        })?;
    Ok(tract_facts::proto_signature(&proto))
}

/// The path of a package's graph: `spec.graph` joined to the package directory, refused unless
/// it is a plain relative path that stays inside the package.
pub fn graph_path(package_dir: &Path, spec: &OnnxSpec) -> Result<PathBuf, RuntimeError> {
    graph_path_of(package_dir, &spec.graph)
}

/// [`graph_path`] of a graph file name.
pub fn graph_path_of(package_dir: &Path, graph: &str) -> Result<PathBuf, RuntimeError> {
    let refuse = |reason| RuntimeError::GraphPath {
        graph: graph.to_string(),
        reason,
    };
    if let Some(reason) = crate::catalog::graph_path_problem(graph) {
        return Err(refuse(reason));
    }
    Ok(package_dir.join(Path::new(graph)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(graph: &str) -> OnnxSpec {
        OnnxSpec {
            graph: graph.into(),
            inputs: vec![],
            outputs: vec![],
            diffusion: None,
            external_data: Vec::new(),
            extra: Default::default(),
        }
    }

    #[test]
    fn backend_names() {
        assert_eq!("ort".parse::<BackendKind>().ok(), Some(BackendKind::Ort));
        assert_eq!(
            "OnnxRuntime".parse::<BackendKind>().ok(),
            Some(BackendKind::Ort)
        );
        assert_eq!(
            "tract".parse::<BackendKind>().ok(),
            Some(BackendKind::Tract)
        );
        let err = "torch".parse::<BackendKind>().err().map(|e| e.to_string());
        assert_eq!(
            err.as_deref(),
            Some("unknown backend `torch`; expected `ort` (or `onnxruntime`) or `tract`")
        );
        assert_eq!(BackendKind::Ort.to_string(), "ort");
    }

    #[test]
    fn graph_paths_stay_inside_the_package() {
        let dir = Path::new("/pkg");
        assert_eq!(
            graph_path(dir, &spec("g.onnx")).ok(),
            Some(PathBuf::from("/pkg/g.onnx"))
        );
        assert_eq!(
            graph_path(dir, &spec("sub/g.onnx")).ok(),
            Some(PathBuf::from("/pkg/sub/g.onnx"))
        );
        for bad in ["", "../g.onnx", "/etc/g.onnx", "a/../../g.onnx"] {
            assert!(graph_path(dir, &spec(bad)).is_err(), "{bad}");
        }
    }

    #[test]
    fn explicit_tract_needs_no_library() {
        assert_eq!(
            resolve_backend(Some(BackendKind::Tract)).ok(),
            Some((BackendKind::Tract, None))
        );
    }
}
