#!/usr/bin/env python3
"""Make the small diffusion packages the sampler's end-to-end tests use, and their golden outputs.

Run by hand from the repository root (needs numpy, onnx, onnxruntime, torch and diffusers==0.42.1):

    python3 scripts/make_diffusion_fixtures.py

Writes tests/fixtures/diffusion/:
- tiny_cond/   a class-conditional pixel-space model (classes "a", "b"; null class 2 for
               classifier-free guidance), noise [1, 8, 8], int64 timesteps;
- tiny_latent/ a latent model, noise [2, 4, 4], float32 timesteps, with a decoder graph
               (nearest x2 upsampling, 1x1 convolution, tanh) to an image [1, 8, 8];
- tiny_volume/ a 3D pixel-space model, noise [1, 4, 8, 8], spacing [2.5, 0.5, 0.5] (no golden);
each with medigan.json, the graphs, scheduler_config.json (diffusers' DDIMScheduler), and
golden/: initial_noise.npy (float32 [N, *noise]) and, per scheduler, the final images that
diffusers' scheduler gives when it drives the same ONNX graphs on onnxruntime from that noise,
the way diffusers' pipelines do (scale_model_input, guidance u + g * (c - u), step, decode).
`medigan generate --initial-noise` must reproduce them (crates/medigan-cli/tests/diffusion.rs).

The graphs are made with onnx.helper from fixed weights (no training): they are not good
models, only deterministic functions shaped like a denoiser and a decoder.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import torch
from diffusers import (
    DDIMScheduler,
    DDPMScheduler,
    DPMSolverMultistepScheduler,
    EulerAncestralDiscreteScheduler,
    EulerDiscreteScheduler,
    PNDMScheduler,
    UniPCMultistepScheduler,
)
from onnx import TensorProto, helper, numpy_helper

ROOT = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "diffusion"
OPSET = 17
SAMPLES = 3
STEPS = 12

SCHEDULERS = {
    "ddim": DDIMScheduler,
    "dpm++": DPMSolverMultistepScheduler,
    "euler": EulerDiscreteScheduler,
    "unipc": UniPCMultistepScheduler,
    "pndm": PNDMScheduler,
}


def save(model: onnx.ModelProto, path: Path) -> None:
    model.ir_version = 8
    onnx.checker.check_model(model)
    path.write_bytes(model.SerializeToString())


def denoiser_graph(noise_shape, timestep_type, classes: int | None, seed: int) -> onnx.ModelProto:
    """pred = tanh(0.5 * sample + 0.001 * t [+ embedding[class]]), with a per-pixel weight."""
    rng = np.random.default_rng(seed)
    weight = (0.3 + 0.4 * rng.random((1, *noise_shape))).astype(np.float32)
    inits = [
        numpy_helper.from_array(weight, "weight"),
        numpy_helper.from_array(np.array([0.001], np.float32), "t_scale"),
        numpy_helper.from_array(np.array([-1] + [1] * len(noise_shape), np.int64), "t_shape"),
    ]
    nodes = [
        helper.make_node("Mul", ["sample", "weight"], ["scaled"]),
        helper.make_node("Cast", ["timestep"], ["t_float"], to=TensorProto.FLOAT),
        helper.make_node("Mul", ["t_float", "t_scale"], ["t_scaled"]),
        helper.make_node("Reshape", ["t_scaled", "t_shape"], ["t_column"]),
        helper.make_node("Add", ["scaled", "t_column"], ["pre"]),
    ]
    inputs = [
        helper.make_tensor_value_info("sample", TensorProto.FLOAT, ["batch", *noise_shape]),
        helper.make_tensor_value_info(
            "timestep", TensorProto.INT64 if timestep_type == "int64" else TensorProto.FLOAT, ["batch"]
        ),
    ]
    last = "pre"
    if classes is not None:
        embedding = rng.normal(0, 0.5, (classes + 1, *noise_shape)).astype(np.float32)
        inits.append(numpy_helper.from_array(embedding, "embedding"))
        nodes += [
            helper.make_node("Gather", ["embedding", "class_labels"], ["class_emb"], axis=0),
            helper.make_node("Add", ["pre", "class_emb"], ["pre_cond"]),
        ]
        inputs.append(helper.make_tensor_value_info("class_labels", TensorProto.INT64, ["batch"]))
        last = "pre_cond"
    nodes.append(helper.make_node("Tanh", [last], ["noise_pred"]))
    graph = helper.make_graph(
        nodes,
        "denoiser",
        inputs,
        [helper.make_tensor_value_info("noise_pred", TensorProto.FLOAT, ["batch", *noise_shape])],
        inits,
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])


def decoder_graph(latent_channels: int, seed: int) -> onnx.ModelProto:
    """image = tanh(conv1x1(nearest_upsample_x2(latent)))."""
    rng = np.random.default_rng(seed)
    # Small weights: the latents of an untrained denoiser are large; tanh stays unsaturated.
    conv = rng.normal(0, 0.02, (1, latent_channels, 1, 1)).astype(np.float32)
    inits = [
        numpy_helper.from_array(conv, "conv_w"),
        numpy_helper.from_array(np.array([0.1], np.float32), "conv_b"),
        numpy_helper.from_array(np.array([1, 1, 2, 2], np.float32), "scales"),
    ]
    nodes = [
        helper.make_node("Resize", ["latent", "", "scales"], ["up"], mode="nearest"),
        helper.make_node("Conv", ["up", "conv_w", "conv_b"], ["conv"]),
        helper.make_node("Tanh", ["conv"], ["image"]),
    ]
    graph = helper.make_graph(
        nodes,
        "decoder",
        [helper.make_tensor_value_info("latent", TensorProto.FLOAT, ["batch", latent_channels, 4, 4])],
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["batch", 1, 8, 8])],
        inits,
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])


def scheduler_config() -> dict:
    scheduler = DDIMScheduler(
        num_train_timesteps=1000,
        beta_schedule="scaled_linear",
        beta_start=0.00085,
        beta_end=0.012,
        clip_sample=False,
        set_alpha_to_one=False,
        steps_offset=1,
    )
    config = dict(scheduler.config, _class_name="DDIMScheduler", _diffusers_version="0.42.1")
    # diffusers keeps this list as a set: sorted, so that the file is the same every run.
    config["_use_default_values"] = sorted(config["_use_default_values"])
    return config


def sample(package: dict, session, decoder, scheduler_class, config, noise, classes=None):
    """diffusers' pipeline loop over the ONNX graphs (denoiser on onnxruntime)."""
    diffusion = package["diffusion"]
    scheduler = scheduler_class.from_config(config)
    scheduler.set_timesteps(STEPS)
    x = torch.from_numpy(noise.copy()) * scheduler.init_noise_sigma
    guidance = diffusion.get("guidance_scale")
    int_steps = diffusion["denoiser"].get("timestep_type", "int64") == "int64"
    for t in scheduler.timesteps:
        x_in = scheduler.scale_model_input(x, t).numpy().astype(np.float32)
        rows = x_in.shape[0]
        feed = {"sample": x_in}
        if classes is not None:
            feed["class_labels"] = classes.astype(np.int64)
        if guidance is not None and classes is not None:
            feed["sample"] = np.concatenate([x_in, x_in])
            feed["class_labels"] = np.concatenate(
                [classes, np.full(rows, diffusion["null_class"])]
            ).astype(np.int64)
        count = feed["sample"].shape[0]
        t_value = float(t)
        feed["timestep"] = (
            np.full(count, round(t_value), np.int64) if int_steps else np.full(count, t_value, np.float32)
        )
        out = session.run(["noise_pred"], feed)[0]
        if guidance is not None and classes is not None:
            cond, uncond = out[:rows], out[rows:]
            out = uncond + np.float32(guidance) * (cond - uncond)
        x = scheduler.step(torch.from_numpy(out), t, x).prev_sample
    latent = x.numpy().astype(np.float32)
    if decoder is None:
        return latent
    dec = diffusion["decoder"]
    z = (latent / np.float32(dec["scaling_factor"]) + np.float32(dec["shift_factor"])).astype(np.float32)
    return decoder.run(["image"], {"latent": z})[0]


