"""Generation from Python: arrays of the declared shape and dtype, files on disk, determinism,
int and string ids, conditioning, masks, the fast backend, Ctrl-C, and bad arguments."""

from __future__ import annotations

import json
import os
import shutil
import signal
import threading
import time

import numpy as np
import pytest

import medigan_rs
from conftest import FIXTURE_IDS, FIXTURES

DEMO = "00900_PHANTOM_DEMO"


def test_in_memory_samples_have_the_declared_shape_dtype_and_range(bundled):
    images = bundled.generate(DEMO, num_samples=8, save_images=False)
    assert isinstance(images, list) and len(images) == 8
    for image in images:
        assert isinstance(image, np.ndarray)
        assert image.shape == (1, 64, 64) and image.dtype == np.float32
        assert image.min() >= -1.0 - 1e-5 and image.max() <= 1.0 + 1e-5
        assert image.flags.c_contiguous and image.flags.writeable
    assert not np.array_equal(images[0], images[1])


def test_same_seed_same_arrays_other_seed_other_arrays(bundled):
    first = bundled.generate(900, num_samples=5, save_images=False, seed=7)
    again = bundled.generate(DEMO, num_samples=5, save_images=False, seed=7, batch_size=2)
    other = bundled.generate("00900", num_samples=5, save_images=False, seed=8)
    for a, b in zip(first, again):
        np.testing.assert_array_equal(a, b)
    assert not any(np.array_equal(a, b) for a, b in zip(first, other))


def test_int_and_string_ids_generate_the_same_samples(bundled):
    ids = [900, "900", "00900", DEMO, "00900_PHANTOM"]
    runs = [bundled.generate(i, num_samples=2, save_images=False, seed=3) for i in ids]
    for run in runs[1:]:
        for a, b in zip(runs[0], run):
            np.testing.assert_array_equal(a, b)


def test_save_images_writes_pngs_and_a_manifest(bundled, tmp_path):
    out = tmp_path / "out"
    assert bundled.generate(900, num_samples=6, output_path=str(out), seed=1) is None
    pngs = sorted(p.name for p in out.glob("*.png"))
    assert len(pngs) == 6
    lines = (out / "manifest.jsonl").read_text().splitlines()
    header = json.loads(lines[0])
    assert header["model_id"] == DEMO and header["seed"] == 1
    assert sorted(json.loads(line)["file"] for line in lines[1:]) == pngs


def test_a_folder_with_an_earlier_run_is_refused_resumed_or_overwritten(bundled, tmp_path):
    out = tmp_path / "out"
    bundled.generate(900, num_samples=5, output_path=out, seed=4)
    first = {p.name: p.read_bytes() for p in out.glob("*.png")}
    with pytest.raises(medigan_rs.GenerateError, match="resume"):
        bundled.generate(900, num_samples=5, output_path=out, seed=4)
    damaged = sorted(first)[2]
    (out / damaged).write_bytes(b"not a png")
    (out / sorted(first)[0]).unlink()
    bundled.generate(900, num_samples=5, output_path=out, seed=4, resume=True)
    assert {p.name: p.read_bytes() for p in out.glob("*.png")} == first
    with pytest.raises(medigan_rs.GenerateError, match="another run"):
        bundled.generate(900, num_samples=5, output_path=out, seed=5, resume=True)
    bundled.generate(900, num_samples=5, output_path=out, seed=5, overwrite=True)
    header = json.loads((out / "manifest.jsonl").read_text().splitlines()[0])
    assert header["seed"] == 5
    assert {p.name for p in out.glob("*.png")} == set(first)
    assert {p.read_bytes() for p in out.glob("*.png")}.isdisjoint(first.values())
    with pytest.raises(ValueError, match="exclude each other"):
        bundled.generate(900, num_samples=5, output_path=out, resume=True, overwrite=True)
    with pytest.raises(ValueError, match="saved to disk"):
        bundled.generate(900, num_samples=5, save_images=False, resume=True)


def test_npy_files_hold_the_in_memory_arrays(bundled, tmp_path):
    bundled.generate(DEMO, num_samples=3, output_path=tmp_path, seed=5, format="npy")
    files = sorted(tmp_path.glob("*.npy"))
    assert len(files) == 3
    in_memory = bundled.generate(DEMO, num_samples=3, save_images=False, seed=5)
    for path, array in zip(files, in_memory):
        np.testing.assert_array_equal(np.load(path), array)


