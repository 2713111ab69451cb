/**
 * --vgg-weights from torchvision's .pth (only features.* read), and the
 * message that tells a user without weights where PyTorch keeps them and
 * where to download them.
 */
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { InputError } from '../../src/errors.js';
import { readVgg19Weights, torchHubVgg19Path, TORCHVISION_VGG19, vggOffMessage } from '../../src/train/vggWeights.js';
import { REPO_ROOT, temporaryFolder } from '../support/cli.js';
import { setUpBackend } from '../model/helpers.js';

const FIXTURES = join(REPO_ROOT, 'test', 'data', 'pth-fixtures');

before(setUpBackend);

test('VGG19 weights from a .pth with torchvision names; the message without weights says how to get them', async () => {
  // The fixture holds features.0 and .2 only: reading goes through to the first missing layer.
  const vgg = join(FIXTURES, 'vgg_legacy.pth');
  await assert.rejects(readVgg19Weights(vgg), (e: unknown) => e instanceof InputError && e.message === `${vgg}: has no tensor "features.5.weight" (VGG19 features weights expected)`);
  assert.equal(torchHubVgg19Path({ TORCH_HOME: '/t' }), '/t/hub/checkpoints/vgg19-dcbb9e9d.pth');
  const missing = await vggOffMessage({ TORCH_HOME: '/nonexistent' });
  assert.ok(missing.includes(TORCHVISION_VGG19.url) && missing.includes('--vgg-weights vgg19-dcbb9e9d.pth'), missing);
  const folder = temporaryFolder('vgg-cache');
  try {
    const cached = torchHubVgg19Path({ TORCH_HOME: folder.path });
    mkdirSync(join(folder.path, 'hub', 'checkpoints'), { recursive: true });
    copyFileSync(vgg, cached);
    assert.ok((await vggOffMessage({ TORCH_HOME: folder.path })).endsWith(`add --vgg-weights ${cached}`));
  } finally {
    folder.remove();
  }
});

