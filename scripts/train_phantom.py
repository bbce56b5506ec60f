#!/usr/bin/env python3
"""Train medigan's bundled demo model, 00900_PHANTOM_DEMO: a generator of 64x64 Shepp-Logan phantoms.

Run by hand, from the repository root (needs torch, numpy, onnx, onnxruntime, pillow):

    python3 scripts/train_phantom.py                      # train, export, write models/00900_PHANTOM_DEMO/
    python3 scripts/train_phantom.py --steps 200 --out /tmp/phantom   # a quick trial run

What it does
------------
Data: randomised (modified) Shepp-Logan head phantoms, drawn on the fly, never from patient data.
Each phantom is the standard 10 ellipses of the modified Shepp-Logan phantom (Toft's contrast, as
in MATLAB's `phantom`), with random jitter of the whole head (rotation, scale, shift), of the skull
(axes, thickness), and of each inner structure (centre, axes, angle, intensity). The jitter is a
function of a 32-dimensional latent z ~ N(0, 1): every z component drives one jitter parameter
(clipped at 2.5 standard deviations), so z -> phantom is a known, smooth map.

Model: a small convolutional decoder (Linear, then four ConvTranspose/BatchNorm/ReLU upsampling
stages from 4x4 to 64x64, a 3x3 Conv and Tanh) trained by regression to reproduce the phantom
that belongs to its latent: L1 loss between G(z) and render(z), on fresh (z, phantom) pairs every
step. Sampling z ~ N(0, 1) thus gives phantoms distributed like the training data: a generator in
the medigan sense (noise in, image out), learnt as a neural renderer rather than adversarially,
which is the reliable choice for a few minutes of CPU.

Export: the trained layers are written to an ONNX graph (opset 17, dynamic batch axis) with
onnx.helper, the script checks that onnxruntime agrees with torch within 1e-5, renders a preview
grid of 16 samples and writes the package: medigan.json, generator.onnx, README.md (model card
with this run's numbers), LICENSE, preview.png.

Deterministic: fixed seeds for weights, data and the preview; one intra-op thread (so that other
work on the machine goes on), which also keeps the run reproducible on the same machine.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np
import onnx
import torch
import torch.nn as nn
import torch.nn.functional as F
from onnx import TensorProto, helper, numpy_helper

MODEL_ID = "00900_PHANTOM_DEMO"
LATENT = 32
SIZE = 64
SUPERSAMPLE = 2  # render at 128x128, average-pool to 64x64 (anti-aliased edges)
OPSET = 17
IR_VERSION = 8
YEAR = "2026"
DATE = "November 2026"

REPO = Path(__file__).resolve().parent.parent
DEFAULT_OUT = REPO / "models" / MODEL_ID

# Modified Shepp-Logan phantom (Toft 1996; MATLAB `phantom('Modified Shepp-Logan')`):
# intensity A, semi-axes a (x) and b (y), centre (x0, y0), angle phi in degrees (counter-clockwise),
# on a [-1, 1]^2 field of view with y pointing up.
SHEPP_LOGAN = np.array([
    #  A      a       b       x0     y0      phi
    [1.0,  0.69,   0.92,   0.0,   0.0,     0.0],   # 0 skull (outer)
    [-0.8, 0.6624, 0.8740, 0.0,  -0.0184,  0.0],   # 1 brain (inside the skull)
    [-0.2, 0.1100, 0.3100, 0.22,  0.0,   -18.0],   # 2 right ventricle
    [-0.2, 0.1600, 0.4100, -0.22, 0.0,    18.0],   # 3 left ventricle
    [0.1,  0.2100, 0.2500, 0.0,   0.35,    0.0],   # 4 upper blob
    [0.1,  0.0460, 0.0460, 0.0,   0.1,     0.0],   # 5 centre dot, upper
    [0.1,  0.0460, 0.0460, 0.0,  -0.1,     0.0],   # 6 centre dot, lower
    [0.1,  0.0460, 0.0230, -0.08, -0.605,  0.0],   # 7 bottom group, left
    [0.1,  0.0230, 0.0230, 0.0,  -0.606,   0.0],   # 8 bottom group, middle
    [0.1,  0.0230, 0.0460, 0.06, -0.605,   0.0],   # 9 bottom group, right
])


def ellipses_from_latent(z: torch.Tensor) -> torch.Tensor:
    """Map latents [B, 32] to jittered ellipse tables [B, 10, 6] (A, a, b, x0, y0, phi)."""
    z = z.clamp(-2.5, 2.5)
    B = z.shape[0]
    e = torch.tensor(SHEPP_LOGAN, dtype=z.dtype).expand(B, -1, -1).clone()
    A, a, b, x0, y0, phi = (e[..., i] for i in range(6))  # views into e

    # skull (0) and brain (1): outer axes, skull thickness, brain intensity       z4..z7
    thick_a, thick_b = a[:, 0] - a[:, 1], b[:, 0] - b[:, 1]
    a[:, 0] *= 1 + 0.03 * z[:, 4]
    b[:, 0] *= 1 + 0.03 * z[:, 5]
    a[:, 1] = a[:, 0] - thick_a * (1 + 0.25 * z[:, 6])
    b[:, 1] = b[:, 0] - thick_b * (1 + 0.25 * z[:, 6])
    A[:, 1] += 0.03 * z[:, 7]
    # ventricles (2, 3): centre, axes, angle each; one shared intensity          z8..z18
    for k, off in ((2, 8), (3, 13)):
        x0[:, k] += 0.02 * z[:, off]
        y0[:, k] += 0.03 * z[:, off + 1]
        a[:, k] *= 1 + 0.12 * z[:, off + 2]
        b[:, k] *= 1 + 0.10 * z[:, off + 3]
        phi[:, k] += 6.0 * z[:, off + 4]
    A[:, 2:4] += 0.04 * z[:, 18:19]
    # upper blob (4): centre, axes, intensity                                    z19..z23
    x0[:, 4] += 0.02 * z[:, 19]
    y0[:, 4] += 0.03 * z[:, 20]
    a[:, 4] *= 1 + 0.12 * z[:, 21]
    b[:, 4] *= 1 + 0.12 * z[:, 22]
    A[:, 4] += 0.04 * z[:, 23]
    # centre dots (5, 6): vertical position each, shared size and intensity      z24..z27
    y0[:, 5] += 0.02 * z[:, 24]
    y0[:, 6] += 0.02 * z[:, 25]
    a[:, 5:7] *= 1 + 0.2 * z[:, 26:27]
    b[:, 5:7] *= 1 + 0.2 * z[:, 26:27]
    A[:, 5:7] += 0.04 * z[:, 27:28]
    # bottom group (7, 8, 9): shared shift, size and intensity                   z28..z31
    x0[:, 7:10] += 0.02 * z[:, 28:29]
    y0[:, 7:10] += 0.02 * z[:, 29:30]
    a[:, 7:10] *= 1 + 0.2 * z[:, 30:31]
    b[:, 7:10] *= 1 + 0.2 * z[:, 30:31]
    A[:, 7:10] += 0.04 * z[:, 31:32]

    # the whole head: rotation, scale, shift                                     z0..z3
    theta = math.radians(6.0) * z[:, 0:1]
    s = 1 + 0.04 * z[:, 1:2]
    c, sn = torch.cos(theta), torch.sin(theta)
    nx = s * (c * x0 - sn * y0) + 0.03 * z[:, 2:3]
    ny = s * (sn * x0 + c * y0) + 0.03 * z[:, 3:4]
    return torch.stack([A, a * s, b * s, nx, ny, phi + torch.rad2deg(theta)], dim=-1)


_GRID: dict = {}


def render(ellipses: torch.Tensor) -> torch.Tensor:
    """Draw ellipse tables [B, 10, 6] as images [B, 1, 64, 64] in [-1, 1] (0 -> -1, 1 -> 1)."""
    n = SIZE * SUPERSAMPLE
    if n not in _GRID:
        t = (torch.arange(n, dtype=torch.float32) + 0.5) / n * 2 - 1
        yy, xx = torch.meshgrid(-t, t, indexing="ij")  # row 0 is the top (y = +1)
        _GRID[n] = (xx, yy)
    xx, yy = _GRID[n]
    A, a, b, x0, y0, phi = (ellipses[..., i, None, None] for i in range(6))
    ph = torch.deg2rad(phi)
    c, s = torch.cos(ph), torch.sin(ph)
    ia, ib = 1 / a**2, 1 / b**2
    # inside the rotated ellipse: alpha dx^2 + beta dx dy + gamma dy^2 <= 1
    alpha, beta, gamma = c * c * ia + s * s * ib, 2 * c * s * (ia - ib), s * s * ia + c * c * ib
    dx, dy = xx[None, None, :1, :] - x0, yy[None, None, :, :1] - y0  # [B,10,1,W], [B,10,H,1]
    q = (alpha * dx * dx + gamma * dy * dy) + (beta * dx) * dy  # separable terms first: cheap
    inside = (q <= 1).to(ellipses.dtype)
    img = torch.einsum("be,behw->bhw", A[..., 0, 0], inside)[:, None].clamp(0, 1)
    img = F.avg_pool2d(img, SUPERSAMPLE)
    return img * 2 - 1


def phantoms(z: torch.Tensor) -> torch.Tensor:
    return render(ellipses_from_latent(z))


class Generator(nn.Module):
    """z [B, 32] -> Linear -> [128, 4, 4] -> 4 x (ConvTranspose x2, BN, ReLU) -> Conv 3x3 -> Tanh."""

    def __init__(self, width: int = 16):
        super().__init__()
        c = [width * 8, width * 6, width * 4, width * 2, width]
        self.c0 = c[0]
        self.fc = nn.Linear(LATENT, c[0] * 16)
        ups = []
        for i in range(4):
            ups += [nn.ConvTranspose2d(c[i], c[i + 1], 4, 2, 1, bias=False), nn.BatchNorm2d(c[i + 1]),
                    nn.ReLU()]
        self.up = nn.Sequential(*ups)
        self.out = nn.Conv2d(c[4], 1, 3, 1, 1)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.fc(z).view(-1, self.c0, 4, 4))
        return torch.tanh(self.out(self.up(x)))


# ------------------------------------------------------------------------------------------
# ONNX export (written layer by layer: no dependence on torch's exporters)
# ------------------------------------------------------------------------------------------


def to_onnx(g: Generator) -> onnx.ModelProto:
    nodes, inits = [], []

    def const(name, t):
        arr = t.detach().cpu().numpy() if isinstance(t, torch.Tensor) else t
        inits.append(numpy_helper.from_array(np.ascontiguousarray(arr), name))
        return name

    def node(op, ins, out, **attrs):
        nodes.append(helper.make_node(op, ins, [out], name=out, **attrs))
        return out

    x = node("Gemm", ["z", const("fc.weight", g.fc.weight), const("fc.bias", g.fc.bias)], "fc",
             transB=1)
    x = node("Reshape", [x, const("fc.shape", np.array([-1, g.c0, 4, 4], dtype=np.int64))], "fc.reshape")
    x = node("Relu", [x], "fc.relu")
    mods = list(g.up)
    for i in range(0, len(mods), 3):
        ct, bn = mods[i], mods[i + 1]
        j = i // 3
        x = node("ConvTranspose", [x, const(f"up{j}.weight", ct.weight)], f"up{j}.convt",
                 kernel_shape=[4, 4], strides=[2, 2], pads=[1, 1, 1, 1])
        x = node("BatchNormalization",
                 [x, const(f"up{j}.bn.weight", bn.weight), const(f"up{j}.bn.bias", bn.bias),
                  const(f"up{j}.bn.running_mean", bn.running_mean),
                  const(f"up{j}.bn.running_var", bn.running_var)],
                 f"up{j}.bn", epsilon=bn.eps, momentum=0.9)
        x = node("Relu", [x], f"up{j}.relu")
    x = node("Conv", [x, const("out.weight", g.out.weight), const("out.bias", g.out.bias)], "out.conv",
             kernel_shape=[3, 3], strides=[1, 1], pads=[1, 1, 1, 1])
    node("Tanh", [x], "image")
    graph = helper.make_graph(
        nodes, "phantom_generator",
        [helper.make_tensor_value_info("z", TensorProto.FLOAT, ["batch", LATENT])],
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["batch", 1, SIZE, SIZE])],
        inits,
    )
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                          producer_name="medigan scripts/train_phantom.py", producer_version="1",
                          doc_string=f"{MODEL_ID}: demo generator of 64x64 Shepp-Logan phantoms "
                          "(trained on synthetic phantoms only)")
    m.ir_version = IR_VERSION
    onnx.checker.check_model(m, full_check=True)
    return m


def ort_run(model_bytes: bytes, z: np.ndarray) -> np.ndarray:
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    sess = ort.InferenceSession(model_bytes, so, providers=["CPUExecutionProvider"])
    return sess.run(["image"], {"z": z})[0]


# ------------------------------------------------------------------------------------------
# package
# ------------------------------------------------------------------------------------------


def grid_png(images: np.ndarray, path: Path, cols: int = 4, pad: int = 2, scale: int = 2) -> None:
    """Save images [N, 1, H, W] in [-1, 1] as one grayscale grid PNG."""
    from PIL import Image

    n, _, h, w = images.shape
    rows = math.ceil(n / cols)
    canvas = np.full((rows * (h + pad) + pad, cols * (w + pad) + pad), 255, dtype=np.uint8)
    u8 = np.clip(np.round((images[:, 0] + 1) * 127.5), 0, 255).astype(np.uint8)
    for i in range(n):
        r, c = divmod(i, cols)
        canvas[pad + r * (h + pad): pad + r * (h + pad) + h, pad + c * (w + pad): pad + c * (w + pad) + w] = u8[i]
    img = Image.fromarray(canvas, mode="L")
    if scale > 1:
        img = img.resize((img.width * scale, img.height * scale), Image.NEAREST)
    img.save(path, optimize=True)


MIT = """MIT License

