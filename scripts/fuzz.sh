#!/usr/bin/env bash
# Runs the fuzz targets of fuzz/ (cargo-fuzz, nightly), each for SECONDS (default 600), one after
# the other; a crash, hang or allocation past the limits stops that target and leaves the input
# in fuzz/artifacts/TARGET/. Not part of CI (too long).
#
#   scripts/fuzz.sh                 # every target, 10 minutes each
#   scripts/fuzz.sh 60 catalog pth  # these targets, one minute each
#
# Needs: `rustup toolchain install nightly` and `cargo install cargo-fuzz`. Builds without a
# sanitizer (`-s none`: panics, hangs and memory are what is looked for, and the build is much
# faster); the target dir is $CARGO_TARGET_DIR, else fuzz/target.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds="${1:-600}"
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  targets=(catalog package_zip pth fid_images viz_request run_record)
fi

cargo +nightly fuzz build -s none --fuzz-dir fuzz "${targets[@]/#/}" 2>/dev/null \
  || for t in "${targets[@]}"; do cargo +nightly fuzz build -s none --fuzz-dir fuzz "$t"; done

for target in "${targets[@]}"; do
  echo "== $target: ${seconds}s"
  # The seeds are committed in fuzz/corpus/TARGET; what the run adds goes to a scratch folder.
  scratch="$(mktemp -d)"
  cargo +nightly fuzz run -s none --fuzz-dir fuzz "$target" "$scratch" "fuzz/corpus/$target" -- \
    -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=1048576 -print_final_stats=1
  rm -rf "$scratch"
done
