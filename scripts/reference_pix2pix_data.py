#!/usr/bin/python3
"""Goldens for pix2pix's aligned data and learning-rate policies, from the
reference's own code (junyanz/pytorch-CycleGAN-and-pix2pix, 2a7afba or later).
A dev script, never run by tests. Needs Debian's /usr/bin/python3 (torch 1.13,
PIL 9.4, numpy); torchvision is not packaged with them, so its transforms are
stood in for (below) by the PIL calls torchvision 0.14 makes.

    /usr/bin/python3 scripts/reference_pix2pix_data.py REFERENCE_DIR

REFERENCE_DIR: a checkout (or `git archive`) of the reference holding data/ and
models/. Writes, deterministically:

  test/fixtures-pix2pix/*.png, *.jpg   tiny synthetic A|B images (numpy seed 0)
  test/fixtures-pix2pix/decode/        PPM/PGM and BMP variants (some written by hand)
  test/golden/pix2pix/data/aligned.safetensors
      for each case: `<case>.A`, `<case>.B` F32 [C, H, W], what the reference's
      AlignedDataset.__getitem__ returns for that file and options, with
      base_dataset's random.randint / random.random replaced by fixed values
      (recorded in the case: crop_pos, flip, and the randint ranges asked for);
      `luma.rgb` U8 [N, 3] and `luma.L` U8 [N] (PIL's convert('L') of random
      pixels and of the corners of the cube); `decode.<file>` U8 [H, W, 3],
      PIL's Image.open(file).convert('RGB') of each decode/ fixture; metadata `cases` (JSON) and
      `make_dataset` (the order the reference's make_dataset lists a tree of
      awkward names in).
  test/golden/pix2pix/data/lr_policies.safetensors
      for each configuration: `<name>` F64 [epochs], the optimizer's lr during
      each epoch epoch_count .. n_epochs + n_epochs_decay, with the scheduler
      from the reference's get_scheduler stepped as its train.py steps it
      (update_learning_rate at the end of every epoch; plateau with the
      model's metric, 0); metadata `configs` (JSON).

torchvision stand-ins (torchvision 0.14, PIL inputs): Grayscale(1) ->
img.convert('L'); Resize([h, w], BICUBIC) -> img.resize((w, h), Image.BICUBIC);
ToTensor -> uint8 HWC array -> CHW float32 / 255; Normalize -> (x - m) / s in
float32; Compose and Lambda as written.
"""
import json
import os
import struct
import sys
import tempfile
import types
from types import SimpleNamespace

import numpy as np
import torch
from PIL import Image

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIXTURES = os.path.join(ROOT, 'test', 'fixtures-pix2pix')
GOLDEN = os.path.join(ROOT, 'test', 'golden', 'pix2pix', 'data')


