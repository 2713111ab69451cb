#!/bin/bash
# Synthesize many label maps as a job array (one model load per task).
#
#   sbatch --array=0-7 examples/slurm/synthesize-array.sh runs/512p_feat '/data/cityscapes/test_label/*.png' '/data/cityscapes/test_inst/*.png' results/
#SBATCH --job-name=p2phd-synthesize
#SBATCH --cpus-per-task=2
#SBATCH --mem=8G
#SBATCH --time=02:00:00
#SBATCH --output=logs/%x-%A_%a.out
set -euo pipefail
RUN=${1:?usage: synthesize-array.sh RUN_DIR LABEL_GLOB INSTANCE_GLOB OUT}
LABELS=${2:?}
INSTANCES=${3:?}
OUT=${4:?}
STYLE=()
[ -f "$RUN/clusters.safetensors" ] && STYLE=(--clusters "$RUN/clusters.safetensors" --style random)
npx p2phd synthesize --checkpoint "$RUN" --labels "$LABELS" --instances "$INSTANCES" \
  "${STYLE[@]}" --seed 1 --out "$OUT" \
  --shard "${SLURM_ARRAY_TASK_ID}/${SLURM_ARRAY_TASK_COUNT}"
