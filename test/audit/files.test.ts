/**
 * The second hostile audit (issue 25), cases that need no training: hostile
 * tensor files, output paths, closed and full streams, odd file names.
 */
import { after, describe, test } from 'node:test';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { FIXTURES_DIR, temporaryFolder } from '../support/cli.js';
import { expectFailure } from '../support/audit.js';
import { rawSafetensorsText } from '../support/safetensors.js';

describe('audit round 2: files', () => {
  const work = temporaryFolder('audit2-files');
  after(() => work.remove());

  test('5. a safetensors header over 16 MiB is refused before it is read', () => {
    // 17 MiB of empty tensors and no p2phd metadata: before, it was parsed whole (seconds, gigabytes for 99 MB).
    const entries: string[] = [];
    let length = 2;
    for (let i = 0; length < 17 * 1024 * 1024; i++) {
      const entry = `"t${i}":{"dtype":"F32","shape":[0],"data_offsets":[0,0]}`;
      entries.push(entry);
      length += entry.length + 1;
    }
    const path = join(work.path, 'huge-header.safetensors');
    writeFileSync(path, rawSafetensorsText(`{${entries.join(',')}}`, 0));
    expectFailure(['synthesize', '--checkpoint', path, '--labels', join(FIXTURES_DIR, 'test_label'), '--out', join(work.path, 'out5')], 3, [/huge-header\.safetensors/, /header length \d+ is over the 16777216-byte limit/]);
    expectFailure(['inspect', path], 3, [/over the 16777216-byte limit/]);
  });

  test('5. the kind is checked on the metadata before the tensor table is built', () => {
    // A header whose tensor table is broken (a name twice) and which is no p2phd file: the kind is what is reported.
    const path = join(work.path, 'foreign.safetensors');
    const entry = '{"dtype":"F32","shape":[0],"data_offsets":[0,0]}';
    writeFileSync(path, rawSafetensorsText(`{"__metadata__":{"format":"pt"},"w":${entry},"w":${entry}}`, 0));
    expectFailure(['synthesize', '--checkpoint', path, '--labels', join(FIXTURES_DIR, 'test_label'), '--out', join(work.path, 'out5b')], 3, [/foreign\.safetensors: not a p2phd file/]);
    expectFailure(['inspect', path], 3, [/foreign\.safetensors/, /listed twice/]);
  });
});
