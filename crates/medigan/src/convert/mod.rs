//! `medigan convert`: turns a legacy zoo package (Python code + weights) into a native package
//! (an ONNX graph + `medigan.json`, no code), verified to give the same images.
//!
//! Steps: metadata plan ([`plan`]: refuse what cannot work before running anything) -> the
//! legacy model loaded with consent (its environment, as `generate` needs) -> [`export`]: the
//! package run once in its environment, the module that receives the latent recorded and
//! exported with `torch.onnx.export`, the package's mapping to 0..255 read off -> the package
//! written into a staging folder ([`package`]) -> [`verify`]: both generate the same seeds
//! through the ordinary run path and the written images are compared -> the card written and
//! the staging folder renamed into place. Nothing is left at the destination when any step
//! fails or the images differ (unless `accept_differences`).

pub mod diffusers;
mod error;
pub mod export;
pub mod folder_source;
pub mod folder_verify;
pub mod monai;
pub mod monai_config;
pub mod monai_maisi;
pub mod package;
pub mod plan;
pub mod verify;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;

pub use error::ConvertError;
pub use plan::{DryRunRow, Plan, dry_run, plan_entry};
pub use verify::{OutputAgreement, Verification};

use crate::model::Model;
use crate::progress::Progress;
use crate::{Error, Generators, Result};

/// Seeds compared by default.
pub const DEFAULT_SAMPLES: u64 = 16;
/// Tolerance on graph values by default.
pub const DEFAULT_TOLERANCE: f64 = 1e-4;

/// What to convert and how.
#[derive(Debug, Clone)]
pub struct ConvertOptions {
    /// The model (id, number or prefix).
    pub model: String,
    /// The folder of the native package; `None`: `<model id>-onnx` in the working directory.
    pub out: Option<PathBuf>,
    /// Seeds compared per run (`--samples`).
    pub samples: u64,
    /// Tolerance on graph values (`--tolerance`).
    pub tolerance: f64,
    /// Write the package even when the images differ (`--accept-differences`).
    pub accept_differences: bool,
    /// The model id of a package converted from a folder (diffusers pipeline); `None`:
    /// `00000_<FOLDER NAME>`.
    pub id: Option<String>,
    /// Inference steps of the comparison of a diffusion model (at most its default steps);
    /// `None`: 50.
    pub steps: Option<usize>,
    /// The prompts a text-conditioned pipeline's package declares (`--prompts FILE`, read by
    /// [`diffusers::read_prompts`]): their text embeddings are computed at conversion and
    /// shipped in the package.
    pub prompts: Vec<String>,
}

impl ConvertOptions {
    /// Options for `model` with the defaults.
    pub fn new(model: &str) -> Self {
        ConvertOptions {
            model: model.to_string(),
            out: None,
            samples: DEFAULT_SAMPLES,
            tolerance: DEFAULT_TOLERANCE,
            accept_differences: false,
            id: None,
            steps: None,
            prompts: Vec::new(),
        }
    }
}

/// What a conversion wrote.
#[derive(Debug, Clone, Serialize)]
pub struct ConvertReport {
    /// The model id.
    pub model_id: String,
    /// The native package's folder.
    pub dir: PathBuf,
    /// The exported module's class.
    pub module: String,
    /// torch's version.
    pub torch: String,
    /// The verification.
    pub verification: Verification,
    /// Whether it was written although the images differ.
    pub accepted_differences: bool,
}

