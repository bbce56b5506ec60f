#!/usr/bin/env python3
"""Train medigan's bundled diffusion demo, 00901_PHANTOM_DDPM: a DDPM of Shepp-Logan head phantoms.

Run by hand, from the repository root (needs torch, numpy, onnx, onnxruntime, pillow, diffusers):

    python3 scripts/train_phantom_ddpm.py                     # train, export, write models/00901_PHANTOM_DDPM/
    python3 scripts/train_phantom_ddpm.py --steps 100 --out /tmp/ddpm   # a quick trial run

What it does
------------
Data: randomised (modified) Shepp-Logan head phantoms drawn on the fly by the renderer of
scripts/train_phantom.py (imported from there), never patient data: a fresh batch every step.

Model: a small UNet denoiser in plain torch (conv in, residual blocks with GroupNorm, SiLU and an
additive sinusoidal-timestep embedding, strided-conv downsampling, nearest+conv upsampling, skip
concatenations, GroupNorm/SiLU/conv out), trained with the DDPM epsilon objective (MSE between the
added and the predicted noise) over 1000 training timesteps with the linear beta schedule
1e-4..0.02 of Ho et al. (2020). EMA weights are exported.

Why the linear schedule: it is the reference DDPM schedule, every diffusers scheduler (DDIM, DDPM,
DPM-Solver++, Euler, ...) and any port of them treats it identically, and its last timestep keeps
alpha_bar = 4e-5 (sigma = 157): well conditioned for sigma-space samplers (Euler) and for x0
reconstruction. squaredcos_cap_v2 spends more of the schedule at mid noise (slightly better for
small images) but drives alpha_bar at t = 999 to ~1e-9 (beta capped at 0.999), which makes the
Euler/DPM first steps ill conditioned with an epsilon-predicting net.

Export: torch.onnx.export (TorchScript exporter, opset 17, dynamic batch axis) of the EMA weights:
inputs `sample` float32 [B, 1, H, W] and `timestep` int64 [B], output `noise_pred` float32
[B, 1, H, W]; the script checks that onnxruntime agrees with torch within 1e-4, writes the
scheduler config (diffusers DDIMScheduler.save_config), renders a preview grid of 16 samples with
diffusers' DDIMScheduler driving the ONNX graph on onnxruntime, and writes the package:
medigan.json, denoiser.onnx, scheduler_config.json, README.md (model card with this run's numbers),
LICENSE, preview.png.

Deterministic: fixed seeds for weights, data, timesteps, noise and the preview; one intra-op thread.
"""

from __future__ import annotations

import argparse
import copy
import io
import json
import math
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
import train_phantom as tp  # noqa: E402  (the phantom renderer, the preview grid, the licence text)

MODEL_ID = "00901_PHANTOM_DDPM"
T_TRAIN = 1000
BETA_START, BETA_END = 1e-4, 0.02
OPSET = 17
YEAR = "2026"
DATE = "December 2026"
DEFAULT_STEPS = 50  # default DDIM inference steps of the package

REPO = Path(__file__).resolve().parent.parent
DEFAULT_OUT = REPO / "models" / MODEL_ID


def draw_phantoms(n: int, size: int, gen: torch.Generator) -> torch.Tensor:
    """n random phantoms [n, 1, size, size] in [-1, 1] (rendered at 128x128 by train_phantom.py)."""
    x = tp.phantoms(torch.randn(n, tp.LATENT, generator=gen))  # [n, 1, 64, 64]
    if size != tp.SIZE:
        x = F.adaptive_avg_pool2d(x, size)
    return x


# ------------------------------------------------------------------------------------------
# model
# ------------------------------------------------------------------------------------------


def timestep_embedding(t: torch.Tensor, dim: int) -> torch.Tensor:
    """Sinusoidal embedding [B, dim] of integer timesteps [B] (as in DDPM / diffusers)."""
    half = dim // 2
    freqs = torch.exp(-math.log(10000.0) * torch.arange(half, dtype=torch.float32) / half)
    args = t.to(torch.float32)[:, None] * freqs[None]
    return torch.cat([torch.sin(args), torch.cos(args)], dim=1)


