/** Exact painting on typed arrays (the page's edits), checked against hand-computed pixel sets. */
import { strict as assert } from 'node:assert';
import { describe, test } from 'node:test';
import { deleteInstance, downscaleNearest, floodFill, nextInstanceId, paintSegment, relabelInstance, type EditMaps } from '../../src/editor/shared/paint';
import { decodeStateBody, encodeStateBody, validSaveName } from '../../src/editor/shared/protocol';
import { checkState } from '../../src/editor/server';
import { parseClassNames, defaultClasses } from '../../src/data/datasets/classNames';

function maps(width: number, height: number, label = 7): EditMaps {
  return { width, height, labels: new Uint16Array(width * height).fill(label), instances: new Int32Array(width * height).fill(label) };
}

/** The painted pixels as "x,y" strings. */
function painted(m: EditMaps, label: number): string[] {
  const out: string[] = [];
  for (let p = 0; p < m.labels.length; p++) if (m.labels[p] === label) out.push(`${p % m.width},${Math.floor(p / m.width)}`);
  return out;
}

describe('paint', () => {
  test('a round click of size 4 at a pixel centre covers the 13 pixels within distance 2 (not the sqrt(5) ones)', () => {
    const m = maps(7, 7);
    paintSegment(m, { shape: 'round', size: 4 }, 3.5, 3.5, 3.5, 3.5, 26, 26000);
    assert.deepEqual(painted(m, 26), ['3,1', '2,2', '3,2', '4,2', '1,3', '2,3', '3,3', '4,3', '5,3', '2,4', '3,4', '4,4', '3,5']);
    assert.equal(m.instances[3 * 7 + 3], 26000);
    assert.equal(m.instances[0], 7);
  });

  test('a round click of size 1 covers one pixel; size 2 at a corner point covers the 4 around it', () => {
    const m = maps(5, 5);
    paintSegment(m, { shape: 'round', size: 1 }, 1.5, 1.5, 1.5, 1.5, 3, 3);
    assert.deepEqual(painted(m, 3), ['1,1']);
    const n = maps(5, 5);
    paintSegment(n, { shape: 'round', size: 2 }, 2, 2, 2, 2, 3, 3);
    // Centres at distance sqrt(0.5) < 1.
    assert.deepEqual(painted(n, 3), ['1,1', '2,1', '1,2', '2,2']);
  });

  test('a horizontal round stroke covers the capsule: rows within size/2 of the segment, round ends', () => {
    const m = maps(12, 7);
    paintSegment(m, { shape: 'round', size: 2.5 }, 2.5, 3.5, 8.5, 3.5, 1, 1);
    // Rows 2..4 between x 2..8 (distance <= 1), plus the end caps' x 1 and x 9 on row 3 (the caps' corners are sqrt(2) > 1.25 away).
    const expected: string[] = [];
    for (let y = 2; y <= 4; y++) for (let x = 0; x < 12; x++) if ((x >= 2 && x <= 8) || (y === 3 && (x === 1 || x === 9))) expected.push(`${x},${y}`);
    assert.deepEqual(painted(m, 1), expected);
  });

  test('a square brush covers a size x size block', () => {
    const m = maps(8, 8);
    paintSegment(m, { shape: 'square', size: 3 }, 4, 4, 4, 4, 2, 2);
    // Centres within 1.5 in the max norm of (4, 4): x, y in 3..5 (centres 3.5..5.5 minus 4 -> <=1.5) and 2 (2.5: 1.5).
    assert.deepEqual(painted(m, 2).length, 16);
    const n = maps(8, 8);
    paintSegment(n, { shape: 'square', size: 3 }, 4.5, 4.5, 4.5, 4.5, 2, 2);
    assert.deepEqual(painted(n, 2), ['3,3', '4,3', '5,3', '3,4', '4,4', '5,4', '3,5', '4,5', '5,5']);
  });

  test('strokes clip at the image border', () => {
    const m = maps(4, 4);
    paintSegment(m, { shape: 'round', size: 9 }, -10, -10, 0, 0, 5, 5);
    assert.ok(painted(m, 5).length > 0);
    assert.ok(painted(m, 5).every((s) => s.split(',').every((v) => Number(v) >= 0 && Number(v) < 4)));
  });

  test('flood fill changes the 4-connected region of the seed (same label and instance) only', () => {
    const m = maps(5, 5);
    // A wall of class 11 on column 2; diagonal contact does not connect.
    for (let y = 0; y < 5; y++) {
      m.labels[y * 5 + 2] = 11;
      m.instances[y * 5 + 2] = 11;
    }
    floodFill(m, 0, 0, 23, 23);
    assert.deepEqual(painted(m, 23), ['0,0', '1,0', '0,1', '1,1', '0,2', '1,2', '0,3', '1,3', '0,4', '1,4']);
    assert.equal(painted(m, 11).length, 5);
    assert.equal(painted(m, 7).length, 10);
  });

  test('flood fill tells objects of one class apart by instance id', () => {
    const m = maps(4, 1);
    m.labels.set([26, 26, 26, 26]);
    m.instances.set([26000, 26000, 26001, 26001]);
    floodFill(m, 0, 0, 24, 24000);
    assert.deepEqual([...m.labels], [24, 24, 26, 26]);
    assert.deepEqual([...m.instances], [24000, 24000, 26001, 26001]);
  });

  test('the next free id of a class is class x 1000 + (largest n + 1), or + 0', () => {
    const instances = Int32Array.from([7, 26000, 26002, 24005, 27001]);
    assert.equal(nextInstanceId(instances, 26), 26003);
    assert.equal(nextInstanceId(instances, 24), 24006);
    assert.equal(nextInstanceId(instances, 33), 33000);
  });

  test('relabel and delete an object: delete gives it what surrounds it', () => {
    const m = maps(5, 5, 11);
    for (const p of [6, 7, 11, 12]) {
      m.labels[p] = 26;
      m.instances[p] = 26000;
    }
    relabelInstance(m, 26000, 27, 27000);
    assert.deepEqual([6, 7, 11, 12].map((p) => m.instances[p]), [27000, 27000, 27000, 27000]);
    assert.deepEqual([6, 7, 11, 12].map((p) => m.labels[p]), [27, 27, 27, 27]);
    deleteInstance(m, 27000);
    assert.ok([...m.labels].every((label) => label === 11));
    assert.ok([...m.instances].every((id) => id === 11));
  });

  test('nearest downscale takes each block centre', () => {
    const map = Uint16Array.from({ length: 16 }, (_, i) => i);
    assert.deepEqual([...downscaleNearest(map, 4, 4, 2, (n) => new Uint16Array(n))], [5, 7, 13, 15]);
  });
});

