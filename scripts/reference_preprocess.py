#!/usr/bin/python3
"""Compares p2phd's sample files with the reference's preprocessing done by real PIL.

Used by scripts/check-reference-preprocess.sh (see there); a dev/bench tool,
not part of `npm test`. Needs Debian's /usr/bin/python3 (PIL, numpy; torch
only with --reference-src).

For every pair of DATAROOT/<phase>_label (+ _inst, _img; _A/_B when
--label-nc 0), in the reference's sorted order, it computes what the
reference's AlignedDataset yields, with crops and flips off (they happen at
training time):
  - maps: PIL Image.NEAREST resize to the size base_dataset.py gives
    (resize_and_crop: load x load; scale_width*: width load, height
    int(load * h / w), untouched when the width already is load; crop:
    untouched; none: each side int(round(side / base) * base));
  - photos: convert('RGB') then PIL Image.BICUBIC to the same size;
  - edges: the model's get_edges (4 neighbours, both sides of a difference
    marked) on the resized instance map.
It then reads the sample file p2phd wrote for that pair (found by the label
path in its metadata) and prints, per tensor, whether it is equal bit for bit
(label, inst, edges) or the mean / max absolute difference in grey levels
(image, label_rgb). Exit status 1 when a map differs or a photo's mean
absolute difference exceeds --max-image-mad, 2 on a usage or file problem.

With --reference-src DIR (a folder holding the reference's data/, models/ and
util/ packages, e.g. from `git archive`), it also runs the reference's own
AlignedDataset.__getitem__ and Pix2PixHDModel.get_edges (torchvision stubbed
with the transforms these use, as torchvision 0.2 defined them; crop disabled
by an oversized fineSize, flip by no_flip) and fails unless they give exactly
what this file computes, so the arithmetic above is checked against the
reference's code rather than trusted.
"""
import argparse
import json
import math
import os
import struct
import sys
import types

import numpy as np
from PIL import Image

import torchvision_stub

IMG_EXTENSIONS = ('.jpg', '.JPG', '.jpeg', '.JPEG', '.png', '.PNG', '.ppm', '.PPM', '.bmp', '.BMP', '.tiff')

DTYPES = {
    'U8': np.uint8, 'U16': np.uint16, 'I32': np.int32, 'I64': np.int64,
    'F32': np.float32, 'F64': np.float64, 'BOOL': np.bool_,
}


class Failure(Exception):
    """A usage or file problem (exit 2)."""


# --- safetensors ------------------------------------------------------------

def read_safetensors(path):
    """Returns (p2phd metadata dict, {name: numpy array})."""
    with open(path, 'rb') as f:
        blob = f.read()
    if len(blob) < 8:
        raise Failure(f'{path}: too short for a safetensors file')
    (header_len,) = struct.unpack('<Q', blob[:8])
    if header_len > len(blob) - 8:
        raise Failure(f'{path}: header length {header_len} beyond the file')
    header = json.loads(blob[8:8 + header_len])
    data = blob[8 + header_len:]
    meta = header.pop('__metadata__', {}) or {}
    p2phd = json.loads(meta['p2phd']) if 'p2phd' in meta else {}
    tensors = {}
    for name, info in header.items():
        start, end = info['data_offsets']
        dtype = np.dtype(DTYPES[info['dtype']]).newbyteorder('<')
        tensors[name] = np.frombuffer(data[start:end], dtype=dtype).reshape(info['shape'])
    return p2phd, tensors


# --- the reference's preprocessing, reproduced with PIL -----------------------

def list_images(folder):
    """data/image_folder.make_dataset, then AlignedDataset's sorted()."""
    if not os.path.isdir(folder):
        raise Failure(f'{folder}: no such folder')
    paths = []
    for root, _, names in sorted(os.walk(folder)):
        for name in names:
            if name.endswith(IMG_EXTENSIONS):
                paths.append(os.path.join(root, name))
    return sorted(paths)


def output_size(mode, width, height, load_size, base):
    """(width, height) base_dataset.get_transform resizes a width x height image to (before any crop)."""
    if 'resize' in mode:  # transforms.Scale([load, load]): PIL resize to exactly that
        return load_size, load_size
    if 'scale_width' in mode:
        if width == load_size:
            return width, height
        return load_size, int(load_size * height / width)
    if mode == 'none':
        return int(round(width / base) * base), int(round(height / base) * base)
    return width, height  # 'crop': no resize


def resize(img, size, method):
    return img if img.size == size else img.resize(size, method)


def get_edges(inst):
    """The model's get_edges: 1 on both sides of every horizontal or vertical id change."""
    edges = np.zeros(inst.shape, dtype=bool)
    horizontal = inst[:, 1:] != inst[:, :-1]
    edges[:, 1:] |= horizontal
    edges[:, :-1] |= horizontal
    vertical = inst[1:, :] != inst[:-1, :]
    edges[1:, :] |= vertical
    edges[:-1, :] |= vertical
    return edges.astype(np.uint8)


