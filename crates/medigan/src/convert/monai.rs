//! `medigan convert PATH` for a MONAI bundle folder (`configs/inference.json`,
//! `configs/metadata.json`, `models/*.pt`) holding a 2D latent diffusion model: a
//! `DiffusionModelUNet` denoiser, an `AutoencoderKL` decoder, MONAI's DDPM/DDIM/PNDM scheduler
//! and `monai.inferers.LatentDiffusionInferer` with its `scale_factor` (the form of
//! `brats_mri_axial_slices_generative_diffusion`).
//!
//! Steps: [`plan`] from the bundle's JSON alone ([`super::monai_config`]: the ConfigParser subset
//! of references and path expressions; anything else refused with the key and the reason) ->
//! the export script (`monai_export.py`, embedded) in a consented environment with torch and
//! monai: the networks built from the arguments the plan read (no bundle expression is
//! evaluated), exported, then `LatentDiffusionInferer.sample` on CPU from the chosen initial
//! noise -> the package written into a staging folder (the scheduler's arguments as
//! `scheduler_config.json` with its MONAI `_target_`) -> verification through
//! `Generators::generate_samples` -> the card -> the staging folder renamed into place.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::ConvertError;
use super::export::OPSET;
use super::folder_source::{
    self, ExportedGraphs, FolderConversion, FolderSource, PackageParts, ScriptPaths, SourceInfo,
    card_graph_checks, card_head, card_tail, diffusion_json,
};
use super::folder_verify::DiffusionVerification;
use super::monai_config::BundleConfig;
use crate::{Generators, Result};

/// The export script, shipped in the binary: the shared prelude and the MONAI part.
pub const EXPORT_SCRIPT: &str = concat!(
    include_str!("external_data.py"),
    include_str!("folder_export.py"),
    include_str!("monai_export.py")
);

/// The MONAI release the converter's environment pins.
pub const MONAI: &str = "monai==1.6.1";

/// What pip installs into the converter's environment (`einops`: MONAI's networks import it).
pub fn dependencies() -> Vec<String> {
    ["torch", MONAI, "einops", "onnx"]
        .map(str::to_string)
        .to_vec()
}

/// The denoiser classes converted (as `_target_` writes them).
const UNETS: &[&str] = &[
    "monai.networks.nets.DiffusionModelUNet",
    "monai.networks.nets.diffusion_model_unet.DiffusionModelUNet",
];
/// The decoder classes converted.
const AUTOENCODERS: &[&str] = &[
    "monai.networks.nets.AutoencoderKL",
    "monai.networks.nets.autoencoderkl.AutoencoderKL",
];
/// The inferers whose loop the sampler reproduces.
const INFERERS: &[&str] = &[
    "monai.inferers.LatentDiffusionInferer",
    "monai.inferers.inferer.LatentDiffusionInferer",
];
/// MONAI's scheduler classes converted (their short names).
const SCHEDULERS: &[&str] = &[
    "DDPMScheduler",
    "DDIMScheduler",
    "PNDMScheduler",
    "RFlowScheduler",
];

/// Whether `dir` is a MONAI bundle folder.
pub fn is_bundle(dir: &Path) -> bool {
    let configs = dir.join("configs");
    configs.join("inference.json").is_file() && configs.join("metadata.json").is_file()
}

/// One network of the bundle, as the plan read it.
#[derive(Debug, Clone, Serialize)]
pub struct NetworkPlan {
    /// Its key in `configs/inference.json`.
    pub key: String,
    /// Its `_target_`.
    pub class: String,
    /// Its arguments, resolved to literals.
    pub args: Map<String, Value>,
    /// Its weights file, relative to the bundle.
    pub weights: PathBuf,
    /// How the bundle loads them (`load_old_state_dict` or `load_state_dict`).
    pub loader: String,
    /// The checkpoint's key holding the state dict (MAISI's `unet_state_dict`), if any.
    pub state_key: Option<String>,
}

