"""
medigan-rs zoo fixture 00910_ZOO_DCGAN: a DCGAN generating 64x64 grayscale patches.

Shaped like the DCGAN packages of the medigan zoo (00001, 00005, 00006): a checkpoint dict
loaded with torch.load(..., map_location=device), a torch.randn latent (or the caller's
input_latent_vector, as medigan's model visualizer passes it), a tanh output in [-1, 1]
mapped to uint8, written with OpenCV as {i}.png or returned as a list of HxWxC uint8 arrays.
The weights are random: the images mean nothing.
"""

import logging
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn as nn

NZ = 100


class Generator(nn.Module):
    def __init__(self, nz: int, ngf: int, nc: int):
        super(Generator, self).__init__()
        self.nz = nz
        self.main = nn.Sequential(
            # input is Z, going into a convolution
            nn.ConvTranspose2d(nz, ngf * 8, 4, 1, 0, bias=False),
            nn.BatchNorm2d(ngf * 8),
            nn.ReLU(True),
            # state size. (ngf*8) x 4 x 4
            nn.ConvTranspose2d(ngf * 8, ngf * 4, 4, 2, 1, bias=False),
            nn.BatchNorm2d(ngf * 4),
            nn.ReLU(True),
            # state size. (ngf*4) x 8 x 8
            nn.ConvTranspose2d(ngf * 4, ngf * 2, 4, 2, 1, bias=False),
            nn.BatchNorm2d(ngf * 2),
            nn.ReLU(True),
            # state size. (ngf*2) x 16 x 16
            nn.ConvTranspose2d(ngf * 2, ngf, 4, 2, 1, bias=False),
            nn.BatchNorm2d(ngf),
            nn.ReLU(True),
            # state size. (ngf) x 32 x 32
            nn.ConvTranspose2d(ngf, nc, 4, 2, 1, bias=False),
            nn.Tanh()
            # state size. (nc) x 64 x 64
        )

    def forward(self, input):
        return self.main(input)


def interval_mapping(image, from_min, from_max, to_min, to_max):
    # map values from [from_min, from_max] to [to_min, to_max]
    from_range = from_max - from_min
    to_range = to_max - to_min
    scaled = np.array((image - from_min) / float(from_range), dtype=float)
    return to_min + (scaled * to_range)


def image_generator(model_path, device, num_samples, input_latent_vector=None):
    netG = Generator(nz=NZ, ngf=1, nc=1)
    checkpoint = torch.load(model_path, map_location=device)
    try:
        netG.load_state_dict(state_dict=checkpoint["generator"])
    except KeyError:
        raise KeyError(f"checkpoint['generator'] was not found in {model_path}.")
    netG.to(device)
    netG.eval()
    if input_latent_vector is None:
        z = torch.randn(num_samples, NZ, 1, 1, device=device)
    else:
        z = torch.from_numpy(np.asarray(input_latent_vector, dtype=np.float32))
        z = z.reshape(-1, NZ, 1, 1).to(device)
    with torch.no_grad():
        images = netG(z).detach().cpu().numpy()
    return [img_ for img_ in images]


def save_generated_images(image_list, path):
    Path(path).mkdir(parents=True, exist_ok=True)
    for i, img_ in enumerate(image_list):
        img_ = interval_mapping(img_.transpose(1, 2, 0), -1.0, 1.0, 0, 255)
        cv2.imwrite(f"{path}/{i}.png", img_.astype("uint8"))
    logging.debug(f"Saved generated images to {path}")


def return_images(image_list):
    processed_image_list = []
    for img_ in image_list:
        img_ = interval_mapping(img_.transpose(1, 2, 0), -1.0, 1.0, 0, 255)
        processed_image_list.append(img_.astype("uint8"))
    return processed_image_list


def generate(model_file, num_samples, output_path, save_images: bool, input_latent_vector=None):
    """Generates num_samples synthetic 64x64 patches (random-weight fixture)."""
    try:
        device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
        image_list = image_generator(model_file, device, num_samples, input_latent_vector)
        if save_images:
            save_generated_images(image_list, output_path)
        else:
            return return_images(image_list)
    except Exception as e:
        logging.error(f"Error while trying to generate {num_samples} images with model {model_file}: {e}")
        raise e