def reference_pair(label_path, inst_path, image_path, args):
    """What the reference yields for one pair, as p2phd's sample dtypes (uint8 / int32 maps, uint8 HxWx3 photos)."""
    label_img = Image.open(label_path)
    size = output_size(args.resize_or_crop, label_img.size[0], label_img.size[1], args.load_size, args.size_base)
    out = {}
    if args.label_nc == 0:
        out['label_rgb'] = np.asarray(resize(label_img.convert('RGB'), size, Image.BICUBIC))
    else:
        if label_img.mode not in ('L', 'P', 'I', 'I;16'):
            raise Failure(f'{label_path}: PIL mode {label_img.mode}, not a single-channel id map')
        label = np.asarray(resize(label_img, size, Image.NEAREST))
        out['label'] = label.astype(np.uint8 if args.label_nc <= 256 else np.uint16)
        if int(label.max()) >= args.label_nc:
            raise Failure(f'{label_path}: label id {int(label.max())} >= --label-nc {args.label_nc}')
    if inst_path is not None:
        inst_img = Image.open(inst_path)
        inst = np.asarray(resize(inst_img, size, Image.NEAREST)).astype(np.int64)
        out['inst'] = inst.astype(np.int32)
        out['edges'] = get_edges(inst)
    if image_path is not None:
        out['image'] = np.asarray(resize(Image.open(image_path).convert('RGB'), size, Image.BICUBIC))
    return out


# --- the reference's own code, for --reference-src -----------------------------

def reference_code_samples(src, args):
    """Runs the reference's AlignedDataset and get_edges; yields (label path, {tensor: array})."""
    torchvision_stub.install()
    sys.path.insert(0, src)
    import torch
    from data.aligned_dataset import AlignedDataset
    from models.pix2pixHD_model import Pix2PixHDModel

    base = args.size_base
    n_down = int(round(math.log2(base)))
    if 2 ** n_down != base:
        raise Failure(f'--size-base {base} is not a power of two: the reference cannot express it')
    img_dir = os.path.join(args.dataroot, args.phase + ('_B' if args.label_nc == 0 else '_img'))
    opt = types.SimpleNamespace(
        dataroot=args.dataroot, phase=args.phase, label_nc=args.label_nc, no_instance=args.no_instance,
        isTrain=os.path.isdir(img_dir), use_encoded_image=False, load_features=False,
        resize_or_crop=args.resize_or_crop, loadSize=args.load_size,
        fineSize=1 << 30,  # no crop: __crop leaves images smaller than fineSize alone
        no_flip=True, n_downsample_global=n_down, netG='global', n_local_enhancers=1, batchSize=1, data_type=32)
    dataset = AlignedDataset()
    dataset.initialize(opt)
    model = types.SimpleNamespace(opt=opt)
    cuda_byte = getattr(torch.cuda, 'ByteTensor', None)
    torch.cuda.ByteTensor = torch.ByteTensor  # get_edges allocates on the GPU; CPU here
    try:
        for index in range(len(dataset)):
            item = dataset[index]
            out = {}
            if args.label_nc == 0:
                out['label_rgb'] = to_grey_levels(item['label'])
            else:
                label = item['label'][0]
                if not torch.equal(label, label.round()):
                    raise Failure(f'{item["path"]}: the reference label tensor holds non-integers')
                # the model one-hot encodes label_map.data.long()
                out['label'] = label.long().numpy().astype(np.uint8 if args.label_nc <= 256 else np.uint16)
            if not args.no_instance:
                inst = item['inst']
                out['inst'] = inst[0].numpy().astype(np.int32)
                out['edges'] = Pix2PixHDModel.get_edges(model, inst.unsqueeze(0))[0, 0].numpy().astype(np.uint8)
            if isinstance(item['image'], torch.Tensor):
                out['image'] = to_grey_levels(item['image'])
            yield item['path'], out
    finally:
        if cuda_byte is None:
            del torch.cuda.ByteTensor
        else:
            torch.cuda.ByteTensor = cuda_byte


def to_grey_levels(tensor):
    """A normalized [3, H, W] tensor back to uint8 [H, W, 3]."""
    levels = ((tensor.numpy().astype(np.float64) * 0.5 + 0.5) * 255).round()
    return levels.clip(0, 255).astype(np.uint8).transpose(1, 2, 0)


# --- comparison --------------------------------------------------------------

PHOTO_TENSORS = ('image', 'label_rgb')


