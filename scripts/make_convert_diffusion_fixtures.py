#!/usr/bin/env python3
"""Make the small diffusers pipelines that `medigan convert` turns into native packages in its
tests (crates/medigan-cli/tests/convert_diffusion.rs), and their golden samples.

Run by hand from the repository root (needs numpy, torch and diffusers==0.42.1):

    python3 scripts/make_convert_diffusion_fixtures.py

Writes tests/fixtures/convert_diffusion/, each pipeline a `save_pretrained` folder with random
small weights (seeded; no training), shaped like the real models:
- ddim_pixel/   DDIMPipeline: pixel UNet2DModel (1 channel, 16x16, blocks (16, 32), an
                attention block, as the DDPM/DDIM medical models are), DDIMScheduler;
- class_cond/   DDPMPipeline whose UNet2DModel has class embeddings (num_class_embeds 3),
                DDPMScheduler (v_prediction);
- latent_kl/    LDMPipeline with an AutoencoderKL (scaling_factor 0.5) as its `vqvae`: UNet on
                [4, 8, 8] latents, decoder to [1, 16, 16];
- latent_vq/    LDMPipeline with a VQModel (16 codes, scaling_factor 0.6) as its `vqvae`: UNet
                on [3, 8, 8] latents, decode (quantisation included) to [1, 16, 16];
- refuse_pipeline/  a StableDiffusionXLPipeline index (two text encoders and extra
                    conditioning: refused; the text-conditioned StableDiffusionPipeline fixture
                    is made by scripts/make_convert_text_fixture.py);
- refuse_scheduler/ a DDIMPipeline whose scheduler is custom code (refused);
each with README.md (the card) and LICENSE, and golden/: initial_noise.npy (float32
[N, *noise]) and samples_<K>_steps.npy: what the pipeline's own loop (its __call__, on CPU,
with the initial noise given instead of drawn; class label 1 for class_cond; DDIMScheduler
eta 0 for the DDPM pipeline, as the converter verifies) gives, mapped back from the pipeline's
[0, 1] output to the model's [-1, 1] range, float32 [N, C, H, W].
"""

from __future__ import annotations

import json
import shutil
import sys
from functools import partial
from pathlib import Path

import numpy as np
import torch
from diffusers import (
    AutoencoderKL,
    DDIMPipeline,
    DDIMScheduler,
    DDPMPipeline,
    DDPMScheduler,
    LDMPipeline,
    UNet2DModel,
    VQModel,
)

ROOT = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "convert_diffusion"
SAMPLES = 3
STEPS = 10
LICENSE = "MIT License\n\nCopyright (c) 2026 medigan test fixtures\n\nPermission is hereby granted, free of charge, to use these random test weights for any purpose.\n"


def card(title: str, text: str) -> str:
    return f"---\nlicense: mit\ntags:\n- diffusers\n- medical-imaging\n---\n\n# {title}\n\n{text}\n\nA test fixture made by scripts/make_convert_diffusion_fixtures.py: random weights, not a trained model.\n"


