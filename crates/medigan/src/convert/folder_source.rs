//! What `medigan convert PATH` does alike for every source folder (a diffusers pipeline, a MONAI
//! bundle): the steps of [`convert`] around a [`FolderSource`], the converter's environment,
//! the export script's run, the source's licence and sha256, and the parts of the package and
//! its card that do not depend on the source.
//!
//! Steps: the source's plan (from its JSON alone) -> the export script (the shared
//! `folder_export.py` prelude + the source's own part) in the consented environment -> the
//! package written into a staging folder -> `folder_verify::verify` -> the card -> the
//! staging folder renamed into place.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::ConvertError;
use super::export::OPSET;
use super::folder_verify::{DiffusionVerification, ReferenceRun, References, verify};
use crate::legacy::venv;
use crate::{Error, Generators, Result};

/// The name of the tool written into packages and cards.
const TOOL: &str = concat!("medigan-rs ", env!("CARGO_PKG_VERSION"));

/// One kind of source folder: what [`convert`] asks of it.
pub trait FolderSource {
    /// What the folder's JSON says, before anything runs.
    type Plan: Serialize;
    /// What the export script answers.
    type Exported: serde::de::DeserializeOwned + Serialize;
    /// The report's `source` (`diffusers`, `monai_bundle`).
    const SOURCE: &'static str;
    /// The source in words, for errors (`diffusers`, `MONAI bundle`).
    const KIND: &'static str;
    /// The converter's environment: its name and the pinned requirement naming it.
    const ENV: (&'static str, &'static str);
    /// The export script (the prelude and the source's part) and its file name prefix.
    const SCRIPT: (&'static str, &'static str);

    /// What pip installs into the converter's environment for `plan`.
    fn dependencies(plan: &Self::Plan) -> Vec<String>;
    /// The converter's environment's name for `plan` (default: `ENV`'s).
    fn env_name(_plan: &Self::Plan) -> &'static str {
        Self::ENV.0
    }
    /// Decides from the folder's JSON (and the options that shape the package, as
    /// `--prompts`) whether `dir` converts; `name` names the model.
    fn plan(
        dir: &Path,
        name: &str,
        options: &super::ConvertOptions,
    ) -> Result<Self::Plan, ConvertError>;
    /// Inference steps written into the package.
    fn steps(plan: &Self::Plan) -> usize;
    /// The export script's request.
    fn request(plan: &Self::Plan, paths: &ScriptPaths<'_>, steps: usize) -> Value;
    /// What the export measured, the same for every source.
    fn graphs(exported: &Self::Exported) -> &ExportedGraphs;
    /// `medigan.json` of the package.
    fn package(plan: &Self::Plan, exported: &Self::Exported, info: &SourceInfo<'_>) -> Value;
    /// Writes the package's `scheduler_config.json` into `staging`.
    fn write_scheduler(
        plan: &Self::Plan,
        source: &Path,
        staging: &Path,
    ) -> Result<(), ConvertError>;
    /// The package's card (`README.md`).
    fn card(
        plan: &Self::Plan,
        exported: &Self::Exported,
        verification: &DiffusionVerification,
        info: &SourceInfo<'_>,
    ) -> String;
}

/// Where the export script reads and writes, and how many samples it runs.
pub struct ScriptPaths<'a> {
    /// The source folder, absolute.
    pub source: &'a Path,
    /// The staging folder the graphs go into, absolute.
    pub out: &'a Path,
    /// The scratch folder (initial noise, reference runs).
    pub work: &'a Path,
    /// Samples per reference run.
    pub samples: u64,
}

/// The source and what the conversion knows of it, for the package and its card.
pub struct SourceInfo<'a> {
    /// The source folder.
    pub source: &'a Path,
    /// Its sha256 ([`folder_sha256`]).
    pub sha256: &'a str,
    /// The model id written.
    pub model_id: &'a str,
    /// Inference steps written into the package.
    pub steps: usize,
    /// The source's licence file kept, if any.
    pub licence: Option<&'a str>,
    /// Whether the package is written although it differs.
    pub accepted_differences: bool,
}

