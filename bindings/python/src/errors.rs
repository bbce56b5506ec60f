//! Library errors as Python exceptions: one class of `medigan_rs.exceptions` per error kind,
//! with the library's message and causes, its `hint:` line (found along the chain of causes,
//! never parsed out of the text; the actions it suggests and the options its message names
//! said as keyword arguments by [`PythonWording`]), and the hint on the `hint` attribute.

use medigan::Error;
use medigan::catalog::CatalogError;
use medigan::error::{OptionName, Suggestion, Wording, hint_in, message_in};
use medigan::evaluate::EvaluateError;
use medigan::generate::GenerateError;
use medigan::legacy::LegacyError;
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
        Error::Legacy(_) => "LegacyModelError",
        Error::Generate(e) if e.model_error::<LegacyError>().is_some() => "LegacyModelError",
        Error::Generate(_) => "GenerateError",
        Error::Evaluate(
            EvaluateError::InvalidOption { .. }
            | EvaluateError::OnnxOnly { .. }
            | EvaluateError::TooFewImages { .. },
        ) => "EvaluationOptionError",
        _ => "MediganError",
    }
}

/// Says the actions the library's hints suggest (`Suggestion`) in the Python API's terms: a
/// keyword argument or a method, not a command-line flag.
#[derive(Debug, Clone, Copy, Default)]
pub struct PythonWording;

impl Wording for PythonWording {
    fn say(&self, suggestion: Suggestion) -> String {
        match suggestion {
            Suggestion::Consent => "`install_dependencies=True`",
            Suggestion::GenerateWithConsent => "`generate(MODEL, install_dependencies=True)`",
            Suggestion::TestWithConsent => "`test_model(MODEL, install_dependencies=True)`",
            Suggestion::Online { also_env: true } => {
                "with `offline=False` (and without MEDIGAN_OFFLINE=1)"
            }
            Suggestion::Online { also_env: false } => "with `offline=False`",
            Suggestion::ListModels => "`Generators().list_models()`",
            Suggestion::SearchModels => "`find_matching_models_by_values([KEYWORD])`",
            Suggestion::CatalogFile => "`Generators(catalog=FILE)`",
            Suggestion::CacheDir => "`Generators(home=DIR)`",
            Suggestion::TractBackend => "`Generators(backend=\"tract\")`",
            Suggestion::ModelOptions => "keyword arguments (`key=value`)",
            Suggestion::OnnxExtractor => "`extractor=\"onnx:PATH\"`",
            Suggestion::InceptionWeights => "`inception_weights=FILE`",
        }
        .to_string()
    }

    /// A keyword argument, `keyword=value` with a value (quoted where Python takes a string).
    fn option(&self, option: OptionName, value: Option<&str>) -> String {
        let (keyword, text) = match option {
            OptionName::Input => ("inputs", false),
            OptionName::Seed => ("seed", false),
            OptionName::Label => ("label", true),
            OptionName::Shard => ("shard", true),
            OptionName::Shards => ("shards", false),
            OptionName::Threads => ("threads", false),
            OptionName::Latent => ("latent", false),
            OptionName::ZenodoToken => ("zenodo_access_token", true),
            OptionName::GitHubToken => ("github_access_token", true),
            OptionName::Steps => ("steps", false),
            OptionName::Scheduler => ("scheduler", true),
            OptionName::Guidance => ("guidance_scale", false),
            OptionName::Spacing => ("spacing", false),
            OptionName::Prompt => ("prompt", true),
            OptionName::InitialNoise => ("initial_noise", true),
            OptionName::NumSamples => ("num_samples", false),
            OptionName::SamplesPerShard => ("samples_per_shard", false),
            OptionName::Resume => return "`resume=True`".into(),
            OptionName::Overwrite => return "`overwrite=True`".into(),
        };
        match (value, option) {
            (Some(value), OptionName::Input) => format!("`{keyword}=[{value}]`"),
            (Some(value), _) if text => format!("`{keyword}=\"{value}\"`"),
            (Some(value), _) => format!("`{keyword}={value}`"),
            (None, _) => format!("`{keyword}`"),
        }
    }
}

/// The Python exception for a library error: its message with its causes (each `source` in
/// the chain, as `caused by: ...` lines), then `hint: ...` when the chain has one
/// ([`hint_in`], in [`PythonWording`]).
pub fn to_py(error: Error) -> PyErr {
    Python::attach(|py| {
        let hint = hint_in(&error, &PythonWording);
        let mut message = message_in(&error, &PythonWording);
        let causes = std::iter::successors(std::error::Error::source(&error), |e| e.source());
        for cause in causes {
            message.push_str("\n  caused by: ");
            message.push_str(&message_in(cause, &PythonWording));
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
