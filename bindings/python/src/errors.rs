//! Library errors as Python exceptions: one class of `medigan_rs.exceptions` per error kind,
//! with the library's message and causes, its `hint:` line (found along the chain of causes,
//! never parsed out of the text), and the hint on the `hint` attribute.

use medigan::Error;
use medigan::catalog::CatalogError;
use medigan::evaluate::EvaluateError;
use medigan::error::hint_of;
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
        Error::Generate(GenerateError::TooLargeForMemory { .. }) => "SampleMemoryError",
        Error::Legacy(_) | Error::Generate(GenerateError::Legacy(_)) => "LegacyModelError",
        Error::Generate(_) => "GenerateError",
        Error::Evaluate(
            EvaluateError::InvalidOption { .. }
            | EvaluateError::OnnxOnly { .. }
            | EvaluateError::TooFewImages { .. },
        ) => "EvaluationOptionError",
        _ => "MediganError",
    }
}

/// Command-line wording in library messages and the Python API's equivalent, longest first.
const PYTHON_WORDING: &[(&str, &str)] = &[
    (
        "`medigan generate MODEL --install-dependencies`",
        "`generate(MODEL, install_dependencies=True)`",
    ),
    (
        "`medigan test MODEL --install-dependencies`",
        "`test_model(MODEL, install_dependencies=True)`",
    ),
    ("--install-dependencies", "install_dependencies=True"),
    ("`medigan list`", "`Generators().list_models()`"),
    (
        "`medigan search KEYWORD`",
        "`find_matching_models_by_values([KEYWORD])`",
    ),
    (
        "`medigan search onnx --keys`",
        "`find_matching_models_by_values([\"onnx\"])`",
    ),
    (
        "without `--offline` (and without MEDIGAN_OFFLINE=1)",
        "with `offline=False` (and without MEDIGAN_OFFLINE=1)",
    ),
    ("`--offline`", "`offline=True`"),
    ("`--catalog FILE`", "`Generators(catalog=FILE)`"),
    ("`--cache-dir`", "`Generators(home=DIR)`"),
    ("`--backend tract`", "`Generators(backend=\"tract\")`"),
    ("`--set key=value`", "keyword arguments (`key=value`)"),
    ("`--seed`", "`seed=`"),
    ("`--extractor onnx:PATH`", "`extractor=\"onnx:PATH\"`"),
    ("`--inception-weights FILE`", "`inception_weights=FILE`"),
    ("`--label`", "`label=`"),
    ("`--input`", "`input_path=`"),
    ("`--format`", "`format=`"),
];

/// A library message in the Python API's terms (`install_dependencies=True`, not
/// `--install-dependencies`).
pub fn python_wording(text: &str) -> String {
    PYTHON_WORDING
        .iter()
        .fold(text.to_string(), |text, (cli, python)| {
            text.replace(cli, python)
        })
}

/// The Python exception for a library error: its message with its causes (each `source` in
/// the chain, as `caused by: ...` lines), then `hint: ...` when the chain has one
/// ([`hint_of`]).
pub fn to_py(error: Error) -> PyErr {
    Python::attach(|py| {
        let hint = hint_of(&error).map(|h| python_wording(&h));
        let mut message = python_wording(&error.to_string());
        let causes = std::iter::successors(std::error::Error::source(&error), |e| e.source());
        for cause in causes {
            message.push_str("\n  caused by: ");
            message.push_str(&python_wording(&cause.to_string()));
        }
        if let Some(hint) = &hint {
            for line in hint.lines() {
                message.push_str("\nhint: ");
                message.push_str(line);
            }
        }
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
