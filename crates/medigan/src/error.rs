//! The library's error type: one variant per module, each keeping the module's own error.

use crate::catalog::CatalogError;
use crate::contribute::ContributeError;
use crate::dataset::DatasetError;
use crate::evaluate::EvaluateError;
use crate::generate::GenerateError;
use crate::output::OutputError;
use crate::runtime::RuntimeError;
use crate::search::SearchError;
use crate::store::StoreError;

/// Any error of the medigan library.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Loading, validating or querying the catalogue failed.
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    /// A search or ranking request is malformed.
    #[error(transparent)]
    Search(#[from] SearchError),
    /// Fetching or caching a package failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Loading or running a graph failed.
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    /// A generation run failed.
    #[error(transparent)]
    Generate(#[from] GenerateError),
    /// Writing samples failed.
    #[error(transparent)]
    Output(#[from] OutputError),
    /// Evaluating synthetic data (features, FID) failed.
    #[error(transparent)]
    Evaluate(#[from] EvaluateError),
    /// Running a package in the original medigan format failed.
    #[error(transparent)]
    Legacy(Box<crate::legacy::LegacyError>),
    /// Converting a legacy package into a native one failed or was refused.
    #[error(transparent)]
    Convert(Box<crate::convert::ConvertError>),
    /// Preparing or publishing a contribution failed.
    #[error(transparent)]
    Contribute(#[from] ContributeError),
    /// Verifying or merging a dataset failed.
    #[error(transparent)]
    Dataset(#[from] DatasetError),
    /// The entry says `execution.runtime: onnx` but declares no graph (`execution.onnx`).
    #[error("model `{model}` has execution.runtime `onnx` but no execution.onnx declaration")]
    NoGraphDeclared {
        /// The model.
        model: String,
    },
}

impl Error {
    /// A line telling the user what to do next, if there is one.
    pub fn hint(&self) -> Option<String> {
        match self {
            Error::Catalog(e) => e.hint(),
            Error::Runtime(e) => e.hint(),
            Error::Generate(e) => e.hint(),
            Error::Evaluate(e) => e.hint(),
            Error::Contribute(e) => e.hint(),
            Error::Dataset(e) => e.hint(),
            Error::Legacy(e) => e.hint(),
            Error::Convert(e) => e.hint(),
            Error::Store(StoreError::Io { source, path, .. })
                if matches!(
                    source.kind(),
                    std::io::ErrorKind::PermissionDenied
                        | std::io::ErrorKind::ReadOnlyFilesystem
                        | std::io::ErrorKind::NotADirectory
                ) =>
            {
                Some(format!(
                    "medigan cannot write its cache at `{}`; choose a writable folder with \
                     `--cache-dir DIR` or MEDIGAN_HOME=DIR",
                    path.display()
                ))
            }
            Error::Store(e) if e.is_download_failure() => Some(
                "without the network, download the package on another machine and give a \
                 catalogue whose `package_link` is the local .zip or folder: `--catalog FILE` \
                 (or MEDIGAN_CATALOG=FILE) reads it offline"
                    .into(),
            ),
            Error::NoGraphDeclared { .. } => Some(
                "declare the graph's inputs and outputs under execution.onnx (see \
                 docs/model-format.md), or drop execution.runtime for a Python package"
                    .into(),
            ),
            _ => None,
        }
    }
}

/// Result with the library's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
