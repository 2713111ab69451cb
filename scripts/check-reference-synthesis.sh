#!/usr/bin/env bash
# check-reference-synthesis.sh: `p2phd synthesize` against the reference
# pix2pixHD itself, end to end, on real Cityscapes label maps.
# A dev check, NOT part of `npm test` (CI has no torch).
#
# Usage:
#   scripts/check-reference-synthesis.sh REFERENCE_DIR CITYSCAPES_DIR [CONFIG...]
#
# REFERENCE_DIR: your checkout of NVIDIA/pix2pixHD (its models/, data/,
#   options/, util/ are imported from there; nothing of it is in p2phd).
# CITYSCAPES_DIR: the reference's layout: test_label/, test_inst/ (label and
#   instance PNGs) and, for the feature and label_nc 0 configurations,
#   train_label/, train_inst/, train_img/ (e.g. the reference's own
#   datasets/cityscapes).
# CONFIG (default: all but g1-default): one or more of
#   g1-default  the reference's default G1 (ngf 64, 4 down, 9 blocks, label_nc 35, instance)
#   g1          G1 ngf 32, the reference's init
#   g1-wide     G1 ngf 32, conv weights and biases N(0, 0.1) instead of N(0, 0.02)
#   local       netG local, ngf 32, 1 enhancer
#   batch       G1 ngf 32, --norm batch (batch statistics, as test.py: no eval())
#   feat-encoded   --instance_feat + E; --use-encoded --images (use_encoded_image)
#   feat-encoded-batch  the same with --norm batch (E and G on batch statistics)
#   feat-clusters  --instance_feat; E-encoded features clustered per class the
#                  reference's way -> features_clustered_010.npy -> p2phd
#                  clusters file; --clusters --style first vs sample_features
#                  drawing centre 0
#   label-nc0   --label_nc 0 --no_instance: colour label maps (photos here)
#   odd         G1 ngf 32 on 1000x500 maps: p2phd pads and crops back, the
#               reference resizes to 992x496; the difference is only reported
#   odd-padded  the same 1000x500 maps in p2phd; the reference gets them
#               reflect-padded to 1008x512 as p2phd pads them, and its output
#               is cropped back. Reported, not required: p2phd reflects the
#               edge map of the unpadded instance map, the reference computes
#               edges on the padded map, which differ on the outermost padded
#               row and column (the network's receptive field carries that
#               inwards); p2phd run on the padded maps themselves is within
#               1 level of the reference
#
# Environment: P2PHD_CHECK_SIZE (WxH the maps are resized to with PIL
# nearest, photos bicubic; default 1024x512), P2PHD_CHECK_COUNT (maps per
# configuration, default 2), P2PHD_CHECK_SEED (default 1), PYTHON (default
# /usr/bin/python3, needs torch, numpy, PIL), P2PHD_CHECK_WORK (keep the work
# folder there instead of a temporary one), P2PHD_BACKEND (passed to p2phd).
#
# Both sides get the same pixels (resize_or_crop none at a size G takes).
# Parity: every output value within 1 grey level of the reference's PNG: the
# reference's util.tensor2im truncates (astype uint8) where p2phd rounds
# (issue 6), which alone differs by 1 level on about half the values. The
# report also gives the difference to round() of the reference's float
# output. Exit 1 when a parity configuration differs by more than 1 level,
# 2 on setup errors.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(dirname "$here")"
python="${PYTHON:-/usr/bin/python3}"
p2phd="$root/bin/p2phd"

