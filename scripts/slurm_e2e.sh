#!/usr/bin/env bash
# A real Slurm run of examples/slurm/medigan-array.sbatch, end to end, on this machine.
#
# Installs Slurm and munge from the Debian packages (slurm-wlm, munge) if missing, starts a
# single-node cluster by hand (munged, slurmctld, slurmd; no systemd) from a generated
# slurm.conf, submits the example array (4 tasks) for 400 samples of the bundled model, waits,
# runs `medigan dataset verify`, and checks that the union of the shards equals an unsharded
# run file for file and by root digest. Needs root (apt, munged, slurmd). Idempotent: it
# stops daemons a previous run of it left behind (by their pid files), starts from an empty
# work folder, and stops the daemons it started on exit.
#
#   sudo bash scripts/slurm_e2e.sh                 # builds the debug binary if needed
#   MEDIGAN_BIN=target/release/medigan sudo -E bash scripts/slurm_e2e.sh
#
# Settings: MEDIGAN_BIN (the binary), SLURM_E2E_DIR (work folder, default
# /tmp/medigan-slurm-e2e), SLURM_E2E_SAMPLES (400), SLURM_E2E_TASKS (4), SLURM_E2E_PORT
# (slurmctld's port; slurmd uses the next one; default 16817), SLURM_E2E_TIMEOUT (seconds to
# wait for the array, default 600), SLURM_E2E_PACK (samples per tar: the array and the unsharded
# run write `--pack tar` shards of that many samples; the root digest is left in
# $SLURM_E2E_DIR/root_sha256 for scripts/four_engines.sh).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
work=${SLURM_E2E_DIR:-/tmp/medigan-slurm-e2e}
samples=${SLURM_E2E_SAMPLES:-400}
tasks=${SLURM_E2E_TASKS:-4}
port=${SLURM_E2E_PORT:-16817}
timeout=${SLURM_E2E_TIMEOUT:-600}
pack=()
files='*.png'
if [[ -n ${SLURM_E2E_PACK:-} ]]; then
    pack=(--pack tar --samples-per-shard "$SLURM_E2E_PACK")
    files='*.tar'
fi

say() { printf '[slurm_e2e] %s\n' "$*"; }
fail() { printf '[slurm_e2e] FAILED: %s\n' "$*" >&2; exit 1; }

[[ $(id -u) -eq 0 ]] || fail "run as root (it installs packages and starts munged and slurmd)"
case $work in /|/tmp|/tmp/|"") fail "SLURM_E2E_DIR=$work is not a folder of its own";; esac

# --- the medigan binary -------------------------------------------------------------------
if [[ -z ${MEDIGAN_BIN:-} ]]; then
    say "building the debug binary"
    (cd "$root" && cargo build -q -p medigan-cli)
    MEDIGAN_BIN="${CARGO_TARGET_DIR:-$root/target}/debug/medigan"
fi
MEDIGAN_BIN=$(realpath "$MEDIGAN_BIN")
[[ -x $MEDIGAN_BIN ]] || fail "no medigan binary at $MEDIGAN_BIN"
export MEDIGAN_BIN

# --- Slurm and munge from Debian ------------------------------------------------------------
if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null \
    || ! command -v munged >/dev/null; then
    say "installing slurm-wlm and munge"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends slurm-wlm munge >/dev/null
fi
say "$(slurmctld -V), $(munged -V 2>&1 | head -n1)"

