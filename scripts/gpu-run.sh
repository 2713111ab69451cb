#!/usr/bin/env bash
# GPU figures in one run, for a lent GPU machine (no Node.js there: p2phd comes
# from .gpu/bundle.tar.xz, built here by scripts/gpu-bundle.sh; PyTorch with
# CUDA is the machine's own python3). Ordered so that the first minutes answer
# the most:
#   1. probe: nvidia-smi, the Vulkan loader, ICD manifests and NVIDIA's Vulkan
#      libraries (before and after the fixes below), `p2phd doctor --json`;
#   2. each piece of work on WebGPU (when Dawn finds a hardware adapter) and
#      then in PyTorch CUDA (whether or not Dawn can), each part bounded by
#      `timeout`: G1 synthesis at 1024x512, the default training step at
#      256x128 and 1024x512, the 1024p local model's synthesis at 2048x1024,
#      the step at 512x256, pix2pix's default step (unet_256 at 256x256:
#      `bench train --family pix2pix` on WebGPU);
#   3. last, G1 synthesis on onnxruntime's CPU provider.
# Each part's figures (seconds, images/s, the GPU memory the bench and PyTorch
# report, and the peak of nvidia-smi's memory.used over the part) are merged into
# $OUT/gpu-run.json as soon as the part ends; $OUT/gpu-run.log has every command
# and its output. When Dawn cannot see the GPU, the JSON's webgpu.blockers say
# which file or library is missing.
#
# On the device machine (its run tool; carry .gpu, and .gl if you brought one):
#   bash scripts/gpu-run.sh
# Environment:
#   OUT                where the JSON and log go (default: ./gpu-run-out)
#   GPU_RUN_BUDGET_S   seconds for the whole run (default 420; parts that would
#                      start with less than 25 s left are skipped and say so)
#   GPU_RUN_TINY=1     the CI path: tiny models at 64x32 on whatever adapter
#                      Dawn has (lavapipe), the repository's own node and dist/
#   GPU_RUN_TORCH=0    skip PyTorch; GPU_RUN_PYTHON picks the python3 (default:
#                      the first of python3, /usr/bin/python3 that imports torch)
#   GPU_RUN_ONLY       a comma-separated list of part names to run (default all)
#   P2PHD_HOME         an unpacked bundle (p2phd-gpu/) to use instead of .gpu/
set -uo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
OUT=${OUT:-$root/gpu-run-out}
mkdir -p "$OUT"
log="$OUT/gpu-run.log"
json="$OUT/gpu-run.json"
: > "$log"
tiny=${GPU_RUN_TINY:-0}
budget=${GPU_RUN_BUDGET_S:-420}
only=${GPU_RUN_ONLY:-}
work=$(mktemp -d "${TMPDIR:-/tmp}/p2phd-gpu-run.XXXXXX")
sampler_pid=
cleanup() {
  [ -n "$sampler_pid" ] && kill "$sampler_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
trap 'say "stopped by a signal"; exit 143' INT TERM

say() { printf '[%4ss] %s\n' "$SECONDS" "$*" | tee -a "$log"; }
logged() { printf '%s\n' "$*" >> "$log"; }

# --- the JSON recorder (python3 is on every machine this runs on) -------------
recorder_python=$(command -v python3 || echo /usr/bin/python3)
cat > "$work/record.py" <<'PY'
"""record.py JSON KEY KIND [FILES...]: merges one finding into JSON under KEY
(dotted), atomically. KIND: json (FILES[0] is JSON), text (FILES[0] verbatim),
kv (FILES[0] holds key=value words, PyTorch's line), value (FILES[0] is a JSON
literal given inline), part (FILES: meta.json, stdout, stderr, memory samples)."""
import json, os, re, sys


def load(path):
    try:
        with open(path) as handle:
            return json.load(handle)
    except (OSError, ValueError):
        return {}


def read(path):
    try:
        with open(path, errors='replace') as handle:
            return handle.read()
    except OSError:
        return ''


def kv(text):
    values = {}
    for match in re.finditer(r'(\w+)=("[^"]*"|\S+)', text):
        key, value = match.group(1), match.group(2).strip('"')
        try:
            values[key] = float(value) if re.fullmatch(r'-?[\d.]+(e-?\d+)?', value) else value
        except ValueError:
            values[key] = value
    return values


def bench_json(text):
    start = text.find('{')
    if start < 0:
        return None
    try:
        document = json.loads(text[start:])
    except ValueError:
        return None
    stages = document.get('stages', [])
    return {'notes': [n for s in stages for n in s.get('notes', [])], 'rows': [r for s in stages for r in s.get('rows', [])]}


def part(meta_path, out_path, err_path, memory_path):
    meta = load(meta_path)
    out, err = read(out_path), read(err_path)
    if meta.get('parse') == 'bench':
        meta['result'] = bench_json(out)
    elif meta.get('parse') == 'kv':
        lines = [line for line in out.splitlines() if 'seconds_per_step=' in line]
        meta['result'] = kv(lines[-1]) if lines else None
    samples = [int(x) for x in re.findall(r'^\s*(\d+)\s*$', read(memory_path), re.M)]
    if samples:
        base = meta.get('gpu_memory_before_mib')
        meta['gpu_memory_used_peak_mib'] = max(samples)
        if isinstance(base, int):
            meta['gpu_memory_peak_over_start_mib'] = max(samples) - base
    if meta.get('status') != 'ok' or meta.get('result') is None:
        tail = [line for line in (err + '\n' + out).splitlines() if line.strip()][-8:]
        meta['output_tail'] = tail
    return meta


def main():
    target, key, kind = sys.argv[1], sys.argv[2], sys.argv[3]
    files = sys.argv[4:]
    document = load(target)
    if kind == 'json':
        value = load(files[0]) if read(files[0]).strip() else None
        if value == {} and read(files[0]).strip() not in ('{}', ''):
            value = {'unparsed': read(files[0])[-2000:]}
    elif kind == 'text':
        value = read(files[0])
    elif kind == 'kv':
        value = kv(read(files[0]))
    elif kind == 'value':
        value = json.loads(files[0])
    elif kind == 'part':
        value = part(*files)
    else:
        raise SystemExit(f'record.py: unknown kind {kind}')
    node = document
    parts = key.split('.')
    for name in parts[:-1]:
        node = node.setdefault(name, {})
    node[parts[-1]] = value
    temporary = f'{target}.tmp-{os.getpid()}'
    with open(temporary, 'w') as handle:
        json.dump(document, handle, indent=2)
        handle.write('\n')
    os.replace(temporary, target)


main()
PY
record() { "$recorder_python" "$work/record.py" "$json" "$@" 2>>"$log" || logged "record $1 failed"; }
record_value() { record "$1" value "$2"; }
jstr() { "$recorder_python" -c 'import json, sys; print(json.dumps(sys.argv[1]))' "$1"; }

rm -f "$json"
record_value started "$(jstr "$(date -u +%Y-%m-%dT%H:%M:%SZ)")"
record_value mode "$(jstr "$([ "$tiny" = 1 ] && echo tiny || echo full)")"
record_value budget_s "$budget"
say "gpu-run: mode $([ "$tiny" = 1 ] && echo tiny || echo full), budget ${budget}s, output in $OUT"

# --- p2phd: the bundle, or the repository itself --------------------------------
node_bin=
app=
if [ -n "${P2PHD_HOME:-}" ]; then
  app=$P2PHD_HOME
  node_bin="$app/runtime/node"
elif [ "$tiny" != 1 ] && [ -f "$root/.gpu/bundle.tar.xz" ]; then
  dest=/tmp/p2phd-gpu-bundle
  if [ ! -x "$dest/p2phd-gpu/runtime/node" ] || [ "$root/.gpu/bundle.tar.xz" -nt "$dest/p2phd-gpu/runtime/node" ]; then
    say "unpacking .gpu/bundle.tar.xz into $dest"
    rm -rf "$dest"
    if ! sh "$root/.gpu/unpack.sh" "$dest" >> "$log" 2>&1; then
      # unpack.sh may be absent if only the tarball was carried.
      mkdir -p "$dest" && xz -dc "$root/.gpu/bundle.tar.xz" | tar -x -C "$dest" 2>> "$log" || say "unpacking failed"
    fi
  fi
  app="$dest/p2phd-gpu"
  node_bin="$app/runtime/node"
elif [ -f "$root/dist/src/cli.js" ] && command -v node >/dev/null; then
  app=$root
  node_bin=$(command -v node)
fi
if [ -n "$node_bin" ] && [ -x "$node_bin" ] && "$node_bin" --version >/dev/null 2>&1; then
  say "p2phd from $app, node $("$node_bin" --version)"
  record_value p2phd "{\"home\": $(jstr "$app"), \"node\": $(jstr "$("$node_bin" --version)")}"
else
  say "no p2phd here: no .gpu/bundle.tar.xz (scripts/gpu-bundle.sh), no P2PHD_HOME, no node with a built dist/"
  record_value p2phd "{\"error\": \"no bundle and no node with a built dist/\"}"
  node_bin=
fi

# --- probe ------------------------------------------------------------------------
# The facts, as a shell sees them (before any fix below).
probe_shell() {
  echo "## uname: $(uname -a)"
  echo "## os: $(. /etc/os-release 2>/dev/null && echo "$PRETTY_NAME")"
  echo "## glibc: $(ldd --version 2>/dev/null | head -1)"
  echo "## NVIDIA_VISIBLE_DEVICES=${NVIDIA_VISIBLE_DEVICES-<unset>} NVIDIA_DRIVER_CAPABILITIES=${NVIDIA_DRIVER_CAPABILITIES-<unset>}"
  echo "## VK_DRIVER_FILES=${VK_DRIVER_FILES-<unset>} VK_ICD_FILENAMES=${VK_ICD_FILENAMES-<unset>} LD_LIBRARY_PATH=${LD_LIBRARY_PATH-<unset>}"
  echo "## /dev/nvidia*: $(ls /dev/nvidia* 2>/dev/null | tr '\n' ' ')"
  echo "## /proc/driver/nvidia/version: $(head -1 /proc/driver/nvidia/version 2>/dev/null)"
  echo "## ICD manifests in the loader's folders and driver mounts:"
  for folder in /etc/vulkan/icd.d /usr/share/vulkan/icd.d /usr/local/share/vulkan/icd.d /etc/xdg/vulkan/icd.d \
    /usr/local/nvidia/share/vulkan/icd.d /usr/local/nvidia/etc/vulkan/icd.d /usr/local/nvidia/vulkan/icd.d; do
    for file in "$folder"/*.json; do
      [ -f "$file" ] && echo "$file: $(tr -d '\n ' < "$file" | head -c 300)"
    done
  done
  if [ "$tiny" != 1 ]; then
    echo "## other nvidia_icd / nvidia_layers manifests (find, 15 s):"
    timeout 15 find / -xdev \( -name 'nvidia_icd*.json' -o -name 'nvidia_layers*.json' -o -name '10_nvidia*.json' \) 2>/dev/null | head -20
  fi
  echo "## ldconfig -p (Vulkan, GLX, EGL, NVIDIA GL/Vulkan libraries):"
  ldconfig -p 2>/dev/null | grep -E 'libvulkan|libGLX|libGLdispatch|libEGL|libnvidia-(glcore|glvkspirv|gpucomp|vulkan|tls|glsi|rtcore|eglcore)' || echo '(none)'
  echo "## NVIDIA GL/Vulkan libraries on disk (driver folders):"
  for folder in /usr/local/nvidia/lib64 /usr/local/nvidia/lib /usr/lib/x86_64-linux-gnu /usr/lib64 /run/nvidia/driver/usr/lib/x86_64-linux-gnu; do
    ls "$folder" 2>/dev/null | grep -E '^(libGLX_nvidia|libnvidia-(glcore|glvkspirv|gpucomp|vulkan)|libvulkan|libEGL_nvidia)' | sed "s#^#$folder/#"
  done
  echo "## nvidia-smi:"
  if command -v nvidia-smi >/dev/null; then timeout 20 nvidia-smi 2>&1; else echo '(no nvidia-smi)'; fi
  echo "## vulkaninfo --summary:"
  if command -v vulkaninfo >/dev/null; then timeout 20 vulkaninfo --summary 2>&1 | head -60; else echo '(no vulkaninfo)'; fi
}
say "probe: driver, Vulkan loader, ICD manifests, NVIDIA libraries"
probe_shell > "$work/probe.txt" 2>&1
cat "$work/probe.txt" >> "$log"
record probe.shell text "$work/probe.txt"
if command -v nvidia-smi >/dev/null; then
  gpu_line=$(timeout 20 nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null | head -1)
  record_value probe.gpu "$(jstr "$gpu_line")"
  say "GPU: ${gpu_line:-nvidia-smi answered nothing}"
fi

# --- fixes the device README names: the Vulkan loader's packages, the driver's ICD path
fixes=()
# (ldconfig's output is read whole: `ldconfig -p | grep -q` fails under pipefail when grep stops early.)
ldcache=$(ldconfig -p 2>/dev/null || true)
if ! grep -q 'libvulkan\.so\.1' <<< "$ldcache"; then
  debs=$(ls "$root"/.gpu/gl/*.deb "$root"/.gl/*.deb 2>/dev/null || true)
  if [ -n "$debs" ] && command -v dpkg >/dev/null; then
    if [ "$tiny" != 1 ] && [ "$(id -u)" = 0 ]; then
      say "no libvulkan.so.1: unpacking the carried loader packages into / (the device README's recipe)"
      for deb in $debs; do dpkg -x "$deb" / >> "$log" 2>&1; done
      ldconfig
      fixes+=("unpacked $(echo "$debs" | wc -w) carried .deb packages (libvulkan1, libglvnd0, ...) into / and ran ldconfig")
    else
      say "no libvulkan.so.1: unpacking the carried loader packages into $work/gl"
      for deb in $debs; do dpkg -x "$deb" "$work/gl" >> "$log" 2>&1; done
      export LD_LIBRARY_PATH="$work/gl/usr/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
      fixes+=("unpacked the carried .deb packages into $work/gl and put its library folder on LD_LIBRARY_PATH")
    fi
  else
    say "no libvulkan.so.1 and no carried loader packages (.gpu/gl or .gl: scripts/gpu-bundle.sh --gl)"
  fi
fi
if [ "$tiny" != 1 ] && [ -z "${VK_DRIVER_FILES:-}${VK_ICD_FILENAMES:-}" ]; then
  standard_icd=$(ls /etc/vulkan/icd.d/*nvidia*.json /usr/share/vulkan/icd.d/*nvidia*.json /usr/local/share/vulkan/icd.d/*nvidia*.json 2>/dev/null | head -1)
  mounted_icd=$(ls /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd*.json /usr/local/nvidia/etc/vulkan/icd.d/nvidia_icd*.json 2>/dev/null | head -1)
  if [ -z "$standard_icd" ] && [ -n "$mounted_icd" ]; then
    export VK_DRIVER_FILES=$mounted_icd VK_ICD_FILENAMES=$mounted_icd
    fixes+=("VK_DRIVER_FILES=$mounted_icd (NVIDIA's manifest sits outside the loader's folders)")
    egl=/usr/local/nvidia/share/glvnd/egl_vendor.d/10_nvidia.json
    [ -f "$egl" ] && export __EGL_VENDOR_LIBRARY_FILENAMES=$egl
  fi
fi
ldcache=$(ldconfig -p 2>/dev/null || true)
if [ "$tiny" != 1 ] && ! grep -q 'libGLX_nvidia\.so\.0' <<< "$ldcache"; then
  for folder in /usr/local/nvidia/lib64 /usr/local/nvidia/lib; do
    if [ -e "$folder/libGLX_nvidia.so.0" ]; then
      export LD_LIBRARY_PATH="$folder${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
      fixes+=("LD_LIBRARY_PATH+=$folder (libGLX_nvidia.so.0 is there, unknown to ldconfig)")
      break
    fi
  done
fi
if [ "$tiny" = 1 ]; then
  lvp=$(ls /usr/share/vulkan/icd.d/lvp_icd*.json 2>/dev/null | head -1)
  if [ -n "$lvp" ] && [ -z "${VK_DRIVER_FILES:-}" ]; then export VK_DRIVER_FILES=$lvp; fixes+=("VK_DRIVER_FILES=$lvp (tiny mode: lavapipe)"); fi
fi
printf '%s\n' "${fixes[@]}" > "$work/fixes.txt"
"$recorder_python" -c 'import json, sys; print(json.dumps([l for l in open(sys.argv[1]).read().splitlines() if l]))' "$work/fixes.txt" > "$work/fixes.json"
record probe.fixes json "$work/fixes.json"
for fix in "${fixes[@]}"; do say "fix: $fix"; done

# --- doctor, and whether the WebGPU parts can run
webgpu_ready=0
if [ -n "$node_bin" ]; then
  say "p2phd doctor --json"
  (cd "$work" && timeout 120 "$node_bin" "$app/bin/p2phd" doctor --json > "$work/doctor.json" 2> "$work/doctor.err")
  cat "$work/doctor.json" "$work/doctor.err" >> "$log"
  record doctor json "$work/doctor.json"
  verdict=$("$recorder_python" - "$work/doctor.json" "$tiny" <<'PY'
import json, sys
try:
    report = json.load(open(sys.argv[1]))
except (OSError, ValueError) as error:
    print(json.dumps({'ready': False, 'why': f'p2phd doctor printed no report ({error})', 'blockers': []}))
    raise SystemExit
webgpu = next((b for b in report.get('backends', []) if b.get('name') == 'webgpu'), {})
adapter = webgpu.get('adapter') or {}
tiny = sys.argv[2] == '1'
ready = webgpu.get('state') == 'ok' and (tiny or adapter.get('software') is False)
why = f"webgpu {webgpu.get('state')}: {webgpu.get('reason')}"
if webgpu.get('state') == 'ok' and adapter.get('software') and not tiny:
    why = f"Dawn's only adapter is a software one ({adapter.get('description') or adapter.get('device')}): {why}"
print(json.dumps({'ready': ready, 'why': why, 'adapter': adapter.get('description') or adapter.get('device'),
                  'software': adapter.get('software'), 'blockers': webgpu.get('missing', [])}))
PY
)
  record_value webgpu "$verdict"
  case "$verdict" in *'"ready": true'*) webgpu_ready=1 ;; esac
  say "webgpu: $verdict"
else
  record_value webgpu '{"ready": false, "why": "no p2phd here (see p2phd.error)", "blockers": []}'
fi

# --- PyTorch ----------------------------------------------------------------------
python_torch=
torch_device=
torch_why="GPU_RUN_TORCH=0"
if [ "${GPU_RUN_TORCH:-1}" != 0 ]; then
  for candidate in ${GPU_RUN_PYTHON:-python3 /usr/bin/python3}; do
    if command -v "$candidate" >/dev/null && timeout 60 "$candidate" -c 'import torch' 2>/dev/null; then python_torch=$candidate; break; fi
  done
  if [ -n "$python_torch" ]; then
    torch_info=$(timeout 60 "$python_torch" -c 'import json, torch; c = torch.cuda.is_available(); print(json.dumps({"torch": torch.__version__, "cuda": c, "cuda_version": torch.version.cuda, "device": torch.cuda.get_device_name(0) if c else None}))' 2>>"$log")
    record_value pytorch "${torch_info:-null}"
    say "PyTorch ($python_torch): $torch_info"
    case "$torch_info" in
      *'"cuda": true'*) torch_device=cuda ;;
      *) [ "$tiny" = 1 ] && torch_device=cpu ;;
    esac
    torch_why="PyTorch ($python_torch) sees no CUDA device"
    [ -z "$torch_device" ] && say "$torch_why: its parts are skipped"
  else
    torch_why="no python3 here imports torch"
    record_value pytorch '{"skipped": "no python3 here imports torch"}'
    say "PyTorch: no python3 here imports torch"
  fi
else
  record_value pytorch '{"skipped": "GPU_RUN_TORCH=0"}'
fi

# --- parts --------------------------------------------------------------------------
gpu_memory_used() { timeout 10 nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits 2>/dev/null | head -1 | tr -d ' '; }
wanted() { [ -z "$only" ] || case ",$only," in *",$1,"*) return 0 ;; *) return 1 ;; esac; }
# part NAME SECONDS PARSE(bench|kv) COMMAND...: runs COMMAND under timeout, records parts.NAME.
part() {
  local name=$1 seconds=$2 parse=$3
  shift 3
  wanted "$name" || return 0
  local left=$((budget - SECONDS))
  if [ "$left" -lt 25 ]; then
    say "$name: skipped (time budget spent)"
    record_value "parts.$name" '{"status": "skipped", "why": "time budget spent"}'
    return 0
  fi
  [ "$seconds" -gt $((left - 5)) ] && seconds=$((left - 5))
  local before=null
  if command -v nvidia-smi >/dev/null; then
    before=$(gpu_memory_used)
    [ -n "$before" ] || before=null
    nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits -lms 200 > "$work/$name.mem" 2>/dev/null &
    sampler_pid=$!
  fi
  say "$name: $* (timeout ${seconds}s)"
  logged "----- $name: $*"
  # Left as "running" if the whole script is killed during the part (the device's own time limit).
  record_value "parts.$name" "{\"status\": \"running\", \"timeout_s\": $seconds, \"command\": $(jstr "$*")}"
  local started=$SECONDS rc
  (cd "$work" && timeout --kill-after=10 "$seconds" "$@" > "$work/$name.out" 2> "$work/$name.err")
  rc=$?
  local took=$((SECONDS - started))
  if [ -n "$sampler_pid" ]; then kill "$sampler_pid" 2>/dev/null; wait "$sampler_pid" 2>/dev/null; sampler_pid=; fi
  cat "$work/$name.out" "$work/$name.err" >> "$log"
  local status=ok
  [ "$rc" = 124 ] || [ "$rc" = 137 ] && status=timeout
  [ "$status" = ok ] && [ "$rc" != 0 ] && status=failed
  "$recorder_python" -c 'import json, sys; a = sys.argv; print(json.dumps({"status": a[1], "exit": int(a[2]), "seconds": int(a[3]), "timeout_s": int(a[4]), "command": a[5], "parse": a[6], "gpu_memory_before_mib": None if a[7] == "null" else int(a[7])}))' \
    "$status" "$rc" "$took" "$seconds" "$*" "$parse" "$before" > "$work/$name.meta"
  record "parts.$name" part "$work/$name.meta" "$work/$name.out" "$work/$name.err" "$work/$name.mem"
  say "$name: $status after ${took}s$(summary "$name")"
}
# One line of figures for the log: from the part's stdout.
summary() {
  "$recorder_python" - "$json" "$1" <<'PY' 2>/dev/null
import json, sys
part = json.load(open(sys.argv[1]))['parts'][sys.argv[2]]
result = part.get('result') or {}
bits = []
for row in result.get('rows', []) if isinstance(result, dict) else []:
    keys = ('image s (best after first)', 's_per_step', 'GPU pool MiB', 'peak_tensor_MiB', 'engine', 'model', 'config', 'size')
    bits.append(', '.join(f'{k} {row[k]}' for k in keys if k in row and row[k] is not None))
if isinstance(result, dict) and 'seconds_per_step' in result:
    bits.append(', '.join(f'{k} {result[k]}' for k in ('seconds_per_step', 'best', 'peak_allocated_mib') if k in result))
if 'gpu_memory_peak_over_start_mib' in part:
    bits.append(f"nvidia-smi peak +{part['gpu_memory_peak_over_start_mib']} MiB")
print(': ' + '; '.join(bits) if bits else '')
PY
}

bench=()
[ -n "$node_bin" ] && bench=("$node_bin" "$app/dist/bench/run.js")
torch_script="$root/bench/train_step_torch.py"
[ -f "$torch_script" ] || torch_script="$app/bench/train_step_torch.py"
webgpu_part() { if [ "$webgpu_ready" = 1 ]; then part "$@"; elif wanted "$1"; then record_value "parts.$1" '{"status": "skipped", "why": "Dawn has no usable adapter (see webgpu)"}'; fi; }
torch_part() {
  local name=$1 seconds=$2
  shift 2
  if [ -n "$torch_device" ]; then part "$name" "$seconds" kv "$python_torch" "$torch_script" --device "$torch_device" "$@"
  elif wanted "$name"; then record_value "parts.$name" "{\"status\": \"skipped\", \"why\": $(jstr "$torch_why")}"; fi
}
# The step's architecture flags for train_step_torch.py (the bench's `default` and `tiny` configs).
default_arch=(--ngf 64 --n-downsample 4 --n-blocks 9 --ndf 64 --n-layers-d 3 --num-d 2 --input-nc 36)
tiny_arch=(--ngf 8 --n-downsample 2 --n-blocks 1 --ndf 8 --n-layers-d 2 --num-d 1 --input-nc 36)
pix2pix_in_bench=0
# `train pix2pix` among train's commands, and the bench's train stage with --family pix2pix (bench/trainPix2pix.ts).
if [ "$tiny" != 1 ] && [ -n "$node_bin" ] && [ -f "$app/dist/bench/trainPix2pix.js" ]; then
  train_help=$(cd "$work" && timeout 60 "$node_bin" "$app/bin/p2phd" train --help 2>/dev/null || true)
  grep -qE '^[[:space:]]+pix2pix\b' <<< "$train_help" && pix2pix_in_bench=1
fi
ort_part() {
  if [ -n "$node_bin" ]; then part "$@"
  elif wanted "$1"; then record_value "parts.$1" '{"status": "skipped", "why": "no p2phd here"}'; fi
}

if [ "$tiny" = 1 ]; then
  webgpu_part synth-tiny-64x32-webgpu 120 bench "${bench[@]}" synthesize --json --backend webgpu --models tiny --sizes 64x32 --images 2
  torch_part synth-tiny-64x32-torch 60 --mode forward --width 64 --height 32 --steps 2 "${tiny_arch[@]}"
  webgpu_part train-tiny-64x32-webgpu 120 bench "${bench[@]}" train --json --backend webgpu --configs tiny --size 64x32 --steps 1
  torch_part train-tiny-64x32-torch 60 --mode step --width 64 --height 32 --steps 1 "${tiny_arch[@]}"
  ort_part synth-tiny-64x32-onnxruntime 120 bench "${bench[@]}" synthesize --json --backend wasm --engines onnxruntime --models tiny --sizes 64x32 --images 2
else
  webgpu_part synth-g1-1024x512-webgpu 150 bench "${bench[@]}" synthesize --json --backend webgpu --models g1 --sizes 1024x512 --images 3
  torch_part synth-g1-1024x512-torch 90 --mode forward --width 1024 --height 512 --steps 3 --ngf 64 --n-downsample 4 --n-blocks 9 --input-nc 36
  webgpu_part train-default-256x128-webgpu 150 bench "${bench[@]}" train --json --backend webgpu --configs default --size 256x128 --steps 3
  torch_part train-default-256x128-torch 90 --mode step --width 256 --height 128 --steps 5 "${default_arch[@]}"
  webgpu_part train-default-1024x512-webgpu 200 bench "${bench[@]}" train --json --backend webgpu --configs default --size 1024x512 --steps 2
  torch_part train-default-1024x512-torch 90 --mode step --width 1024 --height 512 --steps 5 "${default_arch[@]}"
  webgpu_part synth-local-2048x1024-webgpu 200 bench "${bench[@]}" synthesize --json --backend webgpu --models local --sizes 2048x1024 --images 2
  torch_part synth-local-2048x1024-torch 90 --mode forward --netg local --width 2048 --height 1024 --steps 3 --ngf 32 --n-downsample 4 --n-blocks 9 --input-nc 36
  webgpu_part train-default-512x256-webgpu 150 bench "${bench[@]}" train --json --backend webgpu --configs default --size 512x256 --steps 2
  torch_part train-default-512x256-torch 90 --mode step --width 512 --height 256 --steps 5 "${default_arch[@]}"
  if [ "$pix2pix_in_bench" = 1 ]; then
    webgpu_part train-pix2pix-256x256-webgpu 150 bench "${bench[@]}" train --json --family pix2pix --backend webgpu --configs default --steps 3
  elif wanted train-pix2pix-256x256-webgpu; then
    record_value parts.train-pix2pix-256x256-webgpu '{"status": "skipped", "why": "this p2phd has no `train pix2pix`, or its bench no --family pix2pix"}'
  fi
  torch_part train-pix2pix-256x256-torch 90 --model pix2pix --mode step --width 256 --height 256 --steps 5 --ngf 64 --ndf 64 --n-downsample 8 --n-layers-d 3 --input-nc 3
  ort_part synth-g1-1024x512-onnxruntime 150 bench "${bench[@]}" synthesize --json --backend wasm --engines onnxruntime --models g1 --sizes 1024x512 --images 2
fi

# --- side by side: each piece of work on WebGPU, PyTorch and onnxruntime, in one table
"$recorder_python" - "$json" > "$work/summary.json" <<'PY'
import json, re, sys
document = json.load(open(sys.argv[1]))
rows = {}
for name, part in document.get('parts', {}).items():
    match = re.fullmatch(r'(.+)-(webgpu|torch|onnxruntime)', name)
    if not match:
        continue
    work, engine = match.groups()
    row = rows.setdefault(work, {'work': work})
    result = part.get('result')
    seconds = None
    memory = None
    if part.get('status') == 'ok' and isinstance(result, dict):
        if 'rows' in result and result['rows']:
            first = result['rows'][0]
            seconds = first.get('image s (best after first)', first.get('s_per_step'))
            memory = first.get('GPU pool MiB', first.get('gpu_pool_MiB'))
        elif 'seconds_per_step' in result:
            seconds = result['best'] if work.startswith('synth') else result['seconds_per_step']
            memory = result.get('peak_allocated_mib')
    row[f'{engine}_s'] = seconds if part.get('status') == 'ok' else part.get('status')
    if memory is not None:
        row[f'{engine}_memory_mib'] = memory
    if 'gpu_memory_peak_over_start_mib' in part:
        row[f'{engine}_nvidia_smi_peak_mib'] = part['gpu_memory_peak_over_start_mib']
for row in rows.values():
    w, t = row.get('webgpu_s'), row.get('torch_s')
    if isinstance(w, (int, float)) and isinstance(t, (int, float)) and t > 0:
        row['webgpu_over_torch'] = round(w / t, 2)
print(json.dumps(list(rows.values())))
PY
record summary json "$work/summary.json"

record_value finished "$(jstr "$(date -u +%Y-%m-%dT%H:%M:%SZ)")"
record_value seconds "$SECONDS"
say "done in ${SECONDS}s: $json"
