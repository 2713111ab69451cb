import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { readSample, writeSample, type Sample, type SampleMetadata } from '../../src/data/datasets/sample.js';
import { makeTensor, type Tensor } from '../../src/data/formats/safetensors.js';
import { writeTensorFile } from '../../src/data/files/tensorFile.js';
import { InputError } from '../../src/errors.js';
import { instanceEdges, oneHot } from '../../src/data/datasets/labels.js';
import { runCliSync, temporaryFolder, GOLDEN_DIR, REPO_ROOT } from '../support/cli.js';

function metadataFor(sample: Sample): SampleMetadata {
  return {
    label_nc: sample.labelNc,
    size: [sample.height, sample.width],
    sources: { label: 'l.png', inst: 'i.png', image: 'p.png' },
    resize: { mode: 'scale_width', load_size: 4, fine_size: 2, size_base: 16, source_size: [4, 8], map_filter: 'nearest', image_filter: 'bicubic' },
  };
}

test('a sample round-trips: tensors, dtypes, shapes and metadata', async () => {
  const folder = temporaryFolder('sample');
  try {
    const inst = Int32Array.from([7, 7, 26000, 26001, 7, 7, 26000, 26001]);
    const label = Uint8Array.from([7, 7, 26, 26, 7, 7, 26, 26]);
    const sample: Sample = {
      height: 2, width: 4, labelNc: 35, label, inst, edges: instanceEdges(inst, 4, 2),
      image: new Uint8Array(2 * 4 * 3).map((_, i) => i * 10), onehot: oneHot(label, 35),
    };
    const path = join(folder.path, 's.safetensors');
    await writeSample(path, sample, metadataFor(sample));
    const back = await readSample(path);
    assert.deepEqual([back.height, back.width, back.labelNc], [2, 4, 35]);
    assert.ok(back.label instanceof Uint8Array);
    assert.deepEqual([...back.label!], [...label]);
    assert.deepEqual([...back.inst!], [...inst]);
    assert.deepEqual([...back.edges!], [...sample.edges!]);
    assert.deepEqual([...back.image!], [...sample.image!]);
    assert.deepEqual([...back.onehot!], [...sample.onehot!]);
    assert.deepEqual(back.metadata.resize.source_size, [4, 8]);
    assert.equal(back.metadata.sources.inst, 'i.png');

    // label_nc > 256 stores U16 labels.
    const wide: Sample = { height: 1, width: 2, labelNc: 300, label: Uint16Array.from([0, 299]) };
    await writeSample(path, wide, metadataFor(wide));
    const wideBack = await readSample(path);
    assert.ok(wideBack.label instanceof Uint16Array);
    assert.deepEqual([...wideBack.label!], [0, 299]);

    // inspect reports it as a sample.
    const cli = runCliSync(['inspect', path]);
    assert.equal(cli.status, 0, cli.stderr);
    const summary = JSON.parse(cli.stdout) as { kind: string; version: number; tensors: Array<{ name: string; dtype: string; min: number; max: number }> };
    assert.equal(summary.kind, 'sample');
    assert.equal(summary.version, 1);
    assert.deepEqual(summary.tensors.map((t) => [t.name, t.dtype, t.min, t.max]), [['label', 'U16', 0, 299]]);
  } finally {
    folder.remove();
  }
});

test('sample files that break the schema are InputErrors naming the file and the tensor', async () => {
  const folder = temporaryFolder('badsample');
  try {
    const path = join(folder.path, 'bad.safetensors');
    const meta = { label_nc: 35, size: [2, 2] };
    const cases: Array<[Map<string, Tensor>, Record<string, unknown>, RegExp]> = [
      [new Map<string, Tensor>([['label', makeTensor('U8', [2, 3], new Uint8Array(6))]]), meta, /"label" has shape \[2, 3\], expected \[2, 2\]/],
      [new Map<string, Tensor>([['label', makeTensor('F32', [2, 2], new Float32Array(4))]]), meta, /"label" is F32, expected U8 or U16/],
      [new Map<string, Tensor>([['label', makeTensor('U8', [2, 2], Uint8Array.from([0, 1, 2, 40]))]]), meta, /label id 40 at pixel \(1, 1\)/],
      [new Map<string, Tensor>([['label', makeTensor('U8', [2, 2], new Uint8Array(4))], ['inst', makeTensor('I32', [2, 2], new Int32Array(4))]]), meta, /no tensor "edges"/],
      [new Map<string, Tensor>([['label', makeTensor('U8', [2, 2], new Uint8Array(4))]]), { label_nc: 35 }, /no valid size/],
      [new Map<string, Tensor>([['image', makeTensor('U8', [2, 2, 3], new Uint8Array(12))]]), meta, /no tensor "label"/],
    ];
    for (const [tensors, metadata, pattern] of cases) {
      await writeTensorFile(path, 'sample', tensors, metadata);
      await assert.rejects(readSample(path), (error: unknown) => {
        assert.ok(error instanceof InputError, String(error));
        assert.ok(error.message.startsWith(path), error.message);
        assert.match(error.message, pattern);
        return true;
      });
    }
  } finally {
    folder.remove();
  }
});

test('inspect: any safetensors file (kind null), and stdin', () => {
  const golden = join(GOLDEN_DIR, 'preprocess.safetensors');
  const cli = runCliSync(['inspect', golden]);
  assert.equal(cli.status, 0, cli.stderr);
  const summary = JSON.parse(cli.stdout) as { kind: null; metadata: Record<string, string>; tensors: Array<{ name: string; shape: number[]; bytes: number; mean: number }> };
  assert.equal(summary.kind, null);
  assert.equal(summary.metadata['label_nc'], '5');
  const edges = summary.tensors.find((t) => t.name === 'edges')!;
  assert.deepEqual(edges.shape, [1, 1, 32, 48]);
  assert.equal(edges.bytes, 32 * 48 * 4);
  assert.ok(edges.mean > 0 && edges.mean < 1);
  const piped = spawnSync(process.execPath, [join(REPO_ROOT, 'bin', 'p2phd'), 'inspect', '-'], { input: readFileSync(golden), encoding: 'utf8' });
  assert.equal(piped.status, 0, piped.stderr);
  assert.equal((JSON.parse(piped.stdout) as { file: string }).file, '<stdin>');
});
