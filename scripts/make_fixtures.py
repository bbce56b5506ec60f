#!/usr/bin/env python3
"""Write the ONNX test fixtures of medigan's native runtime (and, on request, the benchmark model).

Each fixture is a complete native model package with fixed pseudo-random weights:

    tests/fixtures/<case>/
        medigan.json           one catalogue entry {"<MODEL_ID>": {execution, selection, description}}
        model.onnx             the generator graph (opset 17, first axis a dynamic "batch" axis)
        README.md, LICENSE     model card ("test fixture, random weights") and MIT licence
        input_<name>.npy       a batch of 4 inputs per graph input (float32, class inputs int64)
        expected_<name>.npy    the outputs onnxruntime computes from those inputs (float32)

Cases: dcgan, conditional, image_mask, image_to_image, volume3d, rgb (see CASES below and the
model card of each fixture for its inputs and outputs).

Usage, from the repository root (needs numpy, onnx and onnxruntime; no torch):

    python3 scripts/make_fixtures.py                    # (re)write tests/fixtures/
    python3 scripts/make_fixtures.py --check            # regenerate into a temporary directory and
                                                        # compare with tests/fixtures/ (exit 1 if stale)
    python3 scripts/make_fixtures.py --out DIR          # write the fixtures to DIR instead
    python3 scripts/make_fixtures.py --benchmark DIR    # also write the full-size 128x128 DCGAN
                                                        # benchmark package to DIR (~51 MB, not committed)

The output is deterministic: every weight comes from numpy.random.RandomState with a fixed seed,
the batch-norm statistics are calibrated in float64 numpy (not with onnxruntime), and files are
written without time stamps, so a rerun writes the same bytes. `expected_*.npy` come from
onnxruntime and may differ in the last bits between onnxruntime versions or CPUs, so `--check`
compares them with a tolerance (1e-5) and everything else byte for byte.

Every graph is also evaluated by an independent float64 numpy implementation of its operators;
the script fails if onnxruntime disagrees with it by more than 1e-4, or if a batch of 4 differs
from 4 batches of 1.
"""

from __future__ import annotations

import argparse
import filecmp
import json
import math
import shutil
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 17
IR_VERSION = 8  # the oldest IR version that opset 17 allows: readable by older runtimes too
N_TEST = 4  # samples in the reference batch written as input_*.npy / expected_*.npy
N_CALIB = 32  # samples used to calibrate batch-norm statistics and output scales
BN_EPS = 1e-5
PRODUCER = "medigan scripts/make_fixtures.py"
YEAR = "2026"
DATE = "November 2026"

REPO = Path(__file__).resolve().parent.parent
DEFAULT_OUT = REPO / "tests" / "fixtures"

