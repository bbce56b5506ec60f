//! The library's error type: one variant per module, each keeping the module's own error.

use crate::catalog::CatalogError;
use crate::search::SearchError;

/// Any error of the medigan library.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Loading, validating or querying the catalogue failed.
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    /// A search or ranking request is malformed.
    #[error(transparent)]
    Search(#[from] SearchError),
}

impl Error {
    /// A line telling the user what to do next, if there is one.
    pub fn hint(&self) -> Option<String> {
        match self {
            Error::Catalog(e) => e.hint(),
            Error::Search(_) => None,
        }
    }
}

/// Result with the library's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
