"""The environment (issue #15, item 4): each MEDIGAN_* variable gives the same setting in Python
as in the `medigan` command line (`medigan env --json`), because both read it through the
core's one table (`medigan::env`); e.g. MEDIGAN_OFFLINE=2 is offline in both."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

import medigan_rs

REPO = Path(__file__).resolve().parents[3]

# A value of each variable and the setting it gives.
CASES = [
    ("MEDIGAN_HOME", "/data/medigan cache", "/data/medigan cache"),
    ("MEDIGAN_CATALOG", " a.json, ,b.json", "a.json,b.json"),
    ("MEDIGAN_CATALOG_URL", " https://example.org/c.json ", "https://example.org/c.json"),
    ("MEDIGAN_OFFLINE", "2", "true"),
    ("MEDIGAN_OFFLINE", "yes", "true"),
    ("MEDIGAN_OFFLINE", "off", "false"),
    ("MEDIGAN_BACKEND", "ONNXRUNTIME", "ort"),
    ("MEDIGAN_BACKEND", "tract", "tract"),
    ("MEDIGAN_BACKEND", "gpu", "auto"),
    ("MEDIGAN_VERIFY", "1", "true"),
    ("MEDIGAN_INFERENCE_TIMEOUT", "30", "30"),
    ("MEDIGAN_INFERENCE_TIMEOUT", "soon", "(unreadable: default)"),
    ("MEDIGAN_MAX_SAMPLE_BYTES", "1000", "1000"),
    ("MEDIGAN_MAX_IN_MEMORY_BYTES", "5", "5"),
    ("MEDIGAN_STORE_MAX_BYTES", "1000", "1000"),
    ("MEDIGAN_STORE_UPLOAD_MS", "500", "500"),
    ("MEDIGAN_EXTERNAL_DATA_THRESHOLD_BYTES", "1024", "1024"),
    ("MEDIGAN_PYTHON", "python3.11", "python3.11"),
    ("MEDIGAN_PIP_ARGS", " --no-index  -q", "--no-index -q"),
    ("MEDIGAN_LEGACY_TIMEOUT", "1.5", "1.5"),
    ("MEDIGAN_LEGACY_TIMEOUT", "0", "none"),
    ("MEDIGAN_FID_WEIGHTS", "/w/pt_inception.pth", "/w/pt_inception.pth"),
    ("MEDIGAN_FID_WEIGHTS_URL", "http://127.0.0.1:9/w.pth", "http://127.0.0.1:9/w.pth"),
    ("MEDIGAN_ZENODO_URL", "http://127.0.0.1:9/zenodo", "http://127.0.0.1:9/zenodo"),
    ("MEDIGAN_GITHUB_API_URL", "http://127.0.0.1:9/gh", "http://127.0.0.1:9/gh"),
    ("MEDIGAN_LOG", "debug", "debug"),
]


def medigan_binary() -> Path | None:
    """The `medigan` binary: $MEDIGAN_BIN, else the debug build of the workspace, else PATH."""
    candidates = [os.environ.get("MEDIGAN_BIN")]
    target = os.environ.get("CARGO_TARGET_DIR") or str(REPO / "target")
    candidates.append(str(Path(target) / "debug" / "medigan"))
    candidates.append(shutil.which("medigan"))
    for candidate in candidates:
        if candidate and os.access(candidate, os.X_OK):
            return Path(candidate)
    return None


@pytest.fixture
def clean_env(monkeypatch, tmp_path):
    """No MEDIGAN_* variable of the caller's shell; a private home unless a case sets one."""
    for name in list(os.environ):
        if name.startswith("MEDIGAN_") and name != "MEDIGAN_SKIP_LOG":
            monkeypatch.delenv(name)
    monkeypatch.setenv("MEDIGAN_HOME", str(tmp_path / "home"))
    return monkeypatch


def cli_settings(binary: Path) -> dict:
    out = subprocess.run(
        [str(binary), "env", "--json"], capture_output=True, text=True, env=dict(os.environ)
    )
    assert out.returncode == 0, out.stderr
    return {name: row["effective"] for name, row in json.loads(out.stdout).items()}


def test_python_names_every_variable_of_the_table(clean_env):
    names = set(medigan_rs.Generators().environment())
    assert {case[0] for case in CASES} == names


@pytest.mark.parametrize("name,value,setting", CASES, ids=[f"{c[0]}={c[1]!r}" for c in CASES])
def test_each_variable_gives_the_same_setting_in_python_and_the_cli(clean_env, name, value, setting):
    clean_env.setenv(name, value)
    python = medigan_rs.Generators().environment()
    assert python[name] == setting
    binary = medigan_binary()
    if binary is None:
        pytest.skip("no `medigan` binary: build it with `cargo build -p medigan-cli` or set MEDIGAN_BIN")
    assert cli_settings(binary) == python


def test_an_argument_wins_over_its_variable(clean_env):
    clean_env.setenv("MEDIGAN_OFFLINE", "0")
    clean_env.setenv("MEDIGAN_BACKEND", "ort")
    settings = medigan_rs.Generators(offline=True, backend="tract").environment()
    assert settings["MEDIGAN_OFFLINE"] == "true"
    assert settings["MEDIGAN_BACKEND"] == "tract"