/// Converts a legacy package into a native one at `options.out` (see the module doc).
pub fn convert(
    generators: &Generators,
    options: &ConvertOptions,
    progress: &dyn Progress,
) -> Result<ConvertReport> {
    check_options(options)?;
    let entry = generators.get_config_by_id(&options.model)?.clone();
    match plan_entry(&entry) {
        Plan::Native => return Err(boxed(ConvertError::AlreadyNative { model: entry.id })),
        Plan::Refuse(reason) => {
            return Err(boxed(ConvertError::refused(&entry.id, "metadata", &reason)));
        }
        Plan::Convert(_) => {}
    }
    let out = options
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("{}-onnx", entry.id)));
    check_out(&out)?;
    let Model::Legacy(legacy) = generators.load_model(&entry.id, progress)? else {
        return Err(boxed(ConvertError::AlreadyNative { model: entry.id }));
    };
    let parent = out
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent).map_err(ConvertError::io("create", parent))?;
    let tmp = generators.settings().home.tmp_dir();
    std::fs::create_dir_all(&tmp).map_err(ConvertError::io("create", &tmp))?;
    remove_stale(parent, STAGING_PREFIX);
    remove_stale(&tmp, WORK_PREFIX);
    let (staging, staging_lock) = claimed_dir(parent, STAGING_PREFIX)?;
    let (work, _work_lock) = claimed_dir(&tmp, WORK_PREFIX)?;
    let graph = std::path::absolute(staging.path().join(package::GRAPH))
        .map_err(ConvertError::io("resolve", staging.path()))?;
    let exported = export::run(&legacy, &graph, work.path()).map_err(boxed)?;
    let classes = package::class_names(&entry, &exported);
    let provenance = package::ConversionProvenance {
        package_sha256: legacy.package.sha256.clone(),
        package_link: entry.metadata.execution.package_link.clone(),
        tool: concat!("medigan-rs ", env!("CARGO_PKG_VERSION")).to_string(),
    };
    let mut metadata = package::metadata_json(&entry, &exported, &classes, &provenance)?;
    package::declare_external_data(&mut metadata, staging.path())?;
    package::write_metadata(staging.path(), &entry, &metadata)?;
    let catalog = staging.path().join("medigan.json");
    let check = verify::Check {
        model_id: &entry.id,
        native_catalog: &catalog,
        ranges: exported
            .outputs
            .iter()
            .map(|o| (o.kind.clone(), o.mapping.range()))
            .collect::<BTreeMap<_, _>>(),
        seeds: options.samples,
        tolerance: options.tolerance,
        runs: runs(&legacy.custom, &classes),
        work: work.path(),
    };
    let verification = verify::verify(generators, &check)?;
    if !verification.passed && !options.accept_differences {
        return Err(boxed(ConvertError::Differs {
            model: entry.id.clone(),
            details: verification.summary(),
        }));
    }
    let card = package::card(
        &entry,
        &exported,
        &classes,
        &provenance,
        &verification,
        options.accept_differences,
    );
    let readme = staging.path().join("README.md");
    std::fs::write(&readme, card).map_err(ConvertError::io("write", &readme))?;
    let _ = std::fs::remove_file(staging.path().join(OWNER_LOCK));
    drop(staging_lock);
    publish(staging, &out)?;
    Ok(ConvertReport {
        model_id: entry.id.clone(),
        dir: out,
        module: exported.module,
        torch: exported.torch,
        accepted_differences: options.accept_differences && !verification.passed,
        verification,
    })
}

/// What kind of source a folder is, if `medigan convert PATH` converts folders of its kind.
pub fn source_kind(path: &Path) -> Option<&'static str> {
    if !path.is_dir() {
        return None;
    }
    if diffusers::is_pipeline(path) {
        return Some("diffusers");
    }
    if monai::is_bundle(path) {
        return Some("monai_bundle");
    }
    None
}

/// What a conversion of a folder wrote.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum FolderReport {
    /// A diffusers pipeline.
    Diffusers(Box<diffusers::SourceReport>),
    /// A MONAI bundle.
    Monai(Box<monai::BundleReport>),
}

impl FolderReport {
    /// One line: what was converted into what, with which tools.
    pub fn summary(&self) -> String {
        match self {
            FolderReport::Diffusers(r) => r.summary(
                &r.plan.describe(),
                &format!(
                    "torch {}, diffusers {}",
                    r.exported.graphs.torch, r.exported.diffusers
                ),
            ),
            FolderReport::Monai(r) => r.summary(
                &r.plan.describe(),
                &format!(
                    "torch {}, MONAI {}",
                    r.exported.graphs.torch, r.exported.monai
                ),
            ),
        }
    }

