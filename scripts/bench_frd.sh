#!/usr/bin/env bash
# FRD speed (issue #30 item 1): frd-score 1.0.1 (pyradiomics, multiprocessing on every core)
# against `medigan frd` (native radiomics, every core) on the same two folders of IMAGES
# 8-bit PNGs of SIZE x SIZE (smooth shapes plus noise, drawn by numpy with fixed seeds), for
# FRD v1 and v0. Prints a Markdown table: wall time, images/s, the two FRD values and their
# relative difference.
#
#   scripts/bench_frd.sh [IMAGES] [SIZE]          (default 1000 256: the issue's benchmark)
#
# Needs $FRD_PYTHON: a Python with frd-score 1.0.1 (python3.11 -m venv V && V/bin/pip install
# frd-score==1.0.1); uses $MEDIGAN_BIN (else builds the release CLI). VERSIONS="v1 v0" by default.
set -euo pipefail
cd "$(dirname "$0")/.."
images="${1:-1000}"
size="${2:-256}"
python="${FRD_PYTHON:?set FRD_PYTHON to a Python with frd-score 1.0.1}"
versions="${VERSIONS:-v1 v0}"
if [ -z "${MEDIGAN_BIN:-}" ]; then
    cargo build --release -p medigan-cli >&2
    MEDIGAN_BIN="${CARGO_TARGET_DIR:-target}/release/medigan"
fi
scratch="$(mktemp -d "${TMPDIR:-/tmp}/medigan-bench-frd.XXXXXX")"
trap 'rm -rf "$scratch"' EXIT
"$python" - "$scratch" "$images" "$size" <<'PY'
import sys, pathlib
import numpy as np
import SimpleITK as sitk
root, n, size = pathlib.Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
yy, xx = np.mgrid[0:size, 0:size]
for s, name in enumerate(("real", "synthetic")):
    rng = np.random.default_rng(100 + s)
    folder = root / name
    folder.mkdir()
    for i in range(n):
        img = 60 + 40 * np.sin(xx / rng.uniform(8, 40)) * np.cos(yy / rng.uniform(8, 40))
        for _ in range(3):
            cx, cy, r = rng.uniform(0, size, 2).tolist() + [rng.uniform(size / 16, size / 4)]
            img += (80 + 20 * s) * (((xx - cx) ** 2 + (yy - cy) ** 2) < r * r)
        img += rng.normal(0, 10 + 5 * s, img.shape)
        sitk.WriteImage(sitk.GetImageFromArray(np.clip(img, 0, 255).astype(np.uint8)),
                        str(folder / f"{i:05d}.png"))
PY
cores="$(nproc)"
echo "| FRD | tool | images | wall s | images/s | FRD value |"
echo "|---|---|---|---|---|---|"
for version in $versions; do
    start=$(date +%s.%N)
    theirs=$("$python" -c "
import logging, sys
from frd_score import frd
logging.getLogger('radiomics').setLevel(logging.ERROR)
print(frd.compute_frd(sys.argv[1:3], frd_version='$version', num_workers=$cores))
" "$scratch/real" "$scratch/synthetic" 2>/dev/null | tail -1 | sed 's/.*: //')
    t_theirs=$(echo "$(date +%s.%N) - $start" | bc)
    start=$(date +%s.%N)
    ours=$("$MEDIGAN_BIN" --json -q frd "$scratch/real" "$scratch/synthetic" --frd-version "${version#v}" \
        | "$python" -c "import json, sys; print(json.load(sys.stdin)['frd'])")
    t_ours=$(echo "$(date +%s.%N) - $start" | bc)
    total=$((2 * images))
    printf '| %s | frd-score 1.0.1 (%s workers) | %d | %.1f | %.1f | %s |\n' "$version" "$cores" "$total" "$t_theirs" "$(echo "$total / $t_theirs" | bc -l)" "$theirs"
    printf '| %s | medigan frd | %d | %.1f | %.1f | %s |\n' "$version" "$total" "$t_ours" "$(echo "$total / $t_ours" | bc -l)" "$ours"
    "$python" -c "a, b = float('$theirs'), float('$ours'); print(f'|   | relative difference | | | | {abs(a - b) / abs(a):.2e} |')"
done
