#!/usr/bin/env bash
# Run an experiment on a Slurm cluster: a job array over shards and a dependent merge job.
#
#   scripts/slurm/submit.sh EXPERIMENT [PROFILE] [SHARDS]
#
# EXPERIMENT is a file or a name in Experiments/ (e.g. comparison); PROFILE quick|full (default:
# none given, which is quick for a file with profiles; "" for a file without); SHARDS the number of
# array tasks (default 8). Each task runs
#   fym-bench run EXPERIMENT --profile PROFILE --shard $SLURM_ARRAY_TASK_ID/SHARDS
# and writes Results/<experiment>/shards/<i>-of-<N>.json; the merge job then writes rows.csv,
# per_frame.csv, full_info.json, tables/ and figures/ exactly as one unsharded run would.
# Run from the repository root on a shared filesystem (the stage cache Results/.cache is shared,
# so clips prepared or flows computed by one task are reused by the others).
# Environment: FYM_BENCH (binary, default .build/release/fym-bench), RESULTS (default Results),
# CPUS (per task, default 4), TIME (per task, default 04:00:00), PARTITION (optional), LOGS (folder
# of the jobs' output files, default .). FYM_DATA and the rest of the environment reach the jobs
# (sbatch exports it). Cluster-side requirements: the repository, the built binary, the data root
# and RESULTS on a filesystem every node mounts at the same path; Debian/Ubuntu nodes with
# libopenblas, libpng and gnuplot (the merge job draws the figures); no GPU.
# scripts/slurm/test-cluster.sh starts a one-node cluster on this machine and runs this script.
set -euo pipefail
experiment=${1:?usage: submit.sh EXPERIMENT [PROFILE] [SHARDS]}
profile=${2:-}
shards=${3:-8}
bin=${FYM_BENCH:-.build/release/fym-bench}
results=${RESULTS:-Results}
file=$experiment
[ -f "$file" ] || file="Experiments/${experiment%.yaml}.yaml"
name=$(sed -n 's/^name:[[:space:]]*//p' "$file" | head -1 | tr -d '"'"'"'')
[ -n "$name" ] || { echo "no 'name:' in $file" >&2; exit 1; }
[ -x "$bin" ] || { echo "build first: swift build -c release (or make demo); no $bin" >&2; exit 1; }
partition=()
[ -n "${PARTITION:-}" ] && partition=(--partition "$PARTITION")
profile_option=""
[ -n "$profile" ] && profile_option="--profile $profile"
logs=${LOGS:-.}
array=$(sbatch --parsable "${partition[@]}" --array="0-$((shards - 1))" --job-name="fym-$name" \
  --cpus-per-task="${CPUS:-4}" --time="${TIME:-04:00:00}" --output="$logs/slurm-fym-$name-%A_%a.out" \
  --wrap "$bin run $file $profile_option --jobs ${CPUS:-4} --shard \$SLURM_ARRAY_TASK_ID/$shards --results $results")
merge=$(sbatch --parsable "${partition[@]}" --dependency="afterok:$array" --job-name="fym-$name-merge" \
  --cpus-per-task=1 --time=00:30:00 --output="$logs/slurm-fym-$name-merge-%j.out" \
  --wrap "$bin merge $results/$name")
echo "submitted array $array ($shards shards of $name, profile ${profile:-default}) and merge job $merge"
