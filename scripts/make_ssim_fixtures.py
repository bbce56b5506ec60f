#!/usr/bin/env python3
"""Write the reference SSIM values of tests/fixtures/ssim/reference.json (scikit-image).

    tests/fixtures/ssim/reference.json
        cases: [{"name", "a", "b" (row-major lists of integers 0..255), "height", "width",
                 "scale", "data_range", "ssim"}]

The images are `a / scale` and `b / scale` in float64 (8-bit pictures, scale 255 or 1: small
and exact in JSON). Each value is `skimage.metrics.structural_similarity(a, b, data_range=R)`
with scikit-image's defaults (7 x 7 uniform window, sample covariance, K1 = 0.01, K2 = 0.03):
what `medigan::evaluate::audit::ssim::ssim` must give (crates/medigan/tests/ssim.rs). CI needs
no scikit-image: the output is committed.

    pip install scikit-image
    python3 scripts/make_ssim_fixtures.py [--out tests/fixtures/ssim]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import skimage
from skimage.metrics import structural_similarity


def u8(x):
    return np.clip(np.round(x * 255.0), 0, 255).astype(np.int64)


def cases():
    """(name, a, b as integers 0..255, scale, data_range)."""
    rng = np.random.default_rng(18)
    yy, xx = np.mgrid[0:32, 0:32] / 31.0
    blob = np.exp(-((yy - 0.4) ** 2 + 2 * (xx - 0.6) ** 2) / 0.05)
    noise = rng.uniform(0, 1, size=(32, 32))
    yield "noise_vs_noise", u8(noise), u8(rng.uniform(0, 1, size=(32, 32))), 255.0, 1.0
    noisy = blob + rng.normal(0, 0.1, blob.shape)
    yield "blob_vs_noisy_blob", u8(blob), u8(noisy), 255.0, 1.0
    yield "blob_vs_brighter", u8(blob), u8(0.8 * blob + 0.15), 255.0, 1.0
    yield "blob_vs_shifted_2px", u8(blob), u8(np.roll(blob, 2, axis=1)), 255.0, 1.0
    yield "blob_vs_negative", u8(blob), u8(1.0 - blob), 255.0, 1.0
    # Not square, the smallest height the window allows, another data range.
    a = rng.uniform(0, 1, size=(7, 19))
    yield "small_range_255", u8(a), u8(a + rng.normal(0, 0.08, a.shape)), 1.0, 255.0
    ramp = np.add.outer(np.arange(16.0), np.arange(11.0)) / 25.0
    yield "ramp_vs_gamma", u8(ramp), u8(ramp ** 1.5), 255.0, 1.0


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default=str(Path(__file__).resolve().parents[1] / "tests/fixtures/ssim"))
    args = parser.parse_args()
    out = []
    for name, a, b, scale, data_range in cases():
        value = structural_similarity(a / scale, b / scale, data_range=data_range)
        out.append({
            "name": name,
            "height": a.shape[0],
            "width": a.shape[1],
            "scale": scale,
            "data_range": data_range,
            "a": a.ravel().tolist(),
            "b": b.ravel().tolist(),
            "ssim": float(value),
        })
        print(f"{name}: {value:.10f}")
    Path(args.out).mkdir(parents=True, exist_ok=True)
    reference = {"generator": f"scikit-image {skimage.__version__} structural_similarity",
                 "cases": out}
    (Path(args.out) / "reference.json").write_text(json.dumps(reference) + "\n")


if __name__ == "__main__":
    main()