def install_torchvision_stub():
    """torchvision.transforms as base_dataset.py uses them, for PIL images."""
    tv = types.ModuleType('torchvision')
    transforms = types.ModuleType('torchvision.transforms')

    class InterpolationMode:
        NEAREST = 'nearest'
        BILINEAR = 'bilinear'
        BICUBIC = 'bicubic'
        LANCZOS = 'lanczos'

    pil_modes = {InterpolationMode.NEAREST: Image.NEAREST, InterpolationMode.BILINEAR: Image.BILINEAR,
                 InterpolationMode.BICUBIC: Image.BICUBIC, InterpolationMode.LANCZOS: Image.LANCZOS}

    class Compose:
        def __init__(self, ts):
            self.ts = ts

        def __call__(self, img):
            for t in self.ts:
                img = t(img)
            return img

    class Lambda:
        def __init__(self, fn):
            self.fn = fn

        def __call__(self, img):
            return self.fn(img)

    class Grayscale:
        def __init__(self, num_output_channels=1):
            assert num_output_channels == 1
        def __call__(self, img):
            return img.convert('L')

    class Resize:
        def __init__(self, size, interpolation=InterpolationMode.BILINEAR):
            assert len(size) == 2
            self.size, self.interpolation = size, interpolation

        def __call__(self, img):
            h, w = self.size
            return img.resize((w, h), pil_modes[self.interpolation])

    class ToTensor:
        def __call__(self, pic):
            array = np.array(pic, np.uint8, copy=True)
            if array.ndim == 2:
                array = array[:, :, None]
            return torch.from_numpy(array).permute((2, 0, 1)).contiguous().to(dtype=torch.float32).div(255)

    class Normalize:
        def __init__(self, mean, std):
            self.mean, self.std = mean, std

        def __call__(self, tensor):
            mean = torch.as_tensor(self.mean, dtype=tensor.dtype).view(-1, 1, 1)
            std = torch.as_tensor(self.std, dtype=tensor.dtype).view(-1, 1, 1)
            return tensor.sub(mean).div(std)

    def unused(*args, **kwargs):
        raise AssertionError('the goldens pass fixed params: random transforms must not run')

    for name, value in dict(InterpolationMode=InterpolationMode, Compose=Compose, Lambda=Lambda, Grayscale=Grayscale,
                            Resize=Resize, ToTensor=ToTensor, Normalize=Normalize,
                            RandomCrop=unused, RandomHorizontalFlip=unused).items():
        setattr(transforms, name, value)
    tv.transforms = transforms
    sys.modules['torchvision'] = tv
    sys.modules['torchvision.transforms'] = transforms


def write_safetensors(path, tensors, metadata):
    header = {'__metadata__': metadata}
    blobs = []
    offset = 0
    for name, array in tensors.items():
        dtype = {np.dtype(np.float32): 'F32', np.dtype(np.float64): 'F64', np.dtype(np.uint8): 'U8'}[array.dtype]
        data = np.ascontiguousarray(array).tobytes()
        header[name] = {'dtype': dtype, 'shape': list(array.shape), 'data_offsets': [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(',', ':')).encode('utf-8')
    text += b' ' * (-len(text) % 8)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, 'wb') as f:
        f.write(struct.pack('<Q', len(text)))
        f.write(text)
        for blob in blobs:
            f.write(blob)