class ResBlock(nn.Module):
    def __init__(self, cin: int, cout: int, tdim: int, groups: int = 8):
        super().__init__()
        self.n1 = nn.GroupNorm(groups, cin)
        self.c1 = nn.Conv2d(cin, cout, 3, padding=1)
        self.t = nn.Linear(tdim, cout)
        self.n2 = nn.GroupNorm(groups, cout)
        self.c2 = nn.Conv2d(cout, cout, 3, padding=1)
        self.skip = nn.Conv2d(cin, cout, 1) if cin != cout else nn.Identity()
        nn.init.zeros_(self.c2.weight)
        nn.init.zeros_(self.c2.bias)

    def forward(self, x: torch.Tensor, temb: torch.Tensor) -> torch.Tensor:
        h = self.c1(F.silu(self.n1(x)))
        h = h + self.t(temb)[:, :, None, None]
        h = self.c2(F.silu(self.n2(h)))
        return self.skip(x) + h


class UNet(nn.Module):
    """DDPM-style UNet: `channels[i]` feature maps at resolution H / 2^i, `n_res` blocks a level."""

    def __init__(self, channels=(32, 64, 96), n_res: int = 1, emb: int = 64, groups: int = 8,
                 stem: int = 2, stem_ch: int = 8):
        super().__init__()
        self.channels, self.n_res, self.emb, self.stem = tuple(channels), n_res, emb, stem
        tdim = emb * 2
        self.temb = nn.Sequential(nn.Linear(emb, tdim), nn.SiLU(), nn.Linear(tdim, tdim))
        if stem > 1:  # full-resolution conv, then space-to-depth: the UNet runs at H/stem
            self.stem_in = nn.Conv2d(1, stem_ch, 3, padding=1)
            self.conv_in = nn.Conv2d(stem_ch * stem * stem, channels[0], 3, padding=1)
        else:
            self.conv_in = nn.Conv2d(1, channels[0], 3, padding=1)
        self.down = nn.ModuleList()
        skips = [channels[0]]
        c = channels[0]
        for i, co in enumerate(channels):
            for _ in range(n_res):
                self.down.append(ResBlock(c, co, tdim, groups))
                c = co
                skips.append(c)
            if i < len(channels) - 1:
                self.down.append(nn.Conv2d(c, c, 3, stride=2, padding=1))
                skips.append(c)
        self.mid = nn.ModuleList([ResBlock(c, c, tdim, groups), ResBlock(c, c, tdim, groups)])
        self.up = nn.ModuleList()
        for i, co in reversed(list(enumerate(channels))):
            for _ in range(n_res + 1):
                self.up.append(ResBlock(c + skips.pop(), co, tdim, groups))
                c = co
            if i > 0:  # conv at the low resolution, then nearest x2 (4x cheaper than conv after)
                self.up.append(nn.Sequential(nn.Conv2d(c, c, 3, padding=1),
                                             nn.Upsample(scale_factor=2.0, mode="nearest")))
        self.n_out = nn.GroupNorm(groups, c)
        if stem > 1:  # depth-to-space back to full resolution, then a full-resolution conv
            self.conv_out = nn.Conv2d(c, stem_ch * stem * stem, 3, padding=1)
            self.stem_out = nn.Conv2d(stem_ch, 1, 3, padding=1)
            zero = self.stem_out
        else:
            self.conv_out = nn.Conv2d(c, 1, 3, padding=1)
            zero = self.conv_out
        nn.init.zeros_(zero.weight)
        nn.init.zeros_(zero.bias)

    def forward(self, sample: torch.Tensor, timestep: torch.Tensor) -> torch.Tensor:
        temb = F.silu(self.temb(timestep_embedding(timestep, self.emb)))
        if self.stem > 1:
            h = self.conv_in(F.pixel_unshuffle(F.silu(self.stem_in(sample)), self.stem))
        else:
            h = self.conv_in(sample)
        hs = [h]
        for m in self.down:
            h = m(h, temb) if isinstance(m, ResBlock) else m(h)
            hs.append(h)
        for m in self.mid:
            h = m(h, temb)
        for m in self.up:
            h = m(torch.cat([h, hs.pop()], dim=1), temb) if isinstance(m, ResBlock) else m(h)
        h = self.conv_out(F.silu(self.n_out(h)))
        if self.stem > 1:
            h = self.stem_out(F.silu(F.pixel_shuffle(h, self.stem)))
        return h


