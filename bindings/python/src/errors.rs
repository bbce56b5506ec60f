//! Library errors as Python exceptions: one class of `medigan_rs.exceptions` per error kind,
//! with the library's message, its `hint:` line, and the hint on the `hint` attribute.

use medigan::Error;
use medigan::catalog::CatalogError;
use medigan::generate::GenerateError;
use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;

/// The `medigan_rs.exceptions` class for an error.
fn class_name(error: &Error) -> &'static str {
    match error {
        Error::Catalog(CatalogError::UnknownModel { .. }) => "UnknownModelError",
        Error::Catalog(CatalogError::AmbiguousModel { .. }) => "AmbiguousModelError",
        Error::Catalog(CatalogError::Offline { .. }) => "OfflineError",
        Error::Catalog(_) => "CatalogError",
        Error::Search(_) => "SearchError",
        Error::Store(_) => "StoreError",
        Error::Runtime(_) | Error::Generate(GenerateError::Runtime(_)) => "BackendError",
        Error::Output(_) | Error::Generate(GenerateError::Output(_)) => "OutputError",
        Error::Legacy(_) | Error::Generate(GenerateError::Legacy(_)) => "LegacyModelError",
        Error::Generate(_) => "GenerateError",
        _ => "MediganError",
    }
}

/// The Python exception for a library error: message, then `hint: ...` when there is one.
pub fn to_py(error: Error) -> PyErr {
    Python::attach(|py| {
        let (message, hint) = match error.hint() {
            Some(hint) => (format!("{error}\nhint: {hint}"), Some(hint)),
            None => {
                // Some errors carry their hint in the message itself.
                let message = error.to_string();
                let hint = message
                    .split_once("\nhint: ")
                    .map(|(_, hint)| hint.to_string());
                (message, hint)
            }
        };
        match build(py, class_name(&error), &message, hint.as_deref()) {
            Ok(err) => err,
            Err(_) => PyRuntimeError::new_err(message),
        }
    })
}

fn build(py: Python<'_>, class: &str, message: &str, hint: Option<&str>) -> PyResult<PyErr> {
    let class = py.import("medigan_rs.exceptions")?.getattr(class)?;
    let instance = class.call1((message,))?;
    instance.setattr("hint", hint)?;
    Ok(PyErr::from_value(instance))
}

/// `Result<T, medigan::Error>` to `PyResult<T>`.
pub trait IntoPyResult<T> {
    /// Converts the error with [`to_py`].
    fn py(self) -> PyResult<T>;
}

impl<T, E: Into<Error>> IntoPyResult<T> for Result<T, E> {
    fn py(self) -> PyResult<T> {
        self.map_err(|e| to_py(e.into()))
    }
}