def smooth_half(rng, w, h, c):
    """A smooth colour field with a few sharp steps and mild noise (exercises the bicubic overshoot and clamping)."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    out = np.zeros((h, w, c))
    for k in range(c):
        fx, fy, phase = rng.uniform(0.2, 0.9), rng.uniform(0.2, 0.9), rng.uniform(0, 6)
        out[:, :, k] = 128 + 90 * np.sin(fx * x + phase) * np.cos(fy * y)
    out[:, : w // 3] += 60 * (x[:, : w // 3, None] % 5 < 2)
    out += rng.normal(0, 6, out.shape)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def bmp_bytes(width, height, bit_count, pixel_rows, compression=0, masks=None, palette=None, core=False, top_down=False):
    """A BMP file written by hand (for the layouts PIL does not save): rows top to bottom as bytes, padded here."""
    stride = (width * bit_count + 31) // 32 * 4
    rows = [bytes(r) + b'\0' * (stride - len(r)) for r in pixel_rows]
    if not top_down:
        rows = rows[::-1]
    pixels = b''.join(rows)
    if core:
        header = struct.pack('<IHHHH', 12, width, height, 1, bit_count)
        table = b''.join(bytes([b, g, r]) for r, g, b in (palette or []))
    else:
        header = struct.pack('<IiiHHIIiiII', 40, width, -height if top_down else height, 1, bit_count, compression, len(pixels), 2835, 2835, len(palette or []), 0)
        table = (struct.pack('<III', *masks) if masks else b'') + b''.join(bytes([b, g, r, 0]) for r, g, b in (palette or []))
    offset = 14 + len(header) + len(table)
    return b'BM' + struct.pack('<IHHI', offset + len(pixels), 0, 0, offset) + header + table + pixels


def make_decode_fixtures(rng):
    """PPM/PGM and BMP variants (sharp reads neither), each decoded by PIL's convert('RGB') for the goldens."""
    folder = os.path.join(FIXTURES, 'decode')
    os.makedirs(folder, exist_ok=True)
    made = {}
    rgb = smooth_half(rng, 7, 5, 3)

    def put(name, data):
        path = os.path.join(folder, name)
        with open(path, 'wb') as f:
            f.write(data)
        made[name] = path

    Image.fromarray(rgb, 'RGB').save(os.path.join(folder, 'p6.ppm'))
    made['p6.ppm'] = os.path.join(folder, 'p6.ppm')
    values = rng.randint(0, 1001, (5, 7, 3))
    put('p3_max1000.ppm', ('P3\n# a comment\n7 5\n1000\n' + '\n'.join(' '.join(str(v) for v in row.ravel()) for row in values) + '\n').encode())
    grey16 = rng.randint(0, 4096, (5, 7))
    put('p5_max4095.ppm', b'P5 7 5 4095\n' + grey16.astype('>u2').tobytes())
    grey4 = rng.randint(0, 16, (5, 7))
    put('p2_max15.ppm', ('P2 7 5 15\n' + ' '.join(str(v) for v in grey4.ravel()) + '\n').encode())
    Image.fromarray(rgb, 'RGB').save(os.path.join(folder, 'rgb24.bmp'))
    made['rgb24.bmp'] = os.path.join(folder, 'rgb24.bmp')
    Image.fromarray(rgb, 'RGB').quantize(12).save(os.path.join(folder, 'palette8.bmp'))
    made['palette8.bmp'] = os.path.join(folder, 'palette8.bmp')
    Image.fromarray(smooth_half(rng, 7, 5, 1)[:, :, 0] > 128).save(os.path.join(folder, 'bits1.bmp'))
    made['bits1.bmp'] = os.path.join(folder, 'bits1.bmp')
    Image.fromarray(smooth_half(rng, 7, 5, 4), 'RGBA').save(os.path.join(folder, 'rgba32.bmp'))
    made['rgba32.bmp'] = os.path.join(folder, 'rgba32.bmp')
    p16 = rng.randint(0, 65536, (5, 7))
    put('rgb565_topdown.bmp', bmp_bytes(7, 5, 16, [row.astype('<u2').tobytes() for row in p16], compression=3, masks=(0xF800, 0x07E0, 0x001F), top_down=True))
    put('rgb555.bmp', bmp_bytes(7, 5, 16, [row.astype('<u2').tobytes() for row in p16]))
    pal = [tuple(int(v) for v in rng.randint(0, 256, 3)) for _ in range(16)]
    nib = rng.randint(0, 16, (5, 7))
    packed = [bytes((int(row[i]) << 4) | (int(row[i + 1]) if i + 1 < 7 else 0) for i in range(0, 7, 2)) for row in nib]
    put('core4.bmp', bmp_bytes(7, 5, 4, packed, palette=pal, core=True))
    return made


def make_fixtures():
    """The A|B images (PNG, one JPEG, one RGBA PNG, odd width), returned by name."""
    os.makedirs(FIXTURES, exist_ok=True)
    rng = np.random.RandomState(0)
    made = {}

    def save(name, a, b, mode='RGB', **kwargs):
        ab = np.concatenate([a, b], axis=1)
        path = os.path.join(FIXTURES, name)
        Image.fromarray(ab, mode).save(path, **kwargs)
        made[name] = path

    save('ab_even.png', smooth_half(rng, 22, 18, 3), smooth_half(rng, 22, 18, 3))
    save('ab_jpeg.jpg', smooth_half(rng, 20, 16, 3), smooth_half(rng, 20, 16, 3), quality=90)
    odd = smooth_half(rng, 45, 17, 3)
    save('ab_odd.png', odd[:, :22], odd[:, 22:])
    rgba_a, rgba_b = smooth_half(rng, 12, 10, 4), smooth_half(rng, 12, 10, 4)
    save('ab_rgba.png', rgba_a, rgba_b, mode='RGBA')
    return made, make_decode_fixtures(rng)


