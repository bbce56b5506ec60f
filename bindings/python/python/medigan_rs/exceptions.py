"""The exceptions medigan_rs raises: a base `MediganError`, one subclass per kind of failure.

Each carries the Rust core's message; where the core has advice, the message ends with a
`hint: ...` line and the exception's `hint` attribute holds it (else `hint` is None). Classes
also derive from the built-in exception a Python user would expect (`LookupError` for an
unknown model, `ValueError` for a bad request, `OSError` for files and downloads), so existing
`except` clauses keep working.
"""

from __future__ import annotations

from typing import Optional

__all__ = [
    "MediganError",
    "CatalogError",
    "UnknownModelError",
    "AmbiguousModelError",
    "OfflineError",
    "SearchError",
    "StoreError",
    "BackendError",
    "GenerateError",
    "SampleMemoryError",
    "OutputError",
    "NotNativeError",
    "LegacyModelError",
]


class MediganError(Exception):
    """Any error of medigan_rs. `hint` says what to do next, when the core knows."""

    hint: Optional[str] = None


class CatalogError(MediganError):
    """A catalogue could not be read, validated or queried."""


class UnknownModelError(CatalogError, LookupError):
    """No model has this id; the message names the closest ids."""


class AmbiguousModelError(CatalogError, LookupError):
    """An id prefix matches several models; the message lists them."""


class OfflineError(CatalogError, ConnectionError):
    """Offline, and what is needed is not cached."""


class SearchError(MediganError, ValueError):
    """A malformed search or ranking request (operator, order, metric), or a search that found
    no model to generate with."""


class StoreError(MediganError, OSError):
    """Fetching, verifying or caching a model package failed."""


class BackendError(MediganError):
    """Loading or running a model graph failed (onnxruntime or tract)."""


class GenerateError(MediganError, ValueError):
    """A generation request is malformed or cannot be run (label, inputs, shard, options)."""


class SampleMemoryError(GenerateError, MemoryError):
    """The samples asked for in memory would not fit; the message names the bytes they would
    need and the limit (`MEDIGAN_MAX_IN_MEMORY_BYTES`, default: the memory available). Raised
    before anything is generated."""


class OutputError(MediganError, OSError):
    """Writing samples failed."""


class EvaluationOptionError(MediganError, ValueError):
    """An evaluation option has a value no evaluation can use (the extractor, `repeats=0`, an
    ONNX-only option given for Inception, ...): the same error the command line gives for its
    flag, refused before anything is read or fetched."""


class LegacyModelError(MediganError):
    """A package in the original medigan Python format could not run: no consent
    (`install_dependencies=True`), its environment, its code raised, hung or returned something
    that is not an image."""


class NotNativeError(MediganError, NotImplementedError):
    """No longer raised: every model, native or in the original Python format, runs. Kept so
    that code catching it still imports."""
