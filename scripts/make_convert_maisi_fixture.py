#!/usr/bin/env python3
"""Make the small 3D rectified-flow MONAI bundle shaped like `maisi_ct_generative` / NV-Generate's
rectified-flow CT model that `medigan convert` turns into a native package in its tests
(crates/medigan-cli/tests/convert_monai.rs), and its golden samples.

Run by hand from the repository root (needs numpy, torch and monai==1.6.1):

    python3 scripts/make_convert_maisi_fixture.py

Writes tests/fixtures/convert_monai/:
- maisi_3d/        configs/inference.json with the real bundle's keys and ConfigParser forms
                   (`output_size` from `output_size_xy`/`_z`, `latent_shape` as
                   `"$@output_size[0]//4"`, the networks' `*_def` + `$@x_def.to(@device)` +
                   `$torch.load(...)` checkpoint + `load_state_dict(@checkpoint['unet_state_dict'])`,
                   `scale_factor` read from the checkpoint, `autoencoder_sliding_window_infer_size`
                   / `_overlap`, `scripts.sample.LDMSampler`, which is not shipped and not run),
                   tiny channels and random seeded weights (no training): a
                   DiffusionModelUNetMaisi (class label = modality of 4 classes, spacing input) on
                   [4, 8, 8, 4] latents, an AutoencoderKlMaisi decoder to [1, 32, 32, 16] volumes,
                   decoded in 4^3 windows (overlap 0.25), RFlowScheduler as NV-Generate's
                   (continuous timesteps, timestep transform), spacing [1.5, 1.5, 2.0], modality 1;
                   golden/initial_noise.npy (float32 [N, 4, 8, 8, 4]) and
                   golden/samples_<K>_steps.npy: MAISI's sampling loop (NV-Generate's
                   diff_model_infer.py, written here from MONAI's RFlowScheduler and
                   SlidingWindowInferer) on CPU in float32, clipped to [0, 1], [N, 1, 32, 32, 16];
- refuse_maisi_region/  the same configs with MAISI v1's body-region inputs
                   (include_top/bottom_region_index_input): refused from the configs, no weights.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import torch
from monai.apps.generation.maisi.networks.autoencoderkl_maisi import AutoencoderKlMaisi
from monai.apps.generation.maisi.networks.diffusion_model_unet_maisi import DiffusionModelUNetMaisi
from monai.inferers import SlidingWindowInferer
from monai.networks.schedulers import RFlowScheduler

ROOT = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "convert_monai"
SAMPLES = 2
STEPS = 10
SCALE_FACTOR = 0.8
LICENSE = "MIT License\n\nCopyright (c) 2026 medigan test fixtures\n\nPermission is hereby granted, free of charge, to use these random test weights for any purpose.\n"

AUTOENCODER = {
    "_target_": "monai.apps.generation.maisi.networks.autoencoderkl_maisi.AutoencoderKlMaisi",
    "spatial_dims": "@spatial_dims",
    "in_channels": "@image_channels",
    "out_channels": "@image_channels",
    "latent_channels": "@latent_channels",
    "num_channels": [8, 8, 8],
    "num_res_blocks": [1, 1, 1],
    "norm_num_groups": 4,
    "norm_eps": 1e-06,
    "attention_levels": [False, False, False],
    "with_encoder_nonlocal_attn": False,
    "with_decoder_nonlocal_attn": False,
    "use_checkpointing": False,
    "use_convtranspose": False,
    "norm_float16": False,
    "num_splits": 1,  # MaisiConvolution's splitting needs axes well over its padding of 3
    "dim_split": 1,
}
UNET = {
    "_target_": "monai.apps.generation.maisi.networks.diffusion_model_unet_maisi.DiffusionModelUNetMaisi",
    "spatial_dims": "@spatial_dims",
    "in_channels": "@latent_channels",
    "out_channels": "@latent_channels",
    "num_channels": [8, 16],
    "attention_levels": [False, True],
    "num_head_channels": [0, 8],
    "num_res_blocks": 1,
    "norm_num_groups": 4,
    "use_flash_attention": False,
    "include_top_region_index_input": "@include_body_region",
    "include_bottom_region_index_input": "@include_body_region",
    "include_spacing_input": True,
    "num_class_embeds": 4,
    "resblock_updown": True,
    "include_fc": True,
}
SCHEDULER = {
    "_target_": "monai.networks.schedulers.rectified_flow.RFlowScheduler",
    "num_train_timesteps": 1000,
    "use_discrete_timesteps": False,
    "use_timestep_transform": True,
    "sample_method": "uniform",
    "scale": 1.4,
}


def inference(body_region: bool) -> dict:
    """configs/inference.json, with the keys and forms of maisi_ct_generative."""
    return {
        "imports": ["$import torch", "$from pathlib import Path", "$import scripts"],
        "bundle_root": ".",
        "model_dir": "$@bundle_root + '/models'",
        "output_dir": "$@bundle_root + '/output'",
        "create_output_dir": "$Path(@output_dir).mkdir(exist_ok=True)",
        "device": "$torch.device('cuda:0' if torch.cuda.is_available() else 'cpu')",
        "trained_autoencoder_path": "$@model_dir + '/autoencoder.pt'",
        "trained_diffusion_path": "$@model_dir + '/diff_unet_rflow.pt'",
        "num_output_samples": 1,
        "num_inference_steps": 30,
        "random_seed": None,
        "spatial_dims": 3,
        "image_channels": 1,
        "latent_channels": 4,
        "include_body_region": body_region,
        "output_size_xy": 32,
        "output_size_z": 16,
        "output_size": ["@output_size_xy", "@output_size_xy", "@output_size_z"],
        "image_output_ext": ".nii.gz",
        "spacing_xy": 1.5,
        "spacing_z": 2.0,
        "spacing": ["@spacing_xy", "@spacing_xy", "@spacing_z"],
        "modality": 1,
        "latent_shape": ["@latent_channels", "$@output_size[0]//4", "$@output_size[1]//4", "$@output_size[2]//4"],
        "autoencoder_sliding_window_infer_size": [4, 4, 4],
        "autoencoder_sliding_window_infer_overlap": 0.25,
        "autoencoder_def": AUTOENCODER,
        "diffusion_unet_def": UNET,
        "autoencoder": "$@autoencoder_def.to(@device)",
        "checkpoint_autoencoder": "$torch.load(@trained_autoencoder_path, weights_only=True)",
        "load_autoencoder": "$@autoencoder.load_state_dict(@checkpoint_autoencoder)",
        "diffusion_unet": "$@diffusion_unet_def.to(@device)",
        "checkpoint_diffusion_unet": "$torch.load(@trained_diffusion_path, weights_only=False)",
        "load_diffusion": "$@diffusion_unet.load_state_dict(@checkpoint_diffusion_unet['unet_state_dict'])",
        "scale_factor": "$@checkpoint_diffusion_unet['scale_factor'].to(@device)",
        "noise_scheduler": SCHEDULER,
        "ldm_sampler": {
            "_target_": "scripts.sample.LDMSampler",
            "_requires_": ["@create_output_dir", "@load_diffusion", "@load_autoencoder"],
            "autoencoder": "@autoencoder",
            "diffusion_unet": "@diffusion_unet",
            "scale_factor": "@scale_factor",
            "noise_scheduler": "@noise_scheduler",
            "latent_shape": "@latent_shape",
            "output_size": "@output_size",
            "spacing": "@spacing",
            "modality": "@modality",
            "num_inference_steps": "@num_inference_steps",
            "autoencoder_sliding_window_infer_size": "@autoencoder_sliding_window_infer_size",
            "autoencoder_sliding_window_infer_overlap": "@autoencoder_sliding_window_infer_overlap",
        },
        "run": ["$@ldm_sampler.sample_multiple_images(@num_output_samples)"],
    }


def metadata(name: str) -> dict:
    return {
        "version": "0.1.0",
        "monai_version": "1.6.1",
        "pytorch_version": "2.4.0",
        "name": name,
        "task": "CT volume synthesis (test fixture)",
        "description": "A tiny 3D rectified-flow latent diffusion bundle with random weights, shaped like maisi_ct_generative",
        "authors": "medigan test fixtures",
        "copyright": "Copyright (c) 2026 medigan test fixtures",
        "image_classes": "CT volumes (random weights)",
        "intended_use": "Tests of medigan convert only",
    }


def randomize(module: torch.nn.Module, seed: int, scale: float = 0.1) -> None:
    """Random weights of a useful scale (MONAI zero-initialises some output layers)."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for parameter in module.parameters():
            parameter.copy_(torch.randn(parameter.shape, generator=generator) * scale)


