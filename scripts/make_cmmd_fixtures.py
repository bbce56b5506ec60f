#!/usr/bin/env python3
"""Write the CMMD feature fixtures and their NumPy reference values into tests/fixtures/cmmd/.

    tests/fixtures/cmmd/
        small_real.npy, small_synthetic.npy     float32, 40 x 24 and 33 x 24 (shifted, wider)
        blocked_real.npy, blocked_synthetic.npy float32, 1100 x 4 and 700 x 4 (more rows than
                                                one 1024-row block of medigan's kernel sums)
        reference.json                          CMMD of each pair, and of a set with itself

The reference is the formula of Jayasumana et al. 2024 as their code computes it
(google-research/cmmd: `embedding.py` L2-normalises each embedding, `distance.py` takes
`1000 * (mean k(x, x') + mean k(y, y') - 2 mean k(x, y))` over all pairs, diagonals included,
with `k(a, b) = exp(-|a - b|^2 / (2 * 10^2))` and `|a - b|^2 = |a|^2 + |b|^2 - 2 a.b`), written
here in NumPy on float64 copies of the float32 features (exactly the same numbers).

    python3 scripts/make_cmmd_fixtures.py [--out DIR]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

SIGMA = 10.0
SCALE = 1000.0


def normalise(x: np.ndarray) -> np.ndarray:
    x = x.astype(np.float64)
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def cmmd(x: np.ndarray, y: np.ndarray) -> float:
    x, y = normalise(x), normalise(y)
    gamma = 1.0 / (2.0 * SIGMA**2)
    xs, ys = np.sum(x * x, axis=1), np.sum(y * y, axis=1)

    def mean_kernel(a, a_sq, b, b_sq):
        sq = -2.0 * (a @ b.T) + a_sq[:, None] + b_sq[None, :]
        return float(np.mean(np.exp(-gamma * sq)))

    k_xx = mean_kernel(x, xs, x, xs)
    k_yy = mean_kernel(y, ys, y, ys)
    k_xy = mean_kernel(x, xs, y, ys)
    return SCALE * (k_xx + k_yy - 2.0 * k_xy)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    root = Path(__file__).resolve().parent.parent
    parser.add_argument("--out", type=Path, default=root / "tests/fixtures/cmmd")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(30)
    cases = {
        "small": (
            rng.normal(0.0, 1.0, (40, 24)).astype(np.float32),
            rng.normal(0.3, 1.4, (33, 24)).astype(np.float32),
        ),
        "blocked": (
            rng.normal(0.0, 1.0, (1100, 4)).astype(np.float32),
            rng.normal(0.5, 1.0, (700, 4)).astype(np.float32),
        ),
    }
    reference = {"sigma": SIGMA, "scale": SCALE, "cases": {}}
    for name, (real, synthetic) in cases.items():
        np.save(args.out / f"{name}_real.npy", real)
        np.save(args.out / f"{name}_synthetic.npy", synthetic)
        reference["cases"][name] = {
            "cmmd": cmmd(real, synthetic),
            "cmmd_real_real": cmmd(real, real),
        }
    (args.out / "reference.json").write_text(json.dumps(reference, indent=2) + "\n")
    print(json.dumps(reference, indent=2))


if __name__ == "__main__":
    main()
