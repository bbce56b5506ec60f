# Type stub of the native module medigan_rs._native (Rust, PyO3). Use medigan_rs.Generators.
from typing import Any, Optional, Sequence

import numpy as np
import numpy.typing as npt

__version__: str

SampleRow = tuple[int, int, npt.NDArray[np.float32], Optional[npt.NDArray[np.float32]], Optional[str]]

def ort_library_path() -> Optional[str]: ...
def metrics(real: Any, synthetic: Any, *, extractor: str = ..., metrics: str = ..., repeats: int = ...,
            nearest_k: int = ..., kid_subsets: int = ..., kid_subset_size: int = ..., seed: int = ...,
            split_seed: int = ..., batch_size: int = ..., threads: Optional[int] = ...,
            normalize: bool = ..., input_size: Any = ..., range: Optional[tuple[float, float]] = ...,
            mean: Optional[Sequence[float]] = ..., std: Optional[Sequence[float]] = ...,
            output_name: Optional[str] = ..., npy_range: Optional[tuple[float, float]] = ...,
            inception_weights: Any = ..., cache_dir: Any = ..., metric_key: Optional[str] = ...,
            home: Any = ..., offline: Optional[bool] = ..., backend: Optional[str] = ...,
            save_stats: Any = ..., frd_version: str = ..., paper_log: bool = ...) -> dict[str, Any]: ...
def frd(real: Any = ..., synthetic: Any = ..., *, version: str = ...,
        masks: Optional[tuple[Any, Any]] = ..., paper_log: bool = ..., save_stats: Any = ...,
        merge_stats: Optional[list[Any]] = ...) -> dict[str, Any]: ...
def merge_stats(stats: list[Any], *, real_stats: Optional[list[Any]] = ..., metrics: str = ...,
                metric_key: Optional[str] = ...) -> dict[str, Any]: ...
def metrics_planes(real: Any, synthetic: Any = ..., *, models: Optional[list[str]] = ...,
                   num_samples: Optional[int] = ..., seed: int = ...,
                   catalog: Optional[list[str]] = ..., extractor: str = ..., metrics: str = ...,
                   center_slices: Optional[float] = ..., every_slice: int = ...,
                   empty_below: Optional[float] = ..., clip: Optional[tuple[float, float]] = ...,
                   batch_size: int = ..., threads: Optional[int] = ..., normalize: bool = ...,
                   input_size: Any = ..., range: Optional[tuple[float, float]] = ...,
                   mean: Optional[Sequence[float]] = ..., std: Optional[Sequence[float]] = ...,
                   output_name: Optional[str] = ..., inception_weights: Any = ..., home: Any = ...,
                   offline: Optional[bool] = ..., backend: Optional[str] = ...) -> list[dict[str, Any]]: ...
def evaluate_models(models: list[str], real: Any, *, num_samples: Optional[int] = ..., seed: int = ...,
                    install_dependencies: bool = ..., extractor: str = ..., metrics: str = ...,
                    repeats: int = ..., nearest_k: int = ..., kid_subsets: int = ...,
                    kid_subset_size: int = ..., resample_seed: int = ..., split_seed: int = ...,
                    batch_size: int = ..., threads: Optional[int] = ..., normalize: bool = ...,
                    input_size: Any = ..., range: Optional[tuple[float, float]] = ...,
                    mean: Optional[Sequence[float]] = ..., std: Optional[Sequence[float]] = ...,
                    output_name: Optional[str] = ..., npy_range: Optional[tuple[float, float]] = ...,
                    inception_weights: Any = ..., cache_dir: Any = ..., metric_key: Optional[str] = ...,
                    catalog: Optional[list[str]] = ..., home: Any = ..., offline: Optional[bool] = ...,
                    backend: Optional[str] = ..., per_class: bool = ...) -> list[dict[str, Any]]: ...
def audit(synthetic: Any, train: Any, holdout: Any = ..., *, num_samples: Optional[int] = ..., seed: int = ...,
          install_dependencies: bool = ..., gallery: Any = ..., pairs: int = ..., extractor: str = ...,
          pixel_size: int = ..., max_shift: int = ..., margin: float = ..., pixel_metric: str = ...,
          batch_size: int = ..., threads: Optional[int] = ..., normalize: bool = ..., input_size: Any = ...,
          range: Optional[tuple[float, float]] = ..., mean: Optional[Sequence[float]] = ...,
          std: Optional[Sequence[float]] = ..., output_name: Optional[str] = ...,
          npy_range: Optional[tuple[float, float]] = ..., inception_weights: Any = ..., cache_dir: Any = ...,
          catalog: Optional[list[str]] = ..., home: Any = ..., offline: Optional[bool] = ...,
          backend: Optional[str] = ...) -> dict[str, Any]: ...

# Contribution steps and catalogue helpers (src/contribute.rs); entries cross as JSON text.
def validate_entry(model_id: str, entry_json: str) -> list[tuple[str, str, str]]: ...
def add_to_user_catalog(generators: Generators, model_id: str, entry_json: str,
                        overwrite: bool) -> tuple[str, str]: ...
def check_model_id(model_id: str) -> None: ...
def missing_fields(entry_json: str) -> list[tuple[str, str]]: ...
def set_field(entry_json: str, path: str, answer: str) -> str: ...
def push_to_zenodo(generators: Generators, package_dir: str, model_id: str, zip_path: str,
                   zenodo_token: str, publish: bool = False, sandbox: bool = False,
                   zenodo_url: Optional[str] = None) -> dict[str, Any]: ...
