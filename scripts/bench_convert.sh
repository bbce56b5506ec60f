#!/usr/bin/env bash
# Legacy vs converted: N PNGs of the zoo DCGAN fixture (00910_ZOO_DCGAN, 64x64: the fixture's
# size), timed from process start to exit (after the last file and the manifest), with the peak
# RSS of the whole process tree (medigan + the legacy bridge's Python), sampled every 50 ms from
# /proc, and /usr/bin/time's largest single process when it is installed.
#
#   scripts/bench_convert.sh [N]          (default 1000; MEDIGAN=path/to/medigan, default
#                                          target/release/medigan)
#
# Not timed: making the legacy environment and the conversion itself (printed separately).
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-1000}
MEDIGAN=${MEDIGAN:-target/release/medigan}
CATALOG=tests/fixtures/zoo/zoo-catalog.json
MODEL=00910_ZOO_DCGAN
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
export MEDIGAN_HOME=$WORK/home
export MEDIGAN_PIP_ARGS="--no-index --find-links=tests/fixtures/zoo/deps"

# Sum of RSS (KiB) of a process and all its descendants.
tree_rss() {
    local pids=$1 all=$1 next
    while [ -n "$pids" ]; do
        next=""
        for p in $pids; do
            next="$next $(cat /proc/"$p"/task/*/children 2>/dev/null || true)"
        done
        pids=$(echo $next)
        all="$all $pids"
    done
    local total=0
    for p in $all; do
        rss=$(awk '/^VmRSS:/ {print $2}' /proc/"$p"/status 2>/dev/null || echo 0)
        total=$((total + ${rss:-0}))
    done
    echo $total
}

# measure LABEL CMD...: prints "LABEL seconds peak_tree_kib max_single_kib"
measure() {
    local label=$1; shift
    local timing=()
    if [ -x /usr/bin/time ]; then timing=(/usr/bin/time -v -o "$WORK/time-$label.txt"); fi
    local start end peak=0 rss
    start=$(date +%s.%N)
    "${timing[@]}" "$@" >"$WORK/out-$label.txt" 2>&1 &
    local pid=$!
    while kill -0 "$pid" 2>/dev/null; do
        rss=$(tree_rss "$pid")
        [ "$rss" -gt "$peak" ] && peak=$rss
        sleep 0.05
    done
    wait "$pid" || { cat "$WORK/out-$label.txt"; exit 1; }
    end=$(date +%s.%N)
    local single="-"
    if [ -f "$WORK/time-$label.txt" ]; then
        single=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$WORK/time-$label.txt")
    fi
    echo "$label $(echo "$end - $start" | bc) $peak $single"
}

med() { "$MEDIGAN" --offline --catalog "$CATALOG" "$@"; }

echo "preparing: legacy environment, then the conversion" >&2
med -q generate "$MODEL" -n 1 -o "$WORK/warm" --install-dependencies >/dev/null
t0=$(date +%s.%N)
med -q convert "$MODEL" -o "$WORK/native" --install-dependencies >/dev/null
t1=$(date +%s.%N)
echo "conversion (export + verification over 16 seeds): $(echo "$t1 - $t0" | bc) s" >&2

rows=()
rows+=("$(measure legacy "$MEDIGAN" -q --offline --catalog "$CATALOG" generate "$MODEL" -n "$N" -o "$WORK/legacy-out")")
for backend in ort tract; do
    rows+=("$(measure "native-$backend" "$MEDIGAN" -q --offline --catalog "$WORK/native/medigan.json" \
        --backend "$backend" generate "$MODEL" -n "$N" -o "$WORK/native-$backend")")
done

printf '\n%s PNGs of %s (64x64), %s\n\n' "$N" "$MODEL" "$(nproc) CPUs"
printf '| run | seconds | samples/s | peak RSS, process tree (MiB) | largest process (MiB) |\n'
printf '|---|---|---|---|---|\n'
for row in "${rows[@]}"; do
    read -r label secs peak single <<<"$row"
    rate=$(echo "scale=1; $N / $secs" | bc)
    single_mib="-"
    [ "$single" != "-" ] && single_mib=$(echo "scale=1; $single / 1024" | bc)
    printf '| %s | %.2f | %s | %s | %s |\n' "$label" "$secs" "$rate" \
        "$(echo "scale=1; $peak / 1024" | bc)" "$single_mib"
done
