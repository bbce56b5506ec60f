"""medigan-rs bridge: runs the generate function of a package in the original medigan format.

Written into the medigan home by medigan-rs and run with the model's own virtual environment.
Protocol: one JSON object per line. The first line on stdin sets the model up:
  {"module": "models.<id>", "function": "generate", "model_file": "...", "custom": {...}}
then each further line asks for one batch:
  {"num_samples": n, "seed": s, "output_path": dir, "exchange": dir, "save_images": false,
   "latent": null or {"raw": path, "shape": [n, size, 1, 1]}}
The first answer says whether the function takes `input_latent_vector`:
  {"ok": true, "ready": true, "accepts_latent": true}
With a latent, the function is called with input_latent_vector=<float32 array of that shape>.
Every answer is one JSON line on the original stdout (the model's own prints go to stderr):
  {"ok": true, "samples": [{"image": {...}, "mask": {...} or null}, ...]}
  {"ok": false, "kind": "...", "error": "...", "traceback": "..."}
An array is handed back as {"raw": path, "shape": [...], "dtype": "uint8"} (float32, little
endian, C order), a file the model wrote as {"file": path}.

Determinism: medigan always asks for one whole block of samples (bridge.rs, BLOCK) and starts
this script with OMP_NUM_THREADS=1 (and the MKL/OpenBLAS equivalents); before each call, once
the package has imported torch, torch is held to one intra-op thread, deterministic algorithms
(warn_only: an op without a deterministic kernel warns on stderr) and no cuDNN autotuning.
"""

import importlib
import inspect
import json
import os
import random
import re
import sys
import traceback

PROTOCOL = os.fdopen(os.dup(1), "w", buffering=1)
os.dup2(2, 1)  # the model's prints must not reach the protocol channel
sys.stdout = sys.stderr

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp")


def answer(obj):
    PROTOCOL.write(json.dumps(obj) + "\n")
    PROTOCOL.flush()


def failure(kind, error, tb=""):
    answer({"ok": False, "kind": kind, "error": error, "traceback": tb})


def seed_everything(seed):
    random.seed(seed)
    try:
        import numpy

        numpy.random.seed(seed % (2**32))
    except Exception:
        pass
    torch = sys.modules.get("torch")
    if torch is not None:
        try:
            torch.manual_seed(seed)
        except Exception:
            pass


TORCH_SET = False


def hold_torch_still():
    """One thread, deterministic algorithms, no cuDNN benchmarking, once torch is imported."""
    global TORCH_SET
    torch = sys.modules.get("torch")
    if TORCH_SET or torch is None:
        return
    TORCH_SET = True
    for step in (
        lambda: torch.set_num_threads(1),
        lambda: torch.use_deterministic_algorithms(True, warn_only=True),
        lambda: setattr(torch.backends.cudnn, "benchmark", False),
        lambda: setattr(torch.backends.cudnn, "deterministic", True),
    ):
        try:
            step()
        except Exception as error:  # an old or partial torch: say so, go on
            print(f"medigan bridge: could not set torch up for determinism: {error}", file=sys.stderr)


def to_numpy(value):
    import numpy

    if hasattr(value, "detach"):  # a torch tensor
        value = value.detach().cpu().numpy()
    return numpy.asarray(value)


def dump_array(value, out_dir, name):
    import numpy

    array = to_numpy(value)
    dtype = str(array.dtype)
    if array.dtype == numpy.bool_:
        array = array.astype(numpy.uint8)
    path = os.path.join(out_dir, name + ".raw")
    numpy.ascontiguousarray(array, dtype="<f4").tofile(path)
    return {"raw": path, "shape": list(array.shape), "dtype": dtype}


def split_samples(result, num_samples):
    """A list/tuple of samples, or one array whose first axis is the samples."""
    if isinstance(result, (list, tuple)):
        return list(result)
    array = to_numpy(result)
    if array.ndim >= 3 and array.shape[0] == num_samples:
        return [array[i] for i in range(num_samples)]
    return [array]


def describe(value):
    """What a function returned, in a few words: type, and shape and dtype of arrays."""
    kind = type(value).__name__
    if hasattr(value, "shape") and hasattr(value, "dtype"):
        return f"{kind} of shape {tuple(value.shape)} and dtype {value.dtype}"
    if isinstance(value, (list, tuple)):
        inner = ", ".join(describe(v) for v in value[:2])
        more = ", ..." if len(value) > 2 else ""
        return f"{kind} of {len(value)} [{inner}{more}]"
    return f"{kind} {str(value)[:40]!r}"


