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
//!
//! This module is the Python side of [`crate::model::Model::Legacy`]: the facade never calls it
//! directly. Where the entry declares `input_latent_vector_size`, each sample's latent is drawn
//! from its seed ([`LegacyModel::seeded_latent`]) and passed as `input_latent_vector`.

mod bridge;
mod error;
mod lock;
mod script;
pub mod venv;

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{Map, Value};

pub use bridge::{BLOCK, BRIDGE_SCRIPT, LegacyGenerator};
pub use error::LegacyError;
pub use lock::{LOCK_FILE, TrustLock};
pub(crate) use script::{install_script, prepare_run_dir};
pub use venv::PythonEnv;

use crate::catalog::{ModelEntry, RuntimeKind};
use crate::generate::{self, GenerateRequest};
use crate::home::Home;
use crate::progress::Progress;
use crate::store::{FetchRequest, InstalledPackage, Store, StoreError};
use crate::{Error, Result};

/// Environment variable naming the Python that creates the environments (default `python3`).
pub const PYTHON_ENV: &str = crate::env::PYTHON.name;
/// Environment variable with extra pip arguments, split on whitespace (e.g. `--no-index`).
pub const PIP_ARGS_ENV: &str = crate::env::PIP_ARGS.name;
/// Environment variable with the time limit of one batch, in seconds (default 3600).
pub const TIMEOUT_ENV: &str = crate::env::LEGACY_TIMEOUT.name;

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
        if let Some(python) = crate::env::PYTHON.text() {
            settings.python = python;
        }
        settings.pip_args = crate::env::PIP_ARGS.words();
        if let Some(seconds) = crate::env::LEGACY_TIMEOUT.seconds() {
            settings.timeout = (seconds > 0.0).then(|| Duration::from_secs_f64(seconds));
        }
        settings
    }
}

/// How a legacy run is seeded and batched, as the manifest records it (`arguments.seeding`).
pub const SEEDING: &str = "the package is called on whole blocks of 8 samples (indices \
    k*8 .. k*8+7 of the run, whatever --batch, --shard and -n; samples outside the batch are \
    computed and dropped); each call seeds Python's random, numpy and torch with the seed of \
    its block's first sample; torch runs on one thread with deterministic algorithms";

/// Whether an entry is in the original Python package format.
pub fn is_legacy(entry: &ModelEntry) -> bool {
    entry.metadata.runtime() == RuntimeKind::MediganPython
}

/// The environment directory of a model (whether it exists or not).
pub fn env_dir(home: &Home, model_id: &str) -> PathBuf {
    venv::env_dir(&home.envs_dir(), model_id)
}

/// The longest latent a catalogue entry may declare (`input_latent_vector_size`).
pub const MAX_LATENT_SIZE: usize = 1 << 20;

/// A legacy model ready to run: package on disk, environment ready. What a run changes (its
/// options, input, label) is a [`LegacyCall`].
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
    /// The catalogue's custom keyword arguments (`generate_method.args.custom`).
    pub custom: Map<String, Value>,
    /// Length of the latent the function takes as `input_latent_vector`
    /// (`generate_method.input_latent_vector_size`), if declared.
    pub latent_size: Option<usize>,
    /// Where the bridge script and run folders go.
    pub home: Home,
    /// Longest wait for one batch.
    pub timeout: Option<Duration>,
}

/// The arguments of one run's calls: the catalogue's custom arguments with the run's options.
#[derive(Debug, Clone, PartialEq)]
pub struct LegacyCall {
    /// The custom keyword arguments after merging the run's options.
    pub kwargs: Map<String, Value>,
    /// Whether the package is asked to save images itself.
    pub save_images: bool,
}

/// Fetches, verifies and prepares a legacy model: package, weights, environment (made only
/// with consent).
pub fn prepare(
    entry: &ModelEntry,
    store: &Store,
    base: Option<&Path>,
    settings: &LegacySettings,
    progress: &dyn Progress,
) -> Result<LegacyModel> {
    let execution = &entry.metadata.execution;
    let latent_size = latent_size(entry)?;
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
        custom: execution
            .generate_method
            .args
            .custom
            .clone()
            .unwrap_or_default(),
        latent_size,
        home: store.home().clone(),
        timeout: settings.timeout,
    })
}

