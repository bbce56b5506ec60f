"""medigan-rs convert: exports the torch module a legacy medigan package generates with to ONNX.

Written into the medigan home by medigan-rs and run with the model's own virtual environment, in
a run directory holding models/<model id> (as the bridge is). One JSON request on stdin:
  {"module": "models.<id>", "function": "generate", "model_file": "...", "custom": {...},
   "latent_size": 100, "graph": "/abs/path/generator.onnx", "work": "/abs/dir", "opset": 17}
one JSON answer on the original stdout (the package's prints go to stderr):
  {"ok": true, "torch": "2.x", "onnx": "...", "checker": "onnx"|"onnxruntime",
   "module": "Generator", "inputs": [...], "outputs": [...], "graph_error": 1e-7}
  {"ok": false, "kind": "no_latent|control_flow|unsupported_op|mapping|...", "error": "..."}

How: torch.nn.Module.__call__ is wrapped to record the outermost module called with the latent
the package was given (input_latent_vector), with its arguments and result. The package's own
post-processing is then read off: each part of a returned sample (image, mask) is matched to a
block of the module's output channels and a mapping (linear with rounding or truncation onto
0..255, or a threshold). A wrapper module feeds the recorded call from the graph inputs (the
latent; a class index cast to what the package passed) and applies the mapping's part that
the native format cannot (the half-level shift of truncation, the threshold). No per-model code.
"""

import importlib
import json
import os
import sys
import tempfile
import threading
import traceback
import warnings

PROTOCOL = os.fdopen(os.dup(1), "w", buffering=1)
os.dup2(2, 1)
sys.stdout = sys.stderr

TRACE_BATCH = 4
# Largest difference between the exported graph (onnxruntime) and the module on the same batch.
GRAPH_TOLERANCE = 1e-4
# Named ranges tried before a fitted one: [value of level 0, value of level 255].
KNOWN_RANGES = ([-1.0, 1.0], [0.0, 1.0], [0.0, 255.0])


class Refusal(Exception):
    def __init__(self, kind, message):
        super().__init__(message)
        self.kind = kind


def answer(obj):
    PROTOCOL.write(json.dumps(obj) + "\n")
    PROTOCOL.flush()


# ---------------------------------------------------------------------------------------------
# recording the call


class Recorder:
    """Wraps nn.Module.__call__; keeps the first outermost call that receives the latent."""

    def __init__(self, torch, latent):
        self.torch = torch
        self.latent = latent
        self.depth = threading.local()
        self.call = None
        self.original = None

    def matches(self, value):
        torch = self.torch
        if not isinstance(value, torch.Tensor) or value.numel() != self.latent.numel():
            return False
        if value.dim() == 0 or value.shape[0] != self.latent.shape[0]:
            return False
        flat = value.detach().to("cpu", torch.float32).reshape(-1)
        return bool(torch.equal(flat, self.latent.reshape(-1)))

    def __enter__(self):
        recorder = self
        self.original = original = self.torch.nn.Module.__call__

        def call(module, *args, **kwargs):
            depth = getattr(recorder.depth, "value", 0)
            recorder.depth.value = depth + 1
            try:
                result = original(module, *args, **kwargs)
            finally:
                recorder.depth.value = depth
            if depth == 0 and recorder.call is None and any(recorder.matches(a) for a in list(args) + list(kwargs.values())):
                recorder.call = (module, args, kwargs, result)
            return result

        self.torch.nn.Module.__call__ = call
        return self

    def __exit__(self, *exc):
        self.torch.nn.Module.__call__ = self.original
        return False


# ---------------------------------------------------------------------------------------------
# inputs of the recorded call


