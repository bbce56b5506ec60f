//! `medigan convert PATH` for a diffusers pipeline folder (`save_pretrained`: `model_index.json`,
//! `unet/`, `scheduler/`, optional `vqvae/` / `vae/`): the UNet and the latent decoder exported
//! to ONNX in an environment with torch + diffusers (with consent, as legacy packages get
//! theirs), `scheduler_config.json` carried unchanged, `medigan.json` with
//! `execution.onnx.diffusion`, the card and the licence kept, and nothing written unless
//! `medigan generate --initial-noise` of the converted package equals the pipeline's own loop
//! from the same initial noise.
//!
//! Steps, as for legacy packages: [`plan`] (from the folder's JSON alone: refuse what cannot
//! work before running anything) -> the export script (`diffusers_export.py`, embedded) in the
//! environment: exports, then the pipeline's `__call__` on CPU with its `randn_tensor` giving
//! the chosen initial noise -> the package written into a staging folder -> verification
//! through `Generators::generate_samples` -> the card -> the staging folder renamed into place.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::ConvertError;
use super::export::OPSET;
use crate::catalog::CatalogSettings;
use crate::generate::{DiffusionOptions, GenerateRequest};
use crate::legacy::venv;
use crate::{Error, Generators, Result, Settings};

/// The export script, shipped in the binary.
pub const EXPORT_SCRIPT: &str = include_str!("diffusers_export.py");

/// The diffusers release the converter's environment pins.
pub const DIFFUSERS: &str = "diffusers==0.42.1";

/// The pipeline classes converted, and what their denoiser loop needs.
pub const PIPELINES: &[&str] = &["DDPMPipeline", "DDIMPipeline", "LDMPipeline"];

/// The latent decoders exported (a VQModel's decode, codebook quantisation included, is one
/// graph).
const DECODERS: &[&str] = &["AutoencoderKL", "VQModel"];

/// Schedulers whose steps draw noise: the comparison runs DDIM (eta 0) on both sides instead.
const STOCHASTIC: &[&str] = &["DDPMScheduler", "EulerAncestralDiscreteScheduler"];

/// Default inference steps written into the package (the pipelines' own defaults).
fn default_steps(pipeline: &str, train_steps: usize) -> usize {
    let steps = if pipeline == "DDPMPipeline" { 1000 } else { 50 };
    steps.min(train_steps.max(1))
}

/// What the folder's JSON says, before anything runs.
#[derive(Debug, Clone, Serialize)]
pub struct PipelinePlan {
    /// `model_index.json`'s `_class_name`.
    pub pipeline: String,
    /// The scheduler's class.
    pub scheduler: String,
    /// The component holding the latent decoder (`vqvae` or `vae`), for latent pipelines.
    pub decoder: Option<String>,
    /// The decoder's class (`AutoencoderKL` or `VQModel`).
    pub decoder_class: Option<String>,
    /// Classes of a class-conditional UNet (`num_class_embeds`).
    pub classes: Option<usize>,
    /// The scheduler's `num_train_timesteps`.
    pub train_steps: usize,
    /// The scheduler's `prediction_type`.
    pub prediction: String,
}

impl PipelinePlan {
    /// The plan in words (the dry-run's detail column).
    pub fn describe(&self) -> String {
        let mut text = format!("{} with {}", self.pipeline, self.scheduler);
        if let (Some(decoder), Some(class)) = (&self.decoder, &self.decoder_class) {
            text.push_str(&format!(", {class} decoder (`{decoder}`)"));
        }
        if let Some(classes) = self.classes {
            text.push_str(&format!(", {classes} classes"));
        }
        text.push_str(&format!(", {} prediction", self.prediction));
        text
    }
}

/// Whether `dir` is a diffusers pipeline folder.
pub fn is_pipeline(dir: &Path) -> bool {
    dir.join("model_index.json").is_file()
}

fn read_json(path: &Path) -> Result<Value, ConvertError> {
    let text = std::fs::read_to_string(path).map_err(ConvertError::io("read", path))?;
    serde_json::from_str(&text).map_err(|e| ConvertError::Io {
        action: "parse",
        path: path.to_path_buf(),
        source: std::io::Error::other(e.to_string()),
    })
}

