/**
 * The reliability audit's cases about paths and bounds (issue 12, part B):
 * outputs that would overwrite inputs or cannot be written, input names and
 * folders that used to trip the file listing, architecture values and flags
 * out of range, corrupt weights and hostile image sizes. Each case gives the
 * contract's exit code, one error line naming the flag or file, and leaves
 * the inputs intact. Library-level cases (bounds from files, corrupt weights,
 * hostile image sizes, empty clusters) are in test/model/bounds.test.ts and
 * test/synthesis/synthesize.test.ts.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, linkSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { FIXTURES_DIR, filesBelow, runCliSync, temporaryFolder } from '../support/cli.js';

const STACK_LINE = /^\s+at .+:\d+:\d+\)?$/m;

/** Runs p2phd, expects `code` with one error line matching every `mentions`; returns the line. */
function expectFailure(args: string[], code: number, mentions: RegExp[]): string {
  const started = Date.now();
  const result = runCliSync(args);
  const context = `p2phd ${args.join(' ')}\n--- stderr ---\n${result.stderr}`;
  assert.equal(result.status, code, `exit code\n${context}`);
  assert.doesNotMatch(result.stderr, STACK_LINE, `no stack trace\n${context}`);
  const errorLines = result.stderr.split('\n').filter((line) => /^(p2phd: |error: )/.test(line));
  assert.equal(errorLines.length, 1, `exactly one error line\n${context}`);
  for (const mention of mentions) assert.match(errorLines[0]!, mention, `the error line mentions ${mention}\n${context}`);
  assert.ok(Date.now() - started < 60_000, `answered in under a minute\n${context}`);
  return errorLines[0]!;
}

function expectSuccess(args: string[]): string {
  const result = runCliSync(args);
  assert.equal(result.status, 0, `p2phd ${args.join(' ')}\n${result.stderr}`);
  return result.stderr;
}

/** Every file below a folder with its bytes, to show that nothing changed. */
function snapshot(folder: string): Map<string, string> {
  return new Map(filesBelow(folder).map((name) => [name, readFileSync(join(folder, name)).toString('base64')]));
}

