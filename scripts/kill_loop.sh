#!/usr/bin/env bash
# Kills `medigan generate` at random moments (SIGKILL, SIGTERM, SIGINT), resumes it with
# --resume, and checks the folder is byte-identical to an uninterrupted run, every time.
# Usage: scripts/kill_loop.sh [KILLS] [SEED]     (default 60 kills, a time-based seed)
set -euo pipefail
cd "$(dirname "$0")/.."
export MEDIGAN_KILL_LOOP_KILLS="${1:-60}"
if [[ -n "${2:-}" ]]; then export MEDIGAN_KILL_LOOP_SEED="$2"; fi
exec cargo test -p medigan-cli --test resume killed_at_random_moments -- --nocapture
