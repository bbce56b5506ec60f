"""Ray Data adapter: generate a medigan run on a Ray cluster and write the same WebDataset tar
shards and manifest, byte for byte, as ``medigan generate --pack tar`` with the same seed and
``--samples-per-shard``.

A sample is a pure function of the package, the run seed and its index, so Ray may split, order,
retry and re-run the work as it likes: the bytes do not change. Tar names come from the run's
layout (``shard-000042.tar`` holds samples ``42*K .. 43*K``), never from Ray's block ids, so two
runs of the same job give the same files.

    import ray
    from medigan_rs import Generators
    from medigan_rs.ray import RunSpec, GenerateSamples, write_shards

    spec = RunSpec(Generators(offline=True), "00900_PHANTOM_DEMO", num_samples=100_000,
                   samples_per_shard=1000, seed=7)
    ds = ray.data.range(spec.num_samples).map_batches(
        GenerateSamples, fn_constructor_args=(spec, False), concurrency=2, batch_size=256)
    write_shards(ds, "synthetic/", spec)

``GenerateSamples`` turns a batch of ``id`` values (sample indices) into one row per sample:
``index``, ``seed``, ``tar`` (the tar it belongs to), ``__key__``, ``sha256`` (of the encoded
image file), ``label``, the ``image`` array (and ``mask``) unless ``arrays=False``, and one bytes
column per tar member suffix (``json``, ``png``, ``mask.png``: WebDataset's column naming).
``write_shards`` streams the rows to the driver in index order and writes each tar, atomically,
as soon as its last sample is in (about one tar held in memory), then the manifest, which
``medigan dataset verify`` checks like any other run's. Generation runs on the actors; writing
is one process, as in ``medigan generate``, and is not the bottleneck.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any, Dict, List, Optional, Sequence

import numpy as np

from . import _native
from .generators import Generators

__all__ = ["RunSpec", "GenerateSamples", "write_shards"]

# Columns the adapter adds beside the tar members.
_NOT_MEMBERS = frozenset({"id", "index", "seed", "tar", "__key__", "sha256", "label", "image", "mask"})


@dataclasses.dataclass(frozen=True)
class RunSpec:
    """A ``--pack tar`` run, as every Ray task opens it.

    ``generators`` is pickled as its settings only (catalogue, home, offline, backend): every
    worker opens the model from its own cache, so the cache must hold the package (or be able
    to fetch it) on every node. ``threads`` is the CPU threads of one task's model session.
    """

    generators: Generators
    model_id: str
    num_samples: int
    samples_per_shard: int
    seed: int = 0
    batch_size: int = 16
    format: str = "png"
    label: Optional[str] = None
    threads: Optional[int] = None
    steps: Optional[int] = None
    scheduler: Optional[str] = None
    guidance_scale: Optional[float] = None
    spacing: Optional[Sequence[float]] = None

    def open(self) -> Any:
        """The native packed run (``_native.PackedRun``); every check of ``generate`` runs
        here, before any sample is generated."""
        return _native.packed_run(
            self.generators._native(),
            self.model_id,
            self.num_samples,
            self.samples_per_shard,
            seed=self.seed,
            batch_size=self.batch_size,
            label=self.label,
            threads=self.threads,
            format=self.format,
            steps=self.steps,
            scheduler=self.scheduler,
            guidance_scale=self.guidance_scale,
            spacing=None if self.spacing is None else [float(v) for v in self.spacing],
        )


class GenerateSamples:
    """A callable class for ``Dataset.map_batches``: the constructor opens the run (the model is
    loaded once per actor), each call turns the batch's ``id`` column into samples."""

    def __init__(self, spec: RunSpec, arrays: bool = True) -> None:
        """Opens `spec`; with ``arrays=False`` the rows carry the encoded members only (what
        ``write_shards`` needs), not the image arrays."""
        self._run = spec.open()
        self._arrays = arrays

    def __call__(self, batch: Dict[str, np.ndarray]) -> Dict[str, Any]:
        """The samples of ``batch["id"]``, one row each."""
        indices = [int(i) for i in batch["id"]]
        samples = self._run.samples(indices)
        out: Dict[str, Any] = {
            "index": np.array([s["index"] for s in samples], dtype=np.uint64),
            "seed": np.array([s["seed"] for s in samples], dtype=np.uint64),
            "tar": np.array([self._run.tar_of(s["index"]) for s in samples], dtype=np.uint64),
            "sha256": np.array([s["sha256"] for s in samples], dtype=object),
            "label": np.array([s["label"] for s in samples], dtype=object),
        }
        keys = []
        columns: Dict[str, List[Optional[bytes]]] = {}
        for row, sample in enumerate(samples):
            key = sample["members"][0][0].split(".", 1)[0]
            keys.append(key)
            for name, data in sample["members"]:
                suffix = name[len(key) + 1 :]
                columns.setdefault(suffix, [None] * len(samples))[row] = data
        out["__key__"] = np.array(keys, dtype=object)
        for suffix, values in columns.items():
            out[suffix] = np.array(values, dtype=object)
        if self._arrays:
            out["image"] = np.stack([s["image"] for s in samples])
            if samples and samples[0]["mask"] is not None:
                out["mask"] = np.stack([s["mask"] for s in samples])
        return out


# Most samples the writer holds while it waits for the rest of their tars: rows arrive in order
# (the writer asks Ray to preserve it), so one tar plus one batch is the usual figure.
MAX_HELD_TARS = 64


def write_shards(dataset: Any, path: "str | os.PathLike[str]", spec: RunSpec) -> str:
    """Writes the rows of ``dataset`` (made by ``GenerateSamples`` over ``spec``, every sample of
    the run once) as the run's tar shards and manifest into the folder ``path``; returns the
    manifest's path.

    The rows are streamed to this process in index order (the dataset's ``preserve_order`` is
    set) while the actors generate ahead: a tar is written, atomically, as soon as its last
    sample arrives, so memory holds about one tar; the manifest is written last, after every
    tar's sha256 is checked on disk. Nothing is written for a run whose rows do not cover it."""
    path = os.fspath(path)
    run = spec.open()
    dataset.context.execution_options.preserve_order = True
    held: Dict[int, list] = {}
    lines = []
    for batch in dataset.iter_batches(batch_format="numpy", batch_size=None):
        for tar, entry in _entries(batch):
            entries = held.setdefault(tar, [])
            entries.append(entry)
            start, end = run.tar_samples(tar)
            if len(entries) == end - start:
                lines.append(run.write_tar(path, tar, held.pop(tar)))
        if len(held) > MAX_HELD_TARS:
            raise RuntimeError(
                f"{len(held)} tars are waiting for samples: the rows do not arrive in order "
                "(is the dataset made by GenerateSamples over ray.data.range(num_samples)?)")
    if held:
        missing = ", ".join(run.tar_name(t) for t in sorted(held))
        raise ValueError(f"the rows end before these tars are complete: {missing}; "
                         "nothing was recorded in a manifest")
    return run.write_manifest(path, lines)


def _entries(batch: Dict[str, np.ndarray]):
    """``(tar, (index, seed, members))`` of each row of a ``GenerateSamples`` batch."""
    suffixes = [c for c in batch if c not in _NOT_MEMBERS]
    for row, key in enumerate(batch["__key__"]):
        members = [
            (f"{key}.{suffix}", bytes(batch[suffix][row]))
            for suffix in suffixes
            if batch[suffix][row] is not None
        ]
        entry = (int(batch["index"][row]), int(batch["seed"][row]), members)
        yield int(batch["tar"][row]), entry
