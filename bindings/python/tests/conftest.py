"""Shared fixtures: facades over the upstream catalogue, the bundled model 00900 and the ONNX
fixtures of tests/fixtures/, each with its own temporary cache (offline: nothing is fetched)."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

import medigan_rs

REPO = Path(__file__).resolve().parents[3]
UPSTREAM = REPO / "models" / "upstream-snapshot.json"
CASES = REPO / "tests" / "reference" / "search-cases.json"
FIXTURES = REPO / "tests" / "fixtures"

FIXTURE_IDS = {
    "dcgan": "90001_FIXTURE_DCGAN",
    "conditional": "90002_FIXTURE_CONDITIONAL",
    "image_mask": "90003_FIXTURE_IMAGE_MASK",
}


# Skips are reported like the Rust tests' (medigan_testkit::skip): a line in $MEDIGAN_SKIP_LOG,
# which scripts/test.sh lists at the end; under CI=true a skip fails unless its reason says
# "allowed in CI" (CI installs everything else).
ALLOWED_IN_CI = "allowed in CI"


def _skip_reason(report) -> str:
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2]).removeprefix("Skipped: ")
    return str(longrepr)


def _report_skip(report, name: str) -> None:
    reason = " ".join(_skip_reason(report).split())
    line = f"SKIPPED: bindings/python::{name}: {reason}"
    log = os.environ.get("MEDIGAN_SKIP_LOG")
    if log:
        with open(log, "a", encoding="utf-8") as f:
            f.write(line + "\n")
    if os.environ.get("CI") == "true" and ALLOWED_IN_CI not in reason:
        report.outcome = "failed"
        report.longrepr = f"{line}\nCI=true, and CI is expected to run this test: install what is missing"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.skipped and not hasattr(report, "wasxfail"):
        _report_skip(report, item.nodeid)


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector):
    outcome = yield
    report = outcome.get_result()
    if report.skipped:  # a module-level skip (pytest.importorskip)
        _report_skip(report, collector.nodeid)


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch):
    """Tests choose their catalogue and cache themselves."""
    for name in ("MEDIGAN_CATALOG", "MEDIGAN_HOME", "MEDIGAN_OFFLINE", "MEDIGAN_BACKEND"):
        monkeypatch.delenv(name, raising=False)


def _reference(path: Path) -> Path:
    if not path.is_file():
        pytest.fail(
            f"missing reference file {path}: the repository's copy of the reference material",
            pytrace=False,
        )
    return path


@pytest.fixture(scope="session")
def upstream_path() -> Path:
    return _reference(UPSTREAM)


@pytest.fixture(scope="session")
def search_cases() -> list:
    return json.loads(_reference(CASES).read_text())


@pytest.fixture(scope="session")
def upstream(upstream_path, tmp_path_factory) -> medigan_rs.Generators:
    """The original medigan catalogue (23 models), read unchanged."""
    home = tmp_path_factory.mktemp("home-upstream")
    return medigan_rs.Generators(catalog=str(upstream_path), home=home, offline=True)


@pytest.fixture(scope="session")
def bundled(tmp_path_factory) -> medigan_rs.Generators:
    """The default catalogue of a fresh cache: the bundled model 00900_PHANTOM_DEMO."""
    home = tmp_path_factory.mktemp("home-bundled")
    saved = os.environ.pop("MEDIGAN_CATALOG", None)
    try:
        return medigan_rs.Generators(home=home, offline=True)
    finally:
        if saved is not None:
            os.environ["MEDIGAN_CATALOG"] = saved


@pytest.fixture(scope="session")
def fixture_generators(tmp_path_factory):
    """`fixture_generators(case)`: a facade over one ONNX fixture (one-entry catalogue whose
    package link "." is the fixture directory)."""
    made = {}

    def make(case: str) -> medigan_rs.Generators:
        if case not in made:
            catalog = FIXTURES / case / "medigan.json"
            if not catalog.is_file():
                pytest.fail(
                    f"missing fixture {catalog}: write it with `python3 scripts/make_fixtures.py`",
                    pytrace=False,
                )
            home = tmp_path_factory.mktemp(f"home-{case.replace('/', '-')}")
            made[case] = medigan_rs.Generators(catalog=str(catalog), home=home, offline=True)
        return made[case]

    return make


def medigan_binary() -> Path | None:
    """The Rust CLI, when built: $MEDIGAN_BIN, else target/{release,debug}/medigan under
    $CARGO_TARGET_DIR or the repository."""
    explicit = os.environ.get("MEDIGAN_BIN")
    if explicit:
        return Path(explicit)
    roots = [Path(os.environ["CARGO_TARGET_DIR"])] if os.environ.get("CARGO_TARGET_DIR") else []
    roots.append(REPO / "target")
    for root in roots:
        for profile in ("release", "debug"):
            candidate = root / profile / "medigan"
            if candidate.is_file() and os.access(candidate, os.X_OK):
                return candidate
    found = shutil.which("medigan")
    return Path(found) if found else None