/// What every export script answers besides its source's versions.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct ExportedGraphs {
    /// torch's version.
    pub torch: String,
    /// One sample's (latent) noise `[C, H, W]`.
    pub noise_shape: Vec<usize>,
    /// One final image `[C, H, W]`.
    pub image_shape: Vec<usize>,
    /// What checked the graphs.
    #[serde(default)]
    pub checker: Option<String>,
    /// Graph vs module on a batch of another size: max abs error.
    #[serde(default)]
    pub denoiser_error: Option<f64>,
    /// The same for the decoder.
    #[serde(default)]
    pub decoder_error: Option<f64>,
    /// The reference runs.
    pub reference: Vec<ReferenceRun>,
    /// What ran the reference loop.
    pub reference_pipeline: String,
    /// Its scheduler class.
    pub reference_scheduler: String,
    /// torch's threads.
    #[serde(default)]
    pub threads: Option<usize>,
}

/// What a conversion of a source folder wrote.
#[derive(Debug, Clone, Serialize)]
pub struct FolderConversion<P, E> {
    /// `diffusers` or `monai_bundle`.
    pub source: String,
    /// The source folder.
    pub path: PathBuf,
    /// sha256 of the source folder (its files, in path order).
    pub source_sha256: String,
    /// The model id written.
    pub model_id: String,
    /// The native package's folder.
    pub dir: PathBuf,
    /// What the folder's JSON said.
    pub plan: P,
    /// What the export said.
    pub exported: E,
    /// The verification.
    pub verification: DiffusionVerification,
    /// Whether it was written although it differs.
    pub accepted_differences: bool,
    /// Seconds from start to the package in place.
    pub seconds: f64,
}

impl<P, E> FolderConversion<P, E> {
    /// One line: what was converted (`plan` in words) into what, with which `tools`.
    pub fn summary(&self, plan: &str, tools: &str) -> String {
        format!(
            "converted the {} folder {} ({plan}) into {} as {} in {:.1} s ({tools})",
            self.source,
            self.path.display(),
            self.dir.display(),
            self.model_id,
            self.seconds
        )
    }
}

