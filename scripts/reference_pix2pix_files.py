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
    training_step(args, torch, networks)


def training_step(args, torch, networks):
    """One Pix2PixModel.optimize_parameters from init_net's weights on the first
    bundled test pair (preprocess none, no flip): its G and D files before, its
    train_opt.txt, and every weight after (step/after.safetensors)."""
    import argparse as ap
    import tempfile
    from models.pix2pix_model import Pix2PixModel
    out = os.path.join(args.out, 'step')
    os.makedirs(out, exist_ok=True)
    opt = ap.Namespace(isTrain=True, checkpoints_dir=tempfile.gettempdir(), name='p2phd-step', preprocess='none', device=torch.device('cpu'),
                       input_nc=3, output_nc=3, ngf=2, ndf=2, netG='resnet_9blocks', netD='basic', n_layers_D=3, norm='batch',
                       no_dropout=True, init_type='normal', init_gain=0.02, gan_mode='vanilla', lr=0.0002, beta1=0.5, lambda_L1=100.0,
                       direction='AtoB', pool_size=0)
    torch.manual_seed(11)
    model = Pix2PixModel(opt)
    networks.init_weights(model.netG, 'normal', 0.02)
    networks.init_weights(model.netD, 'normal', 0.02)
    torch.save(model.netG.state_dict(), os.path.join(out, 'latest_net_G.pth'))
    torch.save(model.netD.state_dict(), os.path.join(out, 'latest_net_D.pth'))
    keys = sorted(k for k in vars(opt) if k in ('direction', 'gan_mode', 'init_gain', 'init_type', 'input_nc', 'n_layers_D', 'ndf', 'netD', 'netG', 'ngf', 'no_dropout', 'norm', 'output_nc', 'preprocess', 'lr', 'beta1', 'lambda_L1'))
    lines = ['----------------- Options ---------------'] + ['{:>25}: {:<30}'.format(k, str(getattr(opt, k))) for k in keys] + ['                    model: pix2pix                       ', '----------------- End -------------------']
    with open(os.path.join(out, 'train_opt.txt'), 'w') as f:
        f.write('\n'.join(lines) + '\n')
    path = sorted(os.listdir(args.pairs))[0]
    ab = Image.open(os.path.join(args.pairs, path)).convert('RGB')
    w, h = ab.size
    w2 = int(w / 2)
    to_tensor = lambda image: torch.from_numpy(np.array(image, dtype=np.uint8)).permute(2, 0, 1).float().div(255).sub(0.5).div(0.5).unsqueeze(0)
    model.set_input({'A': to_tensor(ab.crop((0, 0, w2, h))), 'B': to_tensor(ab.crop((w2, 0, w, h))), 'A_paths': [path], 'B_paths': [path]})
    model.netG.train()
    model.netD.train()
    model.optimize_parameters()
    after = collections.OrderedDict()
    for prefix, net in (('G.', model.netG), ('D.', model.netD)):
        for key, value in net.state_dict().items():
            after[prefix + key] = ('I64', value.numpy()) if value.dtype == torch.int64 else ('F32', value.detach().numpy())
    for loss in ('G_GAN', 'G_L1', 'D_real', 'D_fake'):
        after['loss.' + loss] = ('F32', np.array(float(getattr(model, 'loss_' + loss)), dtype=np.float32))
    write_safetensors(os.path.join(out, 'after.safetensors'), after, {'note': 'weights after one optimize_parameters on %s (AtoB, preprocess none, no flip)' % path})


if __name__ == '__main__':
    main()
