"""`Generators`: the original medigan API (names, arguments, defaults) over the Rust core.

Every method delegates to the native module (`medigan_rs._native`); what is here is argument
handling in the original's terms. The native object is made on first use in each process, so a
`Generators` (and the torch Dataset holding one) can be pickled and used in DataLoader workers.
"""

from __future__ import annotations

import os
import time
from typing import Any, Callable, Dict, List, Optional, Sequence, Union

from . import _native
from .contributor import ContributorMethods
from .exceptions import LegacyModelError, SearchError
from .executor import ExecutorMethods

ModelId = Union[str, int]

#: Keyword arguments of `generate` that steer a native model; any other keyword is passed to
#: the model as an option (native models take none, and say so).
REQUEST_KWARGS = ("seed", "batch_size", "label", "input_path", "inputs", "shard", "threads", "format")

#: Native objects inherited through fork from a parent process. They are kept, never dropped:
#: freeing them would tear down onnxruntime thread pools that only exist in the parent.
_INHERITED: List[Any] = []


class MatchedEntry(str):
    """A model id found by a search: a `str` (the id), with the `model_id` attribute of the
    original's match objects."""

    @property
    def model_id(self) -> str:
        """The model's id."""
        return str(self)


def _model_id(model_id: ModelId) -> str:
    """A model id as the core takes it: full id, number (1 or "00001") or unique prefix."""
    if isinstance(model_id, bool) or not isinstance(model_id, (str, int)):
        raise TypeError(
            f"model_id must be a str (e.g. '00001_DCGAN_MMG_CALC_ROI') or an int (e.g. 1), "
            f"got {type(model_id).__name__}: {model_id!r}"
        )
    if isinstance(model_id, int):
        if model_id < 0:
            raise ValueError(f"model_id must be a non-negative int, got {model_id}")
        return str(model_id)
    return model_id


def _values(values: Union[str, Sequence[Any]]) -> List[str]:
    """Search values as strings; a single string is one value (not its characters)."""
    if isinstance(values, str):
        return [values]
    if values is None:
        raise TypeError("values must be a list of search values, e.g. ['mammography', 'DCGAN']")
    return [v if isinstance(v, str) else str(v) for v in values]


_U64_MAX = 2**64 - 1


def _count(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}: {value!r}")
    if value < 0:
        raise ValueError(f"{name} must be at least 0, got {value}")
    if value > _U64_MAX:
        raise ValueError(f"{name} must be at most 2**64 - 1 ({_U64_MAX}), got {value}")
    return value


def _request(num_samples: Any, kwargs: Dict[str, Any]) -> Dict[str, Any]:
    """The native request arguments from `num_samples` and the original's `**kwargs`."""
    request: Dict[str, Any] = {"num_samples": _count("num_samples", num_samples)}
    kwargs = dict(kwargs)
    for name in ("seed", "batch_size", "threads"):
        if kwargs.get(name) is not None:
            request[name] = _count(name, kwargs.pop(name))
        else:
            kwargs.pop(name, None)
    if kwargs.get("label") is not None:
        request["label"] = str(kwargs.pop("label"))
    inputs: List[str] = []
    for name in ("input_path", "inputs"):
        value = kwargs.pop(name, None)
        if value is None:
            continue
        if isinstance(value, (str, os.PathLike)):
            inputs.append(os.fspath(value))
        else:
            inputs.extend(os.fspath(v) for v in value)
    if inputs:
        request["inputs"] = inputs
    shard = kwargs.pop("shard", None)
    if shard is not None:
        request["shard"] = shard if isinstance(shard, str) else "{}/{}".format(*shard)
    _diffusion_keywords(request, kwargs)
    kwargs.pop("label", None)
    request["options"] = {key: str(value) for key, value in kwargs.items()}
    return request


#: Keywords of runs saved to disk only: the CLI's --pack, --samples-per-shard, --latent and
#: --shards (with shard="auto").
_DISK_KEYWORDS = ("pack", "samples_per_shard", "latent", "shards")


