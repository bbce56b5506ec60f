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