    /// The comparison with the source's own loop.
    pub fn verification(&self) -> &folder_verify::DiffusionVerification {
        match self {
            FolderReport::Diffusers(r) => &r.verification,
            FolderReport::Monai(r) => &r.verification,
        }
    }
}

/// What `medigan convert PATH --dry-run` says of a source folder: the plan in words (or the
/// refusal) and what the converter's environment installs.
pub fn folder_plan(path: &Path, id: &str) -> Result<(Plan, Vec<String>), ConvertError> {
    let refused = |e: ConvertError| match e {
        ConvertError::Refused { reason, .. } => Ok(Plan::Refuse(reason)),
        other => Err(other),
    };
    match source_kind(path) {
        Some("diffusers") => {
            let plan = diffusers::plan(path, id).map(|p| Plan::Convert(p.describe()));
            Ok((plan.or_else(refused)?, diffusers::dependencies()))
        }
        Some("monai_bundle") => {
            let plan = monai::plan(path, id).map(|p| Plan::Convert(p.describe()));
            Ok((plan.or_else(refused)?, monai::dependencies()))
        }
        _ => Err(unknown_source(path)),
    }
}

fn unknown_source(path: &Path) -> ConvertError {
    ConvertError::refused(
        &path.display().to_string(),
        "unknown_source",
        "neither a diffusers pipeline folder (model_index.json) nor a MONAI bundle \
         (configs/inference.json and configs/metadata.json)",
    )
}

/// Converts the source folder `path` (a diffusers pipeline or a MONAI bundle) into a native
/// diffusion package at `options.out` (see [`diffusers`], [`monai`]).
pub fn convert_folder(
    generators: &Generators,
    path: &Path,
    options: &ConvertOptions,
) -> Result<FolderReport> {
    check_options(options)?;
    match source_kind(path) {
        Some("diffusers") => diffusers::convert(generators, path, options)
            .map(|r| FolderReport::Diffusers(Box::new(r))),
        Some("monai_bundle") => {
            monai::convert(generators, path, options).map(|r| FolderReport::Monai(Box::new(r)))
        }
        _ => Err(boxed(unknown_source(path))),
    }
}

fn boxed(error: ConvertError) -> Error {
    error.into()
}

fn check_options(options: &ConvertOptions) -> Result<(), ConvertError> {
    if options.samples == 0 {
        return Err(ConvertError::BadOption(
            "--samples must be at least 1".into(),
        ));
    }
    if !(options.tolerance.is_finite() && options.tolerance >= 0.0) {
        return Err(ConvertError::BadOption(format!(
            "--tolerance must be a number >= 0, got {}",
            options.tolerance
        )));
    }
    Ok(())
}