/// What the bundle's JSON says, before anything runs.
#[derive(Debug, Clone, Serialize)]
pub struct BundlePlan {
    /// `metadata.json`'s `name`.
    pub name: String,
    /// `metadata.json`'s `version`.
    pub version: String,
    /// The denoiser.
    pub network: NetworkPlan,
    /// The latent decoder.
    pub autoencoder: NetworkPlan,
    /// The scheduler's class, `monai.networks.schedulers.<Name>`.
    pub scheduler: String,
    /// The scheduler's arguments, resolved.
    pub scheduler_args: Map<String, Value>,
    /// The inferer's `scale_factor`.
    pub scale_factor: f64,
    /// The latent (noise) shape `[C, H, W]`.
    pub latent_shape: Vec<usize>,
    /// Default inference steps (the bundle's `set_timesteps`).
    pub steps: usize,
    /// The scheduler's `prediction_type`.
    pub prediction: String,
    /// The decoded image's value range (`autoencoder_data_format`), default [0, 1].
    pub range: [f64; 2],
    /// MAISI's conditioning and decoding, for a `DiffusionModelUNetMaisi` bundle.
    pub maisi: Option<super::monai_maisi::MaisiPlan>,
}

impl BundlePlan {
    /// The plan in words (the dry-run's detail column).
    pub fn describe(&self) -> String {
        if let Some(maisi) = &self.maisi {
            return format!(
                "MONAI bundle `{}` {} (MAISI-shaped, its sampling script reproduced): {} on \
                 latents {:?} -> volume {:?}, inputs: {}; {} decoder ({}), {} ({} steps), {} \
                 prediction",
                self.name,
                self.version,
                self.network.class.rsplit('.').next().unwrap_or(""),
                self.latent_shape,
                maisi.output_size,
                maisi.inputs(),
                self.autoencoder.class.rsplit('.').next().unwrap_or(""),
                match &maisi.sliding_window {
                    Some(w) => format!("sliding window {:?}, overlap {}", w.roi, w.overlap),
                    None => "whole latent".into(),
                },
                self.scheduler,
                self.steps,
                self.prediction
            );
        }
        format!(
            "MONAI bundle `{}` {}: DiffusionModelUNet on latents {:?}, AutoencoderKL decoder \
             (scale_factor {}), {} ({} steps), {} prediction",
            self.name,
            self.version,
            self.latent_shape,
            self.scale_factor,
            self.scheduler,
            self.steps,
            self.prediction
        )
    }
}

pub(super) fn read_object(path: &Path) -> Result<Map<String, Value>, ConvertError> {
    let text = std::fs::read_to_string(path).map_err(ConvertError::io("read", path))?;
    match serde_json::from_str(&text) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(ConvertError::Io {
            action: "parse",
            path: path.to_path_buf(),
            source: std::io::Error::other("not a JSON object"),
        }),
        Err(e) => Err(ConvertError::Io {
            action: "parse",
            path: path.to_path_buf(),
            source: std::io::Error::other(e.to_string()),
        }),
    }
}

