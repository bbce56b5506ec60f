"""The type stubs stay in step with the package: editors complete what really exists."""

from __future__ import annotations

import ast
from pathlib import Path

import medigan_rs
from medigan_rs import _native

PACKAGE = Path(__file__).resolve().parents[1] / "python" / "medigan_rs"


def stub(name: str) -> ast.Module:
    return ast.parse((PACKAGE / name).read_text())


def test_the_package_stub_names_every_public_name():
    names = {
        alias.asname or alias.name
        for node in stub("__init__.pyi").body
        if isinstance(node, ast.ImportFrom)
        for alias in node.names
    }
    assert set(medigan_rs.__all__) - {"__version__"} <= names
    assert (PACKAGE / "py.typed").is_file()


def test_the_native_stub_has_every_native_method():
    classes = {n.name: n for n in stub("_native.pyi").body if isinstance(n, ast.ClassDef)}
    stubbed = {f.name for f in classes["Generators"].body if isinstance(f, ast.FunctionDef)}
    real = {name for name in dir(_native.Generators) if not name.startswith("_")}
    assert real <= stubbed, f"missing in _native.pyi: {sorted(real - stubbed)}"


def test_every_public_method_has_a_docstring():
    for name in dir(medigan_rs.Generators):
        if not name.startswith("_"):
            assert getattr(medigan_rs.Generators, name).__doc__, name


def test_the_native_stub_has_every_native_function():
    stubbed = {f.name for f in stub("_native.pyi").body if isinstance(f, ast.FunctionDef)}
    real = {
        name
        for name in dir(_native)
        if not name.startswith("_") and callable(getattr(_native, name))
        and not isinstance(getattr(_native, name), type)
    }
    assert real <= stubbed, f"missing in _native.pyi: {sorted(real - stubbed)}"
