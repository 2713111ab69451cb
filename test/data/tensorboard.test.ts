/**
 * TensorBoard event files, read back with the tests' own decoder
 * (test/support/tfevents.ts: bitwise CRC32C, hand-read protobuf wire format).
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EventFileWriter, FILE_VERSION } from '../../src/data/formats/tensorboard.js';
import { crc32cBitwise, readEventsFolder } from '../support/tfevents.js';

describe('TensorBoard event files', () => {
  const root = mkdtempSync(join(tmpdir(), 'p2phd-tfevents-'));
  after(() => rmSync(root, { recursive: true, force: true }));

  it('the test decoder\'s CRC32C gives the standard check value', () => {
    // CRC-32C of "123456789" is 0xE3069283 (RFC 3720, appendix B.4).
    assert.equal(crc32cBitwise(Buffer.from('123456789')), 0xe3069283);
  });

  it('frames each event with valid masked CRCs; scalars and images at their steps', async () => {
    const dir = join(root, 'plain');
    const writer = await EventFileWriter.open(dir);
    const png = Buffer.from([0x89, 0x50, 0x4e, 0x47, 1, 2, 3, 250]);
    await writer.scalars(1, { 'G_GAN': 0.75, lr: 0.0002 }, 1000.5);
    await writer.scalars(2, { 'G_GAN': 1 / 3, lr: 0.0002 }, 1001.25);
    await writer.image(2, 'samples', { png, width: 12, height: 4, channels: 3 }, 1001.5);
    await writer.close();

    const { files, events } = readEventsFolder(dir);
    assert.equal(files.length, 1);
    assert.match(files[0]!, /^events\.out\.tfevents\.\d{10}\./);
    assert.equal(events[0]!.fileVersion, FILE_VERSION, 'the first event names the file version');
    assert.deepEqual(events.slice(1).map((event) => [event.step, event.wallTime]), [[1, 1000.5], [2, 1001.25], [2, 1001.5]]);
    assert.deepEqual(events[1]!.scalars, [{ tag: 'G_GAN', value: 0.75 }, { tag: 'lr', value: Math.fround(0.0002) }]);
    assert.equal(events[2]!.scalars[0]!.value, Math.fround(1 / 3));
    assert.deepEqual(events[3]!.images, [{ tag: 'samples', height: 4, width: 12, colorspace: 3, png }]);
  });

  it('a resumed run drops the steps after its checkpoint (and a torn record) from earlier files, then appends', async () => {
    const dir = join(root, 'resumed');
    const first = await EventFileWriter.open(dir);
    for (let step = 1; step <= 5; step++) await first.scalars(step, { 'D_real': step });
    await first.close();
    appendFileSync(first.path, Buffer.from([9, 0, 0, 0, 0, 0, 0, 0, 1, 2])); // a write torn by a kill

    const second = await EventFileWriter.open(dir, { resumedAtStep: 3 });
    assert.notEqual(second.path, first.path, 'a new file for the resumed run');
    for (let step = 4; step <= 6; step++) await second.scalars(step, { 'D_real': 10 * step });
    await second.close();

    const { files, events } = readEventsFolder(dir);
    assert.equal(files.length, 2);
    const scalars = events.filter((event) => event.scalars.length > 0).map((event) => [event.step, event.scalars[0]!.value]);
    assert.deepEqual(scalars, [[1, 1], [2, 2], [3, 3], [4, 40], [5, 50], [6, 60]]);
  });

  it('a resumed run drops a last record whose data fails its CRC', async () => {
    const dir = join(root, 'corrupt');
    const first = await EventFileWriter.open(dir);
    for (let step = 1; step <= 3; step++) await first.scalars(step, { G_GAN: step });
    await first.close();
    const bytes = readFileSync(first.path);
    bytes[bytes.length - 6] ^= 0xff; // inside the last record's data
    writeFileSync(first.path, bytes);
    await (await EventFileWriter.open(dir, { resumedAtStep: 10 })).close();
    const { events } = readEventsFolder(dir);
    assert.deepEqual(events.filter((event) => event.scalars.length > 0).map((event) => event.step), [1, 2]);
  });
});
