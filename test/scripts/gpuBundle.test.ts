/**
 * The bundle scripts/gpu-bundle.sh makes for a GPU machine without Node.js:
 * under the device tool's 64 MiB carry limit with the tracked tree, holding
 * Linux x86-64 binaries only, and running `p2phd doctor --json` with its own
 * node from an empty environment once unpacked.
 *
 * Packing takes minutes (xz -9 over about 180 MiB), so this test checks the
 * bundle already in .gpu/ and skips when there is none; GPU_BUNDLE_BUILD=1
 * builds one first (into a temporary folder).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT, temporaryFolder } from '../support/cli.js';

const LIMIT = 64 * 1024 * 1024;
const build = process.env['GPU_BUNDLE_BUILD'] === '1';
const existing = join(REPO_ROOT, '.gpu');
const hasXz = spawnSync('xz', ['--version'], { stdio: 'ignore' }).status === 0;
const skip = !hasXz
  ? 'skipped: xz is not installed'
  : !build && !existsSync(join(existing, 'bundle.tar.xz'))
    ? 'skipped: no .gpu/bundle.tar.xz (scripts/gpu-bundle.sh builds it in minutes; GPU_BUNDLE_BUILD=1 makes this test build one)'
    : false;

interface Manifest {
  bundle_bytes: number;
  gl_bytes: number;
  tree_bytes: number;
  carried_total_bytes: number;
  node: string;
  packages: string[];
}

/** Bytes of the files git would send: tracked, plus untracked ones not ignored. */
function treeBytes(): number {
  const listed = spawnSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], { cwd: REPO_ROOT, encoding: 'utf8' });
  assert.equal(listed.status, 0, listed.stderr);
  return listed.stdout
    .split('\0')
    .filter((path) => path !== '')
    .reduce((sum, path) => {
      try {
        return sum + statSync(join(REPO_ROOT, path)).size;
      } catch {
        return sum; // listed but deleted in the work tree
      }
    }, 0);
}

describe('scripts/gpu-bundle.sh', { skip }, () => {
  it('fits the carry limit, holds Linux x86-64 binaries only, and runs p2phd doctor with its own node', { timeout: 3_600_000 }, () => {
    const work = temporaryFolder('p2phd-gpu-bundle-');
    try {
      let folder = existing;
      if (build) {
        folder = join(work.path, 'bundle');
        const built = spawnSync('bash', [join(REPO_ROOT, 'scripts', 'gpu-bundle.sh'), '--out', folder], { cwd: REPO_ROOT, encoding: 'utf8' });
        assert.equal(built.status, 0, built.stderr);
      }
      const tarball = join(folder, 'bundle.tar.xz');
      const manifest = JSON.parse(readFileSync(join(folder, 'manifest.json'), 'utf8')) as Manifest;
      // The manifest describes this tarball (not an older one).
      assert.equal(manifest.bundle_bytes, statSync(tarball).size);
      const glBytes = existsSync(join(folder, 'gl')) ? manifest.gl_bytes : 0;
      const total = statSync(tarball).size + glBytes + treeBytes();
      assert.ok(total <= LIMIT, `bundle ${statSync(tarball).size} + gl ${glBytes} + tree = ${total} bytes, over ${LIMIT}`);

      const listing = spawnSync('tar', ['-tJf', tarball], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
      assert.equal(listing.status, 0, listing.stderr);
      const paths = listing.stdout.split('\n');
      for (const needed of [
        'p2phd-gpu/runtime/node',
        'p2phd-gpu/p2phd',
        'p2phd-gpu/bin/p2phd',
        'p2phd-gpu/dist/src/cli.js',
        'p2phd-gpu/dist/bench/run.js',
        'p2phd-gpu/bench/train_step_torch.py',
        'p2phd-gpu/node_modules/webgpu/dist/linux-x64/dawn.node',
        'p2phd-gpu/node_modules/@tensorflow/tfjs-backend-webgpu/dist/tf-backend-webgpu.node.js',
        'p2phd-gpu/node_modules/@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-simd.wasm',
      ]) {
        assert.ok(paths.includes(needed), `${needed} is in the bundle`);
      }
      const foreign = paths.filter((path) => /(darwin|win32|linux-arm64|\/arm64\/)/.test(path) || /\.(dll|dylib)$/.test(path));
      assert.deepEqual(foreign, [], 'no other platform\'s binaries');
      assert.deepEqual(paths.filter((path) => /node_modules\/(vega|vega-lite|typescript|puppeteer-core)\//.test(path)), [], 'no report charting or dev packages');

      const unpacked = spawnSync('sh', [join(folder, 'unpack.sh'), join(work.path, 'unpacked')], { encoding: 'utf8' });
      assert.equal(unpacked.status, 0, unpacked.stderr);
      const home = unpacked.stdout.trim();
      assert.equal(home, join(work.path, 'unpacked', 'p2phd-gpu'));
      const node = spawnSync(join(home, 'runtime', 'node'), ['--version'], { encoding: 'utf8' });
      assert.equal(node.stdout.trim(), manifest.node);

      // From an empty environment and a folder outside the repository: nothing of this checkout is reachable.
      const doctor = spawnSync(join(home, 'p2phd'), ['doctor', '--json'], {
        cwd: work.path,
        env: { PATH: '/usr/bin:/bin', HOME: work.path, P2PHD_WASM_THREADS: '1' },
        encoding: 'utf8',
        timeout: 300_000,
      });
      assert.equal(doctor.status, 0, doctor.stderr);
      const report = JSON.parse(doctor.stdout) as { node: string; backends: Array<{ name: string; state: string; reason: string }> };
      assert.equal(report.node, manifest.node, 'doctor ran on the bundled node');
      const state = Object.fromEntries(report.backends.map((entry) => [entry.name, entry.state]));
      assert.equal(state['wasm (single thread)'], 'ok');
      assert.equal(state['cpu'], 'ok');
      // Dawn is in the bundle: it loads (ok with a Vulkan driver, fails without one), never "not installed".
      assert.notEqual(state['webgpu'], 'not installed');
      if (manifest.packages.includes('onnxruntime-node')) assert.equal(state['onnxruntime'], 'ok');
    } finally {
      work.remove();
    }
  });
});
