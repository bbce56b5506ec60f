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

use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::ConvertError;
use super::export::OPSET;
use super::folder_source::{
    self, ExportedGraphs, FolderConversion, FolderSource, PackageParts, ScriptPaths, SourceInfo,
    card_graph_checks, card_head, card_tail, diffusion_json,
};
use super::folder_verify::DiffusionVerification;
use crate::{Generators, Result};

/// The export script, shipped in the binary: the shared prelude and the diffusers part.
pub const EXPORT_SCRIPT: &str = concat!(
    include_str!("external_data.py"),
    include_str!("folder_export.py"),
    include_str!("diffusers_export.py")
);

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
    /// What every export script answers.
    #[serde(flatten)]
    pub graphs: ExportedGraphs,
    /// diffusers' version.
    pub diffusers: String,
    /// The pipeline class loaded.
    pub pipeline: String,
    /// The decoder's class.
    #[serde(default)]
    pub decoder: Option<String>,
    /// The VAE's `scaling_factor`.
    #[serde(default)]
    pub scaling_factor: Option<f64>,
    /// The VAE's `shift_factor`.
    #[serde(default)]
    pub shift_factor: Option<f64>,
}

/// What a conversion of a pipeline folder wrote.
pub type SourceReport = FolderConversion<PipelinePlan, Exported>;

/// A diffusers pipeline folder, as [`folder_source::convert`] converts it.
pub struct Diffusers;

impl FolderSource for Diffusers {
    type Plan = PipelinePlan;
    type Exported = Exported;
    const SOURCE: &'static str = "diffusers";
    const KIND: &'static str = "diffusers";
    const ENV: (&'static str, &'static str) = ("convert-diffusers", DIFFUSERS);
    const SCRIPT: (&'static str, &'static str) = (EXPORT_SCRIPT, "diffusers-export");

    fn dependencies() -> Vec<String> {
        dependencies()
    }

    fn plan(dir: &Path, name: &str) -> Result<PipelinePlan, ConvertError> {
        plan(dir, name)
    }

    fn steps(plan: &PipelinePlan) -> usize {
        default_steps(&plan.pipeline, plan.train_steps)
    }

    fn request(plan: &PipelinePlan, paths: &ScriptPaths<'_>, steps: usize) -> Value {
        let reference_scheduler =
            STOCHASTIC.contains(&plan.scheduler.as_str()) || plan.pipeline == "DDIMPipeline";
        let labels: Vec<Value> = match plan.classes {
            Some(n) if n > 4 => vec![json!(0), json!(n - 1)],
            Some(n) => (0..n).map(|i| json!(i)).collect(),
            None => vec![Value::Null],
        };
        json!({
            "source": paths.source,
            "out": paths.out,
            "work": paths.work,
            "opset": OPSET,
            "samples": paths.samples,
            "steps": steps,
            "labels": labels,
            "reference_scheduler": reference_scheduler.then_some("DDIMScheduler"),
            "decoder": plan.decoder,
            "seed": 0,
        })
    }

    fn graphs(exported: &Exported) -> &ExportedGraphs {
        &exported.graphs
    }

    fn package(plan: &PipelinePlan, exported: &Exported, info: &SourceInfo<'_>) -> Value {
        package_json(plan, exported, info)
    }

    fn write_scheduler(
        _plan: &PipelinePlan,
        source: &Path,
        staging: &Path,
    ) -> Result<(), ConvertError> {
        let from = source.join("scheduler").join("scheduler_config.json");
        let to = staging.join("scheduler_config.json");
        std::fs::copy(&from, &to).map_err(ConvertError::io("copy", &from))?;
        Ok(())
    }

    fn card(
        plan: &PipelinePlan,
        exported: &Exported,
        verification: &DiffusionVerification,
        info: &SourceInfo<'_>,
    ) -> String {
        let (_, _, body) = source_card(info.source);
        let what = format!(
            "diffusers pipeline folder `{}` (`{}`",
            info.source.display(),
            plan.pipeline
        );
        let mut text = card_head(&body, info, &what);
        let graphs = &exported.graphs;
        text.push_str(&format!(
            "- denoiser: `UNet2DModel` exported with torch {} / diffusers {} (`torch.onnx.export`, \
             dynamic batch axis) as `denoiser.onnx`: sample {:?}, int64 timestep{}; {} prediction\n",
            graphs.torch,
            exported.diffusers,
            graphs.noise_shape,
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
                graphs.image_shape
            ));
        }
        text.push_str(&format!(
            "- scheduler: `scheduler_config.json` as the pipeline has it (`{}`)\n",
            plan.scheduler
        ));
        text.push_str(&card_graph_checks(graphs));
        text.push_str("\n## Verification\n\n");
        text.push_str(&verification.markdown());
        text.push_str(&card_tail(
            verification,
            &plan.scheduler,
            info,
            ("diffusers", "the pipeline's", "source"),
        ));
        text
    }
}

/// What pip installs into the converter's environment.
pub fn dependencies() -> Vec<String> {
    ["torch", DIFFUSERS, "onnx"].map(str::to_string).to_vec()
}

/// Converts the pipeline folder `source` (see the module doc).
pub fn convert(
    generators: &Generators,
    source: &Path,
    options: &super::ConvertOptions,
) -> Result<SourceReport> {
    folder_source::convert::<Diffusers>(generators, source, options)
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

fn package_json(plan: &PipelinePlan, exported: &Exported, info: &SourceInfo<'_>) -> Value {
    let (licence, title, _) = source_card(info.source);
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
        (
            exported.scaling_factor.unwrap_or(1.0),
            exported.shift_factor.unwrap_or(0.0),
        )
    });
    let (source, sha256) = (info.source.display(), info.sha256);
    let parts = PackageParts {
        inputs: json!(inputs),
        range: json!([-1, 1]),
        diffusion: diffusion_json(&plan.prediction, &exported.graphs, info.steps, decoder),
        converted_from: json!({
            "source": "diffusers",
            "pipeline": plan.pipeline,
            "diffusers": exported.diffusers,
        }),
        selection: json!({
            "performance": {"FID": null},
            "organ": [],
            "modality": [],
            "function": ["denoising diffusion"],
            "condition": classes,
            "generates": [],
            "tags": ["diffusion", "diffusers", "converted"],
            "license": licence,
        }),
        description: json!({
            "title": title,
            "provided_date": "unknown",
            "version": "converted",
            "comment": format!("Converted by `medigan convert` from the diffusers {} folder `{source}` (sha256 {sha256}); see README.md.", plan.pipeline),
        }),
    };
    folder_source::package_json(info, &exported.graphs, parts)
}