def _diffusion_keywords(request: Dict[str, Any], kwargs: Dict[str, Any]) -> None:
    """Moves the diffusion keywords (`steps`, `scheduler`, `guidance_scale`, `initial_noise`,
    `spacing`, `prompt`) from `kwargs` into the native request; the CLI's --steps,
    --scheduler, --guidance, --initial-noise, --spacing and --prompt."""
    if kwargs.get("steps") is not None:
        request["steps"] = _count("steps", kwargs.pop("steps"))
    if kwargs.get("scheduler") is not None:
        request["scheduler"] = str(kwargs.pop("scheduler"))
    if kwargs.get("guidance_scale") is not None:
        request["guidance_scale"] = float(kwargs.pop("guidance_scale"))
    if kwargs.get("initial_noise") is not None:
        request["initial_noise"] = os.fspath(kwargs.pop("initial_noise"))
    if kwargs.get("spacing") is not None:
        request["spacing"] = [float(v) for v in kwargs.pop("spacing")]
    if kwargs.get("prompt") is not None:
        request["prompt"] = str(kwargs.pop("prompt"))
    for name in ("steps", "scheduler", "guidance_scale", "initial_noise", "spacing", "prompt"):
        kwargs.pop(name, None)


def _sample_output(row: tuple) -> Any:
    """One sample as the original returns it: the image array, or a tuple
    `(image[, mask][, label])` for image+mask and conditional models."""
    _, _, image, mask, label = row
    if mask is None and label is None:
        return image
    parts = [image]
    if mask is not None:
        parts.append(mask)
    if label is not None:
        parts.append(label)
    return tuple(parts)


class GenerateFunction:
    """A model's generate function with bound defaults (the original's
    `is_gen_function_returned=True`). Call it with any argument of `Generators.generate` to
    change that default for the call."""

    def __init__(self, generators: "Generators", model_id: str, defaults: Dict[str, Any]):
        """Binds `defaults` (arguments of `Generators.generate`) to `model_id`."""
        self.generators = generators
        self.model_id = model_id
        self.defaults = defaults

    def __call__(self, **overrides: Any) -> Any:
        """Generates with the bound defaults, changed by `overrides`."""
        arguments = {**self.defaults, **overrides}
        return self.generators.generate(model_id=self.model_id, **arguments)

    def __repr__(self) -> str:
        return f"GenerateFunction(model_id={self.model_id!r}, defaults={self.defaults!r})"


