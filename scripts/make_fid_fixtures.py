#!/usr/bin/env python3
"""Write the test fixtures of medigan's evaluation module (FID) into tests/fixtures/fid/.

    tests/fixtures/fid/
        reference.json                 every reference value below, with the case descriptions
        features/<case>_{a,b}.npy      small feature sets (float32, N x D)
        images/                        a few small images: gray and RGB PNG (8 and 16 bit), JPEG, npy
        preprocess_inception.npy       those images as pytorch-fid feeds them to Inception:
                                       [0,1] -> F.interpolate(bilinear, align_corners=False) to
                                       29x23 -> 2x-1 (float32, N x 3 x 29 x 23)
        preprocess_minmax.npy          the same with per-image min-max normalisation first
        extractor.onnx                 a small ONNX feature extractor (2 convolutions, fixed random
                                       weights; input N x 3 x 32 x 32, output N x 16)
        extractor_features.npy         onnxruntime's features of the images, preprocessed to
                                       32x32, [0,1], then (x - mean) / std (mean, std in reference.json)

The Frechet distance references follow pytorch-fid's `calculate_frechet_distance` exactly
(scipy.linalg.sqrtm of sigma1 @ sigma2, retried with eps*I added when not finite, imaginary part
dropped), with the statistics in float64 (mean over axis 0, np.cov(rowvar=False)). The script
also computes the distance the Rust code uses (eigendecompositions of symmetric matrices) and
fails if the two disagree by more than 1e-7 relative.

Usage, from the repository root (needs numpy, scipy, onnx, onnxruntime, torch and Pillow; CI
needs none of them, the outputs are committed):

    python3 scripts/make_fid_fixtures.py            # (re)write tests/fixtures/fid/
    python3 scripts/make_fid_fixtures.py --out DIR  # write them elsewhere

The output is deterministic (numpy.random.RandomState with fixed seeds).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import torch
import torch.nn.functional as F
from onnx import TensorProto, helper, numpy_helper
from PIL import Image
from scipy import linalg

PREPROCESS_SIZE = (29, 23)  # height, width: not square, so rows and columns are not mixed up
EXTRACTOR_SIZE = (32, 32)
EXTRACTOR_MEAN = [0.485, 0.456, 0.406]
EXTRACTOR_STD = [0.229, 0.224, 0.225]


# ---------------------------------------------------------------- Frechet distance


def pytorch_fid_distance(mu1, sigma1, mu2, sigma2, eps=1e-6):
    """pytorch-fid's calculate_frechet_distance, line for line."""
    diff = mu1 - mu2
    try:
        covmean, _ = linalg.sqrtm(sigma1.dot(sigma2), disp=False)
    except TypeError:  # scipy versions without `disp`
        covmean = linalg.sqrtm(sigma1.dot(sigma2))
    if not np.isfinite(covmean).all():
        offset = np.eye(sigma1.shape[0]) * eps
        covmean = linalg.sqrtm((sigma1 + offset).dot(sigma2 + offset))
    if np.iscomplexobj(covmean):
        if not np.allclose(np.diagonal(covmean).imag, 0, atol=1e-3):
            raise ValueError(f"imaginary component {np.max(np.abs(covmean.imag))}")
        covmean = covmean.real
    tr_covmean = np.trace(covmean)
    return float(diff.dot(diff) + np.trace(sigma1) + np.trace(sigma2) - 2 * tr_covmean)


def eig_distance(mu1, sigma1, mu2, sigma2):
    """The method of the Rust code: tr sqrt(S1 S2) = sum sqrt(eig(sqrt(S1) S2 sqrt(S1)))."""
    w, v = np.linalg.eigh(sigma1)
    root = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
    m = root @ sigma2 @ root
    lam = np.linalg.eigvalsh((m + m.T) / 2)
    tr = np.sqrt(np.clip(lam, 0, None)).sum()
    diff = mu1 - mu2
    return float(diff.dot(diff) + np.trace(sigma1) + np.trace(sigma2) - 2 * tr)


def stats(features):
    x = features.astype(np.float64)
    return x.mean(axis=0), np.cov(x, rowvar=False)


