//! The plan of a MONAI bundle shaped like `maisi_ct_generative` / NV-Generate's rectified-flow
//! CT model: a `DiffusionModelUNetMaisi` denoiser (continuous timesteps; the modality as
//! `class_labels`, the voxel spacing as `spacing_tensor`), an `AutoencoderKlMaisi` (or
//! `AutoencoderKL`) decoder run in sliding windows, MONAI's `RFlowScheduler` (or DDPM/DDIM),
//! `latent_shape` derived from `output_size` (`"$@output_size[0]//4"`), the scale factor a
//! number or read from the denoiser's checkpoint (`"$@checkpoint['scale_factor']"`).
//!
//! MAISI samples through its own script (`scripts.sample.LDMSampler`, NV-Generate's
//! `diff_model_infer.py`), which is not run: its loop (MONAI's scheduler stepping the network
//! fed the modality and spacing x 100, then the decoder in MONAI's `SlidingWindowInferer`) is
//! what the converter reproduces in the export environment and medigan's sampler runs.
//!
//! Conditioning subset: the spacing and the class label (modality). MAISI v1's body-region
//! inputs (`include_top_region_index_input`, `include_bottom_region_index_input`) are refused:
//! its pipeline derives them from a generated mask with a ControlNet, which a code-free package
//! cannot carry; NV-Generate's rectified-flow model leaves them out (`include_body_region`
//! false).

use std::path::Path;

use serde::Serialize;
use serde_json::{Map, Value, json};

use super::ConvertError;
use super::monai::{self, BundlePlan, Refuse};
use super::monai_config::BundleConfig;
use crate::catalog::{BlendMode, SlidingWindowSpec};

/// MAISI's denoiser classes (as `_target_` writes them).
pub const UNETS: &[&str] = &[
    "monai.apps.generation.maisi.networks.diffusion_model_unet_maisi.DiffusionModelUNetMaisi",
    "monai.apps.generation.maisi.networks.DiffusionModelUNetMaisi",
];
/// The decoder classes of a MAISI-shaped bundle.
pub const AUTOENCODERS: &[&str] = &[
    "monai.apps.generation.maisi.networks.autoencoderkl_maisi.AutoencoderKlMaisi",
    "monai.apps.generation.maisi.networks.AutoencoderKlMaisi",
    "monai.networks.nets.AutoencoderKL",
    "monai.networks.nets.autoencoderkl.AutoencoderKL",
];
/// The spacing MAISI's loop feeds is in mm times this (`spacing_tensor = spacing * 1e2`).
pub const SPACING_SCALE: f64 = 100.0;
/// The denoiser's spacing input, as exported.
pub const SPACING_INPUT: &str = "spacing_tensor";
/// The denoiser's class input, as exported.
pub const CLASS_INPUT: &str = "class_labels";

/// What a MAISI-shaped bundle adds to [`BundlePlan`].
#[derive(Debug, Clone, Serialize)]
pub struct MaisiPlan {
    /// The volume's size in voxels (`output_size`), in the tensor's axis order.
    pub output_size: Vec<usize>,
    /// The default voxel spacing in mm (`spacing`), when the denoiser takes it.
    pub spacing: Option<Vec<f64>>,
    /// The denoiser's class count (`num_class_embeds`), when it takes `class_labels`.
    pub classes: Option<usize>,
    /// The class the reference loop runs (`modality`; default 0).
    pub label: Option<usize>,
    /// The decoder's sliding window (`autoencoder_sliding_window_infer_size`, `_overlap`), in
    /// latent voxels; `None` when the window covers the latent (MAISI's `dynamic_infer` then
    /// decodes it whole).
    pub sliding_window: Option<SlidingWindowSpec>,
    /// The checkpoint file (relative to the bundle) and key the scale factor is read from.
    pub scale_factor_from: Option<(String, String)>,
}

