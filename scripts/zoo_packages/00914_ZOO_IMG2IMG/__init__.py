"""
medigan-rs zoo fixture 00914_ZOO_IMG2IMG: an image-to-image model translating 32x32 grayscale
slices (e.g. pre- to post-contrast).

Shaped like the zoo's translation models (00003 CycleGAN, 00021, 00023 pix2pixHD): it reads the
.png images of `input_path` (the package ships examples in input/), translates num_samples of
them (cycling through the inputs in name order), writes the results into output_path as
{i}_{input name} and returns nothing, whatever save_images says. Random weights.
"""

import logging
import os

import cv2
import numpy as np
import torch
import torch.nn as nn


class Translator(nn.Module):
    """A small residual network: the output is the input plus what the network adds."""

    def __init__(self, nf: int = 4):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(1, nf, 3, 1, 1),
            nn.InstanceNorm2d(nf),
            nn.ReLU(True),
            nn.Conv2d(nf, 1, 3, 1, 1),
        )

    def forward(self, x):
        return torch.tanh(x + self.body(x))


def read_inputs(input_path, image_size):
    names = sorted(n for n in os.listdir(input_path) if n.lower().endswith(".png"))
    if not names:
        raise FileNotFoundError(f"no .png images in input_path {input_path}")
    images = []
    for name in names:
        image = cv2.imread(os.path.join(input_path, name), cv2.IMREAD_GRAYSCALE)
        if image is None:
            raise ValueError(f"cannot read {name} in {input_path}")
        images.append((name, cv2.resize(image, (image_size, image_size))))
    return images


def generate(
    model_file,
    num_samples,
    output_path,
    save_images: bool,
    input_path="models/00914_ZOO_IMG2IMG/input/",
    image_size=32,
    gpu_id=None,
):
    """Translates num_samples images of input_path into output_path (random-weight fixture)."""
    image_size = int(image_size)
    device = torch.device(f"cuda:{gpu_id}" if gpu_id is not None and torch.cuda.is_available() else "cpu")
    netG = Translator()
    netG.load_state_dict(torch.load(model_file, map_location=device))
    netG.to(device).eval()
    inputs = read_inputs(input_path, image_size)
    os.makedirs(output_path, exist_ok=True)
    for i in range(num_samples):
        name, image = inputs[i % len(inputs)]
        x = torch.from_numpy(image.astype(np.float32) / 127.5 - 1.0)[None, None].to(device)
        with torch.no_grad():
            y = netG(x)[0, 0].cpu().numpy()
        out = np.clip((y + 1.0) * 127.5, 0, 255).astype(np.uint8)
        cv2.imwrite(os.path.join(output_path, f"{i}_{name}"), out)
    logging.debug(f"Translated {num_samples} images from {input_path} into {output_path}")
