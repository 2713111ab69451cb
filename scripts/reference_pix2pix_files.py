#!/usr/bin/python3
"""Reference-saved pix2pix files for p2phd's import tests, made by the
reference's own code (pytorch-CycleGAN-and-pix2pix 2a7afba, models/networks.py):
a tiny resnet_6blocks G (ngf 2, batch norm, no dropout) with trained-looking
weights and running statistics, saved by torch.save in both formats (zip;
legacy, without num_batches_tracked, as 2017-18 files), a train_opt.txt in its
print_options format, and G's outputs on the bundled test pairs as the
reference's test.py computes them (AlignedDataset with --preprocess none, no
flip; batch statistics, and with --eval running statistics; AtoB and BtoA).

    git -C MIRROR archive 2a7afba models | tar -x -C /tmp/p2p-ref
    /usr/bin/python3 scripts/reference_pix2pix_files.py --reference /tmp/p2p-ref --out test/golden/pix2pix/reference_files

Dev tool, not part of `npm test`.
"""
import argparse
import collections
import copy
import os
import sys

import numpy as np
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from reference_pix2pix import write_safetensors  # noqa: E402


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('--reference', required=True)
    parser.add_argument('--out', required=True)
    parser.add_argument('--pairs', default=os.path.join(os.path.dirname(__file__), '..', 'fixtures', 'pix2pix', 'test'))
    args = parser.parse_args()
    import torch
    sys.path.insert(0, os.path.abspath(args.reference))
    from models import networks
    torch.manual_seed(5)
    net = networks.define_G(3, 3, 2, 'resnet_6blocks', 'batch', False, 'normal', 0.02)
    with torch.no_grad():
        for name, value in net.state_dict().items():
            if name.endswith('num_batches_tracked'):
                value.fill_(40)
            elif name.endswith('running_mean'):
                value.copy_(torch.randn(value.shape) * 0.2)
            elif name.endswith('running_var'):
                value.copy_(torch.rand(value.shape) + 0.5)
            elif value.dim() == 4:
                value.copy_(torch.randn(value.shape) / (value.shape[1] * value.shape[2] * value.shape[3]) ** 0.5)
            else:
                value.copy_(torch.randn(value.shape) * 0.1 + (1 if name.endswith('weight') else 0))
    os.makedirs(args.out, exist_ok=True)
    state = net.state_dict()
    torch.save(state, os.path.join(args.out, 'latest_net_G.pth'))
    legacy = collections.OrderedDict((k, v) for k, v in state.items() if not k.endswith('num_batches_tracked'))
    torch.save(legacy, os.path.join(args.out, 'legacy_net_G.pth'), _use_new_zipfile_serialization=False)
    options = dict(batch_size=1, direction='AtoB', gan_mode='vanilla', init_gain=0.02, init_type='normal', input_nc=3, model='pix2pix',
                   n_layers_D=3, ndf=2, netD='basic', netG='resnet_6blocks', ngf=2, no_dropout=True, norm='batch', output_nc=3, preprocess='none')
    defaults = dict(netG='resnet_9blocks', model='cycle_gan', ngf=64, ndf=64, no_dropout=False, norm='instance', preprocess='resize_and_crop')
    lines = ['----------------- Options ---------------']
    for key in sorted(options):
        comment = '\t[default: %s]' % defaults[key] if key in defaults and defaults[key] != options[key] else ''
        lines.append('{:>25}: {:<30}{}'.format(str(key), str(options[key]), comment))
    lines.append('----------------- End -------------------')
    with open(os.path.join(args.out, 'train_opt.txt'), 'w') as f:
        f.write('\n'.join(lines) + '\n')
    tensors = collections.OrderedDict()
    for path in sorted(os.listdir(args.pairs)):
        ab = Image.open(os.path.join(args.pairs, path)).convert('RGB')
        w, h = ab.size
        w2 = int(w / 2)
        halves = {'AtoB': (ab.crop((0, 0, w2, h)), ab.crop((w2, 0, w, h))), 'BtoA': (ab.crop((w2, 0, w, h)), ab.crop((0, 0, w2, h)))}
        stem = os.path.splitext(path)[0]
        for direction, (a, _) in halves.items():
            x = torch.from_numpy(np.asarray(a, dtype=np.uint8)).permute(2, 0, 1).float().div(255)
            x = x.sub(0.5).div(0.5).unsqueeze(0)
            for mode in ('train', 'eval'):
                # A fresh copy each time: a training-mode pass moves the running statistics.
                model = copy.deepcopy(net)
                model.train() if mode == 'train' else model.eval()
                with torch.no_grad():
                    y = model(x)[0]
                image = ((y.cpu().float().numpy().transpose(1, 2, 0) + 1) / 2.0 * 255.0).astype(np.uint8)
                tensors['%s.%s.%s' % (stem, direction, mode)] = ('U8', image)
    write_safetensors(os.path.join(args.out, 'outputs.safetensors'), tensors, {'note': 'tensor2im of G(A): HWC uint8; train = batch statistics (test.py), eval = --eval'})


if __name__ == '__main__':
    main()
