#!/usr/bin/env python3
"""Write the zoo fixtures: packages in the original medigan format, shaped like the real zoo.

The 23 upstream models are Python packages (a folder with `__init__.py` and weights, zipped)
run through `generate(model_file, num_samples, output_path, save_images, **custom)`. Their
weights cannot be reached here, so these fixtures imitate the patterns their catalogue entries
(`models/upstream-snapshot.json`, the reference `medigan-global.json`) imply, with small random weights:

    tests/fixtures/zoo/
        zoo-catalog.json                 the catalogue, in the upstream format unchanged (no
                                         execution.runtime, no sha256); package_link relative
        packages/<model id>.zip          one package per entry (sources in scripts/zoo_packages/)
        deps/medigan_zoo_dep-<v>-py3-none-any.whl   the pinned dependency, versions 1.0 and 2.0
        README.md                        what each fixture imitates

    00910_ZOO_DCGAN        torch DCGAN, latent 100 -> 64x64 gray (00001/00005/00006)
    00911_ZOO_CDCGAN       conditional DCGAN, `condition` 0/1, latent 100 -> 32x32 gray (00008/00012),
                           nested in a folder named after its package_name (00002)
    00912_ZOO_IMAGE_MASK   RGB + mask from 4 output channels, `save_option`, latent 128 (00009/00010)
    00913_ZOO_NO_LATENT    draws its own noise, no input_latent_vector_size, 32x32 RGB (00011/00007)
    00914_ZOO_IMG2IMG      translates the images of `input_path`, writes files only (00003/00021/00023)
    00915_ZOO_PIN_A        pins medigan_zoo_dep==1.0 (00020/00022 pin conflicting versions)
    00916_ZOO_PIN_B        pins medigan_zoo_dep==2.0

Usage, from the repository root (needs numpy and torch; CPU is enough):

    python3 scripts/make_zoo_fixtures.py              # (re)write tests/fixtures/zoo/
    python3 scripts/make_zoo_fixtures.py --check      # regenerate into a temporary directory and
                                                      # compare byte for byte (exit 1 if stale)
    python3 scripts/make_zoo_fixtures.py --out DIR    # write them to DIR instead

The output is deterministic: weights come from numpy.random.RandomState with fixed seeds,
batch-norm statistics and output scales are calibrated with torch and rounded (so that the last
bits of a CPU's arithmetic do not show), zips have sorted entries, fixed times and permissions.
torch.save's own format is part of the bytes: another torch version may write other bytes for
the same weights (`--check` then reports the checkpoints).
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import io
import json
import struct
import sys
import tempfile
import zipfile
import zlib
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
SOURCES = ROOT / "scripts" / "zoo_packages"
DEFAULT_OUT = ROOT / "tests" / "fixtures" / "zoo"
ZIP_TIME = (1980, 1, 1, 0, 0, 0)
DEP = "medigan_zoo_dep"
DEP_VERSIONS = ("1.0", "2.0")
CV2 = "opencv-python-headless"  # the zoo lists opencv-contrib-python-headless; CI installs this one
N_CALIB = 64


# ---------------------------------------------------------------------------------------------
# deterministic files


def zip_bytes(files: dict[str, bytes]) -> bytes:
    """A zip of `files` with sorted entries, fixed times and permissions: same files, same bytes."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name in sorted(files):
            info = zipfile.ZipInfo(name, date_time=ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            info.create_system = 3
            archive.writestr(info, files[name], compresslevel=9)
    return buffer.getvalue()


def torch_bytes(obj) -> bytes:
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return buffer.getvalue()


def npy_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return buffer.getvalue()


def png_gray(image: np.ndarray) -> bytes:
    """An 8-bit grayscale PNG, encoded here so that the bytes do not depend on an image library."""
    height, width = image.shape

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    raw = b"".join(b"\x00" + image[y].astype(np.uint8).tobytes() for y in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw, 9))
        + chunk(b"IEND", b"")
    )


# ---------------------------------------------------------------------------------------------
# random weights


