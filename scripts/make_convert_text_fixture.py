#!/usr/bin/env python3
"""Make the small text-conditioned diffusers pipeline that `medigan convert --prompts` turns into
a native package with precomputed prompt embeddings in its tests
(crates/medigan-cli/tests/convert_diffusion.rs), and its golden samples.

Run by hand from the repository root (needs numpy, torch, diffusers==0.42.1, transformers):

    python3 scripts/make_convert_text_fixture.py

Writes tests/fixtures/convert_diffusion/text_sd/, a `save_pretrained` StableDiffusionPipeline
folder with random small weights (seeded; no training), shaped like RoentGen / Stable Diffusion
v1: a CLIPTokenizer (a character vocabulary written here, 48 tokens per prompt) and a
CLIPTextModel (2 layers, width 16) built from their configs, a UNet2DConditionModel on
[4, 8, 8] latents with cross-attention to the [48, 16] text embeddings, an AutoencoderKL
(scaling_factor 0.18215) decoding to [3, 16, 16], the PNDMScheduler of Stable Diffusion v1;
README.md (the card), LICENSE, prompts.txt (the prompts the converted package declares) and
golden/: initial_noise.npy (float32 [N, 4, 8, 8]) and samples_<K>_steps_<P>.npy: what the
pipeline's own loop (its __call__ on CPU with `latents=` that noise, `prompt=` the P-th line of
prompts.txt, its default guidance scale 7.5 against the empty prompt) gives, mapped back from
the pipeline's [0, 1] output to the model's [-1, 1] range, float32 [N, C, H, W].
"""

from __future__ import annotations

import json
import shutil
import string
from pathlib import Path

import numpy as np
import torch
from diffusers import AutoencoderKL, PNDMScheduler, StableDiffusionPipeline, UNet2DConditionModel
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

ROOT = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "convert_diffusion" / "text_sd"
SAMPLES = 2
STEPS = 8
GUIDANCE = 7.5
PROMPTS = ["chest x-ray, no finding", "chest x-ray, small left pleural effusion"]
LICENSE = "MIT License\n\nCopyright (c) 2026 medigan test fixtures\n\nPermission is hereby granted, free of charge, to use these random test weights for any purpose.\n"
CARD = """---
license: mit
tags:
- diffusers
- text-to-image
- medical-imaging
---

# Tiny text-conditioned latent pipeline

A StableDiffusionPipeline shaped like RoentGen (Stable Diffusion v1 fine-tuned on chest X-ray
reports): CLIP text encoder, cross-attention UNet on 4x8x8 latents, KL autoencoder decoding to
16x16 RGB images, PNDM scheduler.

A test fixture made by scripts/make_convert_text_fixture.py: random weights, not a trained model.
"""


def randomize(module: torch.nn.Module, seed: int, scale: float, cross_attention: float | None = None) -> None:
    """Random weights of a useful scale (diffusers zero-initialises some output layers); the
    UNet's cross-attention (`attn2`) larger, so that the prompt visibly changes the samples."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, parameter in module.named_parameters():
            s = cross_attention if cross_attention is not None and "attn2" in name else scale
            parameter.copy_(torch.randn(parameter.shape, generator=generator) * s)


def tokenizer(folder: Path) -> CLIPTokenizer:
    """A CLIP BPE tokenizer over single characters (no merges): every prompt tokenizes."""
    symbols = list(string.ascii_lowercase + string.digits + ",.-:;()'/")
    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    for s in symbols:
        vocab.setdefault(s, len(vocab))
        vocab.setdefault(s + "</w>", len(vocab))
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "vocab.json").write_text(json.dumps(vocab))
    (folder / "merges.txt").write_text("#version: 0.2\n")
    return CLIPTokenizer(str(folder / "vocab.json"), str(folder / "merges.txt"), model_max_length=48,
                         pad_token="<|endoftext|>")


def main() -> None:
    torch.manual_seed(0)
    if ROOT.exists():
        shutil.rmtree(ROOT)
    scratch = ROOT.parent / ".text_sd_tokenizer"
    tok = tokenizer(scratch)
    text_encoder = CLIPTextModel(CLIPTextConfig(
        vocab_size=len(tok), hidden_size=16, intermediate_size=32, num_hidden_layers=2,
        num_attention_heads=2, max_position_embeddings=48, bos_token_id=0, eos_token_id=1,
        pad_token_id=1, projection_dim=16,
    ))
    randomize(text_encoder, 11, 0.3)
    unet = UNet2DConditionModel(
        sample_size=8, in_channels=4, out_channels=4, block_out_channels=(8, 16), layers_per_block=1,
        down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"), cross_attention_dim=16,
        norm_num_groups=4, attention_head_dim=4,
    )
    randomize(unet, 12, 0.2, cross_attention=0.5)
    vae = AutoencoderKL(
        in_channels=3, out_channels=3, latent_channels=4, block_out_channels=(8, 16),
        layers_per_block=1, norm_num_groups=4, sample_size=16, scaling_factor=0.18215,
        down_block_types=("DownEncoderBlock2D",) * 2, up_block_types=("UpDecoderBlock2D",) * 2,
    )
    randomize(vae, 13, 0.2)
    scheduler = PNDMScheduler(num_train_timesteps=1000, beta_start=0.00085, beta_end=0.012,
                              beta_schedule="scaled_linear", skip_prk_steps=True, steps_offset=1,
                              set_alpha_to_one=False)
    pipe = StableDiffusionPipeline(vae=vae, text_encoder=text_encoder, tokenizer=tok, unet=unet,
                                   scheduler=scheduler, safety_checker=None, feature_extractor=None,
                                   requires_safety_checker=False)
    pipe.save_pretrained(ROOT, safe_serialization=True)
    shutil.rmtree(scratch)
    (ROOT / "README.md").write_text(CARD)
    (ROOT / "LICENSE").write_text(LICENSE)
    (ROOT / "prompts.txt").write_text("".join(p + "\n" for p in PROMPTS))

    pipe = StableDiffusionPipeline.from_pretrained(ROOT, torch_dtype=torch.float32)
    pipe.set_progress_bar_config(disable=True)
    (ROOT / "golden").mkdir()
    noise = torch.randn((SAMPLES, 4, 8, 8), generator=torch.Generator().manual_seed(7))
    np.save(ROOT / "golden" / "initial_noise.npy", noise.numpy().astype(np.float32))
    for p, prompt in enumerate(PROMPTS):
        with torch.no_grad():
            images = pipe(prompt=[prompt] * SAMPLES, latents=noise.clone(), num_inference_steps=STEPS,
                          guidance_scale=GUIDANCE, output_type="np").images
        samples = (images.astype(np.float64) * 2 - 1).transpose(0, 3, 1, 2).astype(np.float32)
        np.save(ROOT / "golden" / f"samples_{STEPS}_steps_{p}.npy", samples)
    total = sum(p.stat().st_size for p in ROOT.rglob("*") if p.is_file())
    print(f"wrote {ROOT} ({total / 1e6:.2f} MB)")


if __name__ == "__main__":
    main()
