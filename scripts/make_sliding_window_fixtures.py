#!/usr/bin/env python3
"""Make the 3D latent diffusion package whose decoder runs in sliding windows
(crates/medigan-cli/tests/sliding_window.rs), and its golden volumes from MONAI's own
`sliding_window_inference`.

Run by hand from the repository root (needs numpy, torch, onnx, onnxruntime, diffusers and
monai==1.6.1):

    python3 scripts/make_sliding_window_fixtures.py

Writes tests/fixtures/sliding_window/ldm_3d/: a native diffusion package with random small
weights (seeded; no training), shaped like MAISI's decode (a latent decoded window by window,
gaussian blending, overlap 0.25):
- denoiser.onnx  a 3D conv net on [2, 6, 6, 6] latents (int64 timestep);
- decoder.onnx   ConvTranspose3d x2 then a 3x3x3 conv (so a window's border differs from the
                 whole volume's), one window [2, 4, 4, 4] -> [1, 8, 8, 8];
- scheduler_config.json  diffusers' DDIMScheduler;
- medigan.json   `decoder.sliding_window` {roi [4, 4, 4], overlap 0.25, gaussian};
- golden/initial_noise.npy (float32 [N, 2, 6, 6, 6]) and golden/samples_<K>_steps.npy: the
  DDIM loop (diffusers' DDIMScheduler over the denoiser in onnxruntime) then MONAI's
  `sliding_window_inference` of latent / scaling_factor through the decoder (onnxruntime),
  clipped to the declared range, float32 [N, 1, 12, 12, 12].
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch
from diffusers import DDIMScheduler
from monai.inferers import sliding_window_inference

ROOT = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "sliding_window" / "ldm_3d"
MODEL_ID = "00000_LDM_3D_WINDOWS"
SAMPLES = 2
STEPS = 5
LATENT = [2, 6, 6, 6]
ROI = [4, 4, 4]
IMAGE = [1, 12, 12, 12]
SCALE = 0.8
RANGE = [-1.0, 1.0]
SPACING = [2.0, 1.5, 1.25]  # mm per spatial axis (D, H, W), written into the NIfTI header


class Denoiser(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.a = torch.nn.Conv3d(2, 4, 3, padding=1)
        self.b = torch.nn.Conv3d(4, 2, 3, padding=1)

    def forward(self, sample, timestep):
        t = (timestep.float() / 1000.0)[:, None, None, None, None]
        return self.b(torch.tanh(self.a(sample) + t))


class Decoder(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.up = torch.nn.ConvTranspose3d(2, 3, 2, stride=2)
        self.out = torch.nn.Conv3d(3, 1, 3, padding=1)

    def forward(self, latent):
        return torch.tanh(self.out(torch.relu(self.up(latent))))


def export(module, feeds, names, outputs, path):
    axes = {n: {0: "batch"} for n in names + outputs}
    torch.onnx.export(module, tuple(feeds), path, input_names=names, output_names=outputs,
                      dynamic_axes=axes, opset_version=17, dynamo=False)


def main() -> None:
    torch.manual_seed(0)
    shutil.rmtree(ROOT, ignore_errors=True)
    (ROOT / "golden").mkdir(parents=True)
    denoiser, decoder = Denoiser().eval(), Decoder().eval()
    export(denoiser, [torch.randn(1, *LATENT), torch.ones(1, dtype=torch.long)], ["sample", "timestep"], ["noise_pred"], ROOT / "denoiser.onnx")
    export(decoder, [torch.randn(1, LATENT[0], *ROI)], ["latent"], ["image"], ROOT / "decoder.onnx")
    scheduler = DDIMScheduler(num_train_timesteps=1000, beta_schedule="linear", clip_sample=False)
    scheduler.save_config(ROOT)
    metadata = {MODEL_ID: {
        "execution": {
            "package_name": MODEL_ID, "package_link": ".", "model_name": "denoiser", "extension": ".onnx",
            "image_size": IMAGE[1:], "dependencies": [],
            "generate_method": {"name": "generate", "args": {"base": ["model_file", "num_samples", "output_path", "save_images"], "custom": {}}},
            "runtime": "onnx",
            "onnx": {
                "graph": "denoiser.onnx", "inputs": [],
                "outputs": [{"name": "image", "kind": "image", "shape": IMAGE, "range": RANGE, "spacing": SPACING}],
                "diffusion": {
                    "denoiser": {"sample": "sample", "timestep": "timestep", "timestep_type": "int64", "output": "noise_pred", "prediction": "epsilon"},
                    "noise": {"shape": LATENT}, "scheduler": "scheduler_config.json", "steps": STEPS,
                    "decoder": {"graph": "decoder.onnx", "input": "latent", "output": "image", "scaling_factor": SCALE,
                                "sliding_window": {"roi": ROI, "overlap": 0.25, "mode": "gaussian", "sigma_scale": 0.125}},
                },
            },
        },
        "selection": {"performance": {}, "organ": ["test"], "modality": ["CT"], "function": ["latent diffusion"], "condition": [], "generates": ["volumes"], "tags": ["test"], "license": "MIT"},
        "description": {"title": "3D latent diffusion with a sliding-window decoder (test fixture)", "provided_date": "2026", "version": "0.1.0", "comment": "Random weights, made by scripts/make_sliding_window_fixtures.py"},
    }}
    (ROOT / "medigan.json").write_text(json.dumps(metadata, indent=2) + "\n")

    noise = torch.randn((SAMPLES, *LATENT), generator=torch.Generator().manual_seed(7))
    np.save(ROOT / "golden" / "initial_noise.npy", noise.numpy().astype(np.float32))
    den = ort.InferenceSession(str(ROOT / "denoiser.onnx"), providers=["CPUExecutionProvider"])
    dec = ort.InferenceSession(str(ROOT / "decoder.onnx"), providers=["CPUExecutionProvider"])
    scheduler.set_timesteps(STEPS)
    x = noise.clone()
    for t in scheduler.timesteps:
        eps = den.run(None, {"sample": x.numpy(), "timestep": np.full((SAMPLES,), int(t), dtype=np.int64)})[0]
        x = scheduler.step(torch.from_numpy(eps), t, x, eta=0.0).prev_sample
    decode = lambda window: torch.from_numpy(dec.run(None, {"latent": window.numpy()})[0])
    volume = sliding_window_inference(x / SCALE, roi_size=ROI, sw_batch_size=1, predictor=decode, overlap=0.25, mode="gaussian", sigma_scale=0.125)
    whole_windows = decode(torch.zeros(SAMPLES, LATENT[0], *ROI))  # the graph takes a window only
    assert whole_windows.shape[1:] == (1, 8, 8, 8)
    samples = volume.clamp(*RANGE).numpy().astype(np.float32)
    np.save(ROOT / "golden" / f"samples_{STEPS}_steps.npy", samples)
    total = sum(f.stat().st_size for f in ROOT.rglob("*") if f.is_file())
    print(f"wrote {ROOT} ({total / 1024:.0f} KiB); golden range {samples.min():.3f}..{samples.max():.3f}")


if __name__ == "__main__":
    main()
