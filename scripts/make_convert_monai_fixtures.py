#!/usr/bin/env python3
"""Make the small MONAI bundles that `medigan convert` turns into native packages in its tests
(crates/medigan-cli/tests/convert_monai.rs), and their golden samples.

Run by hand from the repository root (needs numpy, torch and monai==1.6.1):

    python3 scripts/make_convert_monai_fixtures.py

Writes tests/fixtures/convert_monai/, each a MONAI bundle folder (configs/inference.json,
configs/metadata.json, models/*.pt, docs/README.md, LICENSE) with random small weights (seeded;
no training), its configs shaped like brats_mri_axial_slices_generative_diffusion's (the same
keys and ConfigParser forms: `@` references, `$@a + '/b'` paths, `_requires_`, the
`set_timesteps` expression), tiny channels:
- ldm_2d/           DiffusionModelUNet on [1, 8, 8] latents + AutoencoderKL decoder to
                    [1, 16, 16], DDPMScheduler (scaled_linear_beta),
                    monai.inferers.LatentDiffusionInferer with scale_factor 0.7;
- refuse_script/    the same with the real bundle's inferer, `scripts.ldm_sampler.LDMSampler`
                    (bundle code: refused);
- refuse_text/      a DiffusionModelUNet with cross-attention conditioning (refused);
and golden/ for ldm_2d: initial_noise.npy (float32 [N, *latent]) and samples_<K>_steps.npy:
MONAI's own `LatentDiffusionInferer.sample` (CPU, the initial noise given; a DDIMScheduler made
from the bundle's scheduler arguments, eta 0, as the converter verifies), clipped to the
declared value_range [0, 1], float32 [N, C, H, W].
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import torch
from monai.inferers import LatentDiffusionInferer
from monai.networks.nets import AutoencoderKL, DiffusionModelUNet
from monai.networks.schedulers import DDIMScheduler

ROOT = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "convert_monai"
SAMPLES = 3
STEPS = 10
LICENSE = "MIT License\n\nCopyright (c) 2026 medigan test fixtures\n\nPermission is hereby granted, free of charge, to use these random test weights for any purpose.\n"

AUTOENCODER = {
    "_target_": "monai.networks.nets.autoencoderkl.AutoencoderKL",
    "spatial_dims": "@spatial_dims",
    "in_channels": "@image_channels",
    "out_channels": "@image_channels",
    "latent_channels": "@latent_channels",
    "channels": [8, 8],
    "num_res_blocks": 1,
    "norm_num_groups": 4,
    "norm_eps": 1e-06,
    "attention_levels": [False, False],
    "with_encoder_nonlocal_attn": False,
    "with_decoder_nonlocal_attn": True,
    "include_fc": False,
}
NETWORK = {
    "_target_": "monai.networks.nets.diffusion_model_unet.DiffusionModelUNet",
    "spatial_dims": "@spatial_dims",
    "in_channels": "@latent_channels",
    "out_channels": "@latent_channels",
    "channels": [8, 16],
    "attention_levels": [False, True],
    "num_head_channels": [0, 8],
    "num_res_blocks": 1,
    "norm_num_groups": 4,
    "include_fc": False,
    "use_combined_linear": False,
}
SCHEDULER = {
    "_target_": "monai.networks.schedulers.ddpm.DDPMScheduler",
    "_requires_": ["@load_diffusion", "@load_autoencoder"],
    "num_train_timesteps": 1000,
    "beta_start": 0.0015,
    "beta_end": 0.0195,
    "schedule": "scaled_linear_beta",
    "clip_sample": False,
}


def inference(network: dict, inferer: dict) -> dict:
    """configs/inference.json, with the keys and forms of the real 2D bundle."""
    return {
        "imports": ["$import torch", "$from datetime import datetime", "$from pathlib import Path", "$import os"],
        "bundle_root": ".",
        "model_dir": "$@bundle_root + '/models'",
        "output_dir": "$@bundle_root + '/output'",
        "create_output_dir": "$Path(@output_dir).mkdir(exist_ok=True)",
        "device": "$torch.device('cuda:0' if torch.cuda.is_available() else 'cpu')",
        "spatial_dims": 2,
        "image_channels": 1,
        "latent_channels": 1,
        "latent_shape": ["@latent_channels", 8, 8],
        "autoencoder_def": AUTOENCODER,
        "network_def": network,
        "load_autoencoder_path": "$@bundle_root + '/models/model_autoencoder.pt'",
        "load_autoencoder": "$@autoencoder_def.load_old_state_dict(torch.load(@load_autoencoder_path))",
        "autoencoder": "$@autoencoder_def.to(@device)",
        "load_diffusion_path": "$@model_dir + '/model.pt'",
        "load_diffusion": "$@network_def.load_old_state_dict(torch.load(@load_diffusion_path))",
        "diffusion": "$@network_def.to(@device)",
        "noise_scheduler": SCHEDULER,
        "noise": "$torch.randn([1]+@latent_shape).to(@device)",
        "set_timesteps": "$@noise_scheduler.set_timesteps(num_inference_steps=50)",
        "inferer": inferer,
        "run": ["$@create_output_dir", "$@inferer.sample(input_noise=@noise, autoencoder_model=@autoencoder, diffusion_model=@diffusion, scheduler=@noise_scheduler)"],
    }


def metadata(name: str) -> dict:
    return {
        "version": "0.1.0",
        "monai_version": "1.6.1",
        "pytorch_version": "2.4.0",
        "name": name,
        "task": "Brain MRI axial slice synthesis (test fixture)",
        "description": "A tiny latent diffusion bundle with random weights, shaped like brats_mri_axial_slices_generative_diffusion",
        "authors": "medigan test fixtures",
        "copyright": "Copyright (c) 2026 medigan test fixtures",
        "image_classes": "Flair brain MRI axial slices (random weights)",
        "intended_use": "Tests of medigan convert only",
        "autoencoder_data_format": {"outputs": {"pred": {"type": "image", "num_channels": 1, "spatial_shape": [16, 16], "dtype": "float32", "value_range": [0, 1]}}},
        "network_data_format": {"inputs": {"latent": {"type": "noise", "num_channels": 1, "spatial_shape": [8, 8], "dtype": "float32"}}},
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


def bundle(name: str, network: dict, inferer: dict) -> Path:
    folder = ROOT / name
    shutil.rmtree(folder, ignore_errors=True)
    (folder / "configs").mkdir(parents=True)
    (folder / "models").mkdir()
    (folder / "docs").mkdir()
    config = inference(network, inferer)
    (folder / "configs" / "inference.json").write_text(json.dumps(config, indent=4) + "\n")
    (folder / "configs" / "metadata.json").write_text(json.dumps(metadata(name), indent=4) + "\n")
    (folder / "docs" / "README.md").write_text(f"# {name}\n\nA test fixture made by scripts/make_convert_monai_fixtures.py: random weights, not a trained model.\n")
    (folder / "LICENSE").write_text(LICENSE)
    return folder


def weights(folder: Path, config: dict, with_weights: bool):
    unet = DiffusionModelUNet(**resolve(config["network_def"], config)).eval()
    autoencoder = AutoencoderKL(**resolve(config["autoencoder_def"], config)).eval()
    randomize(unet, 1)
    randomize(autoencoder, 2)
    with torch.no_grad():  # decoded values mostly inside the declared [0, 1]
        autoencoder.decoder.blocks[-1].conv.bias.fill_(0.5)
    if with_weights:
        torch.save(unet.state_dict(), folder / "models" / "model.pt")
        torch.save(autoencoder.state_dict(), folder / "models" / "model_autoencoder.pt")
    return unet, autoencoder


def golden(folder: Path, config: dict, unet, autoencoder, scale_factor: float) -> None:
    (folder / "golden").mkdir()
    latent = resolve(config["latent_shape"], config)
    noise = torch.randn((SAMPLES, *latent), generator=torch.Generator().manual_seed(7))
    np.save(folder / "golden" / "initial_noise.npy", noise.numpy().astype(np.float32))
    args = {k: v for k, v in resolve(config["noise_scheduler"], config).items() if k != "variance_type"}
    scheduler = DDIMScheduler(**args)
    scheduler.set_timesteps(num_inference_steps=STEPS)
    inferer = LatentDiffusionInferer(scheduler, scale_factor=scale_factor)
    with torch.no_grad():
        images = inferer.sample(input_noise=noise, autoencoder_model=autoencoder, diffusion_model=unet, scheduler=scheduler, verbose=False)
    samples = images.clamp(0, 1).numpy().astype(np.float32)
    inside = float(((samples > 0) & (samples < 1)).mean())
    print(f"{folder.name}: {inside:.0%} of the golden values inside (0, 1)")
    np.save(folder / "golden" / f"samples_{STEPS}_steps.npy", samples)


def main() -> None:
    torch.manual_seed(0)
    inferer = {"_target_": "monai.inferers.LatentDiffusionInferer", "_requires_": "@set_timesteps", "scheduler": "@noise_scheduler", "scale_factor": 0.7}
    folder = bundle("ldm_2d", NETWORK, inferer)
    config = json.loads((folder / "configs" / "inference.json").read_text())
    unet, autoencoder = weights(folder, config, True)
    golden(folder, config, unet, autoencoder, 0.7)

    script = {"_target_": "scripts.ldm_sampler.LDMSampler", "_requires_": "@set_timesteps"}
    bundle("refuse_script", NETWORK, script)
    text = dict(NETWORK, with_conditioning=True, cross_attention_dim=8)
    bundle("refuse_text", text, inferer)
    for name in ("refuse_script", "refuse_text"):
        (ROOT / name / "models" / "README").write_text("No weights: refused from the configs before any weights are read.\n")
    total = sum(f.stat().st_size for f in ROOT.rglob("*") if f.is_file())
    print(f"wrote {ROOT} ({total / 1024:.0f} KiB)")


if __name__ == "__main__":
    main()