# --- a clean work folder; daemons of an earlier run stopped ----------------------------------
stop_pidfile() {
    local file=$1 pid
    [[ -f $file ]] || return 0
    pid=$(cat "$file")
    if [[ $pid =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null; then
        kill "$pid" 2>/dev/null || true
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    fi
    rm -f "$file"
}
for daemon in slurmd slurmctld munged; do stop_pidfile "$work/run/$daemon.pid"; done
rm -rf "$work"
mkdir -p "$work"/{etc,run,log,state,spool,munge,logs,home}
chmod 755 "$work"

cleanup() {
    local status=$?
    for daemon in slurmd slurmctld munged; do stop_pidfile "$work/run/$daemon.pid"; done
    if [[ $status -ne 0 ]]; then
        say "logs of the daemons (last lines):"
        tail -n 15 "$work"/log/*.log 2>/dev/null || true
    fi
    exit "$status"
}
trap cleanup EXIT

# --- munged on a socket of its own ------------------------------------------------------------
socket="$work/munge/munge.socket"
if [[ ! -s /etc/munge/munge.key ]]; then
    say "creating a munge key"
    if command -v mungekey >/dev/null; then mungekey --create --force; else
        dd if=/dev/urandom of=/etc/munge/munge.key bs=1 count=1024 status=none; fi
    chown munge:munge /etc/munge/munge.key
    chmod 400 /etc/munge/munge.key
fi
chown munge:munge "$work/munge"
runuser -u munge -- /usr/sbin/munged --socket="$socket" --pid-file="$work/munge/munged.pid" \
    --log-file="$work/munge/munged.log" --seed-file="$work/munge/munged.seed"
for _ in $(seq 50); do [[ -S $socket ]] && break; sleep 0.1; done
[[ -S $socket ]] || fail "munged did not start (see $work/munge/munged.log)"
cp "$work/munge/munged.pid" "$work/run/munged.pid"

# --- a single-node cluster ------------------------------------------------------------------
export SLURM_CONF="$work/etc/slurm.conf"
cat >"$SLURM_CONF" <<EOF
ClusterName=medigan-e2e
SlurmctldHost=localhost
SlurmctldPort=$port
SlurmdPort=$((port + 1))
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$socket
StateSaveLocation=$work/state
SlurmdSpoolDir=$work/spool
SlurmctldPidFile=$work/run/slurmctld.pid
SlurmdPidFile=$work/run/slurmd.pid
SlurmctldLogFile=$work/log/slurmctld.log
SlurmdLogFile=$work/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SchedulerType=sched/backfill
MpiDefault=none
ReturnToService=2
JobCompType=jobcomp/none
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
MailProg=/bin/true
NodeName=localhost NodeAddr=127.0.0.1 CPUs=2 RealMemory=1000 State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
EOF
say "starting slurmctld and slurmd (ports $port, $((port + 1)))"
slurmctld -c -f "$SLURM_CONF"
slurmd -f "$SLURM_CONF" -N localhost
state=""
for _ in $(seq 120); do
    state=$(sinfo -h -n localhost -o %t 2>/dev/null || true)
    [[ $state == idle* ]] && break
    if [[ $state == down* || $state == drain* ]]; then
        scontrol update nodename=localhost state=resume 2>/dev/null || true
    fi
    sleep 0.5
done
[[ $state == idle* ]] || fail "the node is not idle (state: ${state:-none})"
say "cluster up: $(sinfo -h -o '%P %D %t %c')"

# --- the example array ------------------------------------------------------------------------
export MEDIGAN_HOME="$work/home" MEDIGAN_OFFLINE=1
out="$work/out"
say "sbatch --array=0-$((tasks - 1)) examples/slurm/medigan-array.sbatch 00900 $samples $out"
started=$(date +%s)
job=$(sbatch --parsable --wait --array="0-$((tasks - 1))" --chdir="$work" \
    --output="$work/logs/%A_%a.out" --time=10 \
    "$root/examples/slurm/medigan-array.sbatch" 00900 "$samples" "$out" 7 "${pack[@]}") \
    || fail "the array failed: $(tail -n 5 "$work"/logs/*.out 2>/dev/null)"
job=${job%%;*}
say "array job $job finished in $(( $(date +%s) - started )) s"
for log in "$work"/logs/*.out; do
    say "$(basename "$log"): $(tr '\n' ' ' <"$log")"
done
manifests=$(find "$out" -maxdepth 1 -name 'manifest-shard-*-of-*.jsonl' | wc -l)
[[ $manifests -eq $tasks ]] || fail "expected $tasks shard manifests, found $manifests"

# --- verify, merge, compare with an unsharded run -----------------------------------------------
say "medigan dataset verify $out"
"$MEDIGAN_BIN" dataset verify "$out" || fail "dataset verify found problems"
whole="$work/whole"
say "unsharded run of the same $samples samples"
"$MEDIGAN_BIN" --quiet generate 00900 -n "$samples" --seed 7 -o "$whole" "${pack[@]}" >/dev/null
sums() { (cd "$1" && find . -maxdepth 1 -name "$files" -printf '%f\n' | sort | xargs sha256sum); }
if ! diff <(sums "$out") <(sums "$whole") >/dev/null; then
    fail "the shards differ from the unsharded run"
fi
say "the union of the shards equals the unsharded run: $(sums "$out" | wc -l) files, byte for byte"
sharded_root=$("$MEDIGAN_BIN" --json dataset merge "$out" | sed -n 's/.*"root_sha256": "\(.*\)".*/\1/p')
whole_root=$("$MEDIGAN_BIN" --json dataset merge "$whole" | sed -n 's/.*"root_sha256": "\(.*\)".*/\1/p')
[[ -n $sharded_root && $sharded_root == "$whole_root" ]] \
    || fail "root digests differ: sharded $sharded_root, unsharded $whole_root"
say "root sha256 of both: $sharded_root"
echo "$sharded_root" >"$work/root_sha256"
say "PASSED"
