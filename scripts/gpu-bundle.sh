#!/usr/bin/env bash
# Builds .gpu/: p2phd with its own Node.js, packed small enough to be carried to
# a GPU machine that has no Node (the device tool's limit: 64 MiB for the whole
# working tree that travels, carried folders included).
#
#   scripts/gpu-bundle.sh [--out DIR] [--gl | --gl-only] [--no-onnxruntime] [--node PATH] [--level N] [--threads N] [--no-check]
#
# Run from a clone after `npm ci` (which builds dist/). Writes, in DIR (default
# .gpu/ in the repository root, ignored by git):
#   bundle.tar.xz   p2phd-gpu/: runtime/node (this machine's node, stripped),
#                   p2phd (a launcher), bin/, dist/src, dist/bench, dist/page
#                   (where built), bench/*.py,
#                   fixtures/, package.json and the node_modules a run needs
#                   (tfjs core and backends, Dawn's linux-x64 dawn.node, sharp
#                   with libvips, onnxruntime-node's linux-x64 library, the
#                   small pure-JavaScript packages p2phd imports);
#   unpack.sh       unpacks it: `bash .gpu/unpack.sh [DEST]` prints DEST/p2phd-gpu;
#   manifest.json   what is inside, sizes, the commit it was built from;
#   gl/*.deb        with --gl: the Vulkan loader and GL vendor-neutral
#                   dispatch packages (libvulkan1, libglvnd0, ...) that the
#                   device README says to bring when `ldconfig -p | grep
#                   libvulkan` prints nothing there; scripts/gpu-run.sh
#                   unpacks them into / when it needs them. --gl-only fetches
#                   these alone, leaving the bundle as it is.
# Before packing, the staged copy runs `p2phd doctor --json` with its own node
# (--no-check skips that). Fails when the bundle, plus the tracked tree that
# travels with it, is over 64 MiB.
#
# Options:
#   --no-onnxruntime  leave onnxruntime-node out (about 10 MiB packed); the
#                     onnxruntime engine and MLAS GEMMs are then unavailable there
#   --node PATH       the Node.js binary to bundle (default: `command -v node`);
#                     it must be a Linux x86-64 build
#   --level N         xz preset (default 9); --threads N xz threads (default 1:
#                     one stream packs a little smaller, and the CPU is shared)
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
out="$root/.gpu"
with_gl=0
with_onnxruntime=1
node_binary=$(command -v node || true)
level=9
threads=1
check=1
while [ $# -gt 0 ]; do
  case "$1" in
    --out) out=$2; shift 2 ;;
    --out=*) out=${1#--out=}; shift ;;
    --gl) with_gl=1; shift ;;
    --gl-only) with_gl=2; shift ;;
    --no-onnxruntime) with_onnxruntime=0; shift ;;
    --node) node_binary=$2; shift 2 ;;
    --node=*) node_binary=${1#--node=}; shift ;;
    --level) level=$2; shift 2 ;;
    --level=*) level=${1#--level=}; shift ;;
    --threads) threads=$2; shift 2 ;;
    --threads=*) threads=${1#--threads=}; shift ;;
    --no-check) check=0; shift ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "gpu-bundle: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done

limit=$((64 * 1024 * 1024))
say() { echo "gpu-bundle: $*" >&2; }
die() { echo "gpu-bundle: $*" >&2; exit 1; }