def test_default_output_path_is_output_model_time(bundled, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    bundled.generate(900, num_samples=1)
    runs = list((tmp_path / "output" / DEMO).iterdir())
    assert len(runs) == 1 and (runs[0] / "manifest.jsonl").is_file()


def test_shards_make_up_the_run(bundled):
    whole = bundled.generate(DEMO, num_samples=7, save_images=False, seed=2)
    parts = [bundled.generate(DEMO, num_samples=7, save_images=False, seed=2, shard=f"{k}/3") for k in (1, 2, 3)]
    joined = [a for part in parts for a in part]
    assert len(joined) == 7
    for a, b in zip(whole, joined):
        np.testing.assert_array_equal(a, b)


def test_the_onnx_fixture_runs_with_the_fast_backend(fixture_generators):
    assert medigan_rs._native.ort_library_path(), "onnxruntime is a dependency: its library must be found"
    generators = fixture_generators("dcgan")
    with_ort = generators.generate(FIXTURE_IDS["dcgan"], num_samples=3, save_images=False, seed=4)
    assert [a.shape for a in with_ort] == [(1, 32, 32)] * 3
    tract = medigan_rs.Generators(**{**generators._settings, "backend": "tract"})
    if not medigan_rs._native.TRACT:
        # The wheel is built without the pure-Rust backend: asking for it says so.
        with pytest.raises(Exception, match="tract backend is not part of this build"):
            tract.generate(FIXTURE_IDS["dcgan"], num_samples=3, save_images=False, seed=4)
        return
    with_tract = tract.generate(FIXTURE_IDS["dcgan"], num_samples=3, save_images=False, seed=4)
    for a, b in zip(with_ort, with_tract):
        np.testing.assert_allclose(a, b, atol=1e-4)


def test_conditional_models_return_image_and_label(fixture_generators):
    generators = fixture_generators("conditional")
    model = FIXTURE_IDS["conditional"]
    samples = generators.generate(model, num_samples=6, save_images=False, seed=1)
    assert all(isinstance(s, tuple) and len(s) == 2 for s in samples)
    assert {label for _, label in samples} <= {"benign", "malignant"}
    benign = generators.generate(model, num_samples=4, save_images=False, label="benign")
    assert [label for _, label in benign] == ["benign"] * 4
    with pytest.raises(medigan_rs.GenerateError, match="benign, malignant"):
        generators.generate(model, num_samples=1, save_images=False, label="unknown")


def test_image_mask_models_return_image_and_mask(fixture_generators):
    generators = fixture_generators("image_mask")
    samples = generators.generate(FIXTURE_IDS["image_mask"], num_samples=3, save_images=False)
    for image, mask in samples:
        assert image.shape == mask.shape == (1, 32, 32)
        assert mask.dtype == np.float32 and 0.0 <= mask.min() and mask.max() <= 1.0


def test_generate_function_keeps_its_defaults(bundled):
    generate = bundled.get_generate_function(900, num_samples=2, save_images=False, seed=9)
    assert generate.model_id == DEMO
    first = generate()
    assert len(first) == 2
    np.testing.assert_array_equal(first[0], generate()[0])
    assert len(generate(num_samples=3)) == 3
    returned = bundled.generate(900, num_samples=2, save_images=False, seed=9, is_gen_function_returned=True)
    np.testing.assert_array_equal(returned()[1], first[1])


def test_find_model_and_generate(bundled, tmp_path):
    images = bundled.find_model_and_generate(
        ["PHANTOM", "DDPM"], num_samples=2, save_images=False, is_case_sensitive=False, steps=5
    )
    assert len(images) == 2 and images[0].shape == (1, 64, 64)
    with pytest.raises(medigan_rs.SearchError, match="found 2: 00900_PHANTOM_DEMO, 00901_PHANTOM_DDPM"):
        bundled.find_model_and_generate(["PHANTOM"], num_samples=1)
    with pytest.raises(medigan_rs.SearchError, match="found 0"):
        bundled.find_model_and_generate(["no such value"], num_samples=1)


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        (dict(num_samples=-1), ValueError, "num_samples must be at least 0"),
        (dict(num_samples="3"), TypeError, "num_samples must be an int"),
        (dict(num_samples=2, batch_size=0), medigan_rs.GenerateError, "batch size"),
        (dict(num_samples=2, shard="4/3"), medigan_rs.GenerateError, "shard"),
        (dict(num_samples=2, temperature=0.5), medigan_rs.GenerateError, "temperature"),
        (dict(num_samples=2, label="benign"), medigan_rs.GenerateError, "not conditional"),
        (dict(num_samples=2, input_path="x.png"), medigan_rs.GenerateError, "takes no input"),
        (dict(num_samples=2, format="gif"), medigan_rs.OutputError, "gif"),
    ],
)
def test_bad_arguments_raise_clear_errors(bundled, tmp_path, kwargs, error, message):
    with pytest.raises(error, match=message):
        bundled.generate(DEMO, output_path=tmp_path, **kwargs)