/// Converts the source folder `source` of kind `S` (see the module doc).
pub fn convert<S: FolderSource>(
    generators: &Generators,
    source: &Path,
    options: &super::ConvertOptions,
) -> Result<FolderConversion<S::Plan, S::Exported>> {
    let started = Instant::now();
    let model_id = options.id.clone().unwrap_or_else(|| default_id(source));
    let plan = S::plan(source, &model_id, options)?;
    let out = options
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("{model_id}-onnx")));
    super::check_out(&out)?;
    let source_sha256 = folder_sha256(source)?;
    let env = environment::<S>(generators, &plan)?;
    let (staging, work) = folders(generators, &out)?;
    let staging_abs =
        std::path::absolute(staging.path()).map_err(ConvertError::io("resolve", staging.path()))?;
    let source_abs = std::path::absolute(source).map_err(ConvertError::io("resolve", source))?;
    let steps = S::steps(&plan);
    let verify_steps = steps.min(options.steps.unwrap_or(50)).max(1);
    let paths = ScriptPaths {
        source: &source_abs,
        out: &staging_abs,
        work: work.path(),
        samples: options.samples,
    };
    let mut request = S::request(&plan, &paths, verify_steps);
    request["external_data_threshold"] = json!(super::package::external_data_threshold());
    let exported: S::Exported = run_script(&env, work.path(), &request, &model_id, S::SCRIPT)?;
    let mut info = SourceInfo {
        source,
        sha256: &source_sha256,
        model_id: &model_id,
        steps,
        licence: None,
        accepted_differences: options.accept_differences,
    };
    let catalog = staging.path().join("medigan.json");
    let mut package = S::package(&plan, &exported, &info);
    super::package::declare_external_data(&mut package, staging.path())?;
    write_json(&catalog, &package)?;
    S::write_scheduler(&plan, source, staging.path())?;
    let licence = copy_licence(source, staging.path())?;
    info.licence = licence.as_deref();
    let graphs = S::graphs(&exported);
    let references = References {
        runs: &graphs.reference,
        scheduler: &graphs.reference_scheduler,
        pipeline: &graphs.reference_pipeline,
    };
    let noise = work.path().join("initial_noise.npy");
    let verification = verify(
        generators,
        &catalog,
        &model_id,
        &references,
        &noise,
        options,
        verify_steps,
    )?;
    if !verification.passed && !options.accept_differences {
        return Err(ConvertError::DiffersFromSource {
            model: model_id,
            source_kind: S::KIND.into(),
            details: verification.summary(),
        }
        .into());
    }
    let readme = staging.path().join("README.md");
    let card = S::card(&plan, &exported, &verification, &info);
    std::fs::write(&readme, card).map_err(ConvertError::io("write", &readme))?;
    super::publish(staging, &out)?;
    Ok(FolderConversion {
        source: S::SOURCE.into(),
        path: source.to_path_buf(),
        source_sha256,
        model_id,
        dir: out,
        plan,
        accepted_differences: options.accept_differences && !verification.passed,
        exported,
        verification,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// The staging folder beside `out` and the scratch folder in medigan's home.
fn folders(
    generators: &Generators,
    out: &Path,
) -> Result<(tempfile::TempDir, tempfile::TempDir), ConvertError> {
    let parent = out
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent).map_err(ConvertError::io("create", parent))?;
    let staging = tempfile::Builder::new()
        .prefix(".medigan-convert-")
        .tempdir_in(parent)
        .map_err(ConvertError::io("create a folder in", parent))?;
    let tmp = generators.settings().home.tmp_dir();
    std::fs::create_dir_all(&tmp).map_err(ConvertError::io("create", &tmp))?;
    let work = tempfile::Builder::new()
        .prefix("convert-")
        .tempdir_in(&tmp)
        .map_err(ConvertError::io("create a folder in", &tmp))?;
    Ok((staging, work))
}

/// `value` written to `path` as pretty JSON with a final newline.
fn write_json(path: &Path, value: &Value) -> Result<(), ConvertError> {
    let text = serde_json::to_string_pretty(value).unwrap_or_default() + "\n";
    std::fs::write(path, text).map_err(ConvertError::io("write", path))
}

/// The converter's environment of `S` (with consent, as legacy packages get theirs).
fn environment<S: FolderSource>(
    generators: &Generators,
    plan: &S::Plan,
) -> Result<venv::PythonEnv> {
    let settings = generators.legacy_settings();
    let home = &generators.settings().home;
    let (name, pin) = (S::env_name(plan), S::ENV.1);
    let dependencies = S::dependencies(plan);
    venv::ensure(&home.envs_dir(), name, pin, &dependencies, &settings).map_err(|e| match e {
        crate::legacy::LegacyError::ConsentNeeded {
            dependencies, env, ..
        } => Error::from(ConvertError::ConsentNeeded {
            source_kind: S::KIND.into(),
            dependencies,
            env,
        }),
        other => Error::from(other),
    })
}

/// Runs an export script (`(text, file name prefix)`) in `env` with `request` on its stdin and
/// reads its answer: the last line of its stdout.
fn run_script<T: serde::de::DeserializeOwned>(
    env: &venv::PythonEnv,
    work: &Path,
    request: &Value,
    model: &str,
    (text, prefix): (&str, &str),
) -> Result<T, ConvertError> {
    let digest = hex::encode(Sha256::digest(text.as_bytes()));
    let script = work.join(format!("{prefix}-{}.py", &digest[..16]));
    std::fs::write(&script, text).map_err(ConvertError::io("write", &script))?;
    let mut child =
        env.script_command(&script, work)
            .spawn()
            .map_err(|e| ConvertError::Export {
                model: model.to_string(),
                what: format!("could not start `{}`: {e}", env.python.display()),
                stderr: String::new(),
            })?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(format!("{request}\n").as_bytes())
            .map_err(ConvertError::io("write to", &script))?;
    }
    let output = child
        .wait_with_output()
        .map_err(ConvertError::io("wait for", &script))?;
    super::export::read_answer(model, &output, "running the pipeline failed")
}