def feature_cases(rng):
    """(name, description, a, b) feature sets, float32."""
    cases = []

    d = 16
    mix_a = rng.randn(d, d)
    mix_b = rng.randn(d, d) * 0.7 + np.eye(d)
    a = rng.randn(300, d) @ mix_a + 0.5
    b = rng.randn(250, d) @ mix_b + rng.randn(d) * 0.3
    cases.append(("gaussian_d16", "two Gaussians with different means and covariances", a, b))

    d = 64
    a = rng.randn(40, d) * 2.0
    b = rng.randn(40, d) * 1.5 + 0.2
    cases.append(
        ("rank_deficient_d64", "40 samples in 64 dims: both covariances singular (rank 39)", a, b)
    )

    d = 32
    base = rng.randn(500, d)
    a = base.copy()
    for k in range(1, 8):  # seven columns nearly equal to the first
        a[:, k] = base[:, 0] + 1e-4 * rng.randn(500)
    b = rng.randn(500, d) @ (np.eye(d) + 0.2 * rng.randn(d, d))
    b[:, 5] = b[:, 4] * 2.0 + 1e-5 * rng.randn(500)
    cases.append(
        (
            "near_singular_d32",
            "500 samples in 32 dims, columns nearly collinear: eigenvalues down to ~1e-8",
            a,
            b,
        )
    )

    d = 128
    a = np.abs(rng.randn(200, d) @ (0.3 * rng.randn(d, d)))  # non-negative, like pooled ReLU outputs
    b = np.abs(rng.randn(200, d) @ (0.3 * rng.randn(d, d))) * 1.1
    cases.append(("relu_like_d128", "200 non-negative samples in 128 dims (rank 127)", a, b))

    return [(n, t, a.astype(np.float32), b.astype(np.float32)) for n, t, a, b in cases]


# ---------------------------------------------------------------- images and preprocessing


def write_images(images_dir, rng):
    """A few small images in every supported format; returns (file name, [C,H,W] in [0,1])."""
    images_dir.mkdir(parents=True, exist_ok=True)
    out = []

    gray = (rng.rand(13, 17) * 255).astype(np.uint8)
    Image.fromarray(gray, mode="L").save(images_dir / "a_gray8.png")
    out.append(("a_gray8.png", gray[None].astype(np.float32) / 255))

    rgb = (rng.rand(20, 11, 3) * 255).astype(np.uint8)
    Image.fromarray(rgb, mode="RGB").save(images_dir / "b_rgb8.png")
    out.append(("b_rgb8.png", rgb.transpose(2, 0, 1).astype(np.float32) / 255))

    gray16 = (rng.rand(31, 24) * 65535).astype(np.uint16)
    Image.fromarray(gray16).save(images_dir / "c_gray16.png")
    back = np.asarray(Image.open(images_dir / "c_gray16.png"))
    assert back.dtype in (np.uint16, np.int32) and (back == gray16).all()
    out.append(("c_gray16.png", gray16[None].astype(np.float32) / 65535))

    smooth = np.linspace(0, 255, 40 * 30 * 3).reshape(40, 30, 3).astype(np.uint8)
    Image.fromarray(smooth, mode="RGB").save(images_dir / "d_rgb.jpg", quality=95)
    decoded = np.asarray(Image.open(images_dir / "d_rgb.jpg").convert("RGB"))
    out.append(("d_rgb.jpg", decoded.transpose(2, 0, 1).astype(np.float32) / 255))

    npy = rng.rand(1, 16, 16).astype(np.float32) * 0.5 + 0.25  # [C,H,W] float in [0,1]
    np.save(images_dir / "e_float.npy", npy)
    out.append(("e_float.npy", npy))

    npy_hw = rng.rand(9, 12).astype(np.float32)  # [H,W]
    np.save(images_dir / "f_float_hw.npy", npy_hw)
    out.append(("f_float_hw.npy", npy_hw[None]))
    return out


def to_three_channels(chw):
    if chw.shape[0] == 1:
        return np.repeat(chw, 3, axis=0)
    return chw[:3]


def min_max(chw):
    lo, hi = chw.min(), chw.max()
    return (chw - lo) / (hi - lo) if hi > lo else np.zeros_like(chw)


def resize(chw, size):
    t = torch.from_numpy(np.ascontiguousarray(chw, dtype=np.float32))[None]
    return F.interpolate(t, size=size, mode="bilinear", align_corners=False)[0].numpy()


# ---------------------------------------------------------------- ONNX extractor


