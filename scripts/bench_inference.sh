#!/usr/bin/env bash
# Inference throughput of the ONNX backends (ort, tract) on the DCGAN 128x128 benchmark generator.
#
#   scripts/bench_inference.sh [--batches 1,16,64] [--seconds 2] [--passes 3] [--backends ort,tract]
#
# Writes the benchmark package once (~51 MB, not committed) with scripts/make_fixtures.py into
# $BENCH_MODEL_DIR (default: $TMPDIR/medigan-bench-model), then runs the bench_inference example
# in release mode, which prints a Markdown table. Needs numpy, onnx and onnxruntime in python3.
set -euo pipefail
cd "$(dirname "$0")/.."
dir="${BENCH_MODEL_DIR:-${TMPDIR:-/tmp}/medigan-bench-model}"
if [ ! -f "$dir/dcgan128_benchmark/model.onnx" ]; then
    python3 scripts/make_fixtures.py --only --benchmark "$dir"
fi
exec cargo run --release -p medigan --example bench_inference -- "$dir/dcgan128_benchmark" "$@"
