//! The FID Inception-v3 ([`InceptionV3`], pytorch-fid's weights) as a [`FeatureExtractor`], and
//! the fetch of its weights through the store, pinned by sha256.
//!
//! The weights file is kept as it is (not unpacked) under `$MEDIGAN_HOME/files-v1/<sha256>/`;
//! see [`crate::store::Store::fetch_file`].

use std::path::{Path, PathBuf};
use std::sync::Arc;

use sha2::Digest;

use ndarray::{Array2, ArrayView4};

use super::error::EvaluateError;
use super::extractor::{ExtractorSource, FeatureExtractor, InputNormalization};
use super::inception::{FEATURE_DIMS, INPUT_SIZE, InceptionV3};
use super::onnx_extractor::{OnnxExtractorConfig, OnnxExtractorSpec};
use crate::progress::Progress;
use crate::runtime::BackendKind;
use crate::store::{FetchRequest, Store};

/// The canonical release URL of pytorch-fid's Inception weights.
pub const FID_WEIGHTS_URL: &str = "https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/pt_inception-2015-12-05-6726825d.pth";

/// The weights' file name.
pub const FID_WEIGHTS_FILE: &str = "pt_inception-2015-12-05-6726825d.pth";

/// sha256 of the weights file. Its first 8 digits are the `6726825d` of the file name (PyTorch
/// hub's naming convention); the full digest is the one published for the identically named
/// copy torch-fidelity distributes. It could not be checked against a download here (no
/// network); a mismatch fails the fetch with both digests named, never silently.
pub const FID_WEIGHTS_SHA256: &str =
    "6726825d0af5f729cebd5821db510b11b1cfad8faad88a03f1befd49fb9129b2";

/// The extractor's name in reports and cache keys.
pub const INCEPTION_NAME: &str = "inception-v3-fid@6726825d";

/// Fetches the FID Inception weights (once; later calls find them in the store) and returns
/// the path of the `.pth` file. `url` and `sha256` default to [`FID_WEIGHTS_URL`] and
/// [`FID_WEIGHTS_SHA256`] (`MEDIGAN_FID_WEIGHTS_URL` can point at a mirror).
pub fn fetch_fid_weights(
    store: &Store,
    url: Option<&str>,
    sha256: Option<&str>,
    progress: &dyn Progress,
) -> Result<PathBuf, EvaluateError> {
    let url = url.unwrap_or(FID_WEIGHTS_URL);
    let request = FetchRequest::new("FID Inception weights", url)
        .with_sha256(sha256.unwrap_or(FID_WEIGHTS_SHA256));
    store
        .fetch_file(&request, FID_WEIGHTS_FILE, progress)
        .map_err(|source| match source.is_download_failure() {
            true => EvaluateError::Weights {
                file: FID_WEIGHTS_FILE.into(),
                url: url.into(),
                source: Box::new(source),
            },
            false => EvaluateError::Store(source),
        })
}

/// The FID Inception-v3, loaded once and shared by the workers (the network runs the images of
/// a batch in parallel itself, so one worker is enough); or, after
/// [`InceptionSource::on_onnxruntime`], the same network as an ONNX graph on onnxruntime.
#[derive(Debug, Clone)]
pub struct InceptionSource {
    net: Arc<InceptionV3>,
    sha256: String,
    onnx: Option<OnnxExtractorSpec>,
}

impl InceptionSource {
    /// Loads the weights from a `.pth` file.
    pub fn from_pth(path: &Path) -> Result<InceptionSource, EvaluateError> {
        let net = InceptionV3::from_pth(path).map_err(|e| EvaluateError::Extractor {
            name: INCEPTION_NAME.into(),
            reason: crate::http::error_chain(&e),
        })?;
        let bytes = std::fs::read(path).map_err(EvaluateError::io("read", path))?;
        let sha256 = hex::encode(sha2::Sha256::digest(&bytes));
        Ok(InceptionSource {
            net: Arc::new(net),
            sha256,
            onnx: None,
        })
    }

