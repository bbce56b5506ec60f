#!/usr/bin/env bash
# Cold release builds: the time to build, from an empty target folder, the `medigan` command
# line with every feature (the default) and without any (`--no-default-features`), and the
# Python wheel as published (scripts/build_wheel.sh: dicom, inception and viz, no tract) and with
# every feature; then the size of each binary and wheel, as a table. Run it on an idle machine:
# every build uses all cores, and another job on them makes the times wrong.
#
#   CARGO_TARGET_DIR=/tmp/bench-build bash scripts/bench_build.sh
#
# CARGO_TARGET_DIR must not exist yet: the script creates it, with one fresh target folder per
# build inside (so each build compiles every dependency), and leaves it for inspection. Crate
# sources are fetched first (`cargo fetch`) and maturin + zig installed before any timing, so
# the times are compilation and linking only. RUSTC_WRAPPER (sccache) is unset.
set -euo pipefail
cd "$(dirname "$0")/.."

base="${CARGO_TARGET_DIR:?set CARGO_TARGET_DIR to a folder that does not exist yet}"
if [ -e "$base" ]; then
  echo "error: $base exists; give a new folder, so that every build starts cold" >&2
  exit 2
fi
mkdir -p "$base"
base="$(cd "$base" && pwd)"
unset RUSTC_WRAPPER CARGO_BUILD_RUSTC_WRAPPER
export CARGO_TERM_COLOR=never

echo "== crate sources and wheel tools (not timed)" >&2
cargo fetch --locked >&2
(cd bindings/python && cargo fetch --locked >&2)
tools="$base/wheel-tools"
"${PYTHON:-python3}" -m venv "$tools"
"$tools/bin/python" -m pip install --disable-pip-version-check --quiet "maturin>=1.5,<2" ziglang
export MEDIGAN_WHEEL_TOOLS="$tools"

rows=()

# Seconds since the epoch, with nanoseconds.
now() { date +%s.%N; }

# MiB, one decimal.
mib() { awk -v b="$(stat -c %s "$1")" 'BEGIN { printf "%.1f", b / 1048576 }'; }

# bench NAME FEATURES COMMAND...: runs COMMAND with CARGO_TARGET_DIR=$base/NAME; sets `seconds`.
bench() {
  local name="$1" features="$2" start end
  shift 2
  echo "== $name ($features)" >&2
  start="$(now)"
  CARGO_TARGET_DIR="$base/$name" "$@" >&2
  end="$(now)"
  seconds="$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.0f", b - a }')"
}

# row NAME FEATURES FILE: one line of the table.
row() { rows+=("$1"$'\t'"$2"$'\t'"$seconds"$'\t'"$(mib "$3")"); }

cli() {
  bench "$1" "$2" cargo build --locked --release -p medigan-cli "${@:3}"
  row "$1" "$2" "$base/$1/release/medigan"
}

# wheel NAME FEATURES [MEDIGAN_WHEEL_FEATURES]
wheel() {
  local out="$base/$1-out"
  bench "$1" "$2" env MEDIGAN_WHEEL_OUT="$out" MEDIGAN_WHEEL_FEATURES="${3:-}" \
    bash scripts/build_wheel.sh
  row "$1" "$2" "$(ls "$out"/medigan_rs-*.whl)"
}

cli cli-default "tract dicom inception viz"
cli cli-lean "none" --no-default-features
wheel wheel "dicom inception viz (published)"
wheel wheel-full "tract dicom inception viz" "tract"

echo
printf '%-12s | %-28s | %14s | %10s\n' build features "cold build (s)" "size (MiB)"
printf '%s\n' "-------------|------------------------------|----------------|-----------"
for line in "${rows[@]}"; do
  IFS=$'\t' read -r name features secs size <<<"$line"
  printf '%-12s | %-28s | %14s | %10s\n' "$name" "$features" "$secs" "$size"
done
echo
echo "$(nproc) cores, $(uname -m), $(rustc --version)"