/// Decides from `configs/inference.json` and `configs/metadata.json` whether `dir` converts;
/// `name` names the model in a refusal.
pub fn plan(dir: &Path, name: &str) -> Result<BundlePlan, ConvertError> {
    let refuse = |kind: &str, reason: String| ConvertError::refused(name, kind, &reason);
    let config = BundleConfig::new(read_object(&dir.join("configs/inference.json"))?);
    let metadata = read_object(&dir.join("configs/metadata.json"))?;
    let config_error = |e: String| refuse("config", format!("configs/inference.json: {e}"));
    if super::monai_maisi::is_maisi(&config) {
        return super::monai_maisi::plan(dir, &config, &metadata, &refuse);
    }
    let (scheduler_key, scale_factor) = inferer(&config, &refuse)?;
    let (target, scheduler_args) = config
        .component(&scheduler_key)
        .map_err(config_error)?
        .ok_or_else(|| {
            refuse(
                "config",
                format!(
                    "the inferer's scheduler `{scheduler_key}` is not an object with `_target_`"
                ),
            )
        })?;
    let scheduler = checked_scheduler(&target, &scheduler_args, &refuse)?;
    let unet = network(
        &config,
        dir,
        (UNETS, "DiffusionModelUNet"),
        &check_unet,
        &refuse,
    )?;
    let autoencoder = network(
        &config,
        dir,
        (AUTOENCODERS, "AutoencoderKL"),
        &|_, _| Ok(()),
        &refuse,
    )?;
    let latent_shape = latent_shape(&config, &unet.args, &refuse)?;
    let train_steps = scheduler_args
        .get("num_train_timesteps")
        .and_then(Value::as_u64)
        .unwrap_or(1000) as usize;
    let steps = set_timesteps(&config).unwrap_or(if scheduler.ends_with("DDPMScheduler") {
        train_steps
    } else {
        50
    });
    let text = |key: &str| {
        metadata
            .get(key)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    Ok(BundlePlan {
        name: text("name"),
        version: text("version"),
        network: unet,
        autoencoder,
        prediction: prediction(&scheduler, &scheduler_args),
        scheduler,
        scheduler_args,
        scale_factor,
        latent_shape,
        steps: steps.clamp(1, crate::catalog::diffusion::MAX_STEPS),
        range: value_range(&metadata),
        maisi: None,
    })
}

/// What the denoiser predicts: a flow velocity under `RFlowScheduler`, else the scheduler's
/// `prediction_type` (default epsilon).
pub(super) fn prediction(scheduler: &str, args: &Map<String, Value>) -> String {
    if scheduler.ends_with("RFlowScheduler") {
        return "flow".into();
    }
    args.get("prediction_type")
        .and_then(Value::as_str)
        .unwrap_or("epsilon")
        .to_string()
}

/// `monai.networks.schedulers.<Name>` of the scheduler `target`, checked to be one medigan's
/// sampler runs with these arguments.
pub(super) fn checked_scheduler(
    target: &str,
    args: &Map<String, Value>,
    refuse: Refuse<'_>,
) -> Result<String, ConvertError> {
    let scheduler = scheduler_class(target).ok_or_else(|| {
        refuse(
            "custom_scheduler",
            format!(
                "scheduler `{target}` is not one medigan's sampler reproduces; supported: MONAI's \
                 {}",
                SCHEDULERS.join(", ")
            ),
        )
    })?;
    let mut scheduler_json = args.clone();
    scheduler_json.insert("_target_".into(), json!(scheduler));
    let parsed = medigan_diffusion::SchedulerConfig::from_value(Value::Object(scheduler_json))
        .map_err(|e| refuse("custom_scheduler", format!("scheduler arguments: {e}")))?;
    if let Err(e) = medigan_diffusion::make_scheduler(&parsed, None, 1) {
        return Err(refuse(
            "custom_scheduler",
            format!("scheduler `{target}`: {e}"),
        ));
    }
    Ok(scheduler)
}

pub(super) type Refuse<'a> = &'a dyn Fn(&str, String) -> ConvertError;

/// The inferer's scheduler key and `scale_factor`.
fn inferer(config: &BundleConfig, refuse: Refuse<'_>) -> Result<(String, f64), ConvertError> {
    let Some(Value::Object(inferer)) = config.raw("inferer") else {
        return Err(refuse(
            "unsupported_inferer",
            "configs/inference.json has no `inferer` object".into(),
        ));
    };
    let target = inferer
        .get("_target_")
        .and_then(Value::as_str)
        .unwrap_or("");
    if !INFERERS.contains(&target) {
        let why = if target.starts_with("scripts.") {
            " is the bundle's own code (scripts/): custom code cannot be exported as a code-free \
             package"
        } else {
            " is not an inferer whose loop medigan's sampler reproduces"
        };
        return Err(refuse(
            if target.starts_with("scripts.") {
                "custom_code"
            } else {
                "unsupported_inferer"
            },
            format!("the inferer `{target}`{why}; supported: {}", INFERERS[0]),
        ));
    }
    for key in ["ldm_latent_shape", "autoencoder_latent_shape"] {
        if inferer.get(key).is_some_and(|v| !v.is_null()) {
            return Err(refuse(
                "unsupported_inferer",
                format!("the inferer's `{key}` (latent padding/cropping) is not supported"),
            ));
        }
    }
    let scheduler = match inferer.get("scheduler") {
        Some(Value::String(r)) if r.starts_with('@') => r[1..].to_string(),
        None => "noise_scheduler".to_string(),
        Some(other) => {
            return Err(refuse(
                "config",
                format!("the inferer's `scheduler` is {other}, not a reference `@name`"),
            ));
        }
    };
    let scale = config
        .get("inferer#scale_factor")
        .map_err(|e| refuse("config", format!("configs/inference.json: {e}")))?
        .unwrap_or(json!(1.0));
    match scale.as_f64() {
        Some(s) if s.is_finite() && s != 0.0 => Ok((scheduler, s)),
        _ => Err(refuse(
            "config",
            format!("the inferer's `scale_factor` is {scale}, not a finite non-zero number"),
        )),
    }
}

/// `monai.networks.schedulers.<Name>` for a MONAI scheduler `_target_`.
pub(super) fn scheduler_class(target: &str) -> Option<String> {
    let short = target.rsplit('.').next()?;
    let module = target.strip_suffix(short)?.trim_end_matches('.');
    let known = SCHEDULERS.contains(&short)
        && (module == "monai.networks.schedulers"
            || module
                .strip_prefix("monai.networks.schedulers.")
                .is_some_and(|m| {
                    !m.contains('.')
                        && (short.to_ascii_lowercase().starts_with(m)
                            || (m == "rectified_flow" && short == "RFlowScheduler"))
                }));
    known.then(|| format!("monai.networks.schedulers.{short}"))
}

/// Checks a network's arguments before its weights are looked for.
pub(super) type CheckArgs<'a> =
    &'a dyn Fn(&Map<String, Value>, Refuse<'_>) -> Result<(), ConvertError>;

