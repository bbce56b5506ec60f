#!/usr/bin/env bash
# Throughput at scale (issue #28 item 4): one run of the bundled model 00900 (seed 1, SAMPLES
# samples, --pack tar with PER_TAR per tar) written four ways, as a Markdown table of wall time,
# samples/s, bytes written, bytes/s and peak RSS:
#   generation alone   the samples made in memory and dropped (Python, no encoding or writing)
#   local tar          medigan generate -o DIR --pack tar
#   S3 (moto)          medigan generate -o s3://bucket/prefix --pack tar, a local moto server
#   Ray Data           medigan_rs.ray on 2 actors, written by write_shards
#
#   scripts/bench_scale.sh [SAMPLES] [PER_TAR]          (default 100000 1000)
#
# Uses $MEDIGAN_BIN (else builds the release CLI) and $MEDIGAN_PYTHON (a Python with medigan_rs
# and ray[data]; default python3); moto's server from python3. THREADS pins --threads.
set -euo pipefail
cd "$(dirname "$0")/.."
samples="${1:-100000}"
per_tar="${2:-1000}"
python="${MEDIGAN_PYTHON:-python3}"
if [ -z "${MEDIGAN_BIN:-}" ]; then
    cargo build --release -p medigan-cli >&2
    MEDIGAN_BIN="${CARGO_TARGET_DIR:-target}/release/medigan"
fi
scratch="$(mktemp -d "${TMPDIR:-/tmp}/medigan-bench-scale.XXXXXX")"
moto_pid=""
cleanup() { [ -n "$moto_pid" ] && kill "$moto_pid" 2>/dev/null; rm -rf "$scratch"; }
trap cleanup EXIT
export MEDIGAN_HOME="$scratch/home"
threads=()
if [ -n "${THREADS:-}" ]; then threads=(--threads "$THREADS"); fi
"$MEDIGAN_BIN" --offline -q generate 00900 -n 1 -o "$scratch/warm-up" >/dev/null

# One CLI run: wall seconds and peak RSS (KiB) of the child, as "seconds kib".
measure() {
    python3 - "$@" <<'PY'
import resource, subprocess, sys, time
started = time.perf_counter()
subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL)
print(f"{time.perf_counter() - started:.3f} {resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}")
PY
}

row() {  # label seconds kib bytes
    python3 -c "
label, s, kib, b, n = '$1', $2, $3, $4, $samples
rate = f'{b / s / 2**20:.1f}' if b else '-'
print(f'| {label} | {n} | {s:.1f} | {n / s:.0f} | {b} | {rate} | {kib / 1024:.0f} |')"
}

echo "| engine | samples | wall (s) | samples/s | bytes written | MiB/s | peak RSS (MiB) |"
echo "|---|---|---|---|---|---|---|"
read -r s kib < <("$python" scripts/bench_scale.py memory - "$samples" "$per_tar")
row "generation alone (in memory)" "$s" "$kib" 0

read -r s kib < <(measure "$MEDIGAN_BIN" --offline -q generate 00900 -n "$samples" --seed 1 \
    -o "$scratch/tar" --pack tar --samples-per-shard "$per_tar" "${threads[@]}")
row "local tar (--pack tar)" "$s" "$kib" "$(du -sb "$scratch/tar" | cut -f1)"
rm -rf "$scratch/tar"

port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
python3 -m moto.server -H 127.0.0.1 -p "$port" >"$scratch/moto.log" 2>&1 &
moto_pid=$!
export AWS_ENDPOINT_URL="http://127.0.0.1:$port" AWS_ALLOW_HTTP=true AWS_REGION=us-east-1 \
    AWS_ACCESS_KEY_ID=bench AWS_SECRET_ACCESS_KEY=bench
for _ in $(seq 100); do
    python3 -c "import urllib.request; urllib.request.urlopen('$AWS_ENDPOINT_URL')" 2>/dev/null && break
    sleep 0.2
done
python3 -c "import boto3; boto3.client('s3').create_bucket(Bucket='bench')"
read -r s kib < <(measure "$MEDIGAN_BIN" --offline -q generate 00900 -n "$samples" --seed 1 \
    -o s3://bench/run --pack tar --samples-per-shard "$per_tar" "${threads[@]}")
bytes=$(python3 -c "
import boto3
pages = boto3.client('s3').get_paginator('list_objects_v2').paginate(Bucket='bench', Prefix='run/')
print(sum(o['Size'] for p in pages for o in p.get('Contents', [])))")
row "S3 (moto, --pack tar)" "$s" "$kib" "$bytes"
kill "$moto_pid" 2>/dev/null; moto_pid=""

read -r s kib < <("$python" scripts/bench_scale.py ray "$scratch/ray" "$samples" "$per_tar")
row "Ray Data (2 actors, write_shards)" "$s" "$kib" "$(du -sb "$scratch/ray" | cut -f1)"
echo
echo "machine: $(nproc) cores, $(uname -sm); threads: ${THREADS:-all}; $("$MEDIGAN_BIN" --version)"
