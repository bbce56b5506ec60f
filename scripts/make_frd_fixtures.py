"""FRD reference values from frd-score 1.0.1 for `crates/medigan/tests/frd.rs`.

The images are not committed: they are a formula of (set, index, voxel) in integer arithmetic,
written the same way by this script and by the Rust test (`frd_image` / `frd_volume` there).
This script writes them as PNG (2D) and NIfTI (3D) files, runs frd-score on them (v1 and v0)
and records the FRD values, and the full feature vectors of the first images (checked one by
one by the test, so a difference names its feature), in `tests/fixtures/frd/expected.json`.

Run with the reference environment (pyradiomics does not install from PyPI on Python >= 3.10;
frd-score pulls the `pyradiomics-bhklab` fork that does):
    python3.11 -m venv /tmp/frd-venv && /tmp/frd-venv/bin/pip install frd-score==1.0.1
    /tmp/frd-venv/bin/python scripts/make_frd_fixtures.py
"""

import json
import logging
import pathlib
import sys
import tempfile

import numpy as np
import SimpleITK as sitk
from frd_score import frd

OUT = pathlib.Path(__file__).resolve().parent.parent / "crates/medigan/tests/fixtures/frd/expected.json"
MASK64 = (1 << 64) - 1

# Sizes and counts: keep in step with crates/medigan/tests/frd.rs.
IMAGES_2D = 48
SHAPE_2D = (40, 36)  # H, W
VOLUMES_3D = 24
SHAPE_3D = (10, 12, 12)  # D, H, W
SPACING_3D = (1.5, 1.5, 2.0)  # x, y, z


def mix(*values):
    """A 64-bit hash of integers (splitmix64 steps), as `mix` in the Rust test."""
    h = 0x9E3779B97F4A7C15
    for v in values:
        h = (h ^ (v & MASK64)) & MASK64
        h = (h * 0xBF58476D1CE4E5B9) & MASK64
        h ^= h >> 31
        h = (h * 0x94D049BB133111EB) & MASK64
        h ^= h >> 29
    return h


def pixel(s, i, z, y, x):
    """The value of voxel (z, y, x) of image i of set s (0 real, 1 synthetic), 0..255."""
    base = 40 + (i * 37) % 80 + 15 * s
    gradient = (x * (i % 5 + 1) + y * ((i * 3) % 7) + z * (i % 3)) // 2
    cx, cy, r = 8 + i % 20, 10 + (i * 7) % 15, 4 + i % 6
    blob = 60 + 10 * s if (x - cx) ** 2 + (y - cy) ** 2 < r * r else 0
    noise = mix(s, i, z, y, x) % (41 + 20 * s)
    return min(255, base + gradient + blob + noise)


def image(s, i, shape):
    d, h, w = shape
    return np.array(
        [[[pixel(s, i, z, y, x) for x in range(w)] for y in range(h)] for z in range(d)],
        dtype=np.uint8,
    )


def write_sets(root):
    dirs = {}
    for kind, count, shape in (("2d", IMAGES_2D, (1,) + SHAPE_2D), ("3d", VOLUMES_3D, SHAPE_3D)):
        for s, name in enumerate(("real", "synthetic")):
            folder = root / kind / name
            folder.mkdir(parents=True)
            for i in range(count):
                arr = image(s, i, shape)
                if kind == "2d":
                    sitk.WriteImage(sitk.GetImageFromArray(arr[0]), str(folder / f"{i:03d}.png"))
                else:
                    img = sitk.GetImageFromArray(arr)
                    img.SetSpacing(SPACING_3D)
                    sitk.WriteImage(img, str(folder / f"{i:03d}.nii.gz"))
            dirs[(kind, name)] = folder
    return dirs


def features_of(path, version, dim):
    extractor = frd.get_feature_extractor(frd_version=version, image_dim=dim)
    _, named, _ = frd.process_image_mask_pair((str(path), None), feature_extractor=extractor, frd_version=version)
    return [[k, float(v)] for k, v in named.items()]


def main():
    logging.getLogger("radiomics").setLevel(logging.ERROR)
    expected = {"frd_score": "1.0.1", "cases": []}
    with tempfile.TemporaryDirectory() as tmp:
        dirs = write_sets(pathlib.Path(tmp))
        for kind, dim in (("2d", 2), ("3d", 3)):
            real, synthetic = dirs[(kind, "real")], dirs[(kind, "synthetic")]
            for version in ("v1", "v0"):
                value = frd.compute_frd([str(real), str(synthetic)], frd_version=version, num_workers=2)
                first = sorted(real.iterdir())[0]
                expected["cases"].append(
                    {
                        "kind": kind,
                        "version": version,
                        "frd": float(value),
                        "first_real_features": features_of(first, version, dim),
                    }
                )
                print(kind, version, value, file=sys.stderr)
    OUT.write_text(json.dumps(expected, indent=1) + "\n")


if __name__ == "__main__":
    main()