describe('outputs, input names and bounds (issue 12, part B)', () => {
  const work = temporaryFolder('audit-b');
  const root = work.path;
  // The checks come before anything is read: stand-ins for a run folder and a clusters file do.
  const samples = join(root, 'samples');
  const run = join(root, 'run');
  const checkpoint = join(run, 'latest.safetensors');
  const labels = join(root, 'labels');
  const instances = join(root, 'instances');
  const clusters = join(root, 'clusters.safetensors');
  const synthesize = (out: string): string[] =>
    ['synthesize', '--checkpoint', run, '--labels', labels, '--instances', instances, '--clusters', clusters, '--out', out];

  before(() => {
    for (const folder of [samples, run, labels, instances, join(root, 'x_label')]) mkdirSync(folder);
    writeFileSync(checkpoint, 'stand-in');
    writeFileSync(clusters, 'stand-in');
    writeFileSync(join(samples, 'a.safetensors'), 'stand-in');
    for (const name of filesBelow(join(FIXTURES_DIR, 'test_label')).slice(0, 2)) {
      copyFileSync(join(FIXTURES_DIR, 'test_label', name), join(labels, name));
      const inst = name.replace('labelIds', 'instanceIds');
      copyFileSync(join(FIXTURES_DIR, 'test_inst', inst), join(instances, inst));
    }
  });
  after(() => work.remove());

  // Every spelling and kind of clash: test/data/outputPath.test.ts. Here, that each command checks.
  describe('an output never replaces an input (exit 2, before any work)', () => {
    test('synthesize --out its --labels folder', () => {
      const before = snapshot(labels);
      expectFailure(synthesize(`${labels}/`), 2, [/--out/, /labels/]);
      assert.deepEqual(snapshot(labels), before);
    });
    test('cluster --out one of its --features files; encode --out the checkpoint it reads', () => {
      const features = join(root, 'features.safetensors');
      writeFileSync(features, 'features stand-in');
      const hardLink = join(root, 'hard.safetensors');
      linkSync(features, hardLink);
      expectFailure(['cluster', '--features', features, '--k', '2', '--out', hardLink], 2, [/--out/, /hard\.safetensors/, /same file/]);
      expectFailure(['encode', '--data', samples, '--checkpoint', run, '--out', checkpoint], 2, [/--out/, /latest\.safetensors/]);
      assert.equal(readFileSync(features, 'utf8'), 'features stand-in');
      assert.equal(readFileSync(checkpoint, 'utf8'), 'stand-in');
    });
    test('train --out its --data folder; preprocess --out a --dataroot input folder', () => {
      expectFailure(['train', 'global', '--data', samples, '--out', samples, '--max-steps', '1'], 2, [/--out/, /--data/]);
      expectFailure(['preprocess', '--dataroot', root, '--phase', 'x', '--out', join(root, 'x_label')], 2, [/--out/, /--dataroot/]);
    });
  });

  describe('--out that cannot be written is named first (exit 2)', () => {
    test('a file output that is a folder or lies below a file', () => {
      const notAFolder = join(root, 'plain.txt');
      writeFileSync(notAFolder, 'x');
      expectFailure(['encode', '--data', samples, '--checkpoint', run, '--out', root], 2, [/--out/, /is a folder/]);
      expectFailure(['cluster', '--features', join(root, 'nothing.safetensors'), '--out', join(notAFolder, 'f.safetensors')], 2, [/--out/, /plain\.txt is a file/]);
    });
    test('"-" where it means nothing: synthesize, train', () => {
      expectFailure(synthesize('-'), 2, [/--out -/]);
      expectFailure(['train', 'global', '--data', samples, '--out', '-', '--max-steps', '1'], 2, [/--out -/]);
      assert.equal(existsSync(join(root, '-')), false);
    });
  });

  describe('input names and folders', () => {
    test('a file named with glob characters is taken literally', () => {
      const odd = join(root, 'odd');
      mkdirSync(odd);
      const [name] = filesBelow(labels);
      for (const literal of ['label (1).png', 'x [a].png']) {
        copyFileSync(join(labels, name!), join(odd, literal));
        copyFileSync(join(instances, filesBelow(instances)[0]!), join(odd, `inst ${literal}`));
        const out = join(root, `out_${literal.replace(/\W/g, '')}`);
        expectSuccess(['preprocess', '--labels', join(odd, literal), '--instances', join(odd, `inst ${literal}`), '--load-size', '32', '--out', out]);
        assert.deepEqual(filesBelow(out), [literal.replace('.png', '.safetensors')]);
      }
    });
    test('a symbolic link cycle in an input folder is not followed', () => {
      const cyclic = join(root, 'cyclic');
      mkdirSync(join(cyclic, 'labels'), { recursive: true });
      for (const name of filesBelow(labels)) copyFileSync(join(labels, name), join(cyclic, 'labels', name));
      symlinkSync('.', join(cyclic, 'labels', 'self'));
      symlinkSync('..', join(cyclic, 'labels', 'up'));
      const out = join(root, 'cyclic_out');
      expectSuccess(['preprocess', '--labels', join(cyclic, 'labels'), '--no-instance', '--load-size', '32', '--out', out]);
      assert.equal(filesBelow(out).length, filesBelow(labels).length);
    });
  });

  describe('bounds named by their flag (exit 2)', () => {
    test('an architecture flag far out of range', () => {
      expectFailure(['train', 'global', '--data', samples, '--out', join(root, 'r1'), '--n-blocks-global', '10000000'], 2, [/--n-blocks-global/, /256/]);
    });
    test('resize flags out of range', () => {
      expectFailure(['preprocess', '--labels', labels, '--no-instance', '--load-size', '65537', '--out', join(root, 'p1')], 2, [/--load-size/, /65537/]);
      expectFailure(['preprocess', '--labels', labels, '--no-instance', '--resize-or-crop', 'none', '--size-base', '100000', '--out', join(root, 'p2')], 2, [/--size-base/]);
      expectFailure(['preprocess', '--labels', labels, '--no-instance', '--fine-size', '99999', '--out', join(root, 'p3')], 2, [/--fine-size/]);
    });
  });
});