Copyright (c) {year} the medigan-rs contributors

Permission is hereby granted, free of charge, to any person obtaining a copy
of this software and associated documentation files (the "Software"), to deal
in the Software without restriction, including without limitation the rights
to use, copy, modify, merge, publish, distribute, sublicense, and/or sell
copies of the Software, and to permit persons to whom the Software is
furnished to do so, subject to the following conditions:

The above copyright notice and this permission notice shall be included in all
copies or substantial portions of the Software.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE
AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER
LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,
OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE
SOFTWARE.
"""


def catalogue_entry(steps: int, comment: str) -> dict:
    empty = lambda: {"trained_on_fake": {}, "trained_on_real_and_fake": {}, "trained_on_real": {}}  # noqa: E731
    perf = {k: None for k in ["SSIM", "MSE", "NSME", "PSNR", "IS", "turing_test", "FID_no_images",
                              "FID", "FID_ratio", "FID_RADIMAGENET", "FID_RADIMAGENET_ratio",
                              "CLF_delta", "SEG_delta"]}
    perf.update(CLF=empty(), SEG=empty(), DET=empty())
    onnx_spec = {
        "graph": "generator.onnx",
        "inputs": [{"name": "z", "kind": "latent", "shape": [LATENT], "distribution": "normal"}],
        "outputs": [{"name": "image", "kind": "image", "shape": [1, SIZE, SIZE], "range": [-1, 1]}],
    }
    return {MODEL_ID: {
        "execution": {
            "package_name": MODEL_ID,
            "package_link": ".",
            "model_name": "generator",
            "extension": ".onnx",
            "image_size": [SIZE, SIZE],
            "dependencies": [],
            "generate_method": {
                "name": "generate",
                "args": {"base": ["model_file", "num_samples", "output_path", "save_images"],
                         "custom": {}},
                "input_latent_vector_size": LATENT,
            },
            "runtime": "onnx",
            "onnx": onnx_spec,
        },
        "selection": {
            "performance": perf,
            "use_cases": ["demo", "testing"],
            "organ": ["head", "brain"],
            "modality": ["CT", "phantom"],
            "vendors": [],
            "centres": [],
            "function": ["noise to image", "image generation", "unconditional generation"],
            "condition": [],
            "dataset": ["randomised Shepp-Logan phantoms (synthetic)"],
            "augmentations": [],
            "generates": ["Shepp-Logan phantom", "Shepp-Logan phantoms", "head phantom",
                          "brain phantom", "phantom images"],
            "height": SIZE,
            "width": SIZE,
            "depth": 1,
            "type": "Decoder (neural renderer)",
            "license": "MIT",
            "dataset_type": "synthetic",
            "privacy_preservation": None,
            "tags": ["demo", "phantom", "Shepp-Logan", "synthetic", "64x64", "64 x 64", "CT", "head"],
            "year": YEAR,
        },
        "description": {
            "title": "Demo generator of randomised Shepp-Logan head phantoms (64x64, synthetic training data)",
            "provided_date": DATE,
            "trained_date": DATE,
            "provided_after_epoch": steps,
            "version": "0.1.0",
            "publication": None,
            "doi": [],
            "inputs": [],
            "comment": comment,
        },
    }}


def model_card(r: dict) -> str:
    return f"""# {MODEL_ID}: demo generator of Shepp-Logan head phantoms