CASES = [
    # name, file, preprocess, load_size, crop_size, direction, input_nc, output_nc, (x, y), flip
    ('resize_and_crop_up_flip', 'ab_even.png', 'resize_and_crop', 24, 16, 'AtoB', 3, 3, (5, 3), True),
    ('resize_and_crop_down', 'ab_even.png', 'resize_and_crop', 12, 8, 'AtoB', 3, 3, (4, 0), False),
    ('crop_flip', 'ab_even.png', 'crop', 24, 16, 'AtoB', 3, 3, (6, 2), True),
    ('scale_width', 'ab_even.png', 'scale_width', 30, 16, 'AtoB', 3, 3, (0, 0), False),
    ('scale_width_and_crop_flip', 'ab_even.png', 'scale_width_and_crop', 30, 16, 'AtoB', 3, 3, (14, 8), True),
    ('none_odd_flip', 'ab_odd.png', 'none', 286, 256, 'AtoB', 3, 3, (0, 0), True),
    ('btoa_grey_input', 'ab_even.png', 'resize_and_crop', 24, 16, 'BtoA', 1, 3, (2, 7), False),
    ('grey_both_jpeg_flip', 'ab_jpeg.jpg', 'resize_and_crop', 20, 16, 'AtoB', 1, 1, (3, 1), True),
    ('resize_and_crop_odd', 'ab_odd.png', 'resize_and_crop', 20, 16, 'AtoB', 3, 3, (4, 4), False),
    ('crop_rgba', 'ab_rgba.png', 'crop', 8, 8, 'BtoA', 3, 1, (1, 2), False),
]


class FixedRandom:
    """Stands in for base_dataset's `random` module: randint returns the given values in order, random() the flip's draw."""

    def __init__(self, values, flip):
        self.values = list(values)
        self.flip = flip
        self.ranges = []

    def randint(self, low, high):
        self.ranges.append([int(low), int(high)])
        value = self.values.pop(0)
        assert low <= value <= high or high == 0, (value, low, high)
        return min(value, int(high))

    def random(self):
        return 0.75 if self.flip else 0.25


