"""Pointing the Rust core at the onnxruntime library that the `onnxruntime` wheel ships.

The core finds `libonnxruntime` at run time (`ORT_DYLIB_PATH`, then Python's site-packages,
then system directories). From inside Python the wheel's location is known for sure, so it is
handed over through `ORT_DYLIB_PATH` (a directory is fine: the core takes the newest library
file in it). onnxruntime is located, not imported: importing it costs about a second.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from typing import Optional

ENV = "ORT_DYLIB_PATH"


def _is_library(name: str) -> bool:
    return (
        name == "libonnxruntime.so"
        or name.startswith("libonnxruntime.so.")
        or (name.startswith("libonnxruntime.") and name.endswith(".dylib"))
        or name.lower() == "onnxruntime.dll"
    )


def onnxruntime_capi_dir() -> Optional[Path]:
    """The `onnxruntime/capi` directory holding the library, or None without the package."""
    try:
        spec = importlib.util.find_spec("onnxruntime")
    except (ImportError, ValueError):
        return None
    for location in (spec.submodule_search_locations or []) if spec else []:
        capi = Path(location) / "capi"
        try:
            if any(_is_library(p.name) for p in capi.iterdir()):
                return capi
        except OSError:
            continue
    return None


def configure() -> None:
    """Sets `ORT_DYLIB_PATH` to the onnxruntime wheel's library, unless the user set it."""
    if os.environ.get(ENV):
        return
    capi = onnxruntime_capi_dir()
    if capi is not None:
        os.environ[ENV] = str(capi)
