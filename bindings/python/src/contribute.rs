//! The original `Generators`' step-by-step contribution and catalogue methods over the core:
//! metadata validation, the user's catalogue, the required fields of a contribution, the
//! Zenodo deposition and the GitHub issue as separate steps, and the model-load counter the
//! executor tests read. Entries cross as JSON text (Python's `json.dumps`).

use std::path::PathBuf;

use medigan::catalog::Severity;
use medigan::catalog::user::{Added, add_entry, user_catalog_path};
use medigan::contribute::{
    CATALOG_REPO, ContributeRequest, GITHUB_API_URL, IssueRequest, Package, PackageKind,
    REQUIRED_FIELDS, Token, ZENODO_SANDBOX_URL, ZENODO_URL,
};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use serde_json::Value;

use crate::errors::IntoPyResult;
use crate::generators::PyGenerators;
use crate::to_python::json_to_py;

/// Parses JSON text from the Python side; `what` names the argument in the error.
fn parse(what: &str, text: &str) -> PyResult<Value> {
    serde_json::from_str(text).map_err(|e| PyValueError::new_err(format!("{what}: {e}")))
}

/// A report rendered as JSON, as a Python object.
fn to_py<'py>(py: Python<'py>, value: serde_json::Result<Value>) -> PyResult<Bound<'py, PyAny>> {
    let value = value.map_err(|e| PyValueError::new_err(e.to_string()))?;
    json_to_py(py, &value)
}

/// The problems of a catalogue entry under `model_id`: `(path, message, severity)` with the
/// dotted field path (`<id>` for the id itself) and `error` or `warning`.
#[pyfunction]
pub fn validate_entry(model_id: &str, entry_json: &str) -> PyResult<Vec<(String, String, String)>> {
    let entry = parse("metadata", entry_json)?;
    Ok(medigan::catalog::validate::validate_entry(model_id, &entry)
        .into_iter()
        .map(|p| {
            let severity = match p.severity {
                Severity::Error => "error",
                Severity::Warning => "warning",
            };
            (p.path, p.message, severity.to_string())
        })
        .collect())
}

/// Adds a valid entry to the user's catalogue (`<home>/catalog-v1/local.json`); returns what
/// was done (`added`, `replaced`, `kept`) and the file. An invalid entry raises CatalogError
/// naming each bad field and writes nothing.
#[pyfunction]
pub fn add_to_user_catalog(
    py: Python<'_>,
    generators: &PyGenerators,
    model_id: &str,
    entry_json: &str,
    overwrite: bool,
) -> PyResult<(&'static str, String)> {
    let entry = parse("metadata", entry_json)?;
    let home = &generators.core().settings().home;
    let added = py
        .detach(|| add_entry(home, model_id, &entry, overwrite))
        .py()?;
    let word = match added {
        Added::Added => "added",
        Added::Replaced => "replaced",
        Added::Kept => "kept",
    };
    Ok((word, user_catalog_path(home).display().to_string()))
}

/// Checks the form of a new model id (`NNNNN_UPPER_SNAKE`); raises MediganError saying why not.
#[pyfunction]
pub fn check_model_id(model_id: &str) -> PyResult<()> {
    medigan::contribute::check_id_format(model_id).py()
}

/// The required fields of a contribution that `entry` lacks: `(path, question)`.
#[pyfunction]
pub fn missing_fields(entry_json: &str) -> PyResult<Vec<(&'static str, &'static str)>> {
    let package = package_of(parse("metadata", entry_json)?);
    Ok(package
        .missing_fields()
        .into_iter()
        .map(|f| (f.path, f.question))
        .collect())
}

/// `entry` with the required field at `path` set from a typed answer (lists comma separated,
/// authors as `Name (Affiliation); ...`), as JSON text; a bad answer raises ValueError.
#[pyfunction]
pub fn set_field(entry_json: &str, path: &str, answer: &str) -> PyResult<String> {
    let field = REQUIRED_FIELDS
        .iter()
        .find(|f| f.path == path)
        .ok_or_else(|| PyValueError::new_err(format!("`{path}` is not a required field")))?;
    let mut package = package_of(parse("metadata", entry_json)?);
    package
        .set_field(field, answer)
        .map_err(|e| PyValueError::new_err(format!("{path}: {e}")))?;
    Ok(package.entry.to_string())
}