MIT_LICENSE = """MIT License

Copyright (c) {year} {holder}

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


# --------------------------------------------------------------------------------------------
# float64 numpy reference operators (used for calibration and as an independent check of ORT)
# --------------------------------------------------------------------------------------------


def ref_conv_transpose(x: np.ndarray, w: np.ndarray, strides, pads) -> np.ndarray:
    """ConvTranspose, N-d, group 1, no dilation. x [B,C,*S], w [C,O,*K], symmetric pads."""
    nd = x.ndim - 2
    spatial = x.shape[2:]
    kernel = w.shape[2:]
    full = [(s - 1) * st + k for s, st, k in zip(spatial, strides, kernel)]
    out = np.zeros((x.shape[0], w.shape[1], *full), dtype=np.float64)
    for kidx in np.ndindex(*kernel):
        contrib = np.tensordot(x, w[(slice(None), slice(None), *kidx)], axes=([1], [0]))
        contrib = np.moveaxis(contrib, -1, 1)  # [B,O,*S]
        sl = tuple(slice(k, k + (s - 1) * st + 1, st) for k, s, st in zip(kidx, spatial, strides))
        out[(slice(None), slice(None), *sl)] += contrib
    crop = tuple(slice(p, f - p) for p, f in zip(pads, full))
    assert len(crop) == nd
    return out[(slice(None), slice(None), *crop)]


def ref_conv(x: np.ndarray, w: np.ndarray, strides, pads) -> np.ndarray:
    """Conv, N-d, group 1, no dilation. x [B,C,*S], w [O,C,*K], symmetric zero pads."""
    xp = np.pad(x, [(0, 0), (0, 0)] + [(p, p) for p in pads])
    kernel = w.shape[2:]
    outs = [(s + 2 * p - k) // st + 1 for s, p, k, st in zip(x.shape[2:], pads, kernel, strides)]
    out = np.zeros((x.shape[0], w.shape[0], *outs), dtype=np.float64)
    for kidx in np.ndindex(*kernel):
        sl = tuple(slice(k, k + (o - 1) * st + 1, st) for k, o, st in zip(kidx, outs, strides))
        patch = xp[(slice(None), slice(None), *sl)]
        contrib = np.tensordot(patch, w[(slice(None), slice(None), *kidx)], axes=([1], [1]))
        out += np.moveaxis(contrib, -1, 1)
    return out


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


# --------------------------------------------------------------------------------------------
# graph builder: every layer adds ONNX nodes and evaluates itself on the calibration + test batch
# --------------------------------------------------------------------------------------------


@dataclass
class T:
    """A tensor of the graph being built: its ONNX name and its float64 value on the batch
    (N_CALIB calibration samples followed by the test samples)."""

    name: str
    value: np.ndarray


@dataclass
class Builder:
    seed: int
    n_calib: int = N_CALIB
    nodes: list = field(default_factory=list)
    inits: list = field(default_factory=list)
    inputs: list = field(default_factory=list)
    outputs: list = field(default_factory=list)
    out_values: dict = field(default_factory=dict)  # graph output name -> float64 value
    n_params: int = 0
    macs: int = 0  # multiply-accumulates per sample of the conv layers

    def __post_init__(self) -> None:
        self.rng = np.random.RandomState(self.seed)

    # -- plumbing --
    def const(self, name: str, arr: np.ndarray) -> str:
        self.inits.append(numpy_helper.from_array(arr, name))
        if arr.dtype == np.float32:
            self.n_params += arr.size
        return name

    def op(self, op_type: str, inputs: list[str], out: str, **attrs) -> str:
        self.nodes.append(helper.make_node(op_type, inputs, [out], name=out, **attrs))
        return out

    def input(self, name: str, value: np.ndarray, elem=TensorProto.FLOAT) -> T:
        self.inputs.append(helper.make_tensor_value_info(name, elem, ["batch", *value.shape[1:]]))
        return T(name, value)

    def output(self, t: T) -> T:
        self.out_values[t.name] = t.value
        self.outputs.append(
            helper.make_tensor_value_info(t.name, TensorProto.FLOAT, ["batch", *t.value.shape[1:]])
        )
        return t

    def calib(self, v: np.ndarray) -> np.ndarray:
        return v[: self.n_calib]

    # -- layers --
    def _weight(self, shape, fan_in: float) -> np.ndarray:
        return self.rng.standard_normal(shape) / math.sqrt(fan_in)

    def conv_transpose(self, x: T, cout: int, k, s, p, name: str, bias=False, out=None,
                       target_std=None) -> T:
        nd = x.value.ndim - 2
        k, s, p = (tuple(v if isinstance(v, (tuple, list)) else [v] * nd) for v in (k, s, p))
        cin = x.value.shape[1]
        w = self._weight((cin, cout, *k), cin * math.prod(k) / math.prod(s))
        y = ref_conv_transpose(x.value, w.astype(np.float32).astype(np.float64), s, p)
        if target_std is not None:  # scale so that the calibration batch has this spread
            w = w * (target_std / self.calib(y).std())
        w = w.astype(np.float32)
        y = ref_conv_transpose(x.value, w.astype(np.float64), s, p)
        ins = [x.name, self.const(f"{name}.weight", w)]
        if bias:
            b = (self.rng.standard_normal(cout) * 0.1).astype(np.float32)
            y = y + b.reshape((1, cout) + (1,) * nd)
            ins.append(self.const(f"{name}.bias", b))
        self.macs += cin * cout * math.prod(k) * math.prod(x.value.shape[2:])
        attrs = dict(kernel_shape=list(k), strides=list(s), pads=list(p) * 2)
        return T(self.op("ConvTranspose", ins, out or name, **attrs), y)

    def conv(self, x: T, cout: int, k, s, p, name: str, bias=True, out=None) -> T:
        nd = x.value.ndim - 2
        k, s, p = (tuple(v if isinstance(v, (tuple, list)) else [v] * nd) for v in (k, s, p))
        cin = x.value.shape[1]
        w = self._weight((cout, cin, *k), cin * math.prod(k)).astype(np.float32)
        y = ref_conv(x.value, w.astype(np.float64), s, p)
        ins = [x.name, self.const(f"{name}.weight", w)]
        if bias:
            b = (self.rng.standard_normal(cout) * 0.1).astype(np.float32)
            y = y + b.reshape((1, cout) + (1,) * nd)
            ins.append(self.const(f"{name}.bias", b))
        self.macs += cin * cout * math.prod(k) * math.prod(y.shape[2:])
        attrs = dict(kernel_shape=list(k), strides=list(s), pads=list(p) * 2)
        return T(self.op("Conv", ins, out or name, **attrs), y)

    def batch_norm(self, x: T, name: str) -> T:
        """Inference-mode batch norm whose running statistics are those of the calibration
        batch, so activations stay well scaled whatever the random weights."""
        c = x.value.shape[1]
        axes = (0, *range(2, x.value.ndim))
        mean = self.calib(x.value).mean(axis=axes).astype(np.float32)
        var = self.calib(x.value).var(axis=axes).astype(np.float32)
        gamma = self.rng.uniform(0.8, 1.2, c).astype(np.float32)
        beta = (self.rng.standard_normal(c) * 0.1).astype(np.float32)
        shape = (1, c) + (1,) * (x.value.ndim - 2)
        f = lambda a: a.astype(np.float64).reshape(shape)  # noqa: E731
        y = (x.value - f(mean)) / np.sqrt(f(var) + BN_EPS) * f(gamma) + f(beta)
        ins = [x.name] + [
            self.const(f"{name}.{n}", a)
            for n, a in (("weight", gamma), ("bias", beta), ("running_mean", mean), ("running_var", var))
        ]
        return T(self.op("BatchNormalization", ins, name, epsilon=BN_EPS, momentum=0.9), y)

    def relu(self, x: T, name: str) -> T:
        return T(self.op("Relu", [x.name], name), np.maximum(x.value, 0.0))

    def leaky_relu(self, x: T, name: str, alpha=0.2) -> T:
        y = np.where(x.value > 0, x.value, alpha * x.value)
        return T(self.op("LeakyRelu", [x.name], name, alpha=alpha), y)

    def tanh(self, x: T, name: str) -> T:
        return T(self.op("Tanh", [x.name], name), np.tanh(x.value))

    def sigmoid(self, x: T, name: str) -> T:
        return T(self.op("Sigmoid", [x.name], name), sigmoid(x.value))

    def embedding(self, labels: T, n_classes: int, dim: int, name: str) -> T:
        table = (self.rng.standard_normal((n_classes, dim)) * 2.0).astype(np.float32)
        y = table.astype(np.float64)[labels.value]
        return T(self.op("Gather", [self.const(f"{name}.weight", table), labels.name], name, axis=0), y)

    def concat(self, xs: list[T], name: str, axis=1) -> T:
        y = np.concatenate([x.value for x in xs], axis=axis)
        return T(self.op("Concat", [x.name for x in xs], name, axis=axis), y)

    def reshape(self, x: T, shape: list[int], name: str) -> T:
        """Reshape to [-1, *shape] (the batch axis stays dynamic)."""
        target = self.const(f"{name}.shape", np.array([-1, *shape], dtype=np.int64))
        y = x.value.reshape((-1, *shape))
        return T(self.op("Reshape", [x.name, target], name), y)

    def model(self, doc: str) -> onnx.ModelProto:
        graph = helper.make_graph(self.nodes, "generator", self.inputs, self.outputs, self.inits)
        m = helper.make_model(
            graph,
            opset_imports=[helper.make_opsetid("", OPSET)],
            producer_name=PRODUCER,
            producer_version="1",
            doc_string=doc,
        )
        m.ir_version = IR_VERSION
        onnx.checker.check_model(m, full_check=True)
        return m


# --------------------------------------------------------------------------------------------
# inputs
# --------------------------------------------------------------------------------------------


def normal(rng, n, shape, truncation=None) -> np.ndarray:
    z = rng.standard_normal((n, *shape))
    if truncation is not None:  # redraw values outside [-t, t], as the Rust side does
        bad = np.abs(z) > truncation
        while bad.any():
            z[bad] = rng.standard_normal(bad.sum())
            bad = np.abs(z) > truncation
    return z.astype(np.float32)


def uniform(rng, n, shape) -> np.ndarray:
    return rng.uniform(-1.0, 1.0, (n, *shape)).astype(np.float32)


def patterns(rng, n, size) -> np.ndarray:
    """Smooth structured images in (-1, 1): a few random plane waves through a tanh."""
    yy, xx = np.meshgrid(np.linspace(-1, 1, size), np.linspace(-1, 1, size), indexing="ij")
    out = np.zeros((n, 1, size, size))
    for i in range(n):
        for _ in range(3):
            fx, fy = rng.uniform(-6, 6, 2)
            out[i, 0] += rng.uniform(0.3, 1.0) * np.sin(fx * xx + fy * yy + rng.uniform(0, 2 * np.pi))
    return np.tanh(1.5 * out).astype(np.float32)


# --------------------------------------------------------------------------------------------
# cases
# --------------------------------------------------------------------------------------------


@dataclass
class Case:
    dirname: str
    model_id: str
    builder: Builder
    model: onnx.ModelProto
    feeds: dict  # test inputs, name -> array
    reference: dict  # numpy float64 outputs on the test inputs, name -> array
    onnx_spec: dict
    meta: dict  # selection / description details
    card: str  # model card body (architecture section)


def dcgan_stack(b: Builder, x: T, chans: list[int], prefix="main") -> T:
    """ConvT(k4,s1,p0) to 4x4, then ConvT(k4,s2,p1) doubling, each followed by BN + ReLU."""
    for i, c in enumerate(chans):
        first = i == 0
        x = b.conv_transpose(x, c, 4, 1 if first else 2, 0 if first else 1, f"{prefix}.convt{i}")
        x = b.batch_norm(x, f"{prefix}.bn{i}")
        x = b.relu(x, f"{prefix}.relu{i}")
    return x


def case_dcgan() -> Case:
    b = Builder(seed=90001)
    n_test = N_TEST
    z_all = np.concatenate([normal(b.rng, N_CALIB, (100, 1, 1)), normal(b.rng, n_test, (100, 1, 1))])
    z = b.input("z", z_all.astype(np.float64))
    x = dcgan_stack(b, z, [32, 16, 8])  # 4x4 -> 8x8 -> 16x16
    x = b.conv_transpose(x, 1, 4, 2, 1, "main.convt3", target_std=1.2)  # 32x32
    b.output(b.tanh(x, "image"))
    return finish(
        b, "dcgan", "90001_FIXTURE_DCGAN", {"z": z_all}, ["image"],
        inputs=[{"name": "z", "kind": "latent", "shape": [100, 1, 1], "distribution": "normal"}],
        outputs=[{"name": "image", "kind": "image", "shape": [1, 32, 32], "range": [-1, 1]}],
        meta=dict(
            title="Test fixture: unconditional DCGAN generator (random weights)",
            type="DCGAN", image_size=[32, 32], hwd=(32, 32, 1), latent=100,
            modality=["MMG", "Mammography", "test fixture"], organ=["breast"],
            function=["noise to image", "image generation", "unconditional generation"],
            generates=["random texture", "mass roi"], condition=[],
            tags=["test fixture", "DCGAN", "32x32"],
        ),
        card="latent `z` [100,1,1] ~ N(0,1) -> ConvTranspose 100->32 (4x4) -> BN -> ReLU -> "
        "ConvTranspose 32->16 (8x8) -> BN -> ReLU -> ConvTranspose 16->8 (16x16) -> BN -> ReLU -> "
        "ConvTranspose 8->1 (32x32) -> Tanh -> `image` [1,32,32] in [-1,1].",
    )


def case_conditional() -> Case:
    b = Builder(seed=90002)
    classes = ["benign", "malignant"]
    z_calib = normal(b.rng, N_CALIB, (64,))
    y_calib = np.arange(N_CALIB, dtype=np.int64) % 2
    z0, z1 = normal(b.rng, 2, (64,))
    z_test = np.stack([z0, z0, z1, z1])  # the same latent under both classes
    y_test = np.array([0, 1, 0, 1], dtype=np.int64)
    z_all, y_all = np.concatenate([z_calib, z_test]), np.concatenate([y_calib, y_test])
    z = b.input("z", z_all.astype(np.float64))
    y = b.input("label", y_all, elem=TensorProto.INT64)
    emb = b.embedding(y, len(classes), 16, "embed")
    x = b.concat([z, emb], "concat")  # [B, 80]
    x = b.reshape(x, [80, 1, 1], "reshape")
    x = dcgan_stack(b, x, [32, 16, 8])
    x = b.conv_transpose(x, 1, 4, 2, 1, "main.convt3", target_std=1.2)
    b.output(b.tanh(x, "image"))
    return finish(
        b, "conditional", "90002_FIXTURE_CONDITIONAL", {"z": z_all, "label": y_all}, ["image"],
        inputs=[
            {"name": "z", "kind": "latent", "shape": [64], "distribution": "normal"},
            {"name": "label", "kind": "class", "classes": classes, "encoding": "index"},
        ],
        outputs=[{"name": "image", "kind": "image", "shape": [1, 32, 32], "range": [-1, 1]}],
        meta=dict(
            title="Test fixture: class-conditional DCGAN generator, benign/malignant (random weights)",
            type="Conditional DCGAN", image_size=[32, 32], hwd=(32, 32, 1), latent=64,
            modality=["MMG", "Mammography", "test fixture"], organ=["breast"],
            function=["noise to image", "image generation", "conditional generation"],
            generates=["mass roi", "benign mass", "malignant mass"], condition=classes,
            tags=["test fixture", "conditional", "cDCGAN", "32x32"],
        ),
        card="latent `z` [64] ~ N(0,1) and class `label` (int64 index: 0 = benign, 1 = malignant) "
        "-> Gather from a 2x16 embedding table -> Concat with z -> [80] -> Reshape [80,1,1] -> "
        "ConvTranspose 80->32 (4x4) -> BN -> ReLU -> 32->16 (8x8) -> BN -> ReLU -> 16->8 (16x16) "
        "-> BN -> ReLU -> ConvTranspose 8->1 (32x32) -> Tanh -> `image` [1,32,32] in [-1,1]. "
        "The reference batch holds two latents, each under both classes (labels 0,1,0,1).",
    )


def case_image_mask() -> Case:
    b = Builder(seed=90003)
    z_all = np.concatenate([normal(b.rng, N_CALIB, (100, 1, 1), 2.0), normal(b.rng, N_TEST, (100, 1, 1), 2.0)])
    z = b.input("z", z_all.astype(np.float64))
    trunk = dcgan_stack(b, z, [32, 16, 8])
    img = b.conv_transpose(trunk, 1, 4, 2, 1, "image_head", bias=True, target_std=1.2)
    b.output(b.tanh(img, "image"))
    mask = b.conv_transpose(trunk, 1, 4, 2, 1, "mask_head", bias=True, target_std=3.0)
    b.output(b.sigmoid(mask, "mask"))
    return finish(
        b, "image_mask", "90003_FIXTURE_IMAGE_MASK", {"z": z_all}, ["image", "mask"],
        inputs=[{"name": "z", "kind": "latent", "shape": [100, 1, 1], "distribution": "normal",
                 "truncation": 2.0}],
        outputs=[
            {"name": "image", "kind": "image", "shape": [1, 32, 32], "range": [-1, 1]},
            {"name": "mask", "kind": "mask", "shape": [1, 32, 32], "range": [0, 1]},
        ],
        meta=dict(
            title="Test fixture: image and segmentation mask generator (random weights)",
            type="DCGAN", image_size=[32, 32, 2], hwd=(32, 32, 2), latent=100,
            modality=["endoscopy", "colonoscopy", "test fixture"], organ=["colon"],
            function=["noise to image and mask", "noise to image", "noise to mask",
                      "image generation", "unconditional generation"],
            generates=["polyp", "polyp images", "masks", "segmentation masks"], condition=[],
            tags=["test fixture", "segmentation", "32x32"],
            use_cases=["testing", "segmentation"],
        ),
        card="latent `z` [100,1,1] ~ N(0,1) truncated to [-2,2] -> shared trunk ConvTranspose "
        "100->32 (4x4) -> BN -> ReLU -> 32->16 (8x8) -> BN -> ReLU -> 16->8 (16x16) -> BN -> ReLU, "
        "then two heads: ConvTranspose 8->1 (32x32) -> Tanh -> `image` [1,32,32] in [-1,1], and "
        "ConvTranspose 8->1 (32x32) -> Sigmoid -> `mask` [1,32,32] in [0,1].",
    )


def case_image_to_image() -> Case:
    b = Builder(seed=90004)
    x_all = np.concatenate([patterns(b.rng, N_CALIB, 32), patterns(b.rng, N_TEST, 32)])
    x = b.input("image_in", x_all.astype(np.float64))
    x = b.conv(x, 8, 4, 2, 1, "down0")  # 16x16
    x = b.leaky_relu(x, "down0.act")
    x = b.conv(x, 16, 4, 2, 1, "down1", bias=False)  # 8x8
    x = b.batch_norm(x, "down1.bn")
    x = b.leaky_relu(x, "down1.act")
    x = b.conv_transpose(x, 8, 4, 2, 1, "up0")  # 16x16
    x = b.batch_norm(x, "up0.bn")
    x = b.relu(x, "up0.act")
    x = b.conv_transpose(x, 1, 4, 2, 1, "up1", bias=True, target_std=1.0)  # 32x32
    b.output(b.tanh(x, "image_out"))
    return finish(
        b, "image_to_image", "90004_FIXTURE_IMAGE_TO_IMAGE", {"image_in": x_all}, ["image_out"],
        inputs=[{"name": "image_in", "kind": "image", "shape": [1, 32, 32], "range": [-1, 1]}],
        outputs=[{"name": "image_out", "kind": "image", "shape": [1, 32, 32], "range": [-1, 1]}],
        meta=dict(
            title="Test fixture: image-to-image translation network, T1 to T2 (random weights)",
            type="pix2pix", image_size=[32, 32], hwd=(32, 32, 1), latent=None,
            modality=["MRI", "T1", "T2", "test fixture"], organ=["brain", "head"],
            function=["image to image", "image generation", "domain translation"],
            generates=["T2 MRI", "brain MRI"], condition=[],
            tags=["test fixture", "image to image", "32x32"],
            use_cases=["testing", "domain-translation"],
        ),
        card="input `image_in` [1,32,32] in [-1,1] -> Conv 1->8 k4 s2 (16x16) -> LeakyReLU(0.2) -> "
        "Conv 8->16 k4 s2 (8x8) -> BN -> LeakyReLU(0.2) -> ConvTranspose 16->8 (16x16) -> BN -> ReLU "
        "-> ConvTranspose 8->1 (32x32) -> Tanh -> `image_out` [1,32,32] in [-1,1]. The reference "
        "inputs are smooth synthetic patterns (sums of plane waves through tanh).",
    )


def case_volume3d() -> Case:
    b = Builder(seed=90005)
    z_all = np.concatenate([normal(b.rng, N_CALIB, (64, 1, 1, 1)), normal(b.rng, N_TEST, (64, 1, 1, 1))])
    z = b.input("z", z_all.astype(np.float64))
    x = b.conv_transpose(z, 16, (2, 4, 4), 1, 0, "convt0")  # [16, 2, 4, 4]
    x = b.batch_norm(x, "bn0")
    x = b.relu(x, "relu0")
    x = b.conv_transpose(x, 8, 4, 2, 1, "convt1")  # [8, 4, 8, 8]
    x = b.batch_norm(x, "bn1")
    x = b.relu(x, "relu1")
    x = b.conv_transpose(x, 1, 4, 2, 1, "convt2", target_std=1.2)  # [1, 8, 16, 16]
    b.output(b.tanh(x, "volume"))
    return finish(
        b, "volume3d", "90005_FIXTURE_VOLUME3D", {"z": z_all}, ["volume"],
        inputs=[{"name": "z", "kind": "latent", "shape": [64, 1, 1, 1], "distribution": "normal"}],
        outputs=[{"name": "volume", "kind": "image", "shape": [1, 8, 16, 16], "range": [-1, 1]}],
        meta=dict(
            title="Test fixture: 3D volume generator (random weights)",
            type="3D DCGAN", image_size=[16, 16, 8], hwd=(16, 16, 8), latent=64,
            modality=["CT", "test fixture"], organ=["lung", "chest"],
            function=["noise to image", "image generation", "unconditional generation", "3D"],
            generates=["volume", "3D volume", "CT volume"], condition=[],
            tags=["test fixture", "3D", "volume", "16x16x8"],
        ),
        card="latent `z` [64,1,1,1] ~ N(0,1) -> ConvTranspose3d 64->16 k(2,4,4) ([16,2,4,4]) -> BN "
        "-> ReLU -> ConvTranspose3d 16->8 k4 s2 p1 ([8,4,8,8]) -> BN -> ReLU -> ConvTranspose3d "
        "8->1 k4 s2 p1 ([1,8,16,16]) -> Tanh -> `volume` [1,8,16,16] (C,D,H,W) in [-1,1].",
    )


def case_rgb() -> Case:
    b = Builder(seed=90006)
    z_all = np.concatenate([uniform(b.rng, N_CALIB, (100, 1, 1)), uniform(b.rng, N_TEST, (100, 1, 1))])
    z = b.input("z", z_all.astype(np.float64))
    x = dcgan_stack(b, z, [32, 16, 8])
    x = b.conv_transpose(x, 3, 4, 2, 1, "main.convt3", bias=True, target_std=2.0)
    b.output(b.sigmoid(x, "image"))
    return finish(
        b, "rgb", "90006_FIXTURE_RGB", {"z": z_all}, ["image"],
        inputs=[{"name": "z", "kind": "latent", "shape": [100, 1, 1], "distribution": "uniform"}],
        outputs=[{"name": "image", "kind": "image", "shape": [3, 32, 32], "range": [0, 1]}],
        meta=dict(
            title="Test fixture: RGB image generator with a uniform latent (random weights)",
            type="DCGAN", image_size=[32, 32, 3], hwd=(32, 32, 3), latent=100,
            modality=["dermoscopy", "test fixture"], organ=["skin"],
            function=["noise to image", "image generation", "unconditional generation"],
            generates=["skin lesion", "RGB images"], condition=[],
            tags=["test fixture", "RGB", "colour", "32x32"],
        ),
        card="latent `z` [100,1,1] ~ U(-1,1) -> ConvTranspose 100->32 (4x4) -> BN -> ReLU -> 32->16 "
        "(8x8) -> BN -> ReLU -> 16->8 (16x16) -> BN -> ReLU -> ConvTranspose 8->3 (32x32) -> Sigmoid "
        "-> `image` [3,32,32] in [0,1].",
    )


def case_benchmark() -> Case:
    """The full-size DCGAN of upstream medigan 00001 (ngf=64, 128x128, bias-free ConvTranspose)."""
    b = Builder(seed=91001, n_calib=8)
    z_all = np.concatenate([normal(b.rng, 8, (100, 1, 1)), normal(b.rng, N_TEST, (100, 1, 1))])
    z = b.input("z", z_all.astype(np.float64))
    x = dcgan_stack(b, z, [1024, 512, 256, 128, 64])  # 4x4 ... 64x64
    x = b.conv_transpose(x, 1, 4, 2, 1, "main.convt5", target_std=1.2)  # 128x128
    b.output(b.tanh(x, "image"))
    return finish(
        b, "dcgan128_benchmark", "90100_BENCHMARK_DCGAN_128", {"z": z_all}, ["image"],
        inputs=[{"name": "z", "kind": "latent", "shape": [100, 1, 1], "distribution": "normal"}],
        outputs=[{"name": "image", "kind": "image", "shape": [1, 128, 128], "range": [-1, 1]}],
        meta=dict(
            title="Benchmark: full-size 128x128 DCGAN generator (random weights)",
            type="DCGAN", image_size=[128, 128], hwd=(128, 128, 1), latent=100,
            modality=["MMG", "Mammography", "benchmark"], organ=["breast"],
            function=["noise to image", "image generation", "unconditional generation"],
            generates=["random texture"], condition=[],
            tags=["benchmark", "DCGAN", "128x128"], use_cases=["benchmark"],
        ),
        card="The generator architecture of medigan 00001_DCGAN_MMG_CALC_ROI (ngf=64, no biases): "
        "latent `z` [100,1,1] ~ N(0,1) -> ConvTranspose 100->1024 (4x4) -> BN -> ReLU -> "
        "1024->512 (8x8) -> BN -> ReLU -> 512->256 (16x16) -> BN -> ReLU -> 256->128 (32x32) -> BN "
        "-> ReLU -> 128->64 (64x64) -> BN -> ReLU -> ConvTranspose 64->1 (128x128) -> Tanh -> "
        "`image` [1,128,128] in [-1,1].",
        n_calib=8,
    )


CASES = {
    "dcgan": case_dcgan,
    "conditional": case_conditional,
    "image_mask": case_image_mask,
    "image_to_image": case_image_to_image,
    "volume3d": case_volume3d,
    "rgb": case_rgb,
}


def finish(b: Builder, dirname, model_id, feeds_all, out_names, *, inputs, outputs, meta, card,
           n_calib=N_CALIB) -> Case:
    feeds = {k: v[n_calib:] for k, v in feeds_all.items()}
    reference = {name: b.out_values[name][n_calib:] for name in out_names}
    doc = f"medigan test fixture {model_id}: random weights, generated by scripts/make_fixtures.py"
    model = b.model(doc)
    spec = {"graph": "model.onnx", "inputs": inputs, "outputs": outputs}
    return Case(dirname, model_id, b, model, feeds, reference, spec, meta, card)


# --------------------------------------------------------------------------------------------
# metadata, model card, licence
# --------------------------------------------------------------------------------------------


def performance() -> dict:
    empty = {"trained_on_fake": {}, "trained_on_real_and_fake": {}, "trained_on_real": {}}
    perf = {k: None for k in ["SSIM", "MSE", "NSME", "PSNR", "IS", "turing_test", "FID_no_images",
                              "FID", "FID_ratio", "FID_RADIMAGENET", "FID_RADIMAGENET_ratio",
                              "CLF_delta", "SEG_delta"]}
    for k in ["CLF", "SEG", "DET"]:
        perf[k] = json.loads(json.dumps(empty))
    return perf


def catalogue_entry(case: Case) -> dict:
    m = case.meta
    h, w, d = m["hwd"]
    gm = {
        "name": "generate",
        "args": {"base": ["model_file", "num_samples", "output_path", "save_images"], "custom": {}},
    }
    if m["latent"] is not None:
        gm["input_latent_vector_size"] = m["latent"]
    entry = {
        "execution": {
            "package_name": case.model_id,
            "package_link": ".",
            "model_name": "model",
            "extension": ".onnx",
            "image_size": m["image_size"],
            "dependencies": [],
            "generate_method": gm,
            "runtime": "onnx",
            "onnx": case.onnx_spec,
        },
        "selection": {
            "performance": performance(),
            "use_cases": m.get("use_cases", ["testing"]),
            "organ": m["organ"],
            "modality": m["modality"],
            "vendors": [],
            "centres": [],
            "function": m["function"],
            "condition": m["condition"],
            "dataset": [],
            "augmentations": [],
            "generates": m["generates"],
            "height": h,
            "width": w,
            "depth": d,
            "type": m["type"],
            "license": "MIT",
            "dataset_type": None,
            "privacy_preservation": None,
            "tags": m["tags"],
            "year": YEAR,
        },
        "description": {
            "title": m["title"],
            "provided_date": DATE,
            "trained_date": None,
            "provided_after_epoch": None,
            "version": "0.1.0",
            "publication": None,
            "doi": [],
            "inputs": [],
            "comment": "Not a trained model: a small graph with fixed pseudo-random weights "
            "(numpy seed) written by scripts/make_fixtures.py, used to test medigan's native "
            "ONNX runtime. Its samples are meaningless. " + case.card,
        },
    }
    return {case.model_id: entry}


def model_card(case: Case, files: list[tuple[str, str]]) -> str:
    ins = "\n".join(
        f"| `{i['name']}` | {i['kind']} | {json.dumps(i.get('shape'))} | "
        + ", ".join(f"{k}: {json.dumps(v)}" for k, v in i.items() if k not in ("name", "kind", "shape"))
        + " |"
        for i in case.onnx_spec["inputs"]
    )
    outs = "\n".join(
        f"| `{o['name']}` | {o['kind']} | {json.dumps(o['shape'])} | range: {json.dumps(o['range'])} |"
        for o in case.onnx_spec["outputs"]
    )
    listing = "\n".join(f"- `{f}`: {what}" for f, what in files)
    return f"""# {case.model_id}: {case.meta['title']}

