//! The legacy runtime: runs the existing medigan model zoo, packages in the original Python
//! format (the paper's `model_executor` with `install_dependencies`), each in its own
//! virtual environment.
//!
//! Loading is staged like a native model: catalogue entry -> package fetched through the
//! [`Store`] (resume, verification, safe unzip) and checked against `execution.sha256` or the
//! hash recorded at its first download ([`TrustLock`]) -> weights file and module located ->
//! environment ready ([`venv`], created only with consent) -> [`LegacyGenerator`] (a bridge
//! process) -> samples through the same write pipeline, manifest and stream as native ones.
//!
//! Arguments follow the original: `generate(model_file, num_samples, output_path, save_images,
//! **custom)`, with `custom` = `execution.generate_method.args.custom` overridden by the run's
//! options (`--set key=value`; values are read as JSON when they parse, `True`/`False`/`None`
//! as Python writes them, else as text). `--set save_images=true` makes the package write its
//! images itself, which are then read back; by default it is called with `save_images=False`
//! and what it returns is used (or, when it returns nothing, the files it wrote).

mod bridge;
mod error;
mod lock;
pub mod venv;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Map, Value};

pub use bridge::{BRIDGE_SCRIPT, LegacyGenerator};
pub use error::LegacyError;
pub use lock::{LOCK_FILE, TrustLock};
pub use venv::PythonEnv;

use crate::catalog::{ModelEntry, RuntimeKind};
use crate::generate::{
    self, GenerateRequest, Generator, RunSummary, SampleRequest, SampleStream, WriteTarget,
};
use crate::home::Home;
use crate::output::{Format, ManifestHeader, Provenance, index_digits, manifest_name};
use crate::progress::Progress;
use crate::sample::sample_seed;
use crate::store::{FetchRequest, InstalledPackage, Store, StoreError};
use crate::{Error, Result};

/// Environment variable naming the Python that creates the environments (default `python3`).
pub const PYTHON_ENV: &str = "MEDIGAN_PYTHON";
/// Environment variable with extra pip arguments, split on whitespace (e.g. `--no-index`).
pub const PIP_ARGS_ENV: &str = "MEDIGAN_PIP_ARGS";
/// Environment variable with the time limit of one batch, in seconds (default 3600).
pub const TIMEOUT_ENV: &str = "MEDIGAN_LEGACY_TIMEOUT";

/// How legacy packages are run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LegacySettings {
    /// Consent to create the model's environment, install its dependencies and run its code
    /// (`--install-dependencies`). Without it only an environment made earlier with consent,
    /// for the same package and dependencies, is used.
    pub install_dependencies: bool,
    /// The Python that creates environments (`MEDIGAN_PYTHON`, default `python3`).
    pub python: String,
    /// Extra arguments for `pip install` (`MEDIGAN_PIP_ARGS`).
    pub pip_args: Vec<String>,
    /// Longest wait for one batch (`MEDIGAN_LEGACY_TIMEOUT`, default one hour); `None` waits
    /// for ever.
    pub timeout: Option<Duration>,
}

impl Default for LegacySettings {
    fn default() -> Self {
        LegacySettings {
            install_dependencies: false,
            python: if cfg!(windows) { "python" } else { "python3" }.to_string(),
            pip_args: Vec::new(),
            timeout: Some(Duration::from_secs(3600)),
        }
    }
}

impl LegacySettings {
    /// Defaults changed by `MEDIGAN_PYTHON`, `MEDIGAN_PIP_ARGS` and `MEDIGAN_LEGACY_TIMEOUT`
    /// (`0` for no limit). Consent is never read from the environment.
    pub fn from_env() -> Self {
        let mut settings = LegacySettings::default();
        if let Some(python) = std::env::var(PYTHON_ENV)
            .ok()
            .filter(|v| !v.trim().is_empty())
        {
            settings.python = python;
        }
        if let Ok(args) = std::env::var(PIP_ARGS_ENV) {
            settings.pip_args = args.split_whitespace().map(String::from).collect();
        }
        if let Some(seconds) = std::env::var(TIMEOUT_ENV)
            .ok()
            .and_then(|v| v.trim().parse::<f64>().ok())
        {
            settings.timeout = (seconds > 0.0).then(|| Duration::from_secs_f64(seconds));
        }
        settings
    }
}

