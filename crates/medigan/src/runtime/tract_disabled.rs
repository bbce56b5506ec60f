//! The tract backend's names in a build without the cargo feature `tract` (the Python wheel,
//! which always has onnxruntime): loading says the backend is not part of this build.

use std::path::Path;

use super::error::RuntimeError;
use super::session::{BackendKind, NamedOutput, NamedTensor, Session, SessionOptions};
use crate::catalog::OnnxSpec;

/// How tract plans a graph (no effect in this build).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TractPlanning {
    /// One plan for a batch of one.
    #[default]
    PerSample,
    /// One plan with a symbolic batch axis.
    Symbolic,
}

/// A tract session: never made in this build.
#[derive(Debug)]
pub struct TractSession {
    never: std::convert::Infallible,
}

impl TractSession {
    /// Fails: tract is not part of this build.
    pub fn load(
        graph: &Path,
        spec: &OnnxSpec,
        options: &SessionOptions,
    ) -> Result<Self, RuntimeError> {
        Self::load_with(graph, spec, options, TractPlanning::default())
    }

    /// Fails: tract is not part of this build.
    pub fn load_with(
        _graph: &Path,
        _spec: &OnnxSpec,
        _options: &SessionOptions,
        _planning: TractPlanning,
    ) -> Result<Self, RuntimeError> {
        Err(not_built("running a graph"))
    }
}

impl Session for TractSession {
    fn run(&mut self, _inputs: &[NamedTensor]) -> Result<Vec<NamedOutput>, RuntimeError> {
        match self.never {}
    }

    fn backend(&self) -> BackendKind {
        BackendKind::Tract
    }
}

fn not_built(task: &'static str) -> RuntimeError {
    RuntimeError::BackendNotBuilt {
        backend: BackendKind::Tract,
        feature: "tract",
        task,
    }
}

/// Without tract there is no estimate of a graph's intermediate tensors: every graph passes.
pub(crate) fn check_graph_intermediates(
    _graph: &Path,
    _spec: &OnnxSpec,
) -> Result<(), RuntimeError> {
    Ok(())
}
