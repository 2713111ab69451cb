/**
 * The docs test's substitutions (shim.ts), against hand-written argument
 * lists: what a page's command becomes when the docs test runs it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { shrinkP2phdArgs, tinyLoadSize } from './shim.js';

const TINY = ['--ngf', '8', '--n-downsample-global', '2', '--n-blocks-global', '1', '--ndf', '8', '--n-layers-d', '2', '--nef', '4', '--n-downsample-e', '2'];

test('--load-size: an eighth, a multiple of 4, within 64..256', () => {
  assert.equal(tinyLoadSize('1024'), '128');
  assert.equal(tinyLoadSize('4096'), '256');
  assert.equal(tinyLoadSize('256'), '64');
  assert.equal(tinyLoadSize('x'), 'x');
});

test('preprocess: a given --load-size shrinks; the default gets 128 unless --resize-or-crop none', () => {
  assert.deepEqual(shrinkP2phdArgs(['preprocess', '--dataroot', 'd', '--load-size=2048', '--out', 'o']).args, ['preprocess', '--dataroot', 'd', '--load-size', '256', '--out', 'o']);
  assert.deepEqual(shrinkP2phdArgs(['preprocess', '--dataroot', 'd', '--out', 'o']).args, ['preprocess', '--dataroot', 'd', '--out', 'o', '--load-size', '128']);
  assert.deepEqual(shrinkP2phdArgs(['preprocess', '--resize-or-crop', 'none', '--out', 'o']).args, ['preprocess', '--resize-or-crop', 'none', '--out', 'o']);
});

test('train global without --init: the tiny architecture replaces given values and fills the rest; one step', () => {
  const { args } = shrinkP2phdArgs(['train', 'global', '--data', 'd', '--out', 'r', '--ngf', '64', '--max-steps', '500', '--save-every', '10']);
  assert.deepEqual(args, ['train', 'global', '--data', 'd', '--out', 'r', '--ngf', '8', ...TINY.slice(2), '--max-steps', '1']);
});

test('train local with --init: only the given sizes shrink', () => {
  const { args } = shrinkP2phdArgs(['train', 'local', '--init', 'g', '--ngf', '32', '--num-d', '3', '--epochs', '10']);
  assert.deepEqual(args, ['train', 'local', '--init', 'g', '--ngf', '4', '--num-d', '3', '--epochs', '10', '--max-steps', '1']);
});

test('demo and edit: flags checked only', () => {
  assert.deepEqual(shrinkP2phdArgs(['demo', '--out', 'x']), { args: ['demo', '--out', 'x', '--help'], helpOnly: true });
  assert.equal(shrinkP2phdArgs(['edit', '--checkpoint', 'c']).helpOnly, true);
  assert.equal(shrinkP2phdArgs(['synthesize', '--checkpoint', 'c']).helpOnly, false);
});

test('train pix2pix without --init: narrow U-Net and D; one step', () => {
  assert.deepEqual(shrinkP2phdArgs(['train', 'pix2pix', '--data', 's', '--out', 'r', '--ngf', '64']).args, ['train', 'pix2pix', '--data', 's', '--out', 'r', '--ngf', '4', '--ndf', '4', '--max-steps', '1']);
});