/// `LICENSE*` of the source copied; the file name, or `None` after writing a note.
fn copy_licence(source: &Path, dir: &Path) -> Result<Option<String>, ConvertError> {
    for name in ["LICENSE", "LICENSE.md", "LICENSE.txt", "LICENCE", "COPYING"] {
        let path = source.join(name);
        if path.is_file() {
            let to = dir.join("LICENSE");
            std::fs::copy(&path, &to).map_err(ConvertError::io("copy", &path))?;
            return Ok(Some(name.to_string()));
        }
    }
    let to = dir.join("LICENSE");
    std::fs::write(
        &to,
        "The source pipeline folder had no licence file: ask its authors before sharing this \
         package.\n",
    )
    .map_err(ConvertError::io("write", &to))?;
    Ok(None)
}

/// A default model id from the folder's name: `00000_<NAME>`.
pub fn default_id(dir: &Path) -> String {
    let name = std::path::absolute(dir)
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_default();
    let mut upper: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect();
    upper = upper.trim_matches('_').to_string();
    if upper.is_empty() {
        upper = "CONVERTED".into();
    }
    format!("00000_{upper}")
}

/// sha256 over the folder's files: each relative path, its length and its bytes, in path order.
pub fn folder_sha256(dir: &Path) -> Result<String, ConvertError> {
    fn walk(dir: &Path, root: &Path, files: &mut Vec<PathBuf>) -> Result<(), ConvertError> {
        for entry in std::fs::read_dir(dir).map_err(ConvertError::io("list", dir))? {
            let path = entry.map_err(ConvertError::io("list", dir))?.path();
            if path.is_dir() {
                walk(&path, root, files)?;
            } else if let Ok(rel) = path.strip_prefix(root) {
                files.push(rel.to_path_buf());
            }
        }
        Ok(())
    }
    let mut files = Vec::new();
    walk(dir, dir, &mut files)?;
    files.sort();
    let mut hasher = Sha256::new();
    for rel in files {
        let path = dir.join(&rel);
        let bytes = std::fs::read(&path).map_err(ConvertError::io("read", &path))?;
        hasher.update(rel.to_string_lossy().replace('\\', "/").as_bytes());
        hasher.update([0]);
        hasher.update((bytes.len() as u64).to_le_bytes());
        hasher.update(&bytes);
    }
    Ok(hex::encode(hasher.finalize()))
}

/// The parts of a converted package's `medigan.json` that differ by source.
pub struct PackageParts {
    /// `execution.onnx.inputs`.
    pub inputs: Value,
    /// The image's value range.
    pub range: Value,
    /// `execution.onnx.diffusion`.
    pub diffusion: Value,
    /// `execution.converted_from`, less `path`, `sha256`, `tool`, `torch` and `opset`.
    pub converted_from: Value,
    /// `selection`.
    pub selection: Value,
    /// `description`.
    pub description: Value,
}

/// The package's `medigan.json`: one entry `info.model_id` running `denoiser.onnx` with
/// `parts`.
pub fn package_json(info: &SourceInfo<'_>, graphs: &ExportedGraphs, parts: PackageParts) -> Value {
    let image = &graphs.image_shape;
    let mut converted_from = parts.converted_from;
    converted_from["path"] = json!(info.source.display().to_string());
    converted_from["sha256"] = json!(info.sha256);
    converted_from["tool"] = json!(TOOL);
    converted_from["torch"] = json!(graphs.torch);
    converted_from["opset"] = json!(OPSET);
    json!({
        info.model_id: {
            "execution": {
                "package_name": info.model_id,
                "package_link": ".",
                "model_name": "denoiser",
                "extension": ".onnx",
                "image_size": image.get(1..).unwrap_or(&[]),
                "dependencies": [],
                "generate_method": {
                    "name": "generate",
                    "args": {"base": ["model_file", "num_samples", "output_path", "save_images"], "custom": {}},
                },
                "runtime": "onnx",
                "onnx": {
                    "graph": "denoiser.onnx",
                    "inputs": parts.inputs,
                    "outputs": [{"name": "image", "kind": "image", "shape": image, "range": parts.range}],
                    "diffusion": parts.diffusion,
                },
                "converted_from": converted_from,
            },
            "selection": parts.selection,
            "description": parts.description,
        }
    })
}

