#!/usr/bin/env bash
# Runs every test of the project: the Rust workspace (unit, integration, CLI end to end), then
# the Python bindings' pytest suite (scripts/test_python.sh: builds and installs medigan_rs).
# Needs the `shared/` folder beside the repository (reference catalogue and search cases).
# The onnxruntime backend is tested when its library is found (`pip install onnxruntime`).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo test --workspace --all-targets
bash scripts/test_python.sh