# ------------------------------------------------------------------------------------------
# export and sampling
# ------------------------------------------------------------------------------------------


def export_onnx(model: UNet, size: int) -> bytes:
    import onnx

    buf = io.BytesIO()
    sample = torch.randn(2, 1, size, size)
    timestep = torch.tensor([10, 500], dtype=torch.int64)
    kw = dict(input_names=["sample", "timestep"], output_names=["noise_pred"],
              dynamic_axes={"sample": {0: "batch"}, "timestep": {0: "batch"}, "noise_pred": {0: "batch"}},
              opset_version=OPSET, do_constant_folding=True)
    with torch.no_grad():
        torch.onnx.export(model, (sample, timestep), buf, dynamo=False, **kw)
    m = onnx.load_from_string(buf.getvalue())
    m.producer_name = "medigan scripts/train_phantom_ddpm.py"
    m.doc_string = (f"{MODEL_ID}: epsilon-predicting UNet denoiser of {size}x{size} Shepp-Logan phantoms "
                    "(DDPM, 1000 timesteps, linear betas 1e-4..0.02; trained on synthetic phantoms only)")
    onnx.checker.check_model(m, full_check=True)
    return m.SerializeToString()


def ort_session(model_bytes: bytes):
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    return ort.InferenceSession(model_bytes, so, providers=["CPUExecutionProvider"])


def ort_denoise(sess, x: np.ndarray, t) -> np.ndarray:
    ts = np.full((x.shape[0],), int(round(float(t))), dtype=np.int64)
    return sess.run(["noise_pred"], {"sample": x.astype(np.float32), "timestep": ts})[0]


def scheduler_for_package():
    from diffusers import DDIMScheduler

    return DDIMScheduler(num_train_timesteps=T_TRAIN, beta_start=BETA_START, beta_end=BETA_END,
                         beta_schedule="linear", clip_sample=True, clip_sample_range=1.0,
                         set_alpha_to_one=True, steps_offset=0, prediction_type="epsilon",
                         timestep_spacing="trailing")


def sample_ort(sess, scheduler, noise: np.ndarray, steps: int, **step_kw) -> np.ndarray:
    """Run a diffusers scheduler with the ONNX denoiser from the given initial noise (float32)."""
    scheduler.set_timesteps(steps)
    x = torch.from_numpy(noise) * scheduler.init_noise_sigma
    for t in scheduler.timesteps:
        inp = scheduler.scale_model_input(x, t)
        eps = torch.from_numpy(ort_denoise(sess, inp.numpy().astype(np.float32), t))
        x = scheduler.step(eps, t, x, **step_kw).prev_sample
    return x.numpy().astype(np.float32)


# ------------------------------------------------------------------------------------------
# package
# ------------------------------------------------------------------------------------------


def catalogue_entry(size: int, steps: int, comment: str) -> dict:
    entry = tp.catalogue_entry(steps, comment)["00900_PHANTOM_DEMO"]
    ex = entry["execution"]
    ex["package_name"] = MODEL_ID
    ex["model_name"] = "denoiser"
    ex["image_size"] = [size, size]
    del ex["generate_method"]["input_latent_vector_size"]
    ex["onnx"] = {
        "graph": "denoiser.onnx",
        "inputs": [],
        "outputs": [{"name": "image", "kind": "image", "shape": [1, size, size], "range": [-1, 1]}],
        "diffusion": {
            "denoiser": {"sample": "sample", "timestep": "timestep", "timestep_type": "int64",
                         "output": "noise_pred", "prediction": "epsilon"},
            "noise": {"shape": [1, size, size]},
            "scheduler": "scheduler_config.json",
            "steps": DEFAULT_STEPS,
            "guidance_scale": None,
            "null_class": None,
            "decoder": None,
        },
    }
    sel = entry["selection"]
    sel["function"] = ["denoising diffusion", "noise to image", "image generation", "unconditional generation"]
    sel["height"] = sel["width"] = size
    sel["type"] = "Denoising diffusion probabilistic model (DDPM)"
    sel["tags"] = ["demo", "phantom", "Shepp-Logan", "synthetic", "diffusion", "DDPM", "DDIM", "UNet",
                   f"{size}x{size}", f"{size} x {size}", "CT", "head"]
    sel["year"] = YEAR
    d = entry["description"]
    d["title"] = (f"Demo denoising diffusion model (DDPM) of randomised Shepp-Logan head phantoms "
                  f"({size}x{size}, synthetic training data)")
    d["provided_date"] = d["trained_date"] = DATE
    d["provided_after_epoch"] = steps
    d["version"] = "0.1.0"
    d["comment"] = comment
    return {MODEL_ID: entry}