    /// Runs the network on onnxruntime from now on, unless `backend` asks for tract or the
    /// onnxruntime library is not found (then the native network runs, unchanged). The graph
    /// ([`InceptionV3::to_onnx`]) is kept in `graphs_dir` (`$MEDIGAN_HOME/graphs-v1/`) under
    /// the weights' sha256, written again only when it differs. Its features equal the native
    /// network's to float rounding, so both share one name, digest and feature cache.
    pub fn on_onnxruntime(
        mut self,
        backend: Option<BackendKind>,
        graphs_dir: &Path,
    ) -> Result<InceptionSource, EvaluateError> {
        if backend == Some(BackendKind::Tract) || crate::runtime::ort_library().is_err() {
            return Ok(self);
        }
        let graph = graphs_dir.join(format!(
            "fid-inception-v{GRAPH_VERSION}-{}.onnx",
            self.sha256
        ));
        // The graph is built each time (about a second) and the kept file replaced when it
        // differs, so a damaged or stale file is never run.
        let bytes = self.net.to_onnx();
        if std::fs::read(&graph).ok().as_deref() != Some(bytes.as_slice()) {
            std::fs::create_dir_all(graphs_dir)
                .map_err(EvaluateError::io("create directory", graphs_dir))?;
            crate::fs::write_atomically(&graph, &bytes)
                .map_err(EvaluateError::io("write", &graph))?;
        }
        self.onnx = Some(OnnxExtractorSpec::resolve(OnnxExtractorConfig {
            graph,
            input_size: None,
            normalization: InputNormalization::FID,
            output: None,
            backend: Some(BackendKind::Ort),
        })?);
        Ok(self)
    }

    /// Whether the network runs on onnxruntime (else natively).
    pub fn runs_on_onnxruntime(&self) -> bool {
        self.onnx.is_some()
    }
}

/// Version of the graph layout [`InceptionV3::to_onnx`] writes, in the graph's file name: a
/// change of the layout makes a new file rather than reusing an old one.
const GRAPH_VERSION: u32 = 1;

impl ExtractorSource for InceptionSource {
    fn name(&self) -> String {
        INCEPTION_NAME.into()
    }

    fn input_size(&self) -> [usize; 2] {
        [INPUT_SIZE, INPUT_SIZE]
    }

    fn feature_dims(&self) -> usize {
        FEATURE_DIMS
    }

    fn normalization(&self) -> InputNormalization {
        InputNormalization::FID
    }

    fn max_workers(&self) -> Option<usize> {
        match &self.onnx {
            Some(spec) => spec.max_workers(),
            None => Some(1),
        }
    }

    fn sha256(&self) -> Option<String> {
        Some(self.sha256.clone())
    }

    fn make(&self) -> Result<Box<dyn FeatureExtractor>, EvaluateError> {
        if let Some(spec) = &self.onnx {
            return spec.make();
        }
        Ok(Box::new(InceptionExtractor {
            net: Arc::clone(&self.net),
        }))
    }
}

/// One worker's handle on the shared network.
#[derive(Debug)]
pub struct InceptionExtractor {
    net: Arc<InceptionV3>,
}

impl FeatureExtractor for InceptionExtractor {
    fn name(&self) -> String {
        INCEPTION_NAME.into()
    }

    fn input_size(&self) -> [usize; 2] {
        [INPUT_SIZE, INPUT_SIZE]
    }

    fn feature_dims(&self) -> usize {
        FEATURE_DIMS
    }

    fn extract(&mut self, batch: ArrayView4<'_, f32>) -> Result<Array2<f32>, EvaluateError> {
        self.net
            .features(batch)
            .map_err(|e| EvaluateError::Extractor {
                name: INCEPTION_NAME.into(),
                reason: crate::http::error_chain(&e),
            })
    }
}
