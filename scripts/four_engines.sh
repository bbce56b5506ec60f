#!/usr/bin/env bash
# One digest, any engine (issue #28 item 3): the same run (bundled model 00900, seed 7, N
# samples, --pack tar with K samples per tar) generated four ways, and `medigan dataset merge`
# must give the same root sha256 each time:
#   1. one process            medigan generate -o DIR
#   2. a Slurm job array      scripts/slurm_e2e.sh with SLURM_E2E_PACK=K (4 shards, real Slurm)
#   3. Ray Data               medigan_rs.ray (GenerateSamples on 2 actors, write_shards)
#   4. an object store        medigan generate -o s3://bucket/prefix on a local S3 server (moto)
# Needs root (the Slurm part), the medigan binary, a Python with medigan_rs and ray[data]
# (MEDIGAN_PYTHON, default python3), and moto's server in python3 (scripts/requirements-ci.txt).
#
#   MEDIGAN_BIN=target/debug/medigan MEDIGAN_PYTHON=venv/bin/python sudo -E bash scripts/four_engines.sh
#
# Settings: FOUR_ENGINES_SAMPLES (400), FOUR_ENGINES_PER_TAR (25), FOUR_ENGINES_DIR (work folder,
# default /tmp/medigan-four-engines).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
samples=${FOUR_ENGINES_SAMPLES:-400}
per_tar=${FOUR_ENGINES_PER_TAR:-25}
work=${FOUR_ENGINES_DIR:-/tmp/medigan-four-engines}
python=${MEDIGAN_PYTHON:-python3}
say() { printf '[four_engines] %s\n' "$*"; }
fail() { printf '[four_engines] FAILED: %s\n' "$*" >&2; exit 1; }
case $work in /|/tmp|/tmp/|"") fail "FOUR_ENGINES_DIR=$work is not a folder of its own";; esac
[[ -n ${MEDIGAN_BIN:-} ]] || fail "set MEDIGAN_BIN to the medigan binary"
MEDIGAN_BIN=$(realpath "$MEDIGAN_BIN")
export MEDIGAN_BIN
rm -rf "$work"
mkdir -p "$work"
export MEDIGAN_HOME="$work/home"
root_of() { "$MEDIGAN_BIN" --json dataset merge "$1" | sed -n 's/.*"root_sha256": "\(.*\)".*/\1/p'; }
moto_pid=""
cleanup() { [[ -n $moto_pid ]] && kill "$moto_pid" 2>/dev/null; true; }
trap cleanup EXIT

say "1. one process: $samples samples, $per_tar per tar"
"$MEDIGAN_BIN" --quiet --offline generate 00900 -n "$samples" --seed 7 -o "$work/one" \
    --pack tar --samples-per-shard "$per_tar" >/dev/null
one=$(root_of "$work/one")

say "2. a Slurm job array (scripts/slurm_e2e.sh)"
SLURM_E2E_DIR="$work/slurm" SLURM_E2E_SAMPLES="$samples" SLURM_E2E_PACK="$per_tar" \
    bash "$root/scripts/slurm_e2e.sh" >"$work/slurm.log" 2>&1 \
    || { tail -n 20 "$work/slurm.log"; fail "the Slurm run failed"; }
slurm=$(cat "$work/slurm/root_sha256")

say "3. Ray Data: 2 actors"
"$python" - "$work/ray" "$samples" "$per_tar" <<'EOF' >"$work/ray.log" 2>&1 \
    || { tail -n 20 "$work/ray.log"; fail "the Ray run failed"; }
import sys
import ray
import medigan_rs
from medigan_rs.ray import GenerateSamples, RunSpec, write_shards

out, samples, per_tar = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
ray.init(num_cpus=4, include_dashboard=False, log_to_driver=False)
spec = RunSpec(medigan_rs.Generators(offline=True), "00900", num_samples=samples,
               samples_per_shard=per_tar, seed=7)
ds = ray.data.range(samples).map_batches(
    GenerateSamples, fn_constructor_args=(spec, False), concurrency=2, batch_size=32)
print(write_shards(ds, out, spec))
ray.shutdown()
EOF
ray_root=$(root_of "$work/ray")

say "4. an object store: moto's S3 server on 127.0.0.1"
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
python3 -m moto.server -H 127.0.0.1 -p "$port" >"$work/moto.log" 2>&1 &
moto_pid=$!
export AWS_ENDPOINT_URL="http://127.0.0.1:$port" AWS_ALLOW_HTTP=true AWS_REGION=us-east-1 \
    AWS_ACCESS_KEY_ID=four-engines AWS_SECRET_ACCESS_KEY=four-engines
for _ in $(seq 100); do
    python3 -c "import urllib.request; urllib.request.urlopen('$AWS_ENDPOINT_URL')" 2>/dev/null && break
    sleep 0.2
done
python3 -c "import boto3; boto3.client('s3').create_bucket(Bucket='four-engines')"
"$MEDIGAN_BIN" --quiet --offline generate 00900 -n "$samples" --seed 7 \
    -o s3://four-engines/run --pack tar --samples-per-shard "$per_tar" >/dev/null
store=$(root_of s3://four-engines/run)

echo
echo "| engine | root sha256 |"
echo "|---|---|"
echo "| one process | $one |"
echo "| Slurm array (4 tasks) | $slurm |"
echo "| Ray Data (2 actors) | $ray_root |"
echo "| S3 (moto) | $store |"
[[ -n $one && $one == "$slurm" && $one == "$ray_root" && $one == "$store" ]] \
    || fail "the root digests differ"
say "PASSED: one root digest on four engines"