**This is a demo model.** It was trained only on randomised synthetic Shepp-Logan phantoms drawn
by a program, never on patient data or any medical image. Its samples are phantoms, not CT scans:
use it to try medigan (search, generation, writers, the dataset API) without downloading anything
or running third-party code, and for tests. It is not for any clinical or research use.

![16 samples](preview.png)

## What it generates

64x64 grayscale images of the modified Shepp-Logan head phantom (Toft's contrast, as in MATLAB's
`phantom`): skull, brain, two ventricles and the small inner ellipses, with per-sample variation of
the head's rotation (about ±6° per standard deviation), scale and position, the skull's shape and
thickness, and the position, size, angle and intensity of the inner structures.

| input | kind | shape (per sample) | distribution |
|---|---|---|---|
| `z` | latent | [{LATENT}] | N(0, 1) |

| output | kind | shape (per sample) | range |
|---|---|---|---|
| `image` | image | [1, {SIZE}, {SIZE}] | [-1, 1] (tanh; -1 is air, 1 is bone) |

`generator.onnx`: ONNX opset {OPSET}, IR version {IR_VERSION}, dynamic batch axis `batch`,
{r['params']:,} parameters, {r['onnx_bytes']:,} bytes, about {r['mflop']:.0f} MFLOP per sample. Operators: Gemm, Reshape,
ConvTranspose, BatchNormalization, Relu, Conv, Tanh.