impl MaisiPlan {
    /// The denoiser's conditioning in words.
    pub fn inputs(&self) -> String {
        let mut inputs = Vec::new();
        if let (Some(count), Some(label)) = (self.classes, self.label) {
            inputs.push(format!("class label of {count} (default {label})"));
        }
        if let Some(spacing) = &self.spacing {
            inputs.push(format!("spacing (default {spacing:?} mm)"));
        }
        if inputs.is_empty() {
            "none".into()
        } else {
            inputs.join(", ")
        }
    }
}

/// Sets the MAISI parts of the package's `execution.onnx`: the class input (`class_labels`,
/// classes named by their index), the image output's `spacing`, the float32 timestep, the
/// spacing conditioning input and the decoder's sliding window.
pub fn package_onnx(maisi: &MaisiPlan, onnx: &mut Value) {
    if let Some(count) = maisi.classes {
        let names: Vec<String> = (0..count).map(|c| c.to_string()).collect();
        onnx["inputs"] = json!([{
            "name": CLASS_INPUT,
            "kind": "class",
            "classes": names,
            "encoding": "index",
        }]);
    }
    if let Some(spacing) = &maisi.spacing {
        onnx["outputs"][0]["spacing"] = json!(spacing);
        onnx["diffusion"]["conditioning"] = json!([{
            "name": SPACING_INPUT,
            "kind": "spacing",
            "scale": SPACING_SCALE,
        }]);
    }
    onnx["diffusion"]["denoiser"]["timestep_type"] = json!("float32");
    if let Some(window) = &maisi.sliding_window {
        onnx["diffusion"]["decoder"]["sliding_window"] = json!(window);
    }
}

/// The card's lines on what MAISI's script did that the package does.
pub fn card_lines(maisi: &MaisiPlan) -> String {
    let mut text = format!(
        "- MAISI's sampling script (not run; its loop reproduced): volume {:?}",
        maisi.output_size
    );
    if let (Some(count), Some(label)) = (maisi.classes, maisi.label) {
        text.push_str(&format!(
            "; `class_labels` (the modality) as the class input, classes `0` to `{}` by index \
             (`--label {label}`, the bundle's `modality`, was verified)",
            count - 1
        ));
    }
    if let Some(spacing) = &maisi.spacing {
        text.push_str(&format!(
            "; `spacing_tensor` = spacing in mm x {SPACING_SCALE} (`--spacing`, default the \
             bundle's {spacing:?}, written into the NIfTI volumes)"
        ));
    }
    match &maisi.sliding_window {
        Some(w) => text.push_str(&format!(
            "; decoded in sliding windows of {:?} latent voxels, overlap {}, gaussian (MONAI's \
             `SlidingWindowInferer`, done by medigan)",
            w.roi, w.overlap
        )),
        None => text.push_str("; decoded whole (the window covers the latent)"),
    }
    text.push_str(
        ". The decoder's [0, 1] output is kept; MAISI's mapping to Hounsfield units (x 2000 - \
         1000) is not applied.\n",
    );
    text
}

/// Whether the bundle's denoiser is MAISI's.
pub fn is_maisi(config: &BundleConfig) -> bool {
    config.root().values().any(|v| {
        v.get("_target_")
            .and_then(Value::as_str)
            .is_some_and(|t| UNETS.contains(&t))
    })
}

