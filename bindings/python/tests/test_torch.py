"""The torch adapters: a map-style Dataset deterministic per index, DataLoaders with worker
processes, and the ImportError without torch."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest

from conftest import FIXTURE_IDS

torch = pytest.importorskip(
    "torch",
    reason="torch is not installed: the torch adapters are optional (pip install torch)",
)

DEMO = "00900_PHANTOM_DEMO"


def test_dataset_items_are_the_samples_of_the_run(bundled):
    dataset = bundled.get_as_torch_dataset(900, num_samples=20, seed=11, batch_size=8)
    assert isinstance(dataset, torch.utils.data.Dataset) and len(dataset) == 20
    reference = bundled.generate(DEMO, num_samples=20, save_images=False, seed=11)
    for i in (0, 7, 8, 19, -1, 3):
        item = dataset[i]
        assert set(item) == {"sample"}
        np.testing.assert_array_equal(item["sample"], reference[i])
    with pytest.raises(IndexError):
        dataset[20]


def test_dataset_items_do_not_depend_on_access_order(bundled):
    forward = bundled.get_as_torch_dataset(DEMO, num_samples=10, seed=2)
    backward = bundled.get_as_torch_dataset(DEMO, num_samples=10, seed=2)
    ahead = [forward[i]["sample"] for i in range(10)]
    behind = [backward[i]["sample"] for i in reversed(range(10))][::-1]
    for a, b in zip(ahead, behind):
        np.testing.assert_array_equal(a, b)


def test_transform_is_applied(bundled):
    dataset = bundled.get_as_torch_dataset(DEMO, num_samples=2, transform=lambda x: torch.from_numpy(x) * 2)
    plain = bundled.generate(DEMO, num_samples=2, save_images=False)
    assert torch.equal(dataset[1]["sample"], torch.from_numpy(plain[1]) * 2)


def test_conditional_and_mask_items(fixture_generators):
    conditional = fixture_generators("conditional").get_as_torch_dataset(
        FIXTURE_IDS["conditional"], num_samples=4, label="malignant"
    )
    assert [conditional[i]["label"] for i in range(4)] == ["malignant"] * 4
    masked = fixture_generators("image_mask").get_as_torch_dataset(FIXTURE_IDS["image_mask"], num_samples=2)
    assert set(masked[0]) == {"sample", "mask"} and masked[0]["mask"].shape == (1, 32, 32)


@pytest.mark.parametrize("num_workers", [0, 2])
def test_dataloader_over_the_whole_dataset(bundled, num_workers):
    count = 50
    loader = bundled.get_as_torch_dataloader(
        model_id=900, num_samples=count, seed=5, batch_size=4, shuffle=True, num_workers=num_workers
    )
    assert isinstance(loader, torch.utils.data.DataLoader)
    reference = np.stack(bundled.generate(DEMO, num_samples=count, save_images=False, seed=5))
    seen = []
    for batch in loader:
        samples = batch["sample"]
        assert samples.dtype == torch.float32 and samples.shape[1:] == (1, 64, 64)
        for sample in samples.numpy():
            matches = np.flatnonzero((reference == sample).all(axis=(1, 2, 3)))
            assert len(matches) == 1, "every item must be exactly one sample of the run"
            seen.append(int(matches[0]))
    assert sorted(seen) == list(range(count)), "every sample exactly once"


def test_dataloader_of_a_given_dataset(bundled):
    dataset = bundled.get_as_torch_dataset(DEMO, num_samples=6)
    loader = bundled.get_as_torch_dataloader(dataset=dataset, batch_size=3)
    assert [tuple(b["sample"].shape) for b in loader] == [(3, 1, 64, 64)] * 2


def test_without_torch_the_adapters_raise_import_error_and_the_rest_works(tmp_path):
    script = textwrap.dedent(
        """
        import sys
        sys.modules["torch"] = None  # as if torch were not installed
        import medigan_rs
        g = medigan_rs.Generators(home=sys.argv[1], offline=True)
        assert len(g.generate(900, num_samples=2, save_images=False)) == 2
        for call in (lambda: g.get_as_torch_dataset(900), lambda: g.get_as_torch_dataloader(model_id=900)):
            try:
                call()
            except ImportError as error:
                assert "pip install torch" in str(error), error
            else:
                raise AssertionError("no ImportError")
        print("ok")
        """
    )
    result = subprocess.run([sys.executable, "-c", script, str(tmp_path)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"
