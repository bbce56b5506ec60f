"""Models in the original Python package format, from Python: a numpy-only package served from
127.0.0.1 runs, with consent, in its own environment, returning arrays (save_images=False) or
writing files (save_images=True); without consent nothing is installed or run."""

from __future__ import annotations

import functools
import http.server
import io
import json
import threading
import zipfile
from pathlib import Path

import numpy as np
import pytest

import medigan_rs

# One 8x8 uint8 image per sample: the number in the weights file + offset + place in the call.
NUMPY_MODEL = """
import os
import numpy as np

def generate(model_file, num_samples, output_path, save_images, offset=0):
    base = int(open(model_file).read())
    images = [np.full((8, 8), base + offset + i, dtype=np.uint8) for i in range(num_samples)]
    if not save_images:
        return images
    os.makedirs(output_path, exist_ok=True)
    for i, image in enumerate(images):
        np.save(os.path.join(output_path, "sample_%03d.npy" % i), image)
"""

MODEL = "90101_LEGACY_NUMPY"


@pytest.fixture()
def served_package(tmp_path):
    """The package zip served over HTTP from 127.0.0.1, and a catalogue in the original format."""
    site = tmp_path / "site"
    site.mkdir()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("__init__.py", NUMPY_MODEL)
        archive.writestr("weights.txt", "40")
    (site / "numpy.zip").write_bytes(buffer.getvalue())
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    link = f"http://127.0.0.1:{server.server_address[1]}/numpy.zip"
    entry = {
        "execution": {
            "package_name": "fixture", "package_link": link, "model_name": "weights",
            "extension": ".txt", "image_size": [8, 8], "dependencies": ["numpy"],
            "generate_method": {"name": "generate", "args": {
                "base": ["model_file", "num_samples", "output_path", "save_images"],
                "custom": {"offset": 1}}},
        },
        "selection": {"performance": {"FID": None}, "organ": ["breast"], "modality": ["MMG"],
                      "generates": ["test pattern"], "license": "MIT"},
        "description": {"title": "legacy fixture", "comment": "test fixture"},
    }
    catalog = tmp_path / "global.json"
    catalog.write_text(json.dumps({MODEL: entry}))
    yield catalog
    server.shutdown()


def test_a_legacy_package_runs_with_consent_returning_arrays_or_writing_files(served_package, tmp_path):
    generators = medigan_rs.Generators(catalog=served_package, home=tmp_path / "home")
    with pytest.raises(medigan_rs.MediganError, match="numpy"):
        generators.generate(MODEL, num_samples=2, save_images=False)
    assert not (tmp_path / "home" / "envs-v1" / MODEL).exists(), "nothing installed without consent"

    images = generators.generate(MODEL, num_samples=3, save_images=False,
                                 install_dependencies=True, offset=7)
    assert [image.shape for image in images] == [(1, 8, 8)] * 3
    assert [float(image[0, 0, 0]) for image in images] == [47.0, 48.0, 49.0]

    out = tmp_path / "out"
    generators.generate(MODEL, num_samples=3, output_path=out, save_images=True,
                        install_dependencies=True, offset=7, format="npy")
    written = sorted(Path(out).glob("*.npy"))
    assert len(written) == 3
    assert float(np.load(written[2]).ravel()[0]) == 49.0
    assert (out / "manifest.jsonl").is_file()


# A package with a latent, as the zoo's GANs: input_latent_vector ([n, 16, 1, 1] float32)
# becomes a 4x4 uint8 image clip(z * 10 + 128); without it the package draws its own.
LATENT_MODEL = """
import numpy as np

def generate(model_file, num_samples, output_path, save_images, input_latent_vector=None):
    z = input_latent_vector
    if z is None:
        z = np.random.randn(num_samples, 16, 1, 1).astype(np.float32)
    assert z.dtype == np.float32 and z.shape == (num_samples, 16, 1, 1), (z.dtype, z.shape)
    return [np.clip(z[i, :, 0, 0] * 10 + 128, 0, 255).astype(np.uint8).reshape(4, 4)
            for i in range(num_samples)]
"""

LATENT_ID = "90102_LEGACY_LATENT"


def local_catalog(tmp_path, model_id, source, title, latent_size=None):
    """A catalogue in the original format with one legacy entry whose package (`source` as its
    `__init__.py`) is a local zip; `latent_size` sets `input_latent_vector_size`."""
    package = tmp_path / f"{model_id}.zip"
    with zipfile.ZipFile(package, "w") as archive:
        archive.writestr("__init__.py", source)
        archive.writestr("weights.txt", "0")
    method = {"name": "generate", "args": {
        "base": ["model_file", "num_samples", "output_path", "save_images"], "custom": {}}}
    if latent_size is not None:
        method["input_latent_vector_size"] = latent_size
    entry = {
        "execution": {
            "package_name": "fixture", "package_link": str(package), "model_name": "weights",
            "extension": ".txt", "image_size": [4, 4], "dependencies": [],
            "generate_method": method,
        },
        "selection": {"performance": {"FID": None}, "license": "MIT"},
        "description": {"title": title},
    }
    catalog = tmp_path / f"{model_id}.json"
    catalog.write_text(json.dumps({model_id: entry}))
    return catalog


