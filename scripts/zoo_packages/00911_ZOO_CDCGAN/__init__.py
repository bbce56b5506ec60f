"""
medigan-rs zoo fixture 00911_ZOO_CDCGAN: a conditional DCGAN generating 32x32 grayscale patches.

Shaped like the conditional DCGANs of the medigan zoo (00008, 00012): the condition (0 or 1,
e.g. benign or malignant) is embedded by a linear layer and concatenated to the latent as
extra channels. `condition=None` draws one per sample; `z` (or input_latent_vector, as
medigan's model visualizer passes it) replaces the torch.randn latent. The package lives in a
folder named after its package_name inside the zip, as 00002 does. Random weights.
"""

import logging
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn as nn

NZ = 100


class Generator(nn.Module):
    def __init__(self, nz: int, ngf: int, nc: int, leakiness: float = 0.2):
        super(Generator, self).__init__()
        self.nz = nz
        # the condition (a float, 0 or 1) -> a feature map of nz x 1 x 1
        self.embed_nn = nn.Sequential(
            nn.Linear(in_features=1, out_features=nz),
            nn.LeakyReLU(leakiness, inplace=True),
        )
        self.main = nn.Sequential(
            # input is Z and the embedded condition, going into a convolution
            nn.ConvTranspose2d(nz * 2, ngf * 4, 4, 1, 0, bias=False),
            nn.BatchNorm2d(ngf * 4),
            nn.ReLU(True),
            # state size. (ngf*4) x 4 x 4
            nn.ConvTranspose2d(ngf * 4, ngf * 2, 4, 2, 1, bias=False),
            nn.BatchNorm2d(ngf * 2),
            nn.ReLU(True),
            # state size. (ngf*2) x 8 x 8
            nn.ConvTranspose2d(ngf * 2, ngf, 4, 2, 1, bias=False),
            nn.BatchNorm2d(ngf),
            nn.ReLU(True),
            # state size. (ngf) x 16 x 16
            nn.ConvTranspose2d(ngf, nc, 4, 2, 1, bias=False),
            nn.Tanh()
            # state size. (nc) x 32 x 32
        )

    def forward(self, x, conditions):
        conditions = conditions.view(conditions.size(0), -1).float()
        embedded = self.embed_nn(conditions).view(-1, self.nz, 1, 1)
        return self.main(torch.cat([x, embedded], 1))


def interval_mapping(image, from_min, from_max, to_min, to_max):
    from_range = from_max - from_min
    to_range = to_max - to_min
    scaled = np.array((image - from_min) / float(from_range), dtype=float)
    return to_min + (scaled * to_range)


def conditions_for(condition, num_samples, device):
    if condition is None:
        return torch.randint(0, 2, (num_samples,), device=device).float()
    if isinstance(condition, (list, tuple)):
        if len(condition) != num_samples:
            raise ValueError(f"{len(condition)} conditions given for {num_samples} samples")
        return torch.tensor([float(c) for c in condition], device=device)
    if int(condition) not in (0, 1):
        raise ValueError(f"condition must be 0 (benign) or 1 (malignant), got {condition}")
    return torch.full((num_samples,), float(condition), device=device)


def generate(
    model_file,
    num_samples,
    output_path,
    save_images: bool,
    condition=None,
    z=None,
    input_latent_vector=None,
):
    """Generates num_samples patches of the given condition (random-weight fixture)."""
    try:
        device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
        netG = Generator(nz=NZ, ngf=2, nc=1)
        checkpoint = torch.load(model_file, map_location=device)
        netG.load_state_dict(checkpoint["generator"])
        netG.to(device)
        netG.eval()
        latent = input_latent_vector if input_latent_vector is not None else z
        if latent is None:
            latent = torch.randn(num_samples, NZ, 1, 1, device=device)
        else:
            latent = torch.from_numpy(np.asarray(latent, dtype=np.float32))
            latent = latent.reshape(-1, NZ, 1, 1).to(device)
            num_samples = latent.shape[0]
        conditions = conditions_for(condition, num_samples, device)
        with torch.no_grad():
            images = netG(latent, conditions).detach().cpu().numpy()
        images = [interval_mapping(i.transpose(1, 2, 0), -1.0, 1.0, 0, 255).astype("uint8") for i in images]
        if save_images:
            Path(output_path).mkdir(parents=True, exist_ok=True)
            for i, img_ in enumerate(images):
                cv2.imwrite(f"{output_path}/{i}.png", img_)
        else:
            return images
    except Exception as e:
        logging.error(f"Error while trying to generate {num_samples} images with model {model_file}: {e}")
        raise e
