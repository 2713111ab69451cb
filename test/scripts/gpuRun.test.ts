/**
 * scripts/gpu-run.sh, the script prepared for a lent GPU machine, on this
 * machine: its tiny path (GPU_RUN_TINY=1) on Mesa's lavapipe, and its time
 * budget (every part skipped, the JSON still complete). PyTorch is left out
 * (GPU_RUN_TORCH=0): tests never use it. The script records its JSON with
 * python3's standard library, so both tests need python3.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT, temporaryFolder } from '../support/cli.js';

const SCRIPT = join(REPO_ROOT, 'scripts', 'gpu-run.sh');
const ICD_FOLDER = '/usr/share/vulkan/icd.d';

function lavapipeManifest(): string | undefined {
  try {
    const name = readdirSync(ICD_FOLDER).find((file) => /^lvp_icd.*\.json$/.test(file));
    return name ? join(ICD_FOLDER, name) : undefined;
  } catch {
    return undefined;
  }
}

function hasPython(): boolean {
  return spawnSync('python3', ['-c', 'import json'], { stdio: 'ignore' }).status === 0;
}

interface Part {
  status: string;
  why?: string;
  exit?: number;
  command?: string;
  result?: { notes: string[]; rows: Array<Record<string, string | number | null>> } | null;
  output_tail?: string[];
}

interface RunReport {
  mode: string;
  probe: { shell: string; fixes: string[] };
  doctor: { backends: Array<{ name: string; state: string }> };
  webgpu: { ready: boolean; software: boolean | null; why: string; blockers: string[] };
  pytorch: { skipped?: string };
  parts: Record<string, Part>;
  summary: Array<Record<string, string | number>>;
  finished: string;
}

function runScript(env: Record<string, string>, timeoutSeconds: number): { status: number | null; report: RunReport; log: string; stdout: string } {
  const out = temporaryFolder('p2phd-gpu-run-');
  try {
    const result = spawnSync('bash', [SCRIPT], {
      cwd: REPO_ROOT,
      env: { ...process.env, OUT: out.path, GPU_RUN_TORCH: '0', P2PHD_WASM_THREADS: '1', ...env },
      encoding: 'utf8',
      timeout: timeoutSeconds * 1000,
    });
    const jsonPath = join(out.path, 'gpu-run.json');
    assert.ok(existsSync(jsonPath), `no gpu-run.json; stdout:\n${result.stdout}\nstderr:\n${result.stderr}`);
    return {
      status: result.status,
      report: JSON.parse(readFileSync(jsonPath, 'utf8')) as RunReport,
      log: readFileSync(join(out.path, 'gpu-run.log'), 'utf8'),
      stdout: result.stdout,
    };
  } finally {
    out.remove();
  }
}

const python = hasPython();
const lavapipe = lavapipeManifest();

describe('scripts/gpu-run.sh', () => {
  it('with no time budget, skips every part, says why, and still writes the whole JSON', { skip: python ? false : 'skipped: no python3 (gpu-run.sh records its JSON with it)' }, () => {
    const { status, report, log } = runScript({ GPU_RUN_TINY: '1', GPU_RUN_BUDGET_S: '0' }, 180);
    assert.equal(status, 0, log);
    assert.equal(report.mode, 'tiny');
    // The tiny path's five parts: WebGPU and PyTorch for synthesis and the step, and onnxruntime's synthesis.
    assert.deepEqual(Object.keys(report.parts).sort(), [
      'synth-tiny-64x32-onnxruntime',
      'synth-tiny-64x32-torch',
      'synth-tiny-64x32-webgpu',
      'train-tiny-64x32-torch',
      'train-tiny-64x32-webgpu',
    ]);
    for (const [name, part] of Object.entries(report.parts)) {
      assert.equal(part.status, 'skipped', name);
      const expected = name.endsWith('-torch') ? 'GPU_RUN_TORCH=0' : report.webgpu.ready || name.endsWith('-onnxruntime') ? 'time budget spent' : 'Dawn has no usable adapter (see webgpu)';
      assert.equal(part.why, expected, name);
    }
    assert.equal(report.pytorch.skipped, 'GPU_RUN_TORCH=0');
    assert.match(report.finished, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    // The probe ran before any part: doctor's report is in the JSON.
    assert.deepEqual(report.doctor.backends.map((entry) => entry.name), ['tensorflow', 'webgpu', 'wasm (threaded)', 'wasm (single thread)', 'cpu', 'onnxruntime']);
    assert.match(report.probe.shell, /## ldconfig -p/);
  });

  it('tiny path on lavapipe: synthesis and a training step on WebGPU, synthesis on onnxruntime, each with figures', {
    skip: !python ? 'skipped: no python3 (gpu-run.sh records its JSON with it)' : !lavapipe ? `skipped: no lavapipe (${ICD_FOLDER}/lvp_icd*.json)` : false,
    timeout: 300_000,
  }, () => {
    const { status, report, log } = runScript({ GPU_RUN_TINY: '1' }, 280);
    assert.equal(status, 0, log);
    assert.ok(report.probe.shell.includes(lavapipe!), 'the probe lists the lavapipe manifest');
    assert.deepEqual(report.probe.fixes, [`VK_DRIVER_FILES=${lavapipe} (tiny mode: lavapipe)`]);
    assert.equal(report.webgpu.ready, true, report.webgpu.why);
    assert.equal(report.webgpu.software, true);
    const ok = (name: string): Array<Record<string, string | number | null>> => {
      const part = report.parts[name]!;
      assert.equal(part.status, 'ok', `${name}: ${JSON.stringify(part.output_tail)}`);
      assert.equal(part.exit, 0);
      return part.result!.rows;
    };
    const [synth] = ok('synth-tiny-64x32-webgpu');
    assert.equal(synth!['model'], 'tiny');
    assert.equal(synth!['size'], '64x32');
    assert.equal(synth!['engine'], 'webgpu');
    assert.ok((synth!['image s (best after first)'] as number) > 0);
    const [step] = ok('train-tiny-64x32-webgpu');
    assert.equal(step!['config'], 'tiny');
    assert.equal(step!['size'], '64x32');
    assert.ok((step!['s_per_step'] as number) > 0);
    // The tiny G (45,387 parameters) and D (15,801), counted by hand from the layer shapes: 0.06 M, shown as 0.1.
    assert.equal(step!['params_M'], 0.1);
    assert.ok((step!['peak_tensor_MiB'] as number) >= 0);
    const [onnx] = ok('synth-tiny-64x32-onnxruntime');
    assert.equal(onnx!['engine'], 'onnxruntime');
    // The side-by-side table pairs each piece of work across engines.
    const works = Object.fromEntries(report.summary.map((row) => [row['work'], row]));
    assert.deepEqual(Object.keys(works).sort(), ['synth-tiny-64x32', 'train-tiny-64x32']);
    assert.equal(works['train-tiny-64x32']!['webgpu_s'], step!['s_per_step']);
    assert.equal(works['synth-tiny-64x32']!['torch_s'], 'skipped');
    // Every command and its output went to the log.
    assert.match(log, /----- synth-tiny-64x32-webgpu: .*synthesize --json --backend webgpu --models tiny --sizes 64x32/);
    assert.match(log, /----- train-tiny-64x32-webgpu: .*train --json --backend webgpu --configs tiny --size 64x32/);
  });
});