describe('protocol and checks', () => {
  test('state bodies round-trip and refuse a wrong length', () => {
    const labels = Uint16Array.from([1, 2, 300]);
    const instances = Int32Array.from([1, 2000, 300]);
    const body = encodeStateBody({ styles: { 2000: 1 }, scale: 1 }, labels, instances);
    const decoded = decodeStateBody(body, 3);
    assert.ok(typeof decoded !== 'string');
    assert.deepEqual([...decoded.labels], [1, 2, 300]);
    assert.deepEqual([...decoded.instances], [1, 2000, 300]);
    assert.deepEqual(decoded.header, { styles: { 2000: 1 }, scale: 1 });
    assert.equal(typeof decodeStateBody(body, 4), 'string');
    assert.equal(typeof decodeStateBody(body.subarray(0, 3), 3), 'string');
  });

  test('save names', () => {
    for (const name of ['a', 'frankfurt_000000_000294', 'x-1.v2']) assert.ok(validSaveName(name), name);
    for (const name of ['', '.x', '..', 'a/b', 'a\\b', 'a..b', 'a b', 'a'.repeat(101), 5]) assert.ok(!validSaveName(name), String(name));
  });

  test('checkState: labels, instance classes and styles', () => {
    const classes = defaultClasses(35).map((info, id) => ({ id, name: info.name, thing: info.thing, colour: [0, 0, 0] as const, styles: id === 26 ? 2 : 0 }));
    const ok = checkState(Uint16Array.from([7, 26]), Int32Array.from([7, 26001]), new Map([[26001, 1]]), 35, classes);
    assert.equal(ok, undefined);
    assert.match(checkState(Uint16Array.from([35]), Int32Array.from([35]), new Map(), 35, classes)!, /label_nc/);
    assert.match(checkState(Uint16Array.from([7]), Int32Array.from([8]), new Map(), 35, classes)!, /does not belong/);
    assert.match(checkState(Uint16Array.from([26]), Int32Array.from([24000]), new Map(), 35, classes)!, /does not belong/);
    assert.match(checkState(Uint16Array.from([26]), Int32Array.from([26000]), new Map([[26000, 2]]), 35, classes)!, /has 2/);
    assert.match(checkState(Uint16Array.from([7]), Int32Array.from([7]), new Map([[7, 0]]), 35, classes)!, /no styles/);
  });

  test('class names: Cityscapes for 35, a file with * for things otherwise', () => {
    const cityscapes = defaultClasses(35);
    assert.equal(cityscapes[26]!.name, 'car');
    assert.equal(cityscapes.filter((info) => info.thing).length, 10);
    assert.deepEqual(parseClassNames('# mine\nsky\n*tree\n', 2, 'f'), [{ name: 'sky', thing: false }, { name: 'tree', thing: true }]);
    assert.throws(() => parseClassNames('sky\n', 2, 'f'), /1 names, but the model has label_nc 2/);
  });
});
