#!/usr/bin/env python3
"""Time the reference implementations of the metrics at N x D features (default 10,000 x
2048): torch-fidelity's KID (100 subsets of 1000), clean-fid's KID, prdc's PRDC (k = 5), on the
same kind of features as `cargo run --release --example bench_metrics -p medigan` (|N(0,1)| / 2,
the synthetic set shifted by 0.05), float32 as the packages receive features.

    pip install torch-fidelity clean-fid prdc
    OMP_NUM_THREADS=2 python3 scripts/bench_metrics_reference.py [N] [D]

Prints a markdown table; run both on the same machine with the same number of threads.
"""

import contextlib
import io
import sys
import time

import numpy as np
import torch
from cleanfid import fid as cleanfid
from prdc import compute_prdc
from torch_fidelity import metric_kid


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    d = int(sys.argv[2]) if len(sys.argv) > 2 else 2048
    rng = np.random.RandomState(1)
    real = (np.abs(rng.normal(size=(n, d))) * 0.5).astype(np.float32)
    synthetic = (np.abs(rng.normal(size=(n, d))) * 0.5 + 0.05).astype(np.float32)
    print(f"| reference ({n} x {d}, torch threads {torch.get_num_threads()}) | seconds | value |")
    print("|---|---|---|")
    start = time.perf_counter()
    value = metric_kid.kid_features_to_metric(
        torch.from_numpy(real), torch.from_numpy(synthetic), kid_subsets=100,
        kid_subset_size=min(1000, n), rng_seed=0, verbose=False, kid_kernel="poly",
        kid_kernel_poly_degree=3, kid_kernel_poly_gamma=None, kid_kernel_poly_coef0=1)
    print(f"| torch-fidelity KID | {time.perf_counter() - start:.2f} | "
          f"{value['kernel_inception_distance_mean']:.6f} |")
    start = time.perf_counter()
    value = cleanfid.kernel_distance(real, synthetic, num_subsets=100, max_subset_size=1000)
    print(f"| clean-fid KID | {time.perf_counter() - start:.2f} | {value:.6f} |")
    start = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):
        value = compute_prdc(real, synthetic, 5)
    print(f"| prdc (k = 5) | {time.perf_counter() - start:.2f} | precision {value['precision']:.4f} |")


if __name__ == "__main__":
    main()