/// The one component of `classes` (the bundle's key, args and weights), its arguments checked
/// by `check`.
pub(super) fn network(
    config: &BundleConfig,
    dir: &Path,
    (classes, what): (&[&str], &str),
    check: CheckArgs<'_>,
    refuse: Refuse<'_>,
) -> Result<NetworkPlan, ConvertError> {
    let mut found = Vec::new();
    let mut others = Vec::new();
    for (key, value) in config.root() {
        let Some(target) = value.get("_target_").and_then(Value::as_str) else {
            continue;
        };
        let short = target.rsplit('.').next().unwrap_or(target);
        if classes.contains(&target) {
            found.push(key.clone());
        } else if short.contains(if what == "AutoencoderKL" {
            "Autoencoder"
        } else {
            "UNet"
        }) || short.contains("ControlNet")
        {
            others.push(format!("`{key}` ({target})"));
        }
    }
    if !others.is_empty() || found.len() != 1 {
        let detail = if others.is_empty() {
            format!("{} found", found.len())
        } else {
            format!("found {}", others.join(", "))
        };
        return Err(refuse(
            "unsupported_network",
            format!("this version converts bundles with one MONAI `{what}` ({detail})"),
        ));
    }
    let key = found.remove(0);
    let (class, args) = config
        .component(&key)
        .map_err(|e| refuse("config", format!("configs/inference.json: {e}")))?
        .unwrap_or_default();
    check(&args, refuse)?;
    let (loader, path, state_key) = weights(config, &key).ok_or_else(|| {
        refuse(
            "config",
            format!(
                "no entry loads `{key}`'s weights as `$@{key}.load_state_dict(torch.load(@path))` \
                 (or load_old_state_dict, or through a checkpoint entry `$torch.load(@path)`)"
            ),
        )
    })?;
    let weights = bundle_file(dir, &path).map_err(|e| refuse("missing_weights", e))?;
    Ok(NetworkPlan {
        key,
        class,
        args,
        weights,
        loader,
        state_key,
    })
}

/// How the bundle loads `key`'s weights: the loader, the weights path and the checkpoint's key
/// holding the state dict, from the entry `$@<net>.<loader>(<state>)` where `<net>` is `key`
/// or an alias of it (`"$@key"`, `"$@key.to(@device)"`) and `<state>` is
/// `torch.load(@<path>...)` or `@<checkpoint>` / `@<checkpoint>['<state key>']` with the
/// checkpoint `"$torch.load(@<path>...)"` (MAISI's form).
fn weights(config: &BundleConfig, key: &str) -> Option<(String, String, Option<String>)> {
    let aliases: Vec<&str> = std::iter::once(key)
        .chain(config.root().iter().filter_map(|(alias, value)| {
            let text = value.as_str()?;
            let net = text.strip_prefix(&format!("$@{key}"))?;
            (net.is_empty() || net == ".to(@device)").then_some(alias.as_str())
        }))
        .collect();
    for value in config.root().values() {
        let Some(text) = value.as_str() else { continue };
        let Some(call) = aliases
            .iter()
            .find_map(|a| text.strip_prefix(&format!("$@{a}.")))
        else {
            continue;
        };
        let (loader, rest) = call.split_once('(')?;
        if !["load_state_dict", "load_old_state_dict"].contains(&loader) {
            continue;
        }
        let rest = rest.strip_suffix(')')?;
        let rest = rest
            .strip_suffix(", strict=True")
            .or_else(|| rest.strip_suffix(",strict=True"))
            .unwrap_or(rest)
            .trim();
        let (load, state_key) = match rest.strip_prefix('@') {
            Some(reference) => {
                let (id, state_key) = match reference.split_once("['") {
                    Some((id, k)) => (id, Some(k.strip_suffix("']")?.to_string())),
                    None => (reference, None),
                };
                let load = config.raw(id)?.as_str()?.strip_prefix('$')?;
                (load.trim().to_string(), state_key)
            }
            None => (rest.to_string(), None),
        };
        let path = torch_load_path(config, &load)?;
        return Some((loader.to_string(), path, state_key));
    }
    None
}