def make_extractor(path, rng):
    """Conv(3->8, 3x3, stride 2) ReLU Conv(8->16, 3x3, stride 2) ReLU GlobalAveragePool Flatten."""
    w1 = (rng.randn(8, 3, 3, 3) * 0.4).astype(np.float32)
    b1 = (rng.randn(8) * 0.1).astype(np.float32)
    w2 = (rng.randn(16, 8, 3, 3) * 0.3).astype(np.float32)
    b2 = (rng.randn(16) * 0.1).astype(np.float32)
    nodes = [
        helper.make_node("Conv", ["image", "w1", "b1"], ["c1"], pads=[1, 1, 1, 1], strides=[2, 2]),
        helper.make_node("Relu", ["c1"], ["r1"]),
        helper.make_node("Conv", ["r1", "w2", "b2"], ["c2"], pads=[1, 1, 1, 1], strides=[2, 2]),
        helper.make_node("Relu", ["c2"], ["r2"]),
        helper.make_node("GlobalAveragePool", ["r2"], ["pool"]),
        helper.make_node("Flatten", ["pool"], ["features"], axis=1),
    ]
    graph = helper.make_graph(
        nodes,
        "medigan_test_extractor",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["batch", 3, *EXTRACTOR_SIZE])],
        [helper.make_tensor_value_info("features", TensorProto.FLOAT, ["batch", 16])],
        [numpy_helper.from_array(x, n) for x, n in [(w1, "w1"), (b1, "b1"), (w2, "w2"), (b2, "b2")]],
    )
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", 17)],
        producer_name="medigan scripts/make_fid_fixtures.py",
    )
    model.ir_version = 8
    onnx.checker.check_model(model)
    path.write_bytes(model.SerializeToString())


# ---------------------------------------------------------------- main


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=Path("tests/fixtures/fid"))
    args = parser.parse_args()
    out = args.out
    (out / "features").mkdir(parents=True, exist_ok=True)
    rng = np.random.RandomState(20260)

    reference = {"frechet": [], "preprocess": {}, "extractor": {}}
    for name, text, a, b in feature_cases(rng):
        np.save(out / "features" / f"{name}_a.npy", a)
        np.save(out / "features" / f"{name}_b.npy", b)
        mu1, s1 = stats(a)
        mu2, s2 = stats(b)
        scipy_fid = pytorch_fid_distance(mu1, s1, mu2, s2)
        eig_fid = eig_distance(mu1, s1, mu2, s2)
        rel = abs(scipy_fid - eig_fid) / abs(scipy_fid)
        assert rel < 1e-7, (name, scipy_fid, eig_fid, rel)
        self_fid = pytorch_fid_distance(mu1, s1, mu1, s1)
        reference["frechet"].append(
            {
                "case": name,
                "description": text,
                "a": f"features/{name}_a.npy",
                "b": f"features/{name}_b.npy",
                "fid": scipy_fid,
                "fid_eigh": eig_fid,
                "fid_a_a_scipy": self_fid,
                "trace_a": float(np.trace(s1)),
            }
        )
        print(f"{name}: scipy {scipy_fid:.12g}  eigh {eig_fid:.12g}  rel {rel:.1e}  self {self_fid:.2e}")

    images = write_images(out / "images", rng)
    names = [n for n, _ in images]
    plain = np.stack([resize(to_three_channels(x), PREPROCESS_SIZE) * 2 - 1 for _, x in images])
    normed = np.stack(
        [resize(min_max(to_three_channels(x)), PREPROCESS_SIZE) * 2 - 1 for _, x in images]
    )
    np.save(out / "preprocess_inception.npy", plain.astype(np.float32))
    np.save(out / "preprocess_minmax.npy", normed.astype(np.float32))
    reference["preprocess"] = {
        "images": names,
        "size": list(PREPROCESS_SIZE),
        "range": [-1, 1],
        "note": "torch.nn.functional.interpolate(mode='bilinear', align_corners=False) of the "
        "[0,1] image (gray repeated to 3 channels), then 2x-1; minmax: (x-min)/(max-min) first",
    }

    make_extractor(out / "extractor.onnx", rng)
    mean = np.array(EXTRACTOR_MEAN, dtype=np.float32)[:, None, None]
    std = np.array(EXTRACTOR_STD, dtype=np.float32)[:, None, None]
    batch = np.stack(
        [(resize(to_three_channels(x), EXTRACTOR_SIZE) - mean) / std for _, x in images]
    ).astype(np.float32)
    session = ort.InferenceSession(str(out / "extractor.onnx"), providers=["CPUExecutionProvider"])
    (features,) = session.run(["features"], {"image": batch})
    np.save(out / "extractor_features.npy", features.astype(np.float32))
    reference["extractor"] = {
        "graph": "extractor.onnx",
        "images": names,
        "input_size": list(EXTRACTOR_SIZE),
        "range": [0, 1],
        "mean": EXTRACTOR_MEAN,
        "std": EXTRACTOR_STD,
        "feature_dims": 16,
        "onnxruntime": ort.__version__,
    }
    (out / "reference.json").write_text(json.dumps(reference, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
