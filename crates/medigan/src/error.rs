//! The library's error type: one variant per module, each keeping the module's own error; and
//! [`Hint`], the next step each error suggests, found along a chain of causes by [`hint_of`].

use crate::catalog::CatalogError;
use crate::contribute::ContributeError;
use crate::dataset::DatasetError;
use crate::evaluate::EvaluateError;
use crate::generate::GenerateError;
use crate::legacy::LegacyError;
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
    Legacy(Box<LegacyError>),
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

/// What to do next after an error: the `hint:` line a front end prints below it. Every
/// module's error has one; [`hint_of`] finds it anywhere in an error's chain of causes.
pub trait Hint {
    /// A line telling the user what to do next, if there is one (several lines: one hint each).
    fn hint(&self) -> Option<String>;
}

impl Hint for Error {
    fn hint(&self) -> Option<String> {
        match self {
            Error::Catalog(e) => e.hint(),
            Error::Search(e) => e.hint(),
            Error::Store(e) => e.hint(),
            Error::Runtime(e) => e.hint(),
            Error::Generate(e) => e.hint(),
            Error::Output(e) => e.hint(),
            Error::Evaluate(e) => e.hint(),
            Error::Contribute(e) => e.hint(),
            Error::Dataset(e) => e.hint(),
            Error::Legacy(e) => e.hint(),
            Error::Convert(e) => e.hint(),
            Error::NoGraphDeclared { .. } => Some(
                "declare the graph's inputs and outputs under execution.onnx (see \
                 docs/model-format.md), or drop execution.runtime for a Python package"
                    .into(),
            ),
        }
    }
}

/// The hints of every library error in the chain from `error` (itself, then each
/// [`source`](std::error::Error::source)), outermost first, one per line, each line once.
pub fn hint_of(error: &(dyn std::error::Error + 'static)) -> Option<String> {
    let mut lines: Vec<String> = Vec::new();
    let chain = std::iter::successors(Some(error), |e| e.source());
    for hint in chain.filter_map(own_hint) {
        for line in hint.lines() {
            if !lines.iter().any(|l| l == line) {
                lines.push(line.to_string());
            }
        }
    }
    (!lines.is_empty()).then(|| lines.join("\n"))
}

/// The hint of `error` itself, when it is one of the library's errors.
fn own_hint(error: &(dyn std::error::Error + 'static)) -> Option<String> {
    macro_rules! first_of {
        ($($kind:ty),*) => {
            $(if let Some(e) = error.downcast_ref::<$kind>() {
                return e.hint();
            })*
        };
    }
    first_of!(
        Error,
        CatalogError,
        SearchError,
        StoreError,
        RuntimeError,
        GenerateError,
        OutputError,
        EvaluateError,
        LegacyError,
        crate::convert::ConvertError,
        ContributeError,
        DatasetError
    );
    None
}

/// Result with the library's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
