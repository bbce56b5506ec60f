"""medigan_rs: medigan's Python API over a Rust core.

Find generative models of medical images by what they generate, rank them by their reported
metrics, and generate synthetic samples to disk, to numpy arrays, or as a torch Dataset::

    from medigan_rs import Generators
    generators = Generators()
    generators.find_models_and_rank(["mammography"], metric="FID", order="asc")
    images = generators.generate(900, num_samples=8, save_images=False)

The method names, argument names and defaults are those of the original `medigan.Generators`.
Native (ONNX) models run on onnxruntime, whose library comes with the `onnxruntime` package.
"""

from . import _ort

_ort.configure()

from ._native import __version__  # noqa: E402
from .exceptions import (  # noqa: E402
    AmbiguousModelError,
    BackendError,
    CatalogError,
    GenerateError,
    MediganError,
    NotNativeError,
    LegacyModelError,
    EvaluationOptionError,
    OfflineError,
    OutputError,
    SampleMemoryError,
    SearchError,
    StoreError,
    UnknownModelError,
)
from .generators import GenerateFunction, Generators, MatchedEntry  # noqa: E402
from .contributor import ModelContributor  # noqa: E402
from .executor import ModelExecutor  # noqa: E402
from .evaluate import audit, evaluate_models, frd, metrics  # noqa: E402

__all__ = [
    "Generators",
    "GenerateFunction",
    "MatchedEntry",
    "ModelExecutor",
    "ModelContributor",
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
    "EvaluationOptionError",
    "metrics",
    "frd",
    "evaluate_models",
    "audit",
    "__version__",
]