/// `execution.onnx.diffusion` of a converted package: the exported denoiser's names, the noise
/// shape, `scheduler_config.json` and the decoder, if any.
pub fn diffusion_json(
    prediction: &str,
    graphs: &ExportedGraphs,
    steps: usize,
    decoder: Option<(f64, f64)>,
) -> Value {
    let mut diffusion = json!({
        "denoiser": {
            "sample": "sample",
            "timestep": "timestep",
            "timestep_type": "int64",
            "output": "noise_pred",
            "prediction": prediction,
        },
        "noise": {"shape": graphs.noise_shape},
        "scheduler": "scheduler_config.json",
        "steps": steps,
    });
    if let Some((scaling_factor, shift_factor)) = decoder {
        diffusion["decoder"] = json!({
            "graph": "decoder.onnx",
            "input": "latent",
            "output": "image",
            "scaling_factor": scaling_factor,
            "shift_factor": shift_factor,
        });
    }
    diffusion
}

/// The card's opening: the source's own card `body` (or a title) and the conversion's first
/// paragraph, `what` naming the source.
pub fn card_head(body: &str, info: &SourceInfo<'_>, what: &str) -> String {
    let model_id = info.model_id;
    let mut text = if body.trim().is_empty() {
        format!("# {model_id}\n\n")
    } else {
        format!("{}\n\n", body.trim_end())
    };
    text.push_str(&format!(
        "## Conversion\n\nModel `{model_id}`, **converted** by `medigan convert` ({TOOL}) from the \
         {what}, folder sha256 `{}`) into a native package: ONNX graphs (opset {OPSET}) and \
         `medigan.json`, no code.\n\n",
        info.sha256
    ));
    text
}

/// The card's lines on each graph's check against its module.
pub fn card_graph_checks(graphs: &ExportedGraphs) -> String {
    let mut text = String::new();
    for (name, error) in [
        ("denoiser", graphs.denoiser_error),
        ("decoder", graphs.decoder_error),
    ] {
        if let (Some(error), Some(checker)) = (error, &graphs.checker) {
            text.push_str(&format!(
                "- {name} graph vs module ({checker}, batch of another size): max abs error \
                 {error:.3e}\n"
            ));
        }
    }
    text
}

/// The card's end: why the comparison ran another scheduler than the package's `scheduler`,
/// the accepted differences, the licence; `who` names the source's side (`diffusers`, `MONAI`),
/// `whose` its samples, `source` the source (`source`, `bundle`).
pub fn card_tail(
    verification: &DiffusionVerification,
    scheduler: &str,
    info: &SourceInfo<'_>,
    (who, whose, source): (&str, &str, &str),
) -> String {
    let mut text = String::new();
    if verification.scheduler != scheduler {
        text.push_str(&format!(
            "\nThe comparison ran `{}` (eta 0) on both sides: `{scheduler}` draws noise at every \
             step, which the two cannot share; the scheduler rules themselves are checked \
             against {who} in medigan's scheduler tests.\n",
            verification.scheduler
        ));
    }
    if info.accepted_differences && !verification.passed {
        text.push_str(&format!(
            "\n**Written with `--accept-differences`: the samples above differ from {whose} \
             beyond the tolerance.**\n"
        ));
    }
    text.push_str(&match info.licence {
        Some(name) => format!("\n## Licence\n\nThe {source}'s `{name}`, kept as `LICENSE`.\n"),
        None => format!("\n## Licence\n\nThe {source} had no licence file.\n"),
    });
    text
}
