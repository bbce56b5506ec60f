#!/usr/bin/env bash
# Runs every test of the project, in three stages that each print what they do and how long they
# took: (1) build the Rust workspace's tests, (2) run them (unit, integration, CLI end to end),
# (3) the Python bindings' pytest suite (scripts/test_python.sh: builds medigan_rs into a venv,
# sharing this script's cargo target folder so the core is not compiled twice, or installs
# $MEDIGAN_PY_WHEEL). Ends with the list of every check that was skipped because something from
# outside Rust is missing, and why: the tests report skips to the file $MEDIGAN_SKIP_LOG
# (medigan_testkit::skip, bindings/python/tests/conftest.py), since cargo hides the output of
# passing tests. With CI=true a skip CI should not have fails. Fails too when the tests changed
# the working tree (`git status --porcelain` differs before and after): tests write only into
# temporary folders.
#
# Needs the Rust toolchain and python3 (with the venv module); the reference material is in the
# repository (reference catalogue and search cases). Nothing else: numpy, onnxruntime, pydicom,
# a browser and so on make more checks run; without them those checks are listed as skipped.
set -uo pipefail
cd "$(dirname "$0")/.."

skip_log="$(mktemp "${TMPDIR:-/tmp}/medigan-skips.XXXXXX")"
trap 'rm -f "$skip_log"' EXIT
export MEDIGAN_SKIP_LOG="$skip_log"
# One target folder for the workspace and the Python bindings (their shared dependencies are
# compiled once).
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"

started=$SECONDS
stage_started=$SECONDS
clock() { local s=$((SECONDS - $1)); printf '%dm%02ds' $((s / 60)) $((s % 60)); }
stage() {
  stage_started=$SECONDS
  echo
  echo "== [$(clock "$started")] $*"
}
stage_done() { echo "== $1: $(clock "$stage_started")"; }

tree_state() { git status --porcelain --untracked-files=all 2>/dev/null; }
in_git=false
git rev-parse --is-inside-work-tree >/dev/null 2>&1 && in_git=true
before="$(tree_state)"

failed=()
stage "1/3 build: the Rust workspace's tests (cargo test --no-run; a cold build takes most of the time)"
cargo test --workspace --all-targets --no-run \
  || failed+=("the build of the Rust tests (cargo test --workspace --all-targets --no-run)")
stage_done "build"

stage "2/3 Rust tests: every test binary (the zoo and legacy ones start Python and torch)"
# --no-fail-fast: every failing test binary is reported, not only the first.
cargo test --workspace --all-targets --no-fail-fast \
  || failed+=("the Rust tests (cargo test --workspace --all-targets)")
stage_done "Rust tests"

stage "3/3 Python suite: medigan_rs into a venv, then pytest (scripts/test_python.sh)"
bash scripts/test_python.sh -rs || failed+=("the Python tests (scripts/test_python.sh)")
stage_done "Python suite"

if $in_git; then
  after="$(tree_state)"
  if [ "$before" != "$after" ]; then
    echo
    echo "== the tests changed the working tree (git status --porcelain before / after):"
    diff <(printf '%s\n' "$before") <(printf '%s\n' "$after")
    failed+=("the tests wrote into the working tree (see the diff above): tests must write only into temporary folders")
  fi
fi

echo
if [ -s "$skip_log" ]; then
  echo "== skipped checks ($(sort -u "$skip_log" | wc -l)): install what they name to run them"
  sort -u "$skip_log"
else
  echo "== skipped checks: none"
fi
echo "== total: $(clock "$started")"
if [ ${#failed[@]} -gt 0 ]; then
  printf 'FAILED: %s\n' "${failed[@]}" >&2
  exit 1
fi
echo "== all tests passed"