def push_to_github(generators: Generators, package_dir: str, model_id: str, package_link: str,
                   github_token: str, github_api_url: Optional[str] = None,
                   catalog_repo: Optional[str] = None) -> dict[str, Any]: ...
def models_loaded(generators: Generators) -> int: ...

def packed_run(generators: Generators, model_id: str, num_samples: int, samples_per_shard: int,
               seed: int = 0, batch_size: int = 16, label: Optional[str] = None,
               threads: Optional[int] = None, format: str = "png", steps: Optional[int] = None,
               scheduler: Optional[str] = None,
               guidance_scale: Optional[float] = None,
               spacing: Optional[list[float]] = None,
               prompt: Optional[str] = None) -> PackedRun: ...

class PackedRun:
    def indices(self) -> tuple[int, int]: ...
    def tars(self) -> tuple[int, int]: ...
    def tar_of(self, index: int) -> int: ...
    def tar_samples(self, tar: int) -> tuple[int, int]: ...
    def tar_name(self, tar: int) -> str: ...
    def manifest_name(self) -> str: ...
    def samples(self, indices: list[int]) -> list[dict[str, Any]]: ...
    def write_tar(self, dir: str, tar: int,
                  entries: list[tuple[int, int, list[tuple[str, bytes]]]]) -> str: ...
    def write_manifest(self, dir: str, lines: list[str]) -> str: ...

class Visualizer:
    @property
    def url(self) -> str: ...
    @property
    def running(self) -> bool: ...
    def stop(self) -> None: ...

class Generators:
    def __init__(
        self,
        catalog: Optional[Sequence[str]] = None,
        home: Optional[str] = None,
        offline: Optional[bool] = None,
        backend: Optional[str] = None,
    ) -> None: ...
    def settings(self) -> dict[str, Any]: ...
    def environment(self) -> dict[str, str]: ...
    def list_models(self) -> list[str]: ...
    def resolve(self, model_id: str) -> str: ...
    def config(self, model_id: str) -> dict[str, Any]: ...
    def selection(self, model_id: str) -> dict[str, Any]: ...
    def find_matching(
        self,
        values: Sequence[str],
        operator: str = "AND",
        match_keys: bool = False,
        case_sensitive: bool = False,
    ) -> list[str]: ...
    def rank(self, model_ids: Optional[Sequence[str]], metric: str, order: str) -> list[dict[str, Any]]: ...
    def find_and_rank(
        self,
        values: Sequence[str],
        operator: str,
        match_keys: bool,
        case_sensitive: bool,
        metric: str,
        order: str,
    ) -> list[dict[str, Any]]: ...
    def key_value(self, key: str, value: str, case_sensitive: bool) -> list[str]: ...
    def selection_keys(self, model_id: Optional[str] = None) -> list[str]: ...
    def selection_values(self, key: str, model_id: Optional[str] = None) -> list[Any]: ...
    def model_info(self, model_id: str) -> dict[str, Any]: ...
    def set_install_dependencies(self, install: bool) -> None: ...
    def test_model(self, model_id: str) -> dict[str, Any]: ...
    def convert_folder(
        self,
        path: str,
        out: Optional[str] = None,
        samples: int = 16,
        tolerance: float = 1e-4,
        accept_differences: bool = False,
        model_id: Optional[str] = None,
        steps: Optional[int] = None,
        prompts: Sequence[str] = ...,
    ) -> dict[str, Any]: ...
    def contribute(
        self,
        package_dir: str,
        model_id: str,
        zip_path: str,
        zenodo_token: Optional[str] = None,
        github_token: Optional[str] = None,
        dry_run: bool = False,
        publish: bool = False,
        sandbox: bool = False,
        zenodo_url: Optional[str] = None,
        github_api_url: Optional[str] = None,
        catalog_repo: Optional[str] = None,
    ) -> dict[str, Any]: ...
    def visualize(
        self, model_id: str, slider_grouper: int = 10, port: int = 0, save_dir: str = "medigan-visualize"
    ) -> Visualizer: ...
    def generate_to_dir(
        self,
        model_id: str,
        output_path: str,
        num_samples: int,
        seed: int = 0,
        batch_size: int = 16,
        label: Optional[str] = None,
        inputs: Sequence[str] = ...,
        shard: Optional[str] = None,
        threads: Optional[int] = None,
        options: dict[str, str] = ...,
        format: str = "png",
        resume: bool = False,
        overwrite: bool = False,
        steps: Optional[int] = None,
        scheduler: Optional[str] = None,
        guidance_scale: Optional[float] = None,
        initial_noise: Optional[str] = None,
        pack: Optional[str] = None,
        samples_per_shard: int = 1000,
        latent: Optional[Sequence[float]] = None,
        shards: Optional[int] = None,
        spacing: Optional[Sequence[float]] = None,
        prompt: Optional[str] = None,
    ) -> dict[str, Any]: ...
    def generate_samples(
        self,
        model_id: str,
        num_samples: int,
        seed: int = 0,
        batch_size: int = 16,
        label: Optional[str] = None,
        inputs: Sequence[str] = ...,
        shard: Optional[str] = None,
        threads: Optional[int] = None,
        options: dict[str, str] = ...,
        indices: Optional[Sequence[int]] = None,
        steps: Optional[int] = None,
        scheduler: Optional[str] = None,
        guidance_scale: Optional[float] = None,
        initial_noise: Optional[str] = None,
        spacing: Optional[Sequence[float]] = None,
        prompt: Optional[str] = None,
    ) -> list[SampleRow]: ...
