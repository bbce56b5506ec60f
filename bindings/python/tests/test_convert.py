"""`Generators.convert`: a source folder (here the MONAI bundle fixture of
tests/fixtures/convert_monai/) into a native diffusion package, as `medigan convert PATH` does:
consent first, a refusal with the reason and nothing written, and a converted package that then
generates through the native runtime."""

from __future__ import annotations

import importlib.util
import sys

import pytest

import medigan_rs

from conftest import FIXTURES

BUNDLES = FIXTURES / "convert_monai"
MODEL = "00000_LDM_2D"


def test_a_bundle_the_converter_cannot_express_is_refused_and_nothing_written(tmp_path):
    generators = medigan_rs.Generators(home=tmp_path / "home", offline=True)
    out = tmp_path / "package"
    with pytest.raises(medigan_rs.MediganError, match="custom_code.*scripts.ldm_sampler"):
        generators.convert(BUNDLES / "refuse_script", out=out, install_dependencies=True)
    assert not out.exists()


def test_a_monai_bundle_converts_with_consent_and_its_package_generates(tmp_path, monkeypatch):
    missing = [m for m in ("torch", "monai", "einops", "onnx") if importlib.util.find_spec(m) is None]
    if missing:
        pytest.skip(f"{sys.executable} cannot import {', '.join(missing)}; pip install -r scripts/requirements-zoo.txt")
    monkeypatch.setenv("MEDIGAN_PYTHON", sys.executable)
    monkeypatch.setenv("MEDIGAN_PIP_ARGS", "--no-index --no-deps")
    generators = medigan_rs.Generators(home=tmp_path / "home", offline=True)
    out = tmp_path / "package"
    with pytest.raises(medigan_rs.MediganError, match="consent"):
        generators.convert(BUNDLES / "ldm_2d", out=out)
    assert not out.exists()

    report = generators.convert(BUNDLES / "ldm_2d", out=out, samples=2, steps=10, model_id=MODEL,
                                install_dependencies=True)
    assert report["source"] == "monai_bundle"
    assert report["verification"]["passed"], report["verification"]
    assert report["verification"]["runs"][0]["max_relative_error"] <= 1e-4

    native = medigan_rs.Generators(catalog=str(out / "medigan.json"), home=tmp_path / "home2", offline=True)
    images = native.generate(MODEL, num_samples=2, save_images=False)
    assert [image.shape for image in images] == [(1, 16, 16)] * 2


TEXT = FIXTURES / "convert_diffusion" / "text_sd"
TEXT_MODEL = "00004_TEXT_SD"


def test_a_text_pipeline_needs_prompts_and_nothing_is_written(tmp_path):
    generators = medigan_rs.Generators(home=tmp_path / "home", offline=True)
    out = tmp_path / "package"
    with pytest.raises(medigan_rs.MediganError, match="needs_prompts.*--prompts FILE"):
        generators.convert(TEXT, out=out, install_dependencies=True)
    assert not out.exists()


def test_a_text_pipeline_converts_with_prompts_and_generates_each_prompt(tmp_path, monkeypatch):
    missing = [m for m in ("torch", "diffusers", "transformers", "onnx") if importlib.util.find_spec(m) is None]
    if missing:
        pytest.skip(f"{sys.executable} cannot import {', '.join(missing)}; pip install -r scripts/requirements-zoo.txt")
    import numpy as np

    monkeypatch.setenv("MEDIGAN_PYTHON", sys.executable)
    monkeypatch.setenv("MEDIGAN_PIP_ARGS", "--no-index --no-deps")
    generators = medigan_rs.Generators(home=tmp_path / "home", offline=True)
    out = tmp_path / "package"
    report = generators.convert(TEXT, out=out, samples=2, steps=8, model_id=TEXT_MODEL,
                                install_dependencies=True, prompts=TEXT / "prompts.txt")
    assert report["verification"]["passed"], report["verification"]
    prompts = (TEXT / "prompts.txt").read_text().splitlines()
    assert report["plan"]["prompts"] == prompts

    native = medigan_rs.Generators(catalog=str(out / "medigan.json"), home=tmp_path / "home2", offline=True)
    noise = TEXT / "golden" / "initial_noise.npy"
    for p, prompt in enumerate(prompts):
        images = native.generate(TEXT_MODEL, num_samples=2, save_images=False, steps=8,
                                 initial_noise=noise, prompt=prompt)
        got = np.stack(images)
        want = np.load(TEXT / "golden" / f"samples_8_steps_{p}.npy")
        assert np.abs(got - want).max() / np.abs(want).max() <= 1e-4, prompt
    with pytest.raises(medigan_rs.MediganError, match="prompt.*chest x-ray, no finding"):
        native.generate(TEXT_MODEL, num_samples=1, save_images=False, prompt="an undeclared prompt")
