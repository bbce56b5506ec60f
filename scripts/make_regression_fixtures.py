#!/usr/bin/env python3
"""Writes the fixtures of the issue #14 regression tests into tests/fixtures/regressions/.

- `nan_output/`: a native package whose graph answers sqrt(-(|z| + 1)): every value NaN
  (defect 21: non-finite outputs must not be written without a word).

Needs the `onnx` Python package. Deterministic: running it again gives the same bytes.
"""

from __future__ import annotations

import json
from pathlib import Path

import onnx
from onnx import TensorProto, helper

ROOT = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "regressions"


def nan_output_graph() -> onnx.ModelProto:
    shape = helper.make_tensor("shape", TensorProto.INT64, [4], [-1, 1, 2, 2])
    one = helper.make_tensor("one", TensorProto.FLOAT, [], [1.0])
    nodes = [
        helper.make_node("Abs", ["z"], ["absolute"]),
        helper.make_node("Add", ["absolute", "one"], ["positive"]),
        helper.make_node("Neg", ["positive"], ["negative"]),
        helper.make_node("Sqrt", ["negative"], ["nan"]),
        helper.make_node("Reshape", ["nan", "shape"], ["image"]),
    ]
    graph = helper.make_graph(
        nodes,
        "nan_output",
        [helper.make_tensor_value_info("z", TensorProto.FLOAT, ["batch", 4])],
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["batch", 1, 2, 2])],
        initializer=[shape, one],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def entry(model_id: str) -> dict:
    return {
        model_id: {
            "execution": {
                "package_name": model_id,
                "package_link": ".",
                "model_name": "model",
                "extension": ".onnx",
                "image_size": [2, 2],
                "dependencies": [],
                "generate_method": {
                    "name": "generate",
                    "args": {"base": ["model_file", "num_samples", "output_path", "save_images"], "custom": {}},
                },
                "runtime": "onnx",
                "onnx": {
                    "graph": "model.onnx",
                    "inputs": [{"name": "z", "kind": "latent", "shape": [4]}],
                    "outputs": [{"name": "image", "kind": "image", "shape": [1, 2, 2], "range": [-1, 1]}],
                },
            },
            "selection": {"performance": {}, "modality": ["test fixture"]},
            "description": {"title": "A graph whose every output is NaN (issue #14 regression fixture)"},
        }
    }


def main() -> None:
    folder = ROOT / "nan_output"
    folder.mkdir(parents=True, exist_ok=True)
    onnx.save(nan_output_graph(), folder / "model.onnx")
    text = json.dumps(entry("90914_FIXTURE_NAN_OUTPUT"), indent=2) + "\n"
    (folder / "medigan.json").write_text(text)
    print(f"wrote {folder}")


if __name__ == "__main__":
    main()
