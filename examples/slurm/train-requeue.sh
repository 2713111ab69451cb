#!/bin/bash
# Long training under a wall-clock limit: p2phd saves a resumable checkpoint
# and exits 75 when SLURM's warning signal arrives (or its own --time-limit
# passes); this script then requeues itself, and the next run resumes.
#
# Submit from the p2phd clone (or from a project with p2phd installed). SLURM
# opens the log file below before this script runs and fails the job when
# logs/ does not exist, so create it first:
#
#   mkdir -p logs
#   sbatch examples/slurm/train-requeue.sh global work/samples_512 runs/512p_feat --instance-feat
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
# latest.optim.safetensors alone: the first save was killed between its two
# renames; --resume finishes it.
if [ -f "$RUN/latest.safetensors" ] || [ -f "$RUN/latest.optim.safetensors" ]; then RESUME=(--resume); fi

# The signal must reach p2phd itself: `npx p2phd` would put npm's wrapper in
# between, which dies on SIGTERM without passing it on. So run the p2phd
# launcher (a node script) directly: $P2PHD if set, else the submit folder's
# node_modules/.bin/p2phd (p2phd installed as a dependency), else its
# bin/p2phd (a p2phd clone after `npm ci`), else p2phd on PATH (`npm link`).
SUBMIT=${SLURM_SUBMIT_DIR:-$PWD}
P2PHD=${P2PHD:-}
if [ -z "$P2PHD" ]; then
  for candidate in "$SUBMIT/node_modules/.bin/p2phd" "$SUBMIT/bin/p2phd"; do
    if [ -x "$candidate" ]; then P2PHD=$candidate; break; fi
  done
fi
if [ -z "$P2PHD" ]; then
  P2PHD=$(command -v p2phd) || {
    echo "p2phd not found: submit from the p2phd clone (after npm ci) or from a project that installed p2phd, run npm link in the clone, or set P2PHD" >&2
    exit 2
  }
fi

# --signal=B: delivers SIGTERM to this batch shell only: pass it on to p2phd,
# which finishes its step, saves, and exits 75. The trap is set before p2phd
# starts, so no signal falls between the two.
child=
signals=0
trap 'signals=$((signals + 1)); [ -n "$child" ] && kill -TERM "$child" 2>/dev/null' TERM INT
"$P2PHD" train "$STAGE" --data "$DATA" --out "$RUN" "${RESUME[@]}" "$@" &
child=$!
[ "$signals" -gt 0 ] && kill -TERM "$child" 2>/dev/null  # a signal that came before p2phd started
# A trapped signal interrupts `wait` (status > 128): wait again for p2phd's own exit code.
seen=0
while :; do
  wait "$child"; code=$?
  if [ "$signals" -gt "$seen" ] && [ "$code" -gt 128 ]; then seen=$signals; else break; fi
done

if [ "$code" -eq 75 ]; then
  echo "p2phd stopped with a resumable checkpoint; requeueing job $SLURM_JOB_ID"
  scontrol requeue "$SLURM_JOB_ID"
  exit 0
fi
exit "$code"
