"""medigan convert, the prelude of every export script (export.py, and folder_export.py's
sources): where an exported graph's weights go. A graph whose export (graph and tensors) is over
the threshold (protobuf's limit, 2 GB; MEDIGAN_EXTERNAL_DATA_THRESHOLD_BYTES, read and checked
by the Rust side and passed as the request's "external_data_threshold", sets it lower for tests)
is written with its tensors in one external-data file, "<graph file name>.data", next to it;
the Rust side hashes that file into the package's medigan.json.
"""

import os as _os
import shutil as _shutil
import tempfile as _tempfile

# Over protobuf's 2 GiB message limit a graph cannot be one file; a little under it, so that
# the graph's structure fits next to its tensors.
EXTERNAL_DATA_THRESHOLD = 2_000_000_000


def configure_external_data(request):
    """Takes the threshold from the request ("external_data_threshold", bytes), if it has one."""
    global EXTERNAL_DATA_THRESHOLD
    value = request.get("external_data_threshold")
    if value is not None:
        EXTERNAL_DATA_THRESHOLD = int(value)


def write_graph(path, export_into):
    """Runs export_into(staged) (torch.onnx.export into a staging folder next to `path`), then
    puts the graph at `path`: as it is when its files take at most the threshold, else loaded
    (with any tensor files torch wrote) and saved with every tensor of 1 KiB or more in
    `<name>.data` next to it. Returns the external-data file's name, or None."""
    folder = _os.path.dirname(_os.path.abspath(path))
    name = _os.path.basename(path)
    location = name + ".data"
    staging = _tempfile.mkdtemp(prefix=".export-", dir=folder)
    try:
        staged = _os.path.join(staging, name)
        export_into(staged)
        files = _os.listdir(staging)
        size = sum(_os.path.getsize(_os.path.join(staging, f)) for f in files)
        for stale in (path, _os.path.join(folder, location)):
            if _os.path.lexists(stale):
                _os.remove(stale)
        if size <= EXTERNAL_DATA_THRESHOLD and files == [name]:
            _os.replace(staged, path)
            return None
        try:
            import onnx
        except ImportError:
            raise Refusal("export", f"the graph takes {size} bytes, over the external-data threshold "
                          f"({EXTERNAL_DATA_THRESHOLD}): writing its tensors to `{location}` needs the "
                          "`onnx` package in the model's environment")
        model = onnx.load(staged, load_external_data=True)
        onnx.save_model(model, path, save_as_external_data=True, all_tensors_to_one_file=True,
                        location=location, size_threshold=1024, convert_attribute=False)
        return location if _os.path.exists(_os.path.join(folder, location)) else None
    finally:
        _shutil.rmtree(staging, ignore_errors=True)


def check_model_file(path):
    """onnx.checker on the file (by path, so that a graph with external data is checked too)."""
    import onnx

    onnx.checker.check_model(path)
    return f"onnx {onnx.__version__}"

