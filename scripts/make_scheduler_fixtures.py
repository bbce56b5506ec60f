#!/usr/bin/env python3
"""Writes the scheduler conformance fixtures of crates/medigan-diffusion.

Each fixture runs one diffusers / MONAI scheduler on a fixed deterministic "model" and a fixed
small initial noise, and records what a sampler sees: the timesteps, init_noise_sigma, and at
every step the denoiser's input (scale_model_input), the noise the scheduler drew (if any) and
the sample after the step. The Rust test (crates/medigan-diffusion/tests/conformance.rs) drives
medigan's scheduler the same way, with the same model formula, replaying the recorded noise.

    pip install diffusers==0.42.1 monai==1.6.1 torch numpy   # CPU torch is enough
    python3 scripts/make_scheduler_fixtures.py [OUT_DIR]

The output is deterministic: re-running it rewrites the same files.
"""

import json
import os
import sys
import tempfile

import numpy as np
import torch

import diffusers
import monai
from diffusers import (
    DDIMScheduler,
    DDPMScheduler,
    DPMSolverMultistepScheduler,
    EulerAncestralDiscreteScheduler,
    EulerDiscreteScheduler,
    FlowMatchEulerDiscreteScheduler,
    PNDMScheduler,
    UniPCMultistepScheduler,
)
from monai.networks import schedulers as monai_schedulers

OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures", "diffusion", "schedulers")
SHAPE = [1, 3, 3]  # one sample; the batch holds 2
BATCH = 2

# The deterministic "model": out[j] = A * x[j] + B * cos(t / 100 + 0.1 * j), j the flat index
# in the batch buffer, computed in float64 and rounded to float32 (the Rust test does the same).
MODEL_A = -0.1
MODEL_B = 0.8


def model(x: torch.Tensor, t) -> torch.Tensor:
    flat = x.detach().numpy().astype(np.float64).reshape(-1)
    j = np.arange(flat.size, dtype=np.float64)
    out = MODEL_A * flat + MODEL_B * np.cos(float(t) / 100.0 + 0.1 * j)
    return torch.from_numpy(out.astype(np.float32).reshape(x.shape))


def floats(t) -> list:
    a = t.detach().numpy() if isinstance(t, torch.Tensor) else np.asarray(t)
    return [float(v) for v in a.astype(np.float32).reshape(-1)]


def initial_noise(seed: int) -> torch.Tensor:
    rng = np.random.default_rng(seed)
    return torch.from_numpy(rng.standard_normal([BATCH] + SHAPE).astype(np.float32))


class NoiseRecorder:
    """Wraps the randn the scheduler module calls, keeping every draw."""

    def __init__(self):
        self.draws = []

    def take(self):
        d, self.draws = self.draws, []
        return d

    def diffusers_randn(self, shape, generator=None, device=None, dtype=None, layout=None):
        out = torch.randn(shape, generator=generator, dtype=dtype or torch.float32)
        self.draws.append(floats(out))
        return out


def saved_config(sched) -> dict:
    """The scheduler_config.json diffusers writes for `sched`."""
    with tempfile.TemporaryDirectory() as d:
        sched.save_config(d)
        with open(os.path.join(d, "scheduler_config.json")) as f:
            return json.load(f)


def write_config(name: str, config: dict) -> str:
    """Writes the config as diffusers does (Python's json: `-Infinity` stays bare), under
    configs/; returns its path relative to the fixture directory."""
    rel = f"configs/{name}.json"
    os.makedirs(os.path.join(OUT, "configs"), exist_ok=True)
    with open(os.path.join(OUT, rel), "w") as f:
        f.write(json.dumps(config, indent=2, sort_keys=True) + "\n")
    return rel


def run_diffusers(name, cls, kwargs, steps, step_kwargs=None, extra_config=None, seed=0):
    step_kwargs = step_kwargs or {}
    sched = cls(**kwargs)
    config = saved_config(sched)
    config.update(extra_config or {})
    sched.set_timesteps(steps)
    rec = NoiseRecorder()
    module = sys.modules[cls.__module__]
    if hasattr(module, "randn_tensor"):
        module.randn_tensor = rec.diffusers_randn
    generator = torch.Generator().manual_seed(1234)
    noise = initial_noise(seed)
    init_sigma = getattr(sched, "init_noise_sigma", 1.0)
    sample = noise * init_sigma
    records = []
    for t in sched.timesteps:
        inp = sched.scale_model_input(sample, t) if hasattr(sched, "scale_model_input") else sample
        out = model(inp, t)
        kw = dict(step_kwargs)
        if "generator" in cls.step.__code__.co_varnames:
            kw["generator"] = generator
        sample = sched.step(out, t, sample, **kw).prev_sample
        records.append({"model_input": floats(inp), "noise": rec.take(), "sample": floats(sample)})
    return {
        "name": name,
        "source": f"diffusers {diffusers.__version__} {cls.__name__}",
        "config": write_config(name, config),
        "steps": steps,
        "shape": SHAPE,
        "batch": BATCH,
        "initial_noise": floats(noise),
        "init_noise_sigma": float(init_sigma),
        "timesteps": [float(t) for t in sched.timesteps.numpy().astype(np.float64)],
        "records": records,
    }


