#!/usr/bin/env bash
# check-reference-preprocess.sh: `p2phd preprocess` against the reference's
# own preprocessing (pix2pixHD's AlignedDataset: real PIL NEAREST for label
# and instance maps, BICUBIC for photos, the model's get_edges), on real data.
# A dev/bench check, NOT part of `npm test` (CI has no PIL).
#
# Usage:
#   scripts/check-reference-preprocess.sh                      # the reference's 8 Cityscapes train triples, all modes
#   scripts/check-reference-preprocess.sh DATAROOT             # your Cityscapes-layout folder, all modes
#   scripts/check-reference-preprocess.sh DATAROOT -- FLAGS..  # one run with these preprocess flags, e.g.
#       scripts/check-reference-preprocess.sh ~/cityscapes -- --phase train --label-nc 35 --load-size 512
#
# DATAROOT has <phase>_label, <phase>_inst, <phase>_img (the reference's
# layout). Without one, datasets/cityscapes is extracted from the reference's
# git repository ($P2PHD_REFERENCE_REPO, default
# /work/.mirror/NVIDIA+pix2pixHD/repo) into a temporary folder. The default
# matrix: --load-size 512 (the issue's command) and 1024 (the default),
# resize_and_crop, scale_width_and_crop, crop, none, a non-integer ratio
# (777), an enlargement (3000), the test phase (no photos), and `none` on
# 1000x504 crops (sizes rounded to multiples of 16, ties to even, and of 32).
#
# Per pair and tensor it prints: label, inst, edges equal bit for bit or not;
# image mean / max absolute difference in grey levels and the share of
# differing values. Exits 1 when a map differs or a photo's mean absolute
# difference exceeds 2 grey levels (P2PHD_MAX_IMAGE_MAD), 2 on setup errors.
#
# Needs /usr/bin/python3 with PIL and numpy (Debian's; override with
# $PYTHON), plus torch for the extra cross-check: when the reference's source
# is at hand ($P2PHD_REFERENCE_SRC: a folder with its data/ models/ util/, or
# extracted from $P2PHD_REFERENCE_REPO), scripts/reference_preprocess.py also
# runs the reference's own AlignedDataset and get_edges and requires them to
# agree exactly with its PIL reproduction. Nothing is written in the repo.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(dirname "$here")"
python="${PYTHON:-/usr/bin/python3}"
reference_repo="${P2PHD_REFERENCE_REPO:-/work/.mirror/NVIDIA+pix2pixHD/repo}"
max_mad="${P2PHD_MAX_IMAGE_MAD:-2}"

"$python" -c 'import PIL, numpy' 2>/dev/null || { echo "$python lacks PIL or numpy (set PYTHON)" >&2; exit 2; }

work="$(mktemp -d "${TMPDIR:-/tmp}/p2phd-refcheck.XXXXXX")"
trap 'rm -rf "$work"' EXIT