/// The path of `torch.load(@<path>[, weights_only=..., map_location=...])`.
fn torch_load_path(config: &BundleConfig, load: &str) -> Option<String> {
    let inner = load.strip_prefix("torch.load(")?.strip_suffix(')')?;
    let first = inner.split(',').next()?.trim();
    let extra_ok = inner
        .split(',')
        .skip(1)
        .all(|a| a.trim().starts_with("weights_only") || a.trim().starts_with("map_location"));
    if !extra_ok || !first.starts_with('@') {
        return None;
    }
    let path = config.get(&first[1..]).ok()??;
    Some(path.as_str()?.to_string())
}

/// The checkpoint file and key of a scale factor read from a checkpoint,
/// `"$@<checkpoint>['<key>']"` (optionally `.to(@device)` or `.item()`), the checkpoint being
/// `"$torch.load(@<path>...)"` (MAISI's `scale_factor`).
pub(super) fn checkpoint_value(config: &BundleConfig, text: &str) -> Option<(String, String)> {
    let text = text.strip_prefix("$@")?;
    let text = text
        .strip_suffix(".to(@device)")
        .or_else(|| text.strip_suffix(".item()"))
        .unwrap_or(text);
    let (id, key) = text.split_once("['")?;
    let key = key.strip_suffix("']")?;
    let load = config.raw(id)?.as_str()?.strip_prefix('$')?;
    Some((torch_load_path(config, load.trim())?, key.to_string()))
}

/// `path` (from the bundle's config, relative to the bundle root) as a file inside the bundle.
pub(super) fn bundle_file(dir: &Path, path: &str) -> Result<PathBuf, String> {
    let rel = Path::new(path.trim_start_matches("./"));
    let inside = rel
        .components()
        .all(|c| matches!(c, std::path::Component::Normal(_)));
    if !inside {
        return Err(format!(
            "the weights path `{path}` leaves the bundle folder"
        ));
    }
    if !dir.join(rel).is_file() {
        return Err(format!(
            "the weights `{path}` are not in the bundle (large_files.yml says where to download \
             them)"
        ));
    }
    Ok(rel.to_path_buf())
}

/// Refuses the denoiser arguments this version does not convert.
fn check_unet(args: &Map<String, Value>, refuse: Refuse<'_>) -> Result<(), ConvertError> {
    if args.get("with_conditioning").and_then(Value::as_bool) == Some(true) {
        return Err(refuse(
            "conditioning",
            "the DiffusionModelUNet has cross-attention (`with_conditioning`: text or context \
             conditioning): this version converts unconditional bundles only"
                .into(),
        ));
    }
    if args.get("num_class_embeds").is_some_and(|v| !v.is_null()) {
        return Err(refuse(
            "conditioning",
            "the DiffusionModelUNet has class embeddings, which MONAI's inferer does not feed: \
             this version converts unconditional bundles only"
                .into(),
        ));
    }
    if args.get("spatial_dims").and_then(Value::as_u64) != Some(2) {
        return Err(refuse(
            "unsupported_network",
            format!(
                "spatial_dims {}: this version converts 2D bundles only",
                args.get("spatial_dims").unwrap_or(&Value::Null)
            ),
        ));
    }
    Ok(())
}

