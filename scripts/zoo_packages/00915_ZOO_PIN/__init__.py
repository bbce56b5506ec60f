"""
medigan-rs zoo fixture 00915_ZOO_PIN_A / 00916_ZOO_PIN_B: a package whose catalogue entry pins
a version of `medigan_zoo_dep` (1.0 for A, 2.0 for B), like the zoo's conflicting pins
(00020 pytorch-lightning==1.2.10, 00022 pytorch-lightning==1.4.7).

It reports the version it sees: every pixel of image i of a call is 100 x the major version
plus i (100, 101, ... with 1.0; 200, 201, ... with 2.0), added to the base image in the
weights file (zeros).
"""

import os

import medigan_zoo_dep
import numpy as np


def generate(model_file, num_samples, output_path, save_images: bool):
    base = np.load(model_file)
    major = int(medigan_zoo_dep.__version__.split(".")[0])
    images = [(base + 100 * major + i).astype(np.uint8) for i in range(num_samples)]
    if not save_images:
        return images
    os.makedirs(output_path, exist_ok=True)
    for i, image in enumerate(images):
        np.save(os.path.join(output_path, f"{i}.npy"), image)
