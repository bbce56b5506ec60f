"""medigan convert, the part of every source folder's export script (a diffusers pipeline, a
MONAI bundle) that does not depend on the source: the refusal, the answer line, the ONNX export
and the graph check, and run(main). The Rust side prepends it to the source's own part
(diffusers_export.py, monai_export.py), which defines main() and ends with run(main).
"""

import inspect
import json
import os
import sys
import time
import traceback
import warnings


class Refusal(Exception):
    def __init__(self, kind, error):
        super().__init__(error)
        self.kind = kind
        self.error = error


def answer(value):
    sys.stdout.write(json.dumps(value) + "\n")
    sys.stdout.flush()


def export(module, feeds, names, outputs, path, opset):
    import torch

    axes = {name: {0: "batch"} for name in names + outputs}
    kwargs = dict(input_names=names, output_names=outputs, dynamic_axes=axes, opset_version=opset)
    if "dynamo" in inspect.signature(torch.onnx.export).parameters:
        kwargs["dynamo"] = False
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            with torch.no_grad():
                write_graph(path, lambda staged: torch.onnx.export(module, tuple(feeds), staged, **kwargs))
        except Exception as error:
            text = f"{type(error).__name__}: {error}"
            unsupported = "Unsupported" in type(error).__name__ or "not supported" in text
            raise Refusal("unsupported_op" if unsupported else "export", text.strip().splitlines()[0][:600])


def graph_error(path, module, feeds, names):
    """Largest difference between the graph (onnxruntime, when installed) and the module."""
    try:
        import onnxruntime as ort
    except ImportError:
        return None, None
    import torch

    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    with torch.no_grad():
        want = module(*feeds).numpy()
    got = session.run(None, {n: f.numpy() for n, f in zip(names, feeds)})[0]
    return float(abs(got - want).max()), f"onnxruntime {ort.__version__}"


def run(main):
    """Runs main(), answering a refusal or an exception as the last line of stdout."""
    try:
        main()
    except Refusal as refusal:
        answer({"ok": False, "kind": refusal.kind, "error": refusal.error})
    except Exception as error:
        answer({"ok": False, "kind": "exception", "error": f"{type(error).__name__}: {error}",
                "traceback": traceback.format_exc()})