def test_a_model_that_cannot_run_here_says_why_with_a_hint(upstream):
    # 00001 is an original (Python package) model on Zenodo: offline, with an empty cache, it
    # cannot run; the error names the model and says what to do.
    with pytest.raises(medigan_rs.MediganError, match="00001_DCGAN_MMG_CALC_ROI") as raised:
        upstream.generate(1, num_samples=1, save_images=False)
    assert raised.value.hint and "hint: " in str(raised.value)


def test_visualize_serves_the_model_page_until_stopped(bundled, tmp_path):
    import json
    import urllib.request

    handle = bundled.visualize(DEMO, slider_grouper=8, auto_close=True, open_browser=False,
                               save_dir=str(tmp_path))
    try:
        assert handle.url.startswith("http://127.0.0.1:")
        info = json.loads(urllib.request.urlopen(handle.url + "api/model").read())
        assert info["model_id"] == "00900_PHANTOM_DEMO"
        assert info["sliders"] == 4  # 32 latent dimensions in groups of 8
    finally:
        handle.stop()
    assert not handle.running
    with pytest.raises(OSError):
        urllib.request.urlopen(handle.url + "api/model", timeout=2)


def test_visualize_of_an_unknown_model_raises_the_lookup_error(bundled):
    with pytest.raises(medigan_rs.UnknownModelError):
        bundled.visualize("no_such_model", auto_close=True, open_browser=False)


def test_test_model_runs_the_model_test_pipeline(bundled):
    report = bundled.test_model(900)
    assert report["verdict"] == "pass"
    assert {c["name"] for c in report["checks"]} >= {"shape", "range", "determinism", "variation"}


def test_test_model_of_a_legacy_model_without_consent_raises_naming_the_check(upstream):
    with pytest.raises(medigan_rs.MediganError, match="install_dependencies|install-dependencies"):
        upstream.test_model(1)


def contributable_package(tmp_path):
    """A copy of the DCGAN fixture with the fields a contribution requires."""
    package = tmp_path / "my-model"
    shutil.copytree(FIXTURES / "dcgan", package)
    path = package / "medigan.json"
    catalog = json.loads(path.read_text())
    catalog["90001_FIXTURE_DCGAN"]["description"]["authors"] = [{"name": "Doe, Jane", "affiliation": "Uni A"}]
    path.write_text(json.dumps(catalog))
    return package


def test_contribute_dry_run_checks_tests_and_packs_without_sending(bundled, tmp_path):
    package = contributable_package(tmp_path)
    plan = bundled.contribute("00101_MY_MODEL", str(package / "model.onnx"), "", "",
                              output_path=str(tmp_path / "out"), dry_run=True)
    assert "Zenodo" in plan and "00101_MY_MODEL" in plan
    assert (tmp_path / "out" / "00101_MY_MODEL.zip").is_file()


def test_contribute_refuses_a_malformed_id_and_names_missing_fields(bundled, tmp_path):
    package = contributable_package(tmp_path)
    with pytest.raises(medigan_rs.MediganError, match="my_model"):
        bundled.contribute("my_model", str(package), "", "", output_path=str(tmp_path), dry_run=True)
    (package / "medigan.json").write_text((FIXTURES / "dcgan" / "medigan.json").read_text())
    with pytest.raises(medigan_rs.MediganError, match="description.authors"):
        bundled.contribute("00101_MY_MODEL", str(package), "", "", output_path=str(tmp_path), dry_run=True)


