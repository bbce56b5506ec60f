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

/// The transformers release a text-conditioned pipeline's converter environment pins (its
/// tokenizer and text encoder compute the prompts' embeddings).
pub const TRANSFORMERS: &str = "transformers==5.25.0";

/// The pipeline classes converted, and what their denoiser loop needs.
pub const PIPELINES: &[&str] = &["DDPMPipeline", "DDIMPipeline", "LDMPipeline", TEXT_PIPELINE];

/// The text-conditioned pipeline converted: its package ships precomputed text embeddings of
/// the prompts given at conversion (`--prompts FILE`).
pub const TEXT_PIPELINE: &str = "StableDiffusionPipeline";

/// Classifier-free guidance of a text-conditioned package: the pipeline's default.
pub const TEXT_GUIDANCE: f64 = 7.5;

/// The embeddings file of a text-conditioned package.
pub const EMBEDDINGS: &str = "prompt_embeddings.npy";

/// Largest prompts file read (`--prompts FILE`).
const MAX_PROMPTS_BYTES: u64 = 1 << 20;

/// Prompts of a text-conditioned package whose reference loop the verification runs (the
/// first and the last).
const VERIFIED_PROMPTS: usize = 2;

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
    /// A text-conditioned pipeline's text encoder class (`CLIPTextModel`).
    pub text_encoder: Option<String>,
    /// The prompts its package declares (`--prompts`).
    pub prompts: Vec<String>,
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
        if let Some(encoder) = &self.text_encoder {
            text.push_str(&match self.prompts.len() {
                0 => format!(
                    ", text-conditioned ({encoder}): needs --prompts FILE, the prompts whose \
                     embeddings the package ships"
                ),
                n => format!(", text-conditioned ({encoder}), {n} prompts"),
            });
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
                " (of the text-conditioned pipelines this version converts \
                 `StableDiffusionPipeline` only, one text encoder and no image or extra \
                 conditioning)"
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
    let text = pipeline == TEXT_PIPELINE;
    for (key, _) in index.as_object().into_iter().flatten() {
        // The text encoder and tokenizer come from transformers; the safety checker and its
        // feature extractor are not part of the sampling loop (and must be absent: null).
        if key.starts_with('_') || (text && ["text_encoder", "tokenizer"].contains(&key.as_str())) {
            continue;
        }
        if text && ["safety_checker", "feature_extractor", "image_encoder"].contains(&key.as_str())
        {
            if let Some((Some(_), Some(class))) = component(&index, key) {
                return Err(refuse(
                    "unsupported_pipeline",
                    format!(
                        "component `{key}` is `{class}`: a safety checker or image encoder is \
                         not part of a native package; save the pipeline with `{key}=None`"
                    ),
                ));
            }
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
    let unet_class = if text {
        "UNet2DConditionModel"
    } else {
        "UNet2DModel"
    };
    match component(&index, "unet") {
        Some((_, Some(class))) if class == unet_class => {}
        other => {
            return Err(refuse(
                "unsupported_network",
                format!(
                    "the denoiser `unet` of a {pipeline} is {:?}: this version converts \
                     `{unet_class}` there",
                    other.and_then(|c| c.1)
                ),
            ));
        }
    }
    let text_encoder = if text {
        match component(&index, "text_encoder") {
            Some((Some(library), Some(class)))
                if library == "transformers" && class == "CLIPTextModel" =>
            {
                Some(class)
            }
            other => {
                return Err(refuse(
                    "unsupported_network",
                    format!(
                        "the text encoder is {:?}: this version encodes prompts with \
                         transformers' `CLIPTextModel`",
                        other.and_then(|c| c.1)
                    ),
                ));
            }
        }
    } else {
        None
    };
    let (decoder, decoder_class) = match pipeline.as_str() {
        "LDMPipeline" | TEXT_PIPELINE => {
            let name = if text { "vae" } else { "vqvae" };
            let (_, class) = component(&index, name).unwrap_or((None, None));
            let class = class.unwrap_or_default();
            let allowed: &[&str] = if text { &["AutoencoderKL"] } else { DECODERS };
            if !allowed.contains(&class.as_str()) {
                return Err(refuse(
                    "unsupported_decoder",
                    format!(
                        "the decoder `{name}` is {class:?}: this version exports {}",
                        allowed.join(" or ")
                    ),
                ));
            }
            (Some(name.to_string()), Some(class))
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
    if text {
        for key in [
            "class_embed_type",
            "addition_embed_type",
            "time_cond_proj_dim",
            "encoder_hid_dim",
        ] {
            if !unet[key].is_null() {
                return Err(refuse(
                    "unsupported_network",
                    format!(
                        "the UNet's `{key}` is {}: this version converts a UNet2DConditionModel \
                         conditioned on the text embeddings alone (as Stable Diffusion v1/v2's)",
                        unet[key]
                    ),
                ));
            }
        }
        if classes.is_some() {
            return Err(refuse(
                "unsupported_network",
                "the UNet takes class labels besides the text: not converted".into(),
            ));
        }
    }
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
        text_encoder,
        prompts: Vec::new(),
    })
}

/// The prompts of `--prompts FILE`: one per line (a final `\r` dropped), blank lines skipped;
/// refused when there are none, one repeats, or there are more than
/// [`crate::catalog::MAX_PROMPTS`].
pub fn read_prompts(path: &Path) -> Result<Vec<String>, ConvertError> {
    use std::io::Read;
    let mut text = String::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(MAX_PROMPTS_BYTES + 1).read_to_string(&mut text))
        .map_err(ConvertError::io("read", path))?;
    if text.len() as u64 > MAX_PROMPTS_BYTES {
        return Err(ConvertError::BadOption(format!(
            "--prompts {}: larger than {MAX_PROMPTS_BYTES} bytes",
            path.display()
        )));
    }
    let prompts: Vec<String> = text
        .lines()
        .map(|l| l.trim_end_matches('\r').to_string())
        .filter(|l| !l.trim().is_empty())
        .collect();
    check_prompts(&prompts).map_err(|reason| {
        ConvertError::BadOption(format!("--prompts {}: {reason}", path.display()))
    })?;
    Ok(prompts)
}

/// Why `prompts` cannot be a package's declared prompts, if they cannot.
fn check_prompts(prompts: &[String]) -> Result<(), String> {
    let max = crate::catalog::MAX_PROMPTS;
    if prompts.is_empty() || prompts.len() > max {
        return Err(format!(
            "expected 1 to {max} prompts (one per line), found {}",
            prompts.len()
        ));
    }
    for (i, prompt) in prompts.iter().enumerate() {
        if prompt.trim().is_empty() {
            return Err(format!(
                "prompt {} is empty: the empty prompt's embedding (the unconditional half of \
                 guidance) is always shipped",
                i + 1
            ));
        }
        if prompts[..i].contains(prompt) {
            return Err(format!("prompt {} ({prompt:?}) is given twice", i + 1));
        }
    }
    Ok(())
}

/// Refuses `--prompts` for a source that is not text-conditioned (`what` names it).
pub fn refuse_prompts_for(
    name: &str,
    options: &super::ConvertOptions,
    what: &str,
) -> Result<(), ConvertError> {
    if options.prompts.is_empty() {
        return Ok(());
    }
    Err(ConvertError::refused(
        name,
        "prompts_without_text",
        &format!("--prompts was given, but {what} has no text conditioning: leave --prompts out"),
    ))
}

/// The plan of `dir` with the prompts of `options`: a text-conditioned pipeline needs them
/// (refused without: the package can only hold embeddings of prompts known at conversion),
/// another refuses them.
fn plan_with_prompts(
    dir: &Path,
    name: &str,
    options: &super::ConvertOptions,
) -> Result<PipelinePlan, ConvertError> {
    let mut plan = plan(dir, name)?;
    match &plan.text_encoder {
        None => refuse_prompts_for(name, options, &format!("a {}", plan.pipeline))?,
        Some(_) if options.prompts.is_empty() => {
            return Err(ConvertError::refused(
                name,
                "needs_prompts",
                &format!(
                    "{} is text-conditioned: give --prompts FILE (one prompt per line). The \
                     converted package ships the text embeddings of exactly those prompts, \
                     computed now with the pipeline's own tokenizer and text encoder, so that \
                     generating needs no tokenizer or text-encoder graph; `medigan generate \
                     --prompt TEXT` then picks one of them",
                    plan.pipeline
                ),
            ));
        }
        Some(_) => {
            check_prompts(&options.prompts).map_err(ConvertError::BadOption)?;
            plan.prompts = options.prompts.clone();
        }
    }
    Ok(plan)
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
    /// A text-conditioned pipeline's embeddings: `[prompts + 1, tokens, width]`.
    #[serde(default)]
    pub embeddings_shape: Option<Vec<usize>>,
    /// sha256 of the embeddings file.
    #[serde(default)]
    pub embeddings_sha256: Option<String>,
    /// transformers' version.
    #[serde(default)]
    pub transformers: Option<String>,
    /// The tokenizer's class.
    #[serde(default)]
    pub tokenizer: Option<String>,
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

    fn dependencies(plan: &PipelinePlan) -> Vec<String> {
        let mut deps = dependencies();
        if plan.text_encoder.is_some() {
            deps.push(TRANSFORMERS.to_string());
        }
        deps
    }

    fn env_name(plan: &PipelinePlan) -> &'static str {
        match plan.text_encoder {
            Some(_) => "convert-diffusers-text",
            None => Self::ENV.0,
        }
    }

    fn plan(
        dir: &Path,
        name: &str,
        options: &super::ConvertOptions,
    ) -> Result<PipelinePlan, ConvertError> {
        plan_with_prompts(dir, name, options)
    }

    fn steps(plan: &PipelinePlan) -> usize {
        default_steps(&plan.pipeline, plan.train_steps)
    }

    fn request(plan: &PipelinePlan, paths: &ScriptPaths<'_>, steps: usize) -> Value {
        let reference_scheduler =
            STOCHASTIC.contains(&plan.scheduler.as_str()) || plan.pipeline == "DDIMPipeline";
        let verified: Vec<usize> = match plan.prompts.len() {
            0 => Vec::new(),
            n if n <= VERIFIED_PROMPTS => (0..n).collect(),
            n => vec![0, n - 1],
        };
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
            "prompts": plan.prompts,
            "verify_prompts": verified,
            "guidance_scale": TEXT_GUIDANCE,
            "embeddings": EMBEDDINGS,
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
        let text_input = exported
            .embeddings_shape
            .as_ref()
            .map_or(String::new(), |shape| {
                format!(
                    ", text embeddings `encoder_hidden_states` {:?}",
                    shape.get(1..).unwrap_or(&[])
                )
            });
        text.push_str(&format!(
            "- denoiser: `{}` exported with torch {} / diffusers {} (`torch.onnx.export`, \
             dynamic batch axis) as `denoiser.onnx`: sample {:?}, int64 timestep{}{text_input}; \
             {} prediction\n",
            if plan.text_encoder.is_some() {
                "UNet2DConditionModel"
            } else {
                "UNet2DModel"
            },
            graphs.torch,
            exported.diffusers,
            graphs.noise_shape,
            plan.classes.map_or(String::new(), |n| format!(
                ", class index `class_labels` (0..{})",
                n - 1
            )),
            plan.prediction
        ));
        if let (Some(encoder), Some(shape)) = (&plan.text_encoder, &exported.embeddings_shape) {
            text.push_str(&prompts_card(plan, exported, encoder, shape));
        }
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

/// The card's lines on the precomputed prompt embeddings and why there is no text encoder.
fn prompts_card(
    plan: &PipelinePlan,
    exported: &Exported,
    encoder: &str,
    shape: &[usize],
) -> String {
    let mut text = format!(
        "- prompts: `{EMBEDDINGS}` (float32 {shape:?}, sha256 `{}`): the text embeddings of the \
         {} prompts below and, last, of the empty prompt (the unconditional half of \
         classifier-free guidance, scale {TEXT_GUIDANCE} by default), computed at conversion \
         by the pipeline's own `{}` and `{encoder}` (transformers {}) as its `encode_prompt` \
         does. No tokenizer or text-encoder graph is shipped: generating needs none, the \
         embeddings are exactly the pipeline's (no second tokenizer implementation to drift), \
         and they are small. The price: only these prompts can be generated (`--prompt TEXT`, \
         matched exactly; default the first); convert again with more prompts for others. A \
         text-encoder graph with a tokenizer is possible future work.\n",
        exported.embeddings_sha256.as_deref().unwrap_or("?"),
        plan.prompts.len(),
        exported.tokenizer.as_deref().unwrap_or("tokenizer"),
        exported.transformers.as_deref().unwrap_or("?"),
    );
    for prompt in plan.prompts.iter().take(50) {
        text.push_str(&format!("  - `{}`\n", prompt.replace('`', "'")));
    }
    if plan.prompts.len() > 50 {
        text.push_str(&format!(
            "  - and {} more (in `medigan.json`)\n",
            plan.prompts.len() - 50
        ));
    }
    text
}

/// What pip installs into the converter's environment (a text-conditioned pipeline's adds
/// [`TRANSFORMERS`]).
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
    let mut diffusion = diffusion_json(&plan.prediction, &exported.graphs, info.steps, decoder);
    if plan.text_encoder.is_some() {
        diffusion["conditioning"] = json!([{
            "name": "encoder_hidden_states",
            "kind": "prompt",
            "embeddings": EMBEDDINGS,
            "sha256": exported.embeddings_sha256,
            "prompts": plan.prompts,
        }]);
        diffusion["guidance_scale"] = json!(TEXT_GUIDANCE);
    }
    let mut converted_from = json!({
        "source": "diffusers",
        "pipeline": plan.pipeline,
        "diffusers": exported.diffusers,
    });
    if let Some(encoder) = &plan.text_encoder {
        converted_from["transformers"] = json!(exported.transformers);
        converted_from["text_encoder"] = json!(encoder);
    }
    let parts = PackageParts {
        inputs: json!(inputs),
        range: json!([-1, 1]),
        diffusion,
        converted_from,
        selection: json!({
            "performance": {"FID": null},
            "organ": [],
            "modality": [],
            "function": if plan.text_encoder.is_some() {
                json!(["denoising diffusion", "text to image"])
            } else {
                json!(["denoising diffusion"])
            },
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
