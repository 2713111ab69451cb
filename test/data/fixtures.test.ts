import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { readIdMap } from '../../src/data/formats/png.js';
import { CityscapesClass } from '../../scripts/make-fixtures.js';
import { FIXTURES_DIR, REPO_ROOT, temporaryFolder } from '../support/cli.js';

test('the generator reproduces the committed label and instance maps byte for byte', () => {
  const folder = temporaryFolder('fixtures');
  try {
    const run = spawnSync(process.execPath, [join(REPO_ROOT, 'dist', 'scripts', 'make-fixtures.js'), folder.path], { encoding: 'utf8' });
    assert.equal(run.status, 0, run.stderr);
    for (const part of ['train_label', 'train_inst', 'test_label', 'test_inst']) {
      const committed = readdirSync(join(FIXTURES_DIR, part)).sort();
      assert.deepEqual(readdirSync(join(folder.path, part)).sort(), committed, part);
      for (const name of committed) {
        assert.ok(readFileSync(join(folder.path, part, name)).equals(readFileSync(join(FIXTURES_DIR, part, name))), `${part}/${name} differs`);
      }
    }
  } finally {
    folder.remove();
  }
});

test('fixture scenes follow the Cityscapes conventions the demo and tests rely on', async () => {
  const known = new Set<number>(Object.values(CityscapesClass));
  const labels = readdirSync(join(FIXTURES_DIR, 'train_label')).sort();
  const instances = readdirSync(join(FIXTURES_DIR, 'train_inst')).sort();
  assert.equal(labels.length, 24);
  assert.equal(readdirSync(join(FIXTURES_DIR, 'test_label')).length, 8);
  let touchingPairs = 0;
  for (let f = 0; f < labels.length; f++) {
    const label = await readIdMap(join(FIXTURES_DIR, 'train_label', labels[f]!));
    const inst = await readIdMap(join(FIXTURES_DIR, 'train_inst', instances[f]!));
    assert.deepEqual([label.width, label.height], [256, 128]);
    const counts = new Map<number, number>();
    for (let i = 0; i < label.ids.length; i++) {
      const classId = label.ids[i]!;
      const id = inst.ids[i]!;
      assert.ok(known.has(classId), `class ${classId}`);
      // stuff = class id; things = class * 1000 + k.
      assert.equal(id < 1000 ? id : Math.floor(id / 1000), classId, `${labels[f]} pixel ${i}`);
      counts.set(classId, (counts.get(classId) ?? 0) + 1);
      // Touching instances of one class: horizontal neighbours with different thing ids of one class.
      const right = inst.ids[i + 1];
      if ((i + 1) % label.width !== 0 && id >= 1000 && right !== undefined && right !== id && Math.floor(right / 1000) === Math.floor(id / 1000)) touchingPairs++;
    }
    // Sky on top, road at the bottom, both large; some cars.
    assert.equal(label.ids[0], CityscapesClass.sky);
    assert.ok((counts.get(CityscapesClass.sky) ?? 0) > 0.05 * label.ids.length, labels[f]);
    assert.ok((counts.get(CityscapesClass.road) ?? 0) > 0.1 * label.ids.length, labels[f]);
    assert.ok((counts.get(CityscapesClass.car) ?? 0) > 0, labels[f]);
  }
  assert.ok(touchingPairs > 0, 'some instances touch others of their class');
});