## Training

- **Data**: phantoms drawn on the fly, {r['steps'] * r['batch']:,} in all (a fresh batch every step, none
  seen twice). Each phantom is a deterministic function of a 32-dimensional latent z ~ N(0, 1):
  each component of z drives one jitter parameter of the ellipses (clipped at ±2.5), so the
  phantom distribution is the image of N(0, 1) under a known map. Rendered at 128x128 and
  average-pooled to 64x64 (anti-aliased edges), intensities clipped to [0, 1], scaled to [-1, 1].
- **Architecture**: z [32] -> Linear 32->2048 -> reshape [128, 4, 4] -> ReLU -> ConvTranspose
  (k4, s2, p1) 128->96 (8x8), 96->64 (16x16), 64->32 (32x32), 32->16 (64x64), each followed by
  BatchNorm and ReLU -> Conv 3x3 16->1 -> Tanh.
- **Objective**: the generator is trained as a decoder (a neural renderer): L1 loss between G(z)
  and the phantom rendered from the same z. No encoder and no discriminator are needed because
  the latent of every training image is known; sampling z ~ N(0, 1) then gives phantoms
  distributed like the training data. This is far more reliable than a GAN in a few minutes of
  CPU; its samples are slightly smoother at the edges than the rendered phantoms.
- **Optimiser**: Adam (lr {r['lr']}, betas 0.9/0.999), {r['warmup']} warm-up steps then cosine decay,
  batch {r['batch']}, {r['steps']:,} steps; batch-norm running statistics re-estimated at the end
  over {r['bn_batches']} batches.