/// The bundle's `latent_shape`, checked against the denoiser's channels.
pub(super) fn latent_shape(
    config: &BundleConfig,
    unet: &Map<String, Value>,
    refuse: Refuse<'_>,
) -> Result<Vec<usize>, ConvertError> {
    let value = config
        .get("latent_shape")
        .map_err(|e| refuse("config", format!("configs/inference.json: {e}")))?
        .ok_or_else(|| {
            refuse(
                "config",
                "configs/inference.json has no `latent_shape`".into(),
            )
        })?;
    let shape: Option<Vec<usize>> = serde_json::from_value(value.clone()).ok();
    let channels = unet.get("in_channels").and_then(Value::as_u64);
    match shape {
        Some(s)
            if (s.len() == 3 || s.len() == 4)
                && !s.contains(&0)
                && s.iter().product::<usize>() <= 1 << 24
                && channels == Some(s[0] as u64)
                && unet.get("out_channels").and_then(Value::as_u64) == channels =>
        {
            Ok(s)
        }
        _ => Err(refuse(
            "config",
            format!(
                "`latent_shape` {value} is not [C, H, W] or [C, D, H, W] with C the denoiser's \
                 in_ and out_channels"
            ),
        )),
    }
}

/// `num_inference_steps` of the bundle's `set_timesteps` expression.
fn set_timesteps(config: &BundleConfig) -> Option<usize> {
    let text = config.raw("set_timesteps")?.as_str()?;
    let rest = text.split("num_inference_steps").nth(1)?;
    let digits: String = rest
        .trim_start_matches([' ', '='])
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok().filter(|&n| n > 0)
}

/// The decoded image's value range from `metadata.json`, default [0, 1].
pub(super) fn value_range(metadata: &Map<String, Value>) -> [f64; 2] {
    metadata
        .get("autoencoder_data_format")
        .and_then(|f| f.get("outputs"))
        .and_then(Value::as_object)
        .and_then(|outputs| outputs.values().find_map(|o| o.get("value_range")))
        .and_then(|r| serde_json::from_value::<[f64; 2]>(r.clone()).ok())
        .filter(|[low, high]| low.is_finite() && high.is_finite() && low < high)
        .unwrap_or([0.0, 1.0])
}

/// What the export script answers.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Exported {
    /// What every export script answers.
    #[serde(flatten)]
    pub graphs: ExportedGraphs,
    /// MONAI's version.
    pub monai: String,
    /// The scale factor read from a checkpoint (MAISI's), when the plan asked for it.
    #[serde(default)]
    pub scale_factor: Option<f64>,
}

impl Exported {
    /// The scale factor the decoder's latent is divided by: the checkpoint's, else the plan's.
    pub fn scale_factor(&self, plan: &BundlePlan) -> f64 {
        self.scale_factor
            .filter(|s| s.is_finite() && *s != 0.0)
            .unwrap_or(plan.scale_factor)
    }
}

/// What a conversion of a bundle wrote.
pub type BundleReport = FolderConversion<BundlePlan, Exported>;

/// A MONAI bundle folder, as [`folder_source::convert`] converts it.
pub struct Monai;

impl FolderSource for Monai {
    type Plan = BundlePlan;
    type Exported = Exported;
    const SOURCE: &'static str = "monai_bundle";
    const KIND: &'static str = "MONAI bundle";
    const ENV: (&'static str, &'static str) = ("convert-monai", MONAI);
    const SCRIPT: (&'static str, &'static str) = (EXPORT_SCRIPT, "monai-export");

    fn dependencies(_plan: &BundlePlan) -> Vec<String> {
        dependencies()
    }

    fn plan(
        dir: &Path,
        name: &str,
        options: &super::ConvertOptions,
    ) -> Result<BundlePlan, ConvertError> {
        super::diffusers::refuse_prompts_for(name, options, "a MONAI bundle")?;
        plan(dir, name)
    }

    fn steps(plan: &BundlePlan) -> usize {
        plan.steps
    }

    fn request(plan: &BundlePlan, paths: &ScriptPaths<'_>, steps: usize) -> Value {
        request(plan, paths, steps)
    }

    fn graphs(exported: &Exported) -> &ExportedGraphs {
        &exported.graphs
    }

    fn package(plan: &BundlePlan, exported: &Exported, info: &SourceInfo<'_>) -> Value {
        package_json(plan, exported, info)
    }

    fn write_scheduler(
        plan: &BundlePlan,
        _source: &Path,
        staging: &Path,
    ) -> Result<(), ConvertError> {
        let path = staging.join("scheduler_config.json");
        let text = serde_json::to_string_pretty(&scheduler_config(plan)).unwrap_or_default() + "\n";
        std::fs::write(&path, text).map_err(ConvertError::io("write", &path))
    }