/// The plan of a MAISI-shaped bundle (see the module doc).
pub fn plan(
    dir: &Path,
    config: &BundleConfig,
    metadata: &Map<String, Value>,
    refuse: Refuse<'_>,
) -> Result<BundlePlan, ConvertError> {
    let config_error = |e: String| refuse("config", format!("configs/inference.json: {e}"));
    let unet = monai::network(
        config,
        dir,
        (UNETS, "DiffusionModelUNet"),
        &check_unet,
        refuse,
    )?;
    let autoencoder = monai::network(
        config,
        dir,
        (AUTOENCODERS, "AutoencoderKL"),
        &|_, _| Ok(()),
        refuse,
    )?;
    let spatial_dims = unet.args.get("spatial_dims").and_then(Value::as_u64);
    let (target, scheduler_args) = config
        .component("noise_scheduler")
        .map_err(config_error)?
        .ok_or_else(|| {
            refuse(
                "config",
                "configs/inference.json has no `noise_scheduler` object with `_target_`".into(),
            )
        })?;
    let scheduler = monai::checked_scheduler(&target, &scheduler_args, refuse)?;
    let latent_shape = monai::latent_shape(config, &unet.args, refuse)?;
    if Some(latent_shape.len() as u64 - 1) != spatial_dims {
        return Err(refuse(
            "config",
            format!(
                "`latent_shape` {latent_shape:?} does not have the denoiser's spatial_dims {} \
                 spatial axes",
                spatial_dims.unwrap_or(0)
            ),
        ));
    }
    let spatial = &latent_shape[1..];
    let output_size: Vec<usize> = numbers(config, "output_size", refuse)?
        .map(|v| v.iter().map(|&x| x as usize).collect())
        .unwrap_or_else(|| spatial.iter().map(|s| s * 4).collect());
    if output_size.len() != spatial.len()
        || output_size.iter().zip(spatial).any(|(&o, &l)| o % l != 0)
    {
        return Err(refuse(
            "config",
            format!(
                "`output_size` {output_size:?} is not a whole multiple of the latent's spatial \
                 size {spatial:?}"
            ),
        ));
    }
    let takes_spacing = unet
        .args
        .get("include_spacing_input")
        .and_then(Value::as_bool)
        == Some(true);
    let spacing = match takes_spacing {
        false => None,
        true => {
            let spacing = numbers(config, "spacing", refuse)?.ok_or_else(|| {
                refuse(
                    "config",
                    "the denoiser takes the spacing (`include_spacing_input`) but \
                     configs/inference.json has no `spacing` to default to"
                        .into(),
                )
            })?;
            if spacing.len() != spatial.len() || spacing.iter().any(|&v| v.is_nan() || v <= 0.0) {
                return Err(refuse(
                    "config",
                    format!(
                        "`spacing` {spacing:?} is not {} positive numbers (mm per axis)",
                        spatial.len()
                    ),
                ));
            }
            Some(spacing)
        }
    };
    let classes = unet
        .args
        .get("num_class_embeds")
        .and_then(Value::as_u64)
        .map(|n| n as usize);
    let label = match classes {
        None => None,
        Some(count) => {
            let modality = config
                .get("modality")
                .map_err(config_error)?
                .map_or(Some(0), |m| m.as_u64().map(|m| m as usize));
            match modality {
                Some(m) if m < count => Some(m),
                _ => {
                    return Err(refuse(
                        "config",
                        format!(
                            "`modality` (the class label) is not an integer below the denoiser's \
                             num_class_embeds {count}"
                        ),
                    ));
                }
            }
        }
    };
    let sliding_window = sliding_window(config, spatial, refuse)?;
    let (scale_factor, scale_factor_from) = scale_factor(config, dir, refuse)?;
    let steps = config
        .get("num_inference_steps")
        .map_err(config_error)?
        .and_then(|v| v.as_u64())
        .map_or(30, |v| v as usize);
    let text = |key: &str| {
        metadata
            .get(key)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    let prediction = monai::prediction(&scheduler, &scheduler_args);
    Ok(BundlePlan {
        name: text("name"),
        version: text("version"),
        network: unet,
        autoencoder,
        prediction,
        scheduler,
        scheduler_args,
        scale_factor,
        latent_shape,
        steps: steps.clamp(1, crate::catalog::diffusion::MAX_STEPS),
        range: monai::value_range(metadata),
        maisi: Some(MaisiPlan {
            output_size,
            spacing,
            classes,
            label,
            sliding_window,
            scale_factor_from,
        }),
    })
}

/// Refuses the MAISI denoiser arguments this version does not convert.
fn check_unet(args: &Map<String, Value>, refuse: Refuse<'_>) -> Result<(), ConvertError> {
    let set = |key: &str| args.get(key).and_then(Value::as_bool) == Some(true);
    if set("with_conditioning") {
        return Err(refuse(
            "conditioning",
            "the DiffusionModelUNetMaisi has cross-attention (`with_conditioning`): this version \
             converts class-label and spacing conditioning only"
                .into(),
        ));
    }
    if set("include_top_region_index_input") || set("include_bottom_region_index_input") {
        return Err(refuse(
            "conditioning",
            "the DiffusionModelUNetMaisi takes body-region inputs \
             (`include_top_region_index_input` / `include_bottom_region_index_input`), which \
             MAISI's pipeline derives with its mask generator and ControlNet: this version \
             converts the spacing and class-label (modality) inputs only, as NV-Generate's \
             rectified-flow model uses them"
                .into(),
        ));
    }
    if !matches!(
        args.get("spatial_dims").and_then(Value::as_u64),
        Some(2 | 3)
    ) {
        return Err(refuse(
            "unsupported_network",
            format!(
                "spatial_dims {}: expected 2 or 3",
                args.get("spatial_dims").unwrap_or(&Value::Null)
            ),
        ));
    }
    Ok(())
}

/// The numbers of the list at `key`, if present.
fn numbers(
    config: &BundleConfig,
    key: &str,
    refuse: Refuse<'_>,
) -> Result<Option<Vec<f64>>, ConvertError> {
    let Some(value) = config
        .get(key)
        .map_err(|e| refuse("config", format!("configs/inference.json: {e}")))?
    else {
        return Ok(None);
    };
    let numbers: Option<Vec<f64>> = value
        .as_array()
        .and_then(|items| items.iter().map(Value::as_f64).collect());
    match numbers {
        Some(n) if (1..=3).contains(&n.len()) && n.iter().all(|v| v.is_finite()) => Ok(Some(n)),
        _ => Err(refuse(
            "config",
            format!("`{key}` is {value}, not a list of 1 to 3 numbers"),
        )),
    }
}

/// The decoder's window from `autoencoder_sliding_window_infer_size` and `_overlap`.
fn sliding_window(
    config: &BundleConfig,
    spatial: &[usize],
    refuse: Refuse<'_>,
) -> Result<Option<SlidingWindowSpec>, ConvertError> {
    let Some(roi) = numbers(config, "autoencoder_sliding_window_infer_size", refuse)? else {
        return Ok(None);
    };
    let roi: Vec<usize> = roi.iter().map(|&v| v as usize).collect();
    let overlap = config
        .get("autoencoder_sliding_window_infer_overlap")
        .map_err(|e| refuse("config", format!("configs/inference.json: {e}")))?
        .map_or(Some(0.25), |v| v.as_f64());
    let overlap = match overlap {
        Some(o) if (0.0..1.0).contains(&o) => o,
        _ => {
            return Err(refuse(
                "config",
                "`autoencoder_sliding_window_infer_overlap` is not a number in [0, 1)".into(),
            ));
        }
    };
    if roi.len() != spatial.len() || roi.contains(&0) {
        return Err(refuse(
            "config",
            format!(
                "`autoencoder_sliding_window_infer_size` {roi:?} does not give one size per \
                 latent axis of {spatial:?}"
            ),
        ));
    }
    if roi.iter().zip(spatial).all(|(r, s)| r >= s) {
        return Ok(None);
    }
    if roi.iter().zip(spatial).any(|(r, s)| r > s) {
        return Err(refuse(
            "config",
            format!(
                "`autoencoder_sliding_window_infer_size` {roi:?} is larger than the latent \
                 {spatial:?} on some axes only (MONAI would pad the latent): not supported"
            ),
        ));
    }
    Ok(Some(SlidingWindowSpec {
        roi,
        overlap,
        mode: BlendMode::Gaussian,
        sigma_scale: 0.125,
    }))
}

/// The scale factor: a number, or read from a checkpoint (`$@checkpoint['scale_factor']`).
type ScaleFactor = (f64, Option<(String, String)>);

fn scale_factor(
    config: &BundleConfig,
    dir: &Path,
    refuse: Refuse<'_>,
) -> Result<ScaleFactor, ConvertError> {
    let raw = config.raw("scale_factor").cloned();
    match raw {
        None => Ok((1.0, None)),
        Some(Value::String(text)) if text.starts_with("$@") => {
            let (path, key) = monai::checkpoint_value(config, &text).ok_or_else(|| {
                refuse(
                    "config",
                    format!(
                        "`scale_factor` is `{text}`: expected a number or \
                         `$@checkpoint['key']` of a `$torch.load(@path)` entry"
                    ),
                )
            })?;
            let file = monai::bundle_file(dir, &path).map_err(|e| refuse("missing_weights", e))?;
            Ok((1.0, Some((file.display().to_string(), key))))
        }
        Some(_) => {
            let value = config
                .get("scale_factor")
                .map_err(|e| refuse("config", format!("configs/inference.json: {e}")))?
                .and_then(|v| v.as_f64());
            match value {
                Some(s) if s.is_finite() && s != 0.0 => Ok((s, None)),
                _ => Err(refuse(
                    "config",
                    "`scale_factor` is not a finite non-zero number".into(),
                )),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A bundle folder with `config` as configs/inference.json and empty weights files.
    fn bundle(config: &Value) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("configs")).unwrap();
        std::fs::create_dir_all(dir.path().join("models")).unwrap();
        std::fs::write(
            dir.path().join("configs/inference.json"),
            config.to_string(),
        )
        .unwrap();
        std::fs::write(
            dir.path().join("configs/metadata.json"),
            json!({"name": "tiny", "version": "0.1"}).to_string(),
        )
        .unwrap();
        for file in ["unet.pt", "autoencoder.pt"] {
            std::fs::write(dir.path().join("models").join(file), b"").unwrap();
        }
        dir
    }

    /// The forms of maisi_ct_generative's and NV-Generate's configs, tiny.
    fn maisi_config() -> Value {
        json!({
            "bundle_root": ".",
            "model_dir": "$@bundle_root + '/models'",
            "device": "$torch.device('cpu')",
            "trained_autoencoder_path": "$@model_dir + '/autoencoder.pt'",
            "trained_diffusion_path": "$@model_dir + '/unet.pt'",
            "num_inference_steps": 10,
            "spatial_dims": 3,
            "latent_channels": 4,
            "output_size_xy": 32,
            "output_size_z": 16,
            "output_size": ["@output_size_xy", "@output_size_xy", "@output_size_z"],
            "spacing": [1.5, 1.5, 2.0],
            "modality": 1,
            "latent_shape": ["@latent_channels", "$@output_size[0]//4", "$@output_size[1]//4", "$@output_size[2]//4"],
            "autoencoder_sliding_window_infer_size": [4, 4, 4],
            "autoencoder_sliding_window_infer_overlap": 0.25,
            "autoencoder_def": {
                "_target_": "monai.apps.generation.maisi.networks.autoencoderkl_maisi.AutoencoderKlMaisi",
                "spatial_dims": "@spatial_dims", "in_channels": 1, "out_channels": 1,
                "latent_channels": "@latent_channels"
            },
            "diffusion_unet_def": {
                "_target_": "monai.apps.generation.maisi.networks.diffusion_model_unet_maisi.DiffusionModelUNetMaisi",
                "spatial_dims": "@spatial_dims", "in_channels": "@latent_channels",
                "out_channels": "@latent_channels", "include_spacing_input": true,
                "num_class_embeds": 4
            },
            "autoencoder": "$@autoencoder_def.to(@device)",
            "checkpoint_autoencoder": "$torch.load(@trained_autoencoder_path, weights_only=True)",
            "load_autoencoder": "$@autoencoder.load_state_dict(@checkpoint_autoencoder)",
            "diffusion_unet": "$@diffusion_unet_def.to(@device)",
            "checkpoint_diffusion_unet": "$torch.load(@trained_diffusion_path, weights_only=False)",
            "load_diffusion": "$@diffusion_unet.load_state_dict(@checkpoint_diffusion_unet['unet_state_dict'])",
            "scale_factor": "$@checkpoint_diffusion_unet['scale_factor'].to(@device)",
            "noise_scheduler": {
                "_target_": "monai.networks.schedulers.rectified_flow.RFlowScheduler",
                "num_train_timesteps": 1000, "use_discrete_timesteps": false,
                "use_timestep_transform": true, "sample_method": "uniform", "scale": 1.4
            },
            "ldm_sampler": {"_target_": "scripts.sample.LDMSampler", "noise_scheduler": "@noise_scheduler"}
        })
    }

    fn refusal(config: &Value) -> String {
        let dir = bundle(config);
        monai::plan(dir.path(), "tiny").unwrap_err().to_string()
    }

    #[test]
    fn a_maisi_shaped_rflow_bundle_is_planned_from_its_json() {
        let dir = bundle(&maisi_config());
        let plan = monai::plan(dir.path(), "tiny").unwrap();
        assert_eq!(plan.latent_shape, [4, 8, 8, 4]);
        assert_eq!(plan.scheduler, "monai.networks.schedulers.RFlowScheduler");
        assert_eq!(plan.prediction, "flow");
        assert_eq!(plan.steps, 10);
        assert_eq!(plan.network.state_key.as_deref(), Some("unet_state_dict"));
        assert_eq!(plan.network.weights, Path::new("models/unet.pt"));
        assert_eq!(plan.autoencoder.state_key, None);
        let maisi = plan.maisi.as_ref().unwrap();
        assert_eq!(maisi.output_size, [32, 32, 16]);
        assert_eq!(maisi.spacing.as_deref(), Some(&[1.5, 1.5, 2.0][..]));
        assert_eq!((maisi.classes, maisi.label), (Some(4), Some(1)));
        let window = maisi.sliding_window.as_ref().unwrap();
        assert_eq!((window.roi.clone(), window.overlap), (vec![4, 4, 4], 0.25));
        assert_eq!(
            maisi.scale_factor_from,
            Some(("models/unet.pt".into(), "scale_factor".into()))
        );
        assert!(plan.describe().contains("spacing"), "{}", plan.describe());

        // A window covering the latent: decoded whole, as MAISI's dynamic_infer does.
        let mut whole = maisi_config();
        whole["autoencoder_sliding_window_infer_size"] = json!([8, 8, 8]);
        let dir = bundle(&whole);
        let plan = monai::plan(dir.path(), "tiny").unwrap();
        assert!(plan.maisi.unwrap().sliding_window.is_none());
    }

    #[test]
    fn what_a_maisi_bundle_cannot_carry_is_refused_with_the_reason() {
        let cases: [(&str, Value, &str); 5] = [
            (
                "diffusion_unet_def",
                json!({
                    "_target_": UNETS[0], "spatial_dims": 3, "in_channels": 4, "out_channels": 4,
                    "include_top_region_index_input": true, "include_spacing_input": true
                }),
                "body-region",
            ),
            (
                "latent_shape",
                json!([4, "$@output_size[0]/4", 8, 4]),
                "Python expression",
            ),
            (
                "autoencoder_sliding_window_infer_size",
                json!([4, 16, 4]),
                "some axes only",
            ),
            ("spacing", json!([1.5, 1.5]), "`spacing`"),
            (
                "controlnet_def",
                json!({"_target_": "monai.apps.generation.maisi.networks.controlnet_maisi.ControlNetMaisi"}),
                "ControlNetMaisi",
            ),
        ];
        for (key, value, says) in cases {
            let mut config = maisi_config();
            config[key] = value;
            let error = refusal(&config);
            assert!(error.contains(says), "{key}: {error}");
        }
    }
}
