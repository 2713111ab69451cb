#!/usr/bin/python3
"""Compares p2phd's aligned data with the reference's AlignedDataset on any A|B file
(a dev tool, not part of `npm test`; the committed goldens are tiny, this checks real sizes).

    npm run build
    /usr/bin/python3 scripts/check_reference_pix2pix_data.py REFERENCE_DIR FILE \\
        [--preprocess resize_and_crop] [--load-size 286] [--crop-size 256] [--direction AtoB] \\
        [--input-nc 3] [--output-nc 3] [--crop-pos X Y] [--flip]

REFERENCE_DIR holds the reference's data/ and models/ (e.g. `git archive 2a7afba data models util`).
The reference's __getitem__ runs with base_dataset's random draws fixed to --crop-pos and --flip
(torchvision stood in for as in reference_pix2pix_data.py); p2phd's preprocess (buildAlignedSample)
and per-step crop (planAlignedCrop + applyAlignedCrop) run in node on the same draws. Prints, per
tensor, how many values differ and by how much; exit 1 if any does.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
from types import SimpleNamespace

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
import reference_pix2pix_data as golden  # noqa: E402

NODE_SIDE = r"""
const [root, settingsJson] = process.argv.slice(1);
const s = JSON.parse(settingsJson);
const { buildAlignedSample } = require(root + '/dist/src/data/datasets/alignedPreprocess.js');
const { applyAlignedCrop, planAlignedCrop } = require(root + '/dist/src/data/datasets/aligned.js');
(async () => {
  const { images } = await buildAlignedSample(s.file, { direction: s.direction, inputNc: s.input_nc, outputNc: s.output_nc,
    resize: { mode: s.preprocess, loadSize: s.load_size, cropSize: s.crop_size } });
  const draws = [...s.crop_pos];
  const random = { nextInt: (n) => Math.min(draws.shift(), n - 1), nextFloat: () => (s.flip ? 0.75 : 0.25) };
  const plan = planAlignedCrop({ width: images.width, height: images.height }, { mode: s.preprocess, cropSize: s.crop_size, flip: true }, random);
  const step = applyAlignedCrop(images, plan);
  process.stdout.write(JSON.stringify({ height: step.height, width: step.width, A: Array.from(step.A), B: Array.from(step.B) }));
})().catch((error) => { console.error(error.message); process.exit(2); });
"""


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('reference_dir')
    parser.add_argument('file')
    parser.add_argument('--preprocess', default='resize_and_crop')
    parser.add_argument('--load-size', type=int, default=286)
    parser.add_argument('--crop-size', type=int, default=256)
    parser.add_argument('--direction', default='AtoB')
    parser.add_argument('--input-nc', type=int, default=3)
    parser.add_argument('--output-nc', type=int, default=3)
    parser.add_argument('--crop-pos', type=int, nargs=2, default=[0, 0])
    parser.add_argument('--flip', action='store_true')
    args = parser.parse_args()

    golden.install_torchvision_stub()
    sys.path.insert(0, os.path.abspath(args.reference_dir))
    from data import base_dataset
    from data.aligned_dataset import AlignedDataset

    folder = tempfile.mkdtemp()
    os.makedirs(os.path.join(folder, 'train'))
    os.symlink(os.path.abspath(args.file), os.path.join(folder, 'train', os.path.basename(args.file)))
    opt = SimpleNamespace(dataroot=folder, phase='train', max_dataset_size=float('inf'), load_size=args.load_size, crop_size=args.crop_size,
                          direction=args.direction, input_nc=args.input_nc, output_nc=args.output_nc, preprocess=args.preprocess, no_flip=False)
    base_dataset.random = golden.FixedRandom(args.crop_pos, args.flip)
    item = AlignedDataset(opt)[0]
    reference = (item['A'], item['B']) if args.direction == 'AtoB' else (item['B'], item['A'])

    settings = dict(file=os.path.abspath(args.file), preprocess=args.preprocess, load_size=args.load_size, crop_size=args.crop_size,
                    direction=args.direction, input_nc=args.input_nc, output_nc=args.output_nc, crop_pos=args.crop_pos, flip=args.flip)
    run = subprocess.run(['node', '-e', NODE_SIDE, ROOT, json.dumps(settings)], capture_output=True, text=True)
    if run.returncode != 0:
        sys.exit(f'p2phd side failed: {run.stderr.strip()}')
    ours = json.loads(run.stdout)
    failed = False
    for key, ref in zip('AB', reference):
        c, h, w = ref.shape
        mine = np.array(ours[key], dtype=np.float32).reshape(ours['height'], ours['width'], -1).transpose(2, 0, 1)
        if mine.shape != ref.shape:
            print(f'{key}: shape {mine.shape} vs the reference\'s {tuple(ref.shape)}')
            failed = True
            continue
        diff = np.abs(mine - ref.numpy())
        print(f'{key}: {w}x{h}x{c}, {int((diff > 0).sum())} of {diff.size} values differ, max {float(diff.max()):.3g}')
        failed |= bool((diff > 0).any())
    sys.exit(1 if failed else 0)


if __name__ == '__main__':
    main()