/// A package made of an entry alone (no folder), for the field helpers.
fn package_of(entry: Value) -> Package {
    Package {
        dir: PathBuf::new(),
        declared_id: String::new(),
        entry,
        kind: PackageKind::Native,
    }
}

/// The Zenodo step alone: checks the package, runs its end-to-end test (native), packs the zip
/// into `zip_path` and uploads it to a new deposition (a draft unless `publish`); opens no
/// issue. Returns the `contribute` report (`deposition.file_url` is the package link).
#[pyfunction]
#[pyo3(signature = (generators, package_dir, model_id, zip_path, zenodo_token,
                    publish=false, sandbox=false, zenodo_url=None))]
#[allow(clippy::too_many_arguments)]
pub fn push_to_zenodo<'py>(
    py: Python<'py>,
    generators: &PyGenerators,
    package_dir: PathBuf,
    model_id: &str,
    zip_path: PathBuf,
    zenodo_token: String,
    publish: bool,
    sandbox: bool,
    zenodo_url: Option<String>,
) -> PyResult<Bound<'py, PyAny>> {
    let default_url = if sandbox {
        ZENODO_SANDBOX_URL
    } else {
        ZENODO_URL
    };
    let request = ContributeRequest {
        dir: package_dir,
        id: model_id.trim().to_string(),
        zip_path,
        dry_run: false,
        publish,
        zenodo_url: zenodo_url
            .or_else(|| medigan::env::ZENODO_URL.text())
            .unwrap_or_else(|| default_url.to_string()),
        zenodo_token: Token::new(zenodo_token),
        open_issue: false,
        github_api: GITHUB_API_URL.to_string(),
        catalog_repo: CATALOG_REPO.to_string(),
        github_token: None,
    };
    let core = generators.core();
    let report = py.detach(|| {
        medigan::contribute::contribute(
            core,
            &request,
            &mut |_| None,
            &medigan::progress::NoProgress,
        )
    });
    to_py(py, serde_json::to_value(report.py()?))
}

/// The GitHub step alone: checks the package and opens the issue proposing its entry at
/// `package_link`; returns `{"url": issue page, "entry": {id: entry}}`.
#[pyfunction]
#[pyo3(signature = (generators, package_dir, model_id, package_link, github_token,
                    github_api_url=None, catalog_repo=None))]
#[allow(clippy::too_many_arguments)]
pub fn push_to_github<'py>(
    py: Python<'py>,
    generators: &PyGenerators,
    package_dir: PathBuf,
    model_id: &str,
    package_link: String,
    github_token: String,
    github_api_url: Option<String>,
    catalog_repo: Option<String>,
) -> PyResult<Bound<'py, PyAny>> {
    let token = Token::new(github_token).ok_or_else(|| {
        PyValueError::new_err("github_access_token is empty: give a GitHub token (GITHUB_TOKEN)")
    })?;
    let request = IssueRequest {
        dir: package_dir,
        id: model_id.trim().to_string(),
        package_link,
        github_api: github_api_url
            .or_else(|| medigan::env::GITHUB_API_URL.text())
            .unwrap_or_else(|| GITHUB_API_URL.to_string()),
        catalog_repo: catalog_repo.unwrap_or_else(|| CATALOG_REPO.to_string()),
        token,
    };
    let core = generators.core();
    let report = py.detach(|| medigan::contribute::open_entry_issue(core, &request));
    to_py(py, serde_json::to_value(report.py()?))
}

/// How many models the facade has loaded (a model served from its cache is not counted).
#[pyfunction]
pub fn models_loaded(generators: &PyGenerators) -> u64 {
    generators.core().models_loaded()
}

/// Adds this file's functions to the native module.
pub fn register(module: &Bound<'_, PyModule>) -> PyResult<()> {
    module.add_function(wrap_pyfunction!(validate_entry, module)?)?;
    module.add_function(wrap_pyfunction!(add_to_user_catalog, module)?)?;
    module.add_function(wrap_pyfunction!(check_model_id, module)?)?;
    module.add_function(wrap_pyfunction!(missing_fields, module)?)?;
    module.add_function(wrap_pyfunction!(set_field, module)?)?;
    module.add_function(wrap_pyfunction!(push_to_zenodo, module)?)?;
    module.add_function(wrap_pyfunction!(push_to_github, module)?)?;
    module.add_function(wrap_pyfunction!(models_loaded, module)?)?;
    Ok(())
}
