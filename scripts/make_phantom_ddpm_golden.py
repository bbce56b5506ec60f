#!/usr/bin/env python3
"""Write golden samples of 00901_PHANTOM_DDPM for the Rust diffusion sampler's tests.

    python3 scripts/make_phantom_ddpm_golden.py   # writes tests/fixtures/diffusion/phantom_ddpm_golden/

From the same initial noise (numpy seed 0), runs diffusers' DDIMScheduler (the package's
scheduler_config.json unchanged, 10 steps, eta 0), DPMSolverMultistepScheduler and
EulerDiscreteScheduler (each `from_config` of the same config, defaults otherwise, 10 steps) with
the package's denoiser.onnx on onnxruntime (CPU, one thread), and saves the final samples.
The denoiser gets the scheduler's timestep as int64 (all 10-step timesteps here are integers),
and the scheduler's `scale_model_input` of the current sample (identity for DDIM and DPM-Solver,
x / sqrt(sigma^2 + 1) for Euler); the initial sample is noise * init_noise_sigma.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from train_phantom_ddpm import MODEL_ID, ort_session, sample_ort  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
PACKAGE = REPO / "models" / MODEL_ID
OUT = REPO / "tests" / "fixtures" / "diffusion" / "phantom_ddpm_golden"
STEPS = 10


def main() -> int:
    import diffusers
    import onnxruntime
    from diffusers import DDIMScheduler, DPMSolverMultistepScheduler, EulerDiscreteScheduler

    entry = json.loads((PACKAGE / "medigan.json").read_text())[MODEL_ID]
    shape = entry["execution"]["onnx"]["diffusion"]["noise"]["shape"]
    config = DDIMScheduler.load_config(PACKAGE / "scheduler_config.json")
    sess = ort_session((PACKAGE / "denoiser.onnx").read_bytes())

    noise = np.random.default_rng(0).standard_normal((2, *shape)).astype(np.float32)
    OUT.mkdir(parents=True, exist_ok=True)
    np.save(OUT / "initial_noise.npy", noise)
    runs = [
        ("ddim_10_steps.npy", DDIMScheduler.from_config(config), {"eta": 0.0}),
        ("dpmpp_10_steps.npy", DPMSolverMultistepScheduler.from_config(config), {}),
        ("euler_10_steps.npy", EulerDiscreteScheduler.from_config(config), {}),
    ]
    lines, ranges = [], []
    for name, sched, kw in runs:
        sched.set_timesteps(STEPS)
        ts = [int(t) for t in sched.timesteps]
        x = sample_ort(sess, sched, noise.copy(), STEPS, **kw)
        np.save(OUT / name, x)
        print(f"{name}: {type(sched).__name__} timesteps {ts} range [{x.min():.3f}, {x.max():.3f}]")
        lines.append(f"| `{name}` | `{type(sched).__name__}` | {', '.join(map(str, ts))} |")
        ranges.append(f"{name.split('_')[0]} [{x.min():.2f}, {x.max():.2f}]")

    import numpy
    import torch

    (OUT / "README.md").write_text(f"""# Golden samples of {MODEL_ID}

Made by `python3 scripts/make_phantom_ddpm_golden.py` from `models/{MODEL_ID}/` (denoiser.onnx,
scheduler_config.json), with diffusers {diffusers.__version__}, onnxruntime {onnxruntime.__version__}
(CPU, one thread), torch {torch.__version__.split('+')[0]}, numpy {numpy.__version__}.
Regenerate them whenever the package's denoiser or scheduler config changes.

- `initial_noise.npy`: float32 [2, {', '.join(map(str, shape))}],
  `np.random.default_rng(0).standard_normal((2, {', '.join(map(str, shape))})).astype(np.float32)`.
- Each other file: float32 [2, {', '.join(map(str, shape))}], the final samples (not clipped) of
  {STEPS} steps of a diffusers scheduler from that noise. The loop, per step t of
  `scheduler.timesteps`: `eps = denoiser(sample=scheduler.scale_model_input(x, t),
  timestep=int64(t))`, `x = scheduler.step(eps, t, x, **kw).prev_sample`; x starts as
  `noise * scheduler.init_noise_sigma`; both samples run as one batch.

| file | scheduler | timesteps |
|---|---|---|
{chr(10).join(lines)}

- DDIM: `DDIMScheduler.from_config(config)` of the package's `scheduler_config.json` unchanged
  (linear betas 1e-4..0.02, 1000 timesteps, epsilon, `timestep_spacing` "trailing",
  `clip_sample` true, `set_alpha_to_one` true), eta 0.
- DPM-Solver++: `DPMSolverMultistepScheduler.from_config(config)`, its defaults otherwise
  (`algorithm_type` dpmsolver++, `solver_order` 2, `lower_order_final` true, midpoint solver,
  no thresholding; `final_sigmas_type` zero).
- Euler: `EulerDiscreteScheduler.from_config(config)`, defaults otherwise (`interpolation_type`
  linear, no Karras sigmas, s_churn 0: deterministic); `init_noise_sigma` is the largest sigma
  (about 157) for "trailing" spacing.

Value ranges: {', '.join(ranges)}. The model is small and undertrained, so without x0 clipping
(DPM-Solver++, Euler) its epsilon errors at high noise are amplified and the samples leave
[-1, 1]: compare with a tolerance relative to each file's scale (the files are a numerical
reference for the schedulers, not good images).
""")
    for p in sorted(OUT.iterdir()):
        print(f"{p}: {p.stat().st_size:,} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