def resolve(value, config):
    """The literal arguments of a config object (its `@name` references replaced)."""
    if isinstance(value, str) and value.startswith("@"):
        return resolve(config[value[1:]], config)
    if isinstance(value, list):
        return [resolve(v, config) for v in value]
    if isinstance(value, dict):
        return {k: resolve(v, config) for k, v in value.items() if not k.startswith("_")}
    return value


def bundle(name: str, body_region: bool) -> tuple[Path, dict]:
    folder = ROOT / name
    shutil.rmtree(folder, ignore_errors=True)
    for sub in ("configs", "models", "docs"):
        (folder / sub).mkdir(parents=True)
    config = inference(body_region)
    (folder / "configs" / "inference.json").write_text(json.dumps(config, indent=4) + "\n")
    (folder / "configs" / "metadata.json").write_text(json.dumps(metadata(name), indent=4) + "\n")
    (folder / "docs" / "README.md").write_text(f"# {name}\n\nA test fixture made by scripts/make_convert_maisi_fixture.py: random weights, not a trained model.\n")
    (folder / "LICENSE").write_text(LICENSE)
    return folder, config


def maisi_loop(unet, autoencoder, noise, config) -> torch.Tensor:
    """NV-Generate's diff_model_infer.py loop on CPU, float32, every sample at once."""
    scheduler = RFlowScheduler(**resolve(SCHEDULER, config))
    latent = noise.shape[2:]
    scheduler.set_timesteps(num_inference_steps=STEPS, input_img_size_numel=int(np.prod(latent)))
    timesteps = scheduler.timesteps
    following = torch.cat((timesteps[1:], torch.tensor([0], dtype=timesteps.dtype)))
    n = noise.shape[0]
    spacing = torch.tensor([resolve(config["spacing"], config)] * n, dtype=torch.float32) * 1e2
    modality = torch.full((n,), config["modality"], dtype=torch.long)
    image = noise
    for t, next_t in zip(timesteps, following):
        output = unet(x=image, timesteps=torch.full((n,), float(t)), class_labels=modality, spacing_tensor=spacing)
        image, _ = scheduler.step(output, t, image, next_t)
    inferer = SlidingWindowInferer(
        roi_size=config["autoencoder_sliding_window_infer_size"], sw_batch_size=1, mode="gaussian",
        overlap=config["autoencoder_sliding_window_infer_overlap"])
    return inferer(inputs=image, network=lambda z: autoencoder.decode_stage_2_outputs(z / SCALE_FACTOR))