    fn card(
        plan: &BundlePlan,
        exported: &Exported,
        verification: &DiffusionVerification,
        info: &SourceInfo<'_>,
    ) -> String {
        let body = std::fs::read_to_string(info.source.join("docs/README.md")).unwrap_or_default();
        let what = format!(
            "MONAI bundle `{}` (`{}` version {}",
            info.source.display(),
            plan.name,
            plan.version
        );
        let mut text = card_head(&body, info, &what);
        let graphs = &exported.graphs;
        text.push_str(&format!(
            "- denoiser: `{}` (`{}`, weights `{}`) exported with torch {} / MONAI {} as \
             `denoiser.onnx`: sample {:?}, {} timestep{}; {} prediction\n- decoder: `{}` \
             (`{}`, weights `{}`) `decode_stage_2_outputs` as `decoder.onnx`, fed latent / {} (the \
             {} `scale_factor`) -> image {:?} in {:?}\n- scheduler: `scheduler_config.json`, \
             the bundle's `{}` arguments (`{}`)\n",
            plan.network.key,
            plan.network.class,
            plan.network.weights.display(),
            graphs.torch,
            exported.monai,
            graphs.noise_shape,
            if plan.maisi.is_some() {
                "float32"
            } else {
                "int64"
            },
            plan.maisi
                .as_ref()
                .map(|m| format!(", {}", m.inputs()))
                .unwrap_or_default(),
            plan.prediction,
            plan.autoencoder.key,
            plan.autoencoder.class,
            plan.autoencoder.weights.display(),
            exported.scale_factor(plan),
            match plan
                .maisi
                .as_ref()
                .and_then(|m| m.scale_factor_from.as_ref())
            {
                Some(_) => "checkpoint's",
                None => "inferer's",
            },
            graphs.image_shape,
            plan.range,
            plan.scheduler.rsplit('.').next().unwrap_or(""),
            plan.scheduler
        ));
        if let Some(maisi) = &plan.maisi {
            text.push_str(&super::monai_maisi::card_lines(maisi));
        }
        text.push_str(&card_graph_checks(graphs));
        text.push_str(&format!(
            "\n## Verification\n\n{} samples, {} steps of `{}`, from the same initial noise: MONAI's \
             own loop (`{}`, PyTorch on CPU) vs `medigan generate --initial-noise` of this package, \
             both clipped to the declared range {:?}. Relative error: max |medigan - MONAI| / max \
             |MONAI|; tolerance {}. Result: **{}**.\n\n",
            verification.samples,
            verification.steps,
            verification.scheduler,
            verification.reference_pipeline,
            plan.range,
            verification.tolerance,
            if verification.passed {
                "equal"
            } else {
                "different"
            }
        ));
        text.push_str(&verification.table());
        text.push_str(&card_tail(
            verification,
            &plan.scheduler,
            info,
            ("MONAI", "MONAI's", "bundle"),
        ));
        text
    }
}

/// Converts the bundle `source` (see the module doc).
pub fn convert(
    generators: &Generators,
    source: &Path,
    options: &super::ConvertOptions,
) -> Result<BundleReport> {
    folder_source::convert::<Monai>(generators, source, options)
}

/// The export script's request.
fn request(plan: &BundlePlan, paths: &ScriptPaths<'_>, steps: usize) -> Value {
    let source = paths.source;
    let network = |n: &NetworkPlan| {
        json!({
            "class": n.class,
            "args": n.args,
            "weights": source.join(&n.weights),
            "loader": n.loader,
            "key": n.state_key,
        })
    };
    // DDPM draws noise at every step: both sides run MONAI's DDIM (eta 0) instead.
    let reference = match plan.scheduler.rsplit('.').next() {
        Some("DDPMScheduler") | None => "DDIMScheduler",
        Some(other) => other,
    };
    json!({
        "out": paths.out,
        "work": paths.work,
        "opset": OPSET,
        "samples": paths.samples,
        "steps": steps,
        "seed": 0,
        "scale_factor": plan.scale_factor,
        "latent_shape": plan.latent_shape,
        "range": plan.range,
        "network": network(&plan.network),
        "autoencoder": network(&plan.autoencoder),
        "scheduler": {"class": reference, "args": plan.scheduler_args},
        "source": source,
        "maisi": plan.maisi.as_ref().map(|m| json!({
            "classes": m.classes,
            "label": m.label,
            "spacing": m.spacing,
            "spacing_scale": super::monai_maisi::SPACING_SCALE,
            "output_size": m.output_size,
            "sliding_window": m.sliding_window.as_ref().map(|w| json!({"roi": w.roi, "overlap": w.overlap})),
            "scale_factor_from": m.scale_factor_from,
        })),
    })
}

