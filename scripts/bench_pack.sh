#!/usr/bin/env bash
# `medigan generate` into loose PNG files vs WebDataset tars (`--pack tar`), on the bundled model
# 00900 (issue #17, item 3). Prints a Markdown table: wall time, samples/s, files written, bytes
# written, peak RSS.
#
#   scripts/bench_pack.sh [SAMPLES] [SAMPLES_PER_TAR]      (default 10000 1000)
#
# Builds the release CLI once (or uses $MEDIGAN_BIN), runs one warm-up sample so the bundled
# model is unpacked in a scratch MEDIGAN_HOME, then each layout once into a fresh folder. Set
# THREADS to pin --threads (default: every core). Needs python3 (timing and peak RSS).
set -euo pipefail
cd "$(dirname "$0")/.."
samples="${1:-10000}"
per_tar="${2:-1000}"
if [ -z "${MEDIGAN_BIN:-}" ]; then
    cargo build --release -p medigan-cli >&2
    MEDIGAN_BIN="${CARGO_TARGET_DIR:-target}/release/medigan"
fi
scratch="$(mktemp -d "${TMPDIR:-/tmp}/medigan-bench-pack.XXXXXX")"
trap 'rm -rf "$scratch"' EXIT
export MEDIGAN_HOME="$scratch/home"
threads=()
if [ -n "${THREADS:-}" ]; then threads=(--threads "$THREADS"); fi
"$MEDIGAN_BIN" --offline -q generate 00900 -n 1 -o "$scratch/warm-up" >/dev/null

# One run under python: wall seconds and peak RSS (KiB) of the child, as "seconds kib".
measure() {
    python3 - "$@" <<'EOF'
import resource, subprocess, sys, time
started = time.perf_counter()
subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL)
seconds = time.perf_counter() - started
print(f"{seconds:.3f} {resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}")
EOF
}

echo "| layout | samples | wall (s) | samples/s | files written | bytes written | peak RSS (MiB) |"
echo "|---|---|---|---|---|---|---|"
for layout in png tar; do
    out="$scratch/$layout"
    extra=()
    label="loose PNG"
    if [ "$layout" = tar ]; then
        extra=(--pack tar --samples-per-shard "$per_tar")
        label="--pack tar (K=$per_tar)"
    fi
    read -r seconds kib < <(measure "$MEDIGAN_BIN" --offline -q generate 00900 -n "$samples" \
        --seed 1 -o "$out" "${threads[@]}" "${extra[@]}")
    files=$(find "$out" -type f | wc -l)
    bytes=$(du -sb "$out" | cut -f1)
    python3 -c "
s, n, kib = $seconds, $samples, $kib
print(f'| $label | {n} | {s:.2f} | {n / s:.0f} | $files | $bytes | {kib / 1024:.0f} |')"
done
echo
echo "machine: $(nproc) cores, $(uname -sm); threads: ${THREADS:-all}; $("$MEDIGAN_BIN" --version)"