/// Whether an entry is in the original Python package format.
pub fn is_legacy(entry: &ModelEntry) -> bool {
    entry.metadata.runtime() == RuntimeKind::MediganPython
}

/// The environment directory of a model (whether it exists or not).
pub fn env_dir(home: &Home, model_id: &str) -> PathBuf {
    venv::env_dir(&home.envs_dir(), model_id)
}

/// A legacy model ready to run: package on disk, environment ready, call prepared.
#[derive(Debug)]
pub struct LegacyModel {
    /// The model id.
    pub id: String,
    /// The model version, if declared.
    pub version: Option<String>,
    /// The package on disk.
    pub package: InstalledPackage,
    /// Its environment.
    pub env: PythonEnv,
    /// The module holding the generate function, e.g. `models.<id>`.
    pub module: String,
    /// The generate function's name.
    pub function: String,
    /// `model_file`, relative to the run directory as the original passes it.
    pub model_file: String,
    /// The custom keyword arguments after merging the run's options.
    pub kwargs: Map<String, Value>,
    /// Whether the package is asked to save images itself.
    pub save_images: bool,
}

/// Fetches, verifies and prepares a legacy model for `request`.
pub fn prepare(
    entry: &ModelEntry,
    store: &Store,
    base: Option<&Path>,
    settings: &LegacySettings,
    request: &GenerateRequest,
    progress: &dyn Progress,
) -> Result<LegacyModel> {
    let execution = &entry.metadata.execution;
    let (kwargs, save_images) = merge_arguments(entry, request)?;
    venv::check_consent(
        &store.home().envs_dir(),
        &entry.id,
        pinned_sha256(entry, store, base)?.as_deref(),
        &execution.dependencies,
        settings,
    )?;
    let package = fetch_trusted(entry, store, base, progress)?;
    let (module, model_file) = locate(entry, &package)?;
    let env = venv::ensure(
        &store.home().envs_dir(),
        &entry.id,
        &package.sha256,
        &execution.dependencies,
        settings,
    )?;
    Ok(LegacyModel {
        id: entry.id.clone(),
        version: entry.metadata.description.version.get().cloned(),
        package,
        env,
        module,
        function: execution.generate_method.name.clone(),
        model_file,
        kwargs,
        save_images,
    })
}

/// The sha256 the package must have, known before any download: the catalogue's
/// `execution.sha256`, else the hash the trust lock recorded at its first download.
fn pinned_sha256(entry: &ModelEntry, store: &Store, base: Option<&Path>) -> Result<Option<String>> {
    let execution = &entry.metadata.execution;
    if let Some(sha) = &execution.sha256 {
        return Ok(Some(sha.clone()));
    }
    let link = crate::model::resolve_link(&execution.package_link, base);
    Ok(TrustLock::in_home(store.home().root()).get(&link)?)
}

/// Fetches the package through the store, checked against `execution.sha256`, else against the
/// hash recorded at its first download (recorded now if this is the first).
fn fetch_trusted(
    entry: &ModelEntry,
    store: &Store,
    base: Option<&Path>,
    progress: &dyn Progress,
) -> Result<InstalledPackage> {
    let execution = &entry.metadata.execution;
    let link = crate::model::resolve_link(&execution.package_link, base);
    let lock = TrustLock::in_home(store.home().root());
    let recorded = lock.get(&link)?;
    let mut request = FetchRequest::new(&entry.id, &link);
    match (&execution.sha256, &recorded) {
        (Some(sha), _) | (None, Some(sha)) => request = request.with_sha256(sha),
        (None, None) => {}
    }
    let package = match store.fetch(&request, progress) {
        Err(StoreError::HashMismatch {
            expected, actual, ..
        }) if execution.sha256.is_none() && recorded.is_some() => {
            return Err(LegacyError::PackageChanged {
                model: entry.id.clone(),
                link,
                recorded: expected,
                actual,
                lock_file: lock.path().to_path_buf(),
            }
            .into());
        }
        other => other?,
    };
    if execution.sha256.is_none() && recorded.is_none() {
        lock.record(&link, &package.sha256)?;
    }
    Ok(package)
}

