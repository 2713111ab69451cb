import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { readSafetensorsFile } from '../../src/data/files/tensorFile.js';
import { checkLabelRange, instanceEdges, oneHot } from '../../src/data/datasets/labels.js';
import { InputError } from '../../src/errors.js';
import { GOLDEN_DIR } from '../support/cli.js';

test('golden parity: edges and one-hot equal the reference preprocessing (preprocess.safetensors)', async () => {
  const golden = await readSafetensorsFile(join(GOLDEN_DIR, 'preprocess.safetensors'));
  const labelNc = Number(golden.metadata['label_nc']);
  const inst = golden.tensors.get('inst')!;
  const label = golden.tensors.get('label')!;
  const [, , height, width] = inst.shape as [number, number, number, number];
  const edges = instanceEdges(inst.data as Int32Array, width, height);
  assert.deepEqual([...edges], [...(golden.tensors.get('edges')!.data as Float32Array)]);
  const onehot = oneHot(label.data as Int32Array, labelNc);
  assert.deepEqual([...onehot], [...(golden.tensors.get('onehot')!.data as Float32Array)]);
  // The network input is concat(one-hot, edges) along channels.
  const input = golden.tensors.get('input')!.data as Float32Array;
  assert.deepEqual([...input], [...onehot, ...edges]);
});

test('edges mark both pixels of every differing 4-neighbour pair, and nothing else', () => {
  // 4x3 map: one thing (26000) in the middle of stuff 7, touching another thing (26001).
  const inst = [
    7, 7, 7, 7,
    7, 26000, 26001, 7,
    7, 7, 7, 7,
  ];
  assert.deepEqual([...instanceEdges(inst, 4, 3)], [
    0, 1, 1, 0,
    1, 1, 1, 1,
    0, 1, 1, 0,
  ]);
  // Diagonal neighbours do not count.
  assert.deepEqual([...instanceEdges([1, 2, 2, 2], 2, 2)], [1, 1, 1, 0]);
  assert.deepEqual([...instanceEdges([5, 5, 5, 5], 2, 2)], [0, 0, 0, 0]);
});

test('a label id >= label_nc is an InputError naming the file, the id and the pixel', () => {
  assert.doesNotThrow(() => checkLabelRange([0, 34, 7], 3, 35, 'a.png'));
  assert.throws(() => checkLabelRange([0, 7, 34, 40], 2, 35, 'labels/a.png'), (error: unknown) => {
    assert.ok(error instanceof InputError);
    assert.match(error.message, /^labels\/a\.png: label id 40 at pixel \(1, 1\)/);
    return true;
  });
});
