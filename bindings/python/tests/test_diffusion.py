"""Diffusion packages from Python: the keywords `steps`, `scheduler`, `guidance_scale`,
`initial_noise` and `spacing` (the CLI's --steps, --scheduler, --guidance, --initial-noise,
--spacing; a package with a spacing input is converted and run in
crates/medigan-cli/tests/convert_monai.rs), each sample the
same in memory, on disk, through a generate function and a torch Dataset, and bad values
refused with the core's message."""

from __future__ import annotations

import numpy as np
import pytest

import medigan_rs
from conftest import FIXTURES

COND = "00961_TINY_COND_DIFFUSION"
LATENT = "00962_TINY_LATENT_DIFFUSION"


@pytest.fixture(scope="module")
def cond(fixture_generators):
    return fixture_generators("diffusion/tiny_cond")


@pytest.fixture(scope="module")
def latent(fixture_generators):
    return fixture_generators("diffusion/tiny_latent")


def test_samples_equal_diffusers_from_the_same_initial_noise(latent):
    golden = FIXTURES / "diffusion" / "tiny_latent" / "golden"
    images = latent.generate(
        LATENT,
        num_samples=3,
        save_images=False,
        scheduler="dpm++",
        initial_noise=golden / "initial_noise.npy",
    )
    want = np.load(golden / "dpmpp_12_steps.npy")
    np.testing.assert_allclose(np.stack(images), want, rtol=1e-4, atol=1e-5)


def test_keywords_reach_the_sampler_and_the_manifest(cond, tmp_path):
    kwargs = dict(num_samples=2, seed=4, label="b", steps=5, scheduler="euler", guidance_scale=2.0)
    in_memory = cond.generate(COND, save_images=False, **kwargs)
    cond.generate(COND, output_path=tmp_path, format="npy", **kwargs)
    for i, (image, label) in enumerate(in_memory):
        assert label == "b" and image.shape == (1, 8, 8)
        np.testing.assert_array_equal(image, np.load(tmp_path / f"{i:05}.npy"))
    header = (tmp_path / "manifest.jsonl").read_text().splitlines()[0]
    assert '"scheduler":"EulerDiscreteScheduler"' in header.replace(" ", "")
    other = cond.generate(COND, save_images=False, **dict(kwargs, guidance_scale=1.0))
    assert not np.array_equal(other[0][0], in_memory[0][0])


def test_the_generate_function_and_the_model_info(cond):
    function = cond.generate(COND, num_samples=3, save_images=False, is_gen_function_returned=True, steps=4)
    first, again = function(), function()
    for (a, _), (b, _) in zip(first, again):
        np.testing.assert_array_equal(a, b)
    info = cond._native().model_info(COND)
    assert info["kind"] == "diffusion"
    assert info["diffusion"]["steps"] == 12 and info["diffusion"]["guidance_scale"] == 3.0


def test_a_torch_dataset_item_is_the_sample_of_the_run(cond):
    pytest.importorskip("torch", reason="torch is not installed: the torch adapters are optional")
    kwargs = dict(num_samples=4, seed=6, steps=3, scheduler="ddim")
    dataset = cond.get_as_torch_dataset(COND, **kwargs)
    run = cond.generate(COND, save_images=False, **kwargs)
    item = dataset[2]
    assert item["label"] == run[2][1]
    np.testing.assert_array_equal(np.asarray(item["sample"]), run[2][0])


@pytest.mark.parametrize(
    "kwargs, words",
    [
        (dict(steps=5000), "steps"),
        (dict(scheduler="heun-9"), "ddim"),
        (dict(guidance_scale=-1.0), "guidance"),
        (dict(spacing=[1.5, 0.0, 2.0]), "spacing"),
        (dict(spacing=[1.5, 1.5, 2.0]), "no spacing input"),
    ],
)
def test_bad_values_are_refused_with_the_cores_message(cond, kwargs, words):
    with pytest.raises(medigan_rs.MediganError) as raised:
        cond.generate(COND, num_samples=1, save_images=False, **kwargs)
    assert words in str(raised.value)


def test_guidance_on_an_unconditional_model_is_refused(latent):
    with pytest.raises(medigan_rs.MediganError) as raised:
        latent.generate(LATENT, num_samples=1, save_images=False, guidance_scale=2.0)
    assert "guidance" in str(raised.value)