def is_pair(sample):
    return isinstance(sample, (list, tuple)) and len(sample) == 2


def natural_key(path):
    """Sorts `2.png` before `10.png`: digit runs compare as numbers."""
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", path)]


def written_files(output_path):
    found = []
    for root, _dirs, files in os.walk(output_path):
        for name in files:
            if name.lower().endswith(IMAGE_EXTENSIONS + (".npy",)):
                found.append(os.path.join(root, name))
    return sorted(found, key=natural_key)


ROLE_WORD = re.compile(r"(^|[_\-.])(mask|img|image)(?=$|[_\-.])", re.IGNORECASE)


def written_samples(output_path):
    """The files a package wrote, as samples: `{i}_img.png` and `{i}_mask.png` (or `{i}.png`
    and `{i}_mask.png`) become one sample with its mask, in natural name order."""
    groups = {}
    for path in written_files(output_path):
        stem = os.path.splitext(os.path.basename(path))[0]
        words = [m.group(2).lower() for m in ROLE_WORD.finditer(stem)]
        role = "mask" if "mask" in words else "image"
        key = (os.path.dirname(path), ROLE_WORD.sub("", stem))
        if role in groups.get(key, {}):
            key = (path, "")  # a second file of the same name: a sample of its own
        groups.setdefault(key, {})[role] = path
    samples = []
    for parts in groups.values():
        image = parts.get("image") or parts.get("mask")
        mask = parts.get("mask") if "image" in parts else None
        samples.append((image, mask))
    return samples


def file_part(path, exchange, name):
    if path.lower().endswith(".npy"):
        import numpy

        return dump_array(numpy.load(path), exchange, name)
    return {"file": path}


def accepts(function, name):
    """Whether `function` takes a keyword argument `name` (by name or through **kwargs)."""
    try:
        parameters = inspect.signature(function).parameters.values()
    except (TypeError, ValueError):
        return False
    return any(p.name == name or p.kind == inspect.Parameter.VAR_KEYWORD for p in parameters)


def load_latent(latent):
    import numpy

    shape = [int(d) for d in latent["shape"]]
    return numpy.fromfile(latent["raw"], dtype="<f4").reshape(shape).astype(numpy.float32)


def main():
    setup = json.loads(sys.stdin.readline())
    sys.path.insert(0, os.getcwd())  # the run directory, which holds models/<model id>
    try:
        module = importlib.import_module(setup["module"])
    except BaseException as error:
        failure("import", f"{type(error).__name__}: {error}", traceback.format_exc())
        return
    function = getattr(module, setup["function"], None)
    if not callable(function):
        failure("missing_function", setup["function"], "")
        return
    answer({"ok": True, "ready": True, "accepts_latent": accepts(function, "input_latent_vector")})
    for line in sys.stdin:
        if not line.strip():
            continue
        request = json.loads(line)
        n = int(request["num_samples"])
        out = request["output_path"]
        exchange = request["exchange"]
        save_images = bool(request["save_images"])
        kwargs = dict(setup["custom"])
        kwargs.update(
            model_file=setup["model_file"],
            num_samples=n,
            output_path=out,
            save_images=save_images,
        )
        hold_torch_still()
        seed_everything(int(request["seed"]))
        try:
            if request.get("latent"):
                kwargs["input_latent_vector"] = load_latent(request["latent"])
            result = function(**kwargs)
        except BaseException as error:
            failure("exception", f"{type(error).__name__}: {error}", traceback.format_exc())
            if isinstance(error, KeyboardInterrupt):
                return
            continue
        try:
            samples = []
            if result is not None and not (save_images and written_files(out)):
                for i, sample in enumerate(split_samples(result, n)):
                    if is_pair(sample):
                        samples.append(
                            {
                                "image": dump_array(sample[0], exchange, f"{i}-image"),
                                "mask": dump_array(sample[1], exchange, f"{i}-mask"),
                            }
                        )
                    else:
                        samples.append({"image": dump_array(sample, exchange, f"{i}-image"), "mask": None})
            else:
                for i, (image, mask) in enumerate(written_samples(out)):
                    samples.append(
                        {
                            "image": file_part(image, exchange, f"{i}-file"),
                            "mask": None if mask is None else file_part(mask, exchange, f"{i}-mask-file"),
                        }
                    )
            answer({"ok": True, "samples": samples})
        except BaseException as error:
            failure("result", f"{describe(result)} ({type(error).__name__}: {error})", traceback.format_exc())


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        failure("interrupted", "KeyboardInterrupt", "")