def randomize(module: torch.nn.Module, seed: int) -> None:
    """Random weights of a useful scale (diffusers zero-initialises some output layers)."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for parameter in module.parameters():
            parameter.copy_(torch.randn(parameter.shape, generator=generator) * 0.1)


def golden(folder: Path, pipe, noise_shape, label=None, reference_scheduler=None) -> None:
    (folder / "golden").mkdir(exist_ok=True)
    noise = torch.randn((SAMPLES, *noise_shape), generator=torch.Generator().manual_seed(7))
    np.save(folder / "golden" / "initial_noise.npy", noise.numpy().astype(np.float32))
    if reference_scheduler is not None:
        pipe = DDIMPipeline(unet=pipe.unet, scheduler=reference_scheduler)
    module = sys.modules[type(pipe).__module__]
    module.randn_tensor = lambda shape, **_: noise.clone()
    if label is not None:
        forward = pipe.unet.forward
        labels = torch.full((SAMPLES,), label, dtype=torch.long)
        pipe.unet.forward = partial(forward, class_labels=labels)
    pipe.set_progress_bar_config(disable=True)
    with torch.no_grad():
        images = pipe(batch_size=SAMPLES, num_inference_steps=STEPS, output_type="np").images
    samples = (images.astype(np.float64) * 2 - 1).transpose(0, 3, 1, 2).astype(np.float32)
    np.save(folder / "golden" / f"samples_{STEPS}_steps.npy", samples)


def fresh(name: str) -> Path:
    folder = ROOT / name
    if folder.exists():
        shutil.rmtree(folder)
    return folder


def ddim_pixel() -> None:
    folder = fresh("ddim_pixel")
    unet = UNet2DModel(
        sample_size=16, in_channels=1, out_channels=1, block_out_channels=(16, 32),
        layers_per_block=1, down_block_types=("DownBlock2D", "AttnDownBlock2D"),
        up_block_types=("AttnUpBlock2D", "UpBlock2D"), norm_num_groups=8, attention_head_dim=8,
    )
    randomize(unet, 1)
    scheduler = DDIMScheduler(num_train_timesteps=1000, beta_schedule="linear", clip_sample=True)
    pipe = DDIMPipeline(unet=unet, scheduler=scheduler)
    pipe.save_pretrained(folder, safe_serialization=True)
    (folder / "README.md").write_text(card("Tiny DDIM pixel pipeline", "A 16x16 single-channel DDIM pipeline shaped like the DDPM/DDIM mammography and chest X-ray models."))
    (folder / "LICENSE").write_text(LICENSE)
    golden(folder, pipe, (1, 16, 16))


def class_cond() -> None:
    folder = fresh("class_cond")
    unet = UNet2DModel(
        sample_size=16, in_channels=1, out_channels=1, block_out_channels=(8, 16),
        layers_per_block=1, down_block_types=("DownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "UpBlock2D"), norm_num_groups=4, num_class_embeds=3,
    )
    randomize(unet, 2)
    scheduler = DDPMScheduler(num_train_timesteps=1000, beta_schedule="squaredcos_cap_v2", prediction_type="v_prediction")
    pipe = DDPMPipeline(unet=unet, scheduler=scheduler)
    pipe.save_pretrained(folder, safe_serialization=True)
    (folder / "README.md").write_text(card("Tiny class-conditional DDPM pipeline", "A 16x16 single-channel DDPM pipeline whose UNet takes one of 3 class labels (v-prediction)."))
    (folder / "LICENSE").write_text(LICENSE)
    golden(folder, pipe, (1, 16, 16), label=1, reference_scheduler=DDIMScheduler.from_config(scheduler.config))


def latent_kl() -> None:
    folder = fresh("latent_kl")
    vae = AutoencoderKL(
        in_channels=1, out_channels=1, latent_channels=4, block_out_channels=(8, 16),
        layers_per_block=1, norm_num_groups=4, sample_size=16, scaling_factor=0.5,
        down_block_types=("DownEncoderBlock2D",) * 2, up_block_types=("UpDecoderBlock2D",) * 2,
    )
    randomize(vae, 3)
    unet = UNet2DModel(
        sample_size=8, in_channels=4, out_channels=4, block_out_channels=(8, 16),
        layers_per_block=1, down_block_types=("DownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "UpBlock2D"), norm_num_groups=4,
    )
    randomize(unet, 4)
    scheduler = DDIMScheduler(num_train_timesteps=1000, beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012, clip_sample=False)
    pipe = LDMPipeline(vqvae=vae, unet=unet, scheduler=scheduler)
    pipe.save_pretrained(folder, safe_serialization=True)
    (folder / "README.md").write_text(card("Tiny latent pipeline (AutoencoderKL)", "A latent diffusion pipeline: UNet on 4x8x8 latents, KL autoencoder decoding to 16x16 single-channel images."))
    (folder / "LICENSE").write_text(LICENSE)
    golden(folder, pipe, (4, 8, 8))


def latent_vq() -> None:
    folder = fresh("latent_vq")
    vqvae = VQModel(
        in_channels=1, out_channels=1, latent_channels=3, num_vq_embeddings=16, vq_embed_dim=3,
        block_out_channels=(8, 16), layers_per_block=1, norm_num_groups=4, sample_size=16,
        scaling_factor=0.6, down_block_types=("DownEncoderBlock2D",) * 2,
        up_block_types=("UpDecoderBlock2D",) * 2,
    )
    randomize(vqvae, 5)
    unet = UNet2DModel(
        sample_size=8, in_channels=3, out_channels=3, block_out_channels=(8, 16),
        layers_per_block=1, down_block_types=("DownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "UpBlock2D"), norm_num_groups=4,
    )
    randomize(unet, 6)
    scheduler = DDIMScheduler(num_train_timesteps=1000, beta_schedule="scaled_linear", beta_start=0.0015, beta_end=0.0195, clip_sample=False)
    pipe = LDMPipeline(vqvae=vqvae, unet=unet, scheduler=scheduler)
    pipe.save_pretrained(folder, safe_serialization=True)
    (folder / "README.md").write_text(card("Tiny latent pipeline (VQModel)", "A latent diffusion pipeline: UNet on 3x8x8 latents, VQ autoencoder (16 codes) decoding to 16x16 single-channel images, as the CompVis LDMs are."))
    (folder / "LICENSE").write_text(LICENSE)
    golden(folder, pipe, (3, 8, 8))


def refusals() -> None:
    folder = fresh("refuse_pipeline")
    folder.mkdir(parents=True)
    index = {"_class_name": "StableDiffusionXLPipeline", "_diffusers_version": "0.42.1",
             "text_encoder": ["transformers", "CLIPTextModel"], "tokenizer": ["transformers", "CLIPTokenizer"],
             "text_encoder_2": ["transformers", "CLIPTextModelWithProjection"], "tokenizer_2": ["transformers", "CLIPTokenizer"],
             "unet": ["diffusers", "UNet2DConditionModel"], "vae": ["diffusers", "AutoencoderKL"],
             "scheduler": ["diffusers", "EulerDiscreteScheduler"]}
    (folder / "model_index.json").write_text(json.dumps(index, indent=2) + "\n")
    folder = fresh("refuse_scheduler")
    # Only the index and the scheduler: the refusal comes from them, before any weight is read.
    shutil.copytree(ROOT / "ddim_pixel", folder, ignore=shutil.ignore_patterns("golden", "*.safetensors"))
    config = json.loads((folder / "scheduler" / "scheduler_config.json").read_text())
    config["_class_name"] = "MyLearnedScheduler"
    (folder / "scheduler" / "scheduler_config.json").write_text(json.dumps(config, indent=2) + "\n")
    index = json.loads((folder / "model_index.json").read_text())
    index["scheduler"] = ["my_schedulers", "MyLearnedScheduler"]
    (folder / "model_index.json").write_text(json.dumps(index, indent=2) + "\n")


def main() -> None:
    torch.manual_seed(0)
    ROOT.mkdir(parents=True, exist_ok=True)
    ddim_pixel()
    class_cond()
    latent_kl()
    latent_vq()
    refusals()
    total = sum(p.stat().st_size for p in ROOT.rglob("*") if p.is_file())
    print(f"wrote {ROOT} ({total / 1e6:.2f} MB)")


if __name__ == "__main__":
    main()