/// The module and weights file, found as the original does: `<package_name>/` inside the
/// package first, else the package's top level.
fn locate(entry: &ModelEntry, package: &InstalledPackage) -> Result<(String, String), LegacyError> {
    let execution = &entry.metadata.execution;
    let id = &entry.id;
    let weights = format!("{}{}", execution.model_name, execution.extension);
    let nested = package.dir.join(&execution.package_name);
    let nested_module = !execution.package_name.is_empty() && nested.join("__init__.py").is_file();
    let module = if nested_module {
        format!("models.{id}.{}", execution.package_name)
    } else {
        format!("models.{id}")
    };
    let candidates = [
        (
            nested.join(&weights),
            format!("models/{id}/{}/{weights}", execution.package_name),
        ),
        (package.dir.join(&weights), format!("models/{id}/{weights}")),
    ];
    let model_file = candidates
        .into_iter()
        .find(|(path, _)| path.is_file())
        .map(|(_, relative)| relative)
        .ok_or_else(|| LegacyError::WeightsMissing {
            model: id.clone(),
            file: weights.clone(),
            dir: package.dir.clone(),
        })?;
    Ok((module, model_file))
}

/// Catalogue defaults overridden by the run's options; `--input` fills `input_path`.
fn merge_arguments(
    entry: &ModelEntry,
    request: &GenerateRequest,
) -> Result<(Map<String, Value>, bool), LegacyError> {
    let id = &entry.id;
    let mut kwargs = entry
        .metadata
        .execution
        .generate_method
        .args
        .custom
        .clone()
        .unwrap_or_default();
    let mut save_images = false;
    for (key, text) in &request.options {
        let value = option_value(text);
        match key.as_str() {
            "save_images" => {
                save_images = value.as_bool().ok_or_else(|| LegacyError::BadOption {
                    model: id.clone(),
                    reason: format!("save_images must be true or false, got `{text}`"),
                })?;
            }
            "model_file" | "num_samples" | "output_path" => {
                return Err(LegacyError::BadOption {
                    model: id.clone(),
                    reason: format!("`{key}` is set by medigan (use -n and -o)"),
                });
            }
            _ => {
                kwargs.insert(key.clone(), value);
            }
        }
    }
    if let Some(input) = request.inputs.first() {
        if request.inputs.len() > 1 || !kwargs.contains_key("input_path") {
            return Err(LegacyError::BadOption {
                model: id.clone(),
                reason: "this package takes at most one --input (its `input_path`); other \
                         inputs go with --set key=value"
                    .into(),
            });
        }
        let absolute = std::path::absolute(input).unwrap_or_else(|_| input.clone());
        kwargs.insert(
            "input_path".into(),
            Value::String(absolute.display().to_string()),
        );
    }
    if let Some(label) = &request.label {
        return Err(LegacyError::BadOption {
            model: id.clone(),
            reason: format!(
                "packages in the original format take no --label (got `{label}`); give the \
                 package's own argument with --set, e.g. --set condition=1"
            ),
        });
    }
    Ok((kwargs, save_images))
}

/// `--set` text as a Python value: JSON when it parses, Python's `True`/`False`/`None`, else text.
fn option_value(text: &str) -> Value {
    match text {
        "True" => Value::Bool(true),
        "False" => Value::Bool(false),
        "None" => Value::Null,
        _ => serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_string())),
    }
}