def model_card(r: dict) -> str:
    s = r["size"]
    return f"""# {MODEL_ID}: demo diffusion model (DDPM) of Shepp-Logan head phantoms

**This is a demo model.** It was trained only on randomised synthetic Shepp-Logan phantoms drawn
by a program, never on patient data or any medical image. Its samples are phantoms, not CT scans:
use it to try medigan's diffusion sampler (schedulers, steps, seeds, `--initial-noise`) without
downloading anything or running third-party code, and for tests. It is not for any clinical or
research use.

![16 samples (DDIM, {r['preview_steps']} steps)](preview.png)

## What it generates

{s}x{s} grayscale images of the modified Shepp-Logan head phantom (skull ring, brain, two
ventricles and the small inner ellipses) with the per-sample variation of the training phantoms
of `00900_PHANTOM_DEMO` (rotation, scale and position of the head, shape and thickness of the
skull, position, size, angle and intensity of the inner structures). It is a code-free diffusion
package: medigan's sampler runs the denoiser graph under the scheduler of `scheduler_config.json`.

| denoiser input | type | shape | meaning |
|---|---|---|---|
| `sample` | float32 | [B, 1, {s}, {s}] | the noisy sample x_t |
| `timestep` | int64 | [B] | the training timestep t in 0..999 |

| denoiser output | type | shape | meaning |
|---|---|---|---|
| `noise_pred` | float32 | [B, 1, {s}, {s}] | predicted noise (epsilon prediction) |

Final samples: `image` [1, {s}, {s}] in [-1, 1] (-1 is air, 1 is bone), from standard-normal
initial noise of shape [1, {s}, {s}].

`denoiser.onnx`: ONNX opset {OPSET}, exported with `torch.onnx.export` (TorchScript exporter),
dynamic batch axis `batch`, {r['params']:,} parameters, {r['onnx_bytes']:,} bytes, about
{r['mflop']:.0f} MFLOP per sample and step.

**Default sampler**: diffusers `DDIMScheduler` (`scheduler_config.json`: 1000 training timesteps,
linear betas 1e-4..0.02, epsilon prediction, `timestep_spacing` "trailing", `clip_sample` true,
eta 0), {r['default_steps']} steps. 16 samples take about {r['preview_s']:.1f} s with onnxruntime on one CPU thread. The
config also loads into DDPMScheduler, DPMSolverMultistepScheduler, EulerDiscreteScheduler etc.
(`from_config`), but keep DDIM (or another scheduler with x0 clipping): without clipping, the
model's epsilon errors at high noise are amplified (x0 = (x_t - sqrt(1 - alpha_bar) eps) /
sqrt(alpha_bar)) and DPM-Solver++ / Euler samples leave [-1, 1] far (values of 5 to 25).

## Training

- **Data**: phantoms drawn on the fly by the renderer of `scripts/train_phantom.py` (rendered at
  128x128, average-pooled to {s}x{s}, scaled to [-1, 1]), {r['steps'] * r['batch']:,} in all, a fresh batch
  every step, none seen twice.
- **Architecture**: a full-resolution stem (conv 3x3 1->{r['stem_ch']}, SiLU, space-to-depth by {r['stem']}), then a
  UNet with {len(r['channels'])} resolution levels, channels {r['channels']} at
  {r['levels']}, {r['n_res']} residual block(s) per level on the way down and
  {r['n_res'] + 1} on the way up (skip concatenation), 2 residual blocks in the middle; residual block =
  GroupNorm(8), SiLU, conv 3x3, + projected timestep embedding, GroupNorm(8), SiLU, conv 3x3, plus a
  1x1 skip where channels change; stride-2 3x3 conv down, conv 3x3 + nearest x2 up; out: GroupNorm,
  SiLU, conv 3x3 to {r['stem_ch'] * r['stem'] ** 2} channels, depth-to-space to {s}x{s}, SiLU, conv 3x3 ->1; timestep
  embedding: {r['emb']}-dimensional sinusoidal, Linear, SiLU, Linear ({2 * r['emb']}). No attention.
- **Objective**: DDPM epsilon prediction (Ho et al., 2020): t uniform in 0..999, x_t =
  sqrt(alpha_bar_t) x_0 + sqrt(1 - alpha_bar_t) eps, MSE between eps and the prediction. Linear beta
  schedule 1e-4..0.02: the reference schedule, treated identically by every diffusers scheduler and
  their ports, and well conditioned at t = 999 (alpha_bar 4e-5, sigma 157) for sigma-space
  samplers (squaredcos_cap_v2 would drive alpha_bar(999) to about 1e-9).
- **Optimiser**: AdamW (lr {r['lr']}, weight decay 0, betas 0.9/0.999, gradient clipping at 1),
  {r['warmup']} warm-up steps then cosine decay, batch {r['batch']}, {r['steps']:,} steps{r['stop_note']}; EMA of the weights
  (decay {r['ema']}) is what is exported.
- **Time**: {r['train_s'] / 60:.1f} minutes on one CPU thread ({r['cpu']}), torch {r['torch']}.
- **Loss** (epsilon MSE, mean over the steps of the window): {r['loss_log']}.
- **Held-out** ({r['n_val']} fixed (x_0, t, eps) triples, EMA weights): epsilon MSE {r['val_mse']:.4f}.
- **Export**: onnxruntime {r['ort']} agrees with torch within {r['max_diff']:.1e} (max abs difference
  over {r['n_check']} random (sample, timestep) pairs; required < 1e-4).

## Reproduce

    pip install torch numpy onnx onnxruntime pillow diffusers
    python3 scripts/train_phantom_ddpm.py          # rewrites models/{MODEL_ID}/

Seeds are fixed (weights {r['seed']}, data {r['seed'] + 1}, held-out set {r['seed'] + 2}, preview {r['seed'] + 3}), and the
run uses one thread, so a rerun on the same machine gives the same weights. Golden samples for the
sampler's tests: `python3 scripts/make_phantom_ddpm_golden.py` (tests/fixtures/diffusion/phantom_ddpm_golden/).

## Limitations

A tiny model trained for {r['train_s'] / 60:.0f} minutes on a (shared) CPU, i.e. undertrained: the samples are
recognisable head phantoms (skull ring, brain, both ventricles, the upper blob) but far from
clean ones: the background is grey (about -0.45 instead of -1) and grainy, the interior carries
residual noise texture, edges are ragged, the small inner ellipses are mostly missing or
smeared, and some heads are lopsided. Only samplers that clip the x0 prediction (the default
DDIM) give usable images; unclipped DPM-Solver++ and Euler diverge (see above). It knows nothing
but Shepp-Logan phantoms.

## Licence

MIT (see `LICENSE`). The Shepp-Logan phantom is a public mathematical construction
(Shepp & Logan, 1974; modified contrast by Toft, 1996).
"""