def classify_arguments(torch, recorder, n):
    """Each argument of the recorded call: the latent, a class index, or a constant."""
    module, args, kwargs, _result = recorder.call
    slots, inputs = [], []
    named = [(None, a) for a in args] + list(kwargs.items())
    classes = 0
    for key, value in named:
        if recorder.matches(value):
            slots.append({"key": key, "role": "latent", "shape": list(value.shape[1:]), "dtype": value.dtype})
            inputs.append({"name": "z", "kind": "latent", "shape": list(value.shape[1:])})
            continue
        if isinstance(value, torch.Tensor) and value.dim() >= 1 and value.shape[0] == n:
            flat = value.detach().to("cpu").double().reshape(n, -1)
            if flat.shape[1] != 1 or not bool(torch.all(flat == torch.round(flat))) or bool(torch.any(flat < 0)):
                what = "float values" if flat.shape[1] == 1 else f"shape {list(value.shape)}"
                raise Refusal(
                    "extra_input",
                    f"{type(module).__name__} also takes a per-sample tensor that is not the latent "
                    f"({what}): noise or an input the package makes itself, which a native package "
                    "cannot draw the same way",
                )
            classes += 1
            name = "label" if classes == 1 else f"label{classes}"
            seen = sorted({int(v) for v in flat.reshape(-1).tolist()})
            slots.append({"key": key, "role": "class", "shape": list(value.shape[1:]), "dtype": value.dtype})
            inputs.append({"name": name, "kind": "class", "seen": seen, "dtype": str(value.dtype)})
            continue
        slots.append({"key": key, "role": "constant", "value": value})
    if classes > 1:
        raise Refusal("extra_input", "the module takes more than one class-like input")
    return slots, inputs


# ---------------------------------------------------------------------------------------------
# the package's mapping to 0..255


def output_tensor(torch, result, n):
    """The module's result as [n, C, H, W] float64 numpy, and its position in a tuple result."""
    candidates = list(enumerate(result)) if isinstance(result, (list, tuple)) else [(None, result)]
    for index, value in candidates:
        if isinstance(value, torch.Tensor) and value.dim() == 4 and value.shape[0] == n:
            return index, value.detach().to("cpu").double().numpy()
    raise Refusal("output", f"the module returned {describe(result)}, not a batch of images [n, C, H, W]")


def describe(value):
    if hasattr(value, "shape"):
        return f"{type(value).__name__} of shape {tuple(value.shape)}"
    if isinstance(value, (list, tuple)):
        return f"{type(value).__name__} of {len(value)}"
    return type(value).__name__


def sample_parts(numpy, result, n):
    """The package's returned samples as [(role, HxWxC uint8 array)], one list per sample."""
    if result is None:
        raise Refusal("output", "the generate function returned nothing with save_images=False (it writes files only)")
    items = list(result) if isinstance(result, (list, tuple)) else [result[i] for i in range(len(result))]
    if len(items) != n:
        raise Refusal("output", f"the generate function returned {len(items)} samples for {n} latents")
    samples = []
    for item in items:
        pieces = list(item) if isinstance(item, (list, tuple)) else [item]
        if len(pieces) > 2:
            raise Refusal("output", f"a sample has {len(pieces)} parts; expected an image and at most a mask")
        roles = ["image", "mask"][: len(pieces)]
        parts = []
        for role, piece in zip(roles, pieces):
            array = numpy.asarray(piece.detach().cpu().numpy() if hasattr(piece, "detach") else piece)
            if array.ndim == 2:
                array = array[:, :, None]
            if array.ndim != 3:
                raise Refusal("output", f"a returned {role} has shape {array.shape}; expected HxW or HxWxC")
            parts.append((role, array))
        samples.append(parts)
    return samples


def quantize(numpy, values, low, high, quantizer):
    x = (values - low) * (255.0 / (high - low))
    levels = numpy.floor(x) if quantizer == "floor" else numpy.round(x)
    return numpy.clip(levels, 0, 255)


def binary_mapping(numpy, module_values, target):
    """A threshold when the part holds only 0 and 255 and a value separates them."""
    if not numpy.all((target == 0) | (target == 255)) or target.min() == target.max():
        return None
    below, above = module_values[target == 0], module_values[target == 255]
    if below.max() >= above.min():
        return None
    low, high = float(below.max()), float(above.min())
    threshold = 0.0 if low <= 0.0 < high else (low + high) / 2
    return {"type": "threshold", "threshold": threshold, "range": [0.0, 1.0]}


def linear_candidates(numpy, values, target):
    """Known ranges first, then a least-squares fit on the unsaturated pixels."""
    candidates = [list(r) for r in KNOWN_RANGES]
    inside = (target > 0) & (target < 255)
    if inside.sum() >= 2 and numpy.ptp(values[inside]) > 0:
        slope, offset = numpy.polyfit(values[inside], target[inside], 1)
        if slope != 0:
            for shift in (0.0, 0.5):
                low = -(offset - shift) / slope
                candidates.append([float(low), float(low + 255.0 / slope)])
    return [sorted(c) for c in candidates if c[0] != c[1]]


