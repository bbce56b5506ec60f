"""
medigan-rs zoo fixture 00913_ZOO_NO_LATENT: a generator that draws its own noise, 32x32 RGB.

Shaped like the zoo's generators whose catalogue entry declares no input_latent_vector_size
(00011 SinGAN, 00007): the noise maps are drawn inside with torch.randn, so the samples can be
reproduced only by seeding random, numpy and torch before the call. Images are written with
OpenCV (converted to its BGR order) as {i}.png, or returned as HxWx3 uint8 arrays. Random weights.
"""

import logging
import os

import cv2
import numpy as np
import torch
import torch.nn as nn


class ScaleGenerator(nn.Module):
    """Noise map at 8x8 -> two upsampling stages -> 32x32 RGB in [-1, 1]."""

    def __init__(self, nc: int = 3, nfc: int = 4):
        super().__init__()
        self.head = nn.Sequential(nn.Conv2d(nc, nfc, 3, 1, 1), nn.LeakyReLU(0.2))
        self.body = nn.Sequential(
            nn.Upsample(scale_factor=2, mode="nearest"),
            nn.Conv2d(nfc, nfc, 3, 1, 1),
            nn.LeakyReLU(0.2),
            nn.Upsample(scale_factor=2, mode="nearest"),
            nn.Conv2d(nfc, nfc, 3, 1, 1),
            nn.LeakyReLU(0.2),
        )
        self.tail = nn.Sequential(nn.Conv2d(nfc, nc, 3, 1, 1), nn.Tanh())

    def forward(self, noise):
        return self.tail(self.body(self.head(noise)))


def generate(model_file, num_samples, output_path, save_images: bool, noise_amp=1.0):
    """Generates num_samples RGB patches from fresh noise (random-weight fixture)."""
    netG = ScaleGenerator()
    netG.load_state_dict(torch.load(model_file, map_location="cpu")["Gs"])
    netG.eval()
    noise = noise_amp * torch.randn(num_samples, 3, 8, 8)
    with torch.no_grad():
        fakes = netG(noise).numpy()
    images = [np.clip((f.transpose(1, 2, 0) + 1) * 127.5, 0, 255).astype(np.uint8) for f in fakes]
    if not save_images:
        return images
    os.makedirs(output_path, exist_ok=True)
    for i, image in enumerate(images):
        cv2.imwrite(os.path.join(output_path, f"{i}.png"), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    logging.debug(f"Saved {num_samples} images to {output_path}")
