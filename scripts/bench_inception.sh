#!/usr/bin/env bash
# The FID Inception-v3 at 299 x 299: medigan's native network and its ONNX graph on onnxruntime
# (when found) against pytorch-fid's, same random weights in the real file's layout, same
# input, same batches, same thread count.
#
#   scripts/bench_inception.sh [IMAGES] [BATCH] [THREADS...]     (default 200 32 2)
#
# Needs torch, torchvision and pytorch-fid (pip install pytorch-fid). Prints, for each thread
# count, one line per implementation: images/s (wall clock) and CPU seconds per image (user +
# system: on a shared machine wall-clock throughput depends on the other work; a 2-thread
# PyTorch run in particular loses most of its speed when its threads are preempted).
set -euo pipefail
cd "$(dirname "$0")/.."
images="${1:-200}"
batch="${2:-32}"
shift $(( $# > 2 ? 2 : $# ))
threads=("${@:-2}")
[ ${#threads[@]} -eq 0 ] && threads=(2)
dir="${MEDIGAN_BENCH_DIR:-${TMPDIR:-/tmp}/medigan-bench-inception}"
[ -f "$dir/weights.pth" ] || python3 scripts/inception_reference.py "$dir" --images 1 >/dev/null
cargo build --release -q -p medigan --no-default-features --features inception --example bench_inception
bin="${CARGO_TARGET_DIR:-target}/release/examples/bench_inception"
echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) CPUs," \
  "load average $(cut -d' ' -f1-3 /proc/loadavg)"
for t in "${threads[@]}"; do
  RAYON_NUM_THREADS="$t" "$bin" "$dir/weights.pth" --images "$images" --batch "$batch" 2>/dev/null
  python3 scripts/bench_inception.py "$dir/weights.pth" --images "$images" --batch "$batch" \
    --threads "$t"
done