def best_mapping(numpy, values, target):
    """The mapping of module values to the package's levels with the fewest differing pixels."""
    binary = binary_mapping(numpy, values, target)
    if binary is not None:
        return binary, 0
    best = None
    for low, high in linear_candidates(numpy, values, target):
        for quantizer in ("round", "floor"):
            wrong = int(numpy.count_nonzero(quantize(numpy, values, low, high, quantizer) != target))
            if best is None or wrong < best[1]:
                best = ({"type": "linear", "range": [low, high], "quantizer": quantizer}, wrong)
    return best


def find_mappings(numpy, module_out, samples):
    """For each part of the samples: the block of module channels it comes from and its mapping."""
    n, channels, height, width = module_out.shape
    outputs = []
    for p, (role, first) in enumerate(samples[0]):
        if first.shape[:2] != (height, width):
            raise Refusal(
                "mapping",
                f"the returned {role} is {first.shape[0]}x{first.shape[1]} but the module gives "
                f"{height}x{width}: a resize or crop after the network is not expressible",
            )
        count = first.shape[2]
        target = numpy.stack([s[p][1].transpose(2, 0, 1) for s in samples]).astype(numpy.float64)
        best = None
        for start in range(channels - count + 1):
            mapping, wrong = best_mapping(numpy, module_out[:, start : start + count], target)
            if best is None or wrong < best[2]:
                best = (start, mapping, wrong)
        if best is None:
            raise Refusal("mapping", f"the returned {role} has {count} channels, the module gives {channels}")
        start, mapping, wrong = best
        outputs.append(
            {
                "name": role,
                "kind": role,
                "channels": [start, start + count],
                "shape": [count, height, width],
                "mapping": mapping,
                "trace_mismatched_pixels": wrong,
                "trace_pixels": int(target.size),
            }
        )
    return outputs


# ---------------------------------------------------------------------------------------------
# the exported module


def wrapper_class(torch):
    class Converted(torch.nn.Module):
        """Feeds the recorded module from the graph inputs; splits and maps its output."""

        def __init__(self, inner, slots, result_index, outputs):
            super().__init__()
            self.inner = inner
            self.slots = slots
            self.result_index = result_index
            self.outputs = outputs

        def forward(self, *feeds):
            feeds = list(feeds)
            args, kwargs = [], {}
            for slot in self.slots:
                if slot["role"] == "constant":
                    value = slot["value"]
                else:
                    value = feeds.pop(0)
                    value = value.to(slot["dtype"]).reshape([-1] + slot["shape"])
                if slot["key"] is None:
                    args.append(value)
                else:
                    kwargs[slot["key"]] = value
            result = self.inner(*args, **kwargs)
            if self.result_index is not None:
                result = result[self.result_index]
            mapped = []
            for output in self.outputs:
                start, end = output["channels"]
                x = result[:, start:end].float()
                mapping = output["mapping"]
                if mapping["type"] == "threshold":
                    x = (x > mapping["threshold"]).float()
                else:
                    low, high = mapping["range"]
                    if mapping["quantizer"] == "floor":  # floor(y) = round(y - 1/2)
                        x = x - 0.5 * (high - low) / 255.0
                    x = torch.clamp(x, low, high)
                mapped.append(x)
            return tuple(mapped)

    return Converted


def export(torch, wrapper, feeds, inputs, outputs, path, opset):
    """torch.onnx.export with a dynamic batch axis; tracer warnings refuse the model."""
    names = [i["name"] for i in inputs]
    out_names = [o["name"] for o in outputs]
    axes = {name: {0: "batch"} for name in names + out_names}
    kwargs = dict(input_names=names, output_names=out_names, dynamic_axes=axes, opset_version=opset)
    import inspect

    if "dynamo" in inspect.signature(torch.onnx.export).parameters:
        kwargs["dynamo"] = False
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            with torch.no_grad():
                write_graph(path, lambda staged: torch.onnx.export(wrapper, tuple(feeds), staged, **kwargs))
        except Exception as error:
            text = f"{type(error).__name__}: {error}"
            unsupported = "Unsupported" in type(error).__name__ or "not supported" in text or "Exporting the operator" in text
            raise Refusal("unsupported_op" if unsupported else "export", text.strip().splitlines()[0][:600])
    tracer = [w for w in caught if issubclass(w.category, torch.jit.TracerWarning)]
    if tracer:
        first = tracer[0]
        where = f"{os.path.basename(first.filename)}:{first.lineno}"
        raise Refusal(
            "control_flow",
            f"data-dependent control flow: the tracer warned at {where}: {str(first.message).strip()}",
        )


