#!/usr/bin/env python3
"""Write the reference values of KID and PRDC into tests/fixtures/metrics/.

    tests/fixtures/metrics/
        real.npy          real features (float32, 120 x 64)
        synthetic.npy     synthetic features (float32, 100 x 64), a shifted, narrower Gaussian
        reference.json    KID of torch-fidelity and of clean-fid, each with the subsets it drew
                          (row indices), and prdc's precision/recall/density/coverage for k = 3, 5

The references come from the packages themselves (`pip install torch-fidelity clean-fid prdc`):

- torch-fidelity `metric_kid.kid_features_to_metric` (mean and std over subsets, its
  RandomState draws replayed to record the rows of each subset);
- clean-fid `fid.kernel_distance` (mean only; numpy's global RNG seeded, draws replayed);
- prdc `compute_prdc`.

The features are float32 (what medigan extracts); they are passed to the packages as float64
copies (exactly the same numbers), so the reference values are the packages' formulas without
float32 rounding inside them: torch-fidelity and prdc compute in the input's precision, and KID
subtracts large kernel sums. CI needs none of these packages: the outputs are committed.

    python3 scripts/make_metric_fixtures.py [--out DIR]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
from pathlib import Path

import numpy as np
import torch
from cleanfid import fid as cleanfid
from prdc import compute_prdc
from torch_fidelity import metric_kid

DIMS = 64
KID_SUBSETS = 10
KID_SUBSET_SIZE = 50


def features():
    rng = np.random.RandomState(2024)
    mixing = rng.normal(size=(DIMS, DIMS)) / np.sqrt(DIMS)
    real = rng.normal(size=(120, DIMS)) @ mixing + 1.0
    synthetic = 0.8 * rng.normal(size=(100, DIMS)) @ mixing + 1.3
    return real.astype(np.float32), synthetic.astype(np.float32)


def torch_fidelity_kid(real, synthetic, seed):
    value = metric_kid.kid_features_to_metric(
        torch.from_numpy(real.astype(np.float64)),
        torch.from_numpy(synthetic.astype(np.float64)),
        kid_subsets=KID_SUBSETS,
        kid_subset_size=KID_SUBSET_SIZE,
        rng_seed=seed,
        verbose=False,
        kid_kernel="poly",
        kid_kernel_poly_degree=3,
        kid_kernel_poly_gamma=None,
        kid_kernel_poly_coef0=1,
    )
    rng = np.random.RandomState(seed)  # the draws of kid_features_to_metric, replayed
    subsets = []
    for _ in range(KID_SUBSETS):
        a = rng.choice(len(real), KID_SUBSET_SIZE, replace=False)
        b = rng.choice(len(synthetic), KID_SUBSET_SIZE, replace=False)
        subsets.append([a.tolist(), b.tolist()])
    return {
        "package": "torch-fidelity",
        "mean": value["kernel_inception_distance_mean"],
        "std": value["kernel_inception_distance_std"],
        "subsets": subsets,
    }


def clean_fid_kid(real, synthetic, seed):
    np.random.seed(seed)
    mean = cleanfid.kernel_distance(
        real.astype(np.float64),
        synthetic.astype(np.float64),
        num_subsets=KID_SUBSETS,
        max_subset_size=KID_SUBSET_SIZE,
    )
    np.random.seed(seed)  # kernel_distance draws the synthetic rows (feats2) first
    subsets = []
    for _ in range(KID_SUBSETS):
        b = np.random.choice(len(synthetic), KID_SUBSET_SIZE, replace=False)
        a = np.random.choice(len(real), KID_SUBSET_SIZE, replace=False)
        subsets.append([a.tolist(), b.tolist()])
    return {"package": "clean-fid", "mean": mean, "subsets": subsets}


def prdc_reference(real, synthetic, k):
    with contextlib.redirect_stdout(io.StringIO()):  # compute_prdc prints the set sizes
        value = compute_prdc(real.astype(np.float64), synthetic.astype(np.float64), k)
    return {"nearest_k": k, **{name: float(v) for name, v in value.items()}}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("tests/fixtures/metrics"))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    real, synthetic = features()
    np.save(args.out / "real.npy", real)
    np.save(args.out / "synthetic.npy", synthetic)
    reference = {
        "real": "real.npy",
        "synthetic": "synthetic.npy",
        "kid": [torch_fidelity_kid(real, synthetic, 7), clean_fid_kid(real, synthetic, 3)],
        "prdc": [prdc_reference(real, synthetic, k) for k in (3, 5)],
        "prdc_self": prdc_reference(real, real, 5),
    }
    text = json.dumps(reference, indent=1)
    (args.out / "reference.json").write_text(text + "\n")
    for case in reference["kid"]:
        print(f"KID {case['package']}: {case['mean']:.8g}")
    for case in reference["prdc"]:
        print(f"PRDC k={case['nearest_k']}: {case}")


if __name__ == "__main__":
    main()