def compare(name, expected, actual):
    """(ok-for-maps-or-None, description, mad)."""
    if actual is None:
        return False, 'missing from the sample', None
    if tuple(actual.shape) != tuple(expected.shape):
        return False, f'shape {list(actual.shape)} != reference {list(expected.shape)}', None
    if name in PHOTO_TENSORS:
        diff = np.abs(actual.astype(np.int16) - expected.astype(np.int16))
        mad = float(diff.mean())
        return None, f'mad {mad:.4f} max {int(diff.max())} differing {100 * float((diff > 0).mean()):.2f}%', mad
    if actual.dtype != expected.dtype:
        return False, f'dtype {actual.dtype} != reference {expected.dtype}', None
    differing = int((actual != expected).sum())
    if differing == 0:
        return True, 'equal', None
    where = np.argwhere(actual != expected)[0]
    return False, (f'{differing} of {actual.size} differ (first at y={where[0]} x={where[1]}: '
                   f'{actual[tuple(where)]} vs reference {expected[tuple(where)]})'), None


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--samples', required=True, help="folder of p2phd's sample files for this dataroot and these flags")
    parser.add_argument('--dataroot', required=True)
    parser.add_argument('--phase', default='train')
    parser.add_argument('--label-nc', type=int, default=35)
    parser.add_argument('--no-instance', action='store_true')
    parser.add_argument('--resize-or-crop', default='scale_width',
                        choices=['resize_and_crop', 'crop', 'scale_width', 'scale_width_and_crop', 'none'])
    parser.add_argument('--load-size', type=int, default=1024)
    parser.add_argument('--size-base', type=int, default=16)
    parser.add_argument('--max-image-mad', type=float, default=2.0, help='photo parity bound, grey levels (default 2)')
    parser.add_argument('--reference-src', help="folder with the reference's data/, models/, util/: also check this file's arithmetic against the reference's own code")
    parser.add_argument('--quiet', action='store_true', help='print only the summary')
    args = parser.parse_args()

    colour = args.label_nc == 0
    labels = list_images(os.path.join(args.dataroot, args.phase + ('_A' if colour else '_label')))
    insts = None if args.no_instance else list_images(os.path.join(args.dataroot, args.phase + '_inst'))
    img_dir = os.path.join(args.dataroot, args.phase + ('_B' if colour else '_img'))
    images = list_images(img_dir) if os.path.isdir(img_dir) else None
    for kind, files in (('instance maps', insts), ('photos', images)):
        if files is not None and len(files) != len(labels):
            raise Failure(f'{len(labels)} label maps but {len(files)} {kind}')
    if not labels:
        raise Failure('no label maps')

    samples = {}
    for name in sorted(os.listdir(args.samples)):
        if name.endswith('.safetensors'):
            path = os.path.join(args.samples, name)
            meta, _ = read_safetensors(path)
            samples[os.path.realpath(meta['sources']['label'])] = path

    reference_code = None
    if args.reference_src:
        reference_code = reference_code_samples(os.path.abspath(args.reference_src), args)

    failures = 0
    mads = {}
    code_checked = 0
    for index, label_path in enumerate(labels):
        expected = reference_pair(label_path, insts[index] if insts else None, images[index] if images else None, args)
        if reference_code is not None:
            code_path, code_out = next(reference_code)
            if os.path.realpath(code_path) != os.path.realpath(label_path) or set(code_out) != set(expected):
                raise Failure(f'the reference code yields {code_path} {sorted(code_out)}, this script {label_path} {sorted(expected)}')
            for name, array in code_out.items():
                if array.shape != expected[name].shape or not np.array_equal(array, expected[name]):
                    raise Failure(f'{label_path}: "{name}" from the reference code differs from this script\'s PIL reproduction: fix this script')
            code_checked += 1
        sample_path = samples.get(os.path.realpath(label_path))
        if sample_path is None:
            print(f'FAIL {os.path.basename(label_path)}: no sample file in {args.samples} has it as its label source')
            failures += 1
            continue
        meta, actual = read_safetensors(sample_path)
        parts = []
        pair_ok = True
        for name, array in expected.items():
            ok, text, mad = compare(name, array, actual.get(name))
            if mad is not None:
                mads.setdefault(name, []).append(mad)
                ok = mad <= args.max_image_mad
            pair_ok &= bool(ok)
            parts.append(f'{name}: {text}')
        failures += 0 if pair_ok else 1
        if not args.quiet or not pair_ok:
            h, w = next(iter(expected.values())).shape[:2]
            print(f'{"ok  " if pair_ok else "FAIL"} {os.path.basename(sample_path)} {w}x{h}: ' + '; '.join(parts))

    summary = [f'{len(labels)} pair(s), {failures} failing']
    for name, values in mads.items():
        summary.append(f'{name} mad mean {np.mean(values):.4f} worst {max(values):.4f} (bound {args.max_image_mad})')
    if reference_code is not None:
        summary.append(f"reference code agrees with this script's PIL reproduction on {code_checked} pair(s)")
    print(f'[{args.resize_or_crop} load {args.load_size}] ' + '; '.join(summary))
    return 1 if failures else 0


if __name__ == '__main__':
    try:
        sys.exit(main())
    except Failure as error:
        print(f'reference_preprocess.py: {error}', file=sys.stderr)
        sys.exit(2)