/// The destination must not exist, or be an empty folder.
fn check_out(out: &Path) -> Result<(), ConvertError> {
    match std::fs::read_dir(out) {
        Ok(entries) => match entries.count() {
            0 => Ok(()),
            _ => Err(ConvertError::OutExists {
                dir: out.to_path_buf(),
            }),
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(_) => Err(ConvertError::OutExists {
            dir: out.to_path_buf(),
        }),
    }
}

/// The comparison runs: one, or one per class of a conditional package (its `condition`).
fn runs(
    custom: &serde_json::Map<String, serde_json::Value>,
    classes: &[String],
) -> Vec<verify::Run> {
    if classes.is_empty() || !custom.contains_key("condition") {
        return vec![verify::Run {
            name: "unconditional".into(),
            legacy_label: None,
            native_label: None,
        }];
    }
    classes
        .iter()
        .enumerate()
        .map(|(i, name)| verify::Run {
            name: format!("class {name} (condition={i})"),
            legacy_label: Some(i.to_string()),
            native_label: Some(name.clone()),
        })
        .collect()
}

/// The prefix of the staging folders beside the destination.
const STAGING_PREFIX: &str = ".medigan-convert-";
/// The prefix of the scratch folders under the cache's `tmp/`.
const WORK_PREFIX: &str = "convert-";
/// The file a live conversion holds locked in each of its folders.
const OWNER_LOCK: &str = ".medigan-owner.lock";
/// A folder of ours without its lock is stale after this long (the lock is taken right after
/// the folder is made).
const UNLOCKED_GRACE: std::time::Duration = std::time::Duration::from_secs(600);

/// A new temporary folder `<prefix>XXXXXX` in `parent`, with its owner lock held (released,
/// and the folder removed, when both are dropped).
fn claimed_dir(
    parent: &Path,
    prefix: &str,
) -> Result<(tempfile::TempDir, std::fs::File), ConvertError> {
    let dir = tempfile::Builder::new()
        .prefix(prefix)
        .tempdir_in(parent)
        .map_err(ConvertError::io("create a folder in", parent))?;
    let path = dir.path().join(OWNER_LOCK);
    let lock = std::fs::File::create(&path).map_err(ConvertError::io("create", &path))?;
    lock.try_lock()
        .map_err(|e| ConvertError::io("lock", &path)(std::io::Error::other(e.to_string())))?;
    Ok((dir, lock))
}

/// Removes the folders `<prefix>*` in `parent` that a killed conversion left: those whose
/// owner lock is free (or that have none and are older than [`UNLOCKED_GRACE`]). A live
/// conversion holds its lock, so its folders stay.
fn remove_stale(parent: &Path, prefix: &str) {
    let Ok(entries) = std::fs::read_dir(parent) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        if !name.to_string_lossy().starts_with(prefix)
            || !entry.file_type().is_ok_and(|t| t.is_dir())
        {
            continue;
        }
        let path = entry.path();
        let stale = match std::fs::File::open(path.join(OWNER_LOCK)) {
            Ok(lock) => lock.try_lock().is_ok(),
            Err(_) => entry
                .metadata()
                .and_then(|m| m.modified())
                .is_ok_and(|t| t.elapsed().is_ok_and(|age| age > UNLOCKED_GRACE)),
        };
        if stale {
            tracing::info!(
                "removing `{}`, left by an interrupted conversion",
                path.display()
            );
            let _ = std::fs::remove_dir_all(&path);
        }
    }
}

/// Renames the finished staging folder to `out` (an empty `out` is replaced).
fn publish(staging: tempfile::TempDir, out: &Path) -> Result<(), ConvertError> {
    check_out(out)?;
    crate::fs::publish_dir(staging, out).map_err(|e| match e {
        crate::fs::PublishError::Replace(cause) => ConvertError::io("replace", out)(cause),
        crate::fs::PublishError::Rename(cause) => {
            ConvertError::io("move the package to", out)(cause)
        }
    })
}

impl From<ConvertError> for Error {
    fn from(error: ConvertError) -> Self {
        Error::Convert(Box::new(error))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 26, finding 14: a killed `convert` left `.medigan-convert-*` and `tmp/convert-*`
    /// folders forever.
    #[test]
    fn regression_26_folders_of_a_killed_conversion_are_removed_live_ones_kept() {
        let parent = tempfile::tempdir().unwrap();
        let (live, _lock) = claimed_dir(parent.path(), STAGING_PREFIX).unwrap();
        let killed = parent.path().join(".medigan-convert-killed");
        std::fs::create_dir_all(killed.join("sub")).unwrap();
        std::fs::write(killed.join(OWNER_LOCK), b"").unwrap();
        let fresh = parent.path().join(".medigan-convert-justmade");
        std::fs::create_dir(&fresh).unwrap();
        let other = parent.path().join("keep-me");
        std::fs::create_dir(&other).unwrap();
        remove_stale(parent.path(), STAGING_PREFIX);
        assert!(!killed.exists());
        assert!(live.path().is_dir() && fresh.is_dir() && other.is_dir());
    }
}
