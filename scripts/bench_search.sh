#!/usr/bin/env bash
# Wall time of `medigan search` as a whole process (start to exit), median of many runs.
# Usage: scripts/bench_search.sh [RUNS]   (builds the release binary first)
set -euo pipefail
cd "$(dirname "$0")/.."
runs="${1:-200}"
cargo build --release --quiet -p medigan-cli
bin="${CARGO_TARGET_DIR:-target}/release/medigan"
catalog="models/upstream-snapshot.json"  # the reference catalogue (tests/reference/README.md)
python3 - "$bin" "$catalog" "$runs" <<'PY'
import statistics, subprocess, sys, time
binary, catalog, runs = sys.argv[1], sys.argv[2], int(sys.argv[3])
cases = {
    "search mammography --rank FID --asc": ["search", "mammography", "--rank", "FID", "--asc"],
    "search DCGAN MMG --json": ["search", "DCGAN", "MMG", "--json"],
    "rank FID --desc --json": ["rank", "FID", "--desc", "--json"],
}
print(f"| command | runs | median ms | p90 ms | min ms |\n|---|---:|---:|---:|---:|")
for name, args in cases.items():
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run([binary, *args, "--catalog", catalog], check=True, stdout=subprocess.DEVNULL)
        times.append((time.perf_counter() - start) * 1000)
    times.sort()
    p90 = times[int(len(times) * 0.9) - 1]
    print(f"| medigan {name} | {runs} | {statistics.median(times):.2f} | {p90:.2f} | {times[0]:.2f} |")
PY