def run_monai(name, cls, kwargs, steps, step_kwargs=None, seed=0, set_kwargs=None, extra_config=None):
    step_kwargs = step_kwargs or {}
    sched = cls(**kwargs)
    sched.set_timesteps(steps, **(set_kwargs or {}))
    config = {"_target_": f"monai.networks.schedulers.{cls.__name__}", **kwargs, **(extra_config or {})}
    rec = NoiseRecorder()
    real_randn = torch.randn

    def recording_randn(*args, **kw):
        out = real_randn(*args, **kw)
        rec.draws.append(floats(out))
        return out

    generator = torch.Generator().manual_seed(1234)
    noise = initial_noise(seed)
    sample = noise.clone()
    timesteps = sched.timesteps
    nexts = torch.cat((timesteps[1:], torch.tensor([0], dtype=timesteps.dtype)))
    records = []
    for t, next_t in zip(timesteps, nexts):
        out = model(sample, t)
        torch.randn = recording_randn
        try:
            if cls is monai_schedulers.RFlowScheduler:
                sample, _ = sched.step(out, t, sample, next_t)
            elif cls is monai_schedulers.PNDMScheduler:
                sample, _ = sched.step(out, t, sample)
            else:
                sample, _ = sched.step(out, t, sample, generator=generator, **step_kwargs)
        finally:
            torch.randn = real_randn
        records.append({"model_input": None, "noise": rec.take(), "sample": floats(sample)})
    # The model input is the sample before each step (MONAI schedulers do not scale it).
    prev = noise
    for r in records:
        r["model_input"] = floats(prev)
        prev = torch.tensor(r["sample"]).reshape(noise.shape)
    return {
        "name": name,
        "source": f"monai {monai.__version__} {cls.__name__}",
        "config": write_config(name, config),
        "steps": steps,
        "shape": SHAPE,
        "batch": BATCH,
        "initial_noise": floats(noise),
        "init_noise_sigma": 1.0,
        "timesteps": [float(t) for t in timesteps.numpy().astype(np.float64)],
        "records": records,
    }