def check_graph(numpy, path, feeds, expected):
    """The graph is valid (onnx checker if installed) and gives the module's output (onnxruntime)."""
    checker = None
    try:
        import onnx

        checker = check_model_file(path)
    except ImportError:
        pass
    try:
        import onnxruntime
    except ImportError:
        return checker, None, None
    session = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
    names = [i.name for i in session.get_inputs()]
    got = session.run(None, {name: feed.numpy() for name, feed in zip(names, feeds)})
    error = max(float(numpy.max(numpy.abs(g.astype(numpy.float64) - e))) for g, e in zip(got, expected))
    checker = checker or f"onnxruntime {onnxruntime.__version__}"
    return checker, error, onnxruntime.__version__


# ---------------------------------------------------------------------------------------------


def run(request):
    import numpy
    import torch

    configure_external_data(request)
    sys.path.insert(0, os.getcwd())
    module = importlib.import_module(request["module"])
    function = getattr(module, request["function"])
    size = int(request["latent_size"])
    n = TRACE_BATCH
    rng = numpy.random.RandomState(20_240_601)
    latent_np = rng.standard_normal((n, size, 1, 1)).astype(numpy.float32)
    latent = torch.from_numpy(latent_np.copy())
    kwargs = dict(request["custom"])
    work = request["work"]
    kwargs.update(model_file=request["model_file"], num_samples=n, output_path=os.path.join(work, "trace"),
                  save_images=False, input_latent_vector=latent_np)
    torch.manual_seed(0)
    with Recorder(torch, latent) as recorder:
        result = function(**kwargs)
    if recorder.call is None:
        raise Refusal(
            "no_latent",
            "no torch module was called with the latent (input_latent_vector): the package does "
            "not pass it to a network in one call",
        )
    slots, inputs = classify_arguments(torch, recorder, n)
    inner = recorder.call[0]
    result_index, module_out = output_tensor(torch, recorder.call[3], n)
    outputs = find_mappings(numpy, module_out, sample_parts(numpy, result, n))
    wrapper = wrapper_class(torch)(inner, slots, result_index, outputs).eval()
    # Graph inputs in the order of the module's arguments, as the wrapper takes them.
    feeds = []
    for slot in slots:
        if slot["role"] == "latent":
            feeds.append(latent.reshape([n] + slot["shape"]))
        elif slot["role"] == "class":
            feeds.append(class_feed(torch, recorder, n))
    export(torch, wrapper, feeds, inputs, outputs, request["graph"], int(request.get("opset", 17)))
    # A second batch size: the batch must not have been baked into the graph.
    more = [torch.cat([f, f[:1]]) for f in feeds]
    with torch.no_grad():
        expected_more = [t.double().numpy() for t in wrapper(*more)]
    checker, error, ort_version = check_graph(numpy, request["graph"], more, expected_more)
    if error is not None and error > GRAPH_TOLERANCE:
        raise Refusal(
            "graph_differs",
            f"the exported graph gives other values than the module for a batch of {n + 1} (max abs "
            f"error {error:.3g}): the trace does not hold for other inputs (data-dependent control "
            "flow or a batch size baked in)",
        )
    for i in inputs:
        i.pop("dtype", None)
    return {
        "ok": True,
        "torch": torch.__version__,
        "onnxruntime": ort_version,
        "checker": checker,
        "module": type(inner).__name__,
        "inputs": inputs,
        "outputs": outputs,
        "graph_error": error,
    }


def class_feed(torch, recorder, n):
    """The class values the package passed, as int64 [n]."""
    _module, args, kwargs, _result = recorder.call
    for candidate in list(args) + list(kwargs.values()):
        if (
            isinstance(candidate, torch.Tensor)
            and not recorder.matches(candidate)
            and candidate.dim() >= 1
            and candidate.shape[0] == n
        ):
            return candidate.detach().to("cpu").reshape(n).round().to(torch.int64)
    raise Refusal("extra_input", "the class input was not found again")


def main():
    request = json.loads(sys.stdin.readline())
    try:
        answer(run(request))
    except Refusal as refusal:
        answer({"ok": False, "kind": refusal.kind, "error": str(refusal)})
    except BaseException as error:
        answer({"ok": False, "kind": "exception", "error": f"{type(error).__name__}: {error}",
                "traceback": traceback.format_exc()})


if __name__ == "__main__":
    main()
