/** --keep-samples: which strips go (hand-listed cases). */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { stripsToDelete } from '../../src/train/runRecorder.js';

const strip = (epoch: number, step: number): string => `epoch_${String(epoch).padStart(3, '0')}_step_${String(step).padStart(7, '0')}.png`;

describe('stripsToDelete', () => {
  it('keeps the latest N and the last strip of each epoch; other files are left alone', () => {
    // Epochs of 4 steps, a strip every 3 steps and at epoch ends.
    const names = [strip(1, 3), strip(1, 4), strip(2, 6), strip(2, 8), strip(3, 9), strip(3, 12), strip(4, 15), 'notes.txt'];
    assert.deepEqual(stripsToDelete(names, 2).sort(), [strip(1, 3), strip(2, 6), strip(3, 9)]);
    assert.deepEqual(stripsToDelete(names, 0).sort(), [strip(1, 3), strip(2, 6), strip(3, 9)]);
    assert.deepEqual(stripsToDelete(names, 4).sort(), [strip(1, 3), strip(2, 6)]);
    assert.deepEqual(stripsToDelete(names, 20), []);
  });
});
