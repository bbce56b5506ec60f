"""`ModelExecutor` and the original `Generators`' executor methods over the Rust core.

An executor stands for one loaded model: the native facade of its `Generators` keeps the model
(package fetched and checked, sessions made) from the first load on, so every `generate` of the
executor, and of the `Generators`, runs without loading it again. `Generators.models_loaded()`
counts the loads.
"""

from __future__ import annotations

import logging
import os
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Union

from .exceptions import LegacyModelError

if TYPE_CHECKING:  # pragma: no cover
    from .generators import Generators

ModelId = Union[str, int]


class ModelExecutor:
    """One model of the catalogue, loaded once and run many times (the original
    `ModelExecutor`).

    Attributes as in the original: `model_id` (the full id), `execution_config` (the entry's
    `execution` part), `download_package`, `install_dependencies`, and from the execution
    config `package_name`, `package_link`, `model_name`, `model_extension`,
    `generate_method_name` and `dependencies`; plus `info`, the core's description of the
    loaded model (`kind`, `image_shape`, ...; None until loaded).

    The original imported the package's `__init__.py` from the working directory; here a
    native package runs in the core, and a package in the original Python format runs in its
    own environment (made only with `install_dependencies=True`).
    """

    def __init__(
        self,
        model_id: str,
        execution_config: Optional[dict] = None,
        download_package: bool = True,
        install_dependencies: bool = False,
        generators: Optional["Generators"] = None,
    ) -> None:
        """Makes the executor of `model_id`; with `download_package=True` (the default) the
        model is fetched and loaded now, else on its first `generate`. `generators` is the
        `Generators` whose catalogue and cache it uses (a new default one when None)."""
        if generators is None:
            from .generators import Generators

            generators = Generators()
        self.generators = generators
        self.model_id = generators._native().resolve(_model_id(model_id))
        if execution_config is None:
            execution_config = generators.get_config_by_id(self.model_id, "execution")
        self.execution_config: Dict[str, Any] = dict(execution_config)
        self.download_package = bool(download_package)
        self.install_dependencies = bool(install_dependencies)
        config = self.execution_config
        self.package_name = config.get("package_name")
        self.package_link = config.get("package_link")
        self.model_name = config.get("model_name")
        self.model_extension = config.get("extension")
        self.generate_method_name = (config.get("generate_method") or {}).get("name")
        self.dependencies: List[str] = list(config.get("dependencies") or [])
        self.info: Optional[Dict[str, Any]] = None
        if self.download_package:
            self.load()

    def load(self) -> Dict[str, Any]:
        """Loads the model (once: later calls return the same description) and returns the
        core's description of it."""
        if self.info is None:
            native = self.generators._native()
            native.set_install_dependencies(self.install_dependencies)
            self.info = dict(native.model_info(self.model_id))
        return self.info

    def generate(
        self,
        num_samples: int = 30,
        output_path: Union[None, str, os.PathLike] = None,
        save_images: bool = True,
        is_gen_function_returned: bool = False,
        **kwargs: Any,
    ) -> Any:
        """Generates with the loaded model: the arguments and results of
        `Generators.generate` (samples as numpy arrays with `save_images=False`, files in
        `output_path` otherwise, or the generate function)."""
        self.load()
        return self.generators.generate(
            model_id=self.model_id,
            num_samples=num_samples,
            output_path=output_path,
            save_images=save_images,
            is_gen_function_returned=is_gen_function_returned,
            install_dependencies=self.install_dependencies,
            **kwargs,
        )

    def __repr__(self) -> str:
        return (
            f"ModelExecutor(model_id={self.model_id!r}, loaded={self.info is not None}, "
            f"install_dependencies={self.install_dependencies})"
        )


def _model_id(model_id: ModelId) -> str:
    from .generators import _model_id as convert

    return convert(model_id)


class ExecutorMethods:
    """The original `Generators`' executor methods; mixed into `Generators`, whose
    `model_executors` list they keep."""

    model_executors: List[ModelExecutor]

    def _executors(self) -> List[ModelExecutor]:
        if not isinstance(self.__dict__.get("model_executors"), list):
            self.__dict__["model_executors"] = []
        return self.__dict__["model_executors"]

    def models_loaded(self) -> int:
        """How many times this object's native facade has loaded a model (package fetched and
        checked, sessions made). A model served from the facade's cache is not counted, so
        repeated `generate` calls of an executor leave it unchanged. A debug counter; it
        starts again at 0 in a new process and after `add_model_to_config`."""
        from . import _native

        return _native.models_loaded(self._native())  # type: ignore[attr-defined]

    def add_all_model_executors(self) -> None:
        """Adds an executor for every model of the catalogue, loading each (every package is
        fetched). A model in the original Python format is added unloaded: it loads on its
        first `generate`, which needs `install_dependencies=True`."""
        for model_id in self.list_models():  # type: ignore[attr-defined]
            if self.is_model_executor_already_added(model_id):
                continue
            try:
                executor = ModelExecutor(model_id, generators=self)  # type: ignore[arg-type]
            except LegacyModelError:
                executor = ModelExecutor(
                    model_id, download_package=False, generators=self  # type: ignore[arg-type]
                )
            self._executors().append(executor)

    def add_model_executor(self, model_id: ModelId, install_dependencies: bool = False) -> None:
        """Adds the executor of `model_id` (loading the model) unless one is there already."""
        if not self.is_model_executor_already_added(model_id):
            executor = ModelExecutor(
                model_id,
                install_dependencies=install_dependencies,
                generators=self,  # type: ignore[arg-type]
            )
            self._executors().append(executor)

    def is_model_executor_already_added(self, model_id: ModelId) -> bool:
        """Whether `model_executors` holds an executor of `model_id` (id, number or prefix)."""
        return self.find_model_executor_by_id(model_id) is not None

    def find_model_executor_by_id(self, model_id: ModelId) -> Optional[ModelExecutor]:
        """The executor of `model_id` in `model_executors`, or None. An id no catalogue has
        raises UnknownModelError."""
        full_id = self._native().resolve(_model_id(model_id))  # type: ignore[attr-defined]
        for executor in self._executors():
            if executor.model_id == full_id:
                return executor
        logging.debug("%s: no executor added yet", full_id)
        return None

    def get_model_executor(
        self, model_id: ModelId, install_dependencies: bool = False
    ) -> ModelExecutor:
        """The executor of `model_id`, added (and its model loaded) when there is none yet. An
        executor added earlier is returned as it is; asking for `install_dependencies=True`
        gives it that consent."""
        self.add_model_executor(model_id, install_dependencies=install_dependencies)
        executor = self.find_model_executor_by_id(model_id)
        assert executor is not None
        if install_dependencies and not executor.install_dependencies:
            executor.install_dependencies = True
        return executor
