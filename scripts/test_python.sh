#!/usr/bin/env bash
# Builds the Python bindings (bindings/python, package `medigan_rs`) into a virtual
# environment with `pip install`, as the README says users do, and runs their pytest suite.
#
# The venv sees the system's site-packages, so torch is tested where it is installed (the
# torch tests are skipped otherwise); numpy and onnxruntime come from the package's
# dependencies. The Rust build goes to $CARGO_TARGET_DIR when set (shared with the workspace),
# else bindings/python/target. MEDIGAN_PY_PROFILE=release builds optimised (default: dev,
# which reuses the workspace's debug build of the core).
set -euo pipefail
cd "$(dirname "$0")/.."

venv="${MEDIGAN_PY_VENV:-${CARGO_TARGET_DIR:-bindings/python/target}/medigan-py-venv}"
case "$venv" in /*) ;; *) venv="$PWD/$venv" ;; esac
profile="${MEDIGAN_PY_PROFILE:-dev}"
python="${PYTHON:-python3}"

if [ ! -x "$venv/bin/python" ] && ! "$python" -m venv --system-site-packages "$venv"; then
  # No venv module (Debian without python3-venv): install into the interpreter itself.
  echo "test_python.sh: cannot create a venv; installing into $python" >&2
  venv=""
fi
py="${venv:+$venv/bin/python}"
py="${py:-$python}"
pip=("$py" -m pip --disable-pip-version-check --quiet)
# The build tools, and the package's dependencies (pyproject.toml) unless already there.
"${pip[@]}" install "maturin>=1.5,<2" "pytest>=7" "numpy>=1.21" "onnxruntime>=1.17"
MATURIN_PEP517_ARGS="--profile $profile" \
  "${pip[@]}" install --no-build-isolation --force-reinstall --no-deps ./bindings/python
cd bindings/python
"$py" -m pytest -p no:cacheprovider "$@"