def conv_mflop(model: UNet, size: int) -> float:
    """Multiply-adds x2 of the convolutions and linears for one sample (hooks on a forward pass)."""
    total = [0]

    def hook(m, inp, out):
        if isinstance(m, nn.Conv2d):
            total[0] += 2 * out.numel() * m.in_channels * m.kernel_size[0] * m.kernel_size[1] // m.groups
        elif isinstance(m, nn.Linear):
            total[0] += 2 * m.in_features * m.out_features

    hs = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    with torch.no_grad():
        model(torch.zeros(1, 1, size, size), torch.zeros(1, dtype=torch.int64))
    for h in hs:
        h.remove()
    return total[0] / 1e6


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--ema", type=float, default=0.999)
    ap.add_argument("--channels", type=str, default="32,64,96")
    ap.add_argument("--n-res", type=int, default=1)
    ap.add_argument("--emb", type=int, default=64)
    ap.add_argument("--stem", type=int, default=2, help="space-to-depth factor of the full-resolution stem (1: none)")
    ap.add_argument("--stem-ch", type=int, default=8)
    ap.add_argument("--seed", type=int, default=901)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--max-minutes", type=float, default=None,
                    help="safety stop: end training early after this wall time (the run is then not reproducible)")
    ap.add_argument("--stop-after", type=int, default=None,
                    help="end training after this step (a multiple of 100), keeping the --steps schedule")
    ap.add_argument("--bench", action="store_true", help="time 5 training steps and exit")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    size = args.size
    channels = tuple(int(c) for c in args.channels.split(","))

    model = UNet(channels, args.n_res, args.emb, stem=args.stem, stem_ch=args.stem_ch)
    params = sum(p.numel() for p in model.parameters())
    mflop = conv_mflop(model, size)
    print(f"unet {channels} x{args.n_res}: {params:,} parameters, {mflop:.0f} MFLOP per sample")
    ema = copy.deepcopy(model).eval()
    for p in ema.parameters():
        p.requires_grad_(False)

    betas = torch.linspace(BETA_START, BETA_END, T_TRAIN, dtype=torch.float64)
    abar = torch.cumprod(1 - betas, 0).float()
    data_rng = torch.Generator().manual_seed(args.seed + 1)

    def noisy(x0, gen):
        t = torch.randint(0, T_TRAIN, (x0.shape[0],), generator=gen)
        eps = torch.randn(x0.shape, generator=gen)
        a = abar[t][:, None, None, None]
        return a.sqrt() * x0 + (1 - a).sqrt() * eps, t, eps

    val_rng = torch.Generator().manual_seed(args.seed + 2)
    val = noisy(draw_phantoms(256, size, val_rng), val_rng)

    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.0)
    warmup = min(200, args.steps // 10)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: (s + 1) / warmup if s < warmup
        else 0.5 * (1 + math.cos(math.pi * (s - warmup) / max(1, args.steps - warmup))) * 0.95 + 0.05)

    schedule_steps = args.steps
    t0 = time.time()
    loss_log, running = [], []
    model.train()
    for step in range(1, args.steps + 1):
        with torch.no_grad():
            xt, t, eps = noisy(draw_phantoms(args.batch, size, data_rng), data_rng)
        loss = F.mse_loss(model(xt, t), eps)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        with torch.no_grad():
            d = min(args.ema, (1 + step) / (10 + step))
            for pe, pm in zip(ema.parameters(), model.parameters()):
                pe.mul_(d).add_(pm, alpha=1 - d)
        running.append(loss.item())
        if args.bench and step == 5:
            dt = (time.time() - t0) / 5
            print(f"{dt:.3f} s/step at batch {args.batch}: {args.steps} steps = {dt * args.steps / 60:.1f} min")
            return 0
        if step % 100 == 0 or step == args.steps:
            avg = sum(running) / len(running)
            running = []
            print(f"step {step:5d}  mse {avg:.4f}  lr {sched.get_last_lr()[0]:.2e}  {time.time() - t0:6.0f}s",
                  flush=True)
            if step in (100, 500) or step % 1000 == 0 or step == args.steps:
                loss_log.append((step, avg))
            if step < args.steps and (step == args.stop_after or (
                    args.max_minutes and time.time() - t0 > 60 * args.max_minutes)):
                print(f"stop at step {step} of the {args.steps}-step schedule (reproduce: --stop-after {step})",
                      flush=True)
                loss_log.append((step, avg))
                args.steps = step
                break
    train_s = time.time() - t0
    stop_note = "" if args.steps == schedule_steps else (
        f" (stopped there by the time budget; the learning-rate schedule is that of {schedule_steps:,} steps:"
        f" reproduce with `--steps {schedule_steps} --stop-after {args.steps}`)")

    with torch.no_grad():
        val_mse = F.mse_loss(ema(val[0], val[1]), val[2]).item()
    print(f"held-out epsilon mse (EMA) {val_mse:.4f}  ({train_s:.0f}s)")

    # export and check against torch
    model_bytes = export_onnx(ema, size)
    sess = ort_session(model_bytes)
    cg = torch.Generator().manual_seed(args.seed + 4)
    check_x = torch.randn(16, 1, size, size, generator=cg)
    check_t = torch.randint(0, T_TRAIN, (16,), generator=cg)
    with torch.no_grad():
        want = ema(check_x, check_t).numpy()
    got = sess.run(["noise_pred"], {"sample": check_x.numpy(), "timestep": check_t.numpy()})[0]
    max_diff = float(np.abs(got - want).max())
    one = sess.run(["noise_pred"], {"sample": check_x.numpy()[:1], "timestep": check_t.numpy()[:1]})[0]
    assert np.abs(one[0] - got[0]).max() < 1e-4, "batch dependence"
    print(f"onnxruntime vs torch: max abs diff {max_diff:.2e}")
    if max_diff >= 1e-4:
        print("error: onnxruntime and torch disagree", file=sys.stderr)
        return 1

    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    (out / "denoiser.onnx").write_bytes(model_bytes)
    scheduler = scheduler_for_package()
    scheduler.save_config(out)  # writes scheduler_config.json
    preview_noise = torch.randn(16, 1, size, size, generator=torch.Generator().manual_seed(args.seed + 3)).numpy()
    tp0 = time.time()
    preview = sample_ort(sess, scheduler, preview_noise, DEFAULT_STEPS, eta=0.0)
    preview_s = time.time() - tp0
    print(f"preview: 16 samples, DDIM {DEFAULT_STEPS} steps, {preview_s:.1f}s; range "
          f"[{preview.min():.2f}, {preview.max():.2f}]")
    tp.grid_png(np.clip(preview, -1, 1), out / "preview.png", scale=max(1, 128 // size))

    import onnxruntime

    r = dict(
        size=size, params=params, onnx_bytes=len(model_bytes), mflop=mflop, steps=args.steps,
        batch=args.batch, lr=args.lr, ema=args.ema, warmup=warmup, channels=list(channels),
        n_res=args.n_res, emb=args.emb, stem=args.stem, stem_ch=args.stem_ch,
        levels=", ".join(f"{size // args.stem >> i}x{size // args.stem >> i}" for i in range(len(channels))), train_s=train_s, seed=args.seed,
        cpu=platform.processor() or platform.machine(), torch=torch.__version__.split("+")[0],
        ort=onnxruntime.__version__, val_mse=val_mse, n_val=len(val[0]), max_diff=max_diff,
        n_check=len(check_x), preview_steps=DEFAULT_STEPS, default_steps=DEFAULT_STEPS,
        preview_s=preview_s, stop_note=stop_note,
        loss_log=", ".join(f"{l:.4f} at step {s:,}" for s, l in loss_log),
    )
    comment = (
        "A demo model, trained only on randomised synthetic Shepp-Logan head phantoms (no patient "
        f"data). A small UNet denoiser ({len(channels)} levels, channels {'/'.join(map(str, channels))}, "
        f"GroupNorm, SiLU, sinusoidal timestep embedding; {params:,} parameters) predicts the noise of "
        f"{size}x{size} phantoms; it was trained with the DDPM epsilon objective (1000 timesteps, linear "
        f"betas 1e-4..0.02; {args.steps} steps of batch {args.batch}"
        f"{'' if args.steps == schedule_steps else f' of a {schedule_steps}-step schedule'}, {train_s / 60:.0f} minutes on one CPU "
        f"thread; EMA weights). Sampled by default with DDIM, {DEFAULT_STEPS} steps. Bundled with medigan "
        "to try diffusion sampling without downloads; reproduce with scripts/train_phantom_ddpm.py."
    )
    (out / "medigan.json").write_text(json.dumps(catalogue_entry(size, args.steps, comment), indent=2) + "\n")
    (out / "README.md").write_text(model_card(r))
    (out / "LICENSE").write_text(tp.MIT.format(year=YEAR))
    for p in sorted(out.iterdir()):
        print(f"{p}: {p.stat().st_size:,} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
