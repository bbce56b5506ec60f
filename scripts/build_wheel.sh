#!/usr/bin/env bash
# Builds the Python wheel of medigan_rs as it is published: release profile, abi3 (one wheel
# for CPython >= 3.10), without the pure-Rust tract backend (the package depends on
# onnxruntime), linked against glibc 2.28 through zig and audited by maturin's auditwheel check
# (manylinux_2_28: Debian 10+, Ubuntu 18.10+, RHEL 8+). Prints the wheel's path on its last line.
#
#   bash scripts/build_wheel.sh                      # -> target/wheels/medigan_rs-*.whl
#   MEDIGAN_WHEEL_OUT=dist bash scripts/build_wheel.sh
#   MEDIGAN_MANYLINUX=off bash scripts/build_wheel.sh   # this machine's glibc, no zig
#   MEDIGAN_WHEEL_FEATURES=tract bash scripts/build_wheel.sh   # with the pure-Rust backend too
#
# maturin and zig come from PyPI into a tools venv ($MEDIGAN_WHEEL_TOOLS, default wheel-tools/
# in $CARGO_TARGET_DIR or target/). The Rust build goes to $CARGO_TARGET_DIR when set.
set -euo pipefail
cd "$(dirname "$0")/.."

out="${MEDIGAN_WHEEL_OUT:-target/wheels}"
manylinux="${MEDIGAN_MANYLINUX:-manylinux_2_28}"
python="${PYTHON:-python3}"
mkdir -p "$out"
out="$(cd "$out" && pwd)"

# The build tools in a venv of their own (maturin runs zig through `python -m ziglang`).
tools="${MEDIGAN_WHEEL_TOOLS:-${CARGO_TARGET_DIR:-$PWD/target}/wheel-tools}"
if [ ! -x "$tools/bin/maturin" ] || [ ! -x "$tools/bin/python-zig" ]; then
  "$python" -m venv "$tools"
  "$tools/bin/python" -m pip install --disable-pip-version-check --quiet "maturin>=1.5,<2" ziglang
fi
export PATH="$tools/bin:$PATH"

args=(build --release --manifest-path bindings/python/Cargo.toml --out "$out")
if [ -n "${MEDIGAN_WHEEL_FEATURES:-}" ]; then
  args+=(--features "$MEDIGAN_WHEEL_FEATURES")
fi
if [ "$(uname -s)" = Linux ] && [ "$manylinux" != off ]; then
  args+=(--compatibility "$manylinux" --zig)
fi
# A fresh name, so that the path printed is this build's wheel.
rm -f "$out"/medigan_rs-*.whl
maturin "${args[@]}" >&2
ls "$out"/medigan_rs-*.whl
