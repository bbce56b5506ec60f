//! The FID Inception-v3 in a build without the cargo feature `inception`: its names exist, so
//! that front ends compile unchanged, and each use says that this build has no native
//! Inception network, before any weights are fetched.

use std::path::{Path, PathBuf};

use super::error::EvaluateError;
use super::extractor::{ExtractorSource, FeatureExtractor, InputNormalization};
use crate::progress::Progress;
use crate::store::Store;

/// Fails at once (no download): the network that would use the weights is not in this build.
pub fn fetch_fid_weights(
    _store: &Store,
    _url: Option<&str>,
    _sha256: Option<&str>,
    _progress: &dyn Progress,
) -> Result<PathBuf, EvaluateError> {
    Err(not_built())
}

/// The FID Inception-v3 as extractor: never made in this build.
#[derive(Debug, Clone)]
pub struct InceptionSource {
    never: std::convert::Infallible,
}

impl InceptionSource {
    /// Fails: the network is not part of this build.
    pub fn from_pth(_path: &Path) -> Result<InceptionSource, EvaluateError> {
        Err(not_built())
    }

    /// Never reached in this build (no source is ever made).
    pub fn on_onnxruntime(
        self,
        _backend: Option<crate::runtime::BackendKind>,
        _graphs_dir: &Path,
    ) -> Result<InceptionSource, EvaluateError> {
        match self.never {}
    }

    /// Never reached in this build (no source is ever made).
    pub fn runs_on_onnxruntime(&self) -> bool {
        match self.never {}
    }
}

impl ExtractorSource for InceptionSource {
    fn name(&self) -> String {
        match self.never {}
    }

    fn input_size(&self) -> [usize; 2] {
        match self.never {}
    }

    fn feature_dims(&self) -> usize {
        match self.never {}
    }

    fn normalization(&self) -> InputNormalization {
        match self.never {}
    }

    fn make(&self) -> Result<Box<dyn FeatureExtractor>, EvaluateError> {
        match self.never {}
    }
}

fn not_built() -> EvaluateError {
    EvaluateError::NotBuilt {
        capability: "native FID Inception network",
        feature: "inception",
    }
}