# The Vulkan loader's packages, for a machine whose image has none (the device README's list).
download_gl() {
  say "downloading the Vulkan loader and glvnd packages (amd64) into $out/gl"
  mkdir -p "$out/gl" /tmp/p2phd-apt-amd64/partial
  local apt_options=(-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 -oDir::State::Lists=/tmp/p2phd-apt-amd64)
  apt-get "${apt_options[@]}" update -qq >&2 || die "apt-get update failed"
  (cd "$out/gl" && rm -f ./*.deb && apt-get "${apt_options[@]}" download libvulkan1 libglvnd0 libegl1 libgl1 libglx0 libopengl0 libgles2 >&2) || die "apt-get download failed"
  say "$(ls "$out/gl" | wc -l) packages, $(du -sh "$out/gl" | cut -f1)"
}
if [ "$with_gl" = 2 ]; then
  command -v apt-get >/dev/null || die "--gl-only needs apt-get (Debian/Ubuntu)"
  download_gl
  echo "$out/gl"
  exit 0
fi

[ -n "$node_binary" ] && [ -x "$node_binary" ] || die "no node binary (give one with --node PATH)"
command -v xz >/dev/null || die "xz is not installed (Debian: apt-get install xz-utils)"
[ "$(uname -m)" = x86_64 ] || say "warning: this machine is $(uname -m); the GPU machines are x86-64, so node and the native modules must be x86-64 builds"
file_type=$(od -An -tx1 -j4 -N2 "$node_binary" | tr -d ' ')
[ "$file_type" = 0201 ] || die "$node_binary is not a 64-bit little-endian ELF binary"
[ -d "$root/node_modules" ] || die "no node_modules in $root: run npm ci first"
if [ ! -f "$root/dist/src/cli.js" ] || [ ! -f "$root/dist/bench/run.js" ]; then
  say "dist/ is missing or incomplete: building (npx tsc -p tsconfig.json)"
  (cd "$root" && npx tsc -p tsconfig.json)
fi

stage=$(mktemp -d "${TMPDIR:-/tmp}/p2phd-gpu-bundle.XXXXXX")
cleanup() { rm -rf "$stage"; }
trap cleanup EXIT
trap 'exit 130' INT TERM
app="$stage/p2phd-gpu"
mkdir -p "$app/runtime" "$app/dist" "$app/bench"

# --- the project: compiled code, launcher, the bench's PyTorch scripts, fixtures
say "copying the compiled project"
cp "$root/package.json" "$app/"
cp -R "$root/bin" "$app/bin"
cp -R "$root/dist/src" "$app/dist/src"
cp -R "$root/dist/bench" "$app/dist/bench"
# The editor's browser page (`p2phd edit`), where it is built.
[ -d "$root/dist/page" ] && cp -R "$root/dist/page" "$app/dist/page"
cp "$root"/bench/*.py "$app/bench/"
[ -d "$root/fixtures" ] && cp -R "$root/fixtures" "$app/fixtures"
find "$app/dist" -name '*.map' -delete

# --- Node.js, without its symbol table and debug info (native addons use the dynamic symbols, which stay)
say "copying node $("$node_binary" --version) from $node_binary"
if command -v strip >/dev/null; then
  strip -o "$app/runtime/node" "$node_binary" 2>/dev/null || cp "$node_binary" "$app/runtime/node"
else
  cp "$node_binary" "$app/runtime/node"
fi
chmod 755 "$app/runtime/node"
cat > "$app/p2phd" <<'LAUNCHER'
#!/bin/sh
# p2phd with the bundled Node.js.
here=$(cd "$(dirname "$0")" && pwd)
exec "$here/runtime/node" "$here/bin/p2phd" "$@"
LAUNCHER
chmod 755 "$app/p2phd"

# --- node_modules: the closure of package.json's dependencies and
# optionalDependencies (as installed), less what a GPU run never loads.
# Excluded: the report's charting (vega, vega-lite and their d3 tree: `p2phd
# report` does not work from the bundle) and everything in devDependencies.
say "collecting node_modules"
EXCLUDE="vega vega-lite" WITH_ONNXRUNTIME=$with_onnxruntime "$node_binary" - "$root" > "$stage/packages.txt" <<'NODE'
const { existsSync, readFileSync, realpathSync } = require('node:fs');
const { dirname, join, relative } = require('node:path');
const root = realpathSync(process.argv[2]);
const modules = realpathSync(join(root, 'node_modules'));
const excluded = new Set(process.env.EXCLUDE.split(' ').filter(Boolean));
if (process.env.WITH_ONNXRUNTIME !== '1') excluded.add('onnxruntime-node');
const seen = new Set();
// Node's lookup: node_modules/<name> in the requiring package's folder and every folder above it.
function locate(name, from) {
  for (let dir = from; ; dir = dirname(dir)) {
    const candidate = join(dir, 'node_modules', name);
    if (existsSync(join(candidate, 'package.json'))) return realpathSync(candidate);
    if (dir === root || dir === dirname(dir)) return null;
  }
}
function visit(dir, optional) {
  if (seen.has(dir)) return;
  seen.add(dir);
  const manifest = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
  const deps = { ...manifest.dependencies, ...manifest.optionalDependencies };
  for (const name of Object.keys(deps)) {
    if (excluded.has(name)) continue;
    const found = locate(name, dir === root ? root : dir);
    if (found) visit(found, true);
    else if (!(manifest.optionalDependencies && name in manifest.optionalDependencies) && !(manifest.peerDependencies && name in manifest.peerDependencies)) {
      process.stderr.write(`gpu-bundle: ${name} (needed by ${manifest.name}) is not installed\n`);
      process.exit(1);
    }
  }
}
visit(root, false);
seen.delete(root);
for (const dir of [...seen].sort()) {
  const path = relative(modules, dir);
  if (path.startsWith('..')) {
    process.stderr.write(`gpu-bundle: ${dir} lies outside node_modules\n`);
    process.exit(1);
  }
  process.stdout.write(`${path}\n`);
}
NODE
modules_real=$(cd "$root/node_modules" && pwd -P)
mkdir -p "$app/node_modules"
while IFS= read -r package; do
  mkdir -p "$app/node_modules/$(dirname "$package")"
  # A nested package (a/node_modules/b) sits inside its parent's copy.
  [ -e "$app/node_modules/$package" ] || cp -R "$modules_real/$package" "$app/node_modules/$package"
done < "$stage/packages.txt"
# Nested node_modules of copied packages that are not in the closure (dev-only leftovers).
(cd "$app/node_modules" && find . -mindepth 2 -type d -name node_modules -prune | sed 's#^\./##') | while IFS= read -r nested; do
  for candidate in "$app/node_modules/$nested"/* "$app/node_modules/$nested"/@*/*; do
    [ -d "$candidate" ] || continue
    rel=${candidate#"$app/node_modules/"}
    case "$rel" in */node_modules/@*) [ -f "$candidate/package.json" ] || continue ;; esac
    grep -qxF "$rel" "$stage/packages.txt" || rm -rf "$candidate"
  done
done

# --- pruning: other platforms' binaries, browser bundles, sources, maps, types, docs
say "pruning"
nm="$app/node_modules"
find "$nm" \( -name '*.map' -o -name '*.d.ts' -o -name '*.d.mts' -o -name '*.d.cts' -o -name '*.md' -o -name '*.markdown' \
  -o -name '*.ts' -o -name '*.tsbuildinfo' -o -name '.github' -o -name '*.gyp' -o -name '*.cc' -o -name '*.h' \) -prune -exec rm -rf {} +
find "$nm" -type d -empty -delete
if [ -d "$nm/webgpu/dist" ]; then
  find "$nm/webgpu/dist" -mindepth 1 -maxdepth 1 ! -name linux-x64 -exec rm -rf {} +
  rm -rf "$nm/webgpu/build" "$nm/webgpu/test"
  # Dawn's module without its symbol table (its exports are dynamic symbols).
  if command -v strip >/dev/null && [ -f "$nm/webgpu/dist/linux-x64/dawn.node" ]; then
    strip --strip-unneeded "$nm/webgpu/dist/linux-x64/dawn.node" 2>/dev/null || true
  fi
fi
if [ -d "$nm/onnxruntime-node" ]; then
  find "$nm/onnxruntime-node/bin/napi-v6" -mindepth 1 -maxdepth 1 ! -name linux -exec rm -rf {} +
  find "$nm/onnxruntime-node/bin/napi-v6/linux" -mindepth 1 -maxdepth 1 ! -name x64 -exec rm -rf {} + 2>/dev/null || true
  rm -rf "$nm/onnxruntime-node/script" "$nm/onnxruntime-node/lib" "$nm/onnxruntime-node/node_modules/adm-zip"
fi
for package in "$nm"/@tensorflow/*; do
  [ -d "$package/dist" ] || continue
  # The CommonJS bundle Node loads (package.json's main: dist/tf-*.node.js) stays;
  # the browser bundles (tf-*.js, *.min.js, *.es2017.js, *.fesm.js) go.
  find "$package/dist" -maxdepth 1 -name 'tf-*.js' ! -name 'tf-*.node.js' -delete
  find "$package/dist" -name '*_test.js' -delete
  rm -rf "$package/wasm-out" "$package/src"
done
# tfjs-backend-cpu and -webgpu are loaded as their node bundles only; their module trees go too.
for package in "$nm/@tensorflow/tfjs-backend-cpu" "$nm/@tensorflow/tfjs-backend-webgpu"; do
  [ -d "$package/dist" ] || continue
  find "$package/dist" -mindepth 1 ! -name 'tf-*.node.js' ! -name '*.wasm' -exec rm -rf {} + 2>/dev/null || true
done
rm -rf "$nm/sharp/src" "$nm/sharp/install" "$nm/protobufjs/dist" "$nm/protobufjs/cli"
find "$nm" -type d -empty -delete

# --- check: the staged copy runs doctor with its own node, from an empty environment
if [ "$check" = 1 ]; then
  say "checking: p2phd doctor --json with the bundled node"
  if ! (cd "$stage" && env -i PATH=/usr/bin:/bin HOME="$stage" "$app/p2phd" doctor --json > "$stage/doctor.json" 2> "$stage/doctor.err"); then
    cat "$stage/doctor.err" >&2
    die "the staged bundle failed to run p2phd doctor"
  fi
  "$app/runtime/node" -e '
    const report = JSON.parse(require("node:fs").readFileSync(process.argv[1], "utf8"));
    const bad = report.backends.filter((b) => ["webgpu", "wasm (single thread)", "cpu"].includes(b.name) && b.state === "not installed");
    if (process.env.WITH_ONNXRUNTIME === "1" && report.backends.find((b) => b.name === "onnxruntime")?.state !== "ok") bad.push({ name: "onnxruntime" });
    if (bad.length > 0) { console.error(`gpu-bundle: missing from the bundle: ${bad.map((b) => b.name).join(", ")}`); process.exit(1); }
    for (const b of report.backends) console.error(`gpu-bundle:   ${b.name}: ${b.state}: ${b.reason}`);
  ' "$stage/doctor.json" || die "the staged bundle lacks a backend"
  rm -f "$stage/doctor.json" "$stage/doctor.err"
fi

# --- pack
mkdir -p "$out"
unpacked=$(du -sb "$app" | cut -f1)
say "packing $((unpacked / 1024 / 1024)) MiB with xz -$level (threads $threads); this takes a few minutes"
tmp="$out/bundle.tar.xz.tmp-$$"
trap 'rm -f "$tmp"; cleanup' EXIT
tar -C "$stage" --owner=0 --group=0 --numeric-owner --sort=name -cf - p2phd-gpu | xz "-$level" -T"$threads" -c > "$tmp"
mv "$tmp" "$out/bundle.tar.xz"

cat > "$out/unpack.sh" <<'UNPACK'
#!/bin/sh
# Unpacks bundle.tar.xz (beside this script) into DEST (default /tmp/p2phd-gpu-bundle)
# and prints DEST/p2phd-gpu. Uses xz, else Python's lzma.
set -e
here=$(cd "$(dirname "$0")" && pwd)
dest=${1:-/tmp/p2phd-gpu-bundle}
mkdir -p "$dest"
if command -v xz >/dev/null 2>&1; then
  xz -dc "$here/bundle.tar.xz" | tar -x -C "$dest"
else
  python3 -c 'import sys, tarfile; tarfile.open(sys.argv[1], "r:xz").extractall(sys.argv[2])' "$here/bundle.tar.xz" "$dest"
fi
echo "$dest/p2phd-gpu"
UNPACK
chmod 755 "$out/unpack.sh"

if [ "$with_gl" = 1 ]; then download_gl; fi

# --- sizes against the carry limit
bundle_bytes=$(stat -c %s "$out/bundle.tar.xz")
gl_bytes=0
[ -d "$out/gl" ] && gl_bytes=$(du -sb "$out/gl" | cut -f1)
tree_bytes=0
if git -C "$root" rev-parse --git-dir >/dev/null 2>&1; then
  tree_bytes=$(cd "$root" && git ls-files -z --cached --others --exclude-standard | xargs -0 stat -c %s 2>/dev/null | awk '{s += $1} END {print s + 0}')
fi
total=$((bundle_bytes + gl_bytes + tree_bytes))
commit=$(git -C "$root" rev-parse HEAD 2>/dev/null || echo unknown)
mib() { awk -v b="$1" 'BEGIN {printf "%.1f", b / 1048576}'; }
"$node_binary" -e '
  const [bundle, unpacked, gl, tree, total, limit, commit, node, packages] = process.argv.slice(1);
  const list = require("node:fs").readFileSync(packages, "utf8").split("\n").filter(Boolean);
  process.stdout.write(JSON.stringify({ bundle_bytes: +bundle, unpacked_bytes: +unpacked, gl_bytes: +gl, tree_bytes: +tree, carried_total_bytes: +total,
    limit_bytes: +limit, commit, node, built: new Date().toISOString(), packages: list }, null, 2) + "\n");
' "$bundle_bytes" "$unpacked" "$gl_bytes" "$tree_bytes" "$total" "$limit" "$commit" "$("$node_binary" --version)" "$stage/packages.txt" > "$out/manifest.json"
say "bundle $(mib "$bundle_bytes") MiB (unpacked $(mib "$unpacked") MiB), gl $(mib "$gl_bytes") MiB, tracked tree $(mib "$tree_bytes") MiB: $(mib "$total") MiB of the 64 MiB carry limit"
if [ "$total" -gt "$limit" ]; then
  die "over the 64 MiB carry limit; try --no-onnxruntime"
fi
echo "$out"
