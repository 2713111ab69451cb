#!/bin/bash
# Synthesize many label maps as a job array (one model load per task).
# Arguments after OUT go to p2phd synthesize. Give the maps at the scale the
# model trained at: the 512p G1 trained on 1024-wide samples, so Cityscapes'
# 2048x1024 maps are resized with --load-size 1024 (the 1024p model takes them
# as they are).
#
# SLURM fails the job when the log folder (logs/, below) does not exist:
#   mkdir -p logs
#   sbatch --array=0-7 examples/slurm/synthesize-array.sh runs/512p_feat '/data/cityscapes/test_label/*.png' '/data/cityscapes/test_inst/*.png' results/ --load-size 1024
#SBATCH --job-name=p2phd-synthesize
#SBATCH --cpus-per-task=2
#SBATCH --mem=8G
#SBATCH --time=02:00:00
#SBATCH --output=logs/%x-%A_%a.out
set -euo pipefail
RUN=${1:?usage: synthesize-array.sh RUN_DIR LABEL_GLOB INSTANCE_GLOB OUT [synthesize flags...]}
LABELS=${2:?}
INSTANCES=${3:?}
OUT=${4:?}
shift 4
STYLE=()
[ -f "$RUN/clusters.safetensors" ] && STYLE=(--clusters "$RUN/clusters.safetensors" --style random)
npx p2phd synthesize --checkpoint "$RUN" --labels "$LABELS" --instances "$INSTANCES" \
  "${STYLE[@]}" --seed 1 --out "$OUT" "$@" \
  --shard "${SLURM_ARRAY_TASK_ID}/${SLURM_ARRAY_TASK_COUNT}"