SD = dict(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear")


def fixtures():
    yield run_diffusers("ddpm", DDPMScheduler, {}, 20)
    yield run_diffusers("ddpm_v_trailing_small_log", DDPMScheduler,
                        dict(prediction_type="v_prediction", timestep_spacing="trailing",
                             clip_sample=False, variance_type="fixed_small_log", **SD), 15, seed=1)
    # Explicit betas (torch's own float32 linspace), the same run as above otherwise.
    sd_betas = torch.linspace(0.00085 ** 0.5, 0.012 ** 0.5, 1000, dtype=torch.float32) ** 2
    yield run_diffusers("ddpm_trained_betas", DDPMScheduler,
                        dict(prediction_type="v_prediction", timestep_spacing="trailing",
                             clip_sample=False, variance_type="fixed_small_log",
                             trained_betas=[float(b) for b in sd_betas]), 15, seed=1)
    yield run_diffusers("ddpm_sample_linspace_large", DDPMScheduler,
                        dict(prediction_type="sample", timestep_spacing="linspace",
                             variance_type="fixed_large", beta_schedule="squaredcos_cap_v2"), 12, seed=2)
    yield run_diffusers("ddim", DDIMScheduler,
                        dict(clip_sample=False, set_alpha_to_one=False, steps_offset=1, **SD), 20)
    yield run_diffusers("ddim_eta", DDIMScheduler, {}, 15, step_kwargs={"eta": 0.5},
                        extra_config={"eta": 0.5}, seed=3)
    yield run_diffusers("ddim_v_trailing_threshold", DDIMScheduler,
                        dict(prediction_type="v_prediction", timestep_spacing="trailing",
                             thresholding=True, sample_max_value=1.5,
                             rescale_betas_zero_snr=True, **SD), 10, seed=4)
    yield run_diffusers("ddim_sample_linspace", DDIMScheduler,
                        dict(prediction_type="sample", timestep_spacing="linspace",
                             clip_sample_range=0.8), 12, seed=5)
    yield run_diffusers("pndm", PNDMScheduler,
                        dict(skip_prk_steps=True, steps_offset=1, set_alpha_to_one=False, **SD), 20)
    yield run_diffusers("pndm_prk", PNDMScheduler, {}, 10, seed=6)
    yield run_diffusers("pndm_v_linspace", PNDMScheduler,
                        dict(skip_prk_steps=True, prediction_type="v_prediction",
                             timestep_spacing="linspace"), 12, seed=7)
    yield run_diffusers("euler", EulerDiscreteScheduler, dict(**SD), 20)
    yield run_diffusers("euler_karras_v_leading", EulerDiscreteScheduler,
                        dict(use_karras_sigmas=True, prediction_type="v_prediction",
                             timestep_spacing="leading", steps_offset=1, **SD), 15, seed=8)
    yield run_diffusers("euler_trailing_sample", EulerDiscreteScheduler,
                        dict(timestep_spacing="trailing", prediction_type="sample"), 10, seed=9)
    yield run_diffusers("euler_a", EulerAncestralDiscreteScheduler, dict(**SD), 20)
    yield run_diffusers("euler_a_v_leading", EulerAncestralDiscreteScheduler,
                        dict(prediction_type="v_prediction", timestep_spacing="leading",
                             steps_offset=1), 12, seed=10)
    yield run_diffusers("dpmpp", DPMSolverMultistepScheduler, dict(**SD), 20)
    yield run_diffusers("dpmpp_karras", DPMSolverMultistepScheduler,
                        dict(use_karras_sigmas=True, **SD), 12, seed=11)
    yield run_diffusers("dpmpp_order3_heun_v_trailing", DPMSolverMultistepScheduler,
                        dict(solver_order=3, solver_type="heun", prediction_type="v_prediction",
                             timestep_spacing="trailing", thresholding=True), 16, seed=12)
    yield run_diffusers("dpmpp_sde", DPMSolverMultistepScheduler,
                        dict(algorithm_type="sde-dpmsolver++", **SD), 15, seed=13)
    yield run_diffusers("dpmsolver_sigma_min_leading", DPMSolverMultistepScheduler,
                        dict(algorithm_type="dpmsolver", final_sigmas_type="sigma_min",
                             timestep_spacing="leading", steps_offset=1, solver_order=3), 10, seed=14)
    yield run_diffusers("unipc", UniPCMultistepScheduler, dict(**SD), 20)
    yield run_diffusers("unipc_order3_bh1_trailing", UniPCMultistepScheduler,
                        dict(solver_order=3, solver_type="bh1", timestep_spacing="trailing",
                             prediction_type="v_prediction", final_sigmas_type="sigma_min"), 12,
                        seed=15)
    yield run_diffusers("unipc_karras", UniPCMultistepScheduler,
                        dict(use_karras_sigmas=True, **SD), 15, seed=16)
    yield run_diffusers("flow_match_shift3", FlowMatchEulerDiscreteScheduler, dict(shift=3.0), 25)
    yield run_diffusers("flow_match_terminal_stochastic", FlowMatchEulerDiscreteScheduler,
                        dict(shift=1.5, shift_terminal=0.05, stochastic_sampling=True), 10, seed=17)
    yield run_monai("monai_rflow", monai_schedulers.RFlowScheduler, {}, 10)
    yield run_monai("monai_rflow_float_transform", monai_schedulers.RFlowScheduler,
                    dict(use_discrete_timesteps=False, use_timestep_transform=True,
                         base_img_size_numel=4, spatial_dim=2, steps_offset=1), 12, seed=18,
                    set_kwargs={"input_img_size_numel": 9},
                    extra_config={"input_img_size_numel": 9})
    yield run_monai("monai_ddpm", monai_schedulers.DDPMScheduler,
                    dict(num_train_timesteps=40, schedule="scaled_linear_beta",
                         beta_start=0.0015, beta_end=0.0195), 40, seed=19)
    yield run_monai("monai_ddim", monai_schedulers.DDIMScheduler,
                    dict(schedule="cosine", clip_sample=False), 12, step_kwargs={"eta": 0.0}, seed=20)
    yield run_monai("monai_pndm", monai_schedulers.PNDMScheduler,
                    dict(skip_prk_steps=True, schedule="scaled_linear_beta",
                         beta_start=0.0015, beta_end=0.0195), 12, seed=21)
    yield run_monai("monai_pndm_prk", monai_schedulers.PNDMScheduler, {}, 10, seed=22)


def main():
    torch.set_num_threads(1)
    os.makedirs(OUT, exist_ok=True)
    names = []
    for fx in fixtures():
        path = os.path.join(OUT, fx["name"] + ".json")
        with open(path, "w") as f:
            json.dump(fx, f, indent=None, separators=(",", ":"))
            f.write("\n")
        names.append(fx["name"])
    print(f"wrote {len(names)} fixtures to {os.path.normpath(OUT)}: {', '.join(names)}")


if __name__ == "__main__":
    main()