def main() -> None:
    torch.manual_seed(0)
    folder, config = bundle("maisi_3d", False)
    unet = DiffusionModelUNetMaisi(**resolve(config["diffusion_unet_def"], config)).eval()
    autoencoder = AutoencoderKlMaisi(**resolve(config["autoencoder_def"], config)).eval()
    randomize(unet, 1)
    randomize(autoencoder, 2)
    with torch.no_grad():  # decoded values mostly inside [0, 1]
        autoencoder.decoder.blocks[-1].conv.conv.bias.fill_(0.5)
    torch.save({"unet_state_dict": unet.state_dict(), "scale_factor": torch.tensor(SCALE_FACTOR)},
               folder / "models" / "diff_unet_rflow.pt")
    torch.save(autoencoder.state_dict(), folder / "models" / "autoencoder.pt")
    (folder / "golden").mkdir()
    latent = resolve(config["latent_shape"][:1], config) + [32 // 4, 32 // 4, 16 // 4]
    noise = torch.randn((SAMPLES, *latent), generator=torch.Generator().manual_seed(7))
    np.save(folder / "golden" / "initial_noise.npy", noise.numpy().astype(np.float32))
    with torch.no_grad():
        samples = maisi_loop(unet, autoencoder, noise, config).clamp(0, 1).numpy().astype(np.float32)
    inside = float(((samples > 0) & (samples < 1)).mean())
    print(f"maisi_3d: {samples.shape}, {inside:.0%} of the golden values inside (0, 1)")
    np.save(folder / "golden" / f"samples_{STEPS}_steps.npy", samples)

    refuse, _ = bundle("refuse_maisi_region", True)
    (refuse / "models" / "README").write_text("No weights: refused from the configs before any weights are read.\n")
    total = sum(f.stat().st_size for f in (folder, refuse) for f in f.rglob("*") if f.is_file())
    print(f"wrote {folder} and {refuse} ({total / 1024:.0f} KiB)")


if __name__ == "__main__":
    main()