/// `execution.generate_method.input_latent_vector_size`, checked: a positive integer of at
/// most [`MAX_LATENT_SIZE`].
fn latent_size(entry: &ModelEntry) -> Result<Option<usize>, LegacyError> {
    let method = &entry.metadata.execution.generate_method;
    let Some(value) = method
        .input_latent_vector_size
        .get()
        .filter(|v| !v.is_null())
    else {
        return Ok(None);
    };
    match value.as_u64().and_then(|v| usize::try_from(v).ok()) {
        Some(size @ 1..=MAX_LATENT_SIZE) => Ok(Some(size)),
        _ => Err(LegacyError::BadOption {
            model: entry.id.clone(),
            reason: format!(
                "execution.generate_method.input_latent_vector_size is {value}; expected an \
                 integer from 1 to {MAX_LATENT_SIZE}"
            ),
        }),
    }
}

impl LegacyModel {
    /// The arguments of a run's calls: catalogue defaults overridden by the run's options.
    pub fn call(&self, request: &GenerateRequest) -> Result<LegacyCall, LegacyError> {
        let (kwargs, save_images) = merge_arguments(&self.id, &self.custom, request)?;
        Ok(LegacyCall {
            kwargs,
            save_images,
        })
    }

    /// Whether the function takes a class as `condition` (its custom arguments name one).
    pub fn is_conditional(&self) -> bool {
        self.custom.contains_key("condition")
    }

    /// The latent the sample with this seed is given: drawn as a native model's latent input
    /// is (standard normal, from the sample's stream), `None` without a declared size.
    pub fn seeded_latent(&self, seed: u64) -> Option<Vec<f32>> {
        let size = self.latent_size?;
        let mut rng = crate::sample::SampleRng::new(seed);
        Some(rng.draw(size, crate::catalog::Distribution::Normal, None))
    }
}

/// The sha256 the package must have, known before any download: the catalogue's
/// `execution.sha256`, else the hash the trust lock recorded at its first download.
fn pinned_sha256(entry: &ModelEntry, store: &Store, base: Option<&Path>) -> Result<Option<String>> {
    let execution = &entry.metadata.execution;
    if let Some(sha) = &execution.sha256 {
        return Ok(Some(sha.clone()));
    }
    let request = FetchRequest::for_package(&entry.id, &execution.package_link, base, None);
    Ok(TrustLock::in_home(store.home().root()).get(&request.link)?)
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
    let unpinned = FetchRequest::for_package(&entry.id, &execution.package_link, base, None);
    let lock = TrustLock::in_home(store.home().root());
    let recorded = lock.get(&unpinned.link)?;
    let pin = execution.sha256.as_deref().or(recorded.as_deref());
    let request = FetchRequest::for_package(&entry.id, &execution.package_link, base, pin);
    let link = request.link.clone();
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

/// Catalogue defaults overridden by the run's options; `--input` fills `input_path`, and
/// `--label` fills `condition` for conditional packages.
fn merge_arguments(
    id: &str,
    custom: &Map<String, Value>,
    request: &GenerateRequest,
) -> Result<(Map<String, Value>, bool), LegacyError> {
    let bad = |reason: String| LegacyError::BadOption {
        model: id.to_string(),
        reason,
    };
    let mut kwargs = custom.clone();
    let mut save_images = false;
    for (key, text) in &request.options {
        let value = option_value(text);
        match key.as_str() {
            "save_images" => {
                save_images = value.as_bool().ok_or_else(|| {
                    bad(format!("save_images must be true or false, got `{text}`"))
                })?;
            }
            "model_file" | "num_samples" | "output_path" => {
                return Err(bad(format!("`{key}` is set by medigan (use -n and -o)")));
            }
            "input_latent_vector" => {
                return Err(bad(
                    "`input_latent_vector` is drawn by medigan from each sample's seed (use \
                     --seed, or --latent FILE for one fixed latent)"
                        .into(),
                ));
            }
            _ => {
                kwargs.insert(key.clone(), value);
            }
        }
    }
    if let Some(input) = request.inputs.first() {
        if request.inputs.len() > 1 || !kwargs.contains_key("input_path") {
            return Err(bad(
                "this package takes at most one --input (its `input_path`); other inputs go \
                 with --set key=value"
                    .into(),
            ));
        }
        let absolute = std::path::absolute(input).unwrap_or_else(|_| input.clone());
        kwargs.insert(
            "input_path".into(),
            Value::String(absolute.display().to_string()),
        );
    }
    if let Some(label) = &request.label {
        if !custom.contains_key("condition") {
            return Err(bad(format!(
                "this package takes no class (no `condition` among its arguments), so no \
                 --label (got `{label}`); give the package's own arguments with --set"
            )));
        }
        kwargs.insert("condition".into(), option_value(label));
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

impl From<LegacyError> for Error {
    fn from(error: LegacyError) -> Self {
        Error::Legacy(Box::new(error))
    }
}

impl From<LegacyError> for generate::GenerateError {
    fn from(error: LegacyError) -> Self {
        generate::GenerateError::Model(Box::new(error))
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
