#!/usr/bin/env bash
# Runs the Python bindings' pytest suite (bindings/python/tests) against medigan_rs installed
# into a virtual environment:
#  - by default built from source with `pip install ./bindings/python` (needs cargo), in a
#    reused venv, with the cargo feature `tract`; MEDIGAN_PY_PROFILE=release builds optimised
#    (default: dev, which reuses the workspace's debug build of the core);
#  - with MEDIGAN_PY_WHEEL=path/to/medigan_rs-*.whl (scripts/build_wheel.sh), that wheel is
#    installed into a fresh venv and the install and the tests run with no cargo on PATH, as
#    a user's would.
# The venv sees the system's site-packages, so torch is tested where it is installed (the torch
# tests are skipped otherwise); numpy and onnxruntime come from the package's dependencies,
# downloaded when the system lacks them. The Rust build goes to $CARGO_TARGET_DIR when set, else
# to the workspace's target/: shared with the workspace's build, so the dependencies both
# compile alike (same Cargo.lock versions, profile and features) are compiled once.
# Arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
venv="${MEDIGAN_PY_VENV:-$CARGO_TARGET_DIR/medigan-py-venv}"
case "$venv" in /*) ;; *) venv="$PWD/$venv" ;; esac
profile="${MEDIGAN_PY_PROFILE:-dev}"
python="${PYTHON:-python3}"
wheel="${MEDIGAN_PY_WHEEL:-}"

if [ -n "$wheel" ]; then
  [ -f "$wheel" ] || { echo "test_python.sh: MEDIGAN_PY_WHEEL=$wheel is not a file" >&2; exit 1; }
  wheel="$(cd "$(dirname "$wheel")" && pwd)/$(basename "$wheel")"
  venv="$venv-wheel"
  rm -rf "$venv"
  # PATH without cargo: the wheel must install and run without a Rust toolchain.
  PATH="$(printf '%s' "$PATH" | tr ':' '\n' | while read -r dir; do
    [ -n "$dir" ] && [ ! -x "$dir/cargo" ] && printf '%s:' "$dir"; done)"
  PATH="${PATH%:}"
  export PATH
  if command -v cargo >/dev/null 2>&1; then
    echo "test_python.sh: cargo is still on PATH ($(command -v cargo))" >&2
    exit 1
  fi
fi

if [ ! -x "$venv/bin/python" ]; then
  "$python" -m venv --system-site-packages "$venv" || {
    echo "test_python.sh: cannot create a venv with $python -m venv (on Debian: apt-get install python3-venv)" >&2
    exit 1
  }
fi
# The venv's tools (maturin, pytest) first on PATH: pip runs the build backend from there.
export PATH="$venv/bin:$PATH"
py="$venv/bin/python"
pip=("$py" -m pip --disable-pip-version-check --quiet)

if [ -n "$wheel" ]; then
  start_ns=$(date +%s%N)
  "${pip[@]}" install "$wheel"
  echo "test_python.sh: installed $(basename "$wheel") in $(( ($(date +%s%N) - start_ns) / 1000000 )) ms, no cargo on PATH"
  "${pip[@]}" install "pytest>=7"
else
  # The build tool, and the package's dependencies (pyproject.toml) unless already there.
  "${pip[@]}" install "maturin>=1.5,<2" "pytest>=7" "numpy>=1.21" "onnxruntime>=1.17"
  # With tract, as the workspace builds the core (so its debug build is reused), and so the
  # comparison of the two backends runs; the wheel (scripts/build_wheel.sh) leaves tract out.
  echo "test_python.sh: building medigan_rs ($profile, into $CARGO_TARGET_DIR) and installing it into $venv"
  start_s=$SECONDS
  MATURIN_PEP517_ARGS="--profile $profile --features tract" \
    "${pip[@]}" install --no-build-isolation --force-reinstall --no-deps ./bindings/python
  echo "test_python.sh: built and installed in $((SECONDS - start_s)) s"
fi
cd bindings/python
"$py" -m pytest -p no:cacheprovider "$@"