class Generators(ExecutorMethods, ContributorMethods):
    """The single point of access to medigan: catalogue, search, ranking and generation.

    Arguments after `initialize_all_models` are medigan_rs settings; each overrides its
    environment variable: `catalog` (a path or URL, or a list: replaces the default catalogue
    sources; `MEDIGAN_CATALOG`), `home` (the cache directory; `MEDIGAN_HOME`), `offline`
    (never touch the network; `MEDIGAN_OFFLINE`), `backend` ("ort", "tract" or "auto";
    `MEDIGAN_BACKEND`). Nothing is read until a method needs it.

    `model_executors` and `model_contributors` are the lists the original's executor and
    contributor methods keep (`ModelExecutor`, `ModelContributor` of medigan_rs); the
    executor methods are in `executor.py`, the contribution and catalogue methods in
    `contributor.py`.
    """

    def __init__(
        self,
        config_manager: Any = None,
        model_selector: Any = None,
        model_executors: Optional[list] = None,
        model_contributors: Optional[list] = None,
        initialize_all_models: bool = False,
        *,
        catalog: Union[None, str, os.PathLike, Sequence[Union[str, os.PathLike]]] = None,
        home: Union[None, str, os.PathLike] = None,
        offline: Optional[bool] = None,
        backend: Optional[str] = None,
    ) -> None:
        """See the class docstring; raises BackendError for an unknown backend name."""
        given = [
            name
            for name, value in (
                ("config_manager", config_manager),
                ("model_selector", model_selector),
            )
            if value is not None
        ]
        if given:
            raise NotImplementedError(
                f"Generators({', '.join(given)}=...): these are objects of the original Python "
                "implementation; medigan_rs is configured with catalog=, home=, offline= and "
                "backend= instead"
            )
        self.model_executors = list(model_executors or [])
        self.model_contributors = list(model_contributors or [])
        if isinstance(catalog, (str, os.PathLike)):
            catalog = [catalog]
        self._settings: Dict[str, Any] = {
            "catalog": None if catalog is None else [os.fspath(c) for c in catalog],
            "home": None if home is None else os.fspath(home),
            "offline": offline,
            "backend": backend,
        }
        self._native_obj: Any = None
        self._native_pid: Optional[int] = None
        self._native()  # validate the settings now (e.g. an unknown backend name)
        if initialize_all_models:
            for model_id in self.list_models():
                try:
                    self._native().model_info(model_id)
                except LegacyModelError:
                    pass  # a Python package: loaded on first use, with install_dependencies=True

    def environment(self) -> Dict[str, str]:
        """The setting each `MEDIGAN_*` variable gives here, by name (as `medigan env --json`
        reports it): the environment read by the core, with this object's arguments applied."""
        return dict(self._native().environment())

    def _native(self) -> Any:
        """The native facade of this process, made on first use (again after a fork)."""
        pid = os.getpid()
        if self._native_obj is None or self._native_pid != pid:
            if self._native_obj is not None:
                _INHERITED.append(self._native_obj)
            self._native_obj = _native.Generators(**self._settings)
            self._native_pid = pid
        return self._native_obj

    def __getstate__(self) -> Dict[str, Any]:
        """Pickles the settings only: the native facade is made again where unpickled."""
        return {"_settings": self._settings}

    def __setstate__(self, state: Dict[str, Any]) -> None:
        """Restores the settings; the native facade is made on first use."""
        self._settings = state["_settings"]
        self.model_executors = []
        self.model_contributors = []
        self._native_obj = None
        self._native_pid = None

    def __repr__(self) -> str:
        return f"Generators({', '.join(f'{k}={v!r}' for k, v in self._settings.items() if v is not None)})"

    # ------------------------------------------------------------------ catalogue

    def list_models(self) -> List[str]:
        """Return the list of model ids (str) in the catalogue, in catalogue order."""
        return self._native().list_models()

    def get_config_by_id(self, model_id: ModelId, config_key: Optional[str] = None) -> Any:
        """Return a model's catalogue entry, or the part of it below `config_key`.

        `model_id` is the full id, its number (1 or "00001") or a unique prefix. `config_key`
        may be dotted for nested keys, e.g. "execution.generator.name"; a missing key raises
        KeyError naming it.
        """
        config = self._native().config(_model_id(model_id))
        if config_key is None:
            return config
        node = config
        walked: List[str] = []
        for key in config_key.split("."):
            walked.append(key)
            if not isinstance(node, dict) or key not in node:
                raise KeyError(
                    f"model {_model_id(model_id)!r} has no config key {'.'.join(walked)!r}"
                )
            node = node[key]
        return node

    def get_selection_criteria_by_id(
        self, model_id: ModelId, is_model_id_removed: bool = True
    ) -> Dict[str, Any]:
        """Return the `selection` dict of a model's entry; with `is_model_id_removed=False`,
        `{"model_id": id, "selection": {...}}`."""
        native = self._native()
        model = native.resolve(_model_id(model_id))
        selection = native.selection(model)
        if is_model_id_removed:
            return selection
        return {"model_id": model, "selection": selection}

    def get_selection_criteria_by_ids(
        self, model_ids: Optional[Sequence[ModelId]] = None, are_model_ids_removed: bool = True
    ) -> List[Dict[str, Any]]:
        """Return the selection dicts of several models (all models when `model_ids` is None)."""
        ids = self.list_models() if model_ids is None else model_ids
        return [self.get_selection_criteria_by_id(m, are_model_ids_removed) for m in ids]

    def get_selection_keys(self, model_id: Optional[ModelId] = None) -> List[str]:
        """Return the first-level keys of the selection dict of one model, or of all models."""
        return self._native().selection_keys(None if model_id is None else _model_id(model_id))

    def get_selection_values_for_key(
        self, key: str, model_id: Optional[ModelId] = None
    ) -> List[Any]:
        """Return the distinct values under a (dotted) selection key, for one model or all
        models, in order of first appearance; the elements of a list value are listed one by
        one, and models without the key are skipped (the original nests lists and raises)."""
        return self._native().selection_values(
            key, None if model_id is None else _model_id(model_id)
        )

    # ------------------------------------------------------------------ search and ranking

    def find_matching_models_by_values(
        self,
        values: Sequence[Any],
        target_values_operator: str = "AND",
        are_keys_also_matched: bool = False,
        is_case_sensitive: bool = False,
    ) -> List[MatchedEntry]:
        """Return the models whose selection metadata holds the search `values`.

        Whole values are compared (never substrings), case-insensitively unless
        `is_case_sensitive`; `target_values_operator` is "AND" (all values), "OR" (any) or
        "XOR" (exactly one); `are_keys_also_matched` compares the keys too. The results are
        model ids (`str`, with a `model_id` attribute like the original's match objects), in
        catalogue order.
        """
        found = self._native().find_matching(
            _values(values),
            target_values_operator,
            bool(are_keys_also_matched),
            bool(is_case_sensitive),
        )
        return [MatchedEntry(m) for m in found]

    def rank_models_by_performance(
        self,
        model_ids: Optional[Sequence[ModelId]] = None,
        metric: str = "SSIM",
        order: str = "asc",
    ) -> List[Dict[str, Any]]:
        """Rank models by a metric below `selection.performance` (dotted path, e.g.
        "downstream_task.CLF.accuracy"); `order` is "asc" or "desc". Returns
        `[{"model_id": id, metric: value}]` best first; models without a numeric value are left
        out; `model_ids` restricts the ranking to those models."""
        ids = None if model_ids is None else [_model_id(m) for m in model_ids]
        return self._native().rank(ids, metric, order)

    def find_models_and_rank(
        self,
        values: Sequence[Any],
        target_values_operator: str = "AND",
        are_keys_also_matched: bool = False,
        is_case_sensitive: bool = False,
        metric: str = "SSIM",
        order: str = "asc",
    ) -> List[Dict[str, Any]]:
        """Search models by `values` (as `find_matching_models_by_values`), then rank the ones
        found by `metric` (as `rank_models_by_performance`)."""
        return self._native().find_and_rank(
            _values(values),
            target_values_operator,
            bool(are_keys_also_matched),
            bool(is_case_sensitive),
            metric,
            order,
        )

    def get_models_by_key_value_pair(
        self, key1: str, value1: Any, is_case_sensitive: bool = False
    ) -> List[Dict[str, Any]]:
        """Return `[{"model_id": id, key1: value1}]` for the models whose selection field at
        the (dotted) `key1` equals `value1`, or holds it when the field is a list."""
        value = value1 if isinstance(value1, str) else str(value1)
        found = self._native().key_value(key1, value, bool(is_case_sensitive))
        return [{"model_id": m, key1: value1} for m in found]

    # ------------------------------------------------------------------ generation

    def generate(
        self,
        model_id: ModelId,
        num_samples: int = 30,
        output_path: Union[None, str, os.PathLike] = None,
        save_images: bool = True,
        is_gen_function_returned: bool = False,
        install_dependencies: bool = False,
        **kwargs: Any,
    ) -> Any:
        """Generate `num_samples` samples with a model, or return its generate function.

        With `save_images=True` the samples are written to `output_path` (default
        `output/<model_id>/<time>/`) with a `manifest.jsonl`, and None is returned. With
        `save_images=False` a list is returned: one float32 numpy array per sample (`[C, H, W]`
        or `[C, D, H, W]`, in the model's declared value range), or a tuple `(image[, mask][,
        label])` for image+mask and conditional models. With `is_gen_function_returned=True`
        a `GenerateFunction` with these arguments bound is returned instead.

        Keyword arguments: `seed` (int, default 0: sample i is drawn from (seed, i), so the same
        seed gives the same samples), `batch_size` (default 16), `label` (class name of a
        conditional model), `input_path` (file, folder or list, for image-to-image models),
        `shard` ("K/N"), `threads`, `format` (file format when saving: "png", "png16", "npy",
        ...), `resume=True` (an `output_path` holding an earlier, interrupted or damaged run of
        the same arguments: its files whose sha256 matches the record are kept and only the
        rest is generated) or `overwrite=True` (start that run again); `pack="tar"` with
        `samples_per_shard` (WebDataset tars), `latent` (values every sample's latent holds, as
        a sample saved from the visualiser), `shard="auto"` with `shards` (the shard from the
        scheduler's environment); without `resume` or `overwrite`, a
        folder holding an earlier run is refused. Other keywords are model options (native models take none and raise
        GenerateError; models in the original Python format take their `custom` arguments).
        `install_dependencies=True` consents to creating a model's own virtual environment,
        installing its dependencies and running its code; it matters only for models in the
        original Python package format (native models have no dependencies). The call releases
        the GIL and Ctrl-C stops it between batches. As in the original, the model's executor
        is added to `model_executors` (`get_model_executor`) when it is not there yet.
        """
        model = _model_id(model_id)
        # As the original: the model's executor is added to `model_executors` (its model loaded
        # once, kept by the native facade) and reused by later calls.
        self.get_model_executor(model, install_dependencies=install_dependencies)
        if is_gen_function_returned:
            defaults = dict(num_samples=num_samples, output_path=output_path, save_images=save_images, **kwargs)
            return self.get_generate_function(model, install_dependencies=install_dependencies, **defaults)
        kwargs = dict(kwargs)
        file_format = kwargs.pop("format", None) or "png"
        folder_mode = {name: bool(kwargs.pop(name, False)) for name in ("resume", "overwrite")}
        if any(folder_mode.values()) and not save_images:
            raise ValueError("resume and overwrite apply to runs saved to disk (save_images=True)")
        to_disk = {name: kwargs.pop(name) for name in _DISK_KEYWORDS if kwargs.get(name) is not None}
        for name in _DISK_KEYWORDS:
            kwargs.pop(name, None)
        if to_disk and not save_images:
            raise ValueError(f"{', '.join(sorted(to_disk))} apply to runs saved to disk (save_images=True)")
        if "latent" in to_disk:
            to_disk["latent"] = [float(v) for v in to_disk["latent"]]
        request = _request(num_samples, kwargs)
        native = self._native()
        native.set_install_dependencies(bool(install_dependencies))
        if save_images:
            if output_path is None:
                full_id = native.resolve(model)
                output_path = os.path.join("output", full_id, str(time.time()))
            # The run's notes come back as RuntimeWarnings, raised by the core's bindings.
            native.generate_to_dir(
                model, os.fspath(output_path), format=file_format, **folder_mode, **to_disk, **request
            )
            return None
        rows = native.generate_samples(model, **request)
        return [_sample_output(row) for row in rows]

    def get_generate_function(
        self,
        model_id: ModelId,
        num_samples: int = 30,
        output_path: Union[None, str, os.PathLike] = None,
        install_dependencies: bool = False,
        **kwargs: Any,
    ) -> GenerateFunction:
        """Return the model's reusable generate function, with these arguments bound (the model
        is loaded now, so that calling it does no set-up)."""
        native = self._native()
        model = native.resolve(_model_id(model_id))
        _request(num_samples, {k: v for k, v in kwargs.items() if k not in ("format", "save_images")})
        native.set_install_dependencies(bool(install_dependencies))
        native.model_info(model)
        defaults = dict(
            num_samples=num_samples, output_path=output_path,
            install_dependencies=install_dependencies, **kwargs,
        )
        return GenerateFunction(self, model, defaults)

    def find_model_and_generate(
        self,
        values: Sequence[Any],
        target_values_operator: str = "AND",
        are_keys_also_matched: bool = False,
        is_case_sensitive: bool = False,
        num_samples: int = 30,
        output_path: Union[None, str, os.PathLike] = None,
        is_gen_function_returned: bool = False,
        install_dependencies: bool = False,
        **kwargs: Any,
    ) -> Any:
        """Search for models by `values` and generate with the one model found. Raises
        SearchError when the search finds no model or several (the original logged it and
        returned None)."""
        found = self.find_matching_models_by_values(
            values, target_values_operator, are_keys_also_matched, is_case_sensitive
        )
        if len(found) != 1:
            listing = f": {', '.join(found)}" if found else ""
            raise SearchError(
                f"find_model_and_generate needs exactly one matching model, but the search for "
                f"{_values(values)} ({target_values_operator}) found {len(found)}{listing}; add "
                "search values or use find_models_rank_and_generate"
            )
        return self.generate(
            model_id=found[0],
            num_samples=num_samples,
            output_path=output_path,
            is_gen_function_returned=is_gen_function_returned,
            install_dependencies=install_dependencies,
            **kwargs,
        )

    def find_models_rank_and_generate(
        self,
        values: Sequence[Any],
        target_values_operator: str = "AND",
        are_keys_also_matched: bool = False,
        is_case_sensitive: bool = False,
        metric: str = "SSIM",
        order: str = "asc",
        num_samples: int = 30,
        output_path: Union[None, str, os.PathLike] = None,
        is_gen_function_returned: bool = False,
        install_dependencies: bool = False,
        **kwargs: Any,
    ) -> Any:
        """Search for models by `values`, rank them by `metric`, and generate with the best.
        Raises SearchError when no model is both found and ranked."""
        ranked = self.find_models_and_rank(
            values, target_values_operator, are_keys_also_matched, is_case_sensitive, metric, order
        )
        if not ranked:
            raise SearchError(
                f"no model matches the search for {_values(values)} ({target_values_operator}) "
                f"and has a numeric value for the metric {metric!r}"
            )
        return self.generate(
            model_id=ranked[0]["model_id"],
            num_samples=num_samples,
            output_path=output_path,
            is_gen_function_returned=is_gen_function_returned,
            install_dependencies=install_dependencies,
            **kwargs,
        )

    # ------------------------------------------------------------------ torch

    def get_as_torch_dataset(
        self,
        model_id: ModelId,
        num_samples: int = 100,
        install_dependencies: bool = False,
        transform: Optional[Callable[..., Any]] = None,
        **kwargs: Any,
    ) -> Any:
        """Return a map-style `torch.utils.data.Dataset` of `num_samples` synthetic samples.

        Item i is `{"sample": image[, "mask": mask][, "label": label]}` (numpy float32
        arrays), generated on access from (seed, i): the same index gives the same sample in
        any process, worker or order. `transform` is applied as in the original (to the image,
        or to image and mask together). Keyword arguments as for `generate`. Needs PyTorch
        (`pip install torch`); raises ImportError without it.
        """
        from . import torch_dataset

        native = self._native()
        model = native.resolve(_model_id(model_id))
        request = _request(num_samples, kwargs)
        native.set_install_dependencies(bool(install_dependencies))
        native.model_info(model)  # loads it: a legacy package's environment is made here
        return torch_dataset.SyntheticDataset(self, model, request, transform)

    def get_as_torch_dataloader(
        self,
        dataset: Any = None,
        model_id: Optional[ModelId] = None,
        num_samples: int = 1000,
        install_dependencies: bool = False,
        transform: Optional[Callable[..., Any]] = None,
        batch_size: Optional[int] = None,
        shuffle: Optional[bool] = None,
        sampler: Any = None,
        batch_sampler: Any = None,
        num_workers: Optional[int] = None,
        collate_fn: Optional[Callable[..., Any]] = None,
        pin_memory: Optional[bool] = None,
        drop_last: Optional[bool] = None,
        timeout: Optional[float] = None,
        worker_init_fn: Optional[Callable[[int], None]] = None,
        prefetch_factor: Optional[int] = None,
        persistent_workers: Optional[bool] = None,
        pin_memory_device: Optional[str] = None,
        **kwargs: Any,
    ) -> Any:
        """Return a `torch.utils.data.DataLoader` over `dataset`, or over
        `get_as_torch_dataset(model_id, num_samples, transform=transform, **kwargs)`.

        The DataLoader arguments are torch's; as in the original, those left at None are not
        passed (torch's defaults apply: batch size 1, no shuffling, no workers), and
        `prefetch_factor` is passed only with `num_workers > 0` (torch rejects it otherwise).
        Worker processes each open the model themselves and get exactly the samples of their
        indices. Needs PyTorch.
        """
        from . import torch_dataset

        if dataset is None:
            if model_id is None:
                raise TypeError("get_as_torch_dataloader needs a dataset or a model_id")
            dataset = self.get_as_torch_dataset(
                model_id, num_samples=num_samples, install_dependencies=install_dependencies,
                transform=transform, **kwargs,
            )
        arguments = dict(
            batch_size=batch_size,
            shuffle=shuffle,
            sampler=sampler,
            batch_sampler=batch_sampler,
            num_workers=num_workers,
            collate_fn=collate_fn,
            pin_memory=pin_memory,
            drop_last=drop_last,
            timeout=timeout,
            worker_init_fn=worker_init_fn,
            persistent_workers=persistent_workers,
            pin_memory_device=pin_memory_device,
        )
        given = {name: value for name, value in arguments.items() if value is not None}
        return torch_dataset.make_dataloader(dataset, prefetch_factor=prefetch_factor, **given)

    # ------------------------------------------------------------------ visualiser, model test, contribution

    def visualize(
        self,
        model_id: ModelId,
        slider_grouper: int = 10,
        auto_close: bool = False,
        install_dependencies: bool = False,
        port: int = 0,
        open_browser: bool = True,
        save_dir: str = "medigan-visualize",
    ) -> "_native.Visualizer":
        """Explore a model's latent space in a local web page (the original's slider GUI).

        Serves on 127.0.0.1 (`port` 0 picks a free one) a page with one slider per group of
        `slider_grouper` latent dimensions, Seed and Reset buttons, a class selector, the image
        beside its mask, and Save (image + latent, into `save_dir`). Opens the default browser
        unless `open_browser=False`, prints the address, and blocks until Ctrl-C.
        With `auto_close=True` it returns at once instead: the returned handle has `.url` and
        `.stop()`, and the server stops when the handle is garbage-collected.
        `install_dependencies=True` consents to running a model in the original Python
        format (its own environment, its dependencies, its code).
        """
        self._native().set_install_dependencies(bool(install_dependencies))
        handle = self._native().visualize(_model_id(model_id), slider_grouper, port, save_dir)
        print(f"medigan visualiser: {handle.url} (Ctrl-C stops it)")
        if open_browser:
            import webbrowser

            webbrowser.open(handle.url)
        if auto_close:
            return handle
        try:
            while handle.running:
                time.sleep(0.2)
        except KeyboardInterrupt:
            pass
        finally:
            handle.stop()
        return handle

    def test_model(
        self,
        model_id: ModelId,
        is_local_model: bool = True,
        overwrite_existing_metadata: bool = False,
        store_new_config: bool = True,
        num_samples: int = 3,
        install_dependencies: bool = False,
    ) -> dict:
        """Run the model test pipeline on a catalogue model: fetch and load it, generate
        samples, check their shapes and value range, that the same seed gives the same samples
        and that samples depend on their latent (`medigan test MODEL`). Returns the report (a
        dict: `model_id`, `verdict`, `checks`, `seconds`) when it passes; raises MediganError
        naming the failed check otherwise. A legacy (Python package) model runs only with
        `install_dependencies=True`. `is_local_model`, `overwrite_existing_metadata`,
        `store_new_config` and `num_samples` are accepted for compatibility with the original
        and do not change the checks (a new local model is tested with `medigan contribute
        --dry-run`)."""
        from .exceptions import MediganError

        native = self._native()
        native.set_install_dependencies(bool(install_dependencies))
        report = native.test_model(_model_id(model_id))
        if report["verdict"] != "pass":
            reason = report["reason"] or report["verdict"]
            raise MediganError(f"{report['model_id']}: model test {report['verdict']}: {reason}")
        return report

    def convert(
        self,
        path: str,
        out: Optional[str] = None,
        samples: int = 16,
        tolerance: float = 1e-4,
        accept_differences: bool = False,
        model_id: Optional[str] = None,
        steps: Optional[int] = None,
        install_dependencies: bool = False,
        prompts: Optional[Union[Sequence[str], str, "os.PathLike[str]"]] = None,
    ) -> dict:
        """Convert a source folder, a diffusers pipeline (`model_index.json`) or a MONAI
        bundle (`configs/inference.json`), into a native diffusion package at `out` (default
        `<model id>-onnx`): ONNX graphs and `medigan.json`, no code (`medigan convert PATH`).
        The source's own loop and the converted package run from the same initial noise
        (`samples`, `steps`); nothing is written unless they agree within `tolerance`
        (relative) or `accept_differences`. The converter's Python environment (torch with
        diffusers, or monai) is made only with `install_dependencies=True`. Returns the report
        (a dict: `model_id`, `dir`, `source_sha256`, `plan`, `verification`, `seconds`);
        raises MediganError with the reason when the source is refused. A text-conditioned
        pipeline (StableDiffusionPipeline) needs `prompts` (a list, or a path to a file of one
        prompt per line, as `--prompts FILE`): the package ships their text embeddings, and
        `generate(..., prompt=...)` then picks one of them."""
        if isinstance(prompts, (str, os.PathLike)):
            with open(prompts, encoding="utf-8") as f:
                prompts = [line.rstrip("\r\n") for line in f if line.strip()]
        native = self._native()
        native.set_install_dependencies(bool(install_dependencies))
        return native.convert_folder(
            str(path), None if out is None else str(out), int(samples), float(tolerance),
            bool(accept_differences), model_id, steps, [str(p) for p in prompts or []],
        )

    def contribute(
        self,
        model_id: str,
        init_py_path: str,
        github_access_token: str,
        zenodo_access_token: str,
        metadata_file_path: Optional[str] = None,
        model_weights_name: Optional[str] = None,
        model_weights_extension: Optional[str] = None,
        generate_method_name: Optional[str] = None,
        dependencies: Optional[list] = None,
        fill_more_fields_interactively: bool = True,
        overwrite_existing_metadata: bool = False,
        output_path: str = "config",
        creator_name: str = "unknown name",
        creator_affiliation: str = "unknown affiliation",
        model_description: str = "",
        install_dependencies: bool = False,
        dry_run: bool = False,
        publish: bool = False,
        sandbox: bool = False,
    ) -> str:
        """Contribute a model package (the `medigan contribute` workflow): check the id and the
        package, test it end to end, pack a reproducible zip into `output_path`, upload it to a
        Zenodo deposition (`sandbox=True` for Zenodo's sandbox; a draft unless `publish=True`)
        and open a GitHub issue with its catalogue entry. Returns the issue's URL (or the
        deposition's when no issue is opened; the planned steps for `dry_run=True`, which sends
        nothing).

        The package is the folder of `init_py_path` (or that folder itself): a native package
        (`medigan.json`, the ONNX graph, `README.md`, `LICENSE`; `medigan init-model DIR`
        writes a skeleton) or one in the original format (`__init__.py` and its weights). Its
        metadata comes from `medigan.json` in that folder (or `metadata_file_path`, copied
        there); required fields that are missing are named in the error rather than asked for.
        `model_weights_name`, `model_weights_extension`, `generate_method_name`,
        `dependencies`, `creator_*`, `model_description`, `fill_more_fields_interactively`,
        `overwrite_existing_metadata` and `install_dependencies` are accepted for compatibility:
        put those facts in `medigan.json`.
        """
        package = os.fspath(init_py_path)
        if not os.path.isdir(package):
            package = os.path.dirname(os.path.abspath(package))
        if metadata_file_path is not None:
            import shutil

            target = os.path.join(package, "medigan.json")
            if os.path.abspath(metadata_file_path) != os.path.abspath(target):
                shutil.copyfile(metadata_file_path, target)
        os.makedirs(output_path, exist_ok=True)
        report = self._native().contribute(
            package,
            model_id,
            os.path.join(output_path, f"{model_id.strip()}.zip"),
            zenodo_token=zenodo_access_token or None,
            github_token=github_access_token or None,
            dry_run=dry_run,
            publish=publish,
            sandbox=sandbox,
        )
        if dry_run:
            return "\n".join(report.get("planned") or [])
        if report.get("issue_url"):
            return report["issue_url"]
        deposition = report.get("deposition") or {}
        return deposition.get("url", "")
