/**
 * `p2phd doctor --json`: every backend is named with a state and a reason,
 * and auto's picks follow the documented order.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { DoctorReport } from '../../src/backend/doctor.js';
import { runCli } from '../support/cli.js';
import { webgpuAdapterAvailable } from '../support/webgpu.js';

describe('p2phd doctor', () => {
  it('--json names every backend with its state and reason, and what auto picks', async () => {
    const result = await runCli(['doctor', '--json']);
    assert.equal(result.status, 0, result.stderr);
    const report = JSON.parse(result.stdout) as DoctorReport;
    assert.deepEqual(report.backends.map((entry) => entry.name), ['tensorflow', 'webgpu', 'wasm (threaded)', 'wasm (single thread)', 'cpu', 'onnxruntime']);
    for (const entry of report.backends) {
      assert.ok(['ok', 'not installed', 'fails'].includes(entry.state), `${entry.name}: ${entry.state}`);
      assert.ok(entry.reason.length > 0 && !entry.reason.includes('\n'), `${entry.name}: one-line reason`);
    }
    const state = (name: string): string => report.backends.find((entry) => entry.name === name)!.state;
    // This repository's own dependencies always load.
    assert.equal(state('wasm (single thread)'), 'ok');
    assert.equal(state('cpu'), 'ok');
    const webgpu = report.backends.find((entry) => entry.name === 'webgpu')!;
    if (webgpuAdapterAvailable()) {
      assert.equal(webgpu.state, 'ok', webgpu.reason);
      assert.equal(typeof webgpu.adapter!.software, 'boolean');
      assert.ok(webgpu.adapter!.limits['maxStorageBufferBindingSize']! > 0);
    }
    // auto never trains on a software adapter.
    if (state('tensorflow') !== 'ok' && webgpu.adapter?.software !== false) {
      assert.match(report.auto.training, /^wasm/);
      // Inference: ONNX Runtime ahead of wasm where it loads (AUTO_INFERENCE_ONNXRUNTIME), as initBackend's auto does.
      assert.match(report.auto.inference, state('onnxruntime') === 'ok' ? /^onnxruntime/ : /^wasm/);
    }
  });
});
