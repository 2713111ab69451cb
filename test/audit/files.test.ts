/**
 * The second hostile audit (issue 25), cases that need no training: hostile
 * tensor files, output paths, closed and full streams, odd file names.
 */
import { after, describe, test } from 'node:test';
import { copyFileSync, existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { CLI, FIXTURES_DIR, REPO_ROOT, runCliSync, temporaryFolder } from '../support/cli.js';
import { checkFailure, expectFailure } from '../support/audit.js';
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

  test('12. export and import check --out as every command does: a file where a folder goes, a missing folder (exit 2)', () => {
    const checkpoint = join(work.path, 'any.safetensors');
    writeFileSync(checkpoint, 'not read: the output is checked first');
    const taken = join(work.path, 'taken');
    writeFileSync(taken, 'x');
    expectFailure(['export', checkpoint, '--format', 'pytorch', '--out', taken], 2, [/--out .*taken: is a file, not a folder/]);
    expectFailure(['export', checkpoint, '--format', 'onnx', '--out', join(work.path, 'no', 'such', 'G.onnx')], 2, [/--out .*G\.onnx: the folder .* does not exist/]);
    expectFailure(['export', checkpoint, '--format', 'onnx', '--out', work.path], 2, [/--out .*: is a folder/]);
    expectFailure(['import', '--netG', checkpoint, '--out', join(taken, 'x.safetensors')], 2, [/--out .*taken is a file/]);
  });

  const unshareWorks = spawnSync('unshare', ['-rm', 'true']).status === 0;
  test('12. a read-only folder is exit 2 naming it, for export and import as for synthesize', { skip: unshareWorks ? false : 'skipped: unshare -rm (a user + mount namespace for a read-only bind mount) is not available here' }, () => {
    const readOnly = join(work.path, 'ro');
    mkdirSync(readOnly);
    const checkpoint = join(work.path, 'any2.safetensors');
    writeFileSync(checkpoint, 'x');
    const cases: string[][] = [
      ['export', checkpoint, '--format', 'pytorch', '--out', join(readOnly, 'exported')],
      ['export', checkpoint, '--format', 'onnx', '--out', join(readOnly, 'G.onnx')],
      ['import', '--netG', checkpoint, '--out', join(readOnly, 'imported.safetensors')],
      ['synthesize', '--checkpoint', checkpoint, '--labels', join(FIXTURES_DIR, 'test_label'), '--out', join(readOnly, 'images')],
    ];
    for (const args of cases) {
      const command = `mount --bind -o ro "$1" "$1" && mount -o remount,bind,ro "$1" && shift && exec "$@"`;
      const result = spawnSync('unshare', ['-rm', 'sh', '-c', command, 'sh', readOnly, process.execPath, CLI, ...args], { encoding: 'utf8' });
      checkFailure({ status: result.status, stdout: result.stdout, stderr: result.stderr }, `p2phd ${args.join(' ')} (read-only)`, 2, [/--out .*ro/, /read-only file system/]);
    }
  });

  test('14. --shard takes the integers --k takes: a count past 2^53 is refused, not rounded', () => {
    expectFailure(['preprocess', '--dataroot', FIXTURES_DIR, '--shard', '0/99999999999999999999', '--out', join(work.path, 'shard')], 2, [/--shard COUNT: "99999999999999999999" is not a whole number/]);
    expectFailure(['cluster', '--features', 'f', '--k', '99999999999999999999', '--out', 'o'], 2, [/--k: "99999999999999999999" is not a whole number/]);
  });

  test('9. a legal 240-byte file name is written: the temporary name fits where the final name fits', () => {
    const netG = join(REPO_ROOT, 'test', 'data', 'pth-fixtures', 'ref_global', 'latest_net_G.pth');
    const opt = join(REPO_ROOT, 'test', 'data', 'pth-fixtures', 'ref_global', 'opt.txt');
    // 240 bytes of ASCII, and 240 bytes of two-byte characters (the cut must not split one).
    for (const name of [`${'a'.repeat(228)}.safetensors`, `${'é'.repeat(114)}.safetensors`]) {
      assert.equal(Buffer.byteLength(name), 240);
      const out = join(work.path, name);
      const result = runCliSync(['import', '--netG', netG, '--opt', opt, '--out', out]);
      assert.equal(result.status, 0, result.stderr);
      assert.ok(existsSync(out));
      assert.deepEqual(readdirSync(work.path).filter((entry) => entry.endsWith('.tmp')), []);
    }
  });

  test('6. folder inputs keep names holding a newline (preprocess)', () => {
    const labels = join(work.path, 'newline-labels');
    mkdirSync(join(labels, 'city\nfolder'), { recursive: true });
    const sources = readdirSync(join(FIXTURES_DIR, 'test_label')).sort().slice(0, 3);
    copyFileSync(join(FIXTURES_DIR, 'test_label', sources[0]!), join(labels, 'plain_gtFine_labelIds.png'));
    copyFileSync(join(FIXTURES_DIR, 'test_label', sources[1]!), join(labels, 'new\nline_gtFine_labelIds.png'));
    copyFileSync(join(FIXTURES_DIR, 'test_label', sources[2]!), join(labels, 'city\nfolder', 'inner_gtFine_labelIds.png'));
    const out = join(work.path, 'newline-samples');
    const result = runCliSync(['preprocess', '--labels', labels, '--label-nc', '35', '--resize-or-crop', 'scale_width', '--load-size', '32', '--out', out]);
    assert.equal(result.status, 0, result.stderr);
    assert.equal(readdirSync(out).filter((name) => name.endsWith('.safetensors')).length, 3, readdirSync(out).join(', '));
  });
});