**Test fixture, random weights.** This is not a trained model and its samples show nothing: the
weights are fixed pseudo-random numbers (numpy `RandomState({case.builder.seed})`) and the
batch-norm statistics are calibrated on random inputs so that the outputs span their range. It
exists to test medigan's native ONNX runtime end to end (loading, input feeding, output
conversion, writers) against reference outputs.

## Graph

ONNX opset {OPSET} (IR version {IR_VERSION}); every input and output has a dynamic first axis `batch`;
shapes below are per sample. {case.builder.n_params:,} parameters, about
{2 * case.builder.macs / 1e6:.1f} MFLOP per sample.

{case.card}

| input | kind | shape | details |
|---|---|---|---|
{ins}

| output | kind | shape | details |
|---|---|---|---|
{outs}

## Files

{listing}

## Reproduce

    python3 scripts/make_fixtures.py          # rewrites tests/fixtures/ byte for byte
    python3 scripts/make_fixtures.py --check  # verifies the committed copy

## Licence

MIT (see `LICENSE`).
"""


# --------------------------------------------------------------------------------------------
# writing and checking
# --------------------------------------------------------------------------------------------


def ort_session(model_bytes: bytes):
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    so.log_severity_level = 3
    return ort.InferenceSession(model_bytes, so, providers=["CPUExecutionProvider"])


def write_npy(path: Path, arr: np.ndarray) -> None:
    with open(path, "wb") as f:
        np.save(f, np.ascontiguousarray(arr), allow_pickle=False)


def write_case(case: Case, out_dir: Path) -> None:
    d = out_dir / case.dirname
    if d.exists():
        shutil.rmtree(d)
    d.mkdir(parents=True)
    model_bytes = case.model.SerializeToString()
    sess = ort_session(model_bytes)

    # 1. the graph's declared I/O agree with the medigan.json declaration
    declared_in = {i["name"] for i in case.onnx_spec["inputs"]}
    graph_in = {i.name for i in sess.get_inputs()}
    assert declared_in == graph_in, (declared_in, graph_in)
    for o, so in zip(case.onnx_spec["outputs"], sess.get_outputs()):
        assert o["name"] == so.name and so.shape[1:] == o["shape"] and so.shape[0] == "batch", so

    # 2. onnxruntime agrees with the float64 numpy reference
    names = [o["name"] for o in case.onnx_spec["outputs"]]
    got = dict(zip(names, sess.run(names, case.feeds)))
    for n in names:
        err = np.abs(got[n].astype(np.float64) - case.reference[n]).max()
        assert err < 1e-4, f"{case.dirname}/{n}: onnxruntime vs numpy reference differ by {err}"
        lo, hi = next(o["range"] for o in case.onnx_spec["outputs"] if o["name"] == n)
        assert got[n].min() >= lo and got[n].max() <= hi, (n, got[n].min(), got[n].max())

    # 3. samples do not depend on their batch: 4 batches of 1 equal one batch of 4
    for i in range(N_TEST):
        one = sess.run(names, {k: v[i : i + 1] for k, v in case.feeds.items()})
        for n, v in zip(names, one):
            assert np.abs(v[0] - got[n][i]).max() < 1e-5, f"{case.dirname}/{n}: batch dependence"

    (d / "model.onnx").write_bytes(model_bytes)
    for k, v in case.feeds.items():
        write_npy(d / f"input_{k}.npy", v)
    for n in names:
        write_npy(d / f"expected_{n}.npy", got[n].astype(np.float32))
    (d / "medigan.json").write_text(json.dumps(catalogue_entry(case), indent=2) + "\n")
    (d / "LICENSE").write_text(MIT_LICENSE.format(year=YEAR, holder="the medigan-rs contributors"))
    files = [("medigan.json", "catalogue entry (one-entry catalogue, mergeable as is)"),
             ("model.onnx", "the generator graph")]
    files += [(f"input_{k}.npy", f"reference input, {v.dtype} {list(v.shape)}") for k, v in case.feeds.items()]
    files += [(f"expected_{n}.npy", f"onnxruntime output for those inputs, float32 {list(got[n].shape)}")
              for n in names]
    (d / "README.md").write_text(model_card(case, files))

    sizes = ", ".join(f"{p.name} {p.stat().st_size:,} B" for p in sorted(d.iterdir()))
    print(f"{case.dirname}: {case.model_id}, {case.builder.n_params:,} params, "
          f"{2 * case.builder.macs / 1e9:.4f} GFLOP/sample; {sizes}")
    for n in names:
        v = got[n]
        print(f"    {n}: shape {list(v.shape)} min {v.min():.3f} max {v.max():.3f} "
              f"mean {v.mean():.3f} std {v.std():.3f}")


def check(out_dir: Path) -> int:
    bad = 0
    with tempfile.TemporaryDirectory() as tmp:
        for name, fn in CASES.items():
            write_case(fn(), Path(tmp))
            fresh, committed = Path(tmp) / name, out_dir / name
            fresh_files = sorted(p.name for p in fresh.iterdir())
            old_files = sorted(p.name for p in committed.iterdir()) if committed.is_dir() else []
            if fresh_files != old_files:
                print(f"STALE {name}: files {old_files} != {fresh_files}")
                bad += 1
                continue
            for f in fresh_files:
                if f.startswith("expected_"):
                    a, b = np.load(fresh / f), np.load(committed / f)
                    ok = a.shape == b.shape and a.dtype == b.dtype and np.abs(a - b).max() <= 1e-5
                else:
                    ok = filecmp.cmp(fresh / f, committed / f, shallow=False)
                if not ok:
                    print(f"STALE {name}/{f}")
                    bad += 1
    print("fixtures up to date" if bad == 0 else f"{bad} stale file(s): run scripts/make_fixtures.py")
    return 1 if bad else 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT, help="fixtures directory")
    ap.add_argument("--check", action="store_true", help="compare a fresh copy with --out")
    ap.add_argument("--benchmark", type=Path, metavar="DIR",
                    help="also write the 128x128 DCGAN benchmark package to DIR/dcgan128_benchmark")
    ap.add_argument("--only", nargs="*", choices=list(CASES), help="write only these cases")
    args = ap.parse_args()
    if args.check:
        return check(args.out)
    for name in args.only if args.only is not None else CASES:
        write_case(CASES[name](), args.out)
    if args.benchmark:
        write_case(case_benchmark(), args.benchmark)
    return 0


if __name__ == "__main__":
    sys.exit(main())
