/**
 * --label-feat (the reference's label_feat): E's output pooled per semantic
 * label instead of per instance. The reference's encode_input hands the
 * label map to E as its inst_map, so its Encoder averages each channel over
 * every pixel of a label (for each unique id i: the mean of out[b, c][inst ==
 * i], broadcast back). There is no label_feat golden file: the expected
 * pooling is computed here by hand, in float64, from the reference's own E
 * output (`raw` of golden encoder.safetensors) over the label map of its
 * instance map (Cityscapes ids: class = id < 1000 ? id : id // 1000).
 */
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { makeTensor } from '../../src/data/formats/safetensors.js';
import { resolveConfig } from '../../src/families/pix2pixhd/config.js';
import { instanceSegments } from '../../src/families/pix2pixhd/encoder.js';
import { encodeFeatures, networkSpecs } from '../../src/families/pix2pixhd/networks.js';
import { disposeParams, loadParams } from '../../src/model/params.js';
import { instanceFeatureRows } from '../../src/synthesis/featureRows.js';
import { featurePoolIds } from '../../src/synthesis/featurePooling.js';
import { goldenTensor, nchwToNhwc, readGolden, relativeL2, setUpBackend } from '../model/helpers.js';

describe('--label-feat: per-label pooling of E', () => {
  before(setUpBackend);

  it('pools the reference E output per label, as the reference does with label_feat', async () => {
    const golden = await readGolden('encoder');
    const g = golden.config;
    const config = resolveConfig({
      output_nc: g['input_nc'], feat_num: g['feat_num'], nef: g['nef'], n_downsample_E: g['n_downsample_E'], norm: g['norm'],
      instance_feat: true, label_feat: true,
    });
    const inst = goldenTensor(golden, 'inst');
    const [, , height, width] = inst.shape as [number, number, number, number];
    const instIds = inst.data as Int32Array;
    const labels = Uint8Array.from(instIds, (id) => (id < 1000 ? id : Math.floor(id / 1000)));
    assert.ok(new Set(labels).size < new Set(instIds).size, 'the golden map has labels with several instances');

    // What encode and synthesize pool by: the label map under label_feat.
    const ids = featurePoolIds(config, { source: 'golden', height, width, labels, instanceMap: Int32Array.from(instIds) })!;
    assert.deepEqual([...ids], [...labels]);

    // By hand: per label and channel, the float64 mean of the reference's raw output.
    const raw = goldenTensor(golden, 'raw').data as Float32Array; // NCHW, batch 1
    const channels = config.feat_num;
    const pixels = height * width;
    const expected = new Float32Array(channels * pixels);
    for (const label of new Set(labels)) {
      for (let c = 0; c < channels; c++) {
        let sum = 0;
        let count = 0;
        for (let p = 0; p < pixels; p++) if (labels[p] === label) { sum += raw[c * pixels + p]!; count++; }
        for (let p = 0; p < pixels; p++) if (labels[p] === label) expected[c * pixels + p] = sum / count;
      }
    }

    const { params } = loadParams(networkSpecs(config, 'E'), golden.tensors, { source: 'encoder', mode: 'strict' });
    const image = nchwToNhwc(goldenTensor(golden, 'image'));
    const pooled = encodeFeatures(config, params, image, instanceSegments(ids, 1, height, width), { training: false });
    const error = await relativeL2(pooled, makeTensor('F32', [1, channels, height, width], expected));
    assert.ok(error <= 1e-4, `per-label pooling: relative L2 ${error}`);

    // encode's rows: one per label (class = the label), read from the pooled map.
    const hwc = pooled.dataSync() as Float32Array;
    const rows = instanceFeatureRows(hwc, ids, height, width, channels);
    assert.deepEqual([...rows.instances], [...new Set(labels)].sort((a, b) => a - b));
    assert.deepEqual([...rows.classes], [...rows.instances]);
    rows.instances.forEach((label, row) => {
      const pixel = labels.indexOf(label);
      for (let c = 0; c < channels; c++) assert.ok(Math.abs(rows.features[row * channels + c]! - expected[c * pixels + pixel]!) < 1e-5);
    });
    tf.dispose([image, pooled]);
    disposeParams(params);
  });

  it('pools per instance without label_feat', () => {
    const config = resolveConfig({ instance_feat: true });
    const instanceMap = Int32Array.from([7, 26001, 26002]);
    assert.equal(featurePoolIds(config, { source: 'x', height: 1, width: 3, labels: Uint8Array.from([7, 26, 26]), instanceMap }), instanceMap);
    assert.throws(() => resolveConfig({ label_feat: true }), /needs instance_feat/);
  });
});
