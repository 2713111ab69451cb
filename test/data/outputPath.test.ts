import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { linkSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { checkOutputPath, type InputArgument, type OutputTarget } from '../../src/data/files/outputPath.js';
import { temporaryFolder } from '../support/cli.js';

describe('checkOutputPath', () => {
  const work = temporaryFolder('outpath');
  const root = work.path;
  const labels = join(root, 'labels');
  const run = join(root, 'run');
  const features = join(root, 'f.safetensors');
  before(() => {
    mkdirSync(join(labels, 'sub'), { recursive: true });
    writeFileSync(join(labels, 'a.png'), 'a');
    writeFileSync(join(labels, 'sub', 'b.png'), 'b');
    mkdirSync(run);
    writeFileSync(join(run, 'latest.safetensors'), 'c');
    writeFileSync(features, 'f');
    linkSync(features, join(root, 'hard.safetensors'));
    symlinkSync(labels, join(root, 'labels_link'));
    symlinkSync(features, join(root, 'f_link.safetensors'));
    writeFileSync(join(root, 'plain'), 'p');
  });
  after(() => work.remove());

  const folderOut = (path: string): OutputTarget => ({ flag: '--out', path, kind: 'folder' });
  const fileOut = (path: string): OutputTarget => ({ flag: '--out', path, kind: 'file' });
  const refused = (output: OutputTarget, inputs: InputArgument[], pattern: RegExp): void => {
    assert.throws(() => checkOutputPath(output, inputs), (error: Error & { exitCode?: number }) => error.exitCode === 2 && pattern.test(error.message), `${output.path}`);
  };
  const labelInput = (path = labels): InputArgument[] => [{ flag: '--labels', path }];

  test('a folder output that is an input folder, however spelt, or lies inside one', () => {
    for (const out of [labels, `${labels}/`, join(labels, '.'), join(root, 'labels_link'), relative(process.cwd(), labels)]) {
      refused(folderOut(out), labelInput(), /is the input folder --labels/);
    }
    refused(folderOut(join(labels, 'sub')), labelInput(), /inside the input folder/);
    refused(folderOut(join(labels, 'new', 'deeper')), labelInput(join(root, 'labels_link')), /inside the input folder/);
  });
  test('a folder output that holds an input file named directly or by a glob', () => {
    refused(folderOut(labels), labelInput(join(labels, '*.png')), /holds .*a\.png/);
    refused(folderOut(join(labels, 'sub')), labelInput(join(labels, '**', '*.png')), /holds .*b\.png/);
    refused(folderOut(root), [{ flag: '--clusters', path: features }], /holds .*f\.safetensors/);
    refused(folderOut(run), [{ flag: '--checkpoint', path: run, kind: 'checkpoint' }], /holds .*latest\.safetensors/);
  });
  test('a file output that is an input file: same path, a link, a hard link, a checkpoint folder', () => {
    const inputs: InputArgument[] = [{ flag: '--features', path: features }];
    for (const out of [features, join(root, 'hard.safetensors'), join(root, 'f_link.safetensors'), join(root, '.', 'f.safetensors')]) {
      refused(fileOut(out), inputs, /same file as .*f\.safetensors/);
    }
    refused(fileOut(join(run, 'latest.safetensors')), [{ flag: '--checkpoint', path: run, kind: 'checkpoint' }], /same file/);
    refused(fileOut(features), [{ flag: '--features', path: join(root, '*.safetensors') }], /same file/);
    // An input folder is searched recursively: a file written into it, new or not, would be read as an input.
    refused(fileOut(join(labels, 'a.png')), labelInput(), /inside the input folder --labels/);
    refused(fileOut(join(labels, 'sub', 'new.safetensors')), labelInput(), /inside the input folder --labels/);
  });
  test('paths that cannot be written', () => {
    refused(fileOut(root), [], /is a folder/);
    refused(fileOut(join(root, 'plain', 'x.safetensors')), [], /plain is a file/);
    refused(fileOut(join(root, 'missing', 'x.safetensors')), [], /missing does not exist/);
    refused(folderOut(join(root, 'plain')), [], /is a file, not a folder/);
    refused(folderOut(join(root, 'plain', 'deeper')), [], /plain is a file/);
    refused(folderOut('-'), [], /--out -/);
    refused(fileOut(''), [], /empty/);
  });
  test('what is allowed: stdout for files, new or existing outputs beside the inputs, a folder above an input folder', () => {
    checkOutputPath(fileOut('-'), [{ flag: '--features', path: '-' }]);
    checkOutputPath(fileOut(join(root, 'new.safetensors')), [{ flag: '--features', path: features }]);
    checkOutputPath(fileOut(join(root, 'plain')), [{ flag: '--features', path: features }]);
    checkOutputPath(folderOut(join(root, 'results', 'a')), labelInput());
    checkOutputPath(folderOut(root), labelInput());
    checkOutputPath(folderOut(join(run, 'results')), [{ flag: '--checkpoint', path: run, kind: 'checkpoint' }]);
    checkOutputPath(folderOut(join(root, 'x')), [{ flag: '--labels', path: undefined }, { flag: '--labels', path: join(root, 'none', '*.png') }]);
  });
});
