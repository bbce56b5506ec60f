"""torch adapters: a map-style Dataset of synthetic samples and the DataLoader over it.

Importing this module needs PyTorch; without it, ImportError says what to install. The rest of
medigan_rs works without torch.

Item i of a dataset is sample i of the run (seed, num_samples, ...): it is drawn from
(seed, i), so every process, worker and order gets the same item for the same index. Items are
generated on access, a batch at a time: DataLoader batches (`__getitems__`) go to the model in
one call, single indices fetch the aligned block of `batch_size` samples around them and keep
it for the next indices.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, List, Optional, Sequence

try:
    import torch  # noqa: F401
    from torch.utils.data import DataLoader, Dataset
except ImportError as error:  # pragma: no cover - exercised where torch is missing
    raise ImportError(
        "medigan_rs: get_as_torch_dataset and get_as_torch_dataloader need PyTorch: "
        "`pip install torch`; everything else works without it"
    ) from error

__all__ = ["SyntheticDataset", "make_dataloader"]


class SyntheticDataset(Dataset):
    """Synthetic samples of a medigan model, generated on access, deterministic per index.

    Items are dicts like the original's `SyntheticDataset`: `{"sample": image}` plus `"mask"`
    for image+mask models and `"label"` for conditional ones; arrays are numpy float32.
    """

    def __init__(
        self,
        generators: Any,
        model_id: str,
        request: Dict[str, Any],
        transform: Optional[Callable[..., Any]] = None,
    ) -> None:
        """A dataset of sample 0..num_samples-1 of the run `request` (the native generate
        arguments) of `model_id`; use `Generators.get_as_torch_dataset` to make one."""
        self.generators = generators
        self.model_id = model_id
        self.request = dict(request)
        self.transform = transform
        self.num_samples: int = int(request["num_samples"])
        self.block: int = max(1, int(request.get("batch_size", 16)))
        self._cache: Dict[int, tuple] = {}

    def __len__(self) -> int:
        """The number of samples."""
        return self.num_samples

    def _index(self, index: Any) -> int:
        """`index` as a non-negative int; IndexError when out of range."""
        if hasattr(index, "__index__"):
            index = index.__index__()
        else:
            raise TypeError(f"dataset indices must be ints, got {type(index).__name__}")
        if index < 0:
            index += self.num_samples
        if not 0 <= index < self.num_samples:
            raise IndexError(f"index {index} is out of range for a dataset of {self.num_samples}")
        return index

    def _rows(self, indices: Sequence[int]) -> List[tuple]:
        """The generated rows of `indices`, from the cache or in one call to the model."""
        missing = [i for i in dict.fromkeys(indices) if i not in self._cache]
        if missing:
            if len(missing) == 1:
                start = missing[0] - missing[0] % self.block
                missing = list(range(start, min(start + self.block, self.num_samples)))
            rows = self.generators._native().generate_samples(
                self.model_id, indices=missing, **self.request
            )
            self._cache = {row[0]: row for row in rows}
            found = {i: self._cache[i] for i in indices if i in self._cache}
            if len(found) < len(set(indices)):
                # More indices than one call kept: fetch the rest.
                rest = [i for i in indices if i not in found]
                more = self.generators._native().generate_samples(
                    self.model_id, indices=rest, **self.request
                )
                found.update({row[0]: row for row in more})
            return [found[i] for i in indices]
        return [self._cache[i] for i in indices]

    def _item(self, row: tuple) -> Dict[str, Any]:
        """The original's item dict of a generated row, after `transform`."""
        _, _, x, mask, label = row
        if self.transform:
            if mask is not None:
                x, mask = self.transform(x, mask)
            else:
                x = self.transform(x)
        item: Dict[str, Any] = {"sample": x}
        if label is not None:
            item["label"] = label
        if mask is not None:
            item["mask"] = mask
        return item

    def __getitem__(self, index: int) -> Dict[str, Any]:
        """Item `index` (negative counts from the end): sample `index` of the run."""
        return self._item(self._rows([self._index(index)])[0])

    def __getitems__(self, indices: Sequence[int]) -> List[Dict[str, Any]]:
        """A batch of items in one model call (the DataLoader uses it for batches)."""
        rows = self._rows([self._index(i) for i in indices])
        return [self._item(row) for row in rows]

    def __getstate__(self) -> Dict[str, Any]:
        """Pickles without the cache (for DataLoader workers started by spawn)."""
        state = dict(self.__dict__)
        state["_cache"] = {}
        return state

    def __repr__(self) -> str:
        return f"SyntheticDataset(model_id={self.model_id!r}, num_samples={self.num_samples})"


def make_dataloader(dataset: Any, prefetch_factor: Optional[int] = None, **arguments: Any) -> DataLoader:
    """A DataLoader with torch's arguments; `prefetch_factor` only with worker processes."""
    if (arguments.get("num_workers") or 0) > 0 and prefetch_factor is not None:
        arguments["prefetch_factor"] = prefetch_factor
    return DataLoader(dataset, **arguments)