@pytest.fixture()
def latent_catalog(tmp_path):
    """A legacy entry with input_latent_vector_size 16 whose package is a local zip."""
    return local_catalog(tmp_path, LATENT_ID, LATENT_MODEL, "legacy latent fixture", 16)


def test_cell_callable_legacy_with_latent_gives_the_same_samples_at_any_batch(latent_catalog, tmp_path):
    generators = medigan_rs.Generators(catalog=latent_catalog, home=tmp_path / "home")
    with pytest.raises(medigan_rs.LegacyModelError, match="install_dependencies"):
        generators.get_generate_function(LATENT_ID, num_samples=4)
    function = generators.generate(LATENT_ID, num_samples=4, save_images=False, seed=3,
                                   is_gen_function_returned=True, install_dependencies=True)
    whole = function(batch_size=4)
    single = function(batch_size=1)
    assert [image.shape for image in whole] == [(1, 4, 4)] * 4
    assert all(np.array_equal(a, b) for a, b in zip(whole, single))
    assert not np.array_equal(whole[0], whole[1])
    info = generators._native().model_info(LATENT_ID)
    assert (info["kind"], info["latent_size"], info["image_range"]) == ("legacy", 16, [0.0, 255.0])


def test_cell_dataset_legacy_with_latent_item_i_is_sample_i(latent_catalog, tmp_path):
    torch = pytest.importorskip("torch")
    generators = medigan_rs.Generators(catalog=latent_catalog, home=tmp_path / "home")
    dataset = generators.get_as_torch_dataset(LATENT_ID, num_samples=5, seed=2,
                                              install_dependencies=True)
    images = generators.generate(LATENT_ID, num_samples=5, seed=2, save_images=False)
    assert np.array_equal(dataset[3]["sample"], images[3])
    loader = generators.get_as_torch_dataloader(dataset, batch_size=2)
    batches = [batch["sample"] for batch in loader]
    stacked = torch.cat(batches).numpy()
    assert all(np.array_equal(stacked[i], images[i]) for i in range(5))


# A package without a latent, as 00011/00007 of the zoo: it draws its own noise from numpy, so
# its samples are reproducible through the seeding of random/numpy/torch only: each call is one
# block of 8 samples seeded with its first sample's seed, whatever the batch.
NOISE_MODEL = """
import numpy as np

def generate(model_file, num_samples, output_path, save_images):
    return [np.random.randint(0, 256, size=(4, 4), dtype=np.uint8) for _ in range(num_samples)]
"""

NOISE_ID = "90103_LEGACY_NO_LATENT"


@pytest.fixture()
def noise_catalog(tmp_path):
    """A legacy entry without input_latent_vector_size whose package is a local zip."""
    return local_catalog(tmp_path, NOISE_ID, NOISE_MODEL, "legacy fixture without a latent")


def test_cell_callable_legacy_without_latent_repeats_its_seeded_run(noise_catalog, tmp_path):
    generators = medigan_rs.Generators(catalog=noise_catalog, home=tmp_path / "home")
    function = generators.generate(NOISE_ID, num_samples=4, save_images=False, seed=3,
                                   is_gen_function_returned=True, install_dependencies=True)
    first = function()
    assert [image.shape for image in first] == [(1, 4, 4)] * 4
    assert all(np.array_equal(a, b) for a, b in zip(first, function())), "same seed, same run"
    assert not np.array_equal(first[0], first[1]), "samples of a batch differ"
    other = function(seed=4)
    assert not all(np.array_equal(a, b) for a, b in zip(first, other)), "another seed differs"
    info = generators._native().model_info(NOISE_ID)
    assert (info["kind"], info["latent_size"]) == ("legacy", None)


def test_cell_dataset_legacy_without_latent_gives_each_item_reproducibly(noise_catalog, tmp_path):
    torch = pytest.importorskip("torch")
    generators = medigan_rs.Generators(catalog=noise_catalog, home=tmp_path / "home")
    dataset = generators.get_as_torch_dataset(NOISE_ID, num_samples=5, seed=2,
                                              install_dependencies=True)
    assert len(dataset) == 5
    item = dataset[3]["sample"]
    assert item.shape == (1, 4, 4)
    assert np.array_equal(dataset[3]["sample"], item), "an item is the same every time"
    loader = generators.get_as_torch_dataloader(dataset, batch_size=2)
    stacked = torch.cat([batch["sample"] for batch in loader]).numpy()
    assert stacked.shape == (5, 1, 4, 4)
    assert np.array_equal(stacked[3], item)
    assert len({stacked[i].tobytes() for i in range(5)}) == 5, "items differ"
