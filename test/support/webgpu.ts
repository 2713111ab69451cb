/**
 * Tests on webgpu when this machine has a WebGPU adapter (a software one
 * counts: CI installs Mesa's lavapipe), else one skipped suite saying so, so
 * that `npm test` passes on a bare machine.
 */
import { describe } from 'node:test';
import { initBackend } from '../../src/backend/index.js';
import { probeAdapterQuietly } from '../../src/backend/webgpu/device.js';

let available: boolean | undefined;

/**
 * Whether Dawn finds an adapter. Asked in a child process (probeAdapterQuietly):
 * node:test needs the answer synchronously, when the suite is declared.
 */
export function webgpuAdapterAvailable(): boolean {
  available ??= probeAdapterQuietly() !== null;
  return available;
}

/** Makes webgpu the current backend (a software adapter is fine for tests). */
export async function setUpWebgpu(): Promise<void> {
  await initBackend('webgpu', { log: () => {} });
}

/** `describe` on webgpu: `body` gets the set-up to run before its tests. */
export function onWebgpu(title: string, body: (setUp: () => Promise<void>) => void): void {
  const skip = webgpuAdapterAvailable() ? false : 'skipped: no WebGPU adapter';
  describe(title, { skip }, () => body(setUpWebgpu));
}
