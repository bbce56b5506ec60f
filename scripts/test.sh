#!/usr/bin/env bash
# Runs every test of the project: the Rust workspace (unit, integration, CLI end to end), then
# the Python bindings' pytest suite (scripts/test_python.sh: builds and installs medigan_rs into
# its own venv, or installs $MEDIGAN_PY_WHEEL). Ends with the list of every check that was
# skipped because something from outside Rust is missing, and why: the tests report skips to
# the file $MEDIGAN_SKIP_LOG (medigan_testkit::skip, bindings/python/tests/conftest.py), since
# cargo hides the output of passing tests. With CI=true a skip CI should not have fails.
#
# Needs the Rust toolchain and python3 (with the venv module); the reference material is in the
# repository (reference catalogue and search cases). Nothing else: numpy, onnxruntime, pydicom,
# a browser and so on make more checks run; without them those checks are listed as skipped.
set -uo pipefail
cd "$(dirname "$0")/.."

skip_log="$(mktemp "${TMPDIR:-/tmp}/medigan-skips.XXXXXX")"
trap 'rm -f "$skip_log"' EXIT
export MEDIGAN_SKIP_LOG="$skip_log"

failed=()
# --no-fail-fast: every failing test binary is reported, not only the first.
cargo test --workspace --all-targets --no-fail-fast || failed+=("the Rust tests (cargo test --workspace --all-targets)")
bash scripts/test_python.sh -rs || failed+=("the Python tests (scripts/test_python.sh)")

echo
if [ -s "$skip_log" ]; then
  echo "== skipped checks ($(sort -u "$skip_log" | wc -l)): install what they name to run them"
  sort -u "$skip_log"
else
  echo "== skipped checks: none"
fi
if [ ${#failed[@]} -gt 0 ]; then
  printf 'FAILED: %s\n' "${failed[@]}" >&2
  exit 1
fi
echo "== all tests passed"