def entry(model_id: str, title: str, onnx_block: dict, classes: list[str] | None) -> dict:
    image = onnx_block["outputs"][0]
    return {
        model_id: {
            "execution": {
                "package_name": model_id,
                "package_link": ".",
                "model_name": "denoiser",
                "extension": ".onnx",
                "image_size": image["shape"][1:],
                "dependencies": [],
                "generate_method": {
                    "name": "generate",
                    "args": {"base": ["model_file", "num_samples", "output_path", "save_images"], "custom": {}},
                },
                "runtime": "onnx",
                "onnx": onnx_block,
            },
            "selection": {
                "performance": {"FID": None},
                "organ": ["none"],
                "modality": ["synthetic"],
                "function": ["denoising diffusion", "test fixture"],
                "condition": classes or [],
                "generates": ["test patterns"],
                "tags": ["test", "diffusion"],
                "license": "MIT",
            },
            "description": {
                "title": title,
                "provided_date": "December 2026",
                "version": "0.1.0",
                "comment": "A test fixture made by scripts/make_diffusion_fixtures.py; not a trained model.",
            },
        }
    }


def make_package(name, model_id, title, onnx_block, denoiser, decoder, classes, golden_classes):
    folder = ROOT / name
    (folder / "golden").mkdir(parents=True, exist_ok=True)
    save(denoiser, folder / "denoiser.onnx")
    if decoder is not None:
        save(decoder, folder / "decoder.onnx")
    config = scheduler_config()
    (folder / "scheduler_config.json").write_text(json.dumps(config, indent=2) + "\n")
    (folder / "medigan.json").write_text(json.dumps(entry(model_id, title, onnx_block, classes), indent=2) + "\n")
    shape = onnx_block["diffusion"]["noise"]["shape"]
    noise = np.random.default_rng(7).standard_normal((SAMPLES, *shape)).astype(np.float32)
    np.save(folder / "golden" / "initial_noise.npy", noise)
    session = ort.InferenceSession(str(folder / "denoiser.onnx"), providers=["CPUExecutionProvider"])
    dec_session = None
    if decoder is not None:
        dec_session = ort.InferenceSession(str(folder / "decoder.onnx"), providers=["CPUExecutionProvider"])
    for alias, scheduler_class in SCHEDULERS.items():
        images = sample(onnx_block, session, dec_session, scheduler_class, config, noise, golden_classes)
        np.save(folder / "golden" / f"{alias.replace('+', 'p')}_{STEPS}_steps.npy", images.astype(np.float32))
    print(f"wrote {folder}")