[[ $# -ge 2 ]] || { sed -n '2,/^set -euo/p' "$0" | grep '^#' | sed 's/^# \{0,1\}//' >&2; exit 2; }
reference="$(cd "$1" && pwd)" || exit 2
cityscapes="$(cd "$2" && pwd)" || exit 2
shift 2
configs=("$@")
[[ ${#configs[@]} -gt 0 ]] || configs=(g1 g1-wide local batch feat-encoded feat-encoded-batch feat-clusters label-nc0 odd odd-padded)

"$python" -c 'import torch, numpy, PIL' 2>/dev/null || { echo "$python lacks torch, numpy or PIL (set PYTHON)" >&2; exit 2; }
[[ -f "$reference/models/pix2pixHD_model.py" ]] || { echo "$reference: not a pix2pixHD checkout" >&2; exit 2; }
[[ -d "$cityscapes/test_label" && -d "$cityscapes/test_inst" ]] || { echo "$cityscapes: needs test_label/ and test_inst/" >&2; exit 2; }
[[ -f "$root/dist/src/cli.js" ]] || { echo "build p2phd first: npm run build" >&2; exit 2; }

size="${P2PHD_CHECK_SIZE:-1024x512}"
count="${P2PHD_CHECK_COUNT:-2}"
seed="${P2PHD_CHECK_SEED:-1}"
if [[ -n "${P2PHD_CHECK_WORK:-}" ]]; then
  work="$P2PHD_CHECK_WORK"; mkdir -p "$work"
else
  work="$(mktemp -d "${TMPDIR:-/tmp}/p2phd-synthcheck.XXXXXX")"
  trap 'rm -rf "$work"' EXIT
fi
backend=()
[[ -n "${P2PHD_BACKEND:-}" ]] && backend=(--backend "$P2PHD_BACKEND")

# Copies of the first $count maps (and photos) at WxH into a reference-layout folder.
make_data() { # dest WxH phase kinds...
  local dest="$1" wh="$2" phase="$3"; shift 3
  "$python" - "$cityscapes" "$dest" "$wh" "$phase" "$count" "$@" <<'EOF'
import glob, os, sys
from PIL import Image
src, dest, wh, phase, count = sys.argv[1:6]
w, h = (int(v) for v in wh.split('x'))
for kind in sys.argv[6:]:
    src_kind = 'img' if kind == 'A' else kind     # label_nc 0: photos stand in for colour label maps
    files = sorted(glob.glob(os.path.join(src, '%s_%s' % (phase, src_kind), '*.png')))[:int(count)]
    if not files:
        sys.exit('%s: no %s_%s/*.png' % (src, phase, src_kind))
    os.makedirs(os.path.join(dest, '%s_%s' % (phase, kind)), exist_ok=True)
    for f in files:
        im = Image.open(f)
        if kind == 'A':
            im = im.convert('RGB')
        if im.size != (w, h):
            im = im.resize((w, h), Image.BICUBIC if src_kind == 'img' else Image.NEAREST)
        im.save(os.path.join(dest, '%s_%s' % (phase, kind), os.path.basename(f)))
EOF
}

failed=()
summary="$work/summary.jsonl"
: > "$summary"

run_config() {
  local name="$1"
  local dir="$work/$name" wh="$size" phase=test init=reference parity=1
  local ref_flags=() run_flags=() p2_flags=() kinds=(label inst)
  case "$name" in
    g1-default) ;;
    g1) ref_flags=(--ngf 32) ;;
    g1-wide) ref_flags=(--ngf 32); init=normal:0.1 ;;
    local) ref_flags=(--netG local --ngf 32 --n_local_enhancers 1) ;;
    batch) ref_flags=(--ngf 32 --norm batch) ;;
    feat-encoded) ref_flags=(--ngf 32 --instance_feat); phase=train; kinds=(label inst img); run_flags=(--use-encoded) ;;
    feat-encoded-batch) ref_flags=(--ngf 32 --instance_feat --norm batch); phase=train; kinds=(label inst img); run_flags=(--use-encoded) ;;
    feat-clusters) ref_flags=(--ngf 32 --instance_feat); phase=train; kinds=(label inst img) ;;
    label-nc0) ref_flags=(--ngf 32 --label_nc 0 --no_instance); phase=train; kinds=(A) ;;
    odd) ref_flags=(--ngf 32); wh=1000x500; parity=0 ;;
    odd-padded) ref_flags=(--ngf 32); wh=1000x500; parity=0 ;;
    *) echo "unknown configuration $name" >&2; exit 2 ;;
  esac
  echo "== $name: ${ref_flags[*]:-defaults} init $init, ${count} map(s) at $wh ($phase)" >&2
  rm -rf "$dir"; mkdir -p "$dir"
  make_data "$dir/data" "$wh" "$phase" "${kinds[@]}"
  "$python" "$here/reference_synthesis.py" weights --reference "$reference" --checkpoints "$dir/ck" --name "$name" \
    --seed "$seed" --init "$init" -- "${ref_flags[@]}" >&2
  local ck="$dir/ck/$name" convert_flags=()
  [[ -f "$ck/latest_net_E.pth" ]] && convert_flags=(--netE "$ck/latest_net_E.pth")
  "$p2phd" import --netG "$ck/latest_net_G.pth" --netD "$ck/latest_net_D.pth" \
    "${convert_flags[@]}" --opt "$ck/opt.txt" --out "$dir/model.safetensors" 2> "$dir/import.log" \
    || { cat "$dir/import.log" >&2; failed+=("$name (p2phd import failed)"); return; }
  # The way back must give the reference's state_dicts exactly, loadable with
  # torch.load(weights_only=True) into the reference's networks (strict).
  "$p2phd" export "$dir/model.safetensors" --format pytorch --out "$dir/back" 2>/dev/null
  "$python" "$here/check_pytorch_export.py" --reference "$reference" --exported "$dir/back" --original "$ck"

  local labels="$dir/data/${phase}_label/*.png" insts=(--instances "$dir/data/${phase}_inst/*.png")
  [[ "$name" == label-nc0 ]] && { labels="$dir/data/${phase}_A/*.png"; insts=(); }
  case "$name" in
    feat-encoded|feat-encoded-batch) p2_flags=(--use-encoded --images "$dir/data/${phase}_img/*.png") ;;
    feat-clusters)
      "$python" "$here/reference_synthesis.py" cluster --reference "$reference" --checkpoints "$dir/ck" --name "$name" \
        --dataroot "$dir/data" --phase "$phase" --k 10 -- "${ref_flags[@]}" --resize_or_crop none >&2
      "$python" "$here/convert_clusters.py" clusters-to-p2phd "$ck/features_clustered_010.npy" --out "$dir/clusters.safetensors"
      run_flags=(--cluster-path features_clustered_010.npy --style first)
      p2_flags=(--clusters "$dir/clusters.safetensors" --style first) ;;
  esac
  local ref_data="$dir/data" crop=()
  if [[ "$name" == odd-padded ]]; then
    # p2phd's padding (synthesis/padding.ts): to the next multiple of 16, split evenly, the extra pixel after.
    ref_data="$dir/data-padded"
    crop=(--crop "$("$python" "$here/reference_synthesis.py" pad --src "$dir/data" --dest "$ref_data" --multiple 16)")
  fi
  "$python" "$here/reference_synthesis.py" run --reference "$reference" --checkpoints "$dir/ck" --name "$name" \
    --dataroot "$ref_data" --phase "$phase" --out "$dir/ref" "${crop[@]}" "${run_flags[@]}" -- "${ref_flags[@]}" --resize_or_crop none 2>&1 \
    | grep -v -e 'volatile' -e 'input_label = Variable' >&2 || true
  local start=$SECONDS
  "$p2phd" synthesize "${backend[@]}" --checkpoint "$dir/model.safetensors" --labels "$labels" "${insts[@]}" \
    "${p2_flags[@]}" --out "$dir/ours" 2> "$dir/p2phd.log" || { cat "$dir/p2phd.log" >&2; failed+=("$name (p2phd failed)"); return; }
  echo "p2phd synthesize: $((SECONDS - start)) s" >&2
  local compare_flags=()
  [[ $parity == 1 ]] && compare_flags=(--expect-parity)
  if "$python" "$here/reference_synthesis.py" compare --ref "$dir/ref" --ours "$dir/ours" "${compare_flags[@]}" > "$dir/compare.txt"; then :; else
    failed+=("$name")
  fi
  sed "s/^{/{\"config\": \"$name\", /" "$dir/compare.txt" | tee -a "$summary"
}

for config in "${configs[@]}"; do run_config "$config"; done

"$python" - "$summary" <<'EOF'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.startswith('{')]
print('\n%-19s %-6s %9s %10s %9s %12s %10s' % ('config', 'images', 'max', 'mean', '%>1', 'max vs round', '%saturated'))
for config in dict.fromkeys(r['config'] for r in rows):
    rs = [r for r in rows if r['config'] == config]
    print('%-19s %-6d %9d %10.3f %9.4f %12s %10s' % (config, len(rs), max(r['max'] for r in rs), sum(r['mean'] for r in rs) / len(rs),
          max(r['pct_gt1'] for r in rs), max((r.get('max_vs_rounded', '-') for r in rs), key=str),
          '%.2f' % max(r.get('pct_saturated', 0) for r in rs) if 'pct_saturated' in rs[0] else '-'))
EOF
if [[ ${#failed[@]} -gt 0 ]]; then
  echo "FAILED: ${failed[*]}" >&2
  exit 1
fi
echo "all configurations within 1 grey level of the reference" >&2
