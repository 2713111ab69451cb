#!/bin/bash
# Long training under a wall-clock limit: p2phd saves a resumable checkpoint
# and exits 75 when SLURM's warning signal arrives (or its own --time-limit
# passes); this script then requeues itself, and the next run resumes.
#
#   sbatch examples/slurm/train-requeue.sh global work/samples_512 work/runs/512p_feat --instance-feat
#SBATCH --job-name=p2phd-train
#SBATCH --cpus-per-task=4
#SBATCH --gres=gpu:1
#SBATCH --mem=32G
#SBATCH --time=24:00:00
#SBATCH --requeue
#SBATCH --open-mode=append
#SBATCH --signal=B:TERM@600
#SBATCH --output=logs/%x-%j.out
set -uo pipefail
STAGE=${1:?usage: train-requeue.sh STAGE DATA RUN_DIR [more train flags]}
DATA=${2:?}
RUN=${3:?}
shift 3
RESUME=()
[ -f "$RUN/latest.safetensors" ] && RESUME=(--resume)

# --signal=B: delivers SIGTERM to this batch shell only: pass it on to p2phd,
# which finishes its step, saves, and exits 75.
npx p2phd train "$STAGE" --data "$DATA" --out "$RUN" "${RESUME[@]}" "$@" &
child=$!
trap 'kill -TERM "$child" 2>/dev/null' TERM INT
wait "$child"; code=$?
# A trapped signal interrupts `wait`: wait again for p2phd's own exit code.
while kill -0 "$child" 2>/dev/null; do wait "$child"; code=$?; done

if [ "$code" -eq 75 ]; then
  echo "p2phd stopped with a resumable checkpoint; requeueing job $SLURM_JOB_ID"
  scontrol requeue "$SLURM_JOB_ID"
  exit 0
fi
exit "$code"
