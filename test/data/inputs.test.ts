import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileStem, findMisnamedPair, outputNames, pairInputs } from '../../src/data/datasets/inputs.js';
import { InputError } from '../../src/errors.js';

const labels = ['l/a_000001_gtFine_labelIds.png', 'l/a_000002_gtFine_labelIds.png', 'l/b_000001_gtFine_labelIds.png'];
const images = ['i/a_000001_leftImg8bit.png', 'i/a_000002_leftImg8bit.png', 'i/b_000001_leftImg8bit.png'];

test('pairs by sorted position; a count mismatch names the file without a counterpart', () => {
  const pairs = pairInputs({ labels: { pattern: 'l', files: labels }, images: { pattern: 'i', files: images } });
  assert.deepEqual(pairs[2], { label: labels[2], image: images[2] });
  assert.throws(
    () => pairInputs({ labels: { pattern: 'l', files: labels }, images: { pattern: 'i', files: [images[0]!, images[2]!] } }),
    (error: unknown) => error instanceof InputError && /3 files in l but 2 in i: no counterpart in i for l\/a_000002_gtFine_labelIds\.png/.test(error.message),
  );
});

test('findMisnamedPair: equal counts but shifted names are caught; matching names pass', () => {
  const good = pairInputs({ labels: { pattern: 'l', files: labels }, images: { pattern: 'i', files: images } });
  assert.equal(findMisnamedPair(good), undefined);
  const shifted = pairInputs({ labels: { pattern: 'l', files: labels }, images: { pattern: 'i', files: [images[0]!, images[2]!, 'i/c_000001_leftImg8bit.png'] } });
  assert.deepEqual(findMisnamedPair(shifted), { label: labels[1], other: images[2] });
});

test('output names are label stems; two labels with one stem are refused', () => {
  assert.equal(fileStem('x/y/aachen_000000_000019_gtFine_labelIds.png'), 'aachen_000000_000019_gtFine_labelIds');
  assert.deepEqual(outputNames([{ label: 'a/x.png' }, { label: 'a/y.png' }], '.safetensors'), ['x.safetensors', 'y.safetensors']);
  assert.throws(() => outputNames([{ label: 'a/x.png' }, { label: 'b/x.png' }], '.safetensors'), /a\/x\.png and b\/x\.png: both would be written as x\.safetensors/);
});

test('kindSuffix keeps frame numbers and partial words in the base', async () => {
  const { kindSuffix } = await import('../../src/data/datasets/inputs.js');
  assert.equal(kindSuffix(['a_000001_leftImg8bit', 'b_000001_leftImg8bit']), '_leftImg8bit');
  assert.equal(kindSuffix(['synthcity_000000_000019_gtFine_labelIds', 'synthcity_000001_000019_gtFine_labelIds']), '_gtFine_labelIds');
  assert.equal(kindSuffix(['only_000001_gtFine_labelIds']), '_gtFine_labelIds');
  assert.equal(kindSuffix(['x1', 'y1']), '');
});
