"""The Ray Data adapter (medigan_rs.ray) on a real local Ray: the tars and manifest it writes are
byte for byte those of `medigan generate --pack tar`, also when an actor dies mid-run and Ray
retries its task."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import medigan_rs
from conftest import FIXTURE_IDS, FIXTURES, medigan_binary

ray = pytest.importorskip("ray", reason="ray is not installed (pip install 'ray[data]')")
from medigan_rs.ray import GenerateSamples, RunSpec, write_shards  # noqa: E402

HERE = Path(__file__).resolve().parent
CASE = "image_mask"  # an image and a mask per sample: three members
N, K, SEED = 22, 4, 11  # six tars, the last one short
BATCH = 2  # the run's batch size, recorded in the manifest header's arguments


@pytest.fixture(scope="module")
def local_ray():
    """A local Ray whose workers can import this module (for the dying actor). Four logical
    CPUs: two generating actors, the range reader and the tar writers must all fit, or Ray
    Data waits for resources forever."""
    saved = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(HERE), saved) if p)
    ray.init(num_cpus=4, include_dashboard=False, log_to_driver=False,
             configure_logging=False)
    ray.data.DataContext.get_current().enable_progress_bars = False
    try:
        yield ray
    finally:
        ray.shutdown()
        if saved is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = saved


def _generators(tmp_path: Path) -> medigan_rs.Generators:
    catalog = FIXTURES / CASE / "medigan.json"
    return medigan_rs.Generators(catalog=str(catalog), home=tmp_path / "home", offline=True)


def _files(folder: Path) -> dict:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def _cli_run(tmp_path: Path) -> dict:
    """The same run written by the CLI (`medigan generate --pack tar`)."""
    binary = medigan_binary()
    if binary is None:
        pytest.skip("no `medigan` binary: build it with `cargo build -p medigan-cli` or set MEDIGAN_BIN")
    out = tmp_path / "cli"
    catalog = FIXTURES / CASE / "medigan.json"
    subprocess.run(
        [str(binary), "--offline", "--cache-dir", str(tmp_path / "cli-home"), "--catalog",
         str(catalog), "generate", FIXTURE_IDS[CASE], "-n", str(N), "--seed", str(SEED),
         "--batch", str(BATCH), "--pack", "tar", "--samples-per-shard", str(K), "-o", str(out)],
        check=True, capture_output=True, timeout=300,
    )
    return _files(out)


class DiesOnce(GenerateSamples):
    """Kills its actor's process on its first call of the run (a marker file says it did):
    what a preempted node or an out-of-memory kill does to a Ray task."""

    def __init__(self, spec: RunSpec, marker: str) -> None:
        super().__init__(spec, arrays=False)
        self._marker = marker

    def __call__(self, batch):
        try:
            fd = os.open(self._marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            return super().__call__(batch)
        os.close(fd)
        os._exit(1)


def _run_on_ray(spec: RunSpec, out: Path, udf=GenerateSamples, args=()) -> str:
    ds = ray.data.range(spec.num_samples, override_num_blocks=5).map_batches(
        udf, fn_constructor_args=(spec, *args), concurrency=2, batch_size=3,
    )
    return write_shards(ds, out, spec)


def test_a_ray_run_writes_the_bytes_of_generate_pack_tar(local_ray, tmp_path):
    expected = _cli_run(tmp_path)
    assert sorted(expected) == sorted([f"shard-00000{t}.tar" for t in range(6)] + ["manifest.jsonl"])
    spec = RunSpec(_generators(tmp_path), FIXTURE_IDS[CASE], num_samples=N,
                   samples_per_shard=K, seed=SEED, batch_size=BATCH)
    manifest = _run_on_ray(spec, tmp_path / "ray", args=(False,))
    assert Path(manifest) == tmp_path / "ray" / "manifest.jsonl"
    got = _files(tmp_path / "ray")
    assert sorted(got) == sorted(expected)
    for name in expected:
        assert got[name] == expected[name], f"{name} differs from the CLI's"


def test_the_rows_carry_the_samples_and_their_digests(local_ray, tmp_path):
    spec = RunSpec(_generators(tmp_path), FIXTURE_IDS[CASE], num_samples=8,
                   samples_per_shard=K, seed=SEED)
    rows = ray.data.range(8).map_batches(
        GenerateSamples, fn_constructor_args=(spec,), concurrency=1, batch_size=3,
    ).take_all()
    rows.sort(key=lambda r: r["index"])
    in_memory = spec.generators.generate(FIXTURE_IDS[CASE], num_samples=8, seed=SEED,
                                         save_images=False)
    assert [r["index"] for r in rows] == list(range(8))
    assert [int(r["tar"]) for r in rows] == [0] * 4 + [1] * 4
    import hashlib
    for row, sample in zip(rows, in_memory):
        image = sample[0] if isinstance(sample, (tuple, list)) else sample
        assert np.array_equal(row["image"], np.asarray(image).reshape(row["image"].shape))
        assert row["sha256"] == hashlib.sha256(row["png"]).hexdigest()
        assert row["__key__"] == f"{row['index']:02d}" or row["__key__"].endswith(str(row["index"]))
        assert row["mask.png"] is not None and row["json"].startswith(b"{")


def test_an_actor_killed_mid_run_changes_no_byte(local_ray, tmp_path):
    expected = _cli_run(tmp_path)
    spec = RunSpec(_generators(tmp_path), FIXTURE_IDS[CASE], num_samples=N,
                   samples_per_shard=K, seed=SEED, batch_size=BATCH)
    marker = tmp_path / "died"
    _run_on_ray(spec, tmp_path / "ray", udf=DiesOnce, args=(str(marker),))
    assert marker.exists(), "an actor died during the run"
    assert _files(tmp_path / "ray") == expected


def test_a_bad_spec_is_refused_before_any_sample(tmp_path):
    gens = _generators(tmp_path)
    with pytest.raises(Exception, match="samples_per_shard|samples per shard|at least 1"):
        RunSpec(gens, FIXTURE_IDS[CASE], num_samples=4, samples_per_shard=0).open()
    with pytest.raises(Exception, match="unknown|not found|no model"):
        RunSpec(gens, "NO_SUCH_MODEL", num_samples=4, samples_per_shard=2).open()
    run = RunSpec(gens, FIXTURE_IDS[CASE], num_samples=4, samples_per_shard=2).open()
    with pytest.raises(Exception, match="not in this run"):
        run.samples([4])
    with pytest.raises(Exception, match="every tar of the run"):
        run.write_manifest(str(tmp_path / "out"), [])
    assert not (tmp_path / "out" / "manifest.jsonl").exists()


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-v"]))
