import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { ClusterSet } from '../../src/data/files/clusters';
import { resolveConfig } from '../../src/families/pix2pixhd/config';
import { Random } from '../../src/model/random';
import { distinctInstanceIds } from '../../src/synthesis/featureRows';
import { buildGeneratorInput } from '../../src/synthesis/generatorInput';
import { checkStyleMap, chooseStyles, parseStyleMap, styleFeatureMap } from '../../src/synthesis/styles';

const clusters: ClusterSet = {
  featNum: 2, k: 3, minArea: 0.5, seed: 0,
  centers: new Map([
    [1, { count: 3, values: Float32Array.of(1, 1, 2, 2, 3, 3) }],
    [26, { count: 2, values: Float32Array.of(-1, 0, 0, -1) }],
  ]),
};

// 4x3 map: stuff class 1, two cars (26000, 26001), class 7 without centres.
const instanceMap = Int32Array.of(
  1, 1, 26000, 26000,
  1, 1, 26000, 26001,
  7, 7, 26001, 26001,
);
const ids = distinctInstanceIds(instanceMap);

describe('style selection', () => {
  it('first: centre 0 per class; classes without centres stay zero', () => {
    const features = styleFeatureMap(instanceMap, clusters, chooseStyles(ids, clusters, { mode: 'first' }));
    assert.deepEqual([...features.subarray(0, 2)], [1, 1]);
    assert.deepEqual([...features.subarray(2 * 2, 2 * 2 + 2)], [-1, 0]);
    assert.deepEqual([...features.subarray(8 * 2, 8 * 2 + 2)], [0, 0]);
  });

  it('index s: centre s mod k_c of each class', () => {
    const choice = chooseStyles(ids, clusters, { mode: 'index', index: 2 });
    assert.equal(choice.get(1), 2);
    assert.equal(choice.get(26000), 0);
    assert.equal(choice.get(7), -1);
  });

  it('random: repeatable for a seed, and a style-map entry does not shift the other draws', () => {
    const draw = (seed: number, map = new Map<number, number>()) => chooseStyles(ids, clusters, { mode: 'random', random: new Random(seed) }, map);
    assert.deepEqual(draw(5), draw(5));
    const plain = draw(5);
    const mapped = draw(5, new Map([[26000, 1 - plain.get(26000)!]]));
    assert.notEqual(mapped.get(26000), plain.get(26000));
    assert.equal(mapped.get(1), plain.get(1));
    assert.equal(mapped.get(26001), plain.get(26001));
  });

  it('--style-map changes the feature channels fed to G on the named instance\'s pixels and nowhere else', () => {
    const config = resolveConfig({ label_nc: 30, instance: true, instance_feat: true, feat_num: 2 });
    const labels = Uint8Array.from(instanceMap, (id) => (id < 1000 ? id : Math.floor(id / 1000)));
    const edges = new Uint8Array(instanceMap.length);
    const input = (styleMap: Map<number, number>) => buildGeneratorInput(config, {
      height: 3, width: 4, labels, edges,
      features: styleFeatureMap(instanceMap, clusters, chooseStyles(ids, clusters, { mode: 'first' }, styleMap)),
    });
    const before = input(new Map());
    const after = input(new Map([[26001, 1]]));
    const channels = 30 + 1 + 2;
    for (let p = 0; p < instanceMap.length; p++) {
      const changed = [...before.subarray(p * channels, (p + 1) * channels)].some((v, c) => v !== after[p * channels + c]);
      assert.equal(changed, instanceMap[p] === 26001, `pixel ${p} (instance ${instanceMap[p]})`);
    }
  });

  it('validates style maps: malformed entries and indices beyond a class\'s centres are exit 2', () => {
    assert.deepEqual([...parseStyleMap('{"26001": 1}', 'm.json')], [[26001, 1]]);
    for (const text of ['[1]', '{"a": 1}', '{"3": -1}', '{"3": 1.5}', 'nope']) {
      assert.throws(() => parseStyleMap(text, 'm.json'), (error: Error & { exitCode?: number }) => error.exitCode === 2 && /m\.json/.test(error.message), text);
    }
    assert.throws(() => checkStyleMap(new Map([[26001, 2]]), clusters, 'm.json'), /class 26 has 2 centres/);
    assert.throws(() => checkStyleMap(new Map([[7, 0]]), clusters, 'm.json'), /class 7, which has no cluster centres/);
    checkStyleMap(new Map([[26001, 1]]), clusters, 'm.json');
  });

  it('refuses two keys for one instance: "26001" and "026001", or one key written twice (exit 2)', () => {
    const refused = (text: string, pattern: RegExp): void => {
      assert.throws(() => parseStyleMap(text, 'm.json'), (error: Error & { exitCode?: number }) => error.exitCode === 2 && pattern.test(error.message), text);
    };
    refused('{"26001": 0, "026001": 1}', /m\.json: keys "26001" and "026001" both name instance 26001/);
    refused('{"26001": 0, "7": 1, "26001": 1}', /m\.json: key "26001" is given twice/);
    refused('{"26001": 0, "\\u0032\\u0036001": 1}', /key "26001" is given twice/);
    assert.deepEqual([...parseStyleMap('{ "26001" : 0, "26002":1 }', 'm.json')], [[26001, 0], [26002, 1]]);
  });
});
