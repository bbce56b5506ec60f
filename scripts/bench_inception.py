#!/usr/bin/env python3
"""Throughput of pytorch-fid's FID Inception-v3 on the CPU: the reference of
crates/medigan/examples/bench_inception.rs (same weights file, same input, same batches).

Usage: python3 scripts/bench_inception.py WEIGHTS.pth --images N [--batch B] [--threads T]

Loads the state dict written by scripts/inception_reference.py into pytorch-fid's
`InceptionV3([3], resize_input=False, normalize_input=False)` (eval, no_grad,
`torch.set_num_threads(T)`), runs one warm-up batch, then N images in batches of B, and prints
one line: `pytorch-fid: N images, batch B, T threads: X images/s, Y CPU s/image` (CPU time:
user + system of the process, less sensitive to other work on a shared machine).
Needs torch, torchvision and pytorch-fid.
"""

import argparse
import time
from unittest import mock

import torch
from pytorch_fid import inception as fid_inception


def synthetic_batch(n, start):
    """The benchmark's input, the same formula as bench_inception.rs: values in [-1, 1]."""
    idx = torch.arange(start, start + n).view(n, 1, 1, 1)
    c = torch.arange(3).view(1, 3, 1, 1)
    y = torch.arange(299).view(1, 1, 299, 1)
    x = torch.arange(299).view(1, 1, 1, 299)
    return ((idx * 7 + c * 3 + y * 5 + x) % 200).float() / 100.0 - 1.0


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("weights")
    parser.add_argument("--images", type=int, default=200)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    state_dict = torch.load(args.weights, map_location="cpu")
    with mock.patch.object(fid_inception, "load_state_dict_from_url",
                           lambda *a, **k: state_dict):
        model = fid_inception.InceptionV3([3], resize_input=False, normalize_input=False)
    model.eval()
    with torch.no_grad():
        model(synthetic_batch(min(args.batch, args.images), 0))  # warm-up
        start, cpu = time.perf_counter(), time.process_time()
        done = 0
        while done < args.images:
            n = min(args.batch, args.images - done)
            feats = model(synthetic_batch(n, done))[0]
            assert feats.shape[:2] == (n, 2048)
            done += n
        secs, cpu = time.perf_counter() - start, time.process_time() - cpu
    print(f"pytorch-fid: {done} images, batch {args.batch}, {args.threads} threads: "
          f"{done / secs:.2f} images/s, {cpu / done:.3f} CPU s/image")


if __name__ == "__main__":
    main()
