#!/usr/bin/env python3
"""Write the fixtures of the 2.5D FID (`medigan fid --volumes planes`) into tests/fixtures/planes/.

    tests/fixtures/planes/
        real/*.npy            three small CT-like volumes, float32 [D, H, W] (Hounsfield-like
                              values, -1000 outside the body, empty slices at both ends)
        synthetic/*.npy       two volumes made otherwise ...
        synthetic/*.nii.gz    ... and one as NIfTI (nibabel: x, y, z = W, H, D of the array)
        reference.json        per case: the options, per-plane FIDs and their mean, slice counts

The reference follows NV-Generate-CTMR's scripts/compute_fid_2-5d_ct.py (get_features_2p5d):
values clipped to [-1000, 1000] (its ScaleIntensityRanged), the central slices
int((1 - r) / 2 n) .. int((1 + r) / 2 n) of each axis, every k-th, the kept slices of a plane
min-max scaled together ((x - min) / (max - min + 1e-10)), empty slices (max below the
threshold) dropped after the scaling; then each gray slice repeated to 3 channels, resized to
the extractor's 32 x 32 input with torch's bilinear interpolate (align_corners=False), the
ImageNet means of NV-Generate subtracted (0.406, 0.456, 0.485; std 1), embedded by the small
ONNX extractor of tests/fixtures/fid/ (onnxruntime), and the FID of each plane computed as
pytorch-fid does (float64 mean, np.cov, scipy.linalg.sqrtm).

Axes: axial slices v[k, :, :], coronal v[:, k, :], sagittal v[:, :, k] of the [D, H, W] array.

Usage, from the repository root (needs numpy, scipy, onnxruntime, torch, nibabel; CI needs none
of them, the outputs are committed):

    python3 scripts/make_planes_fixtures.py
"""

from __future__ import annotations

import json
from pathlib import Path

import nibabel as nib
import numpy as np
import onnxruntime as ort
import torch
import torch.nn.functional as F
from scipy import linalg

OUT = Path("tests/fixtures/planes")
EXTRACTOR = Path("tests/fixtures/fid/extractor.onnx")
SIZE = (32, 32)
MEAN = [0.406, 0.456, 0.485]
CASES = [
    {"case": "all_slices", "center_ratio": None, "every": 1, "empty_below": None, "clip": None},
    {
        "case": "nv_generate",
        "center_ratio": 0.8,
        "every": 2,
        "empty_below": -700.0,
        "clip": [-1000.0, 1000.0],
    },
]


def volume(rng, shape, body, contrast):
    """A body-like ellipsoid of tissue values with a few blobs, -1000 (air) around it and in
    the first and last slices."""
    d, h, w = shape
    z, y, x = np.meshgrid(np.linspace(-1, 1, d), np.linspace(-1, 1, h), np.linspace(-1, 1, w),
                          indexing="ij")
    inside = (z / 0.8) ** 2 + (y / body) ** 2 + (x / body) ** 2 < 1
    v = np.full(shape, -1000.0)
    v[inside] = 40 + 30 * rng.randn(int(inside.sum()))
    for _ in range(3):
        c = rng.uniform(-0.5, 0.5, 3)
        blob = (z - c[0]) ** 2 + (y - c[1]) ** 2 + (x - c[2]) ** 2 < 0.12
        v[blob & inside] += contrast * rng.uniform(0.5, 1.5)
    v[0] = -1000.0
    v[-1] = -1000.0
    v += rng.randn(*shape) * 5
    return np.clip(v, -1200, 1400).astype(np.float32)


def indices(n, case):
    r = case["center_ratio"]
    start, end = (int((1.0 - r) / 2.0 * n), int((1.0 + r) / 2.0 * n)) if r is not None else (0, n)
    return list(range(start, end, case["every"]))


def plane_slices(v, axis, case):
    if case["clip"] is not None:
        v = np.clip(v, *case["clip"])
    kept = [np.take(v, k, axis=axis) for k in indices(v.shape[axis], case)]
    stack = np.stack(kept).astype(np.float32)
    lo, hi = stack.min(), stack.max()
    scaled = [((s.astype(np.float64) - lo) / (float(hi) - float(lo) + 1e-10)).astype(np.float32)
              for s in kept]
    if case["empty_below"] is not None:
        scaled = [x for x, s in zip(scaled, kept) if s.max() >= case["empty_below"]]
    return scaled


def embed(session, slices):
    mean = np.array(MEAN, dtype=np.float32)[:, None, None]
    batch = []
    for s in slices:
        t = torch.from_numpy(np.repeat(s[None], 3, axis=0))[None]
        resized = F.interpolate(t, size=SIZE, mode="bilinear", align_corners=False)[0].numpy()
        batch.append(resized - mean)
    (features,) = session.run(["features"], {"image": np.stack(batch).astype(np.float32)})
    return features


def fid(a, b):
    """pytorch-fid's calculate_frechet_distance on float64 statistics."""
    mu1, mu2 = a.astype(np.float64).mean(0), b.astype(np.float64).mean(0)
    s1, s2 = np.cov(a.astype(np.float64), rowvar=False), np.cov(b.astype(np.float64), rowvar=False)
    diff = mu1 - mu2
    covmean, _ = linalg.sqrtm(s1.dot(s2), disp=False)
    if not np.isfinite(covmean).all():
        offset = np.eye(s1.shape[0]) * 1e-6
        covmean = linalg.sqrtm((s1 + offset).dot(s2 + offset))
    covmean = covmean.real
    return float(diff.dot(diff) + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean))


def main():
    rng = np.random.RandomState(3025)
    sets = {"real": [], "synthetic": []}
    for name, shapes, body, contrast in [
        ("real", [(12, 14, 16), (12, 14, 16), (14, 12, 16)], 0.7, 300),
        ("synthetic", [(12, 14, 16), (13, 15, 11), (12, 14, 16)], 0.55, 600),
    ]:
        folder = OUT / name
        folder.mkdir(parents=True, exist_ok=True)
        for i, shape in enumerate(shapes):
            v = volume(rng, shape, body, contrast)
            sets[name].append(v)
            if name == "synthetic" and i == 2:
                image = nib.Nifti1Image(np.ascontiguousarray(v.transpose(2, 1, 0)), np.eye(4))
                image.header.set_slope_inter(1.0, 0.0)
                nib.save(image, folder / f"volume{i}.nii.gz")
            else:
                np.save(folder / f"volume{i}.npy", v)
    session = ort.InferenceSession(str(EXTRACTOR), providers=["CPUExecutionProvider"])
    reference = {"extractor": "../fid/extractor.onnx", "input_size": list(SIZE), "mean": MEAN,
                 "std": [1.0, 1.0, 1.0], "range": [0.0, 1.0], "cases": []}
    for case in CASES:
        planes = []
        for axis, plane in enumerate(["axial", "coronal", "sagittal"]):
            feats = {
                name: np.concatenate([embed(session, plane_slices(v, axis, case)) for v in vols])
                for name, vols in sets.items()
            }
            planes.append({"plane": plane, "fid": fid(feats["real"], feats["synthetic"]),
                           "real_slices": len(feats["real"]),
                           "synthetic_slices": len(feats["synthetic"])})
        mean = sum(p["fid"] for p in planes) / 3.0
        reference["cases"].append({**case, "planes": planes, "fid_mean": mean})
        print(case["case"], [round(p["fid"], 6) for p in planes], round(mean, 6))
    (OUT / "reference.json").write_text(json.dumps(reference, indent=2) + "\n")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
