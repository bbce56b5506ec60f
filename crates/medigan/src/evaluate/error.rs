//! [`EvaluateError`]: what can go wrong while reading images, extracting features or computing
//! a Frechet distance.

use crate::error::{Advice, Hint, Suggestion};
use std::path::PathBuf;

use crate::runtime::RuntimeError;
use crate::store::StoreError;

/// An error of the evaluation module.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EvaluateError {
    /// A file or folder could not be read or written.
    #[error("could not {action} `{}`", path.display())]
    Io {
        /// What was being done (`read`, `write`, `list`, ...).
        action: &'static str,
        /// The file or folder.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// An image file could not be decoded or has a layout that is not an image.
    #[error("cannot read the image `{}`: {reason}", path.display())]
    Image {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// A folder holds no image this version reads.
    #[error("no images in `{}` (read: .png, .jpg, .jpeg, .tif, .tiff, .bmp, .npy, .dcm, .nii, .nii.gz, searched recursively)", dir.display())]
    NoImages {
        /// The folder.
        dir: PathBuf,
    },
    /// A set has fewer images than the computation needs.
    #[error("{what} needs at least {needed} images, got {found}")]
    TooFewImages {
        /// What was being computed.
        what: String,
        /// The minimum.
        needed: usize,
        /// How many there were.
        found: usize,
    },
    /// Two feature sets (or an extractor and its declaration) disagree on the feature length.
    #[error("feature length mismatch: {what} has {found} features per image, expected {expected}")]
    FeatureDims {
        /// Which set or extractor.
        what: String,
        /// The expected length.
        expected: usize,
        /// The length found.
        found: usize,
    },
    /// A feature, mean or covariance holds NaN or infinity.
    #[error("{what} holds NaN or infinite values")]
    NonFinite {
        /// Where they were found.
        what: String,
    },
    /// The eigendecomposition inside the Frechet distance did not converge.
    #[error("the eigendecomposition of a {dims}x{dims} covariance did not converge")]
    NoConvergence {
        /// The matrix size.
        dims: usize,
    },
    /// A feature extractor failed.
    #[error("feature extractor `{name}`: {reason}")]
    Extractor {
        /// The extractor.
        name: String,
        /// Why.
        reason: String,
    },
    /// Running an ONNX feature extractor failed.
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    /// Fetching extractor weights failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The FID Inception weights could not be fetched (network, server or offline).
    #[error("cannot get the FID Inception weights `{file}`")]
    Weights {
        /// The weights' file name.
        file: String,
        /// Where they were to come from.
        url: String,
        /// Why the fetch failed.
        #[source]
        source: Box<StoreError>,
    },
    /// A capability of evaluation is not part of this build (a cargo feature left out).
    #[error("this build of medigan has no {capability} (cargo feature `{feature}`)")]
    NotBuilt {
        /// What is missing, e.g. `native FID Inception network`.
        capability: &'static str,
        /// The cargo feature that adds it.
        feature: &'static str,
    },
    /// A feature cache file is damaged or belongs to another set or extractor.
    #[error("feature cache `{}`: {reason}", path.display())]
    Cache {
        /// The cache file.
        path: PathBuf,
        /// Why it cannot be used.
        reason: String,
    },
    /// A feature statistics file (`--save-stats`) is damaged, or cannot be merged with others.
    #[error("statistics file `{}`: {reason}", path.display())]
    Stats {
        /// The file.
        path: PathBuf,
        /// Why it cannot be used.
        reason: String,
    },
    /// An option of ONNX extractors was given for the Inception extractor.
    #[error("{option} applies to ONNX extractors only")]
    OnnxOnly {
        /// The option given (`input size`, `mean`, `output name`).
        option: &'static str,
    },
    /// An option has a value that cannot work.
    #[error("invalid {option} `{value}`: {reason}")]
    InvalidOption {
        /// The option.
        option: String,
        /// The value given.
        value: String,
        /// What would be right.
        reason: String,
    },
}

impl EvaluateError {
    /// A constructor for [`EvaluateError::Io`], for `map_err`.
    pub fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(std::io::Error) -> EvaluateError {
        let path = path.into();
        move |source| EvaluateError::Io {
            action,
            path,
            source,
        }
    }
}

impl Hint for EvaluateError {
    fn advice(&self) -> Option<crate::error::Advice> {
        match self {
            EvaluateError::OnnxOnly { .. } => Some(
                Advice::text("drop it for the Inception extractor, or name an ONNX network (")
                    .then(Suggestion::OnnxExtractor)
                    .then_text(")"),
            ),
            EvaluateError::Cache { path, .. } => {
                Some(format!("delete `{}` to recompute the features", path.display()).into())
            }
            EvaluateError::TooFewImages { .. } => Some(
                "FID estimates a 2048x2048 covariance: use hundreds of images or more \
                 (the paper uses up to 1000 per set)"
                    .into(),
            ),
            EvaluateError::Runtime(e) => e.advice(),
            EvaluateError::Store(e) => e.advice(),
            EvaluateError::Weights { file, url, .. } => Some(
                Advice::text(format!(
                    "without the network, download `{file}` from {url} on another machine and \
                     pass "
                ))
                .then(Suggestion::InceptionWeights)
                .then_text(" (or set MEDIGAN_FID_WEIGHTS=FILE)"),
            ),
            EvaluateError::NotBuilt { feature, .. } => Some(
                Advice::text("use an ONNX extractor (")
                    .then(Suggestion::OnnxExtractor)
                    .then_text(format!(
                        "), or a build with the cargo feature `{feature}` (the default build of \
                         the medigan command line has it)"
                    )),
            ),
            _ => None,
        }
    }
}