dataroot=""
if [[ $# -gt 0 && "$1" != "--" ]]; then dataroot="$1"; shift; fi
single=()
if [[ $# -gt 0 ]]; then
  [[ "$1" == "--" ]] || { echo "usage: $0 [DATAROOT [-- PREPROCESS FLAGS...]]" >&2; exit 2; }
  shift
  single=("$@")
fi

have_repo=0
git -C "$reference_repo" rev-parse --verify -q HEAD >/dev/null 2>&1 && have_repo=1

if [[ -z "$dataroot" ]]; then
  [[ $have_repo == 1 ]] || { echo "no DATAROOT given and no reference repository at $reference_repo" >&2; exit 2; }
  dataroot="$work/cityscapes"
  mkdir -p "$dataroot"
  # Per folder: a pathspec archive of the whole tree trips over objects this mirror lacks.
  for dir in train_label train_inst train_img test_label test_inst; do
    git -C "$reference_repo" archive --prefix="$dir/" "HEAD:datasets/cityscapes/$dir" | tar -x -C "$dataroot"
  done
fi
[[ -d "$dataroot" ]] || { echo "$dataroot: no such folder" >&2; exit 2; }

reference_src="${P2PHD_REFERENCE_SRC:-}"
if [[ -z "$reference_src" && $have_repo == 1 ]] && "$python" -c 'import torch' 2>/dev/null; then
  reference_src="$work/reference-src"
  mkdir -p "$reference_src"
  for dir in data models util; do
    git -C "$reference_repo" archive --prefix="$dir/" "HEAD:$dir" | tar -x -C "$reference_src"
  done
fi
ref_args=()
if [[ -n "$reference_src" ]]; then ref_args=(--reference-src "$reference_src"); else echo "note: no reference source (or no torch): checking against the PIL reproduction only" >&2; fi

(cd "$root" && npm run --silent build)

failed=0
run=0
# check NAME DATAROOT FLAGS...: preprocess with FLAGS, then compare.
check() {
  local name="$1" data="$2"; shift 2
  run=$((run + 1))
  local out="$work/out-$run"
  echo "== $name: p2phd preprocess --dataroot $data $*"
  local started=$SECONDS
  if ! "$root/bin/p2phd" preprocess --dataroot "$data" "$@" --out "$out" >/dev/null 2>"$work/stderr"; then
    echo "FAIL p2phd preprocess exited non-zero:"; cat "$work/stderr"; failed=1; return
  fi
  echo "   (p2phd took $((SECONDS - started)) s)"
  # The comparison takes the flags it understands; --fine-size only matters to training's crop.
  local py_flags=() skip=0 flag
  for flag in "$@"; do
    if [[ $skip == 1 ]]; then skip=0; continue; fi
    case "$flag" in
      --fine-size|--jobs|--shard) skip=1 ;;
      --fine-size=*|--jobs=*|--shard=*|--onehot) ;;
      *) py_flags+=("$flag") ;;
    esac
  done
  local status=0
  "$python" "$here/reference_preprocess.py" --samples "$out" --dataroot "$data" --max-image-mad "$max_mad" \
    ${ref_args[@]+"${ref_args[@]}"} "${py_flags[@]}" 2> >(grep -v -e 'UserWarning: The given NumPy array is not writable' -e 'torch.from_numpy' >&2) || status=$?
  [[ $status == 0 ]] || failed=1
  [[ $status -le 1 ]] || echo "FAIL the comparison could not run (exit $status)"
  rm -rf "$out"
}

if [[ ${#single[@]} -gt 0 ]]; then
  check "as given" "$dataroot" "${single[@]}"
else
  check "the issue's command" "$dataroot" --phase train --label-nc 35 --load-size 512
  check "default load size" "$dataroot" --phase train --label-nc 35
  check "resize_and_crop" "$dataroot" --phase train --label-nc 35 --resize-or-crop resize_and_crop --load-size 512 --fine-size 256
  check "scale_width_and_crop" "$dataroot" --phase train --label-nc 35 --resize-or-crop scale_width_and_crop --load-size 1024 --fine-size 512
  check "crop (no resize)" "$dataroot" --phase train --label-nc 35 --resize-or-crop crop --fine-size 512
  check "none (sizes already multiples of 16)" "$dataroot" --phase train --label-nc 35 --resize-or-crop none
  check "non-integer ratio" "$dataroot" --phase train --label-nc 35 --load-size 777
  check "enlargement" "$dataroot" --phase train --label-nc 35 --load-size 3000
  if [[ -d "$dataroot/test_label" ]]; then
    check "test phase (no photos)" "$dataroot" --phase test --label-nc 35 --load-size 512
  fi
  # 1000x504 crops: none rounds 1000/16 = 62.5 down to 992 and 504/16 = 31.5 up to 512 (ties to even).
  cropped="$work/cropped"
  "$python" - "$dataroot" "$cropped" <<'PY'
import os, sys
from PIL import Image
src, dst = sys.argv[1:]
for folder in ('train_label', 'train_inst', 'train_img'):
    os.makedirs(os.path.join(dst, folder))
    for name in sorted(os.listdir(os.path.join(src, folder))):
        img = Image.open(os.path.join(src, folder, name))
        img.crop((300, 200, 1300, 704)).save(os.path.join(dst, folder, name))
PY
  check "none on 1000x504 crops" "$cropped" --phase train --label-nc 35 --resize-or-crop none
  check "none, base 32 (a local enhancer) on 1000x504 crops" "$cropped" --phase train --label-nc 35 --resize-or-crop none --size-base 32
  check "scale_width 512 on 1000x504 crops" "$cropped" --phase train --label-nc 35 --load-size 512
fi

echo
if [[ $failed == 0 ]]; then echo "all $run run(s) agree with the reference"; else echo "PARITY FAILURE (see FAIL lines above)"; fi
exit $failed
