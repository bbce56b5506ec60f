#!/usr/bin/env python3
"""Reference data for the native FID Inception-v3 (crates/medigan/src/evaluate/inception/).

Builds pytorch-fid's FID Inception-v3 (FIDInceptionA/C/E_1/E_2 patched into torchvision's
Inception3, exactly as `pytorch_fid.inception.fid_inception_v3` does) with RANDOM, seeded weights
and non-trivial batch-norm running statistics, because the real
`pt_inception-2015-12-05-6726825d.pth` cannot be downloaded here. Writes into OUT_DIR:

  weights.pth      the state dict in the real file's layout and format (legacy, non-zip
                   `torch.save`, as the 2019 file was written)
  weights_zip.pth  the same state dict in the zip format of torch >= 1.6
  input.npy        float32 N x 3 x 299 x 299 in [-1, 1] (seeded)
  features.npy     float32 N x 2048: pytorch-fid `InceptionV3([3], resize_input=False,
                   normalize_input=False)` on input.npy, i.e. the pool3 features

With --fixtures DIR it also writes the small committed fixtures of tests/fixtures/inception/:
`wrong_shape.pth` and `missing.pth` (malformed state dicts for the error tests) and
`shapes.txt` (name and shape of every float tensor of the state dict, in order: the tests write
a full-size random state dict from it where torch is not installed).

Usage: python3 scripts/inception_reference.py OUT_DIR [--images N] [--seed S] [--fixtures DIR]
Needs torch, torchvision and pytorch-fid (pip install pytorch-fid).
"""

import argparse
import os
from unittest import mock

import numpy as np
import torch
from pytorch_fid import inception as fid_inception


def build_random_fid_inception(seed):
    """pytorch-fid's FID Inception-v3 (torchvision Inception3 + FID blocks), random weights."""
    net = fid_inception._inception_v3(num_classes=1008, aux_logits=False, weights=None)
    net.Mixed_5b = fid_inception.FIDInceptionA(192, pool_features=32)
    net.Mixed_5c = fid_inception.FIDInceptionA(256, pool_features=64)
    net.Mixed_5d = fid_inception.FIDInceptionA(288, pool_features=64)
    net.Mixed_6b = fid_inception.FIDInceptionC(768, channels_7x7=128)
    net.Mixed_6c = fid_inception.FIDInceptionC(768, channels_7x7=160)
    net.Mixed_6d = fid_inception.FIDInceptionC(768, channels_7x7=160)
    net.Mixed_6e = fid_inception.FIDInceptionC(768, channels_7x7=192)
    net.Mixed_7b = fid_inception.FIDInceptionE_1(1280)
    net.Mixed_7c = fid_inception.FIDInceptionE_2(2048)

    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in net.modules():
            if isinstance(module, torch.nn.Conv2d):
                fan_in = module.weight[0].numel()
                module.weight.copy_(torch.randn(module.weight.shape, generator=gen))
                module.weight.mul_((2.0 / fan_in) ** 0.5)
            elif isinstance(module, torch.nn.BatchNorm2d):
                n = module.num_features
                module.weight.copy_(0.5 + torch.rand(n, generator=gen))
                module.bias.copy_(0.2 * torch.randn(n, generator=gen))
                module.running_mean.copy_(0.2 * torch.randn(n, generator=gen))
                module.running_var.copy_(0.5 + 1.5 * torch.rand(n, generator=gen))
                module.num_batches_tracked.fill_(1000)
            elif isinstance(module, torch.nn.Linear):
                module.weight.copy_(0.01 * torch.randn(module.weight.shape, generator=gen))
                module.bias.copy_(0.01 * torch.randn(module.bias.shape, generator=gen))
    return net


def make_inputs(n, seed):
    """N x 3 x 299 x 299 in [-1, 1]: noise, and smooth image-like patterns."""
    rng = np.random.default_rng(seed)
    out = np.empty((n, 3, 299, 299), dtype=np.float32)
    yy, xx = np.meshgrid(np.linspace(0, 1, 299), np.linspace(0, 1, 299), indexing="ij")
    for i in range(n):
        if i % 2 == 0:
            out[i] = rng.uniform(-1.0, 1.0, size=(3, 299, 299))
        else:
            for c in range(3):
                fx, fy, ph = rng.uniform(1, 8), rng.uniform(1, 8), rng.uniform(0, 6.3)
                out[i, c] = np.sin(2 * np.pi * (fx * xx + fy * yy) + ph) * (0.5 + 0.5 * yy)
    return np.clip(out, -1.0, 1.0)


def write_fixtures(state_dict, out_dir):
    """Tiny malformed state dicts (a few KB) for the error tests."""
    os.makedirs(out_dir, exist_ok=True)
    first = {k: v for k, v in state_dict.items() if k.startswith("Conv2d_1a_3x3.")}
    # Everything of the first layer, nothing else: the next tensor asked for is missing.
    torch.save(first, os.path.join(out_dir, "missing.pth"), _use_new_zipfile_serialization=False)
    bad = dict(first)
    bad["Conv2d_1a_3x3.conv.weight"] = torch.zeros(32, 3, 3, 4)
    torch.save(bad, os.path.join(out_dir, "wrong_shape.pth"), _use_new_zipfile_serialization=False)
    with open(os.path.join(out_dir, "shapes.txt"), "w") as f:
        f.write("# pytorch-fid FID Inception-v3 state dict: float tensors, name then shape\n")
        for name, tensor in state_dict.items():
            if tensor.dtype == torch.float32:
                f.write(" ".join([name, *map(str, tensor.shape)]) + "\n")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("out_dir")
    parser.add_argument("--images", type=int, default=2)
    parser.add_argument("--seed", type=int, default=20151205)
    parser.add_argument("--fixtures", default=None)
    args = parser.parse_args()
    os.makedirs(args.out_dir, exist_ok=True)
    torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))

    net = build_random_fid_inception(args.seed)
    state_dict = net.state_dict()
    torch.save(state_dict, os.path.join(args.out_dir, "weights.pth"),
               _use_new_zipfile_serialization=False)
    torch.save(state_dict, os.path.join(args.out_dir, "weights_zip.pth"))
    if args.fixtures:
        write_fixtures(state_dict, args.fixtures)

    # pytorch-fid's own wrapper, its download replaced by the random state dict.
    with mock.patch.object(fid_inception, "load_state_dict_from_url",
                           lambda *a, **k: state_dict):
        model = fid_inception.InceptionV3([3], resize_input=False, normalize_input=False)
    model.eval()

    inputs = make_inputs(args.images, args.seed + 1)
    with torch.no_grad():
        feats = model(torch.from_numpy(inputs))[0]
    feats = feats.reshape(feats.shape[0], -1).numpy().astype(np.float32)
    assert feats.shape == (args.images, 2048), feats.shape
    np.save(os.path.join(args.out_dir, "input.npy"), inputs)
    np.save(os.path.join(args.out_dir, "features.npy"), feats)
    print(f"features: shape {feats.shape}, mean {feats.mean():.4f}, max {feats.max():.4f}")


if __name__ == "__main__":
    main()