def main() -> None:
    torch.manual_seed(0)
    cond_block = {
        "graph": "denoiser.onnx",
        "inputs": [{"name": "class_labels", "kind": "class", "classes": ["a", "b"]}],
        # An untrained denoiser's samples leave [-1, 1]: a wide range, so that no value is
        # clamped and the comparison with diffusers sees every value.
        "outputs": [{"name": "image", "kind": "image", "shape": [1, 8, 8], "range": [-64, 64]}],
        "diffusion": {
            "denoiser": {"sample": "sample", "timestep": "timestep", "timestep_type": "int64",
                         "output": "noise_pred", "prediction": "epsilon"},
            "noise": {"shape": [1, 8, 8]},
            "scheduler": "scheduler_config.json",
            "steps": STEPS,
            "guidance_scale": 3.0,
            "null_class": 2,
        },
    }
    make_package(
        "tiny_cond", "00961_TINY_COND_DIFFUSION", "Tiny class-conditional diffusion test fixture",
        cond_block, denoiser_graph([1, 8, 8], "int64", 2, seed=1), None, ["a", "b"],
        np.array([1, 1, 1]),
    )
    latent_block = {
        "graph": "denoiser.onnx",
        "inputs": [],
        "outputs": [{"name": "image", "kind": "image", "shape": [1, 8, 8], "range": [-1, 1]}],
        "diffusion": {
            "denoiser": {"sample": "sample", "timestep": "timestep", "timestep_type": "float32",
                         "output": "noise_pred"},
            "noise": {"shape": [2, 4, 4]},
            "scheduler": "scheduler_config.json",
            "steps": STEPS,
            "decoder": {"graph": "decoder.onnx", "input": "latent", "output": "image",
                        "scaling_factor": 0.5, "shift_factor": 0.1},
        },
    }
    make_package(
        "tiny_latent", "00962_TINY_LATENT_DIFFUSION", "Tiny latent diffusion test fixture",
        latent_block, denoiser_graph([2, 4, 4], "float32", None, seed=2), decoder_graph(2, seed=3), None, None,
    )
    make_volume_package()


def make_volume_package() -> None:
    """A 3D pixel-space model (noise [1, 4, 8, 8], DDIM), with a voxel spacing on its output:
    volumes go to NIfTI and DICOM series; no golden files (the 2D cases check the arithmetic)."""
    block = {
        "graph": "denoiser.onnx",
        "inputs": [],
        "outputs": [{"name": "volume", "kind": "image", "shape": [1, 4, 8, 8], "range": [-1, 1],
                     "spacing": [2.5, 0.5, 0.5]}],
        "diffusion": {
            "denoiser": {"sample": "sample", "timestep": "timestep", "output": "noise_pred"},
            "noise": {"shape": [1, 4, 8, 8]},
            "scheduler": "scheduler_config.json",
            "steps": 8,
        },
    }
    folder = ROOT / "tiny_volume"
    folder.mkdir(parents=True, exist_ok=True)
    save(denoiser_graph([1, 4, 8, 8], "int64", None, seed=4), folder / "denoiser.onnx")
    (folder / "scheduler_config.json").write_text(json.dumps(scheduler_config(), indent=2) + "\n")
    meta = entry("00963_TINY_VOLUME_DIFFUSION", "Tiny 3D diffusion test fixture", block, None)
    meta["00963_TINY_VOLUME_DIFFUSION"]["selection"]["modality"] = ["CT"]
    (folder / "medigan.json").write_text(json.dumps(meta, indent=2) + "\n")
    print(f"wrote {folder}")


if __name__ == "__main__":
    main()