/// The component `[library, class]` of `model_index.json`, if present.
fn component(index: &Value, name: &str) -> Option<(Option<String>, Option<String>)> {
    let entry = index.get(name)?.as_array()?;
    let text = |i: usize| entry.get(i).and_then(|v| v.as_str()).map(str::to_string);
    Some((text(0), text(1)))
}

/// Decides from `model_index.json`, the scheduler config and the UNet config whether `dir`
/// converts; `name` names the model in a refusal.
pub fn plan(dir: &Path, name: &str) -> Result<PipelinePlan, ConvertError> {
    let refuse = |kind: &str, reason: String| ConvertError::refused(name, kind, &reason);
    let index = read_json(&dir.join("model_index.json"))?;
    let pipeline = index["_class_name"].as_str().unwrap_or("").to_string();
    if !PIPELINES.contains(&pipeline.as_str()) {
        let why = match pipeline.as_str() {
            p if p.starts_with("StableDiffusion") || index.get("text_encoder").is_some() => {
                " (text conditioning: this version converts unconditional and class-conditional \
                 pipelines only)"
            }
            "" => " (model_index.json names no `_class_name`)",
            _ => "",
        };
        return Err(refuse(
            "unsupported_pipeline",
            format!(
                "pipeline class `{pipeline}` is not supported{why}; supported: {}",
                PIPELINES.join(", ")
            ),
        ));
    }
    for (key, _) in index.as_object().into_iter().flatten() {
        if key.starts_with('_') {
            continue;
        }
        if let Some((Some(library), class)) = component(&index, key)
            && library != "diffusers"
        {
            let class = class.unwrap_or_default();
            let kind = if key == "scheduler" {
                "custom_scheduler"
            } else {
                "custom_code"
            };
            return Err(refuse(
                kind,
                format!(
                    "component `{key}` is `{class}` from `{library}`, not from diffusers: custom \
                     code cannot be exported as a code-free package"
                ),
            ));
        }
    }
    match component(&index, "unet") {
        Some((_, Some(class))) if class == "UNet2DModel" => {}
        other => {
            return Err(refuse(
                "unsupported_network",
                format!(
                    "the denoiser `unet` is {:?}: this version converts `UNet2DModel` only",
                    other.and_then(|c| c.1)
                ),
            ));
        }
    }
    let (decoder, decoder_class) = match pipeline.as_str() {
        "LDMPipeline" => {
            let (_, class) = component(&index, "vqvae").unwrap_or((None, None));
            let class = class.unwrap_or_default();
            if !DECODERS.contains(&class.as_str()) {
                return Err(refuse(
                    "unsupported_decoder",
                    format!(
                        "the decoder `vqvae` is {class:?}: this version exports {}",
                        DECODERS.join(" or ")
                    ),
                ));
            }
            (Some("vqvae".to_string()), Some(class))
        }
        _ => (None, None),
    };
    let scheduler_path = dir.join("scheduler").join("scheduler_config.json");
    let scheduler_json = read_json(&scheduler_path)?;
    let config = medigan_diffusion::SchedulerConfig::from_json(&scheduler_json.to_string())
        .map_err(|e| refuse("custom_scheduler", format!("scheduler config: {e}")))?;
    let scheduler = config.class_name.clone().unwrap_or_default();
    if let Err(e) = medigan_diffusion::make_scheduler(&config, None, 1) {
        return Err(refuse(
            "custom_scheduler",
            format!(
                "scheduler `{scheduler}` is not one medigan's sampler reproduces ({e}); \
                 supported: {}",
                medigan_diffusion::SCHEDULERS
                    .iter()
                    .map(|(n, _)| *n)
                    .filter(|n| !n.starts_with("monai."))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ));
    }
    let unet = read_json(&dir.join("unet").join("config.json"))?;
    let classes = unet["num_class_embeds"].as_u64().map(|n| n as usize);
    Ok(PipelinePlan {
        pipeline,
        scheduler,
        decoder,
        decoder_class,
        classes,
        train_steps: scheduler_json["num_train_timesteps"]
            .as_u64()
            .unwrap_or(1000) as usize,
        prediction: scheduler_json["prediction_type"]
            .as_str()
            .unwrap_or("epsilon")
            .to_string(),
    })
}

/// What the export script answers.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Exported {
    /// torch's version.
    pub torch: String,
    /// diffusers' version.
    pub diffusers: String,
    /// The pipeline class loaded.
    pub pipeline: String,
    /// One sample's noise `[C, H, W]`.
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
    /// The decoder's class.
    #[serde(default)]
    pub decoder: Option<String>,
    /// The VAE's `scaling_factor`.
    #[serde(default)]
    pub scaling_factor: Option<f64>,
    /// The VAE's `shift_factor`.
    #[serde(default)]
    pub shift_factor: Option<f64>,
    /// The reference runs.
    pub reference: Vec<ReferenceRun>,
    /// The pipeline class that ran the reference loop.
    pub reference_pipeline: String,
    /// Its scheduler class.
    pub reference_scheduler: String,
    /// torch's threads.
    #[serde(default)]
    pub threads: Option<usize>,
}