def test_test_model_checks_a_catalogue_model(bundled):
    assert bundled.test_model(900, is_local_model=False, num_samples=2)["verdict"] == "pass"


def interrupt_after(seconds: float) -> threading.Timer:
    timer = threading.Timer(seconds, lambda: os.kill(os.getpid(), signal.SIGINT))
    timer.start()
    return timer


@pytest.mark.skipif(threading.current_thread() is not threading.main_thread(), reason="signals need the main thread")
def test_ctrl_c_stops_a_run_to_disk(bundled, tmp_path):
    started = time.monotonic()
    timer = interrupt_after(0.5)
    try:
        with pytest.raises(KeyboardInterrupt):
            bundled.generate(DEMO, num_samples=10_000_000, output_path=tmp_path, format="npy")
    finally:
        timer.cancel()
    assert time.monotonic() - started < 10
    assert not (tmp_path / "manifest.jsonl").exists(), "an interrupted run must not look complete"


@pytest.mark.skipif(threading.current_thread() is not threading.main_thread(), reason="signals need the main thread")
def test_ctrl_c_stops_an_in_memory_run(bundled):
    started = time.monotonic()
    timer = interrupt_after(0.3)
    try:
        with pytest.raises(KeyboardInterrupt):
            bundled.generate(DEMO, num_samples=20_000, save_images=False, batch_size=64)
    finally:
        timer.cancel()
    assert time.monotonic() - started < 10
    # The facade still works afterwards.
    assert len(bundled.generate(DEMO, num_samples=1, save_images=False)) == 1


def test_defect_05_too_many_samples_in_memory_raise_before_generating(bundled, monkeypatch):
    # Issue #14, defect 5: 10**7 phantoms (164 GB) used to abort the interpreter.
    monkeypatch.setenv("MEDIGAN_MAX_IN_MEMORY_BYTES", str(64 << 20))
    started = time.monotonic()
    with pytest.raises(medigan_rs.SampleMemoryError) as raised:
        bundled.generate(900, num_samples=10**7, save_images=False)
    assert time.monotonic() - started < 30, "refused before generating"
    assert isinstance(raised.value, MemoryError)
    assert isinstance(raised.value, medigan_rs.MediganError)
    message = str(raised.value)
    assert "163840000000 bytes" in message and "MEDIGAN_MAX_IN_MEMORY_BYTES" in message
    assert raised.value.hint and "save_images=True" in raised.value.hint
    # Within the limit, the same call works.
    assert len(bundled.generate(900, num_samples=2, save_images=False)) == 2


@pytest.mark.parametrize("seed", [2**64, -5])
def test_an_out_of_range_seed_is_a_clear_value_error(bundled, seed):
    with pytest.raises(ValueError, match="seed must be"):
        bundled.generate(900, num_samples=1, save_images=False, seed=seed)



def test_zero_samples_are_refused_in_memory_and_on_disk(bundled, tmp_path):
    # Issue #20, point 7: `-n 0` used to succeed with an empty manifest; Python too.
    with pytest.raises(medigan_rs.MediganError, match="number of samples"):
        bundled.generate(900, num_samples=0, save_images=False)
    with pytest.raises(medigan_rs.MediganError, match="number of samples"):
        bundled.generate(900, num_samples=0, output_path=tmp_path / "out", save_images=True)
    assert not (tmp_path / "out" / "manifest.jsonl").exists()


def test_a_runs_notes_come_back_as_runtime_warnings(tmp_path):
    """The core returns a run's notes (here: NaN outputs) with the run; no second model load.
    The default backend: the wheel has no tract, and onnxruntime gives the NaN values too."""
    catalogue = FIXTURES / "regressions" / "nan_output" / "medigan.json"
    generators = medigan_rs.Generators(catalog=str(catalogue), home=tmp_path / "home",
                                       offline=True)
    with pytest.warns(RuntimeWarning, match="NaN or infinite"):
        generators.generate("90914", num_samples=2, output_path=str(tmp_path / "out"),
                            format="npy")
    with pytest.warns(RuntimeWarning, match="90914_FIXTURE_NAN_OUTPUT"):
        generators.generate("90914", num_samples=2, save_images=False)