def aligned_goldens(reference_dir, files, decode_files):
    sys.path.insert(0, reference_dir)
    from data import base_dataset
    from data.aligned_dataset import AlignedDataset
    from data.image_folder import make_dataset

    tensors = {}
    cases = []
    for name, file, preprocess, load, crop, direction, input_nc, output_nc, pos, flip in CASES:
        folder = tempfile.mkdtemp()
        os.makedirs(os.path.join(folder, 'train'))
        os.symlink(files[file], os.path.join(folder, 'train', file))
        opt = SimpleNamespace(dataroot=folder, phase='train', max_dataset_size=float('inf'), load_size=load, crop_size=crop,
                              direction=direction, input_nc=input_nc, output_nc=output_nc, preprocess=preprocess, no_flip=False)
        dataset = AlignedDataset(opt)
        fixed = FixedRandom(pos, flip)
        base_dataset.random = fixed
        item = dataset[0]
        # pix2pix_model.set_input: real_A = input['A' if AtoB else 'B'] -> the network input first.
        net_input, target = (item['A'], item['B']) if direction == 'AtoB' else (item['B'], item['A'])
        tensors[f'{name}.A'] = net_input.numpy().astype(np.float32)
        tensors[f'{name}.B'] = target.numpy().astype(np.float32)
        cases.append(dict(name=name, file=file, preprocess=preprocess, load_size=load, crop_size=crop, direction=direction,
                          input_nc=input_nc, output_nc=output_nc, crop_pos=list(pos), flip=flip, randint_ranges=fixed.ranges))

    # PIL's RGB -> L on random pixels and the cube's corners.
    rng = np.random.RandomState(1)
    rgb = np.concatenate([rng.randint(0, 256, (4096, 3)), np.array([[r, g, b] for r in (0, 255) for g in (0, 255) for b in (0, 255)]),
                          np.array([[v, v, v] for v in range(256)])]).astype(np.uint8)
    tensors['luma.rgb'] = rgb
    tensors['luma.L'] = np.array(Image.fromarray(rgb[None], 'RGB').convert('L'))[0]

    # PIL's convert('RGB') of the formats sharp does not read.
    for name, path in sorted(decode_files.items()):
        tensors[f'decode.{name}'] = np.array(Image.open(path).convert('RGB'))

    # make_dataset's order on awkward names (empty files: only names matter).
    tree = tempfile.mkdtemp()
    names = ['b.png', 'a.PNG', 'A.jpg', 'a b.png', '10.png', '9.png', '\u00e9.png', 'z.tiff', 'Z.TIF', 'x.Jpg', 'y.gif', 'w.webp',
             'v.ppm', 'u.BMP', 'sub/c.jpeg', 'sub/B.JPEG', 'sub/deeper/a.png', 'sub-x/a.png', 'sub_x/a.png', 'Sub/a.png', '.hidden.png',
             'noext', 'image.png.txt']
    for rel in names:
        path = os.path.join(tree, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        open(path, 'wb').close()
    listed = [os.path.relpath(p, tree) for p in sorted(make_dataset(tree))]
    metadata = {'cases': json.dumps(cases), 'make_dataset_tree': json.dumps(names), 'make_dataset': json.dumps(listed)}
    write_safetensors(os.path.join(GOLDEN, 'aligned.safetensors'), tensors, metadata)
    print(f'aligned.safetensors: {len(cases)} cases, {len(listed)} listed of {len(names)}')


LR_CONFIGS = [
    # name, lr_policy, n_epochs, n_epochs_decay, lr_decay_iters, epoch_count
    ('linear_default', 'linear', 100, 100, 50, 1),
    ('linear_resumed', 'linear', 10, 7, 50, 5),
    ('step_default', 'step', 100, 100, 50, 1),
    ('step_3', 'step', 6, 9, 3, 2),
    ('plateau_default', 'plateau', 100, 100, 50, 1),
    ('cosine_default', 'cosine', 100, 100, 50, 1),
    ('cosine_short', 'cosine', 7, 13, 50, 1),
]


def lr_goldens(reference_dir):
    sys.path.insert(0, reference_dir)
    from models.networks import get_scheduler

    tensors = {}
    configs = []
    for name, policy, n_epochs, n_epochs_decay, lr_decay_iters, epoch_count in LR_CONFIGS:
        opt = SimpleNamespace(lr_policy=policy, n_epochs=n_epochs, n_epochs_decay=n_epochs_decay, lr_decay_iters=lr_decay_iters,
                              epoch_count=epoch_count, lr=0.0002, beta1=0.5)
        param = torch.nn.Parameter(torch.zeros(1))
        optimizer = torch.optim.Adam([param], lr=opt.lr, betas=(opt.beta1, 0.999))
        scheduler = get_scheduler(optimizer, opt)
        metric = 0  # base_model's self.metric, never set by pix2pix
        rates = []
        for epoch in range(epoch_count, n_epochs + n_epochs_decay + 1):
            rates.append(optimizer.param_groups[0]['lr'])
            optimizer.step()  # (no gradient: nothing moves; keeps PyTorch from warning about the order)
            if policy == 'plateau':
                scheduler.step(metric)
            else:
                scheduler.step()
        tensors[name] = np.array(rates, dtype=np.float64)
        configs.append(dict(name=name, lr_policy=policy, lr=0.0002, n_epochs=n_epochs, n_epochs_decay=n_epochs_decay,
                            lr_decay_iters=lr_decay_iters, epoch_count=epoch_count))
    write_safetensors(os.path.join(GOLDEN, 'lr_policies.safetensors'), tensors, {'configs': json.dumps(configs), 'torch': torch.__version__})
    print(f'lr_policies.safetensors: {len(configs)} configurations (torch {torch.__version__})')


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    reference_dir = os.path.abspath(sys.argv[1])
    install_torchvision_stub()
    files, decode_files = make_fixtures()
    aligned_goldens(reference_dir, files, decode_files)
    lr_goldens(reference_dir)


if __name__ == '__main__':
    main()