/// One run of the pipeline's own loop.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct ReferenceRun {
    /// The class label, if any.
    pub label: Option<usize>,
    /// Its samples, float32 `[N, C, H, W]` in [-1, 1].
    pub file: PathBuf,
    /// Seconds the loop took.
    pub seconds: f64,
}

/// The agreement of one run.
#[derive(Debug, Clone, Serialize)]
pub struct RunAgreement {
    /// `unconditional` or `class N`.
    pub run: String,
    /// Values compared.
    pub values: usize,
    /// Largest absolute difference.
    pub max_abs_error: f64,
    /// Mean absolute difference.
    pub mean_abs_error: f64,
    /// Relative error: the largest `|native - pipeline|` over the largest `|pipeline|`.
    pub max_relative_error: f64,
    /// Seconds of the pipeline's loop (PyTorch, CPU).
    pub pipeline_seconds: f64,
    /// Seconds of `medigan generate` (in memory).
    pub native_seconds: f64,
}

/// The comparison of the converted package with the pipeline's own loop.
#[derive(Debug, Clone, Serialize)]
pub struct DiffusionVerification {
    /// Samples per run.
    pub samples: u64,
    /// Inference steps.
    pub steps: usize,
    /// The scheduler both sides ran.
    pub scheduler: String,
    /// The pipeline class whose `__call__` gave the reference.
    pub reference_pipeline: String,
    /// Relative tolerance.
    pub tolerance: f64,
    /// Per run.
    pub runs: Vec<RunAgreement>,
    /// Whether every run agrees within the tolerance.
    pub passed: bool,
}