def load_module(model_id: str, name: str = "module"):
    """Imports the package source of `model_id` (for its network classes)."""
    import importlib.util

    path = SOURCES / model_id / "__init__.py"
    spec = importlib.util.spec_from_file_location(f"zoo_{model_id}_{name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def randomise(model: torch.nn.Module, seed: int) -> None:
    """Fills every weight from numpy with a fixed seed (std 1/sqrt(fan in)); norms near 1."""
    rng = np.random.RandomState(seed)
    state = model.state_dict()
    for name, tensor in state.items():
        if not tensor.is_floating_point() or "running_" in name:
            continue
        shape = tuple(tensor.shape)
        if name.endswith("weight") and len(shape) == 1:  # a norm's scale
            values = 1.0 + 0.1 * rng.standard_normal(shape)
        elif name.endswith("bias"):
            values = 0.1 * rng.standard_normal(shape)
        else:
            fan_in = int(np.prod(shape)) // shape[1] if len(shape) > 1 else shape[0]
            values = rng.standard_normal(shape) / np.sqrt(max(fan_in, 1))
        state[name] = torch.from_numpy(values.astype(np.float32))
    model.load_state_dict(state)


def calibrate(model: torch.nn.Module, run, last: torch.nn.Module, target_std: float) -> None:
    """Sets batch-norm statistics from a calibration batch, then scales `last` so that the
    network's pre-tanh output has about `target_std`; both rounded so that reruns agree."""
    norms = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    for norm in norms:
        norm.reset_running_stats()
        norm.momentum = None  # cumulative average over the calibration batch
    model.train()
    with torch.no_grad():
        run(model)
    for norm in norms:
        norm.running_mean.copy_(torch.from_numpy(np.round(norm.running_mean.numpy().astype(np.float64), 3).astype(np.float32)))
        norm.running_var.copy_(torch.from_numpy(np.round(norm.running_var.numpy().astype(np.float64), 3).astype(np.float32)))
        norm.momentum = 0.1
    model.eval()
    captured = {}
    hook = last.register_forward_hook(lambda _m, _i, out: captured.setdefault("out", out))
    with torch.no_grad():
        run(model)
    hook.remove()
    scale = round(target_std / float(captured["out"].std()), 2)
    with torch.no_grad():
        last.weight.copy_(torch.from_numpy(last.weight.numpy() * np.float32(scale)))


def calibration_latents(seed: int, n: int, shape) -> torch.Tensor:
    rng = np.random.RandomState(seed)
    return torch.from_numpy(rng.standard_normal((n, *shape)).astype(np.float32))


def last_conv(model: torch.nn.Module) -> torch.nn.Module:
    convs = [m for m in model.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.ConvTranspose2d))]
    return convs[-1]


# ---------------------------------------------------------------------------------------------
# the packages


def source(model_id: str) -> bytes:
    return (SOURCES / model_id / "__init__.py").read_bytes()


def requirements(dependencies: list[str]) -> bytes:
    return ("\n".join(dependencies) + "\n").encode()


def dcgan_package() -> dict[str, bytes]:
    module = load_module("00910_ZOO_DCGAN")
    net = module.Generator(nz=module.NZ, ngf=1, nc=1)
    randomise(net, 910)
    z = calibration_latents(9100, N_CALIB, (module.NZ, 1, 1))
    calibrate(net, lambda m: m(z), last_conv(net), 0.8)
    return {
        "__init__.py": source("00910_ZOO_DCGAN"),
        "500.pt": torch_bytes({"generator": net.state_dict(), "epoch": 500}),
        "requirements.txt": requirements(["numpy", "torch", CV2]),
    }


def cdcgan_package() -> dict[str, bytes]:
    module = load_module("00911_ZOO_CDCGAN")
    net = module.Generator(nz=module.NZ, ngf=2, nc=1)
    randomise(net, 911)
    with torch.no_grad():  # the condition must matter: a strong embedding
        net.embed_nn[0].weight.mul_(4.0)
    z = calibration_latents(9110, N_CALIB, (module.NZ, 1, 1))
    conditions = torch.from_numpy((np.arange(N_CALIB) % 2).astype(np.float32))
    calibrate(net, lambda m: m(z, conditions), last_conv(net), 0.8)
    folder = "ZOO_CDCGAN/"
    return {
        folder + "__init__.py": source("00911_ZOO_CDCGAN"),
        folder + "1250.pt": torch_bytes({"generator": net.state_dict()}),
        folder + "requirements.txt": requirements(["numpy", "torch", CV2]),
    }


