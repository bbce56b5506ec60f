#!/usr/bin/env python3
"""Benchmark `medigan convert` of the 2D latent diffusion (LDM) fixture, and the source's own
sampling loop in PyTorch against the converted package in `medigan generate`.

Fixture: tests/fixtures/convert_monai/ldm_2d (a MONAI bundle: DiffusionModelUNet on [1, 8, 8]
latents, AutoencoderKL decoder to [1, 16, 16], LatentDiffusionInferer; random weights, made by
scripts/make_convert_monai_fixtures.py).

Prints:
  convert (cold)  `medigan convert` with a new home: the converter's environment made (pip,
                  offline, --no-index: torch and monai come from this Python), export,
                  MONAI's loop and the verification; wall time of the process.
  convert (warm)  the same again with the environment in place; wall time, and the report's own
                  `seconds`.
  samples/s       N samples, S steps of MONAI's DDIM (eta 0), batch B, T threads:
                  torch   MONAI's `LatentDiffusionInferer.sample` (torch.set_num_threads(T),
                          no_grad); time of the sampling calls alone (imports and weight loading
                          excluded: this favours Python).
                  medigan `medigan generate ID -n N --batch B --threads T --steps S --scheduler
                          monai-ddim --format npy`; wall time of the process (start-up, session
                          loading and file writing included).

Usage (from the repository root, after `cargo build [--release] -p medigan-cli`; needs torch,
monai==1.6.1, einops, onnx):
  python3 scripts/bench_convert_diffusion.py [--n 64] [--batch 16] [--steps 50] [--threads 1,2]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
FIXTURE = REPO / "tests" / "fixtures" / "convert_monai" / "ldm_2d"
MODEL_ID = "00000_LDM_2D"


def binary() -> Path:
    target = Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target"))
    for profile in ("release", "debug"):
        path = target / profile / "medigan"
        if path.is_file():
            return path
    sys.exit(f"no medigan binary under {target}: cargo build --release -p medigan-cli")


def convert(medigan: Path, home: Path, out: Path, steps: int) -> tuple[float, dict]:
    env = dict(os.environ, MEDIGAN_HOME=str(home), MEDIGAN_PYTHON=sys.executable,
               MEDIGAN_PIP_ARGS="--no-index --no-deps", NO_COLOR="1")
    cmd = [str(medigan), "--offline", "--json", "convert", str(FIXTURE), "--install-dependencies",
           "--samples", "1", "--steps", str(steps), "--id", MODEL_ID, "-o", str(out)]
    started = time.perf_counter()
    done = subprocess.run(cmd, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"convert failed:\n{done.stderr}")
    return wall, json.loads(done.stdout)


def torch_rate(n: int, batch: int, steps: int, threads: int) -> float:
    """MONAI's inferer loop, in a child process so that its thread count is its own."""
    code = f"""
import json, time, torch
from monai.inferers import LatentDiffusionInferer
from monai.networks.nets import AutoencoderKL, DiffusionModelUNet
from monai.networks.schedulers import DDIMScheduler
torch.set_num_threads({threads})
config = json.load(open({str(FIXTURE / 'configs' / 'inference.json')!r}))
def resolve(v):
    if isinstance(v, str) and v.startswith('@'):
        return resolve(config[v[1:]])
    if isinstance(v, list):
        return [resolve(x) for x in v]
    if isinstance(v, dict):
        return {{k: resolve(x) for k, x in v.items() if not k.startswith('_')}}
    return v
unet = DiffusionModelUNet(**resolve(config['network_def'])).eval()
unet.load_state_dict(torch.load({str(FIXTURE / 'models' / 'model.pt')!r}, weights_only=True))
ae = AutoencoderKL(**resolve(config['autoencoder_def'])).eval()
ae.load_state_dict(torch.load({str(FIXTURE / 'models' / 'model_autoencoder.pt')!r}, weights_only=True))
args = {{k: v for k, v in resolve(config['noise_scheduler']).items() if k != 'variance_type'}}
latent = resolve(config['latent_shape'])
scale = resolve(config['inferer'])['scale_factor']
seconds = 0.0
with torch.no_grad():
    for start in range(0, {n}, {batch}):
        b = min({batch}, {n} - start)
        scheduler = DDIMScheduler(**args)
        scheduler.set_timesteps(num_inference_steps={steps})
        inferer = LatentDiffusionInferer(scheduler, scale_factor=scale)
        noise = torch.randn((b, *latent))
        t0 = time.perf_counter()
        inferer.sample(input_noise=noise, autoencoder_model=ae, diffusion_model=unet, scheduler=scheduler, verbose=False)
        seconds += time.perf_counter() - t0
print(seconds)
"""
    env = dict(os.environ, OMP_NUM_THREADS=str(threads))
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"torch loop failed:\n{done.stderr}")
    return n / float(done.stdout.strip().splitlines()[-1])


def medigan_rate(medigan: Path, home: Path, package: Path, n: int, batch: int, steps: int,
                 threads: int) -> float:
    out = Path(tempfile.mkdtemp(prefix="bench-medigan-"))
    try:
        env = dict(os.environ, MEDIGAN_HOME=str(home), NO_COLOR="1")
        cmd = [str(medigan), "--offline", "--catalog", str(package / "medigan.json"), "generate",
               MODEL_ID, "-n", str(n), "--batch", str(batch), "--threads", str(threads),
               "--steps", str(steps), "--scheduler", "monai-ddim", "--format", "npy", "-o", str(out)]
        started = time.perf_counter()
        done = subprocess.run(cmd, env=env, capture_output=True, text=True)
        wall = time.perf_counter() - started
        if done.returncode != 0:
            sys.exit(f"medigan generate failed:\n{done.stderr}")
        files = len(list(out.glob("*.npy")))
        assert files == n, f"medigan wrote {files} files, expected {n}"
        return n / wall
    finally:
        shutil.rmtree(out, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=64)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--threads", default="1,2")
    args = ap.parse_args()
    medigan = binary()
    work = Path(tempfile.mkdtemp(prefix="bench-convert-diffusion-"))
    try:
        home, package = work / "home", work / "package"
        cold, _ = convert(medigan, home, work / "cold", args.steps)
        warm, report = convert(medigan, home, package, args.steps)
        print(f"medigan: {medigan}; fixture: {FIXTURE.relative_to(REPO)}; {os.cpu_count()} CPUs")
        print(f"convert (cold, environment made): {cold:.1f} s")
        print(f"convert (warm): {warm:.1f} s (report: {report['seconds']:.1f} s; verification max "
              f"relative error {report['verification']['runs'][0]['max_relative_error']:.2e})")
        print()
        print(f"| threads | samples | batch | steps | MONAI loop, PyTorch (samples/s) | medigan generate (samples/s) |")
        print("|---|---|---|---|---|---|")
        for threads in [int(t) for t in args.threads.split(",")]:
            py = torch_rate(args.n, args.batch, args.steps, threads)
            rs = medigan_rate(medigan, home, package, args.n, args.batch, args.steps, threads)
            print(f"| {threads} | {args.n} | {args.batch} | {args.steps} | {py:.1f} | {rs:.1f} |")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