- **Time**: {r['train_s'] / 60:.1f} minutes on one CPU thread ({r['cpu']}), torch {r['torch']}.
- **Loss** (L1 on the [-1, 1] scale): {r['loss_log']}.
- **Held-out** ({r['n_val']} fixed latents, eval mode): L1 {r['val_l1']:.4f}, RMSE {r['val_rmse']:.4f},
  PSNR {r['val_psnr']:.1f} dB (peak-to-peak 2) between G(z) and the rendered phantom of the same z.
- **Export**: written layer by layer to ONNX with `onnx.helper`; onnxruntime {r['ort']} agrees with
  torch within {r['max_diff']:.1e} (max abs difference over {r['n_check']} samples; required < 1e-5).

## Reproduce

    pip install torch numpy onnx onnxruntime pillow
    python3 scripts/train_phantom.py          # rewrites models/{MODEL_ID}/

Seeds are fixed (weights {r['seed']}, data {r['seed'] + 1}, held-out set {r['seed'] + 2}, preview {r['seed'] + 3}), and the
run uses one thread, so a rerun on the same machine gives the same weights.

## Licence

MIT (see `LICENSE`). The Shepp-Logan phantom is a public mathematical construction
(Shepp & Logan, 1974; modified contrast by Toft, 1996).
"""


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--width", type=int, default=16)
    ap.add_argument("--seed", type=int, default=900)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)

    g = Generator(args.width)
    params = sum(p.numel() for p in g.parameters())
    print(f"generator: {params:,} parameters")
    data_rng = torch.Generator().manual_seed(args.seed + 1)
    val_z = torch.randn(256, LATENT, generator=torch.Generator().manual_seed(args.seed + 2))
    val_x = phantoms(val_z)

    opt = torch.optim.Adam(g.parameters(), lr=args.lr)
    warmup = min(100, args.steps // 10)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: (s + 1) / warmup if s < warmup
        else 0.5 * (1 + math.cos(math.pi * (s - warmup) / max(1, args.steps - warmup))) * 0.995 + 0.005)

    t0 = time.time()
    loss_log, running = [], []
    g.train()
    for step in range(1, args.steps + 1):
        z = torch.randn(args.batch, LATENT, generator=data_rng)
        with torch.no_grad():
            x = phantoms(z)
        loss = (g(z) - x).abs().mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        running.append(loss.item())
        if step % 100 == 0 or step == args.steps:
            avg = sum(running) / len(running)
            running = []
            print(f"step {step:5d}  L1 {avg:.4f}  lr {sched.get_last_lr()[0]:.2e}  {time.time() - t0:6.0f}s",
                  flush=True)
            if step in (100, 500) or step % 1000 == 0 or step == args.steps:
                loss_log.append((step, avg))

    # re-estimate batch-norm statistics with the final weights (cumulative average)
    bn_batches = 20
    for m in g.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.reset_running_stats()
            m.momentum = None
    with torch.no_grad():
        for _ in range(bn_batches):
            g(torch.randn(256, LATENT, generator=data_rng))
    train_s = time.time() - t0
    g.eval()

    with torch.no_grad():
        pred = g(val_z)
    val_l1 = (pred - val_x).abs().mean().item()
    val_rmse = (pred - val_x).pow(2).mean().sqrt().item()
    val_psnr = 20 * math.log10(2.0 / val_rmse)
    print(f"held-out: L1 {val_l1:.4f}  RMSE {val_rmse:.4f}  PSNR {val_psnr:.1f} dB  ({train_s:.0f}s)")

    # export and check against torch
    model = to_onnx(g)
    model_bytes = model.SerializeToString()
    check_z = torch.randn(64, LATENT, generator=torch.Generator().manual_seed(args.seed + 4))
    with torch.no_grad():
        want = g(check_z).numpy()
    got = ort_run(model_bytes, check_z.numpy())
    max_diff = float(np.abs(got - want).max())
    one = ort_run(model_bytes, check_z.numpy()[:1])
    assert np.abs(one[0] - got[0]).max() < 1e-5, "batch dependence"
    print(f"onnxruntime vs torch: max abs diff {max_diff:.2e}")
    if max_diff >= 1e-5:
        print("error: onnxruntime and torch disagree", file=sys.stderr)
        return 1

    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    (out / "generator.onnx").write_bytes(model_bytes)
    preview_z = torch.randn(16, LATENT, generator=torch.Generator().manual_seed(args.seed + 3))
    grid_png(ort_run(model_bytes, preview_z.numpy()), out / "preview.png")

    import onnxruntime
    import platform

    r = dict(
        params=params, onnx_bytes=len(model_bytes), steps=args.steps, batch=args.batch, lr=args.lr,
        warmup=warmup, bn_batches=bn_batches, train_s=train_s, seed=args.seed,
        cpu=platform.processor() or platform.machine(), torch=torch.__version__.split("+")[0],
        ort=onnxruntime.__version__, val_l1=val_l1, val_rmse=val_rmse, val_psnr=val_psnr,
        n_val=len(val_z), max_diff=max_diff, n_check=len(check_z),
        mflop=2 * sum(
            m.in_channels * m.out_channels * 16 * (4 * 2 ** i) ** 2
            for i, m in enumerate(x for x in g.up if isinstance(x, nn.ConvTranspose2d)))
        / 1e6 + 2 * (LATENT * g.c0 * 16 + 16 * 9 * SIZE * SIZE) / 1e6,
        loss_log=", ".join(f"{l:.4f} at step {s:,}" for s, l in loss_log),
    )
    comment = (
        "A demo model, trained only on randomised synthetic Shepp-Logan head phantoms (no patient "
        "data). A small convolutional decoder (Linear, 4 ConvTranspose/BatchNorm/ReLU stages, Conv, "
        f"Tanh; {params:,} parameters) maps a 32-dimensional N(0,1) latent to a 64x64 phantom; it "
        f"was trained with an L1 loss to reproduce the phantom each latent parametrises ({args.steps} "
        f"steps of batch {args.batch}, {train_s / 60:.0f} minutes on one CPU thread). Bundled with "
        "medigan to try it without downloads; reproduce with scripts/train_phantom.py."
    )
    (out / "medigan.json").write_text(json.dumps(catalogue_entry(args.steps, comment), indent=2) + "\n")
    (out / "README.md").write_text(model_card(r))
    (out / "LICENSE").write_text(MIT.format(year=YEAR))
    for p in sorted(out.iterdir()):
        print(f"{p}: {p.stat().st_size:,} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