def image_mask_package() -> dict[str, bytes]:
    module = load_module("00912_ZOO_IMAGE_MASK")
    net = module.Generator(nz=module.NZ, ngf=4, img_channels=4)
    randomise(net, 912)
    z = calibration_latents(9120, N_CALIB, (module.NZ, 1, 1))
    calibrate(net, lambda m: m(z), last_conv(net), 0.8)
    return {
        "__init__.py": source("00912_ZOO_IMAGE_MASK"),
        "FastGAN_zoo_50000.pth": torch_bytes(net.state_dict()),
        "requirements.txt": requirements(["torch", "numpy", CV2]),
    }


def no_latent_package() -> dict[str, bytes]:
    module = load_module("00913_ZOO_NO_LATENT")
    net = module.ScaleGenerator()
    randomise(net, 913)
    noise = calibration_latents(9130, N_CALIB, (3, 8, 8))
    calibrate(net, lambda m: m(noise), last_conv(net), 0.8)
    return {
        "__init__.py": source("00913_ZOO_NO_LATENT"),
        "TrainedModels/1/Gs.pth": torch_bytes({"Gs": net.state_dict()}),
        "requirements.txt": requirements(["numpy", "torch", CV2]),
    }


def phantom_slice(index: int, size: int = 32) -> np.ndarray:
    """A grayscale slice: a bright ellipse on a soft background, different for each index."""
    y, x = np.mgrid[0:size, 0:size].astype(np.float64)
    cy, cx = size / 2 + 3 * np.sin(index), size / 2 + 3 * np.cos(index)
    inside = ((x - cx) / (size * 0.35)) ** 2 + ((y - cy) / (size * (0.25 + 0.05 * index))) ** 2 <= 1
    image = 40 + 60 * x / size + 120 * inside
    return np.clip(np.round(image), 0, 255).astype(np.uint8)


def img2img_package() -> dict[str, bytes]:
    module = load_module("00914_ZOO_IMG2IMG")
    net = module.Translator()
    randomise(net, 914)
    with torch.no_grad():  # a visible but moderate change of the input
        last_conv(net).weight.mul_(0.5)
    files = {
        "__init__.py": source("00914_ZOO_IMG2IMG"),
        "30_net_G.pth": torch_bytes(net.state_dict()),
        "requirements.txt": requirements(["numpy", "torch", CV2]),
    }
    for i in range(3):
        files[f"input/slice_{i:03d}.png"] = png_gray(phantom_slice(i))
    return files


def pin_package(version: str) -> dict[str, bytes]:
    return {
        "__init__.py": source("00915_ZOO_PIN"),
        "base.npy": npy_bytes(np.zeros((16, 16), dtype=np.uint8)),
        "requirements.txt": requirements(["numpy", f"{DEP}=={version}"]),
    }


