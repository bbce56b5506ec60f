# Type stub of the medigan_rs package: the public API is typed in generators.py and
# exceptions.py (plain Python with annotations); the native module in _native.pyi.
from .exceptions import (
    AmbiguousModelError as AmbiguousModelError,
    BackendError as BackendError,
    CatalogError as CatalogError,
    GenerateError as GenerateError,
    MediganError as MediganError,
    NotNativeError as NotNativeError,
    LegacyModelError as LegacyModelError,
    EvaluationOptionError as EvaluationOptionError,
    OfflineError as OfflineError,
    OutputError as OutputError,
    SampleMemoryError as SampleMemoryError,
    SearchError as SearchError,
    StoreError as StoreError,
    UnknownModelError as UnknownModelError,
)
from .generators import (
    GenerateFunction as GenerateFunction,
    Generators as Generators,
    MatchedEntry as MatchedEntry,
)
from .contributor import ModelContributor as ModelContributor
from .executor import ModelExecutor as ModelExecutor
from .evaluate import audit as audit, evaluate_models as evaluate_models, frd as frd, metrics as metrics

__version__: str
__all__: list[str]
