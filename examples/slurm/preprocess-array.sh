#!/bin/bash
# Preprocess a large dataset as a job array: each task takes every COUNT-th
# input (sorted order) starting at its index, so the array covers every input
# once. Outputs are atomic, so a failed task is simply resubmitted.
#
# SLURM fails the job when the log folder (logs/, below) does not exist:
#   mkdir -p logs
#   sbatch --array=0-15 examples/slurm/preprocess-array.sh /data/cityscapes /scratch/samples_512
#SBATCH --job-name=p2phd-preprocess
#SBATCH --cpus-per-task=2
#SBATCH --mem=4G
#SBATCH --time=01:00:00
#SBATCH --output=logs/%x-%A_%a.out
set -euo pipefail
DATAROOT=${1:?usage: preprocess-array.sh DATAROOT OUT}
OUT=${2:?usage: preprocess-array.sh DATAROOT OUT}
npx p2phd preprocess --dataroot "$DATAROOT" --phase train --label-nc 35 \
  --resize-or-crop scale_width --load-size 1024 --out "$OUT" \
  --shard "${SLURM_ARRAY_TASK_ID}/${SLURM_ARRAY_TASK_COUNT}"