impl DiffusionVerification {
    /// One line per run.
    pub fn summary(&self) -> String {
        self.runs
            .iter()
            .map(|r| {
                format!(
                    "  {}: {} values, max abs error {:.3e}, mean {:.3e}, max relative {:.3e}; \
                     pipeline {:.2} s, medigan {:.2} s",
                    r.run,
                    r.values,
                    r.max_abs_error,
                    r.mean_abs_error,
                    r.max_relative_error,
                    r.pipeline_seconds,
                    r.native_seconds
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// The card's section.
    pub fn markdown(&self) -> String {
        let mut text = format!(
            "{} samples per run, {} steps of `{}`, from the same initial noise: the pipeline's \
             own loop (`{}.__call__`, PyTorch on CPU, its `randn_tensor` giving that noise) vs \
             `medigan generate --initial-noise` of this package, in the model's [-1, 1] range. \
             Relative error: max |medigan - pipeline| / max |pipeline|; tolerance {}. Result: \
             **{}**.\n\n",
            self.samples,
            self.steps,
            self.scheduler,
            self.reference_pipeline,
            self.tolerance,
            if self.passed { "equal" } else { "different" }
        );
        text.push_str(&self.table());
        text
    }

    /// The per-run table of the card.
    pub fn table(&self) -> String {
        let mut text = String::from(
            "| run | values | max abs error | mean abs error | max relative error | pipeline s | medigan s |\n|---|---|---|---|---|---|---|\n",
        );
        for r in &self.runs {
            text.push_str(&format!(
                "| {} | {} | {:.3e} | {:.3e} | {:.3e} | {:.2} | {:.2} |\n",
                r.run,
                r.values,
                r.max_abs_error,
                r.mean_abs_error,
                r.max_relative_error,
                r.pipeline_seconds,
                r.native_seconds
            ));
        }
        text
    }
}

/// What a conversion of a pipeline folder wrote.
#[derive(Debug, Clone, Serialize)]
pub struct SourceReport {
    /// `diffusers`.
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
    pub plan: PipelinePlan,
    /// What the export said.
    pub exported: Exported,
    /// The verification.
    pub verification: DiffusionVerification,
    /// Whether it was written although it differs.
    pub accepted_differences: bool,
    /// Seconds from start to the package in place.
    pub seconds: f64,
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

/// Converts the pipeline folder `source` (see the module doc).
pub fn convert(
    generators: &Generators,
    source: &Path,
    options: &super::ConvertOptions,
) -> Result<SourceReport> {
    let started = Instant::now();
    let model_id = options.id.clone().unwrap_or_else(|| default_id(source));
    let plan = plan(source, &model_id)?;
    let out = options
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("{model_id}-onnx")));
    super::check_out(&out)?;
    let source_sha256 = folder_sha256(source)?;
    let settings = generators.legacy_settings();
    let home = &generators.settings().home;
    let deps = vec![
        "torch".to_string(),
        DIFFUSERS.to_string(),
        "onnx".to_string(),
    ];
    let env = venv::ensure(
        &home.envs_dir(),
        "convert-diffusers",
        DIFFUSERS,
        &deps,
        &settings,
    )
    .map_err(|e| match e {
        crate::legacy::LegacyError::ConsentNeeded {
            dependencies, env, ..
        } => Error::from(ConvertError::ConsentNeeded {
            source_kind: "diffusers".into(),
            dependencies,
            env,
        }),
        other => Error::from(other),
    })?;
    let parent = out
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent).map_err(ConvertError::io("create", parent))?;
    let staging = tempfile::Builder::new()
        .prefix(".medigan-convert-")
        .tempdir_in(parent)
        .map_err(ConvertError::io("create a folder in", parent))?;
    let tmp = home.tmp_dir();
    std::fs::create_dir_all(&tmp).map_err(ConvertError::io("create", &tmp))?;
    let work = tempfile::Builder::new()
        .prefix("convert-")
        .tempdir_in(&tmp)
        .map_err(ConvertError::io("create a folder in", &tmp))?;
    let staging_abs =
        std::path::absolute(staging.path()).map_err(ConvertError::io("resolve", staging.path()))?;
    let source_abs = std::path::absolute(source).map_err(ConvertError::io("resolve", source))?;
    let steps = default_steps(&plan.pipeline, plan.train_steps);
    let verify_steps = steps.min(options.steps.unwrap_or(50)).max(1);
    let reference_scheduler =
        STOCHASTIC.contains(&plan.scheduler.as_str()) || plan.pipeline == "DDIMPipeline";
    let labels: Vec<Value> = match plan.classes {
        Some(n) if n > 4 => vec![json!(0), json!(n - 1)],
        Some(n) => (0..n).map(|i| json!(i)).collect(),
        None => vec![Value::Null],
    };
    let request = json!({
        "source": source_abs,
        "out": staging_abs,
        "work": work.path(),
        "opset": OPSET,
        "samples": options.samples,
        "steps": verify_steps,
        "labels": labels,
        "reference_scheduler": reference_scheduler.then_some("DDIMScheduler"),
        "decoder": plan.decoder,
        "seed": 0,
    });
    let exported = run_script(
        &env,
        work.path(),
        &request,
        &model_id,
        (EXPORT_SCRIPT, "diffusers-export"),
    )?;
    let metadata = package_json(&model_id, &plan, &exported, steps, source, &source_sha256);
    let catalog = staging.path().join("medigan.json");
    let text = serde_json::to_string_pretty(&metadata).unwrap_or_default() + "\n";
    std::fs::write(&catalog, text).map_err(ConvertError::io("write", &catalog))?;
    let scheduler_src = source.join("scheduler").join("scheduler_config.json");
    let scheduler_dst = staging.path().join("scheduler_config.json");
    std::fs::copy(&scheduler_src, &scheduler_dst)
        .map_err(ConvertError::io("copy", &scheduler_src))?;
    let licence = copy_licence(source, staging.path())?;
    let references = References {
        runs: &exported.reference,
        scheduler: &exported.reference_scheduler,
        pipeline: &exported.reference_pipeline,
    };
    let verification = verify(
        generators,
        &catalog,
        &model_id,
        &references,
        &work.path().join("initial_noise.npy"),
        options,
        verify_steps,
    )?;
    if !verification.passed && !options.accept_differences {
        return Err(ConvertError::DiffersFromSource {
            model: model_id,
            source_kind: "diffusers".into(),
            details: verification.summary(),
        }
        .into());
    }
    let card = card(
        source,
        &source_sha256,
        &model_id,
        &plan,
        &exported,
        &verification,
        licence.as_deref(),
        options.accept_differences,
    );
    let readme = staging.path().join("README.md");
    std::fs::write(&readme, card).map_err(ConvertError::io("write", &readme))?;
    super::publish(staging, &out)?;
    Ok(SourceReport {
        source: "diffusers".into(),
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

/// Runs an export script (`(text, file name prefix)`) in `env` with `request` on its stdin and
/// reads its answer: the last line of its stdout.
pub(super) fn run_script<T: serde::de::DeserializeOwned>(
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
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = crate::legacy::last_lines(&String::from_utf8_lossy(&output.stderr), 20);
    let answer = stdout
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .and_then(|l| serde_json::from_str::<Value>(l).ok());
    let Some(answer) = answer else {
        return Err(ConvertError::Export {
            model: model.to_string(),
            what: format!(
                "the export script ended ({}) without an answer",
                output.status
            ),
            stderr,
        });
    };
    if answer["ok"].as_bool() == Some(true) {
        return serde_json::from_value(answer).map_err(|e| ConvertError::Export {
            model: model.to_string(),
            what: format!("unreadable answer of the export script: {e}"),
            stderr,
        });
    }
    let kind = answer["kind"].as_str().unwrap_or("exception");
    let error = answer["error"].as_str().unwrap_or("").to_string();
    if kind == "exception" {
        return Err(ConvertError::Export {
            model: model.to_string(),
            what: format!("running the pipeline failed: {error}"),
            stderr: crate::legacy::last_lines(answer["traceback"].as_str().unwrap_or(""), 12),
        });
    }
    Err(ConvertError::refused(model, kind, &error))
}

/// `LICENSE*` of the source copied; the file name, or `None` after writing a note.
pub(super) fn copy_licence(source: &Path, dir: &Path) -> Result<Option<String>, ConvertError> {
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

/// The source card (`README.md`) split into its YAML front matter's `license` and its body.
fn source_card(source: &Path) -> (Option<String>, Option<String>, String) {
    let text = std::fs::read_to_string(source.join("README.md")).unwrap_or_default();
    let (front, body) = match text
        .strip_prefix("---\n")
        .and_then(|t| t.split_once("\n---"))
    {
        Some((front, body)) => (front.to_string(), body.trim_start_matches('\n').to_string()),
        None => (String::new(), text.clone()),
    };
    let licence = front
        .lines()
        .find_map(|l| l.strip_prefix("license:"))
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty());
    let title = body
        .lines()
        .find_map(|l| l.strip_prefix("# "))
        .map(|t| t.trim().to_string());
    (licence, title, body)
}

fn package_json(
    model_id: &str,
    plan: &PipelinePlan,
    exported: &Exported,
    steps: usize,
    source: &Path,
    sha256: &str,
) -> Value {
    let (licence, title, _) = source_card(source);
    let title = title.unwrap_or_else(|| format!("{} converted from diffusers", plan.pipeline));
    let classes: Vec<String> = (0..plan.classes.unwrap_or(0))
        .map(|i| i.to_string())
        .collect();
    let inputs: Vec<Value> = if classes.is_empty() {
        Vec::new()
    } else {
        vec![
            json!({"name": "class_labels", "kind": "class", "classes": classes, "encoding": "index"}),
        ]
    };
    let decoder = exported.decoder.as_ref().map(|_| {
        json!({
            "graph": "decoder.onnx",
            "input": "latent",
            "output": "image",
            "scaling_factor": exported.scaling_factor.unwrap_or(1.0),
            "shift_factor": exported.shift_factor.unwrap_or(0.0),
        })
    });
    let mut diffusion = json!({
        "denoiser": {
            "sample": "sample",
            "timestep": "timestep",
            "timestep_type": "int64",
            "output": "noise_pred",
            "prediction": plan.prediction,
        },
        "noise": {"shape": exported.noise_shape},
        "scheduler": "scheduler_config.json",
        "steps": steps,
    });
    if let Some(decoder) = decoder {
        diffusion["decoder"] = decoder;
    }
    let image = &exported.image_shape;
    json!({
        model_id: {
            "execution": {
                "package_name": model_id,
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
                    "inputs": inputs,
                    "outputs": [{"name": "image", "kind": "image", "shape": image, "range": [-1, 1]}],
                    "diffusion": diffusion,
                },
                "converted_from": {
                    "source": "diffusers",
                    "pipeline": plan.pipeline,
                    "path": source.display().to_string(),
                    "sha256": sha256,
                    "tool": concat!("medigan-rs ", env!("CARGO_PKG_VERSION")),
                    "torch": exported.torch,
                    "diffusers": exported.diffusers,
                    "opset": OPSET,
                },
            },
            "selection": {
                "performance": {"FID": null},
                "organ": [],
                "modality": [],
                "function": ["denoising diffusion"],
                "condition": classes,
                "generates": [],
                "tags": ["diffusion", "diffusers", "converted"],
                "license": licence,
            },
            "description": {
                "title": title,
                "provided_date": "unknown",
                "version": "converted",
                "comment": format!("Converted by `medigan convert` from the diffusers {} folder `{}` (sha256 {sha256}); see README.md.", plan.pipeline, source.display()),
            },
        }
    })
}

/// A facade over the converted package alone, with the same home and backend, offline.
pub(super) fn native_generators(generators: &Generators, catalog: &Path) -> Generators {
    let settings = generators.settings();
    Generators::new(Settings {
        home: settings.home.clone(),
        catalog: CatalogSettings {
            explicit: vec![catalog.display().to_string()],
            offline: true,
            ..CatalogSettings::default()
        },
        backend: settings.backend,
    })
}

/// What the source's own loop gave, for [`verify`].
pub(super) struct References<'a> {
    /// The runs.
    pub runs: &'a [ReferenceRun],
    /// The scheduler class both sides run.
    pub scheduler: &'a str,
    /// What ran the source's loop.
    pub pipeline: &'a str,
}

/// Generates each reference run from the package at `catalog` with the same initial noise and
/// compares.
pub(super) fn verify(
    generators: &Generators,
    catalog: &Path,
    model_id: &str,
    references: &References<'_>,
    noise: &Path,
    options: &super::ConvertOptions,
    steps: usize,
) -> Result<DiffusionVerification> {
    let native = native_generators(generators, catalog);
    let mut runs = Vec::new();
    for reference in references.runs {
        let request = GenerateRequest {
            num_samples: options.samples,
            seed: 0,
            label: reference.label.map(|l| l.to_string()),
            initial_noise: Some(noise.to_path_buf()),
            diffusion: DiffusionOptions {
                steps: Some(steps),
                scheduler: Some(references.scheduler.to_string()),
                guidance: None,
            },
            ..GenerateRequest::default()
        };
        let started = Instant::now();
        let samples = native.generate_samples(model_id, &request)?;
        let native_seconds = started.elapsed().as_secs_f64();
        let bytes =
            std::fs::read(&reference.file).map_err(ConvertError::io("read", &reference.file))?;
        let (want, _) = crate::formats::npy::decode(&bytes).map_err(|e| ConvertError::Io {
            action: "read",
            path: reference.file.clone(),
            source: std::io::Error::other(e.to_string()),
        })?;
        let got: Vec<f32> = samples
            .iter()
            .flat_map(|s| s.image.iter().copied())
            .collect();
        let want: Vec<f32> = want.iter().copied().collect();
        let (mut max_abs, mut total, mut scale) = (0f64, 0f64, 0f64);
        if got.len() != want.len() {
            max_abs = f64::INFINITY;
        }
        for (&g, &w) in got.iter().zip(&want) {
            let d = (f64::from(g) - f64::from(w)).abs();
            let d = if d.is_nan() { f64::INFINITY } else { d };
            max_abs = max_abs.max(d);
            total += d;
            scale = scale.max(f64::from(w.abs()));
        }
        let max_rel = max_abs / scale.max(f64::MIN_POSITIVE);
        runs.push(RunAgreement {
            run: reference
                .label
                .map_or("unconditional".to_string(), |l| format!("class {l}")),
            values: want.len(),
            max_abs_error: max_abs,
            mean_abs_error: total / want.len().max(1) as f64,
            max_relative_error: max_rel,
            pipeline_seconds: reference.seconds,
            native_seconds,
        });
    }
    let passed = runs
        .iter()
        .all(|r| r.max_relative_error <= options.tolerance);
    Ok(DiffusionVerification {
        samples: options.samples,
        steps,
        scheduler: references.scheduler.to_string(),
        reference_pipeline: references.pipeline.to_string(),
        tolerance: options.tolerance,
        runs,
        passed,
    })
}

#[allow(clippy::too_many_arguments)]
fn card(
    source: &Path,
    sha256: &str,
    model_id: &str,
    plan: &PipelinePlan,
    exported: &Exported,
    verification: &DiffusionVerification,
    licence: Option<&str>,
    accepted_differences: bool,
) -> String {
    let (_, _, body) = source_card(source);
    let mut text = if body.trim().is_empty() {
        format!("# {model_id}\n\n")
    } else {
        format!("{}\n\n", body.trim_end())
    };
    text.push_str(&format!(
        "## Conversion\n\nModel `{model_id}`, **converted** by `medigan convert` ({}) from the \
         diffusers pipeline folder `{}` (`{}`, folder sha256 `{sha256}`) into a native package: \
         ONNX graphs (opset {OPSET}) and `medigan.json`, no code.\n\n",
        concat!("medigan-rs ", env!("CARGO_PKG_VERSION")),
        source.display(),
        plan.pipeline
    ));
    text.push_str(&format!(
        "- denoiser: `UNet2DModel` exported with torch {} / diffusers {} (`torch.onnx.export`, \
         dynamic batch axis) as `denoiser.onnx`: sample {:?}, int64 timestep{}; {} prediction\n",
        exported.torch,
        exported.diffusers,
        exported.noise_shape,
        plan.classes.map_or(String::new(), |n| format!(
            ", class index `class_labels` (0..{})",
            n - 1
        )),
        plan.prediction
    ));
    if let Some(decoder) = &exported.decoder {
        text.push_str(&format!(
            "- decoder: `{decoder}.decode` as `decoder.onnx`{}, latent / {} + {} -> image {:?}\n",
            if decoder == "VQModel" {
                " (the quantisation to its codebook inside the graph)"
            } else {
                ""
            },
            exported.scaling_factor.unwrap_or(1.0),
            exported.shift_factor.unwrap_or(0.0),
            exported.image_shape
        ));
    }
    text.push_str(&format!(
        "- scheduler: `scheduler_config.json` as the pipeline has it (`{}`)\n",
        plan.scheduler
    ));
    for (name, error) in [
        ("denoiser", exported.denoiser_error),
        ("decoder", exported.decoder_error),
    ] {
        if let (Some(error), Some(checker)) = (error, &exported.checker) {
            text.push_str(&format!(
                "- {name} graph vs module ({checker}, batch of another size): max abs error \
                 {error:.3e}\n"
            ));
        }
    }
    text.push_str("\n## Verification\n\n");
    text.push_str(&verification.markdown());
    if verification.scheduler != plan.scheduler {
        text.push_str(&format!(
            "\nThe comparison ran `{}` (eta 0) on both sides: `{}` draws noise at every step, \
             which the two cannot share; the scheduler rules themselves are checked against \
             diffusers in medigan's scheduler tests.\n",
            verification.scheduler, plan.scheduler
        ));
    }
    if accepted_differences && !verification.passed {
        text.push_str(
            "\n**Written with `--accept-differences`: the samples above differ from the \
             pipeline's beyond the tolerance.**\n",
        );
    }
    text.push_str(&match licence {
        Some(name) => format!("\n## Licence\n\nThe source's `{name}`, kept as `LICENSE`.\n"),
        None => "\n## Licence\n\nThe source had no licence file.\n".to_string(),
    });
    text
}
