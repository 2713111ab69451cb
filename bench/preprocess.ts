/**
 * Preprocess benchmark: Cityscapes-sized triples (2048x1024 label, 16-bit
 * instance map, PNG photo) -> 1024x512 sample files, through the real
 * `p2phd preprocess` command, files written. The reference's loader does one
 * triple in 0.126 s on one core of this machine class (issue 2); where
 * Debian's /usr/bin/python3 has PIL and numpy, the same work (decode, PIL
 * nearest / bicubic resize, the reference's edges) is timed there too.
 *
 *   npm run bench -- preprocess [--json] [--pairs=24]
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { benchOption } from './options.js';
import type { BenchArgs, StageResult } from './run.js';

const REPO_ROOT = join(__dirname, '..', '..');
const REFERENCE_SECONDS_PER_PAIR = 0.126;
const SYSTEM_PYTHON = '/usr/bin/python3';

/** The reference's per-pair work in PIL + numpy (its loader, without torch's tensor conversion). */
const PIL_LOOP = `
import sys, time, glob, os
import numpy as np
from PIL import Image
root = sys.argv[1]
labels = sorted(glob.glob(os.path.join(root, 'train_label', '*.png')))
insts = sorted(glob.glob(os.path.join(root, 'train_inst', '*.png')))
imgs = sorted(glob.glob(os.path.join(root, 'train_img', '*')))
start = time.perf_counter()
for l, i, p in zip(labels, insts, imgs):
    size = (1024, 512)
    label = np.asarray(Image.open(l).resize(size, Image.NEAREST))
    inst = np.asarray(Image.open(i).resize(size, Image.NEAREST)).astype(np.int32)
    img = np.asarray(Image.open(p).convert('RGB').resize(size, Image.BICUBIC))
    edge = np.zeros(inst.shape, dtype=bool)
    dx = inst[:, 1:] != inst[:, :-1]
    dy = inst[1:, :] != inst[:-1, :]
    edge[:, 1:] |= dx; edge[:, :-1] |= dx; edge[1:, :] |= dy; edge[:-1, :] |= dy
print((time.perf_counter() - start) / len(labels))
`;

export async function runBench(args: BenchArgs): Promise<StageResult> {
  const pairs = Number(benchOption(args.rest, 'pairs') ?? 24);
  const root = await mkdtemp(join(tmpdir(), 'p2phd-bench-preprocess-'));
  try {
    args.progress(`preprocess: generating ${pairs} 2048x1024 triples`);
    const make = spawnSync(process.execPath, [join(REPO_ROOT, 'dist', 'scripts', 'make-fixtures.js'), join(root, 'data'), '--train', String(pairs),
      '--test', '0', '--width', '2048', '--height', '1024', '--png-photos'], { encoding: 'utf8' });
    if (make.status !== 0) throw new Error(`make-fixtures failed: ${make.stderr}`);
    args.progress('preprocess: p2phd preprocess --load-size 1024');
    const started = process.hrtime.bigint();
    const run = spawnSync(process.execPath, [join(REPO_ROOT, 'bin', 'p2phd'), 'preprocess', '--dataroot', join(root, 'data'), '--phase', 'train',
      '--label-nc', '35', '--load-size', '1024', '--out', join(root, 'out')], { encoding: 'utf8' });
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    if (run.status !== 0) throw new Error(`p2phd preprocess failed: ${run.stderr}`);
    const perPair = seconds / pairs;
    const rows = [{
      implementation: 'p2phd preprocess (2 cores, files written)',
      's/pair': perPair,
      'pairs/s': 1 / perPair,
      'vs reference 0.126 s/pair': REFERENCE_SECONDS_PER_PAIR / perPair,
    }];
    if (existsSync(SYSTEM_PYTHON)) {
      const pil = spawnSync(SYSTEM_PYTHON, ['-c', PIL_LOOP, join(root, 'data')], { encoding: 'utf8' });
      const pilSeconds = Number(pil.stdout.trim());
      if (pil.status === 0 && Number.isFinite(pilSeconds)) {
        rows.push({ implementation: 'PIL + numpy, the reference loader\'s work (1 core)', 's/pair': pilSeconds, 'pairs/s': 1 / pilSeconds, 'vs reference 0.126 s/pair': REFERENCE_SECONDS_PER_PAIR / pilSeconds });
      } else {
        args.progress(`preprocess: PIL timing skipped (${pil.stderr.trim().split('\n').pop() ?? 'no PIL'})`);
      }
    }
    return {
      stage: 'preprocess',
      notes: [`${pairs} triples 2048x1024 -> 1024x512 (label, 16-bit instances, PNG photo), wall time including process start and writing`],
      rows,
    };
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}
