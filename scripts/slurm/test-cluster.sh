#!/usr/bin/env bash
# Runs an experiment through scripts/slurm/submit.sh on a single-node Slurm cluster started here
# and stopped again: Debian's slurm-wlm and munge, daemons started by this script with a private
# munge key, socket and state folder (no systemd, no cgroups, nothing in /etc), then every daemon
# it started is stopped by PID.
#
#   scripts/slurm/test-cluster.sh STATE_DIR EXPERIMENT [PROFILE] [SHARDS]
#
# STATE_DIR must not exist (it holds the cluster's config, keys, logs and spool). Run from the
# repository root, with FYM_BENCH, RESULTS and FYM_DATA as submit.sh takes them. Waits for the
# array and the merge job; exits 0 when both completed, 77 when slurm-wlm or munge is not
# installed, 1 otherwise (the daemons' and jobs' logs are in STATE_DIR).
set -euo pipefail
state=${1:?usage: test-cluster.sh STATE_DIR EXPERIMENT [PROFILE] [SHARDS]}
experiment=${2:?usage: test-cluster.sh STATE_DIR EXPERIMENT [PROFILE] [SHARDS]}
profile=${3:-}
shards=${4:-2}
for tool in munged slurmctld slurmd sbatch squeue scontrol; do
  command -v "$tool" >/dev/null 2>&1 || [ -x "/usr/sbin/$tool" ] || { echo "skipped: $tool is not installed (apt-get install slurm-wlm munge)" >&2; exit 77; }
done
export PATH="$PATH:/usr/sbin"
[ ! -e "$state" ] || { echo "$state exists; give a new folder" >&2; exit 1; }
mkdir -p "$state"/{spool,ctld,log,munge}
state=$(cd "$state" && pwd)
pids=()
stop() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
  done
}
trap stop EXIT

# munge: a private key, socket and PID file.
head -c 1024 /dev/urandom > "$state/munge/munge.key"
chmod 700 "$state/munge"; chmod 400 "$state/munge/munge.key"
munged --force --key-file="$state/munge/munge.key" --socket="$state/munge/munge.socket" \
  --pid-file="$state/munge/munged.pid" --log-file="$state/log/munged.log" --seed-file="$state/munge/munged.seed"
for _ in $(seq 50); do [ -s "$state/munge/munged.pid" ] && break; sleep 0.1; done
pids+=("$(cat "$state/munge/munged.pid")")

# Two free TCP ports for slurmctld and slurmd.
read -r ctld_port slurmd_port < <(python3 -c 'import socket
s=[socket.socket() for _ in range(2)]
[x.bind(("127.0.0.1",0)) for x in s]
print(*[x.getsockname()[1] for x in s])')
host=$(hostname -s)
cpus=$(nproc)
memory=$(awk '/MemTotal/ {print int($2/1024/2)}' /proc/meminfo)
user=$(id -un)
cat > "$state/slurm.conf" <<EOF
ClusterName=fymtest
SlurmctldHost=$host(127.0.0.1)
SlurmUser=$user
SlurmdUser=$user
SlurmctldPort=$ctld_port
SlurmdPort=$slurmd_port
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$state/munge/munge.socket
StateSaveLocation=$state/ctld
SlurmdSpoolDir=$state/spool
SlurmctldPidFile=$state/slurmctld.pid
SlurmdPidFile=$state/slurmd.pid
SlurmctldLogFile=$state/log/slurmctld.log
SlurmdLogFile=$state/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
SchedulerParameters=batch_sched_delay=0
JobCompType=jobcomp/none
AccountingStorageType=accounting_storage/none
MpiDefault=none
ReturnToService=2
SlurmdTimeout=30
InactiveLimit=0
KillWait=5
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$memory State=UNKNOWN
PartitionName=test Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF
export SLURM_CONF="$state/slurm.conf"
slurmctld -f "$SLURM_CONF"
for _ in $(seq 100); do [ -s "$state/slurmctld.pid" ] && break; sleep 0.1; done
pids+=("$(cat "$state/slurmctld.pid")")
slurmd -f "$SLURM_CONF"
for _ in $(seq 100); do [ -s "$state/slurmd.pid" ] && break; sleep 0.1; done
pids+=("$(cat "$state/slurmd.pid")")
for _ in $(seq 100); do
  scontrol show node "$host" 2>/dev/null | grep -q "State=IDLE" && break; sleep 0.2
done
scontrol show node "$host" | grep -q "State=IDLE" || { echo "the node did not come up; see $state/log" >&2; exit 1; }

# Submit, then wait for every job of ours to leave the queue.
out=$(LOGS="$state/log" CPUS=1 TIME=00:20:00 scripts/slurm/submit.sh "$experiment" "$profile" "$shards")
echo "$out"
array=$(echo "$out" | sed -n 's/^submitted array \([0-9]*\).*/\1/p')
merge=$(echo "$out" | sed -n 's/.*merge job \([0-9]*\)$/\1/p')
for _ in $(seq 1800); do
  [ -z "$(squeue --noheader --jobs "$array,$merge" 2>/dev/null)" ] && break; sleep 0.2
done
state_of() { scontrol show job "$1" 2>/dev/null | sed -n 's/.*JobState=\([A-Z_]*\).*/\1/p' | sort -u | tr '\n' ' '; }
echo "array $array: $(state_of "$array"); merge $merge: $(state_of "$merge")"
[ "$(state_of "$merge")" = "COMPLETED " ] || { echo "the merge job did not complete; see slurm-fym-*.out and $state/log" >&2; exit 1; }