/// The package's `scheduler_config.json`: the bundle's scheduler arguments with its class as
/// `_target_` (the MONAI flavour `SchedulerConfig` reads).
fn scheduler_config(plan: &BundlePlan) -> Value {
    let mut config = plan.scheduler_args.clone();
    config.insert("_target_".into(), json!(plan.scheduler));
    Value::Object(config)
}

/// The first line of the bundle's licence file (e.g. `Apache License`).
fn licence_name(source: &Path) -> Option<String> {
    let text = std::fs::read_to_string(source.join("LICENSE")).ok()?;
    text.lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .map(|l| l.chars().take(80).collect())
}

fn package_json(plan: &BundlePlan, exported: &Exported, info: &SourceInfo<'_>) -> Value {
    let metadata = read_object(&info.source.join("configs/metadata.json")).unwrap_or_default();
    let text = |key: &str| metadata.get(key).and_then(Value::as_str).unwrap_or("");
    let title = match text("name") {
        "" => format!("{}: MONAI latent diffusion bundle", info.model_id),
        name => name.to_string(),
    };
    let generates: Vec<&str> = [text("image_classes")]
        .into_iter()
        .filter(|s| !s.is_empty())
        .collect();
    let decoder = Some((exported.scale_factor(plan), 0.0));
    let (source, sha256) = (info.source.display(), info.sha256);
    let parts = PackageParts {
        inputs: json!([]),
        range: json!(plan.range),
        diffusion: diffusion_json(&plan.prediction, &exported.graphs, plan.steps, decoder),
        converted_from: json!({
            "source": "monai_bundle",
            "bundle": plan.name,
            "bundle_version": plan.version,
            "monai": exported.monai,
        }),
        selection: json!({
            "performance": {"FID": null},
            "organ": [],
            "modality": [],
            "function": ["latent diffusion"],
            "condition": [],
            "generates": generates,
            "tags": ["diffusion", "monai", "converted"],
            "license": licence_name(info.source),
        }),
        description: json!({
            "title": title,
            "provided_date": "unknown",
            "version": plan.version,
            "comment": format!(
                "{} Converted by `medigan convert` from the MONAI bundle `{source}` (sha256 {sha256}); see README.md. Authors: {}. {}",
                text("description"), text("authors"), text("intended_use")
            ).trim().to_string(),
        }),
    };
    let mut package = folder_source::package_json(info, &exported.graphs, parts);
    if let (Some(maisi), Some(onnx)) = (
        &plan.maisi,
        package[info.model_id]["execution"].get_mut("onnx"),
    ) {
        super::monai_maisi::package_onnx(maisi, onnx);
    }
    package
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scheduler_targets_are_read_in_both_spellings_and_others_refused() {
        for (target, want) in [
            (
                "monai.networks.schedulers.ddim.DDIMScheduler",
                Some("monai.networks.schedulers.DDIMScheduler"),
            ),
            (
                "monai.networks.schedulers.DDPMScheduler",
                Some("monai.networks.schedulers.DDPMScheduler"),
            ),
            (
                "monai.networks.schedulers.rectified_flow.RFlowScheduler",
                Some("monai.networks.schedulers.RFlowScheduler"),
            ),
            ("monai.networks.schedulers.ddpm.RFlowScheduler", None),
            ("scripts.sched.DDIMScheduler", None),
            ("monai.networks.schedulers.ddpm.DDIMScheduler", None),
        ] {
            assert_eq!(scheduler_class(target).as_deref(), want, "{target}");
        }
    }

    #[test]
    fn the_set_timesteps_expression_gives_the_default_steps() {
        let config = BundleConfig::new(
            json!({"set_timesteps": "$@noise_scheduler.set_timesteps(num_inference_steps=50)"})
                .as_object()
                .unwrap()
                .clone(),
        );
        assert_eq!(set_timesteps(&config), Some(50));
    }
}
