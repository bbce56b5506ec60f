"""
medigan-rs zoo fixture 00912_ZOO_IMAGE_MASK: a GAN generating 32x32 RGB patches with their mask.

Shaped like the polyp generators of the medigan zoo (00009 ProGAN-4ch, 00010 FastGAN): one
network with four output channels, RGB image and segmentation mask, and a `save_option`:
  "image_and_mask"      returns (image HxWx3, mask HxW) pairs; writes {i}_img.png, {i}_mask.png
  "image_only"          returns images;                   writes {i}_img.png
  "mask_only"           returns masks;                    writes {i}_mask.png
  "image_and_mask_4ch"  returns HxWx4 arrays (mask as 4th channel); writes {i}.png (4 channels)
Images are written with OpenCV (converted to its BGR order). Random weights.
"""

import logging
import os

import cv2
import numpy as np
import torch
import torch.nn as nn

NZ = 128
SAVE_OPTIONS = ("image_and_mask", "image_only", "mask_only", "image_and_mask_4ch")


class Generator(nn.Module):
    def __init__(self, nz: int, ngf: int, img_channels: int):
        super().__init__()
        self.nz = nz
        self.main = nn.Sequential(
            nn.ConvTranspose2d(nz, ngf * 4, 4, 1, 0, bias=False),
            nn.BatchNorm2d(ngf * 4),
            nn.GLU(dim=1),
            # state size. (ngf*2) x 4 x 4
            nn.ConvTranspose2d(ngf * 2, ngf * 2, 4, 2, 1, bias=False),
            nn.BatchNorm2d(ngf * 2),
            nn.LeakyReLU(0.2, True),
            # state size. (ngf*2) x 8 x 8
            nn.ConvTranspose2d(ngf * 2, ngf, 4, 2, 1, bias=False),
            nn.BatchNorm2d(ngf),
            nn.LeakyReLU(0.2, True),
            # state size. (ngf) x 16 x 16
            nn.ConvTranspose2d(ngf, img_channels, 4, 2, 1, bias=False),
            nn.Tanh(),
            # state size. (img_channels) x 32 x 32
        )

    def forward(self, z):
        return self.main(z)


def to_uint8(x):
    return np.clip((x + 1.0) * 127.5, 0, 255).astype(np.uint8)


def generate(
    model_file,
    num_samples,
    output_path,
    save_images: bool,
    save_option="image_and_mask",
    gpu_id=None,
    input_latent_vector=None,
):
    """Generates num_samples RGB patches and masks (random-weight fixture)."""
    if save_option not in SAVE_OPTIONS:
        raise ValueError(f"save_option must be one of {SAVE_OPTIONS}, got {save_option!r}")
    use_cuda = gpu_id is not None and torch.cuda.is_available()
    device = torch.device(f"cuda:{gpu_id}" if use_cuda else "cpu")
    generator = Generator(nz=NZ, ngf=4, img_channels=4)
    generator.load_state_dict(torch.load(model_file, map_location=device))
    generator.to(device).eval()
    if input_latent_vector is None:
        noise = torch.randn(num_samples, NZ, 1, 1, device=device)
    else:
        noise = torch.from_numpy(np.asarray(input_latent_vector, dtype=np.float32))
        noise = noise.reshape(-1, NZ, 1, 1).to(device)
    with torch.no_grad():
        fakes = generator(noise).cpu().numpy()
    results = []
    for i, fake in enumerate(fakes):
        image = to_uint8(fake[0:3].transpose(1, 2, 0))
        mask = np.where(fake[3] > 0, 255, 0).astype(np.uint8)
        if save_option == "image_and_mask":
            results.append((image, mask))
        elif save_option == "image_only":
            results.append(image)
        elif save_option == "mask_only":
            results.append(mask)
        else:
            results.append(np.concatenate([image, mask[:, :, None]], axis=2))
        if save_images:
            os.makedirs(output_path, exist_ok=True)
            if save_option in ("image_and_mask", "image_only"):
                cv2.imwrite(f"{output_path}/{i}_img.png", cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
            if save_option in ("image_and_mask", "mask_only"):
                cv2.imwrite(f"{output_path}/{i}_mask.png", mask)
            if save_option == "image_and_mask_4ch":
                cv2.imwrite(f"{output_path}/{i}.png", cv2.cvtColor(results[-1], cv2.COLOR_RGBA2BGRA))
    logging.debug(f"Generated {num_samples} samples (save_option={save_option})")
    if not save_images:
        return results