def dep_wheel(version: str) -> tuple[str, bytes]:
    """A pure-Python wheel of medigan_zoo_dep at `version`, with a valid RECORD."""
    info = f"{DEP}-{version}.dist-info"
    files = {
        f"{DEP}/__init__.py": f'"""medigan-rs zoo fixture dependency."""\n\n__version__ = "{version}"\n'.encode(),
        f"{info}/METADATA": f"Metadata-Version: 2.1\nName: {DEP}\nVersion: {version}\n".encode(),
        f"{info}/WHEEL": b"Wheel-Version: 1.0\nGenerator: medigan-rs make_zoo_fixtures\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = []
    for name in sorted(files):
        digest = base64.urlsafe_b64encode(hashlib.sha256(files[name]).digest()).rstrip(b"=").decode()
        record.append(f"{name},sha256={digest},{len(files[name])}")
    record.append(f"{info}/RECORD,,")
    files[f"{info}/RECORD"] = ("\n".join(record) + "\n").encode()
    return f"{DEP}-{version}-py3-none-any.whl", zip_bytes(files)


# ---------------------------------------------------------------------------------------------
# the catalogue


def performance(**known) -> dict:
    values = {
        "SSIM": None, "MSE": None, "NSME": None, "PSNR": None, "IS": None, "turing_test": None,
        "FID_no_images": None, "FID": None, "FID_ratio": None,
        "FID_RADIMAGENET": None, "FID_RADIMAGENET_ratio": None,
        "CLF_delta": None, "SEG_delta": None, "DET_delta": None,
    }
    values.update(known)
    for task in ("CLF", "SEG", "DET"):
        values[task] = {"trained_on_fake": {}, "trained_on_real_and_fake": {}, "trained_on_real": {}}
    return values


def entry(model_id, package_name, model_name, extension, image_size, dependencies, custom,
          latent=None, base=("model_file", "num_samples", "output_path", "save_images"),
          name="generate", selection=None, title="", comment="", inputs=()):
    generate_method = {"name": name, "args": {"base": list(base), "custom": custom}}
    if latent is not None:
        generate_method["input_latent_vector_size"] = latent
    height, width = image_size[0], image_size[1]
    chosen = {
        "performance": performance(),
        "use_cases": ["testing"],
        "organ": ["breast"],
        "modality": ["MMG", "Mammography"],
        "vendors": [],
        "centres": [],
        "function": ["noise to image", "image generation"],
        "condition": [],
        "dataset": [],
        "augmentations": [],
        "generates": [],
        "height": height,
        "width": width,
        "depth": image_size[2] if len(image_size) > 2 else None,
        "type": "DCGAN",
        "license": "MIT",
        "dataset_type": "none (random weights)",
        "privacy_preservation": None,
        "tags": ["medigan-rs fixture", "random weights", f"{height}x{width}"],
        "year": "2026",
    }
    chosen.update(selection or {})
    return model_id, {
        "execution": {
            "package_name": package_name,
            "package_link": f"packages/{model_id}.zip",
            "model_name": model_name,
            "extension": extension,
            "image_size": list(image_size),
            "dependencies": list(dependencies),
            "generate_method": generate_method,
        },
        "selection": chosen,
        "description": {
            "title": title,
            "provided_date": "Dec 2026",
            "trained_date": None,
            "provided_after_epoch": None,
            "version": "0.0.1",
            "publication": None,
            "doi": [],
            "inputs": list(inputs),
            "comment": comment + " A medigan-rs test fixture with random weights, written by "
            "scripts/make_zoo_fixtures.py: the images mean nothing.",
        },
    }


def catalogue() -> dict:
    torch_deps = ["numpy", "torch", CV2]
    entries = [
        entry(
            "00910_ZOO_DCGAN", "00910_ZOO_DCGAN", "500", ".pt", [64, 64], torch_deps, {}, latent=100,
            selection={"performance": performance(FID=150.0, FID_ratio=0.4, FID_no_images=100),
                       "generates": ["mass", "mass roi"], "tags": ["DCGAN", "64x64"]},
            title="Zoo fixture: DCGAN, 64x64 gray patches",
            comment="Imitates 00001/00005/00006: checkpoint dict, torch.randn latent of 100 or "
            "input_latent_vector, tanh output mapped to uint8, cv2.imwrite {i}.png or a list of HxWxC arrays.",
        ),
        entry(
            "00911_ZOO_CDCGAN", "ZOO_CDCGAN", "1250", ".pt", [32, 32], torch_deps,
            {"condition": None, "z": None}, latent=100,
            selection={"performance": performance(FID=210.0, FID_ratio=0.3, FID_no_images=100),
                       "type": "Conditional DCGAN", "condition": ["benign", "malignant"],
                       "use_cases": ["testing", "malignant versus benign classification"],
                       "generates": ["mass", "benign mass", "malignant mass"]},
            title="Zoo fixture: conditional DCGAN, 32x32 gray patches",
            comment="Imitates 00008/00012: `condition` 0 (benign) or 1 (malignant), None draws one "
            "per sample; `z` or input_latent_vector replaces the latent. Nested in ZOO_CDCGAN/ (00002).",
            inputs=["condition: default=None, help=0 (benign) or 1 (malignant); None draws one per sample",
                    "z: default=None, help=the latent vectors [n, 100, 1, 1]"],
        ),
        entry(
            "00912_ZOO_IMAGE_MASK", "00912_ZOO_IMAGE_MASK", "FastGAN_zoo_50000", ".pth", [32, 32, 4],
            ["torch", "numpy", CV2], {"save_option": "image_and_mask", "gpu_id": None}, latent=128,
            selection={"performance": performance(FID=64.0, FID_ratio=0.68, FID_no_images=100),
                       "organ": ["polyps", "colon"], "modality": ["endoscopy"], "type": "FastGAN",
                       "use_cases": ["testing", "segmentation"],
                       "function": ["noise to image and mask", "noise to image", "noise to mask"],
                       "generates": ["polyp", "polyp masks", "segmentation masks"]},
            title="Zoo fixture: RGB patches with segmentation masks, 32x32",
            comment="Imitates 00009/00010: 4 output channels, RGB image + mask; save_option "
            "image_and_mask (pairs; {i}_img.png, {i}_mask.png), image_only, mask_only, "
            "image_and_mask_4ch (HxWx4).",
            inputs=["save_option: default=image_and_mask, help=image_and_mask, image_only, mask_only or image_and_mask_4ch",
                    "gpu_id: default=None, help=the gpu to run on, None for the CPU"],
        ),
        entry(
            "00913_ZOO_NO_LATENT", "00913_ZOO_NO_LATENT", "TrainedModels/1/Gs", ".pth", [32, 32, 3],
            torch_deps, {"noise_amp": 1.0},
            selection={"organ": ["polyps", "colon"], "modality": ["endoscopy"], "type": "SinGAN",
                       "generates": ["polyp"]},
            title="Zoo fixture: generator drawing its own noise, 32x32 RGB",
            comment="Imitates 00011/00007: no input_latent_vector_size; the noise is drawn inside "
            "with torch.randn, so only seeding random/numpy/torch reproduces a sample.",
        ),
        entry(
            "00914_ZOO_IMG2IMG", "00914_ZOO_IMG2IMG", "30_net_G", ".pth", [32, 32], torch_deps,
            {"input_path": "models/00914_ZOO_IMG2IMG/input/", "image_size": 32, "gpu_id": None},
            selection={"modality": ["dce-mri", "mri"], "type": "pix2pixHD",
                       "function": ["image to image", "image translation"],
                       "tags": ["i2i", "32x32"]},
            title="Zoo fixture: image-to-image translation of 32x32 slices",
            comment="Imitates 00003/00021/00023: reads the .png images of input_path (examples "
            "packaged in input/), writes {i}_{input name} into output_path, returns nothing.",
            inputs=["input_path: default=models/00914_ZOO_IMG2IMG/input/, help=the folder of .png slices to translate",
                    "image_size: default=32, help=height and width the inputs are resized to",
                    "gpu_id: default=None, help=the gpu to run on, None for the CPU"],
        ),
    ]
    for model_id, version in (("00915_ZOO_PIN_A", "1.0"), ("00916_ZOO_PIN_B", "2.0")):
        entries.append(entry(
            model_id, model_id, "base", ".npy", [16, 16], ["numpy", f"{DEP}=={version}"], {},
            selection={"type": "test pattern", "function": ["test pattern"]},
            title=f"Zoo fixture: pins {DEP}=={version}",
            comment=f"Imitates conflicting pins (00020, 00022): every pixel of image i of a call is "
            f"100 x the major version of {DEP} it imports (expects {version}) + i.",
        ))
    return dict(entries)


# ---------------------------------------------------------------------------------------------


README = """# Zoo fixtures (written by `scripts/make_zoo_fixtures.py`; do not edit)

Packages in the original medigan format, shaped like the real zoo, with random weights.
`zoo-catalog.json` is a catalogue in the upstream format (package links relative to it).

| id | imitates | behaviour |
|---|---|---|
| 00910_ZOO_DCGAN | 00001, 00005, 00006 | torch DCGAN, latent 100 (`input_latent_vector` or `torch.randn`), 64x64 gray; `{i}.png` via cv2 or a list of HxWx1 uint8 |
| 00911_ZOO_CDCGAN | 00008, 00012 (00002's nested folder) | conditional DCGAN, `condition` 0/1 (None: one drawn per sample), `z`, latent 100, 32x32 gray |
| 00912_ZOO_IMAGE_MASK | 00009, 00010 | latent 128, 4 channels -> RGB + mask; `save_option` image_and_mask (pairs; `{i}_img.png` + `{i}_mask.png`), image_only, mask_only, image_and_mask_4ch (HxWx4) |
| 00913_ZOO_NO_LATENT | 00011, 00007 | no `input_latent_vector_size`; draws its own noise; 32x32 RGB; weights at `TrainedModels/1/Gs.pth` |
| 00914_ZOO_IMG2IMG | 00003, 00021, 00023 | translates the `.png` of `input_path` (3 slices packaged in `input/`), writes `{i}_{name}` only, returns nothing |
| 00915_ZOO_PIN_A | 00020, 00022 (pins) | needs `medigan_zoo_dep==1.0`; image i of a call: pixels = 100 + i |
| 00916_ZOO_PIN_B | 00020, 00022 (pins) | needs `medigan_zoo_dep==2.0`; image i of a call: pixels = 200 + i |

Dependencies are what the code imports (`numpy`, `torch`, `opencv-python-headless`) and the
pinned `medigan_zoo_dep`, whose wheels are in `deps/`: install with
`MEDIGAN_PIP_ARGS="--no-index --find-links tests/fixtures/zoo/deps"` so that nothing comes from
an index (torch, numpy and OpenCV come from the system Python through `--system-site-packages`).
"""


def write_all(out: Path) -> None:
    torch.set_num_threads(1)  # the same reductions on every machine
    out.mkdir(parents=True, exist_ok=True)
    (out / "packages").mkdir(exist_ok=True)
    (out / "deps").mkdir(exist_ok=True)
    packages = {
        "00910_ZOO_DCGAN": dcgan_package(),
        "00911_ZOO_CDCGAN": cdcgan_package(),
        "00912_ZOO_IMAGE_MASK": image_mask_package(),
        "00913_ZOO_NO_LATENT": no_latent_package(),
        "00914_ZOO_IMG2IMG": img2img_package(),
        "00915_ZOO_PIN_A": pin_package("1.0"),
        "00916_ZOO_PIN_B": pin_package("2.0"),
    }
    for model_id, files in packages.items():
        (out / "packages" / f"{model_id}.zip").write_bytes(zip_bytes(files))
    for version in DEP_VERSIONS:
        name, data = dep_wheel(version)
        (out / "deps" / name).write_bytes(data)
    text = json.dumps(catalogue(), indent=4) + "\n"
    (out / "zoo-catalog.json").write_text(text)
    (out / "README.md").write_text(README)


def files_of(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def check(committed: Path) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        write_all(Path(tmp))
        fresh, old = files_of(Path(tmp)), files_of(committed)
    stale = sorted(n for n in fresh.keys() | old.keys() if fresh.get(n) != old.get(n))
    for name in stale:
        print(f"stale: {committed / name}", file=sys.stderr)
    if stale:
        print("run: python3 scripts/make_zoo_fixtures.py", file=sys.stderr)
        return 1
    print(f"{committed} is up to date ({len(fresh)} files)")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="where to write (default tests/fixtures/zoo)")
    parser.add_argument("--check", action="store_true", help="compare a fresh copy with --out")
    args = parser.parse_args()
    if args.check:
        return check(args.out)
    write_all(args.out)
    total = sum(p.stat().st_size for p in (args.out / "packages").glob("*.zip"))
    print(f"wrote {args.out} (packages: {total} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