/// The last `n` non-empty lines of `text`.
pub(crate) fn last_lines(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// The sample requests of a run's batches: sample `i` gets the seed `(run seed, i)`; the
/// package is seeded with the first seed of each batch.
fn batch_requests(request: &GenerateRequest, indices: &[u64]) -> Vec<SampleRequest> {
    indices
        .iter()
        .map(|&index| SampleRequest {
            index,
            seed: sample_seed(request.seed, index),
            class: None,
            input: None,
        })
        .collect()
}

/// Generates a run of a legacy model into `dir` (the original `generate` with `save_images=True`,
/// but written by medigan's writers and recorded in the manifest). One bridge process runs the
/// batches; samples are in 0..255.
pub(crate) fn generate_to_dir(
    model: LegacyModel,
    home: &Home,
    settings: &LegacySettings,
    request: &GenerateRequest,
    dir: &Path,
    format: Format,
    progress: &dyn Progress,
) -> Result<RunSummary> {
    let model = Arc::new(model);
    let writer = format.writer();
    let range = [0.0, 255.0];
    let indices: Vec<u64> = request.indices().collect();
    let chunks: Vec<Vec<u64>> = indices
        .chunks(request.batch_size)
        .map(<[u64]>::to_vec)
        .collect();
    let factory = || -> Result<Box<dyn Generator>, generate::GenerateError> {
        Ok(Box::new(LegacyGenerator::start(
            Arc::clone(&model),
            home,
            settings,
        )?))
    };
    let header = ManifestHeader {
        tool: concat!("medigan-rs ", env!("CARGO_PKG_VERSION")).to_string(),
        model_id: model.id.clone(),
        model_version: model.version.clone(),
        package_sha256: model.package.sha256.clone(),
        seed: request.seed,
        num_samples: request.num_samples,
        shard: request.shard.map(|s| s.to_string()),
        format: format.name().to_string(),
        value_mapping: writer.value_mapping(range),
        arguments: serde_json::json!({
            "runtime": "medigan-python",
            "generate_method": model.function,
            "custom": model.kwargs,
            "save_images": model.save_images,
            "options": request.options,
            "batch_size": request.batch_size,
        }),
    };
    let target = WriteTarget {
        dir,
        writer: writer.as_ref(),
        header,
        manifest_name: manifest_name(request.shard.map(|s| (s.index, s.count))),
        image_range: range,
        mask_range: Some(range),
        provenance: Provenance {
            model_id: model.id.clone(),
            model_version: model.version.clone(),
            package_sha256: model.package.sha256.clone(),
            run_seed: request.seed,
            modality: None,
            spacing: None,
        },
        digits: index_digits(request.num_samples),
    };
    progress.begin(
        &format!("generate {}", model.id),
        Some(indices.len() as u64),
    );
    let make_batch = |b: usize| batch_requests(request, &chunks[b]);
    let summary = generate::write_run(&factory, &make_batch, chunks.len(), 1, &target, progress);
    progress.finish();
    Ok(summary?)
}

/// A stream over the samples of `indices` of a legacy run (the original `save_images=False`).
pub(crate) fn stream(
    model: LegacyModel,
    home: &Home,
    settings: &LegacySettings,
    request: &GenerateRequest,
    indices: Vec<u64>,
) -> Result<SampleStream<'static>> {
    let generator = LegacyGenerator::start(Arc::new(model), home, settings)?;
    let count = indices.len() as u64;
    let seed = request.seed;
    let make = move |j: u64| {
        let index = indices[j as usize];
        SampleRequest {
            index,
            seed: sample_seed(seed, index),
            class: None,
            input: None,
        }
    };
    Ok(SampleStream::new(
        Box::new(generator),
        Box::new(make),
        0..count,
        request.batch_size,
    ))
}

impl From<LegacyError> for Error {
    fn from(error: LegacyError) -> Self {
        Error::Legacy(Box::new(error))
    }
}

impl From<LegacyError> for generate::GenerateError {
    fn from(error: LegacyError) -> Self {
        generate::GenerateError::Legacy(Box::new(error))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_are_read_as_python_values() {
        assert_eq!(option_value("3"), Value::from(3));
        assert_eq!(option_value("True"), Value::Bool(true));
        assert_eq!(option_value("None"), Value::Null);
        assert_eq!(option_value("[1, 2]"), serde_json::json!([1, 2]));
        assert_eq!(option_value("oval"), Value::from("oval"));
    }

    #[test]
    fn last_lines_keeps_the_end() {
        assert_eq!(last_lines("a\n\nb\nc\n", 2), "b\nc");
    }
}
